"""The anchors the in-game models must beat, on the same game states.

* :class:`SternModel` (Stern 1994, JASA, "A Brownian motion model for the progress of sports
  scores"): the home margin is a Brownian motion that drifts at the pre-game spread's rate,
  ``mu = -spread_home`` points per game, with variance ``sigma^2`` per game, so at a share ``s``
  of the game left the final margin is Normal(margin + mu s, sigma^2 s). ``sigma_`` is fitted on
  the training games' final margins against their spreads.
* :class:`SpreadShareModel`: "current margin + the remaining share of the spread" as the margin
  forecast (Stern's mean), with the spread of its errors measured per game minute on the training
  states (no Brownian assumption), for win probabilities and intervals.
* :func:`halftime_baseline`: the same rule for the half-time differential from minute 18: the
  margin at minute 18 plus 6/48 of the spread's margin.

Both models take game states (:func:`scoreline.features.ingame.states` columns, plus
``final_margin`` to fit) and answer ``predict_proba`` (columns home win, away win) and
``predict_margin`` (:class:`MarginForecast`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from sklearn.base import BaseEstimator

from scoreline.features.ingame import REGULATION_S
from scoreline.models.base import OUTCOMES_2WAY
from scoreline.models.conformal import interval_columns

__all__ = [
    "MarginForecast",
    "SpreadShareModel",
    "SternModel",
    "game_minute",
    "halftime_baseline",
    "stern_mean",
]

#: a floor on the share of the game left, so the variance never reaches 0 (overtime, the horn)
MIN_SHARE = 0.5 / REGULATION_S
#: bucket of every overtime state (regulation minutes are 1..48)
OVERTIME_BUCKET = 49


def game_minute(elapsed_s: np.ndarray | pd.Series) -> np.ndarray:
    """The game minute a state lies in: 1 for (0, 60] s (and the tip at 0 s) ... 48 for the last
    regulation minute, :data:`OVERTIME_BUCKET` for any overtime second."""
    t = np.asarray(elapsed_s, dtype=float)
    return np.where(t > REGULATION_S, OVERTIME_BUCKET, np.clip(np.ceil(t / 60.0), 1, 48)).astype(int)


def stern_mean(states: pd.DataFrame) -> np.ndarray:
    """Current margin plus the spread's drift over the time left (``expected_remaining``)."""
    return states["margin"].to_numpy(dtype=float) + states["expected_remaining"].to_numpy(dtype=float)


@dataclass(frozen=True)
class MarginForecast:
    """Final home margin forecasts (points), one per state: ``mean``, ``sd`` (a normal model's;
    NaN for a model with conformal intervals only) and ``intervals`` (``lower_80``, ``upper_80``,
    ``lower_95``, ``upper_95`` ...)."""

    mean: np.ndarray
    sd: np.ndarray
    intervals: pd.DataFrame


def _normal_intervals(mean: np.ndarray, sd: np.ndarray, levels: tuple[float, ...]) -> pd.DataFrame:
    out = {}
    for level in levels:
        lower, upper = interval_columns(level)
        z = float(ndtri(0.5 + level / 2))
        out[lower], out[upper] = mean - z * sd, mean + z * sd
    return pd.DataFrame(out)


class _NormalAroundStern(BaseEstimator):
    """An anchor whose final margin is normal around :func:`stern_mean` with the spread of its
    ``_sd``: the two anchors differ only in that spread."""

    outcomes = OUTCOMES_2WAY

    def __init__(self, levels: tuple[float, ...] = (0.8, 0.95)):
        self.levels = levels

    def _sd(self, states: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict_margin(self, states: pd.DataFrame) -> MarginForecast:
        mean, sd = stern_mean(states), self._sd(states)
        return MarginForecast(mean, sd, _normal_intervals(mean, sd, self.levels).set_axis(states.index))

    def predict_proba(self, states: pd.DataFrame) -> np.ndarray:
        p = ndtr(stern_mean(states) / self._sd(states))
        return np.column_stack([p, 1.0 - p])


class SternModel(_NormalAroundStern):
    """Stern's Brownian motion model. ``levels``: interval coverage levels.

    State: ``sigma_`` (points per game).
    """

    def fit(self, games: pd.DataFrame) -> Self:
        """``games``: one row per training game with ``spread_home`` and ``final_margin``."""
        residual = games["final_margin"].to_numpy(dtype=float) + games["spread_home"].to_numpy(dtype=float)
        residual = residual[np.isfinite(residual)]
        if len(residual) < 30:
            raise ValueError(f"Stern's sigma needs at least 30 games with a spread, got {len(residual)}")
        self.sigma_ = float(np.sqrt(np.mean(residual**2)))
        return self

    def _sd(self, states: pd.DataFrame) -> np.ndarray:
        share = np.maximum(states["remaining_s"].to_numpy(dtype=float) / REGULATION_S, MIN_SHARE)
        return self.sigma_ * np.sqrt(share)


class SpreadShareModel(_NormalAroundStern):
    """Current margin + the remaining share of the spread, with the error spread per game minute.

    State: ``sd_`` (a Series: game minute -> sd of ``final_margin - stern_mean`` on the training
    states of that minute).
    """

    def fit(self, states: pd.DataFrame) -> Self:
        """``states``: training game states with ``final_margin``."""
        error = states["final_margin"].to_numpy(dtype=float) - stern_mean(states)
        minute = game_minute(states["elapsed_s"])
        self.sd_ = pd.Series(error).groupby(minute).std().clip(lower=0.5)
        return self

    def _sd(self, states: pd.DataFrame) -> np.ndarray:
        minute = game_minute(states["elapsed_s"])
        return self.sd_.reindex(minute).bfill().ffill().to_numpy(dtype=float)


def halftime_baseline(table: pd.DataFrame, minute: int = 18) -> np.ndarray:
    """Half-time differential from minute ``minute``: its differential plus the spread's drift
    over the minutes to half-time."""
    drift = -table["spread_home"].to_numpy(dtype=float) * (24 - minute) / 48.0
    return table[f"diff_{minute}"].to_numpy(dtype=float) + drift
