"""Gradient-boosted trees: feature selection by prefix, out-of-sample skill, early stopping on
the most recent training rows only, two-way sports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scoreline.evaluation import metrics
from scoreline.models.base import outcome_index
from scoreline.models.baselines import BaseRates, MarketModel
from scoreline.models.gbdt import GradientBoostingModel, feature_columns

LIBRARIES = ("lightgbm", "xgboost")


def featured_league(n: int = 2400, seed: int = 7, signal: float = 1.5) -> pd.DataFrame:
    """Matches whose H/D/A follow an ordered logit in ``elo_gap`` (plus noise feature columns).

    ``mkt_*`` and ``*_close_*`` columns copy the outcome itself: a model that reads one when it
    should not scores impossibly well, so exclusion tests can see it.
    """
    rng = np.random.default_rng(seed)
    gap = rng.normal(0, 1, n)
    p_away = expit(-0.8 - signal * gap)
    p_not_home = expit(0.3 - signal * gap)
    u = rng.random(n)
    outcome = np.where(u < p_away, 2, np.where(u < p_not_home, 1, 0))
    frame = pd.DataFrame(
        {
            "match_id": np.arange(n),
            "date": pd.Timestamp("2015-08-01") + pd.to_timedelta(np.arange(n) // 8, "D"),
            "home_team": "H",
            "away_team": "A",
            "home_score": np.where(outcome == 0, 2, np.where(outcome == 1, 1, 0)),
            "away_score": np.where(outcome == 2, 2, np.where(outcome == 1, 1, 0)),
            "elo_gap": gap,
            "form_home_points_5": rng.normal(size=n),
            "rest_home": rng.integers(3, 8, n).astype(float),
            "h2h_n": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 10, n)),  # NaN is fine
            "mkt_b365_multiplicative_home": (outcome == 0).astype(float),
            "mkt_pinnacle_close_multiplicative_home": (outcome == 0).astype(float),
            "odds_pinnacle_close_home": np.where(outcome == 0, 1.01, 50.0),
            "home_shots": outcome.astype(float),  # a match-day statistic: never a feature
        }
    )
    return frame


def rps(model, test: pd.DataFrame) -> float:
    outcomes = model.outcomes
    y = outcome_index(test, two_way=outcomes == ("home", "away"))
    probs = model.predict_proba(test)
    keep = y >= 0
    return float(metrics.rps(probs[keep], y[keep]).mean())


def test_feature_columns_by_prefix_never_closing():
    frame = featured_league(50)
    results = feature_columns(frame, "results")
    market = feature_columns(frame, "market")
    assert results == ["elo_gap", "form_home_points_5", "rest_home", "h2h_n"]
    assert market == [*results, "mkt_b365_multiplicative_home"]
    assert not any("close" in c for c in market)
    with pytest.raises(ValueError, match="features"):
        feature_columns(frame, "everything")


@pytest.mark.parametrize("library", LIBRARIES)
def test_results_model_ignores_market_and_closing_columns(library):
    matches = featured_league()
    train, test = matches.iloc[:1800], matches.iloc[1800:]
    model = GradientBoostingModel(library, features="results").fit(train)
    assert model.feature_names_ == ["elo_gap", "form_home_points_5", "rest_home", "h2h_n"]
    # the outcome-copying columns would give an RPS near 0; the honest model cannot
    assert rps(model, test) > 0.1
    market = GradientBoostingModel(library, features="market").fit(train)
    assert "mkt_pinnacle_close_multiplicative_home" not in market.feature_names_
    # blanking every closing column changes nothing: they are never read
    blanked = test.assign(
        mkt_pinnacle_close_multiplicative_home=np.nan, odds_pinnacle_close_home=np.nan, home_shots=np.nan
    )
    np.testing.assert_array_equal(market.predict_proba(test), market.predict_proba(blanked))


@pytest.mark.parametrize("library", LIBRARIES)
def test_beats_base_rates_out_of_sample(library):
    matches = featured_league()
    train, test = matches.iloc[:1800], matches.iloc[1800:]
    model = GradientBoostingModel(library).fit(train)
    probs = model.predict_proba(test)
    assert probs.shape == (len(test), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    base = BaseRates(history_days=10_000).fit(train)
    assert rps(model, test) < rps(base, test) - 0.02
    # the learned map is monotone in the signal: a larger rating gap means more home wins
    fixtures = test.iloc[:3].assign(elo_gap=[-2.0, 0.0, 2.0])
    p_home = model.predict_proba(fixtures)[:, 0]
    assert p_home[0] < p_home[1] < p_home[2]


@pytest.mark.parametrize("library", LIBRARIES)
def test_early_stopping_stops_early_on_noise(library):
    matches = featured_league(signal=0.0)
    model = GradientBoostingModel(library, n_estimators=400, learning_rate=0.1).fit(matches)
    assert 1 <= model.best_iteration_ < 400


@pytest.mark.parametrize("library", LIBRARIES)
def test_early_stopping_holds_out_the_most_recent_rows(library, monkeypatch):
    matches = featured_league(1000)
    matches["elo_day"] = (matches["date"] - matches["date"].min()).dt.days.astype(float)
    shuffled = matches.sample(frac=1.0, random_state=1)  # fit must not rely on row order
    calls = []
    original = GradientBoostingModel._train

    def spy(self, x, y, margin, rounds, valid):
        calls.append((x, valid))
        return original(self, x, y, margin, rounds, valid)

    monkeypatch.setattr(GradientBoostingModel, "_train", spy)
    model = GradientBoostingModel(library, validation_fraction=0.2).fit(shuffled)
    day = model.feature_names_.index("elo_day")
    (fit_x, valid), (refit_x, no_valid) = calls
    assert valid is not None and no_valid is None
    assert len(valid[0]) == 200 and len(fit_x) == 800 and len(refit_x) == 1000
    # every held-out row is at least as recent as every early-stopping training row
    assert valid[0][:, day].min() >= fit_x[:, day].max()
    assert valid[0][:, day].max() == matches["elo_day"].max()
    # the final booster has exactly the early-stopping round count
    if library == "lightgbm":
        assert model.booster_.current_iteration() == model.best_iteration_
    else:
        assert model.booster_.num_boosted_rounds() == model.best_iteration_


@pytest.mark.parametrize("library", LIBRARIES)
def test_two_way_drops_ties_and_beats_base_rates(library):
    matches = featured_league()
    train, test = matches.iloc[:1800], matches.iloc[1800:]
    model = GradientBoostingModel(library, two_way=True).fit(train)
    assert model.outcomes == ("home", "away")
    assert model.n_train_ == int((train.home_score != train.away_score).sum())
    probs = model.predict_proba(test)
    assert probs.shape == (len(test), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    base = BaseRates(two_way=True, history_days=10_000).fit(train)
    assert rps(model, test) < rps(base, test) - 0.02


def test_params_override_library_defaults_and_missing_columns_are_nan():
    matches = featured_league(600)
    model = GradientBoostingModel("lightgbm", params={"num_leaves": 3}).fit(matches)
    assert model.booster_.params["num_leaves"] == 3
    probs = model.predict_proba(matches[["home_team", "away_team", "elo_gap"]].head(5))
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="library"):
        GradientBoostingModel("catboost").fit(matches)


def priced_league(n: int = 3000, seed: int = 3, blind_spot: float = 0.0) -> pd.DataFrame:
    """:func:`featured_league` with Pinnacle pre-closing prices (5 % margin) from a market that
    knows ``elo_gap`` and misses ``blind_spot`` times ``form_home_points_5``, which the
    outcomes do follow. Pinnacle is unpriced on the first 400 rows, where the average is."""
    rng = np.random.default_rng(seed)
    frame = featured_league(n, seed=seed)
    form = rng.normal(size=n)
    market = 1.5 * np.clip(frame["elo_gap"].to_numpy(), -1.8, 1.8)  # every price above 1
    truth = market + blind_spot * form
    u = rng.random(n)
    outcome = np.where(u < expit(-0.8 - truth), 2, np.where(u < expit(0.3 - truth), 1, 0))
    frame["home_score"] = np.where(outcome == 0, 2, np.where(outcome == 1, 1, 0))
    frame["away_score"] = np.where(outcome == 2, 2, np.where(outcome == 1, 1, 0))
    frame["form_home_points_5"] = form
    p_away, p_not_home = expit(-0.8 - market), expit(0.3 - market)
    fair = np.column_stack([1 - p_not_home, p_not_home - p_away, p_away])
    for j, outcome_name in enumerate(("home", "draw", "away")):
        frame[f"odds_pinnacle_{outcome_name}"] = 1.0 / (1.05 * fair[:, j])
        frame[f"odds_avg_{outcome_name}"] = 1.0 / (1.07 * fair[:, j])
        # a closing price that knows the result: reading it would score impossibly well
        frame[f"odds_pinnacle_close_{outcome_name}"] = np.where(outcome == j, 1.01, 50.0)
    frame.loc[:399, [f"odds_pinnacle_{o}" for o in ("home", "draw", "away")]] = np.nan
    return frame.drop(columns=["mkt_b365_multiplicative_home", "mkt_pinnacle_close_multiplicative_home"])


def market_rps(test: pd.DataFrame) -> float:
    return rps(MarketModel("pinnacle", fallback=("avg",)).fit(test), test)


@pytest.mark.parametrize("library", LIBRARIES)
def test_market_offset_model_is_the_market_when_features_add_nothing(library):
    matches = priced_league()
    train, test = matches.iloc[:2400], matches.iloc[2400:]
    model = GradientBoostingModel(library, features="market", offset=("pinnacle", "avg")).fit(train)
    # the trees cannot clearly beat a market that already knows everything: none are kept
    assert model.best_iteration_ == 0 and model.booster_ is None
    market = MarketModel("pinnacle", fallback=("avg",)).fit(test).predict_proba(test)
    np.testing.assert_allclose(model.predict_proba(test), market, atol=1e-9)
    # a fixture without any price starts from the training outcome shares
    unpriced = test.head(2).drop(columns=[c for c in test if c.startswith("odds_")])
    np.testing.assert_allclose(model.predict_proba(unpriced).sum(axis=1), 1.0)


@pytest.mark.parametrize("library", LIBRARIES)
def test_market_offset_model_learns_what_the_market_misses(library):
    matches = priced_league(blind_spot=1.0)
    train, test = matches.iloc[:2400], matches.iloc[2400:]
    model = GradientBoostingModel(library, features="market", offset=("pinnacle", "avg")).fit(train)
    assert model.best_iteration_ > 0 and model.offset_gain_ > 0
    assert rps(model, test) < market_rps(test) - 0.005
    # closing prices (which here know the result) are never read, as features or as offset
    blanked = test.assign(**{f"odds_pinnacle_close_{o}": np.nan for o in ("home", "draw", "away")})
    np.testing.assert_array_equal(model.predict_proba(test), model.predict_proba(blanked))


def test_offset_refuses_closing_prices_and_two_way_models():
    matches = priced_league(600)
    with pytest.raises(ValueError, match="closing"):
        GradientBoostingModel("lightgbm", offset=("pinnacle_close",)).fit(matches)
    with pytest.raises(ValueError, match="two_way"):
        GradientBoostingModel("lightgbm", two_way=True, offset=("pinnacle",)).fit(matches)
