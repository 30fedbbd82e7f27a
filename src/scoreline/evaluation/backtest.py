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

import joblib
import numpy as np
import pandas as pd

from scoreline.data.schema import MATCH_ID_COLUMNS
from scoreline.engine import Engine, SerialEngine
from scoreline.evaluation.cache import PredictionCache
from scoreline.models.base import OUTCOMES_2WAY, MatchModel, clone, outcome_index
from scoreline.models.blend import Blend
from scoreline.progress import Progress

ID_COLUMNS = MATCH_ID_COLUMNS


#: the span predicted between two refits
Window = Literal["week", "month"]


@dataclass(frozen=True)
class WalkForward:
    """When to predict and refit.

    ``window``: length of each prediction window ("week" = 7 days, "month" = calendar month).
    ``refit_every``: refit the models every this many windows (1 = before every window).
    ``warmup_days``: the first cut-off is at least this long after the first match, so every
    model has history. ``train_days``: use only this much history before the cut-off (None =
    everything before it). ``slow_refits``: models refitted only at every k-th refit of the
    others, ``(("lightgbm", 4),)``: the costly models on a coarser cadence where that is measured
    to cost no accuracy (``benchmarks/refit_cadence.py``).
    """

    from_season: int = 2012
    to_season: int | None = None
    window: Window = "week"
    refit_every: int = 1
    warmup_days: int = 365
    train_days: int | None = None
    slow_refits: tuple[tuple[str, int], ...] = ()


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
    matches: pd.DataFrame,
    models: dict[str, MatchModel],
    config: WalkForward,
    outcomes: tuple[str, ...],
    engine: Engine | None = None,
    cache: PredictionCache | None = None,
) -> BacktestResult:
    """Predict every match from ``config.from_season`` on with every model, walking forward.

    ``matches``: played matches of one competition with any point-in-time feature columns
    the models need. Models are cloned, so the instances passed in stay unfitted. Each model
    walks on its own (the unit of work of ``engine``; serial by default), every model on the
    same windows and the same feature frame; with a ``cache``, a model whose data, features,
    configuration and code are unchanged since an earlier backtest is not refitted at all.
    """
    data = matches.sort_values(["date", "match_id"]).reset_index(drop=True)
    plan = _plan(data, config)
    keys = {name: cache.key(data, model, config, outcomes) for name, model in models.items()} if cache else {}
    walks: dict[str, ModelWalk] = {}
    for name in models:
        found = cache.get(keys[name]) if cache else None
        if found is not None:
            walks[name] = ModelWalk(name, *found)
    derived = _blends_of_walked_members(models, plan)
    todo = [(name, model) for name, model in models.items() if name not in walks and name not in derived]
    label = f"{'/'.join(map(str, data['competition'].unique()))} backtest"
    progress = Progress(len(todo), label, unit="models")
    progress.advance(
        0, detail=f"fitting {', '.join(name for name, _ in todo)} over {len(plan.windows)} windows"
    )
    done = (engine or SerialEngine()).map(
        walk_model,
        todo,
        {"data": data, "plan": plan},
        on_done=lambda walk: progress.advance(detail=f"{walk.name} done"),
    )
    progress.close()
    for walk in done:
        walks[walk.name] = walk
        if cache:
            cache.put(keys[walk.name], walk.probabilities, walk.fit_seconds)
    for name, members in derived.items():
        if name not in walks:
            combined = Blend.combine([walks[m].probabilities for m in members])
            walks[name] = ModelWalk(name, combined, sum(walks[m].fit_seconds for m in members))

    rows = np.concatenate([test for _, _, test in plan.windows])
    predictions = data.loc[rows, list(ID_COLUMNS)].reset_index(drop=True)
    cuts = np.array(plan.cuts, dtype="datetime64[ns]")
    predictions["window"] = np.repeat(cuts, [len(test) for _, _, test in plan.windows])
    predictions["outcome"] = outcome_index(data.loc[rows], two_way=outcomes == OUTCOMES_2WAY)
    columns = {
        f"{name}_{outcome}": walks[name].probabilities[:, j]
        for name in models
        for j, outcome in enumerate(outcomes)
    }
    predictions = pd.concat([predictions, pd.DataFrame(columns, index=predictions.index)], axis=1)
    fit_seconds = {name: walks[name].fit_seconds for name in models}
    return BacktestResult(predictions, list(models), outcomes, fit_seconds, plan.refits)


@dataclass(frozen=True)
class Plan:
    """The windows of a walk-forward as row positions of the date-sorted frame: per window the
    training slice ``[start, stop)`` (None = no refit, keep the last fit) and the test rows."""

    windows: list[tuple[int, int, np.ndarray]]
    refit: list[bool]
    cuts: list[pd.Timestamp]
    #: per model: refit at every k-th refit only (absent = every refit)
    slow: dict[str, int] = field(default_factory=dict)

    @property
    def refits(self) -> int:
        return sum(self.refit)


def _plan(data: pd.DataFrame, config: WalkForward) -> Plan:
    in_range = data["season"] >= config.from_season
    if config.to_season is not None:
        in_range &= data["season"] <= config.to_season
    if not in_range.any():
        raise ValueError(f"no matches from season {config.from_season} on")
    start = max(data.loc[in_range, "date"].min(), data["date"].min() + pd.Timedelta(days=config.warmup_days))
    dates = data["date"].to_numpy(dtype="datetime64[ns]")
    selected = in_range.to_numpy()
    windows, refit, cuts = [], [], []
    for i, (cut, end) in enumerate(
        cut_offs(data.loc[in_range & (data["date"] >= start), "date"], start, config.window)
    ):
        begin = cut - pd.Timedelta(days=config.train_days) if config.train_days else data["date"].min()
        first, stop = np.searchsorted(dates, np.array([begin, cut], dtype="datetime64[ns]"))
        lo, hi = np.searchsorted(dates, np.array([cut, end], dtype="datetime64[ns]"))
        test = np.arange(lo, hi)[selected[lo:hi]]
        windows.append((int(first), int(stop), test))
        refit.append(i % config.refit_every == 0)
        cuts.append(cut)
    return Plan(windows, refit, cuts, dict(config.slow_refits))


def _blends_of_walked_members(models: dict[str, MatchModel], plan: Plan) -> dict[str, list[str]]:
    """Blends whose every member is also walked on its own with the same configuration and
    cadence: name -> the members' names. Their walk is the combination of the members' walks
    (identical to fitting the blend: the same fits on the same slices), so they fit nothing."""
    fingerprints: dict[str, str] = {}
    for name, model in models.items():
        if not isinstance(model, Blend) and not getattr(model, "warm_start", False):
            fingerprints.setdefault(joblib.hash(model), name)
    derived = {}
    for name, model in models.items():
        if isinstance(model, Blend) and model.members:
            members = [fingerprints.get(joblib.hash(member)) for member in model.members]
            cadence = plan.slow.get(name, 1)
            if all(m is not None and plan.slow.get(m, 1) == cadence for m in members):
                derived[name] = [m for m in members if m is not None]
    return derived


@dataclass(frozen=True)
class ModelWalk:
    """One model's walk-forward: its probabilities for the plan's test rows, in order."""

    name: str
    probabilities: np.ndarray
    fit_seconds: float


def walk_model(item: tuple[str, MatchModel], data: pd.DataFrame, plan: Plan) -> ModelWalk:
    """Walk one model over ``plan``: refit where the plan says, predict every window."""
    name, template = item
    every = plan.slow.get(name, 1)
    fitted: MatchModel | None = None
    seconds = 0.0
    parts = []
    n_refits = 0
    for (first, stop, test), refit in zip(plan.windows, plan.refit):
        if refit:
            n_refits += 1
        if fitted is None or (refit and (n_refits - 1) % every == 0):
            started = time.perf_counter()
            fitted = _refit(fitted, template, data.iloc[first:stop])
            seconds += time.perf_counter() - started
        parts.append(fitted.predict_proba(data.iloc[test]))
    return ModelWalk(name, np.vstack(parts), seconds)


def _refit(previous: MatchModel | None, template: MatchModel, train: pd.DataFrame) -> MatchModel:
    """A model fitted on ``train``; warm-startable models continue from their previous fit."""
    if previous is not None and getattr(previous, "warm_start", False):
        return previous.fit(train)
    return clone(template).fit(train)
