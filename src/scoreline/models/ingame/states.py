"""Win probability and final margin at any game second, from the game state.

:class:`StateModel` works on time-bucketed states: one model per game minute (1..48, and one for
every overtime second), each fitted on the training states of its minute and ``neighbours``
minutes either side, so it sees a few thousand games and changes smoothly from one minute to the
next. Per minute:

* the win probability is a logistic regression on the standardised state
  (:data:`STATE_INPUTS`): Stern's z-score of the spread-share rule (its mean over the error spread
  of that minute), the margin, the lines, the scoring pace, and the timeline features a score
  feed allows without possessions (the current run, lead changes, largest leads, the margin
  change of the last five minutes, seconds since the last score). Fitted by maximum likelihood,
  a logistic model is calibrated on its training states by construction; the walk-forward
  calibration plots check that this holds on later seasons.
* the final margin is the spread-share rule plus a ridge regression of its error on the same
  inputs, with split-conformal intervals per minute (:class:`RollingConformal`): the latest
  ``calibration_games`` training games are held out of a first fit, their residuals fill one
  calibrator per minute, and the models are then refitted on every training state.

``predict_proba(states)`` -> ``(n, 2)`` (home win, away win); ``predict_margin(states)`` ->
:class:`~scoreline.models.ingame.anchors.MarginForecast`. States are
:func:`scoreline.features.ingame.states` rows; ``fit`` also needs ``final_margin`` and ``date``.
"""

from __future__ import annotations

import copy
from typing import Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from scoreline.models.base import OUTCOMES_2WAY
from scoreline.models.conformal import RollingConformal
from scoreline.models.ingame.anchors import (
    OVERTIME_BUCKET,
    MarginForecast,
    SpreadShareModel,
    game_minute,
    stern_mean,
)

__all__ = ["STATE_INPUTS", "StateModel"]

#: the inputs of the per-minute models, in this order (``z`` is computed by the model)
STATE_INPUTS = (
    "z",
    "margin",
    "expected_remaining",
    "spread_home",
    "total_line",
    "remaining_s",
    "pace",
    "run",
    "lead_changes",
    "max_home_lead",
    "max_away_lead",
    "recent_change",
    "since_score",
)
BUCKETS = (*range(1, 49), OVERTIME_BUCKET)


class StateModel(BaseEstimator):
    """Per-minute logistic win probability and ridge-corrected margin with conformal intervals.

    ``neighbours``: minutes either side whose states also train a minute's models. ``C``: inverse
    L2 strength of the logistic regressions; ``alpha``: ridge strength of the margin correction.
    ``levels``: interval levels. ``calibration_games``: latest training games held out to
    calibrate the intervals. ``conformal_window``: residuals each minute's calibrator keeps.

    State: ``spread_share_`` (the per-minute error spread behind ``z``), ``win_`` and
    ``margin_`` (bucket -> fitted pipeline), ``conformal_`` (bucket -> RollingConformal),
    ``total_fill_`` (training median total, used where a state has no total line).
    """

    outcomes = OUTCOMES_2WAY

    def __init__(
        self,
        neighbours: int = 1,
        C: float = 1.0,
        alpha: float = 10.0,
        levels: tuple[float, ...] = (0.8, 0.95),
        calibration_games: int = 1200,
        conformal_window: int = 2000,
    ):
        self.neighbours = neighbours
        self.C = C
        self.alpha = alpha
        self.levels = levels
        self.calibration_games = calibration_games
        self.conformal_window = conformal_window

    def _inputs(self, states: pd.DataFrame) -> pd.DataFrame:
        frame = states.assign(total_line=states["total_line"].fillna(self.total_fill_))
        sd = self.spread_share_._sd(frame)
        frame = frame.assign(z=stern_mean(frame) / sd)
        return frame[list(STATE_INPUTS)].astype(float)

    def _rows(self, minute: np.ndarray, bucket: int) -> np.ndarray:
        """The training states of a bucket: its minute and ``neighbours`` either side (overtime
        alone)."""
        if bucket == OVERTIME_BUCKET:
            rows = minute == OVERTIME_BUCKET
        else:
            rows = (np.abs(minute - bucket) <= self.neighbours) & (minute != OVERTIME_BUCKET)
        if rows.sum() < 50:
            raise ValueError(f"game minute {bucket}: only {int(rows.sum())} training states")
        return rows

    def _fit_margin(self, states: pd.DataFrame) -> dict[int, Pipeline]:
        """Per-minute ridge corrections of the spread-share margin (and ``spread_share_``)."""
        self.spread_share_ = SpreadShareModel(self.levels).fit(states)
        x = self._inputs(states)
        error = states["final_margin"].to_numpy(dtype=float) - stern_mean(states)
        minute = game_minute(states["elapsed_s"])
        models = {}
        for bucket in BUCKETS:
            rows = self._rows(minute, bucket)
            models[bucket] = make_pipeline(StandardScaler(), Ridge(alpha=self.alpha)).fit(
                x.loc[rows], error[rows]
            )
        return models

    def _fit_win(self, states: pd.DataFrame) -> dict[int, Pipeline | float]:
        """Per-minute logistic win probabilities (a constant where a bucket saw one outcome)."""
        x = self._inputs(states)
        win = states["final_margin"].to_numpy(dtype=float) > 0
        minute = game_minute(states["elapsed_s"])
        models: dict[int, Pipeline | float] = {}
        for bucket in BUCKETS:
            rows = self._rows(minute, bucket)
            labels = win[rows]
            if labels.all() or not labels.any():
                models[bucket] = float(labels.mean())
            else:
                models[bucket] = make_pipeline(
                    StandardScaler(), LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=100)
                ).fit(x.loc[rows], labels)
        return models

    def fit(self, states: pd.DataFrame) -> Self:
        """``states``: training game states with ``final_margin``, ``game_id`` and ``date``."""
        data = states.loc[states["spread_home"].notna() & states["final_margin"].notna()]
        self.total_fill_ = float(data["total_line"].median())
        order = data.drop_duplicates("game_id").sort_values(["date", "game_id"])["game_id"]
        held_out = data["game_id"].isin(order.iloc[-self.calibration_games :])
        if held_out.all():
            raise ValueError(f"need more than {self.calibration_games} training games")
        self.margin_ = self._fit_margin(data.loc[~held_out])
        calibration = data.loc[held_out]
        forecast = self._margin_mean(calibration)
        minute = game_minute(calibration["elapsed_s"])
        actual = calibration["final_margin"].to_numpy(dtype=float)
        self.conformal_ = {}
        for bucket in BUCKETS:
            rows = minute == bucket
            calibrator = RollingConformal(self.levels, window=self.conformal_window, min_residuals=30)
            self.conformal_[bucket] = calibrator.update(actual[rows], forecast[rows])
        self.margin_ = self._fit_margin(data)
        self.win_ = self._fit_win(data)
        return self

    def _margin_mean(self, states: pd.DataFrame) -> np.ndarray:
        x = self._inputs(states)
        minute = game_minute(states["elapsed_s"])
        mean = stern_mean(states).astype(float)
        for bucket in np.unique(minute):
            rows = minute == bucket
            mean[rows] += self.margin_[int(bucket)].predict(x.loc[rows])
        return mean

    def predict_proba(self, states: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: P(home win), P(away win); NaN where a state has no spread."""
        x = self._inputs(states)
        minute = game_minute(states["elapsed_s"])
        p = np.full(len(states), np.nan)
        ok = x.notna().all(axis=1).to_numpy()
        for bucket in np.unique(minute[ok]):
            rows = ok & (minute == bucket)
            model = self.win_[int(bucket)]
            p[rows] = model if isinstance(model, float) else model.predict_proba(x.loc[rows])[:, 1]
        return np.column_stack([p, 1.0 - p])

    def predict_margin(self, states: pd.DataFrame) -> MarginForecast:
        """Final home margin with the per-minute conformal intervals (``lower_80`` ...)."""
        mean = self._margin_mean(states)
        minute = game_minute(states["elapsed_s"])
        parts = []
        for bucket in np.unique(minute):
            rows = np.flatnonzero(minute == bucket)
            parts.append(self.conformal_[int(bucket)].intervals(mean[rows]).set_axis(states.index[rows]))
        intervals = pd.concat(parts).reindex(states.index) if parts else pd.DataFrame(index=states.index)
        return MarginForecast(mean, np.full(len(mean), np.nan), intervals)

    def calibrators(self) -> dict[int, RollingConformal]:
        """A copy of the per-minute calibrators (to roll forward without touching the model)."""
        return copy.deepcopy(self.conformal_)
