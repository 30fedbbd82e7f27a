"""Outcome probabilities from one rating feature (Elo, pi-ratings) by an ordinal/binary logit.

A rating system orders teams but does not say how a rating gap maps to H/D/A; the map is
learned on the training matches' pre-match ratings (point-in-time features) with statsmodels'
ordered logit for football and a logistic regression for two-way sports.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from statsmodels.miscmodels.ordinal_model import OrderedModel

from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel


class RatingModel(MatchModel):
    """P(outcome) from the rating feature ``feature`` of each match row.

    ``transform="logit"`` turns an expected-score feature (Elo's ``elo_home_expected``) into a
    log-odds scale first. Only training matches from the last ``history_days`` are used to fit
    the link, so the ratings' burn-in period does not distort it.
    """

    def __init__(
        self,
        feature: str = "elo_home_expected",
        transform: str | None = "logit",
        two_way: bool = False,
        history_days: int = 4 * 365,
    ):
        self.feature = feature
        self.transform = transform
        self.two_way = two_way
        self.history_days = history_days

    @property
    def outcomes(self) -> tuple[str, ...]:
        return OUTCOMES_2WAY if self.two_way else OUTCOMES_3WAY

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[self.feature].to_numpy(dtype=float)
        if self.transform == "logit":
            x = logit(np.clip(x, 1e-6, 1 - 1e-6))
        return x

    def fit(self, matches: pd.DataFrame) -> Self:
        recent = matches.loc[matches["date"] >= matches["date"].max() - pd.Timedelta(days=self.history_days)]
        x = self._x(recent)
        home = recent["home_score"].to_numpy(dtype=float)
        away = recent["away_score"].to_numpy(dtype=float)
        keep = np.isfinite(x) & np.isfinite(home) & np.isfinite(away)
        if self.two_way:
            keep &= home != away
            y = (home[keep] > away[keep]).astype(int)
            self.link_ = LogisticRegression(C=1e6).fit(x[keep, None], y)
        else:
            # ordinal code: away win 0 < draw 1 < home win 2, increasing in the home rating edge
            y = np.where(home > away, 2, np.where(home == away, 1, 0))[keep]
            result = OrderedModel(y, x[keep, None], distr="logit").fit(method="bfgs", disp=False)
            self.slope_ = float(result.params[0])
            cut1 = float(result.params[1])
            self.thresholds_ = np.array([cut1, cut1 + float(np.exp(result.params[2]))])
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        x = self._x(fixtures)
        if self.two_way:
            p_home = self.link_.predict_proba(np.nan_to_num(x)[:, None])[:, 1]
            p_home = np.where(np.isfinite(x), p_home, np.nan)
            return np.column_stack([p_home, 1.0 - p_home])
        eta = self.slope_ * x
        p_away = expit(self.thresholds_[0] - eta)
        p_not_home = expit(self.thresholds_[1] - eta)
        return np.column_stack([1.0 - p_not_home, p_not_home - p_away, p_away])
