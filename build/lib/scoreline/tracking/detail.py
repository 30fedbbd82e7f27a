"""The detail a logged model carries beyond win probabilities: score grids for football (the
model itself when it is a goal model, else a Dixon-Coles on the same history), expected points
with conformal margin and total intervals for two-way sports."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.config import Settings, Sport
from scoreline.config import competition as competition_of
from scoreline.evaluation.backtest import cut_offs
from scoreline.models.base import GoalModel, MatchModel
from scoreline.models.conformal import RollingConformal
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.totals import TotalModel
from scoreline.models.tuned import tuned_params
from scoreline.tracking.pyfunc import PointsDetail, history_frame

__all__ = ["CONFORMAL_GAMES", "fit_detail", "fit_points_detail"]

#: TotalModel half-life (days) of the points detail: NBA scoring drifts within a season
#: (benchmarks/intervals.py chose 60 days on the 2017-18..2019-20 seasons); 365 elsewhere
POINTS_HALF_LIFE = {"NBA": 60.0}


#: most recent games whose out-of-sample residuals calibrate the margin and total intervals
CONFORMAL_GAMES = 1000


def fit_points_detail(history: pd.DataFrame, code: str) -> PointsDetail:
    """The points detail of a two-way competition: a :class:`TotalModel` fitted on ``history``
    and conformal calibrators holding the residuals of the latest :data:`CONFORMAL_GAMES` games.

    The residuals are out of sample, walking forward: every week of those games is predicted by
    a TotalModel fitted on the games before it (within the training span), as in
    ``benchmarks/intervals.py``. Training span: 8 years, or 12 half-lives where that is shorter
    (older games weigh under 1/4000).
    """
    data = history_frame(history)
    if data.empty:
        raise ValueError(f"no played {code} matches to fit the points model on")
    half_life = POINTS_HALF_LIFE.get(code, 365.0)
    span = pd.Timedelta(days=min(8 * 365, 12 * half_life))
    dates = data["date"]
    margin = RollingConformal(window=CONFORMAL_GAMES)
    total = RollingConformal(window=CONFORMAL_GAMES)
    start = max(dates.iloc[max(len(data) - CONFORMAL_GAMES, 0)], dates.iloc[0] + pd.Timedelta(days=35))
    for cut, end in cut_offs(dates.loc[dates >= start], start, "week"):
        train = data.loc[(dates < cut) & (dates >= cut - span)]
        test = data.loc[(dates >= cut) & (dates < end)]
        points = TotalModel(half_life_days=half_life).fit(train).predict_points(test)
        home, away = (test[c].to_numpy(np.float64) for c in ("home_score", "away_score"))
        margin.update(home - away, points.margin)
        total.update(home + away, points.total)
    final = TotalModel(half_life_days=half_life).fit(data.loc[dates >= dates.iloc[-1] - span])
    return PointsDetail(final, margin, total)


def fit_detail(
    model: MatchModel, code: str, history: pd.DataFrame, settings: Settings
) -> GoalModel | PointsDetail:
    """The detail model logged beside ``model`` (see :class:`MatchModelPyfunc`): for football
    ``model`` itself if it is a goal model, else a Dixon-Coles fitted on ``history`` with any
    tuned parameters (``scoreline tune``); for two-way sports :func:`fit_points_detail`."""
    if competition_of(code).sport is not Sport.FOOTBALL:
        return fit_points_detail(history, code)
    if isinstance(model, GoalModel):
        return model
    goals = DixonColes().set_params(**tuned_params(settings, code, "dixon_coles"))
    return goals.fit(history_frame(history))
