"""Half-time differential from the first 18 minutes: the request shape of the live API.

Input: one row per game with the 18-value pattern ``diff_1`` .. ``diff_18`` (home minus away at
the end of each of the first 18 game minutes), ``spread_home`` and ``total_line``
(:func:`scoreline.features.ingame.pattern_table`; ``fit`` also needs the target ``ht_margin``
and, for explanations, ``game_id``, ``date``, ``home_team``, ``away_team``). Every model predicts
the *correction* to :func:`~scoreline.models.ingame.anchors.halftime_baseline` (the minute-18
differential plus 6/48 of the spread's margin) and adds it back, so with no signal it falls back
to the baseline rather than to a mean.

* :class:`DejavuModel` ("déjà vu": forecasting by similar past paths): the ``k`` training games
  nearest to the pattern (Euclidean over the 18 differentials and the weighted spread), weighted
  by ``1 / (distance + eps)``; the forecast is the baseline plus the weighted median of their
  corrections (a median: the score is MAE). Its explanation names the closest matched games.
* :class:`PatternGBDT`: LightGBM (L1 loss) on the pattern, the lines and the pattern's recent
  slopes; its explanation gives the inputs that moved the forecast most (SHAP values).
* :class:`PatternEnsemble`: the weighted mean of its members' forecasts (equal weights unless
  given).

Every model is a :class:`PatternModel`: ``fit`` holds out the latest ``calibration_games`` training
games, fits on the rest, fills a :class:`RollingConformal` with the held-out absolute residuals,
then refits on every game; ``predict`` returns a :class:`HalftimeForecast` with split-conformal
80 % / 95 % intervals. :meth:`PatternModel.recalibrate` adds the residuals of games played since
(the rolling window: older residuals drop out).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.neighbors import NearestNeighbors

from scoreline.features.ingame import pattern_columns
from scoreline.models.conformal import RollingConformal, interval_columns
from scoreline.models.ingame.anchors import halftime_baseline

__all__ = ["DejavuModel", "HalftimeForecast", "PatternEnsemble", "PatternGBDT", "PatternModel"]

MINUTES = 18
IDENTITY = ("game_id", "date", "home_team", "away_team")


@dataclass(frozen=True)
class HalftimeForecast:
    """Half-time home-minus-away differential forecasts, one entry per input row (points).

    ``intervals``: ``lower_80``, ``upper_80``, ``lower_95``, ``upper_95`` (split-conformal; the
    probability that the actual differential lies inside is the level, under exchangeability of
    recent and coming games). ``explanations``: one dict per row (what drove the forecast).
    """

    forecast: np.ndarray
    intervals: pd.DataFrame
    levels: tuple[float, ...]
    baseline: np.ndarray
    explanations: list[dict[str, Any]] = field(default_factory=list)


def _check(table: pd.DataFrame, need_target: bool) -> None:
    missing = [c for c in (*pattern_columns(MINUTES), "spread_home") if c not in table]
    if need_target and "ht_margin" not in table:
        missing.append("ht_margin")
    if missing:
        raise ValueError(f"pattern rows lack column(s) {', '.join(missing)}")


class PatternModel(BaseEstimator):
    """A half-time differential model with split-conformal intervals (see the module docstring).

    Subclasses implement ``_fit_point(table, correction)`` and ``_predict_point(table)``
    (corrections to the baseline) and may add explanations in ``_explain``.
    """

    levels: tuple[float, ...]
    calibration_games: int
    conformal_window: int

    def _fit_point(self, table: pd.DataFrame, correction: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_point(self, table: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def _explain(self, table: pd.DataFrame, forecast: np.ndarray) -> list[dict[str, Any]]:
        return [{} for _ in range(len(table))]

    def fit(self, table: pd.DataFrame) -> Self:
        _check(table, need_target=True)
        if "date" not in table:
            raise ValueError("pattern rows lack column date (the calibration games are the latest)")
        data = table.loc[table["spread_home"].notna() & table["ht_margin"].notna()]
        data = data.sort_values([c for c in ("date", "game_id") if c in data]).reset_index(drop=True)
        if len(data) <= self.calibration_games + 200:
            raise ValueError(
                f"need more than {self.calibration_games + 200} games with a spread, got {len(data)}"
            )
        self.total_fill_ = float(data["total_line"].median()) if "total_line" in data else 220.0
        correction = data["ht_margin"].to_numpy(dtype=float) - halftime_baseline(data)
        split = len(data) - self.calibration_games
        self._fit_point(data.iloc[:split], correction[:split])
        held_out = data.iloc[split:]
        residual = correction[split:] - self._predict_point(held_out)
        self.conformal_ = RollingConformal(self.levels, window=self.conformal_window, min_residuals=30)
        self.conformal_.update(residual, 0.0)
        self._fit_point(data, correction)
        return self

    def _filled(self, table: pd.DataFrame) -> pd.DataFrame:
        total = table["total_line"] if "total_line" in table else pd.Series(np.nan, index=table.index)
        return table.assign(total_line=total.astype(float).fillna(self.total_fill_))

    def predict(self, table: pd.DataFrame, explain: bool = True) -> HalftimeForecast:
        """Forecasts for pattern rows; ``explain=False`` skips the explanations (faster)."""
        _check(table, need_target=False)
        table = self._filled(table)
        baseline = halftime_baseline(table)
        forecast = baseline + self._predict_point(table)
        intervals = self.conformal_.intervals(forecast).set_axis(table.index)
        explanations = self._explain(table, forecast) if explain else []
        return HalftimeForecast(forecast, intervals, tuple(self.levels), baseline, explanations)

    def recalibrate(self, actual: np.ndarray, forecast: np.ndarray) -> Self:
        """Add the residuals of games whose half-time is now known (rolling window)."""
        self.conformal_.update(np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float))
        return self

    def calibrator(self) -> RollingConformal:
        """A copy of the interval calibrator (to roll forward without touching the model)."""
        return copy.deepcopy(self.conformal_)


class DejavuModel(PatternModel):
    """Distance-weighted nearest historical patterns.

    ``k``: matched games; ``spread_weight``: points of pattern distance per point of spread
    difference; ``eps``: added to distances before inverting them into weights; ``explain``:
    matched games named in an explanation.

    State: ``neighbours_`` (a fitted NearestNeighbors), ``correction_`` (the training games'
    corrections), ``games_`` (their identity, half-time differential and minute-18 differential).
    """

    def __init__(
        self,
        k: int = 500,
        spread_weight: float = 1.0,
        eps: float = 1.0,
        explain: int = 5,
        levels: tuple[float, ...] = (0.8, 0.95),
        calibration_games: int = 1000,
        conformal_window: int = 1000,
    ):
        self.k = k
        self.spread_weight = spread_weight
        self.eps = eps
        self.explain = explain
        self.levels = levels
        self.calibration_games = calibration_games
        self.conformal_window = conformal_window

    def _points(self, table: pd.DataFrame) -> np.ndarray:
        pattern = table[pattern_columns(MINUTES)].to_numpy(dtype=float)
        return np.column_stack([pattern, self.spread_weight * table["spread_home"].to_numpy(dtype=float)])

    def _fit_point(self, table: pd.DataFrame, correction: np.ndarray) -> None:
        self.neighbours_ = NearestNeighbors(n_neighbors=min(self.k, len(table))).fit(self._points(table))
        self.correction_ = np.asarray(correction, dtype=float)
        identity = [c for c in IDENTITY if c in table]
        self.games_ = table[[*identity, "diff_18", "ht_margin"]].reset_index(drop=True)

    def _match(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        distance, index = self.neighbours_.kneighbors(self._points(table))
        return distance, index

    def _predict_point(self, table: pd.DataFrame) -> np.ndarray:
        distance, index = self._match(table)
        return _weighted_median(self.correction_[index], 1.0 / (distance + self.eps))

    def _explain(self, table: pd.DataFrame, forecast: np.ndarray) -> list[dict[str, Any]]:
        distance, index = self._match(table)
        weight = 1.0 / (distance + self.eps)
        share = weight / weight.sum(axis=1, keepdims=True)
        out = []
        for row in range(len(table)):
            matched = []
            for j in range(min(self.explain, index.shape[1])):
                game = self.games_.iloc[index[row, j]]
                matched.append(
                    {
                        **{c: _plain(game[c]) for c in IDENTITY if c in game},
                        "distance": round(float(distance[row, j]), 2),
                        "weight": round(float(share[row, j]), 4),
                        "diff_18": float(game["diff_18"]),
                        "ht_margin": float(game["ht_margin"]),
                    }
                )
            out.append({"model": "dejavu", "matched_games": matched, "k": int(index.shape[1])})
        return out


def _plain(value: Any) -> Any:
    """JSON-friendly scalars (dates as ISO text)."""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return value.item() if hasattr(value, "item") else value


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise weighted median of ``values`` (n, k)."""
    order = np.argsort(values, axis=1)
    values = np.take_along_axis(values, order, axis=1)
    weights = np.take_along_axis(weights, order, axis=1)
    cumulative = np.cumsum(weights, axis=1) / weights.sum(axis=1, keepdims=True)
    pick = (cumulative < 0.5).sum(axis=1)
    return values[np.arange(len(values)), np.minimum(pick, values.shape[1] - 1)]


def pattern_features(table: pd.DataFrame) -> pd.DataFrame:
    """The GBDT's inputs: the pattern, the lines, the spread's drift to half-time and the
    pattern's slopes over its last 3 and 6 minutes."""
    pattern = table[pattern_columns(MINUTES)].astype(float)
    return pattern.assign(
        spread_home=table["spread_home"].astype(float),
        total_line=table["total_line"].astype(float),
        drift=-table["spread_home"].astype(float) * 6 / 48,
        slope_3=pattern["diff_18"] - pattern["diff_15"],
        slope_6=pattern["diff_18"] - pattern["diff_12"],
    )


class PatternGBDT(PatternModel):
    """LightGBM on :func:`pattern_features` (L1 loss), predicting the baseline's correction.

    State: ``booster_`` (a fitted LGBMRegressor), ``feature_names_``.
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.02,
        num_leaves: int = 7,
        min_child_samples: int = 200,
        objective: str = "l1",
        levels: tuple[float, ...] = (0.8, 0.95),
        calibration_games: int = 1000,
        conformal_window: int = 1000,
        random_state: int = 0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.objective = objective
        self.levels = levels
        self.calibration_games = calibration_games
        self.conformal_window = conformal_window
        self.random_state = random_state

    def _fit_point(self, table: pd.DataFrame, correction: np.ndarray) -> None:
        from lightgbm import LGBMRegressor

        x = pattern_features(self._filled(table))
        self.feature_names_ = list(x.columns)
        self.booster_ = LGBMRegressor(
            objective=self.objective,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        ).fit(x, correction)

    def _predict_point(self, table: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster_.predict(pattern_features(self._filled(table))), dtype=float)

    def _explain(self, table: pd.DataFrame, forecast: np.ndarray) -> list[dict[str, Any]]:
        contributions = self.booster_.predict(pattern_features(self._filled(table)), pred_contrib=True)
        out = []
        for row in contributions:
            top = np.argsort(-np.abs(row[:-1]))[:3]
            out.append(
                {
                    "model": "gbdt",
                    "top_inputs": {self.feature_names_[j]: round(float(row[j]), 3) for j in top},
                }
            )
        return out


class PatternEnsemble(PatternModel):
    """The weighted mean of ``members``' forecasts (default: a :class:`DejavuModel` and a
    :class:`PatternGBDT`; ``weights``: one per member, default equal).

    State: ``members_`` (fitted clones of ``members``).
    """

    def __init__(
        self,
        members: tuple[PatternModel, ...] | None = None,
        weights: tuple[float, ...] | None = None,
        levels: tuple[float, ...] = (0.8, 0.95),
        calibration_games: int = 1000,
        conformal_window: int = 1000,
    ):
        self.members = members
        self.weights = weights
        self.levels = levels
        self.calibration_games = calibration_games
        self.conformal_window = conformal_window

    def _members(self) -> tuple[PatternModel, ...]:
        return self.members if self.members is not None else (DejavuModel(), PatternGBDT())

    def _weights(self) -> np.ndarray:
        n = len(self._members())
        weights = np.ones(n) if self.weights is None else np.asarray(self.weights, float)
        if len(weights) != n or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError("weights: one non-negative weight per member, not all zero")
        return weights / weights.sum()

    def _fit_point(self, table: pd.DataFrame, correction: np.ndarray) -> None:
        self.members_ = [clone(member) for member in self._members()]
        for member in self.members_:
            member.total_fill_ = self.total_fill_
            member._fit_point(table, correction)

    def _predict_point(self, table: pd.DataFrame) -> np.ndarray:
        parts = np.column_stack([member._predict_point(table) for member in self.members_])
        return parts @ self._weights()

    def _explain(self, table: pd.DataFrame, forecast: np.ndarray) -> list[dict[str, Any]]:
        baseline = halftime_baseline(table)
        per_member = [
            (type(member).__name__, baseline + member._predict_point(table), member._explain(table, forecast))
            for member in self.members_
        ]
        out = []
        for row in range(len(table)):
            out.append(
                {
                    "model": "ensemble",
                    "baseline": round(float(baseline[row]), 3),
                    "members": [
                        {"name": name, "forecast": round(float(point[row]), 3), **explanation[row]}
                        for name, point, explanation in per_member
                    ],
                }
            )
        return out


def interval_frame(forecast: HalftimeForecast) -> pd.DataFrame:
    """``forecast``, ``lower_80``, ``upper_80``, ... as one frame (for tables and storage)."""
    columns = [c for level in forecast.levels for c in interval_columns(level)]
    return forecast.intervals[columns].assign(forecast=forecast.forecast)[["forecast", *columns]]
