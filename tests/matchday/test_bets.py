"""Bet proposals follow the live policy (edge, fractional Kelly, stake and exposure caps) and bets
settle to the right P/L and CLV, on constructed forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.matchday.bets import bet_summary, propose_bets, settle_bets
from scoreline.promotion import PolicyError, parse_policy
from scoreline.promotion.policy import Betting

OUTCOMES = ("home", "draw", "away")


def _forecasts(rows: list[tuple[tuple[float, float, float], tuple[float, float, float]]]) -> pd.DataFrame:
    """One fixture per (probabilities, prices) pair."""
    return pd.DataFrame(
        [
            {
                **{f"prob_{o}": p for o, p in zip(OUTCOMES, probs)},
                **{f"price_{o}": x for o, x in zip(OUTCOMES, prices)},
            }
            for probs, prices in rows
        ]
    )


RULES = Betting(
    bankroll=100.0,
    edge=0.03,
    staking="kelly",
    kelly_fraction=0.25,
    max_stake_fraction=0.02,
    max_daily_exposure=0.10,
)


def test_the_best_outcome_above_the_edge_is_backed_at_fractional_kelly():
    forecasts = _forecasts(
        [
            ((0.50, 0.25, 0.25), (2.10, 3.5, 4.5)),  # home EV 0.05, away EV 0.125 -> away
            ((0.50, 0.25, 0.25), (2.05, 3.5, 4.0)),  # home EV 0.025 < edge, others negative
            ((0.40, 0.30, 0.30), (2.50, 3.0, 3.0)),  # EV exactly 0 everywhere
            ((0.40, 0.30, 0.30), (np.nan, 3.8, 3.0)),  # no price for one outcome: never bet
        ]
    )
    bets = propose_bets(forecasts, OUTCOMES, RULES, bankroll=100.0)

    assert list(bets.index) == [0]
    bet = bets.iloc[0]
    assert bet["outcome"] == "away" and bet["price"] == 4.5
    assert bet["expected_value"] == pytest.approx(0.25 * 4.5 - 1)
    full_kelly = (0.25 * 4.5 - 1) / (4.5 - 1)
    assert bet["kelly"] == pytest.approx(full_kelly)
    assert bet["stake"] == pytest.approx(0.25 * full_kelly * 100.0)  # 0.89 < the 2.0 cap
    assert bet["bankroll"] == 100.0


def test_stakes_are_capped_per_bet_and_scaled_to_the_daily_exposure():
    # full Kelly 0.2 -> quarter Kelly 5 % of the bankroll, capped at 2 %
    strong = ((0.60, 0.20, 0.20), (2.0, 5.0, 5.0))
    one = propose_bets(_forecasts([strong]), OUTCOMES, RULES, bankroll=50.0)
    assert one["stake"].tolist() == pytest.approx([0.02 * 50.0])

    eight = propose_bets(_forecasts([strong] * 8), OUTCOMES, RULES, bankroll=50.0)
    assert len(eight) == 8  # 8 x 1.0 wanted, 5.0 allowed (10 %): all scaled by the same factor
    assert eight["stake"].sum() == pytest.approx(0.10 * 50.0)
    assert np.allclose(eight["stake"], 5.0 / 8)

    # what was already staked today and what is still on open bets count against the caps
    later = propose_bets(_forecasts([strong] * 8), OUTCOMES, RULES, bankroll=50.0, staked_today=4.0)
    assert later["stake"].sum() == pytest.approx(1.0)
    cash = propose_bets(_forecasts([strong] * 8), OUTCOMES, RULES, bankroll=50.0, open_stakes=49.5)
    assert cash["stake"].sum() == pytest.approx(0.5)
    assert propose_bets(_forecasts([strong]), OUTCOMES, RULES, bankroll=50.0, staked_today=5.0).empty
    assert propose_bets(_forecasts([strong]), OUTCOMES, RULES, bankroll=0.0).empty


def test_flat_staking_and_a_higher_edge():
    flat = RULES.model_copy(update={"staking": "flat", "flat_stake": 0.01, "edge": 0.10})
    bets = propose_bets(
        _forecasts(
            [
                ((0.5, 0.25, 0.25), (2.3, 3.0, 3.0)),  # EV 0.15
                ((0.5, 0.25, 0.25), (2.1, 3.0, 3.0)),
            ]
        ),  # EV 0.05 < 0.10
        OUTCOMES,
        flat,
        bankroll=80.0,
    )
    assert list(bets.index) == [0] and bets["stake"].tolist() == pytest.approx([0.8])


def test_settlement_wins_losses_pushes_and_closing_line_value():
    bets = pd.DataFrame(
        {
            "outcome": ["home", "draw", "away"],
            "price": [2.0, 3.4, 5.0],
            "stake": [1.0, 2.0, 0.5],
            "home_score": [2, 1, 3],
            "away_score": [0, 1, 0],
            "odds_pinnacle_close_home": [1.9, 2.5, np.nan],
            "odds_pinnacle_close_draw": [3.6, 3.3, np.nan],
            "odds_pinnacle_close_away": [4.2, 3.0, np.nan],
        }
    )
    settled = settle_bets(bets, OUTCOMES)

    assert settled["status"].tolist() == ["won", "won", "lost"]
    assert settled["pnl"].tolist() == pytest.approx([1.0, 2.0 * 2.4, -0.5])
    inverse = 1 / np.array([1.9, 3.6, 4.2])
    assert settled["clv"].iloc[0] == pytest.approx(2.0 * inverse[0] / inverse.sum() - 1)
    assert np.isnan(settled["clv"].iloc[2])  # no closing prices

    two_way = settle_bets(
        pd.DataFrame(
            {
                "outcome": ["home", "away"],
                "price": [1.8, 2.2],
                "stake": [1.0, 1.0],
                "home_score": [20, 17],
                "away_score": [20, 24],
            }
        ),
        ("home", "away"),
    )
    assert two_way["status"].tolist() == ["push", "won"]
    assert two_way["pnl"].tolist() == pytest.approx([0.0, 1.2])


def test_summary_counts_only_settled_bets_in_the_figures():
    bets = pd.DataFrame(
        {
            "status": ["won", "lost", "push", "open"],
            "stake": [1.0, 2.0, 1.0, 3.0],
            "pnl": [1.5, -2.0, 0.0, np.nan],
            "clv": [0.05, -0.01, np.nan, np.nan],
        }
    )
    summary = bet_summary(bets, 100.0)
    assert (summary["n_bets"], summary["n_open"], summary["n_settled"]) == (4, 1, 3)
    assert summary["staked"] == 4.0 and summary["pnl"] == pytest.approx(-0.5)
    assert summary["roi"] == pytest.approx(-0.005) and summary["yield"] == pytest.approx(-0.125)
    assert summary["hit_rate"] == pytest.approx(1 / 3) and summary["mean_clv"] == pytest.approx(0.02)
    assert summary["open_stakes"] == 3.0 and summary["bankroll"] == pytest.approx(99.5)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"edgee": 0.1}, "betting.edgee: unknown key"),
        ({"kelly_fraction": 1.5}, "betting.kelly_fraction"),
        ({"price_source": {"football": "b365_close"}}, "price_source.football: 'b365_close' is not"),
        ({"price_source": {"basketball": "b365"}}, "price_source.basketball"),
        ({"closing_source": "pinnacle"}, "closing_source: 'pinnacle' is not a closing"),
    ],
)
def test_a_bad_betting_section_names_its_key(section, message):
    from pathlib import Path

    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[2] / "registry" / "policy.yaml").read_text())
    assert parse_policy(data).betting.edge == data["betting"]["edge"]
    with pytest.raises(PolicyError, match=message):
        parse_policy(data | {"betting": section}, "registry/policy.yaml")
