"""The betting simulator against hand computations: selection, stakes, caps, P/L, drawdown, CLV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.evaluation.betting import (
    STARTING_BANKROLL,
    BettingPolicy,
    Staking,
    bankroll_curve_png,
    max_drawdown,
    simulate,
    summary_table,
)
from scoreline.promotion.policy import Betting


def unit(**rules) -> BettingPolicy:
    """A policy on a 1-unit bankroll: the hand computations below read as fractions."""
    return BettingPolicy(starting_bankroll=1.0, **rules)


#   match  date        model p (H, D, A)   b365 (H, D, A)     best value          outcome
#   m1     2020-01-01  0.5, 0.3, 0.2       2.2, 3.5, 4.0      home  +0.10        home  (won)
#   m2     2020-01-02  0.3, 0.3, 0.4       3.0, 3.2, 2.4      none (all < 0)     home
#   m3     2020-01-03  0.1, 0.3, 0.6       5.0, 3.0, 2.5      away  +0.50        draw  (lost)
#   m4     2020-01-03  0.4, 0.35, 0.25     2.4, 3.1, 3.6      draw  +0.085       draw  (won)
PROBS = [(0.5, 0.3, 0.2), (0.3, 0.3, 0.4), (0.1, 0.3, 0.6), (0.4, 0.35, 0.25)]
B365 = [(2.2, 3.5, 4.0), (3.0, 3.2, 2.4), (5.0, 3.0, 2.5), (2.4, 3.1, 3.6)]
# m1: 1/2 + 1/3.6 + 1/4.2 = 64/63, so q_home = 63/128; m3 fair at 3.0 each; m4 none
CLOSE = [(2.0, 3.6, 4.2), (3.0, 3.2, 2.4), (3.0, 3.0, 3.0), (np.nan, np.nan, np.nan)]
DATES = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-03"]
SCORES = [(2, 0), (1, 0), (1, 1), (0, 0)]


def predictions(
    probs=PROBS, dates=DATES, scores=SCORES, outcomes=("home", "draw", "away"), model="m"
) -> pd.DataFrame:
    home, away = np.array(scores, dtype=float).T
    if len(outcomes) == 3:
        observed = np.where(home > away, 0, np.where(home == away, 1, 2))
    else:
        observed = np.where(home > away, 0, np.where(home < away, 1, -1))
    frame = pd.DataFrame(
        {
            "match_id": [f"m{i + 1}" for i in range(len(probs))],
            "date": pd.to_datetime(dates),
            "season": 2019,
            "home_team": "H",
            "away_team": "A",
            "home_score": home,
            "away_score": away,
            "outcome": observed,
        }
    )
    for j, name in enumerate(outcomes):
        frame[f"{model}_{name}"] = [p[j] for p in probs]
    return frame.iloc[::-1].reset_index(drop=True)  # the simulator must sort by itself


def prices(b365=B365, close=CLOSE) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"match_id": [f"m{i + 1}" for i in range(len(b365))], "date": pd.Timestamp("1999-01-01")}
    )  # a clashing column, ignored
    for j, name in enumerate(("home", "draw", "away")):
        frame[f"odds_b365_{name}"] = [p[j] for p in b365]
        frame[f"odds_pinnacle_close_{name}"] = [p[j] for p in close]
    return frame


def test_flat_stakes_profit_by_hand():
    policy = unit(edge=0.02, staking=Staking.FLAT, flat_stake=0.01)
    result = simulate(predictions(), prices(), "m", policy, "b365")
    bets = result.bets

    assert bets["match_id"].tolist() == ["m1", "m3", "m4"]
    assert bets["outcome"].tolist() == ["home", "away", "draw"]
    assert bets["price"].tolist() == [2.2, 2.5, 3.1]
    np.testing.assert_allclose(bets["stake"], [0.01, 0.01, 0.01])
    np.testing.assert_allclose(bets["pnl"], [0.01 * 1.2, -0.01, 0.01 * 2.1])
    np.testing.assert_allclose(bets["return"], [0.022, 0.0, 0.031])
    np.testing.assert_allclose(bets["bankroll_after"], [1.012, 1.002, 1.023])

    s = result.summary
    assert s["n_bets"] == 3 and s["n_matches"] == 4
    assert s["staked"] == pytest.approx(0.03)
    assert s["pnl"] == pytest.approx(0.023)
    assert s["roi"] == pytest.approx(0.023)  # profit / starting bankroll
    assert s["yield"] == pytest.approx(0.023 / 0.03)  # profit / staked
    assert s["final_bankroll"] == pytest.approx(1.023)
    assert s["hit_rate"] == pytest.approx(2 / 3)
    assert s["max_drawdown"] == 0.0  # end-of-day bankroll 1 -> 1.012 -> 1.023 never falls


def test_kelly_same_day_pair_sized_from_start_of_day_and_capped():
    policy = unit(
        edge=0.02,
        staking=Staking.KELLY,
        kelly_fraction=0.25,
        max_stake_fraction=0.05,
        max_daily_exposure=0.25,
    )
    bets = simulate(predictions(), prices(), "m", policy, "b365").bets

    # day 1, bankroll 1: full Kelly (0.5 * 2.2 - 1) / (2.2 - 1) = 1/12; a quarter of it; won at 2.2
    stake1 = 0.25 * (0.1 / 1.2)
    day3 = 1.0 + stake1 * 1.2
    # day 3, bankroll 1.025 for both bets (the m3 loss does not shrink the m4 stake)
    stake3 = 0.05 * day3  # quarter Kelly 0.25 * 0.5/1.5 * 1.025 > 5 % cap
    stake4 = 0.25 * (0.085 / 2.1) * day3  # (0.35 * 3.1 - 1) / (3.1 - 1), under the cap
    assert 0.25 * (0.5 / 1.5) * day3 > stake3
    np.testing.assert_allclose(bets["stake"], [stake1, stake3, stake4])
    np.testing.assert_allclose(bets["pnl"], [stake1 * 1.2, -stake3, stake4 * 2.1])
    final = day3 - stake3 + stake4 * 2.1
    np.testing.assert_allclose(bets["bankroll_after"], [day3, day3 - stake3, final])
    assert day3 == pytest.approx(1.025)
    assert final == pytest.approx(1.025 - 0.05125 + 0.25 * 0.085 / 2.1 * 1.025 * 2.1)


def test_daily_exposure_cap_scales_a_days_stakes_together():
    # flat 5 % of the starting bankroll per bet, 3 % single-stake cap, 5 % daily cap
    policy = unit(edge=0.02, flat_stake=0.05, max_stake_fraction=0.03, max_daily_exposure=0.05)
    bets = simulate(predictions(), prices(), "m", policy, "b365").bets
    day3 = 1.0 + 0.03 * 1.2  # day 1: 0.05 capped to 0.03 of 1.0, won at 2.2
    # day 3: each 0.05 capped to 0.03 * 1.036; together 0.06216 > 0.05 * 1.036, so each is
    # scaled to half the daily limit
    each = 0.05 * day3 / 2
    assert 2 * 0.03 * day3 > 0.05 * day3
    np.testing.assert_allclose(bets["stake"], [0.03, each, each])
    assert each == pytest.approx(0.0259)
    np.testing.assert_allclose(bets["bankroll_after"], [day3, day3 - each, day3 - each + each * 2.1])


def test_no_bet_when_edge_not_met():
    # m1's best value is 0.10, m3's 0.50, m4's 0.085: an edge of 0.09 leaves m1 and m3
    policy = unit(edge=0.09)
    assert simulate(predictions(), prices(), "m", policy).bets["match_id"].tolist() == ["m1", "m3"]
    assert simulate(predictions(), prices(), "m", unit(edge=0.6)).bets.empty
    # p * price exactly 1 + edge is not a bet (the inequality is strict)
    fair = predictions(probs=[(0.5, 0.25, 0.25)] * 4)
    flat_book = prices(b365=[(2.0, 4.0, 4.0)] * 4)
    result = simulate(fair, flat_book, "m", unit(edge=0.0))
    assert result.bets.empty
    assert result.summary["n_bets"] == 0 and result.summary["final_bankroll"] == 1.0


def test_closing_line_value_by_hand():
    result = simulate(predictions(), prices(), "m", unit(), "b365")
    # m1: home taken at 2.2, fair close 128/63: 2.2 * 63/128 - 1; m3: away at 2.5, fair 3.0
    expected = [2.2 * 63 / 128 - 1, 2.5 / 3.0 - 1]
    assert expected[0] == pytest.approx(0.0828125)
    np.testing.assert_allclose(result.bets["clv"].iloc[:2], expected)
    assert np.isnan(result.bets["clv"].iloc[2])  # m4 has no closing price
    assert result.summary["n_clv"] == 2
    assert result.summary["mean_clv"] == pytest.approx(np.mean(expected))
    assert result.summary["share_beating_close"] == 0.5


def test_closing_prices_change_clv_only():
    policy = unit(staking=Staking.KELLY)
    honest = simulate(predictions(), prices(), "m", policy)
    garbage_close = [(1.01, 50.0, 900.0), (1.5, 1.5, 1.5), (np.nan, 2.0, 2.0), (1.2, 30.0, 7.0)]
    garbage = simulate(predictions(), prices(close=garbage_close), "m", policy)
    columns = [c for c in honest.bets.columns if c != "clv"]
    pd.testing.assert_frame_equal(honest.bets[columns], garbage.bets[columns])
    assert not np.allclose(honest.bets["clv"].fillna(0), garbage.bets["clv"].fillna(0))
    without_close = prices().drop(columns=[c for c in prices() if "close" in c])
    no_clv = simulate(predictions(), without_close, "m", policy)
    pd.testing.assert_frame_equal(honest.bets[columns], no_clv.bets[columns])
    assert no_clv.bets["clv"].isna().all() and np.isnan(no_clv.summary["mean_clv"])


def test_closing_prices_are_refused_as_betting_prices():
    with pytest.raises(ValueError, match="closing"):
        simulate(predictions(), prices(), "m", unit(), "pinnacle_close")


def test_max_drawdown_by_hand():
    # flat 10 % at evens with p = 0.6: win, lose, lose, win on four days
    dates = ["2021-03-01", "2021-03-02", "2021-03-03", "2021-03-04"]
    scores = [(1, 0), (0, 1), (0, 1), (1, 0)]
    probs = [(0.6, 0.2, 0.2)] * 4
    book = prices(b365=[(2.0, 5.0, 5.0)] * 4, close=[(2.0, 4.0, 4.0)] * 4)
    policy = unit(flat_stake=0.1, max_stake_fraction=0.2)  # 0.1 <= 0.2 * 0.9: no cap
    result = simulate(predictions(probs, dates, scores), book, "m", policy)
    np.testing.assert_allclose(result.bets["bankroll_after"], [1.1, 1.0, 0.9, 1.0])
    assert result.summary["max_drawdown"] == pytest.approx((1.1 - 0.9) / 1.1)
    assert max_drawdown(np.array([1.0, 2.0, 1.0, 3.0, 2.7])) == pytest.approx(0.5)
    curve = result.bankroll_by_date()
    assert curve.iloc[0] == 1.0 and curve.iloc[-1] == pytest.approx(1.0) and len(curve) == 5


def test_two_way_moneylines():
    # -120 -> 1 + 100/120, +150 -> 2.5, +200 -> 3.0; the third game is a tie: a push
    probs = [(0.6, 0.4), (0.45, 0.55), (0.4, 0.6)]
    frame = predictions(probs, DATES[:3], [(24, 17), (10, 13), (20, 20)], ("home", "away"))
    lines = pd.DataFrame(
        {
            "match_id": ["m1", "m2", "m3"],
            "moneyline_home": [-120.0, 150.0, 200.0],
            "moneyline_away": [110.0, -180.0, -250.0],
        }
    )
    result = simulate(frame, lines, "m", unit(edge=0.02, flat_stake=0.01))
    bets = result.bets
    assert result.price_source == "moneyline"
    assert bets["outcome"].tolist() == ["home", "home", "home"]
    np.testing.assert_allclose(bets["price"], [1 + 100 / 120, 2.5, 3.0])
    np.testing.assert_allclose(bets["pnl"], [0.01 * 100 / 120, -0.01, 0.0])
    np.testing.assert_allclose(bets["return"], [0.01 * (1 + 100 / 120), 0.0, 0.01])
    assert result.summary["pnl"] == pytest.approx(0.01 / 1.2 - 0.01)
    assert result.summary["hit_rate"] == pytest.approx(1 / 3)
    assert bets["clv"].isna().all()  # the schema has no closing moneyline


def test_policy_validation():
    with pytest.raises(ValueError):
        BettingPolicy(edge=-0.01)
    with pytest.raises(ValueError):
        BettingPolicy(max_daily_exposure=1.5)
    with pytest.raises(TypeError):
        BettingPolicy(staking="kelly")


def test_summary_table_and_bankroll_png(tmp_path):
    results = {
        "flat": simulate(predictions(), prices(), "m", BettingPolicy()),
        "kelly": simulate(predictions(), prices(), "m", BettingPolicy(staking=Staking.KELLY)),
    }
    table = summary_table(results)
    assert list(table.index) == ["flat", "kelly"]
    assert table.loc["kelly", "policy"] == "0.25 Kelly edge 0.02"
    path = bankroll_curve_png(results, tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_backtest_starts_at_the_matchday_bankroll():
    assert BettingPolicy().starting_bankroll == STARTING_BANKROLL == Betting().bankroll == 100.0
    result = simulate(predictions(), prices(), "m", BettingPolicy(edge=0.02, flat_stake=0.01), "b365")
    np.testing.assert_allclose(result.bets["stake"], [1.0, 1.0, 1.0])  # 1 % of 100 units
    assert result.summary["final_bankroll"] == pytest.approx(102.3)


def test_a_broke_strategy_stops_betting():
    """Losing every day at evens: the 50 % stake cap shrinks flat 10 % stakes with the bankroll
    (0.2 -> 0.1 -> 0.05 ...); below 1 % of the start it is broke and bets no more."""
    days = pd.date_range("2021-03-01", periods=20).strftime("%Y-%m-%d").tolist()
    probs, scores = [(0.6, 0.2, 0.2)] * 20, [(0, 1)] * 20
    book = prices(b365=[(2.0, 5.0, 5.0)] * 20, close=[(2.0, 4.0, 4.0)] * 20)
    frame = predictions(probs, days, scores)
    policy = unit(flat_stake=0.1, max_stake_fraction=0.5, max_daily_exposure=1.0)
    result = simulate(frame, book, "m", policy)
    after = result.bets["bankroll_after"].to_numpy()
    assert len(result.bets) == 9 + 4  # down to 0.1 in 0.1 steps, then 0.05 ... 0.00625
    assert after[-1] == pytest.approx(0.00625) and after[-2] >= 0.01
    assert result.broke_on == pd.Timestamp(days[12])
    assert (
        simulate(frame, book, "m", unit(flat_stake=0.1, max_stake_fraction=0.5, ruin_below=0.0)).bets.shape[0]
        == 20
    )
    with pytest.raises(ValueError, match="ruin_below"):
        unit(ruin_below=1.0)
