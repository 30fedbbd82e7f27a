"""Walk-forward backtests: train on everything before a cut-off, predict the next window, roll.

The engine is written once for every model that honours :class:`scoreline.models.base.MatchModel`.
Point-in-time features (computed in one chronological pass, see :mod:`scoreline.features`) are
joined to the matches before the loop, so a model sees, for a match on day ``d``, only features
built from matches before ``d``, and is fitted only on matches before the window's cut-off.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from scoreline.models.base import OUTCOMES_2WAY, MatchModel, clone, outcome_index
from scoreline.progress import Progress

ID_COLUMNS = (
    "match_id",
    "competition",
    "season",
    "date",
    "home_team",
    "away_team",
    "home_score",
    "away_score",
)


#: the span predicted between two refits
Window = Literal["week", "month"]


@dataclass(frozen=True)
class WalkForward:
    """When to predict and refit.

    ``window``: length of each prediction window ("week" = 7 days, "month" = calendar month).
    ``refit_every``: refit the models every this many windows (1 = before every window).
    ``warmup_days``: the first cut-off is at least this long after the first match, so every
    model has history. ``train_days``: use only this much history before the cut-off (None =
    everything before it).
    """

    from_season: int = 2012
    to_season: int | None = None
    window: Window = "week"
    refit_every: int = 1
    warmup_days: int = 365
    train_days: int | None = None


@dataclass
class BacktestResult:
    """One row per predicted match: identity, outcome and every model's probabilities.

    Probability columns are ``{model}_{outcome}`` (outcome order: home, draw, away or home,
    away); ``outcome`` is the observed column index (-1 where unscorable, e.g. an NFL tie).
    """

    predictions: pd.DataFrame
    models: list[str]
    outcomes: tuple[str, ...]
    fit_seconds: dict[str, float] = field(default_factory=dict)
    n_refits: int = 0

    def probabilities(self, model: str) -> np.ndarray:
        return self.predictions[[f"{model}_{o}" for o in self.outcomes]].to_numpy(dtype=float)


def cut_offs(dates: pd.Series, start: pd.Timestamp, window: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Consecutive ``[cut_off, end)`` windows from ``start`` to past the last date, skipping
    windows without matches."""
    last = dates.max()
    if window == "week":
        edges = pd.date_range(start, last + pd.Timedelta(days=7), freq="7D")
    elif window == "month":
        edges = pd.date_range(start.to_period("M").to_timestamp(), last + pd.offsets.MonthBegin(1), freq="MS")
    else:
        raise ValueError(f"window must be 'week' or 'month', not {window!r}")
    sorted_dates = np.sort(dates.to_numpy(dtype="datetime64[ns]"))
    counts = np.diff(np.searchsorted(sorted_dates, edges.to_numpy(dtype="datetime64[ns]")))
    return [(s, e) for s, e, n in zip(edges[:-1], edges[1:], counts) if n > 0]


def walk_forward(
    matches: pd.DataFrame, models: dict[str, MatchModel], config: WalkForward, outcomes: tuple[str, ...]
) -> BacktestResult:
    """Predict every match from ``config.from_season`` on with every model, walking forward.

    ``matches``: played matches of one competition with any point-in-time feature columns
    the models need. Models are cloned, so the instances passed in stay unfitted.
    """
    data = matches.sort_values(["date", "match_id"]).reset_index(drop=True)
    in_range = data["season"] >= config.from_season
    if config.to_season is not None:
        in_range &= data["season"] <= config.to_season
    if not in_range.any():
        raise ValueError(f"no matches from season {config.from_season} on")
    start = max(data.loc[in_range, "date"].min(), data["date"].min() + pd.Timedelta(days=config.warmup_days))
    windows = cut_offs(data.loc[in_range & (data["date"] >= start), "date"], start, config.window)

    fitted: dict[str, MatchModel] = {}
    fit_seconds = dict.fromkeys(models, 0.0)
    blocks: list[pd.DataFrame] = []
    refits = 0
    label = f"{'/'.join(map(str, data['competition'].unique()))} backtest"
    progress = Progress(len(windows), label, unit="windows")
    for i, (cut, end) in enumerate(windows):
        test = data.loc[in_range & (data["date"] >= cut) & (data["date"] < end)]
        if i % config.refit_every == 0 or not fitted:
            begin = cut - pd.Timedelta(days=config.train_days) if config.train_days else data["date"].min()
            train = data.loc[(data["date"] < cut) & (data["date"] >= begin)]
            for name, model in models.items():
                progress.advance(0, detail=f"window {cut:%Y-%m-%d}, fitting {name}")
                started = time.perf_counter()
                fitted[name] = _refit(fitted.get(name), model, train)
                fit_seconds[name] += time.perf_counter() - started
            refits += 1
        progress.advance(detail=f"window {cut:%Y-%m-%d}")
        block = test[list(ID_COLUMNS)].copy()
        block["window"] = cut
        block["outcome"] = outcome_index(test, two_way=outcomes == OUTCOMES_2WAY)
        for name, model in fitted.items():
            probs = model.predict_proba(test)
            for j, outcome in enumerate(outcomes):
                block[f"{name}_{outcome}"] = probs[:, j]
        blocks.append(block)
    progress.close()
    predictions = pd.concat(blocks, ignore_index=True)
    return BacktestResult(predictions, list(models), outcomes, fit_seconds, refits)


def _refit(previous: MatchModel | None, template: MatchModel, train: pd.DataFrame) -> MatchModel:
    """A model fitted on ``train``; warm-startable models continue from their previous fit."""
    if previous is not None and getattr(previous, "warm_start", False):
        return previous.fit(train)
    return clone(template).fit(train)
