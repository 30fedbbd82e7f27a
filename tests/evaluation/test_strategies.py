"""Betting strategies on a hand-made price table: choices, CLV and ROI against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from scoreline.data.prices import MarketPrices
from scoreline.evaluation.betting import BettingPolicy, Staking
from scoreline.evaluation.strategies import (
    Consensus,
    ModelEdge,
    ModelMarket,
    PriceFrame,
    SharpSoft,
    Strategies,
    pooled,
    select,
)
from scoreline.evaluation.strategies_backtest import evaluate, figures, settled_bets, staked
from scoreline.features.market import DevigMethod, implied_probabilities

OUTCOMES = ("home", "draw", "away")
# match -> (result home-away goals, {(book, when): home/draw/away prices})
MATCHES = {
    "m1": (
        (2, 0),
        {
            ("pinnacle", "pre"): (2.0, 3.5, 4.0),
            ("pinnacle", "close"): (1.9, 3.6, 4.4),
            ("b365", "pre"): (2.2, 3.3, 3.6),
            ("bw", "pre"): (2.1, 3.4, 3.8),
            ("avg", "pre"): (2.1, 3.4, 3.7),
            ("max", "pre"): (2.4, 3.5, 4.0),
        },
    ),
    "m2": (
        (1, 1),
        {
            ("pinnacle", "pre"): (3.0, 3.4, 2.5),
            ("pinnacle", "close"): (3.2, 3.4, 2.4),
            ("b365", "pre"): (2.9, 3.3, 2.7),
            ("bw", "pre"): (2.8, 3.2, 2.6),
            ("avg", "pre"): (2.9, 3.3, 2.6),
            ("max", "pre"): (3.0, 3.5, 2.8),
        },
    ),
    "m3": (  # no soft price beats the sharp one: no sharp_soft bet
        (0, 1),
        {
            ("pinnacle", "pre"): (1.5, 4.5, 7.0),
            ("pinnacle", "close"): (1.5, 4.5, 7.0),
            ("b365", "pre"): (1.45, 4.2, 6.5),
            ("bw", "pre"): (1.44, 4.3, 6.6),
            ("avg", "pre"): (1.45, 4.3, 6.5),
            ("max", "pre"): (1.5, 4.5, 7.0),
        },
    ),
}


def market() -> MarketPrices:
    matches, rows = [], []
    for i, (match_id, ((home, away), books)) in enumerate(MATCHES.items()):
        matches.append(
            {
                "match_id": match_id,
                "competition": "E0",
                "season": 2022,
                "date": pd.Timestamp("2022-08-06") + pd.Timedelta(days=i),
                "home_team": f"H{i}",
                "away_team": f"A{i}",
                "home_score": float(home),
                "away_score": float(away),
            }
        )
        for (book, when), prices in books.items():
            for outcome, price in zip(OUTCOMES, prices):
                rows.append((match_id, book, "1x2", outcome, when, np.nan, price))
    long = pd.DataFrame(rows, columns=["match_id", "book", "market", "outcome", "when", "line", "price"])
    return MarketPrices(pd.DataFrame(matches), long.astype(dict.fromkeys(("book", "market"), "category")))


def fair(prices, method=DevigMethod.MULTIPLICATIVE):
    return implied_probabilities(np.array([prices]), method).probabilities[0]


FLAT = BettingPolicy(edge=0.0, staking=Staking.FLAT, flat_stake=0.01, starting_bankroll=100.0)


def test_sharp_soft_bets_the_best_soft_price_with_positive_ev_and_clv_matches_hand_computation():
    frame = PriceFrame.build(market())
    strategy = SharpSoft(method=DevigMethod.MULTIPLICATIVE, books=("b365", "bw"))
    bets = settled_bets(select(strategy, frame), frame).set_index("match_id")
    # m1: fair home 0.5/1.0357 = 0.4828 at b365's 2.2: EV +6.2 %; m2: fair away at b365's 2.7
    assert list(bets.index) == ["m1", "m2"]
    m1 = bets.loc["m1"]
    assert (m1["outcome"], m1["book"], m1["price"]) == ("home", "b365", 2.2)
    p_home = (1 / 2.0) / (1 / 2.0 + 1 / 3.5 + 1 / 4.0)
    assert m1["expected_value"] == pytest.approx(p_home * 2.2 - 1)
    q_close = (1 / 1.9) / (1 / 1.9 + 1 / 3.6 + 1 / 4.4)
    assert m1["clv_multiplicative"] == pytest.approx(2.2 * q_close - 1)
    assert m1["clv_shin"] == pytest.approx(2.2 * fair((1.9, 3.6, 4.4), DevigMethod.SHIN)[0] - 1)
    assert m1["won"]
    m2 = bets.loc["m2"]
    assert (m2["outcome"], m2["book"], m2["price"], m2["won"]) == ("away", "b365", 2.7, False)
    assert m2["clv_multiplicative"] == pytest.approx(2.7 * fair((3.2, 3.4, 2.4))[2] - 1)


def test_roi_yield_and_hit_rate_match_hand_computation():
    frame = PriceFrame.build(market())
    strategy = SharpSoft(method=DevigMethod.MULTIPLICATIVE, books=("b365", "bw"))
    bets = staked(settled_bets(select(strategy, frame), frame), FLAT)
    row = figures(bets, n_matches=3, policy=FLAT, n_boot=200)
    # one unit (1 % of 100) on each: m1 wins 1.2, m2 loses 1
    assert list(bets["stake"]) == [1.0, 1.0]
    assert row["pnl"] == pytest.approx(0.2)
    assert row["roi"] == pytest.approx(0.2 / 100)
    assert row["yield"] == pytest.approx(0.2 / 2)
    assert row["hit_rate"] == 0.5
    assert row["n_bets"] == 2 and row["bets_per_100"] == pytest.approx(200 / 3)
    clv = bets["clv_multiplicative"].mean()
    assert row["clv_multiplicative"] == pytest.approx(clv)
    assert row["clv_multiplicative_lo"] <= clv <= row["clv_multiplicative_hi"]
    assert row["max_drawdown"] == pytest.approx(1.0 / 101.2)  # 101.2 after m1, 100.2 after m2


def test_consensus_is_kaunitz_rule_and_reports_the_same_bets_at_bet365():
    frame = PriceFrame.build(market())
    evidence = evaluate({"consensus": Consensus(margin=0.05)}, frame, FLAT, n_boot=100)
    bets = evidence.bets["consensus"]
    # m1 home: 1 / (1/2.1 - 0.05) = 2.344 < max 2.4 -> bet; nothing else clears its threshold
    thresholds = {
        (m, o): 1 / (1 / avg - 0.05)
        for m, (_, books) in MATCHES.items()
        for o, avg in zip(OUTCOMES, books[("avg", "pre")])
    }
    expected = [
        k for k, t in thresholds.items() if MATCHES[k[0]][1][("max", "pre")][OUTCOMES.index(k[1])] > t
    ]
    assert [(m, o) for m, o in zip(bets["match_id"], bets["outcome"])] == expected == [("m1", "home")]
    assert bets["price"].tolist() == [2.4]
    at_b365 = evidence.bets["consensus@b365"]
    assert at_b365["match_id"].tolist() == ["m1"] and at_b365["price"].tolist() == [2.2]
    assert ("consensus@b365", "pooled") in evidence.table.index


def test_model_strategies_need_and_use_model_probabilities():
    frame = PriceFrame.build(market())
    model = np.array([[0.30, 0.30, 0.40], [0.50, 0.25, 0.25], [0.70, 0.20, 0.10]])
    with pytest.raises(ValueError, match="walk-forward probabilities"):
        select(ModelEdge(), frame)
    edge = select(ModelEdge(edge=0.03, books=("b365",)), frame, model)
    # m1 away 0.4*3.6 = 1.44; m2 home 0.5*2.9 = 1.45; m3 home 0.7*1.45 = 1.015 (below the edge)
    assert edge.rows.tolist() == [0, 1] and edge.pick.tolist() == [2, 0]
    evidence = evaluate({"model_edge": ModelEdge(model="elo")}, frame, FLAT, {}, n_boot=100)
    assert evidence.skipped == {"model_edge": "no walk-forward probabilities of model 'elo'"}
    market_only = select(ModelMarket(weight=0.0, books=("b365", "bw"), edge=0.0), frame, model)
    sharp = select(SharpSoft(books=("b365", "bw")), frame)
    assert market_only.rows.tolist() == sharp.rows.tolist()  # weight 0 is the sharp price alone


def test_pooling_is_log_linear():
    p = pooled(np.array([[0.5, 0.3, 0.2]]), np.array([[0.4, 0.3, 0.3]]), 0.5)
    raw = np.sqrt([0.5 * 0.4, 0.3 * 0.3, 0.2 * 0.3])
    np.testing.assert_allclose(p[0], raw / raw.sum())


def test_strategy_policies_are_typed():
    with pytest.raises(ValidationError, match="unknown book 'b356'"):
        Strategies.model_validate({"sharp_soft": {"books": ["b356"]}})
    with pytest.raises(ValidationError, match="method"):
        Strategies.model_validate({"sharp_soft": {"method": "shinn"}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        Strategies.model_validate({"sharp_soft": {"edge": 0.02}})  # sharp_soft's is min_ev
    parsed = Strategies.model_validate({"sharp_soft": {"method": "odds_ratio", "books": ["b365"]}})
    assert parsed.sharp_soft.method is DevigMethod.ODDS_RATIO
    assert set(parsed.named()) == {"model_edge", "sharp_soft", "consensus", "model_market"}


def test_bootstrap_resamples_are_paired_across_strategies():
    frame = PriceFrame.build(market())
    strategies = {"a": SharpSoft(books=("b365", "bw")), "b": SharpSoft(books=("b365", "bw"))}
    table = evaluate(strategies, frame, FLAT, n_boot=300).table
    pd.testing.assert_series_equal(table.loc[("a", "pooled")], table.loc[("b", "pooled")], check_names=False)
