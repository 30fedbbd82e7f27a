"""Win probability and final margin at any game second, from the game state.

:class:`StateModel` works on time-bucketed states: one model per game minute (1..48, and one for
every overtime second), each fitted on the training states of its minute and ``neighbours``
minutes either side, so it sees a few thousand games and changes smoothly from one minute to the
next. Its inputs (:data:`STATE_INPUTS`) start from the spread-share rule (current margin + the
remaining share of the spread): ``z`` is that forecast over the error scale ``s`` at the time
left (the rule's mean squared error at that time left on the training states: per regulation
minute, interpolated in between; close to Stern's variance proportional to time left), and
``lz = logit(Phi(z))`` is the normal model's log-odds, so the logistic regression can reproduce it
exactly and only learn corrections. The
other inputs are the margin, the lines, the scoring pace against the total, and the timeline
features a score feed allows without possessions: the current run, lead changes, the largest
leads, the margin change of the last five minutes and the seconds since the last score.

Per minute:

* the win probability is a logistic regression on the standardised inputs, fitted by maximum
  likelihood, blended with the normal model ``Phi(z)``: the weight of each minute is chosen on
  the held-out latest training games (below) to minimise their log loss, so late in a game, where
  the normal model is hard to improve on, it leans on it (the walk-forward calibration plots
  check later seasons);
* the final margin is the spread-share forecast plus a ridge regression of its error on the same
  inputs, with normalised split-conformal intervals: the latest ``calibration_games`` training
  games are held out of a first fit, their residuals divided by ``s`` fill one
  :class:`RollingConformal` per minute, and an interval is ``margin +/- radius * s``, so it
  narrows within a minute as time runs out. The models are then refitted on every training
  state.

The fitted regressions are kept as plain weight vectors, so one state costs a few microseconds
(:meth:`StateModel.predict_row`, the live path) and a frame of states one matrix product per
minute (:meth:`predict_proba`, :meth:`predict_margin`). States are
:func:`scoreline.features.ingame.states` rows; ``fit`` also needs ``final_margin``, ``game_id``
and ``date``.
"""

from __future__ import annotations

import copy
from typing import Self

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtr
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression, Ridge

from scoreline.features.ingame import STATE_FEATURES
from scoreline.models.base import OUTCOMES_2WAY
from scoreline.models.conformal import RollingConformal, interval_columns
from scoreline.models.ingame.anchors import OVERTIME_BUCKET, MarginForecast, game_minute

__all__ = ["STATE_INPUTS", "StateModel"]

#: the inputs of the per-minute models, in this order (``z`` and ``lz`` are computed)
STATE_INPUTS = (
    "z",
    "lz",
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
_COLUMN = {name: i for i, name in enumerate(STATE_FEATURES)}
_PASSED = [_COLUMN[name] for name in STATE_INPUTS[2:]]


class StateModel(BaseEstimator):
    """Per-minute logistic win probability and ridge-corrected margin with conformal intervals.

    ``neighbours``: minutes either side whose states also train a minute's models. ``C``: inverse
    L2 strength of the logistic regressions; ``alpha``: ridge strength of the margin correction.
    ``levels``: interval levels. ``calibration_games``: latest training games held out to
    calibrate the intervals. ``conformal_window``: residuals each minute's calibrator keeps.

    State: ``scale_`` (knots ``(remaining_s, squared error)`` of ``s^2``), ``total_fill_`` (training
    median total, used where a state has none), ``win_`` / ``margin_`` (bucket -> ``(weights,
    intercept)`` on the raw inputs), ``blend_`` (bucket -> weight of the logistic regression
    against ``Phi(z)``), ``conformal_`` (bucket -> RollingConformal of normalised residuals) and
    ``radius_`` (bucket -> radius per level).
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

    # -- inputs --------------------------------------------------------------------------------

    @staticmethod
    def _matrix(states: pd.DataFrame) -> np.ndarray:
        missing = [c for c in STATE_FEATURES if c not in states]
        if missing:
            raise ValueError(f"game states lack column(s) {', '.join(missing)}")
        return states[list(STATE_FEATURES)].to_numpy(dtype=float)

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        remaining, variance = self.scale_
        return np.sqrt(np.maximum(np.interp(raw[:, _COLUMN["remaining_s"]], remaining, variance), 1.0))

    def _inputs(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(inputs, spread-share mean, scale)`` of raw :data:`STATE_FEATURES` rows."""
        raw = raw.copy()
        total = raw[:, _COLUMN["total_line"]]
        raw[:, _COLUMN["total_line"]] = np.where(np.isfinite(total), total, self.total_fill_)
        mean = raw[:, _COLUMN["margin"]] + raw[:, _COLUMN["expected_remaining"]]
        scale = self._scale(raw)
        z = mean / scale
        lz = logit(np.clip(ndtr(z), 1e-12, 1 - 1e-12))
        return np.column_stack([z, lz, raw[:, _PASSED]]), mean, scale

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

    # -- fitting -------------------------------------------------------------------------------

    def _fit_scale(self, raw: np.ndarray, final: np.ndarray) -> None:
        """The spread-share rule's error variance against the time left: the mean squared error
        and mean time left of each regulation minute, interpolated in between (and held flat
        beyond the first and last minute)."""
        error = final - (raw[:, _COLUMN["margin"]] + raw[:, _COLUMN["expected_remaining"]])
        minute = game_minute(raw[:, _COLUMN["elapsed_s"]])
        regulation = minute != OVERTIME_BUCKET
        frame = pd.DataFrame(
            {"minute": minute, "remaining": raw[:, _COLUMN["remaining_s"]], "squared": error**2}
        )
        knots = (
            frame.loc[regulation].groupby("minute")[["remaining", "squared"]].mean().sort_values("remaining")
        )
        self.scale_ = (knots["remaining"].to_numpy(), knots["squared"].to_numpy())

    def _fit_margin(self, raw: np.ndarray, final: np.ndarray) -> dict[int, tuple[np.ndarray, float]]:
        x, mean, _ = self._inputs(raw)
        minute = game_minute(raw[:, _COLUMN["elapsed_s"]])
        models = {}
        for bucket in BUCKETS:
            rows = self._rows(minute, bucket)
            models[bucket] = _unscaled(Ridge(alpha=self.alpha), x[rows], final[rows] - mean[rows])
        return models

    def _fit_win(self, raw: np.ndarray, final: np.ndarray) -> dict[int, tuple[np.ndarray, float]]:
        x, _, _ = self._inputs(raw)
        win = final > 0
        minute = game_minute(raw[:, _COLUMN["elapsed_s"]])
        models = {}
        for bucket in BUCKETS:
            rows = self._rows(minute, bucket)
            labels = win[rows]
            if labels.all() or not labels.any():  # one outcome only: a constant probability
                models[bucket] = (np.zeros(x.shape[1]), float(logit(np.clip(labels.mean(), 1e-4, 1 - 1e-4))))
            else:
                model = LogisticRegression(C=self.C, solver="newton-cholesky", max_iter=100)
                models[bucket] = _unscaled(model, x[rows], labels)
        return models

    def fit(self, states: pd.DataFrame) -> Self:
        """``states``: training game states with ``final_margin``, ``game_id`` and ``date``."""
        data = states.loc[states["spread_home"].notna() & states["final_margin"].notna()]
        self.total_fill_ = float(data["total_line"].median())
        order = data.drop_duplicates("game_id").sort_values(["date", "game_id"])["game_id"]
        held_out = data["game_id"].isin(order.iloc[-self.calibration_games :]).to_numpy()
        if held_out.all() or not held_out.any():
            raise ValueError(f"need more than {self.calibration_games} training games")
        raw, final = self._matrix(data), data["final_margin"].to_numpy(dtype=float)
        self._fit_scale(raw[~held_out], final[~held_out])
        self.margin_ = self._fit_margin(raw[~held_out], final[~held_out])
        self.win_ = self._fit_win(raw[~held_out], final[~held_out])
        self.blend_ = self._fit_blend(raw[held_out], final[held_out] > 0)
        mean, scale, minute = self._margin_mean(raw[held_out])
        self.conformal_ = {}
        for bucket in BUCKETS:
            rows = minute == bucket
            calibrator = RollingConformal(self.levels, window=self.conformal_window, min_residuals=30)
            self.conformal_[bucket] = calibrator.update(
                final[held_out][rows] / scale[rows], mean[rows] / scale[rows]
            )
        self._fit_scale(raw, final)
        self.margin_ = self._fit_margin(raw, final)
        self.win_ = self._fit_win(raw, final)
        self._set_radii()
        return self

    def _components(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(logistic P(home win), normal P(home win), bucket)`` per raw state row."""
        x, _, _ = self._inputs(raw)
        minute = game_minute(raw[:, _COLUMN["elapsed_s"]])
        logistic = np.full(len(raw), np.nan)
        for bucket in np.unique(minute):
            rows = minute == bucket
            weights, intercept = self.win_[int(bucket)]
            logistic[rows] = expit(x[rows] @ weights + intercept)
        return logistic, ndtr(x[:, 0]), minute

    def _fit_blend(self, raw: np.ndarray, won: np.ndarray) -> dict[int, float]:
        """Per bucket, the weight of the logistic regression against the normal model that
        minimises the log loss on held-out games (pooled over the bucket and two minutes either
        side): late in a game the normal model is hard to improve on, early the logistic is."""
        logistic, normal, minute = self._components(raw)
        grid = np.linspace(0.0, 1.0, 11)
        blend = {}
        for bucket in BUCKETS:
            near = minute == OVERTIME_BUCKET if bucket == OVERTIME_BUCKET else np.abs(minute - bucket) <= 2
            if near.sum() < 100:
                blend[bucket] = 1.0
                continue
            p = np.clip(grid[:, None] * logistic[near] + (1 - grid[:, None]) * normal[near], 1e-12, 1 - 1e-12)
            loss = -(won[near] * np.log(p) + (~won[near]) * np.log(1 - p)).mean(axis=1)
            blend[bucket] = float(grid[np.argmin(loss)])
        return blend

    def _set_radii(self) -> None:
        self.radius_ = {
            b: np.array([c.radius(level) for level in self.levels]) for b, c in self.conformal_.items()
        }

    # -- predicting ----------------------------------------------------------------------------

    def _margin_mean(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(margin forecast, scale, bucket)`` per raw state row."""
        x, mean, scale = self._inputs(raw)
        minute = game_minute(raw[:, _COLUMN["elapsed_s"]])
        out = mean.copy()
        for bucket in np.unique(minute):
            rows = minute == bucket
            weights, intercept = self.margin_[int(bucket)]
            out[rows] += x[rows] @ weights + intercept
        return out, scale, minute

    def predict_proba(self, states: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: P(home win), P(away win); NaN where a state has no spread."""
        raw = self._matrix(states)
        logistic, normal, minute = self._components(raw)
        weight = np.array([self.blend_[int(b)] for b in minute])
        p = weight * logistic + (1 - weight) * normal
        return np.column_stack([p, 1.0 - p])

    def predict_margin(self, states: pd.DataFrame) -> MarginForecast:
        """Final home margin with the per-minute conformal intervals (``lower_80`` ...)."""
        mean, scale, minute = self._margin_mean(self._matrix(states))
        radius = (
            np.vstack([self.radius_[int(b)] for b in minute])
            if len(minute)
            else np.zeros((0, len(self.levels)))
        )
        out = {}
        for j, level in enumerate(self.levels):
            lower, upper = interval_columns(level)
            out[lower], out[upper] = mean - radius[:, j] * scale, mean + radius[:, j] * scale
        return MarginForecast(mean, np.full(len(mean), np.nan), pd.DataFrame(out, index=states.index))

    def predict_row(self, raw: np.ndarray) -> tuple[float, float, np.ndarray]:
        """The live path for one state (a :data:`STATE_FEATURES` vector): ``(P(home win),
        final margin, half-width per level)``."""
        x, mean, scale = self._inputs(raw.reshape(1, -1))
        bucket = int(game_minute(raw[_COLUMN["elapsed_s"] : _COLUMN["elapsed_s"] + 1])[0])
        weights, intercept = self.win_[bucket]
        weight = self.blend_[bucket]
        p = float(weight * expit(x[0] @ weights + intercept) + (1 - weight) * ndtr(x[0, 0]))
        weights, intercept = self.margin_[bucket]
        margin = float(mean[0] + x[0] @ weights + intercept)
        return p, margin, self.radius_[bucket] * scale[0]

    def calibrators(self) -> dict[int, RollingConformal]:
        """A copy of the per-minute calibrators of *normalised* residuals (divide the actual and
        forecast margin by :meth:`scale` before updating)."""
        return copy.deepcopy(self.conformal_)

    def scale(self, states: pd.DataFrame) -> np.ndarray:
        """The error scale ``s`` of each state (points): what a normalised residual is divided by."""
        return self._scale(self._matrix(states))


def _unscaled(model, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Fit ``model`` on standardised ``x`` and return its ``(weights, intercept)`` on raw ``x``."""
    centre, spread = x.mean(axis=0), x.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    model.fit((x - centre) / spread, y)
    weights = np.ravel(model.coef_) / spread
    intercept = float(np.ravel([model.intercept_])[0] - weights @ centre)
    return weights, intercept
