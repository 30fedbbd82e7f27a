"""The staking gate: a strategy stakes money only on a CLV interval above zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.evaluation.strategies_gate import StakingGate, verdict


def walk_forward(clv_shin: np.ndarray, clv_mult: np.ndarray, seasons=(2019, 2020, 2021, 2022)):
    """Bets spread over ``seasons`` with the given CLVs, one bet per match of 1,000 a season."""
    n = len(clv_shin)
    season = np.asarray(seasons)[np.arange(n) % len(seasons)]
    bets = pd.DataFrame(
        {
            "match_id": [f"m{i}" for i in range(n)],
            "season": season,
            "date": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(n), unit="D"),
            "price": 2.0,
            "won": np.arange(n) % 2 == 0,
            "clv_multiplicative": clv_mult,
            "clv_shin": clv_shin,
        }
    )
    matches = pd.DataFrame({"season": np.repeat(seasons, 1000), "outcome": 0})
    return bets, matches


def test_the_gate_refuses_a_strategy_whose_clv_interval_straddles_zero():
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, 0.05, 2000)
    bets, matches = walk_forward(clv_shin=noise - noise.mean(), clv_mult=0.03 + noise)
    judged = verdict("straddles", bets, matches, StakingGate(window_seasons=3, n_boot=500))
    low, high = judged.clv["shin"][1:]
    assert low < 0 < high
    assert not judged.staked
    assert judged.reason == "CLV interval not above zero under shin"
    assert judged.seasons == (2020, 2021, 2022) and judged.n_bets == 1500 and judged.n_matches == 3000


def test_the_gate_stakes_a_strategy_beating_the_close_under_both_devigs():
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.05, 2000)
    bets, matches = walk_forward(clv_shin=0.015 + noise, clv_mult=0.02 + noise)
    judged = verdict("beats", bets, matches, StakingGate(n_boot=500))
    assert judged.staked and judged.clv["shin"][1] > 0 and judged.clv["multiplicative"][1] > 0
    # judged only on the seasons before the one being bet
    earlier = verdict("beats", bets, matches, StakingGate(window_seasons=2, n_boot=500), before_season=2022)
    assert earlier.seasons == (2020, 2021) and earlier.n_bets == 1000


def test_too_few_bets_are_no_evidence():
    bets, matches = walk_forward(clv_shin=np.full(40, 0.05), clv_mult=np.full(40, 0.05))
    judged = verdict("few", bets, matches, StakingGate(min_bets=100))
    assert not judged.staked and "fewer than 100" in judged.reason
