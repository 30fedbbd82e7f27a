"""Points model for two-way sports: team offence and defence ratings, hence totals and margins.

Each match gives two observations (points scored by each side)::

    home_score = mu + home_edge * [not neutral] + off[home] + def[away] + noise
    away_score = mu                             + off[away] + def[home] + noise

fitted as one time-weighted ridge regression (weights halve every ``half_life_days`` before the
latest training match; ``mu`` is an unpenalised intercept). ``def[t]`` is the points a team
*concedes* above average, so a good defence has a negative rating. The predicted total is the
sum of the two expected scores, the predicted home margin their difference; their spreads are
the weighted residual standard deviations of total and margin on the training matches.

College football FCS opponents are pooled into one ``FCS`` team, as in
:class:`scoreline.models.margin.MarginModel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr, ndtri
from sklearn.linear_model import Ridge

from scoreline.models.base import neutral_venue, played_scores
from scoreline.models.margin import MarginDistribution, RidgeRatings, rated_sides, team_labels

__all__ = ["PointsForecast", "TotalModel"]


@dataclass(frozen=True)
class PointsForecast:
    """Expected points per side (one entry per fixture) and the spreads of total and margin."""

    home: np.ndarray
    away: np.ndarray
    total_sd: np.ndarray
    margin_sd: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.home + self.away

    @property
    def margin(self) -> np.ndarray:
        """Expected home margin (home minus away points)."""
        return self.home - self.away

    def margin_distribution(self) -> MarginDistribution:
        return MarginDistribution(self.margin, self.margin_sd)

    def over(self, total_line: np.ndarray) -> np.ndarray:
        """P(total > line) under Normal(total, total_sd)."""
        return ndtr((self.total - np.asarray(total_line, dtype=float)) / self.total_sd)

    def total_interval(self, coverage: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
        z = ndtri(0.5 + coverage / 2)
        return self.total - z * self.total_sd, self.total + z * self.total_sd


class TotalModel(RidgeRatings):
    """Time-decayed ridge offence/defence ratings; ``predict_proba`` = (home, away) win."""

    def fit(self, matches: pd.DataFrame) -> Self:
        home_pts, away_pts = played_scores(matches)
        home, away, self.teams_, weight = rated_sides(matches, self.pool_fcs, self.half_life_days)
        design = self._design(home, away, neutral_venue(matches))
        points = np.concatenate([home_pts, away_pts]).astype(float)
        self.ridge_ = Ridge(alpha=self.alpha).fit(design, points, sample_weight=np.tile(weight, 2))
        k = len(self.teams_)
        self.mu_ = float(self.ridge_.intercept_)
        self.offence_ = pd.Series(self.ridge_.coef_[:k], index=self.teams_)
        self.defence_ = pd.Series(self.ridge_.coef_[k : 2 * k], index=self.teams_)
        self.home_edge_ = float(self.ridge_.coef_[-1])
        fitted = self.ridge_.predict(design).reshape(2, -1)
        total_res = home_pts + away_pts - fitted.sum(axis=0)
        margin_res = home_pts - away_pts - (fitted[0] - fitted[1])
        self.total_sd_ = float(np.sqrt(np.average(total_res**2, weights=weight)))
        self.margin_sd_ = float(np.sqrt(np.average(margin_res**2, weights=weight)))
        return self

    def _design(self, home: pd.Series, away: pd.Series, neutral: np.ndarray) -> sparse.csr_matrix:
        """Rows ``0..n-1`` score the home side, rows ``n..2n-1`` the away side; columns are
        offence (k), defence (k), home edge. Unknown teams get no column (rated average)."""
        index = {t: i for i, t in enumerate(self.teams_)}
        n, k = len(home), len(self.teams_)
        h = home.map(index).to_numpy(dtype=float)
        a = away.map(index).to_numpy(dtype=float)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        for scorer, opponent, offset in ((h, a, 0), (a, h, n)):
            for team, shift in ((scorer, 0), (opponent, k)):
                known = ~np.isnan(team)
                rows.append(np.arange(n)[known] + offset)
                cols.append(team[known].astype(int) + shift)
        edge_rows = np.arange(n)[~neutral]
        rows.append(edge_rows)
        cols.append(np.full(len(edge_rows), 2 * k))
        row, col = np.concatenate(rows), np.concatenate(cols)
        return sparse.csr_matrix((np.ones(len(row)), (row, col)), shape=(2 * n, 2 * k + 1))

    def predict_points(self, fixtures: pd.DataFrame) -> PointsForecast:
        design = self._design(
            team_labels(fixtures, "home", self.pool_fcs),
            team_labels(fixtures, "away", self.pool_fcs),
            neutral_venue(fixtures),
        )
        home, away = self.ridge_.predict(design).reshape(2, -1)
        n = len(fixtures)
        return PointsForecast(home, away, np.full(n, self.total_sd_), np.full(n, self.margin_sd_))

    def predict_total(self, fixtures: pd.DataFrame) -> np.ndarray:
        """Expected total points per fixture."""
        return self.predict_points(fixtures).total

    def predict_margin(self, fixtures: pd.DataFrame) -> MarginDistribution:
        return self.predict_points(fixtures).margin_distribution()

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        p_home = self.predict_margin(fixtures).home_win()
        return np.column_stack([p_home, 1.0 - p_home])
