from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from leagues import double_round_robin
from scoreline.models.base import clone
from scoreline.models.bayes import STORED_DRAWS, BayesianGoalModel, ConvergenceError

INTERCEPT, HOME = 0.1, 0.25


def simulate_league(seed: int, n_teams: int = 10, n_seasons: int = 4, drift: float = 0.0):
    """Weekly double round-robins drawn from a known Poisson model; ``drift`` is the sd of each
    team's per-season random-walk step (0 = the static model). Truth is the last season's."""
    rng = np.random.default_rng(seed)
    attack, defence = rng.normal(0, 0.3, (2, n_teams))
    rows, lam, mu = [], [], []
    for s in range(n_seasons):
        if s:
            attack, defence = attack + rng.normal(0, drift, n_teams), defence + rng.normal(0, drift, n_teams)
        attack, defence = attack - attack.mean(), defence - defence.mean()
        for r, rnd in enumerate(double_round_robin(n_teams)):
            for h, a in rnd:
                rows.append((pd.Timestamp(2010 + s, 8, 7) + pd.Timedelta(weeks=r), 2010 + s, h, a))
                lam.append(np.exp(INTERCEPT + HOME + attack[h] + defence[a]))
                mu.append(np.exp(INTERCEPT + attack[a] + defence[h]))
    date, season, h, a = (np.array(c) for c in zip(*rows))
    names = np.array([f"Team {i:02d}" for i in range(n_teams)])
    matches = pd.DataFrame(
        {
            "date": pd.to_datetime(date),
            "season": pd.array(season, dtype="Int64"),
            "competition": pd.array(["SIM"] * len(rows), dtype="string"),
            "home_team": pd.array(names[h], dtype="string"),
            "away_team": pd.array(names[a], dtype="string"),
            "neutral": pd.array([False] * len(rows), dtype="boolean"),
            "home_score": pd.array(rng.poisson(lam), dtype="Int64"),
            "away_score": pd.array(rng.poisson(mu), dtype="Int64"),
        }
    )
    truth = pd.DataFrame({"attack": attack, "defence": defence}, index=names)
    return matches, truth


@pytest.fixture(scope="module")
def league():
    return simulate_league(seed=1)  # 360 matches, 10 teams, 4 seasons


@pytest.fixture(scope="module")
def nuts(league):
    # 2 x 1,000 draws: at 2 x 500 the bulk ESS of sigma_attack sits just under the default 400
    return BayesianGoalModel(method="nuts", tune=500, draws=1000, chains=2).fit(league[0])


@pytest.fixture(scope="module")
def advi(league):
    return BayesianGoalModel(method="advi").fit(league[0])


def fixtures_of(matches: pd.DataFrame, n: int = 90) -> pd.DataFrame:
    return matches[["home_team", "away_team", "neutral"]].head(n)


def test_nuts_posterior_covers_the_truth(league, nuts):
    _, truth = league
    covered = 0
    for name in ("attack", "defence"):
        draws = pd.DataFrame(nuts.posterior_[name], columns=nuts.teams_)[truth.index]
        lower, upper = draws.quantile(0.05), draws.quantile(0.95)
        covered += int(((lower <= truth[name]) & (truth[name] <= upper)).sum())
    # 90% intervals: 18 of 20 expected; >= 16 holds for most seeds (binomial sd ~1.3)
    assert covered >= 16
    lower, upper = np.quantile(nuts.posterior_["home_advantage"], [0.05, 0.95])
    assert lower <= HOME <= upper
    lower, upper = np.quantile(nuts.posterior_["intercept"], [0.05, 0.95])
    assert lower <= INTERCEPT <= upper
    d = nuts.diagnostics_
    assert d["rhat_max"] <= 1.01 and d["ess_bulk_min"] >= 400 and d["divergences"] == 0
    assert nuts.posterior_["attack"].shape == (STORED_DRAWS, 10)
    np.testing.assert_allclose(nuts.attack_.sum(), 0.0, atol=1e-9)  # centred in every draw
    assert nuts.fit_seconds_ > 0 and nuts.n_matches_ == len(league[0])


def test_advi_is_close_to_nuts(league, nuts, advi):
    fixtures = fixtures_of(league[0])
    assert np.abs(advi.predict_proba(fixtures) - nuts.predict_proba(fixtures)).max() < 0.03
    assert abs(advi.home_advantage_ - nuts.home_advantage_) < 0.03
    d = advi.diagnostics_
    assert d["loss_relative_change"] < advi.advi_tol and len(d["loss_trend"]) == 20
    assert d["loss_trend"][-1] < d["loss_trend"][0]  # the ELBO rose


def test_short_nuts_run_is_refused(league):
    model = BayesianGoalModel(method="nuts", tune=5, draws=20)
    with pytest.raises(ConvergenceError, match="NUTS did not converge") as error:
        model.fit(league[0])
    assert error.value.diagnostics["ess_bulk_min"] < 400
    assert not hasattr(model, "posterior_")  # no half-fitted state


def test_short_advi_run_is_refused(league):
    with pytest.raises(ConvergenceError, match="ADVI did not converge"):
        BayesianGoalModel(advi_iterations=100).fit(league[0])


def test_predict_intervals_bracket_the_mean(league, nuts):
    fixtures = fixtures_of(league[0])
    out = nuts.predict_intervals(fixtures, level=0.9)
    for name, width in (("proba", 3), ("goals", 2)):
        mean, lower, upper = (out[f"{name}_{k}"] for k in ("mean", "lower", "upper"))
        assert mean.shape == lower.shape == upper.shape == (len(fixtures), width)
        assert (lower <= mean).all() and (mean <= upper).all() and (lower < upper).all()
    np.testing.assert_allclose(out["proba_mean"].sum(axis=1), 1.0)
    # per-draw grids are renormalised one by one, the mean grid once: equal up to the ~1e-5
    # of mass beyond 10 goals
    np.testing.assert_allclose(out["proba_mean"], nuts.predict_proba(fixtures), atol=1e-4)
    # goals are the Poisson rates, the grid's expectation stops at 10 goals
    np.testing.assert_allclose(out["goals_mean"], nuts.predict_scores(fixtures).expected_goals(), rtol=2e-3)
    narrow = nuts.predict_intervals(fixtures, level=0.5)
    assert (narrow["proba_upper"] - narrow["proba_lower"] < out["proba_upper"] - out["proba_lower"]).all()


def test_predict_proba_rows_sum_to_one_and_neutral_drops_home(nuts):
    a, b = nuts.teams_[:2]
    fixtures = pd.DataFrame(
        {
            "home_team": [a, b, a],
            "away_team": [b, a, b],
            "neutral": pd.array([True, True, pd.NA], dtype="boolean"),
        }
    )
    proba = nuts.predict_proba(fixtures)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[0], proba[1][::-1])  # neutral: A v B mirrors B v A
    assert proba[2, 0] > proba[0, 0]


def test_unknown_team_is_drawn_from_the_population(nuts):
    known = nuts.teams_[np.argsort(np.abs(nuts.attack_) + np.abs(nuts.defence_))[0]]  # ~average
    fixtures = pd.DataFrame(
        {"home_team": ["Promoted FC", known], "away_team": [nuts.teams_[0], nuts.teams_[0]]}
    )
    first = nuts.predict_intervals(fixtures)
    again = nuts.predict_intervals(fixtures.iloc[::-1])  # same team, same draws, any call
    np.testing.assert_array_equal(first["proba_mean"], again["proba_mean"][::-1])
    width = first["goals_upper"] - first["goals_lower"]
    assert width[0, 0] > 1.5 * width[1, 0]  # the newcomer's attack is far less certain


def test_warm_start_refit_after_a_week(league, advi):
    matches = league[0]
    last_week = matches["date"] == matches["date"].max()
    model = BayesianGoalModel(warm_start=True).fit(matches[~last_week])
    first_fit_start = model.diagnostics_["loss_trend"][0]
    model.fit(matches)
    assert model.n_matches_ == len(matches)
    # starting from the previous posterior, the first block of iterations is already near the
    # optimum, where a cold start (first fit, and the fixture) begins far above it
    assert model.diagnostics_["loss_trend"][0] < min(first_fit_start, advi.diagnostics_["loss_trend"][0]) - 20
    fixtures = fixtures_of(matches)
    assert np.abs(model.predict_proba(fixtures) - advi.predict_proba(fixtures)).max() < 0.03


def test_warm_start_maps_known_and_new_teams(advi):
    model = clone(advi).set_params(warm_start=True)
    model.__dict__.update({k: v for k, v in vars(advi).items() if k.endswith("_")})
    newcomers = pd.DataFrame(
        {
            "date": [pd.Timestamp("2014-06-01")],
            "home_team": ["Newcomers"],
            "away_team": [advi.teams_[3]],
            "home_score": [1],
            "away_score": [2],
        }
    )
    design = model._design(newcomers)
    start, spread = model._initial_values(design)
    assert list(design.teams) == ["Newcomers", advi.teams_[3]]
    np.testing.assert_allclose(
        start["attack_z"], np.clip([0.0, advi.attack_[3] / advi.posterior_["sigma_attack"].mean()], -4, 4)
    )
    assert start["home_advantage"] == pytest.approx(advi.home_advantage_)
    assert spread["attack_z"][0] == 1.0 and spread["attack_z"][1] < 1.0  # prior vs posterior
    assert spread["sigma_attack_log__"] == pytest.approx(np.log(advi.posterior_["sigma_attack"]).std())


def test_time_varying_tracks_seasons_and_widens_ahead():
    matches, truth = simulate_league(seed=3, n_seasons=4, drift=0.15)
    model = BayesianGoalModel(time_varying=True).fit(matches)
    assert list(model.seasons_) == [2010, 2011, 2012, 2013]
    assert model.attack_by_season_.shape == (4, 10)
    np.testing.assert_allclose(model.attack_, model.attack_by_season_[-1])
    assert np.corrcoef(model.attack_, truth["attack"].reindex(model.teams_))[0, 1] > 0.8
    fixtures = pd.DataFrame(
        {
            "home_team": model.teams_[:2],
            "away_team": model.teams_[2:4],
            "season": pd.array([2013, 2015], dtype="Int64"),
        }
    )
    now = model.predict_intervals(fixtures.assign(season=2013))
    ahead = model.predict_intervals(fixtures)
    widths = [(out["goals_upper"] - out["goals_lower"])[1] for out in (now, ahead)]
    assert (widths[1] > widths[0]).all()  # two random-walk steps of extra uncertainty


def test_time_varying_warm_refit_reuses_the_season_by_team_posterior():
    # regression: start_sigma of the (season, team) block was passed 2-D; PyMC wants it flat
    matches, _ = simulate_league(seed=4, n_seasons=3, drift=0.1)
    last_week = matches["date"] == matches["date"].max()
    model = BayesianGoalModel(time_varying=True, warm_start=True).fit(matches[~last_week])
    cold = BayesianGoalModel(time_varying=True).fit(matches)
    model.fit(matches)
    assert model.attack_by_season_.shape == cold.attack_by_season_.shape
    fixtures = fixtures_of(matches)
    assert np.abs(model.predict_proba(fixtures) - cold.predict_proba(fixtures)).max() < 0.03


def test_time_decay_enters_as_a_weighted_potential(league):
    matches = league[0]
    model = BayesianGoalModel(xi=0.002)
    design = model._design(matches)
    pymc_model = model._model(design)
    assert "weighted_log_likelihood" in pymc_model.named_vars
    assert design.weight.max() == 1.0 and design.weight.min() == pytest.approx(
        np.exp(-0.002 * (matches["date"].max() - matches["date"].min()).days)
    )
    point = pymc_model.initial_point()
    graph = pymc_model.replace_rvs_by_values(pymc_model.potentials)[0]
    potential = pymc_model.compile_fn(graph)(point)
    eta_home = point["intercept"] + point["home_advantage"]  # all team values start at 0
    eta_away = point["intercept"]
    expected = design.weight @ (
        design.x * eta_home - np.exp(eta_home) + design.y * eta_away - np.exp(eta_away)
    )
    assert float(potential) == pytest.approx(expected)


def test_pickles_small_and_clones_unfitted(nuts, league):
    blob = pickle.dumps(nuts)
    assert len(blob) < 200_000  # draws only, no InferenceData or compiled graph
    fixtures = fixtures_of(league[0], 5)
    np.testing.assert_array_equal(pickle.loads(blob).predict_proba(fixtures), nuts.predict_proba(fixtures))
    copy = clone(nuts)
    assert not hasattr(copy, "posterior_") and copy.get_params()["method"] == "nuts"


def test_rejects_bad_arguments(league):
    with pytest.raises(ValueError):
        BayesianGoalModel(method="gibbs").fit(league[0])
    with pytest.raises(ValueError, match="season"):
        BayesianGoalModel(time_varying=True).fit(league[0].drop(columns="season"))
