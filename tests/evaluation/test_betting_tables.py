"""Betting tables fit a 100-column terminal (the bets report took 111 and more), with the units
in a legend line and intervals beside their estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.evaluation.betting import BettingPolicy, Staking, simulate, summary_table
from scoreline.evaluation.betting_tables import MAX_WIDTH, backtest_betting_text, evidence_text


def _evidence_row(n_bets, hit, yield_, roi, drawdown, clv) -> dict:
    row = {"n_bets": n_bets, "hit_rate": hit, "roi": roi, "max_drawdown": drawdown}
    for name, (value, lo, hi) in {"yield": yield_, "clv_multiplicative": clv, "clv_shin": clv}.items():
        row |= {name: value, f"{name}_lo": lo, f"{name}_hi": hi}
    row |= {"roi_lo": roi, "roi_hi": roi}
    return row


def test_the_widest_evidence_rows_fit_100_columns():
    """The widest rows seen on the five leagues: a 5-digit bet count, a one-bet season that lost
    everything, a ruined bankroll, double-digit CLV."""
    rows = {
        ("model_edge", "pooled"): _evidence_row(
            14105, 0.279, (-0.062, -0.136, 0.018), -0.99, 0.995, (-0.0517, -0.0534, -0.05)
        ),
        ("consensus@b365", "2020"): _evidence_row(
            1, 0.0, (-1.0, -1.0, -1.0), -0.01, 0.01, (-0.2038, -0.2038, -0.2038)
        ),
        ("consensus", "2012"): _evidence_row(
            4, 0.75, (0.482, -1.0, 1.26), 0.02, 0.01, (0.1267, 0.0911, 0.1679)
        ),
        ("sharp_soft", "pooled"): _evidence_row(
            9668, 0.392, (0.0145, -0.0177, 0.0509), 1.36, 0.462, (0.0224, 0.0204, 0.0243)
        ),
    }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis(["strategy", "scope"])
    kinds = ["E0", "D1"]  # the competitions: other scopes are seasons
    lines = evidence_text(table, kinds)
    assert max(map(len, lines)) <= MAX_WIDTH, max(lines, key=len)
    assert lines[0].startswith("in %:") and "[95 % bootstrap CI]" in " ".join(lines[:2])
    sharp = next(line for line in lines if line.startswith("sharp_soft"))
    assert "+1.5 [-2,+5]" in sharp and "+2.24 [+2.0,+2.4]" in sharp and " 39.2 " in sharp
    assert "-100 [-100,-100]" in next(line for line in lines if line.startswith("consensus@b365"))
    assert [line.split()[1] for line in evidence_text(table, kinds, "season")[3:]] == ["2020", "2012"]


def test_the_backtest_betting_table_fits_with_its_units_in_a_legend():
    rng = np.random.default_rng(3)
    n = 400
    dates = pd.date_range("2015-08-01", periods=n, freq="D")
    probs = rng.dirichlet([4, 3, 3], size=n)
    outcome = np.array([rng.choice(3, p=p) for p in probs])
    predictions = pd.DataFrame(
        {
            "match_id": [f"m{i}" for i in range(n)],
            "date": dates,
            "home_score": 1.0,
            "away_score": 0.0,
            "outcome": outcome,
        }
    )
    prices = pd.DataFrame({"match_id": predictions["match_id"]})
    for j, name in enumerate(("home", "draw", "away")):
        predictions[f"lightgbm_market_{name}"] = probs[:, j]
        prices[f"odds_b365_{name}"] = 1 / np.clip(probs[:, j] * rng.uniform(0.9, 1.1, n), 0.02, 0.98)
        prices[f"odds_pinnacle_close_{name}"] = 1 / probs[:, j]
    results = {
        f"lightgbm_market {p.label}": simulate(predictions, prices, "lightgbm_market", p)
        for p in (BettingPolicy(), BettingPolicy(staking=Staking.KELLY))
    }
    lines = backtest_betting_text(summary_table(results), 100.0)
    assert max(map(len, lines)) <= MAX_WIDTH, max(lines, key=len)
    assert "units of a 100-unit start" in lines[0] and lines[-3].split()[:3] == ["model", "staking", "bets"]
    assert lines[-2].startswith("lightgbm_market flat 1%") and lines[-1].startswith(
        "lightgbm_market 0.25 Kelly"
    )
