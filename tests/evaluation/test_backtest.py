"""The walk-forward engine: windows, refits and the no-future rule, on a simulated league."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from scoreline.evaluation.backtest import WalkForward, cut_offs, walk_forward
from scoreline.evaluation.cache import PredictionCache
from scoreline.evaluation.report import score
from scoreline.models.base import OUTCOMES_3WAY, MatchModel
from scoreline.models.baselines import BaseRates
from scoreline.models.blend import Blend


def simulated_matches(n_days: int = 900, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    teams = [f"T{i}" for i in range(10)]
    rows = []
    for day in range(0, n_days, 3):
        home, away = rng.choice(teams, 2, replace=False)
        date = pd.Timestamp("2015-07-01") + pd.Timedelta(days=day)
        rows.append(
            {
                "date": date,
                "season": date.year - (date.month < 7),
                "home_team": home,
                "away_team": away,
                "home_score": rng.poisson(1.5),
                "away_score": rng.poisson(1.1),
            }
        )
    frame = pd.DataFrame(rows)
    frame["match_id"] = [f"m{i}" for i in range(len(frame))]
    frame["competition"] = "E0"
    return frame


class Spy(MatchModel):
    """Records the last training date of every fit; predicts uniform probabilities."""

    outcomes = OUTCOMES_3WAY
    fits: ClassVar[list[tuple[pd.Timestamp, pd.Timestamp]]] = []

    def fit(self, matches):
        self.last_seen_ = matches["date"].max()
        return self

    def predict_proba(self, fixtures):
        Spy.fits.append((self.last_seen_, fixtures["date"].min()))
        return np.full((len(fixtures), 3), 1 / 3)


def test_models_only_ever_see_matches_before_the_window():
    Spy.fits = []
    result = walk_forward(
        simulated_matches(), {"spy": Spy()}, WalkForward(from_season=2016, warmup_days=200), OUTCOMES_3WAY
    )
    assert Spy.fits and all(seen < first for seen, first in Spy.fits)
    assert result.predictions["season"].min() == 2016
    assert result.predictions["match_id"].is_unique


def test_refit_every_and_train_days():
    matches = simulated_matches()
    weekly = walk_forward(matches, {"base": BaseRates()}, WalkForward(from_season=2016), OUTCOMES_3WAY)
    monthly = walk_forward(
        matches,
        {"base": BaseRates()},
        WalkForward(from_season=2016, window="month", refit_every=2),
        OUTCOMES_3WAY,
    )
    assert len(weekly.predictions) == len(monthly.predictions)
    assert weekly.n_refits > 3 * monthly.n_refits
    np.testing.assert_allclose(weekly.probabilities("base").sum(axis=1), 1.0)


def test_cut_offs_skip_empty_windows():
    dates = pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02", "2020-03-01"]))
    windows = cut_offs(dates, pd.Timestamp("2020-01-01"), "week")
    assert [s.date().isoformat() for s, _ in windows] == ["2020-01-01", "2020-02-26"]
    with pytest.raises(ValueError, match="window"):
        cut_offs(dates, pd.Timestamp("2020-01-01"), "fortnight")


def test_score_compares_on_common_matches_against_the_reference():
    result = walk_forward(
        simulated_matches(),
        {"base": BaseRates(), "uniform": Spy()},
        WalkForward(from_season=2016),
        OUTCOMES_3WAY,
    )
    result.predictions.loc[0, ["uniform_home", "uniform_draw", "uniform_away"]] = np.nan
    scores = score(result, reference="uniform", n_boot=200)
    n = len(result.predictions) - 1
    assert (scores.overall["n"] == n).all()
    # uniform forecasts: RPS of 1/3 each is ((1/3-o1)^2 + (2/3-o1-o2)^2) / 2, by hand
    outcome = result.predictions["outcome"].to_numpy()[1:]
    cum1 = np.where(outcome == 0, 1.0, 0.0)
    cum2 = np.where(outcome == 2, 0.0, 1.0)
    expected = (((1 / 3 - cum1) ** 2 + (2 / 3 - cum2) ** 2) / 2).mean()
    assert scores.overall.loc["uniform", "rps"] == pytest.approx(expected)
    row = scores.versus.loc["base"]
    assert row["rps_lower"] <= row["rps_diff"] <= row["rps_upper"]


def test_walk_forward_shows_progress_without_flooding_a_log(capsys, monkeypatch):
    """Not on a terminal (CI, a notebook): one line per interval and the final one, naming the
    competition, the models done and the windows they are fitted over."""
    monkeypatch.delenv("SCORELINE_PROGRESS_SECONDS", raising=False)
    result = walk_forward(
        simulated_matches(), {"base": BaseRates()}, WalkForward(from_season=2016), OUTCOMES_3WAY
    )
    lines = capsys.readouterr().err.strip().splitlines()
    windows = result.predictions["window"].nunique()
    assert len(lines) == 1, lines  # a fast backtest: only the final line
    assert lines[0].startswith("E0 backtest: 1/1 models (100%) | base done")

    monkeypatch.setenv("SCORELINE_PROGRESS_SECONDS", "1e-9")  # a line per update: detail names the model
    walk_forward(simulated_matches(), {"base": BaseRates()}, WalkForward(from_season=2016), OUTCOMES_3WAY)
    assert f"fitting base over {windows} windows" in capsys.readouterr().err


class CountingRates(BaseRates):
    """Base rates that count their fits by history length (a parameter: changing it changes the model)."""

    fits: ClassVar[list[int]] = []

    def fit(self, matches):
        CountingRates.fits.append(self.history_days)
        return super().fit(matches)


def test_a_rerun_refits_only_the_model_whose_parameters_changed(tmp_path):
    matches = simulated_matches()
    config = WalkForward(from_season=2016, window="month")
    cache = PredictionCache(tmp_path)

    def run(short_days: int):
        CountingRates.fits = []
        models = {"long": CountingRates(history_days=900), "short": CountingRates(history_days=short_days)}
        return walk_forward(matches, models, config, OUTCOMES_3WAY, cache=cache)

    first = run(200)
    refits = first.n_refits
    assert len(CountingRates.fits) == 2 * refits
    again = run(200)
    assert CountingRates.fits == []  # nothing changed: nothing refitted
    pd.testing.assert_frame_equal(first.predictions, again.predictions)
    changed = run(100)
    assert CountingRates.fits == [100] * refits  # only the changed model
    pd.testing.assert_frame_equal(changed.predictions[["long_home"]], first.predictions[["long_home"]])
    plain = {"long": BaseRates(history_days=900), "short": BaseRates(history_days=100)}
    uncached = walk_forward(matches, plain, config, OUTCOMES_3WAY)
    np.testing.assert_array_equal(changed.probabilities("short"), uncached.probabilities("short"))
    # other data are other entries
    CountingRates.fits = []
    fewer = matches.iloc[:-5]
    walk_forward(fewer, {"long": CountingRates(history_days=900)}, config, OUTCOMES_3WAY, cache=cache)
    assert CountingRates.fits


def test_slow_models_refit_at_every_kth_refit_and_never_see_the_future():
    Spy.fits = []
    config = WalkForward(from_season=2016, warmup_days=200, slow_refits=(("spy", 4),))
    CountingRates.fits = []
    result = walk_forward(
        simulated_matches(), {"spy": Spy(), "counted": CountingRates()}, config, OUTCOMES_3WAY
    )
    assert len(CountingRates.fits) == result.n_refits > 8  # the others: every refit
    fit_dates = sorted({seen for seen, _ in Spy.fits})
    assert len(fit_dates) == -(-result.n_refits // 4)  # ceil(refits / 4)
    assert all(seen < first for seen, first in Spy.fits)


def test_a_blend_of_walked_members_combines_their_walks_and_fits_nothing():
    matches = simulated_matches()
    config = WalkForward(from_season=2016, window="month")
    long, short = CountingRates(history_days=900), CountingRates(history_days=200)
    CountingRates.fits = []
    alone = walk_forward(matches, {"blend": Blend((long, short))}, config, OUTCOMES_3WAY)
    assert len(CountingRates.fits) == 2 * alone.n_refits  # no members walked: the blend fits them
    CountingRates.fits = []
    members = {"long": CountingRates(history_days=900), "short": CountingRates(history_days=200)}
    together = walk_forward(matches, {**members, "blend": Blend((long, short))}, config, OUTCOMES_3WAY)
    assert len(CountingRates.fits) == 2 * together.n_refits  # the members' fits only, once each
    np.testing.assert_array_equal(together.probabilities("blend"), alone.probabilities("blend"))
    # a member on another cadence is not the blend's member: the blend fits its own
    CountingRates.fits = []
    slower = WalkForward(from_season=2016, window="month", slow_refits=(("short", 3),))
    walk_forward(matches, {**members, "blend": Blend((long, short))}, slower, OUTCOMES_3WAY)
    assert len(CountingRates.fits) > 2 * together.n_refits
