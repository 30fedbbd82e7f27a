"""In-game NBA models against Stern's model and the spread-share rule, walked forward by season.

    python benchmarks/ingame.py ../shared/data [--seasons 2019-2023] [--json]

Ingests NBA with its ``nba_pbp/`` timelines into a throwaway workspace, then for each season of
``--seasons`` fits every model on the earlier seasons only (from 2013-14) and forecasts every game
of the season that has pre-game lines (:mod:`scoreline.evaluation.ingame`):

* win probability (Brier, log loss) and final margin (MAE, 80 % / 95 % conformal coverage) at the
  end of minutes 6, 12, 18, 24, 36, 42, 46: the state model, Stern's Brownian motion and the
  spread-share rule on the same states; targets: beat both anchors at every minute;
* the half-time differential from the first 18 minutes: Dejavu, GBDT and their ensemble against
  the baseline (minute-18 differential + 6/48 of the spread); target: MAE below the baseline,
  80 % / 95 % coverage within 3 points;
* wall time of each stage, and the live path's cost per scoring event (the 14 games of
  2022-11-25 through :class:`~scoreline.models.ingame.forecaster.LiveGame`, p50 / p99).

Prints the tables (or, with ``--json``, one JSON object with every figure).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings
from scoreline.data.ingame import load_ingame
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation.ingame import (
    fit_forecaster,
    ingame_data,
    score_halftime,
    score_minutes,
    walk_forward,
)
from scoreline.progress import Progress

NIGHT = "2022-11-25"


def seasons_arg(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def beats_table(minutes: pd.DataFrame) -> pd.DataFrame:
    """Per minute: the state model's Brier and log loss next to each anchor's, and whether it is
    below both (the target)."""
    wide = minutes.pivot(index="minute", columns="model", values=["brier", "log_loss"])
    out = pd.DataFrame(index=wide.index)
    for metric in ("brier", "log_loss"):
        for model in ("state", "stern", "spread_share"):
            out[f"{metric}_{model}"] = wide[(metric, model)]
        out[f"{metric}_beats_both"] = (wide[(metric, "state")] < wide[(metric, "stern")]) & (
            wide[(metric, "state")] < wide[(metric, "spread_share")]
        )
    return out


def live_latency(tables, forecaster) -> dict[str, float]:
    """Milliseconds per scoring event through the live path, over one real night."""
    night = tables.on(NIGHT)
    lines = night.games.set_index("game_id")
    games = {
        g: forecaster.start_game(lines.loc[g, "spread_home"], lines.loc[g, "total_line"]) for g in lines.index
    }
    seconds = []
    for event in night.events.itertuples():  # clock order across the night's games
        started = time.perf_counter()
        games[event.game_id].update(event.elapsed_s, event.home_score, event.away_score)
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds) * 1000
    return {
        "games": len(lines),
        "events": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", default="../shared/data")
    parser.add_argument("--seasons", type=seasons_arg, default=seasons_arg("2019-2023"))
    parser.add_argument("--json", action="store_true", dest="as_json")
    args = parser.parse_args()
    wall: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        started = time.perf_counter()
        report = ingest(settings, args.source, ["NBA"])
        wall["ingest_s"] = time.perf_counter() - started
        started = time.perf_counter()
        tables = load_ingame(MatchStore(settings.store_dir))
        data = ingame_data(tables)
        wall["tables_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with Progress(len(args.seasons), "in-game walk-forward", "seasons") as progress:
        evaluation = walk_forward(
            data, args.seasons, on_season=lambda s: progress.advance(detail=f"season {s}")
        )
    wall["walk_forward_s"] = time.perf_counter() - started
    wall.update({f"fit_{k}_s": v for k, v in evaluation.fit_seconds.items()})
    started = time.perf_counter()
    forecaster = fit_forecaster(data, through_season=max(args.seasons) - 1)
    wall["final_fit_s"] = time.perf_counter() - started
    live = live_latency(tables, forecaster)

    minutes, halftime = score_minutes(evaluation), score_halftime(evaluation)
    halftime_seasons = score_halftime(evaluation, by_season=True)
    beats = beats_table(minutes)
    summary = {
        "seasons": args.seasons,
        "games": int(evaluation.halftime["game_id"].nunique()),
        "ingame": report.ingame.summary() if report.ingame else None,
        "beats_both_every_minute": {
            metric: bool(beats[f"{metric}_beats_both"].all()) for metric in ("brier", "log_loss")
        },
        "minutes_missed": {
            metric: [int(m) for m in beats.index[~beats[f"{metric}_beats_both"]]]
            for metric in ("brier", "log_loss")
        },
        "halftime_mae_below_baseline": bool(
            halftime.set_index("model").loc["ensemble", "mae"]
            < halftime.set_index("model").loc["baseline", "mae"]
        ),
        "per_minute": minutes.to_dict(orient="records"),
        "halftime": halftime.to_dict(orient="records"),
        "halftime_by_season": halftime_seasons.to_dict(orient="records"),
        "live_per_event": live,
        "wall_seconds": {k: round(v, 1) for k, v in wall.items()},
    }
    if args.as_json:
        print(json.dumps(summary, default=float))
        return
    pd.set_option("display.width", 200)
    print(f"NBA in-game, walk-forward {args.seasons[0]}-{args.seasons[-1]} ({summary['games']} games)")
    print("\nwin probability per minute (state model vs anchors, same states):")
    print(beats.round(4).to_string())
    print("\nfinal margin MAE and conformal coverage per minute:")
    print(
        minutes.set_index(["minute", "model"])[["margin_mae", "coverage_80", "coverage_95"]]
        .round(4)
        .to_string()
    )
    print("\nhalf-time differential from 18 minutes:")
    print(halftime.round(4).to_string(index=False))
    print(halftime_seasons.pivot(index="season", columns="model", values="mae").round(4).to_string())
    print(f"\nlive path, {NIGHT}: {json.dumps(live)}")
    print(f"wall time (s): {json.dumps(summary['wall_seconds'])}")
    print(f"beats both anchors at every minute: {summary['beats_both_every_minute']}")


if __name__ == "__main__":
    sys.exit(main())
