"""Point-margin model for two-way sports (NFL, NBA, college football).

Each match's home margin is modelled as ``home_edge * [not neutral] + s[home] - s[away] +
noise``, a time-weighted ridge regression over team strengths (a Massey rating with decay),
fitted with scikit-learn on a sparse design. The margin's predictive distribution is
Normal(mean, sd) with ``sd`` the weighted residual spread, so the win probability, a cover
probability and margin intervals all follow from one object.

College football: FCS opponents play one or two FBS games a year, far too few to rate each.
They are pooled into one ``FCS`` team (explicit ``home_fcs`` / ``away_fcs`` flags), which
learns the typical FBS-vs-FCS gap instead of 120 noisy ratings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr, ndtri
from sklearn.linear_model import Ridge

from scoreline.models.base import OUTCOMES_2WAY, MatchModel, neutral_venue
from scoreline.models.dixon_coles import match_weights

FCS_TEAM = "FCS"


@dataclass(frozen=True)
class MarginDistribution:
    """Predicted home margin ~ Normal(mean, sd), one entry per fixture (points)."""

    mean: np.ndarray
    sd: np.ndarray

    def home_win(self) -> np.ndarray:
        return ndtr(self.mean / self.sd)

    def home_covers(self, spread_home: np.ndarray) -> np.ndarray:
        """P(home margin + spread_home > 0): the home side beats the line."""
        return ndtr((self.mean + np.asarray(spread_home, dtype=float)) / self.sd)

    def interval(self, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        z = ndtri(0.5 + coverage / 2)
        return self.mean - z * self.sd, self.mean + z * self.sd


def team_labels(frame: pd.DataFrame, side: str, pool_fcs: bool) -> pd.Series:
    """Team names with FCS sides replaced by the pooled ``FCS`` team when ``pool_fcs``."""
    team = frame[f"{side}_team"].astype(str)
    flag = f"{side}_fcs"
    if pool_fcs and flag in frame:
        team = team.where(~frame[flag].astype("boolean").fillna(False).to_numpy(bool), FCS_TEAM)
    return team


def rated_sides(
    matches: pd.DataFrame, pool_fcs: bool, half_life_days: float
) -> tuple[pd.Series, pd.Series, np.ndarray, np.ndarray]:
    """Home and away labels, the sorted teams to rate, and the time-decay weight of each match
    (halved every ``half_life_days`` before the latest match): what the ridge ratings share."""
    home = team_labels(matches, "home", pool_fcs)
    away = team_labels(matches, "away", pool_fcs)
    weight = match_weights(matches["date"], np.log(2.0) / half_life_days)
    return home, away, np.array(sorted(set(home) | set(away))), weight


class RidgeRatings(MatchModel):
    """Hyper-parameters shared by the time-decayed ridge rating models of two-way sports:
    ``half_life_days`` of the match weights, the ridge ``alpha`` and whether FCS opponents
    are pooled into one team."""

    outcomes = OUTCOMES_2WAY

    def __init__(self, half_life_days: float = 365.0, alpha: float = 1.0, pool_fcs: bool = True):
        self.half_life_days = half_life_days
        self.alpha = alpha
        self.pool_fcs = pool_fcs


class MarginModel(RidgeRatings):
    """Time-decayed ridge ratings of the home margin; ``predict_proba`` = (home, away) win."""

    def fit(self, matches: pd.DataFrame) -> Self:
        home, away, self.teams_, weight = rated_sides(matches, self.pool_fcs, self.half_life_days)
        margin = (matches["home_score"] - matches["away_score"]).to_numpy(dtype=float)
        design = self._design(home, away, neutral_venue(matches))
        self.ridge_ = Ridge(alpha=self.alpha, fit_intercept=False).fit(design, margin, sample_weight=weight)
        residual = margin - self.ridge_.predict(design)
        self.sd_ = float(np.sqrt(np.average(residual**2, weights=weight)))
        self.home_edge_ = float(self.ridge_.coef_[-1])
        self.strength_ = pd.Series(self.ridge_.coef_[:-1], index=self.teams_)
        return self

    def _design(self, home: pd.Series, away: pd.Series, neutral: np.ndarray) -> sparse.csr_matrix:
        index = {t: i for i, t in enumerate(self.teams_)}
        n, k = len(home), len(self.teams_)
        rows = np.arange(n)
        h = home.map(index).to_numpy()
        a = away.map(index).to_numpy()
        known_h, known_a = ~pd.isna(h), ~pd.isna(a)  # unknown teams are average (strength 0)
        data = np.concatenate([np.ones(known_h.sum()), -np.ones(known_a.sum()), (~neutral).astype(float)])
        cols = np.concatenate([h[known_h].astype(int), a[known_a].astype(int), np.full(n, k)])
        idx = np.concatenate([rows[known_h], rows[known_a], rows])
        return sparse.csr_matrix((data, (idx, cols)), shape=(n, k + 1))

    def predict_margin(self, fixtures: pd.DataFrame) -> MarginDistribution:
        design = self._design(
            team_labels(fixtures, "home", self.pool_fcs),
            team_labels(fixtures, "away", self.pool_fcs),
            neutral_venue(fixtures),
        )
        mean = self.ridge_.predict(design)
        return MarginDistribution(mean, np.full(len(mean), self.sd_))

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        p_home = self.predict_margin(fixtures).home_win()
        return np.column_stack([p_home, 1.0 - p_home])
