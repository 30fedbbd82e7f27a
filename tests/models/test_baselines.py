"""Base rates, the market benchmarks, the rating link models and the blend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scoreline.models.baselines import BaseRates, MarketModel, SpreadMarket
from scoreline.models.blend import Blend
from scoreline.models.ratings import RatingModel


def rated_league(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    """Matches whose H/D/A follow an ordered logit in a known rating gap (slope 1.2)."""
    rng = np.random.default_rng(seed)
    gap = rng.normal(0, 1, n)
    p_away = expit(-0.8 - 1.2 * gap)
    p_not_home = expit(0.3 - 1.2 * gap)
    u = rng.random(n)
    outcome = np.where(u < p_away, 2, np.where(u < p_not_home, 1, 0))
    home = np.where(outcome == 0, 2, np.where(outcome == 1, 1, 0))
    away = np.where(outcome == 2, 2, np.where(outcome == 1, 1, 0))
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n) // 10, "D"),
            "gap": gap,
            "home_score": home,
            "away_score": away,
            "home_team": "H",
            "away_team": "A",
        }
    )


def test_base_rates_are_recent_frequencies():
    matches = rated_league()
    model = BaseRates(history_days=10_000).fit(matches)
    counts = np.array(
        [
            (matches.home_score > matches.away_score).sum(),
            (matches.home_score == matches.away_score).sum(),
            (matches.home_score < matches.away_score).sum(),
        ]
    )
    np.testing.assert_allclose(model.predict_proba(matches.head(2))[0], (counts + 1) / (counts.sum() + 3))


def test_rating_model_recovers_the_ordered_logit():
    matches = rated_league()
    model = RatingModel("gap", transform=None, history_days=10_000).fit(matches)
    assert model.slope_ == pytest.approx(1.2, abs=0.1)
    np.testing.assert_allclose(model.thresholds_, [-0.8, 0.3], atol=0.1)
    proba = model.predict_proba(pd.DataFrame({"gap": [-2.0, 0.0, 2.0]}))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[2, 0] > proba[1, 0] > proba[0, 0]  # home chances grow with the gap


def test_two_way_rating_model_and_blend_average():
    matches = rated_league()
    matches = matches[matches.home_score != matches.away_score]
    elo = RatingModel("gap", transform=None, two_way=True, history_days=10_000)
    base = BaseRates(two_way=True, history_days=10_000)
    blend = Blend((elo, base)).fit(matches)
    fixtures = pd.DataFrame({"gap": [-1.0, 1.0]})
    expected = (elo.fit(matches).predict_proba(fixtures) + base.fit(matches).predict_proba(fixtures)) / 2
    np.testing.assert_allclose(blend.predict_proba(fixtures), expected)
    assert blend.outcomes == ("home", "away")


def test_market_model_devigs_prices_and_leaves_missing_rows_nan():
    fixtures = pd.DataFrame(
        {"odds_b365_home": [2.0, np.nan], "odds_b365_draw": [3.5, 3.0], "odds_b365_away": [4.0, 3.0]}
    )
    proba = MarketModel("b365").fit(fixtures).predict_proba(fixtures)
    inverse = np.array([1 / 2.0, 1 / 3.5, 1 / 4.0])
    np.testing.assert_allclose(proba[0], inverse / inverse.sum())
    assert np.isnan(proba[1]).all()


def test_market_model_falls_back_per_row_to_the_next_source_of_the_same_timing():
    fixtures = pd.DataFrame(
        {
            "odds_pinnacle_home": [2.0, np.nan, np.nan],
            "odds_pinnacle_draw": [3.5, np.nan, np.nan],
            "odds_pinnacle_away": [4.0, np.nan, np.nan],
            "odds_avg_home": [1.5, 2.5, np.nan],
            "odds_avg_draw": [4.0, 3.2, np.nan],
            "odds_avg_away": [6.0, 2.9, np.nan],
        }
    )
    sharp = MarketModel("pinnacle", fallback=("avg",)).fit(fixtures).predict_proba(fixtures)
    alone = MarketModel("pinnacle").fit(fixtures).predict_proba(fixtures)
    average = MarketModel("avg").fit(fixtures).predict_proba(fixtures)
    np.testing.assert_allclose(sharp[0], alone[0])  # Pinnacle wherever it is priced
    np.testing.assert_allclose(sharp[1], average[1])
    assert np.isnan(sharp[2]).all()
    with pytest.raises(ValueError, match="pre-closing"):
        MarketModel("pinnacle", fallback=("avg_close",)).fit(fixtures)


def test_spread_market_estimates_sd_from_training_matches_only():
    rng = np.random.default_rng(0)
    spread = rng.normal(-3, 5, 2000)
    margin = -spread + rng.normal(0, 13, 2000)
    train = pd.DataFrame(
        {
            "date": pd.Timestamp("2020-01-01"),
            "spread_home": spread,
            "home_score": 100 + np.round(margin),
            "away_score": 100,
        }
    )
    model = SpreadMarket().fit(train)
    assert model.sd_ == pytest.approx(13, abs=0.6)
    p = model.predict_proba(pd.DataFrame({"spread_home": [-7.0, 0.0]}))
    assert p[0, 0] > 0.65 and p[1, 0] == pytest.approx(0.5)
