"""Walk-forward evaluation of the in-game models by season, next to the anchors on the same games.

For each evaluated season every model is fitted on the games of *earlier* seasons only (from the
first stored season on) and forecasts every game of the season that has pre-game lines:

* at the end of game minutes :data:`EVAL_MINUTES` (6, 12, 18, 24, 36, 42, 46): the
  :class:`StateModel`'s win probability and final margin, and the same from Stern's model and
  the spread-share rule (:mod:`scoreline.models.ingame.anchors`);
* at minute 18: the half-time differential from the 18-value pattern by the Dejavu, GBDT and
  ensemble pattern models and by the baseline.

Intervals roll forward inside the season: a game's interval is calibrated on the model's held-out
training residuals plus the residuals of the season's games played on earlier dates
(:func:`scoreline.models.conformal.walk_forward_intervals`, one calibrator per minute for the
margin), never on its own date or later.

:func:`score_minutes` and :func:`score_halftime` turn the predictions into the per-minute table
(Brier, log loss, margin MAE, interval coverage and width) and the half-time table;
:func:`calibration_plot` draws a reliability diagram per minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from scoreline.data.ingame import InGameTables
from scoreline.evaluation import metrics
from scoreline.features.ingame import pattern_table, state_table
from scoreline.models.conformal import coverage_table, interval_columns, walk_forward_intervals
from scoreline.models.ingame import (
    DejavuModel,
    PatternEnsemble,
    PatternGBDT,
    PatternModel,
    SpreadShareModel,
    StateModel,
    SternModel,
    game_minute,
    halftime_baseline,
)
from scoreline.models.ingame.forecaster import InGameForecaster

__all__ = [
    "EVAL_MINUTES",
    "InGameData",
    "InGameEvaluation",
    "calibration_plot",
    "fit_forecaster",
    "ingame_data",
    "score_halftime",
    "score_minutes",
    "walk_forward",
]

EVAL_MINUTES = (6, 12, 18, 24, 36, 42, 46)
LEVELS = (0.8, 0.95)
#: the model rows of the per-minute table: ours first, then the anchors
STATE_MODELS = ("state", "stern", "spread_share")
HALFTIME_MODELS = ("ensemble", "dejavu", "gbdt", "baseline")


@dataclass(frozen=True)
class InGameData:
    """The games with pre-game lines, their pattern rows, training states on a grid and the
    states at :data:`EVAL_MINUTES` (all from :func:`ingame_data`)."""

    games: pd.DataFrame
    patterns: pd.DataFrame
    train_states: pd.DataFrame
    eval_states: pd.DataFrame

    @property
    def seasons(self) -> list[int]:
        return sorted(int(s) for s in self.games["season"].unique())


def ingame_data(
    tables: InGameTables, step_s: float = 60.0, seasons: Sequence[int] | None = None
) -> InGameData:
    """Model tables for the games with a spread and a total (of ``seasons``, default all):
    :func:`~scoreline.features.ingame.pattern_table`, states every ``step_s`` game seconds for
    training, and the states at the end of :data:`EVAL_MINUTES`."""
    games = tables.with_lines()
    if seasons is not None:
        games = games.loc[games["season"].isin(list(seasons))].reset_index(drop=True)
    if games.empty:
        raise ValueError("no in-game games with pre-game lines: ingest nba_pbp/ and nba/ first")
    events = tables.events.loc[tables.events["game_id"].isin(games["game_id"])]
    return InGameData(
        games,
        pattern_table(games, events),
        state_table(games, events, step_s),
        state_table(games, events, seconds=[60.0 * m for m in EVAL_MINUTES]),
    )


def default_pattern_models() -> dict[str, PatternModel]:
    return {"ensemble": PatternEnsemble(), "dejavu": DejavuModel(), "gbdt": PatternGBDT()}


@dataclass
class InGameEvaluation:
    """Walk-forward predictions: ``states`` (one row per game, minute and model: ``p_home_win``,
    ``margin``, ``lower_80`` ..., and the outcome ``home_win``/``final_margin``) and
    ``halftime`` (one row per game and model: ``forecast``, ``lower_80`` ..., ``ht_margin``)."""

    states: pd.DataFrame
    halftime: pd.DataFrame
    seasons: list[int]
    fit_seconds: dict[str, float] = field(default_factory=dict)


def _rolling(frame: pd.DataFrame, calibrator, y: str, yhat: str) -> pd.DataFrame:
    """Intervals rolled forward day by day from ``calibrator`` (a copy is used)."""
    rows = pd.DataFrame(
        {"date": frame["date"], "y": frame[y], "yhat": frame[yhat], "window_start": frame["date"]},
        index=frame.index,
    )
    return walk_forward_intervals(rows, conformal=calibrator)


def _state_predictions(
    season: int, train: pd.DataFrame, test: pd.DataFrame, games: pd.DataFrame, model: StateModel
) -> tuple[pd.DataFrame, dict[str, float]]:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    fitted = clone(model).fit(train)
    seconds["state"] = time.perf_counter() - started
    stern = SternModel(LEVELS).fit(games.assign(final_margin=games["home_score"] - games["away_score"]))
    share = SpreadShareModel(LEVELS).fit(train)
    base = test[["game_id", "date", "t", "home_win", "final_margin"]].assign(
        season=season, minute=(test["t"] / 60).round().astype(int)
    )
    frames = []
    margin = fitted.predict_margin(test)
    ours = base.assign(model="state", p_home_win=fitted.predict_proba(test)[:, 0], margin=margin.mean)
    # normalised residuals (over the error scale at the time left) roll forward per minute
    calibrators = fitted.calibrators()
    scale = pd.Series(fitted.scale(test), index=test.index)
    normalised = ours.assign(final_margin=ours["final_margin"] / scale, margin=ours["margin"] / scale)
    minute = game_minute(test["t"])
    parts = []
    for bucket in np.unique(minute):
        rows = minute == bucket
        intervals = _rolling(normalised.loc[rows], calibrators[int(bucket)], "final_margin", "margin")
        parts.append(intervals.mul(scale[rows], axis=0))
    frames.append(ours.join(pd.concat(parts)))
    for name, anchor in (("stern", stern), ("spread_share", share)):
        forecast = anchor.predict_margin(test)
        frames.append(
            base.assign(model=name, p_home_win=anchor.predict_proba(test)[:, 0], margin=forecast.mean).join(
                forecast.intervals
            )
        )
    return pd.concat(frames, ignore_index=True), seconds


def _halftime_predictions(
    season: int, train: pd.DataFrame, test: pd.DataFrame, models: dict[str, PatternModel]
) -> tuple[pd.DataFrame, dict[str, float]]:
    base = test[["game_id", "date", "ht_margin", "diff_18", "spread_home"]].assign(season=season)
    frames: list[pd.DataFrame] = []
    seconds: dict[str, float] = {}
    for name, model in models.items():
        started = time.perf_counter()
        fitted = clone(model).fit(train)
        seconds[name] = time.perf_counter() - started
        forecast = fitted.predict(test, explain=False).forecast
        rows = base.assign(model=name, forecast=forecast)
        frames.append(rows.join(_rolling(rows, fitted.calibrator(), "ht_margin", "forecast")))
    frames.append(base.assign(model="baseline", forecast=halftime_baseline(test)))
    return pd.concat(frames, ignore_index=True), seconds


def walk_forward(
    data: InGameData,
    seasons: Sequence[int],
    state_model: StateModel | None = None,
    pattern_models: dict[str, PatternModel] | None = None,
    on_season: Callable[[int], None] | None = None,
) -> InGameEvaluation:
    """Fit on seasons before each of ``seasons`` and predict it (see the module docstring).
    ``on_season`` is called after each season (progress)."""
    model = state_model or StateModel(levels=LEVELS)
    patterns = pattern_models or default_pattern_models()
    states: list[pd.DataFrame] = []
    halftime: list[pd.DataFrame] = []
    seconds: dict[str, float] = {}
    for season in seasons:
        train_games = data.games.loc[data.games["season"] < season]
        if train_games.empty:
            raise ValueError(f"season {season}: no earlier season to train on")
        train_states = data.train_states.loc[data.train_states["season"] < season]
        test_states = data.eval_states.loc[data.eval_states["season"] == season]
        frame, fit = _state_predictions(season, train_states, test_states, train_games, model)
        states.append(frame)
        train_patterns = data.patterns.loc[data.patterns["season"] < season]
        test_patterns = data.patterns.loc[data.patterns["season"] == season]
        frame, fit_patterns = _halftime_predictions(season, train_patterns, test_patterns, patterns)
        halftime.append(frame)
        for name, value in {**fit, **fit_patterns}.items():
            seconds[name] = seconds.get(name, 0.0) + value
        if on_season is not None:
            on_season(season)
    return InGameEvaluation(
        pd.concat(states, ignore_index=True), pd.concat(halftime, ignore_index=True), list(seasons), seconds
    )


def _coverage(frame: pd.DataFrame, y: str) -> dict[str, float]:
    out = {}
    table = coverage_table(frame.rename(columns={y: "y"}), LEVELS)
    for level, row in table.iterrows():
        pct = f"{float(level) * 100:g}"
        out[f"coverage_{pct}"] = float(row["coverage"])
        out[f"width_{pct}"] = float(row["mean_width"])
    return out


def score_minutes(evaluation: InGameEvaluation, by_season: bool = False) -> pd.DataFrame:
    """One row per (minute, model) (and season with ``by_season``): ``n``, ``brier``,
    ``log_loss``, ``margin_mae``, ``coverage_80``/``95`` and ``width_80``/``95`` of the margin
    intervals. Ties at the end are not scored for win probability (none occur in the NBA)."""
    keys = ["season", "minute", "model"] if by_season else ["minute", "model"]
    rows = []
    for key, group in evaluation.states.groupby(keys, sort=True):
        p = group["p_home_win"].to_numpy(dtype=float)
        y = group["home_win"].to_numpy(dtype=float)
        ok = np.isfinite(p)
        rows.append(
            {
                **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                "n": int(ok.sum()),
                "brier": float(metrics.binary_brier(p[ok], y[ok]).mean()),
                "log_loss": float(
                    metrics.log_loss(np.column_stack([p[ok], 1 - p[ok]]), (1 - y[ok]).astype(int)).mean()
                ),
                "margin_mae": float(np.mean(np.abs(group["margin"] - group["final_margin"]))),
                **_coverage(group, "final_margin"),
            }
        )
    table = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(STATE_MODELS)}
    return table.sort_values(
        [*keys[:-1], "model"], key=lambda c: c.map(order) if c.name == "model" else c
    ).reset_index(drop=True)


def score_halftime(evaluation: InGameEvaluation, by_season: bool = False) -> pd.DataFrame:
    """One row per model (and season): ``n``, ``mae`` and ``rmse`` of the half-time differential,
    interval coverage and width (the baseline has no interval)."""
    keys = ["season", "model"] if by_season else ["model"]
    rows = []
    for key, group in evaluation.halftime.groupby(keys, sort=True):
        error = group["forecast"] - group["ht_margin"]
        row = {
            **dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
            "n": len(group),
            "mae": float(error.abs().mean()),
            "rmse": float(np.sqrt((error**2).mean())),
        }
        if interval_columns(LEVELS[0])[0] in group and group[interval_columns(LEVELS[0])[0]].notna().any():
            row.update(_coverage(group, "ht_margin"))
        rows.append(row)
    table = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(HALFTIME_MODELS)}
    return table.sort_values(
        [*keys[:-1], "model"], key=lambda c: c.map(order) if c.name == "model" else c
    ).reset_index(drop=True)


def calibration_plot(evaluation: InGameEvaluation, path: Path, n_bins: int = 10) -> Path:
    """PNG: one reliability diagram per evaluated minute, every state model on the same games."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = sorted(evaluation.states["minute"].unique())
    columns = 4
    rows = -(-len(minutes) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 4.0 * rows), squeeze=False)
    for ax, minute in zip(axes.flat, minutes, strict=False):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        at = evaluation.states.loc[evaluation.states["minute"] == minute]
        for model in STATE_MODELS:
            group = at.loc[(at["model"] == model) & at["p_home_win"].notna()]
            table = metrics.reliability_table(
                group["p_home_win"].to_numpy(dtype=float), group["home_win"].to_numpy(dtype=float), n_bins
            )
            ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", ms=3, label=model)
        ax.set(title=f"minute {minute}", xlabel="P(home win)", ylabel="observed", xlim=(0, 1), ylim=(0, 1))
    for ax in list(axes.flat)[len(minutes) :]:
        ax.axis("off")
    axes[0][0].legend(fontsize=8)
    seasons = evaluation.seasons
    fig.suptitle(f"NBA in-game win probability, walk-forward {seasons[0]}-{seasons[-1]} (season start years)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def fit_forecaster(
    data: InGameData,
    through_season: int | None = None,
    state_model: StateModel | None = None,
    pattern_model: PatternModel | None = None,
) -> InGameForecaster:
    """The forecaster to serve: a state model and a pattern model (default: the ensemble) fitted
    on every game up to ``through_season`` (default: the last stored season)."""
    last = through_season if through_season is not None else max(data.seasons)
    states = data.train_states.loc[data.train_states["season"] <= last]
    patterns = data.patterns.loc[data.patterns["season"] <= last]
    started = time.perf_counter()
    state = clone(state_model or StateModel(levels=LEVELS)).fit(states)
    pattern = clone(pattern_model or PatternEnsemble(levels=LEVELS)).fit(patterns)
    return InGameForecaster(
        state,
        pattern,
        trained_through=int(last),
        info={
            "games": int(patterns["game_id"].nunique()),
            "first_season": int(patterns["season"].min()),
            "fit_seconds": round(time.perf_counter() - started, 1),
        },
    )
