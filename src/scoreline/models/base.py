"""The one contract every Scoreline model follows.

A model is a scikit-learn estimator over the canonical match table
(:mod:`scoreline.data.schema`): ``fit`` takes played matches (any order) and uses only those
rows; ``predict_proba`` takes fixtures (``home_team``, ``away_team``, optionally ``neutral``) and
returns an ``(n, len(outcomes))`` array whose rows sum to 1, columns in ``outcomes`` order.
Because models inherit :class:`sklearn.base.BaseEstimator`, ``get_params``/``set_params`` and
:func:`clone` work on them, so backtests, stacking and tuning are written once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from scoreline.models.scores import ScoreGrid

__all__ = [
    "OUTCOMES_2WAY",
    "OUTCOMES_3WAY",
    "GoalModel",
    "MatchModel",
    "clone",
    "neutral_venue",
    "outcome_index",
    "played_scores",
]

OUTCOMES_3WAY = ("home", "draw", "away")
OUTCOMES_2WAY = ("home", "away")


class MatchModel(BaseEstimator, ABC):
    """A forecaster of match outcomes.

    ``outcomes`` names the columns of :meth:`predict_proba`: ``("home", "draw", "away")`` for
    three-way football, ``("home", "away")`` for sports without draws.
    """

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcome order of :meth:`predict_proba`'s columns (a class attribute or a
        property of the parameters in subclasses)."""
        raise NotImplementedError

    @abstractmethod
    def fit(self, matches: pd.DataFrame) -> Self:
        """Learn from played ``matches`` (canonical match table, any row order); return ``self``."""

    @abstractmethod
    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        """Outcome probabilities, shape ``(len(fixtures), len(outcomes))``, rows summing to 1."""


class GoalModel(MatchModel):
    """A model of the joint score distribution; outcome probabilities follow from it."""

    outcomes = OUTCOMES_3WAY

    @abstractmethod
    def predict_scores(self, fixtures: pd.DataFrame) -> ScoreGrid:
        """Score-probability grids, one per fixture row, in row order."""

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        """``(n, 3)`` probabilities of (home win, draw, away win)."""
        return self.predict_scores(fixtures).home_draw_away()


def neutral_venue(frame: pd.DataFrame) -> np.ndarray:
    """Boolean array, True where the match is at a neutral venue (missing column or NA = False)."""
    if "neutral" not in frame:
        return np.zeros(len(frame), dtype=bool)
    return frame["neutral"].astype("boolean").fillna(False).to_numpy(dtype=bool)


def outcome_index(matches: pd.DataFrame, two_way: bool) -> np.ndarray:
    """Observed outcome as a column index: three-way 0 home win / 1 draw / 2 away win; two-way
    0 home win / 1 away win. -1 where there is nothing to score: a two-way tie, no score yet."""
    home = matches["home_score"].to_numpy(dtype=float)
    away = matches["away_score"].to_numpy(dtype=float)
    if two_way:
        label = np.where(home > away, 0, np.where(home < away, 1, -1))
    else:
        label = np.where(home > away, 0, np.where(home == away, 1, 2))
    return np.where(np.isnan(home) | np.isnan(away), -1, label)


def played_scores(matches: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(home_score, away_score)`` as int arrays; raises if any row is unplayed (null score)."""
    home, away = matches["home_score"], matches["away_score"]
    missing = home.isna() | away.isna()
    if missing.any():
        raise ValueError(f"fit needs played matches: {int(missing.sum())} row(s) have no score")
    return home.to_numpy(dtype=np.int64), away.to_numpy(dtype=np.int64)
