"""American strategies on hand-made lines: ATS settlement with pushes, spread and moneyline CLV,
line shopping, each against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from scoreline.data.prices import MarketPrices
from scoreline.evaluation.betting import BettingPolicy
from scoreline.evaluation.strategies_american import (
    AmericanStrategies,
    LineFrame,
    SpreadPricing,
    american_bets,
    ats_result,
    moneyline_bets,
    spread_bets,
)
from scoreline.evaluation.strategies_backtest import evidence_of

MINUS_110 = 1 + 100 / 110


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def market(games: dict[str, tuple[int, int]], rows: list[tuple], competition: str = "CFB") -> MarketPrices:
    """``games``: id -> (home, away) points, one day apart from 2023-09-02; ``rows``: (id, book,
    market, outcome, when, line, price)."""
    matches = pd.DataFrame(
        {
            "match_id": list(games),
            "competition": competition,
            "season": 2023,
            "date": pd.date_range("2023-09-02", periods=len(games), freq="D"),
            "home_team": [f"H{i}" for i in range(len(games))],
            "away_team": [f"A{i}" for i in range(len(games))],
            "home_score": [float(h) for h, _ in games.values()],
            "away_score": [float(a) for _, a in games.values()],
        }
    )
    prices = pd.DataFrame(rows, columns=["match_id", "book", "market", "outcome", "when", "line", "price"])
    return MarketPrices(matches, prices)


def spread(game: str, book: str, when: str, line: float) -> list[tuple]:
    return [(game, book, "spread", side, when, line, np.nan) for side in ("home", "away")]


def test_ats_settlement_win_push_and_loss():
    # home -3 wins by 4: home covers; by 3: push; away +3 (same line) covers when home wins by 2
    won, push = ats_result(np.array([4, 3, 2, 3]), np.array([-3, -3, -3, -3]), np.array([0, 0, 1, 1]))
    assert won.tolist() == [True, False, True, False]
    assert push.tolist() == [False, True, False, True]


def test_spread_bets_settle_pushes_and_measure_clv_against_the_closing_median():
    # a model that believes the home side by 10 in each game: bets home at the best line
    games = {"g1": (24, 21), "g2": (20, 10), "g3": (7, 14)}
    rows = []
    for game in games:
        rows += spread(game, "bovada", "pre", -3.0)
        rows += spread(game, "bovada", "close", -4.5)
        rows += spread(game, "draftkings", "close", -4.5)
    frame = LineFrame.build(market(games, rows))
    sd = np.full(3, 13.45)
    bets = spread_bets(frame, np.full(3, -10.0), ("bovada", "draftkings"), sd, SpreadPricing(), 0.0)
    assert bets["outcome"].tolist() == ["home"] * 3 and bets["line"].tolist() == [-3.0] * 3
    assert bets["book"].tolist() == ["bovada"] * 3  # the opening line, the better one
    assert bets["push"].tolist() == [True, False, False] and bets["won"].tolist() == [False, True, False]
    clv = phi(1.5 / 13.45) * MINUS_110 - 1  # -3 taken, -4.5 at the close
    assert bets["clv_spread"].to_numpy() == pytest.approx([clv] * 3)
    assert bets["probability"].iloc[0] == pytest.approx(phi(7 / 13.45))

    policy = BettingPolicy(flat_stake=0.01, starting_bankroll=100.0, max_daily_exposure=1.0)
    evidence = evidence_of({"model_edge": bets}, frame.matches, policy, ("pooled",), n_boot=200)
    row = evidence.row("model_edge")
    # one unit each: push 0, win +0.909, loss -1
    assert row["pnl"] == pytest.approx(MINUS_110 - 1 - 1)
    assert row["yield"] == pytest.approx((MINUS_110 - 2) / 3)
    assert row["roi"] == pytest.approx((MINUS_110 - 2) / 100)
    assert row["hit_rate"] == pytest.approx(1 / 3)
    assert row["clv_spread"] == pytest.approx(clv)


def test_line_shopping_takes_the_best_book_against_the_median_and_ignores_slips():
    games = {"g1": (30, 20), "g2": (30, 20)}
    rows = spread("g1", "bovada", "pre", -3.0) + spread("g1", "draftkings", "pre", -3.0)
    rows += spread("g1", "espn_bet", "pre", -1.0)
    # g2: a sign slip (+7 for -3) is no offer, and the other two agree: nothing to shop
    rows += spread("g2", "bovada", "pre", -3.0) + spread("g2", "draftkings", "pre", -3.0)
    rows += spread("g2", "espn_bet", "pre", 7.0)
    frame = LineFrame.build(market(games, rows))
    bets, skipped = american_bets(AmericanStrategies(), frame, "CFB", None)
    shop = bets["consensus"]
    assert shop["match_id"].tolist() == ["g1"]
    assert (shop["book"].iloc[0], shop["line"].iloc[0], shop["outcome"].iloc[0]) == ("espn_bet", -1.0, "home")
    p = phi(2 / 15.1)  # 2 points better than the median, sd the CFB prior
    assert shop["expected_value"].iloc[0] == pytest.approx(p * MINUS_110 - 1)
    assert np.isnan(shop["clv_spread"].iloc[0])  # no closing line in the files
    assert "sharp_soft" in skipped and "model_edge" in skipped


def test_moneyline_clv_is_the_price_against_the_devigged_close_and_absent_at_the_close():
    games = {"g1": (100, 104), "g2": (99, 90)}
    rows = [
        ("g1", "listed", "moneyline", "home", "pre", np.nan, 1.8),
        ("g1", "listed", "moneyline", "away", "pre", np.nan, 2.5),
        ("g1", "listed", "moneyline", "home", "close", np.nan, 1 + 100 / 120),
        ("g1", "listed", "moneyline", "away", "close", np.nan, 2.0),
        ("g2", "listed", "moneyline", "home", "close", np.nan, 2.2),
        ("g2", "listed", "moneyline", "away", "close", np.nan, 1.7),
    ]
    frame = LineFrame.build(market(games, rows, "NBA"))
    bets = moneyline_bets(frame, np.array([[0.5, 0.5], [0.5, 0.5]]), 0.03)
    assert bets["outcome"].tolist() == ["away", "home"]
    assert bets["price"].tolist() == [2.5, 2.2] and bets["won"].tolist() == [True, True]
    q_away = (1 / 2.0) / (1 / (1 + 100 / 120) + 1 / 2.0)  # multiplicative de-vig of -120 / +100
    assert bets["clv_multiplicative"].iloc[0] == pytest.approx(2.5 * q_away - 1)
    assert 2.5 * q_away - 1 == pytest.approx(0.19565, abs=1e-5)
    assert np.isnan(bets["clv_multiplicative"].iloc[1]) and np.isnan(bets["clv_shin"].iloc[1])


def test_a_spread_price_that_is_not_american_odds_or_a_missing_sd_is_refused():
    with pytest.raises(ValueError, match="price"):
        SpreadPricing(price=-50)
    with pytest.raises(ValueError, match="prior_sd needs a positive sd"):
        SpreadPricing(prior_sd={"NFL": 13.45})


def test_configured_books_the_files_lack_are_said_not_replaced():
    games = {"g1": (20, 17)}
    rows = spread("g1", "bovada", "pre", -3.0) + spread("g1", "draftkings", "pre", -1.0)
    frame = LineFrame.build(market(games, rows))
    typo = AmericanStrategies.model_validate({"consensus": {"books": ["bovda", "draftkings"]}})
    bets, skipped = american_bets(typo, frame, "CFB", None)
    assert "consensus" not in bets and "bovada, draftkings" in skipped["consensus"]


def test_opening_lines_are_never_shopped_against_a_later_snapshot():
    # two books open at -3; a third has only its close-ish -6 (the line moved after the opening):
    # shopping it against the openings would bet on information from after them
    games = {"g1": (20, 17)}
    rows = spread("g1", "bovada", "pre", -3.0) + spread("g1", "draftkings", "pre", -3.0)
    rows += spread("g1", "bovada", "close", -6.0) + spread("g1", "william_hill", "close", -6.0)
    frame = LineFrame.build(market(games, rows))
    lines, opening = frame.taken_lines(("bovada", "draftkings", "william_hill"))
    assert opening.all() and lines[0, :2].tolist() == [-3.0, -3.0] and np.isnan(lines[0, 2])
    bets, _ = american_bets(AmericanStrategies(), frame, "CFB", None)
    assert bets["consensus"].empty
