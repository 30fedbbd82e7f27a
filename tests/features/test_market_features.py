"""Market features: pre-closing prices only, closing prices only on request, sane probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.data import schema
from scoreline.features.builder import feature_table
from scoreline.features.market import DevigMethod
from scoreline.features.odds import (
    FEATURE_METHODS,
    american_market_features,
    market_features,
    market_probabilities,
    market_structure,
    spread_market_probabilities,
)

OUTCOMES = ("home", "draw", "away")


def priced_matches() -> pd.DataFrame:
    """Three football matches: full prices, a missing Pinnacle price, and one odd index."""
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08"]),
            "competition": "E0",
            "home_team": ["A", "C", "A"],
            "away_team": ["B", "D", "C"],
            "home_score": [1, 0, 2],
            "away_score": [0, 0, 2],
        },
        index=[30, 10, 20],
    )
    for source, (h, d, a) in {
        "b365": (2.0, 3.4, 4.0),
        "pinnacle": (2.05, 3.5, 4.1),
        "avg": (1.98, 3.3, 3.9),
        "max": (2.1, 3.6, 4.3),
    }.items():
        for outcome, price in zip(OUTCOMES, (h, d, a)):
            frame[f"odds_{source}_{outcome}"] = price
            if source != "max":
                frame[f"odds_{source}_close_{outcome}"] = price * 0.97
    frame.loc[10, [f"odds_pinnacle_{o}" for o in OUTCOMES]] = np.nan
    return schema.conform(frame)


def test_columns_and_alignment():
    matches = priced_matches()
    features = market_features(matches)
    assert features.index.equals(matches.index)
    for source in ("b365", "pinnacle", "avg"):
        assert f"mkt_{source}_overround" in features
        for method in FEATURE_METHODS:
            assert {f"mkt_{source}_{method.value}_{o}" for o in OUTCOMES} <= set(features.columns)
    assert not any("close" in c for c in features.columns)


def test_hand_computed_multiplicative_and_booksum():
    features = market_features(priced_matches(), sources=("b365",), methods=(DevigMethod.MULTIPLICATIVE,))
    inverse = np.array([1 / 2.0, 1 / 3.4, 1 / 4.0])
    np.testing.assert_allclose(features.iloc[0].to_numpy(), [*(inverse / inverse.sum()), inverse.sum()])


def test_probabilities_sum_to_one_and_missing_prices_give_nan():
    features = market_features(priced_matches())
    for source in ("b365", "pinnacle", "avg"):
        for method in FEATURE_METHODS:
            cols = [f"mkt_{source}_{method.value}_{o}" for o in OUTCOMES]
            block = features[cols]
            if source == "pinnacle":
                assert block.loc[10].isna().all()
                assert np.isnan(features.loc[10, "mkt_pinnacle_overround"])
                block = block.drop(index=10)
            np.testing.assert_allclose(block.sum(axis=1), 1.0, atol=1e-9)


def test_closing_prices_are_never_read_unless_asked():
    matches = priced_matches()
    garbage = matches.copy()
    close = [c for c in matches.columns if "_close_" in c]
    garbage[close] = np.random.default_rng(0).uniform(-5, 50, (len(matches), len(close)))
    pd.testing.assert_frame_equal(market_features(matches), market_features(garbage))
    garbage[close] = np.nan
    pd.testing.assert_frame_equal(market_features(matches), market_features(garbage))
    pd.testing.assert_frame_equal(feature_table(matches), feature_table(garbage))


def test_market_structure_hand_computed():
    features = market_structure(priced_matches())
    best, average = 1 / np.array([2.1, 3.6, 4.3]), 1 / np.array([1.98, 3.3, 3.9])
    row = features.loc[30]
    np.testing.assert_allclose(row[[f"mkt_best_{o}" for o in OUTCOMES]], best)
    assert row["mkt_best_booksum"] == pytest.approx(best.sum())
    np.testing.assert_allclose(row[[f"mkt_dispersion_{o}" for o in OUTCOMES]], average - best)
    sharp, soft = 1 / np.array([2.05, 3.5, 4.1]), 1 / np.array([2.0, 3.4, 4.0])
    np.testing.assert_allclose(
        row[[f"mkt_sharp_soft_{o}" for o in OUTCOMES]], sharp / sharp.sum() - soft / soft.sum()
    )
    assert row["mkt_overround_gap"] == pytest.approx(soft.sum() - sharp.sum())
    # no Pinnacle price on match 10: the sharp-soft columns are NaN, the rest are not
    assert features.loc[10, [f"mkt_sharp_soft_{o}" for o in OUTCOMES]].isna().all()
    assert np.isnan(features.loc[10, "mkt_overround_gap"])
    assert features.loc[10, [f"mkt_best_{o}" for o in OUTCOMES]].notna().all()


def test_market_structure_is_point_in_time_closing_prices_never_enter():
    matches = priced_matches()
    features = market_structure(matches)
    assert not any("close" in c for c in features.columns)
    garbage = matches.copy()
    close = [c for c in matches.columns if "_close_" in c]
    garbage[close] = np.random.default_rng(1).uniform(1.01, 50, (len(matches), len(close)))
    pd.testing.assert_frame_equal(features, market_structure(garbage))
    # with closing=True the feature table reads closing prices, and the structure block (built
    # from pre-closing prices only) is left out altogether
    closing_table = feature_table(matches, parts=("market",), closing=True)
    assert not set(features.columns) & set(closing_table.columns)


def test_market_structure_of_a_file_without_some_books_is_nan_not_an_error():
    matches = priced_matches().drop(columns=[f"odds_max_{o}" for o in OUTCOMES])
    features = market_structure(matches)
    assert features[[f"mkt_best_{o}" for o in OUTCOMES]].isna().all().all()
    assert features["mkt_sharp_soft_home"].notna().sum() == 2


def test_closing_true_reads_closing_prices_under_close_names():
    matches = priced_matches()
    closing = market_features(matches, sources=("pinnacle",), closing=True)
    assert all(c.startswith("mkt_pinnacle_close_") for c in closing.columns)
    inverse = 1 / (0.97 * np.array([2.05, 3.5, 4.1]))
    np.testing.assert_allclose(closing.loc[10, "mkt_pinnacle_close_overround"], inverse.sum())


@pytest.mark.parametrize("source", ["pinnacle_close", "b365_close"])
def test_a_closing_source_cannot_be_passed_as_a_feature_source(source):
    with pytest.raises(ValueError, match="closing=True"):
        market_features(priced_matches(), sources=(source,))


def test_unknown_source_is_a_clear_error():
    with pytest.raises(KeyError, match="'betfair'"):
        market_features(priced_matches(), sources=("betfair",))


def test_benchmark_probabilities_come_from_closing_prices():
    matches = priced_matches()
    benchmark = market_probabilities(matches)
    assert benchmark.shape == (3, 3)
    inverse = 1 / (0.97 * np.array([2.05, 3.5, 4.1]))  # Pinnacle's closing prices
    np.testing.assert_allclose(benchmark[0], inverse / inverse.sum())
    np.testing.assert_allclose(benchmark.sum(axis=1), 1.0)
    shin = market_probabilities(matches, "pinnacle_close", DevigMethod.SHIN)
    np.testing.assert_allclose(shin.sum(axis=1), 1.0)
    assert shin[0, 0] > benchmark[0, 0]  # Shin moves probability towards the favourite


def lines() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-01"] * 3),
            "competition": "NBA",
            "home_team": ["X", "Y", "Z"],
            "away_team": ["U", "V", "W"],
            "home_score": [100, 90, 95],
            "away_score": [90, 99, 97],
            "spread_home": [-10.0, 3.5, np.nan],
            "total_line": [220.0, 210.5, np.nan],
            "moneyline_home": [-500.0, 140.0, np.nan],
            "moneyline_away": [400.0, -160.0, np.nan],
        }
    )
    return schema.conform(frame)


def test_american_lines_need_closing_true():
    with pytest.raises(ValueError, match="closing lines"):
        american_market_features(lines(), 12.0)
    assert not any(c.startswith("mkt_") for c in feature_table(lines()).columns)


def test_american_market_features_hand_computed():
    features = american_market_features(lines(), 12.0, closing=True)
    from scipy.stats import norm

    assert features.loc[0, "mkt_spread_home_prob"] == pytest.approx(norm.cdf(10 / 12))
    assert features.loc[1, "mkt_spread_home_prob"] == pytest.approx(norm.cdf(-3.5 / 12))
    home, away = 1 / 1.2, 1 / 5.0  # -500 -> 1.2, +400 -> 5.0
    assert features.loc[0, "mkt_ml_home_prob"] == pytest.approx(home / (home + away))
    assert features.loc[0, "mkt_ml_overround"] == pytest.approx(home + away)
    assert features.loc[1, "mkt_total_line"] == 210.5 and features.loc[1, "mkt_spread_home"] == 3.5
    assert features.loc[2].isna().all()
    table = feature_table(lines(), closing=True)  # per-competition sd: NBA 12
    np.testing.assert_allclose(table["mkt_spread_home_prob"], features["mkt_spread_home_prob"])


def test_spread_market_probabilities():
    probs = spread_market_probabilities(lines(), 12.0)
    assert probs.shape == (3, 2) and probs[0, 0] > 0.75
    np.testing.assert_allclose(probs[:2].sum(axis=1), 1.0)
    assert np.isnan(probs[2]).all()


def test_feature_table_appends_aligned_extra_blocks_only():
    matches = priced_matches()
    extra = pd.DataFrame({"elo_home": [1.0, 2.0, 3.0]}, index=matches.index)
    table = feature_table(matches, extra=[extra])
    assert table.index.equals(matches.index) and table["elo_home"].tolist() == [1.0, 2.0, 3.0]
    assert {"form_home_points_5", "mkt_pinnacle_shin_home"} <= set(table.columns)
    with pytest.raises(ValueError, match="aligned"):
        feature_table(matches, extra=[extra.reset_index(drop=True)])
    with pytest.raises(ValueError, match="twice"):
        feature_table(matches, extra=[extra, extra])
    market_only = feature_table(matches, parts=("market",))
    expected = [*market_features(matches).columns, *market_structure(matches).columns]
    assert list(market_only.columns) == expected


@pytest.fixture(scope="module")
def e0_nba(real_data, tmp_path_factory):
    from scoreline.config import Settings
    from scoreline.data.ingest import ingest
    from scoreline.data.store import MatchStore

    settings = Settings(home=tmp_path_factory.mktemp("workspace"))
    ingest(settings, str(real_data), ["E0", "NBA"], pd.Timestamp("2026-11-23"))
    return MatchStore(settings.store_dir).results()


@pytest.mark.realdata
def test_real_data_nba_spread_probabilities_are_sane(e0_nba):
    nba = e0_nba[e0_nba["competition"] == "NBA"]
    probs = spread_market_probabilities(nba, 12.0)[:, 0]
    spread = nba["spread_home"].to_numpy(dtype=float)
    assert (probs[spread <= -10] > 0.75).all() and (probs[spread >= 10] < 0.25).all()
    # with sd 12 the spread is roughly calibrated: mean probability near the home win rate
    home_won = (nba["home_score"] > nba["away_score"]).to_numpy(dtype=float)
    assert abs(np.nanmean(probs) - home_won[~np.isnan(probs)].mean()) < 0.02
    # ... and the moneyline agrees with the spread
    features = american_market_features(nba, 12.0, closing=True)
    both = features[["mkt_spread_home_prob", "mkt_ml_home_prob"]].dropna()
    assert both.corr().iloc[0, 1] > 0.95
    assert features["mkt_ml_overround"].dropna().between(0.98, 1.15).all()


@pytest.mark.realdata
def test_real_data_feature_table_is_finite_where_inputs_exist(e0_nba):
    matches = e0_nba
    table = feature_table(matches)
    assert table.index.equals(matches.index)
    e0 = (matches["competition"] == "E0").to_numpy()
    for source in ("b365", "pinnacle", "avg"):
        priced = matches[[f"odds_{source}_{o}" for o in OUTCOMES]].notna().all(axis=1).to_numpy()
        assert priced[e0].mean() > 0.5 and not priced[~e0].any()
        block = table.loc[priced, [c for c in table.columns if c.startswith(f"mkt_{source}_")]]
        assert np.isfinite(block.to_numpy()).all()
        for method in FEATURE_METHODS:
            cols = [f"mkt_{source}_{method.value}_{o}" for o in OUTCOMES]
            np.testing.assert_allclose(block[cols].sum(axis=1), 1.0, atol=1e-9)
    # home advantage is priced in
    market = table.loc[e0, ["mkt_b365_multiplicative_home", "mkt_b365_multiplicative_away"]]
    assert market.iloc[:, 0].mean() > market.iloc[:, 1].mean()
    has_history = (table["form_home_n"] > 0).to_numpy() & (table["form_away_n"] > 0).to_numpy()
    form = table.loc[has_history, ["form_home_points_5", "form_away_gf_10", "rest_home"]]
    assert np.isfinite(form.to_numpy()).all()
    assert np.isfinite(table.loc[has_history & e0, "form_home_sot_5"]).all()
    # benchmark: Pinnacle closing probabilities wherever Pinnacle closed
    closing = market_probabilities(matches[e0])
    assert np.isfinite(closing).all(axis=1).mean() > 0.5
