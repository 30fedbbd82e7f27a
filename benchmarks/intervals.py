"""Rolling conformal intervals for margin and total point forecasts, and the NBA half-time model.

    python benchmarks/intervals.py ../shared/data

For NFL (2005-2023), NBA (2020-2023 start years) and CFB (2021-2024): weekly walk-forward point
forecasts of the home margin (MarginModel) and the total (TotalModel), refitted before every
week on the previous eight years, with rolling split-conformal 80% / 95% intervals
(``walk_forward_intervals``: each week's intervals use only residuals of earlier weeks; the
walk starts two seasons early so the calibrator is warm). The closing line (margin =
-spread_home, total = total_line) gets the same treatment on the same matches, as the market
row. Then the NBA half-time model, walked forward weekly over 2020-2023 (refit on every game
before the week), next to the half-time baseline; and the fixed split train < 2021 / test >= 2021.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import cut_offs
from scoreline.models.conformal import coverage_table, walk_forward_intervals
from scoreline.models.halftime import (
    H2LineMap,
    HalftimeLearner,
    HalftimeModel,
    halftime_baseline,
)
from scoreline.models.margin import MarginModel
from scoreline.models.totals import TotalModel

SEASONS = {"NFL": (2005, 2023), "NBA": (2020, 2023), "CFB": (2021, 2024)}
LEVELS = (0.8, 0.95)
CONFORMAL_WINDOW = 1000
TRAIN_DAYS = 8 * 365
#: TotalModel half-life (days) where the default 365 is too slow: NBA scoring drifts within a
#: season. Chosen on the 2017-18 .. 2019-20 NBA seasons, before the evaluated ones (total MAE
#: 15.17 at 60 days, 15.22 at 120, 15.80 at 365; market 14.57).
TOTAL_HALF_LIFE = {"NBA": 60.0}


def weekly_point_forecasts(
    matches: pd.DataFrame,
    first_season: int,
    last_season: int,
    train_days: int = TRAIN_DAYS,
    total_half_life: float = 365.0,
) -> pd.DataFrame:
    """Walk-forward margin (MarginModel) and total (TotalModel) forecasts, refitted weekly.

    Predicts every match of ``first_season..last_season`` (first window at least 35 days after
    the first stored match) from a fit on the ``train_days`` before the window's cut-off.
    """
    data = matches.sort_values(["date", "match_id"]).reset_index(drop=True)
    in_range = data["season"].between(first_season, last_season)
    start = max(data.loc[in_range, "date"].min(), data["date"].min() + pd.Timedelta(days=35))
    blocks = []
    for cut, end in cut_offs(data.loc[in_range & (data["date"] >= start), "date"], start, "week"):
        train = data.loc[(data["date"] < cut) & (data["date"] >= cut - pd.Timedelta(days=train_days))]
        test = data.loc[in_range & (data["date"] >= cut) & (data["date"] < end)]
        margin = MarginModel().fit(train).predict_margin(test).mean
        total = TotalModel(half_life_days=total_half_life).fit(train).predict_total(test)
        blocks.append(
            pd.DataFrame(
                {
                    "season": test["season"].to_numpy(),
                    "date": test["date"].to_numpy(),
                    "window_start": cut,
                    "margin": (test["home_score"] - test["away_score"]).to_numpy(float),
                    "total": (test["home_score"] + test["away_score"]).to_numpy(float),
                    "margin_model": margin,
                    "total_model": total,
                    "margin_market": -test["spread_home"].to_numpy(float),
                    "total_market": test["total_line"].to_numpy(float),
                },
                index=test.index,
            )
        )
    return pd.concat(blocks)


def interval_rows(forecasts: pd.DataFrame, from_season: int) -> pd.DataFrame:
    """Coverage / width / MAE of model and market, margin and total, on evaluated seasons where
    both forecasters have a forecast."""
    both = forecasts[["margin_market", "total_market"]].notna().all(axis=1)
    rows = []
    for target in ("margin", "total"):
        for source in ("model", "market"):
            frame = forecasts.loc[both, ["date", "window_start", "season"]].assign(
                y=forecasts.loc[both, target], yhat=forecasts.loc[both, f"{target}_{source}"]
            )
            frame = frame.join(walk_forward_intervals(frame, LEVELS, window=CONFORMAL_WINDOW))
            evaluated = frame.loc[frame["season"] >= from_season]
            table = coverage_table(evaluated, LEVELS)
            rows.append(
                {
                    "target": target,
                    "forecaster": source,
                    "n": int(table["n"].iloc[0]),
                    "mae": float((evaluated["y"] - evaluated["yhat"]).abs().mean()),
                    **{f"cover{int(lv * 100)}": table.loc[lv, "coverage"] for lv in LEVELS},
                    **{f"width{int(lv * 100)}": table.loc[lv, "mean_width"] for lv in LEVELS},
                }
            )
    return pd.DataFrame(rows)


def pregame_margins(matches: pd.DataFrame) -> pd.Series:
    """Point-in-time MarginModel home-margin forecasts for every NBA game after the first month."""
    forecasts = weekly_point_forecasts(matches, int(matches["season"].min()), int(matches["season"].max()))
    return forecasts["margin_model"].rename("pregame_margin")


def halftime_walk_forward(
    data: pd.DataFrame,
    first_season: int,
    models: dict[str, HalftimeModel],
) -> pd.DataFrame:
    """Weekly walk-forward half-time forecasts of every game from ``first_season``: each model is
    refitted before every week on all earlier games; its intervals come from its own
    calibration games (the latest ones before the cut-off)."""
    in_range = data["season"] >= first_season
    start = data.loc[in_range, "date"].min()
    blocks = []
    for cut, end in cut_offs(data.loc[in_range, "date"], start, "week"):
        train = data.loc[data["date"] < cut]
        test = data.loc[in_range & (data["date"] >= cut) & (data["date"] < end)]
        block = pd.DataFrame({"season": test["season"], "has_lines": test["h2_spread_unsigned"].notna()})
        block["margin"], block["total"] = (
            (test["home_score"] - test["away_score"]).astype(float),
            (test["home_score"] + test["away_score"]).astype(float),
        )
        block["margin_baseline"], block["total_baseline"] = halftime_baseline(test)
        for name, model in models.items():
            forecast = model.fit(train).predict_final(test)
            block[f"margin_{name}"], block[f"total_{name}"] = forecast.margin, forecast.total
            block = block.join(forecast.intervals.add_prefix(f"{name}_"))
        blocks.append(block)
    return pd.concat(blocks)


def halftime_table(frame: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    ok = frame[["margin_baseline", "total_baseline"]].notna().all(axis=1)
    for name in models:
        ok &= frame[[f"margin_{name}", f"total_{name}"]].notna().all(axis=1)
    rows = []
    for subset, mask in (
        ("all", ok),
        ("with 2H lines", ok & frame["has_lines"]),
        ("without 2H lines", ok & ~frame["has_lines"]),
    ):
        part = frame.loc[mask]
        for name in ["baseline", *models]:
            row = {
                "games": subset,
                "forecaster": name,
                "n": len(part),
                "margin_mae": (part["margin"] - part[f"margin_{name}"]).abs().mean(),
                "total_mae": (part["total"] - part[f"total_{name}"]).abs().mean(),
            }
            if name != "baseline":
                for target in ("margin", "total"):
                    prefix = f"{name}_{target}_"
                    cols = [c for c in part.columns if c.startswith(prefix)]
                    bounds = part[cols].rename(columns=lambda c, n=len(prefix): c[n:])
                    table = coverage_table(bounds.assign(y=part[target]), LEVELS)
                    for lv in LEVELS:
                        row[f"{target}_cover{int(lv * 100)}"] = table.loc[lv, "coverage"]
                        row[f"{target}_width{int(lv * 100)}"] = table.loc[lv, "mean_width"]
            rows.append(row)
    return pd.DataFrame(rows)


def h2_sign_summary(nba: pd.DataFrame) -> str:
    """How often the second-half spread's sign is inferred (map fitted on seasons < 2021)."""
    line_map = H2LineMap.fit(nba.loc[nba["season"] < 2021])
    _, known = line_map.signed_h2_spread(nba)
    has = nba["h2_spread_unsigned"].notna().to_numpy()
    zero = (nba["h2_spread_unsigned"] == 0).to_numpy()
    a, b, c = line_map.spread_coef
    return (
        f"h2 spread sign: z = {a:.3f}*(-spread_home) {b:+.3f}*ht_margin {c:+.3f}; |h2| vs |z| "
        f"RMSE {line_map.spread_rmse:.2f} pts; games with a 2H line {has.sum()} of {len(nba)}; "
        f"sign inferred (|z| >= {line_map.sign_threshold:g}) on {(known & ~zero)[has].mean():.1%}, "
        f"zero line {zero[has].mean():.1%}, undecided {(~known)[has].mean():.1%}"
    )


def main(source: str) -> None:
    pd.set_option("display.width", 200)
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, source, list(SEASONS))
        store = MatchStore(settings.store_dir)
        results = {code: store.results(code) for code in SEASONS}

    for code, (first, last) in SEASONS.items():
        started = time.perf_counter()
        forecasts = weekly_point_forecasts(
            results[code], first - 2, last, total_half_life=TOTAL_HALF_LIFE.get(code, 365.0)
        )
        table = interval_rows(forecasts, first)
        print(
            f"\n=== {code} {first}-{last}: weekly walk-forward, rolling conformal "
            f"(last {CONFORMAL_WINDOW} residuals), {time.perf_counter() - started:.1f} s"
        )
        print(table.round(3).to_string(index=False))

    nba = results["NBA"]
    print("\n=== NBA half-time model")
    print(h2_sign_summary(nba))
    started = time.perf_counter()
    data = nba.join(pregame_margins(nba))
    models = {
        "ridge": HalftimeModel(),
        "ridge_no_lines": HalftimeModel(use_h2_lines=False),
        "ridge_pregame": HalftimeModel(use_pregame_margin=True),
        "lgbm": HalftimeModel(learner=HalftimeLearner.LIGHTGBM),
    }
    train, test = data.loc[data["season"] < 2021], data.loc[data["season"] >= 2021]
    holdout = test[["season"]].assign(
        has_lines=test["h2_spread_unsigned"].notna(),
        margin=(test["home_score"] - test["away_score"]).astype(float),
        total=(test["home_score"] + test["away_score"]).astype(float),
    )
    holdout["margin_baseline"], holdout["total_baseline"] = halftime_baseline(test)
    for name, model in models.items():
        forecast = model.fit(train).predict_final(test)
        holdout[f"margin_{name}"], holdout[f"total_{name}"] = forecast.margin, forecast.total
        holdout = holdout.join(forecast.intervals.add_prefix(f"{name}_"))
    print("fixed split: train seasons < 2021, test 2021-2023 (intervals from the last 2,000 training games)")
    print(halftime_table(holdout, list(models)).round(3).to_string(index=False))

    walk_models = {k: models[k] for k in ("ridge", "ridge_no_lines")}
    walked = halftime_walk_forward(data, 2020, walk_models)
    print(
        f"weekly walk-forward 2020-2023 (refit on all earlier games), {time.perf_counter() - started:.1f} s"
    )
    print(halftime_table(walked, list(walk_models)).round(3).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
