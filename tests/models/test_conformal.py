"""Rolling conformal intervals cover at the nominal rate, never peek at their own window, and the
points model recovers simulated offence and defence."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from scoreline.models.conformal import (
    RollingConformal,
    coverage_table,
    interval_columns,
    walk_forward_intervals,
)
from scoreline.models.totals import TotalModel


def simulated_predictions(seed: int = 3, weeks: int = 400, per_week: int = 20) -> pd.DataFrame:
    """Weekly forecasts with heavy-tailed (t, 4 df) errors whose scale drifts slowly."""
    rng = np.random.default_rng(seed)
    week = np.repeat(np.arange(weeks), per_week)
    start = pd.Timestamp("2010-01-04") + pd.to_timedelta(7 * week, unit="D")
    date = start + pd.to_timedelta(rng.integers(0, 7, len(week)), unit="D")
    yhat = rng.normal(0, 6, len(week))
    scale = 10 + 3 * np.sin(week / 60)
    y = yhat + scale * rng.standard_t(4, len(week))
    return pd.DataFrame({"date": date, "window_start": start, "y": y, "yhat": yhat})


def test_finite_sample_quantile():
    conformal = RollingConformal(alpha_levels=(0.8, 0.95), window=100, min_residuals=1)
    conformal.update(np.arange(1, 20, dtype=float), np.zeros(19))  # residuals 1..19
    assert conformal.radius(0.8) == 16.0  # ceil(20 * 0.8) = 16th smallest
    assert conformal.radius(0.95) == 19.0
    conformal = RollingConformal(window=100, min_residuals=1).update(np.arange(1, 10.0), 0.0)
    assert math.isinf(conformal.radius(0.95))  # ceil(10 * 0.95) = 10 > 9 residuals


def test_window_keeps_only_the_latest_residuals():
    conformal = RollingConformal(window=5, min_residuals=1)
    conformal.update(np.full(10, 100.0), 0.0).update(np.arange(1, 6.0), 0.0)
    assert conformal.n_residuals == 5 and max(conformal.residuals_) == 5.0


def test_coverage_near_nominal_on_simulated_forecasts():
    frame = simulated_predictions()
    frame = frame.join(walk_forward_intervals(frame, (0.8, 0.95), window=1000))
    table = coverage_table(frame, (0.8, 0.95))
    assert table.loc[0.8, "n"] > 7000
    assert abs(table.loc[0.8, "coverage"] - 0.80) < 0.02
    assert abs(table.loc[0.95, "coverage"] - 0.95) < 0.015
    assert table.loc[0.95, "mean_width"] > table.loc[0.8, "mean_width"] > 0


def test_intervals_only_use_residuals_of_earlier_windows():
    frame = simulated_predictions(weeks=30, per_week=5).sample(frac=1.0, random_state=0)
    window_of_y = dict(zip(frame["y"], frame["window_start"]))
    window_of_yhat = dict(zip(frame["yhat"], frame["window_start"]))
    calls: list[tuple[pd.Timestamp, set[pd.Timestamp]]] = []

    class Spy(RollingConformal):
        """Records, at every interval request, which windows the stored residuals came from."""

        stored: ClassVar[set] = set()

        def intervals(self, yhat):
            (window,) = {window_of_yhat[v] for v in yhat}  # one window per request
            calls.append((window, set(self.stored)))
            return super().intervals(yhat)

        def update(self, y, yhat):
            self.stored = self.stored | {window_of_y[v] for v in y}
            return super().update(y, yhat)

    out = walk_forward_intervals(frame, conformal=Spy(window=1000, min_residuals=1))
    assert len(calls) == frame["window_start"].nunique()
    assert [w for w, _ in calls] == sorted(w for w, _ in calls)
    for window, used in calls:
        assert all(w < window for w in used)
    assert out.index.equals(frame.index)
    first = frame["window_start"] == frame["window_start"].min()
    assert np.isinf(out.loc[first, "upper_80"]).all()  # nothing played before the first window


def test_same_window_residuals_do_not_move_intervals():
    frame = simulated_predictions(weeks=20, per_week=10)
    base = walk_forward_intervals(frame, window=1000, min_residuals=1)
    last = frame["window_start"] == frame["window_start"].max()
    changed = frame.copy()
    changed.loc[last, "y"] += 1e6  # outcomes of the final window cannot affect its intervals
    pd.testing.assert_frame_equal(base, walk_forward_intervals(changed, window=1000, min_residuals=1))


def test_rejects_windows_overlapping_in_time():
    frame = simulated_predictions(weeks=3, per_week=2)
    frame.loc[0, "date"] = frame["window_start"].max() + pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="next window"):
        walk_forward_intervals(frame)


def test_interval_column_names():
    assert interval_columns(0.8) == ("lower_80", "upper_80")
    assert interval_columns(0.975) == ("lower_97_5", "upper_97_5")


def simulated_points(seed: int = 7, n_games: int = 4000):
    rng = np.random.default_rng(seed)
    teams = [f"T{i}" for i in range(20)]
    offence = pd.Series(rng.normal(0, 4, 20), index=teams)
    defence = pd.Series(rng.normal(0, 3, 20), index=teams)
    offence -= offence.mean()
    defence -= defence.mean()
    home = rng.choice(teams, n_games)
    away = np.array([rng.choice([t for t in teams if t != h]) for h in home])
    neutral = rng.random(n_games) < 0.1
    home_pts = 105 + 2.5 * ~neutral + offence[home].to_numpy() + defence[away].to_numpy()
    away_pts = 105 + offence[away].to_numpy() + defence[home].to_numpy()
    frame = pd.DataFrame(
        {
            "date": pd.Timestamp("2022-01-01"),
            "home_team": home,
            "away_team": away,
            "neutral": neutral,
            "home_score": np.round(home_pts + rng.normal(0, 10, n_games)).astype(int),
            "away_score": np.round(away_pts + rng.normal(0, 10, n_games)).astype(int),
        }
    )
    return frame, offence, defence, home_pts + away_pts


def test_total_model_recovers_offence_and_defence():
    matches, offence, defence, true_total = simulated_points()
    model = TotalModel(alpha=0.1).fit(matches)
    for fitted, truth in ((model.offence_, offence), (model.defence_, defence)):
        error = np.abs(fitted.reindex(truth.index) - truth)
        assert error.mean() < 0.6 and error.max() < 1.6  # standard error about 0.35 points
    assert abs(model.home_edge_ - 2.5) < 0.7
    assert abs(model.mu_ - 105) < 0.7
    assert abs(model.total_sd_ - 10 * np.sqrt(2)) < 0.8
    forecast = model.predict_points(matches)
    assert np.abs(forecast.total - true_total).mean() < 1.5
    np.testing.assert_allclose(model.predict_total(matches), forecast.total)
    proba = model.predict_proba(matches.head(3))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    unseen = pd.DataFrame({"home_team": ["Nobody"], "away_team": ["T0"], "neutral": [True]})
    assert model.predict_points(unseen).home[0] == pytest.approx(
        model.mu_ + model.defence_["T0"]
    )  # rated average
