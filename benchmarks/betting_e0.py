"""Betting simulation on the E0 walk-forward backtest (a run to read, not a test).

    python benchmarks/betting_e0.py [../shared/data] [/tmp/betting_e0.png]

Ingests E0 into a temporary workspace, backtests Dixon-Coles and the results blend, joins the
stored prices by match_id and bets each model at Bet365's pre-closing prices, flat (1 % of the
starting bankroll) and quarter Kelly, at edges 0.02 and 0.05. The market's row beside them:
de-vigged Pinnacle *pre-closing* probabilities bet at Bet365 (the closing-price benchmark is
not a pre-kick-off forecast, so it is not bet). CLV is against Pinnacle's de-vigged close.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation.betting import (
    BettingPolicy,
    BettingResult,
    Staking,
    bankroll_curve_png,
    simulate,
    summary_table,
)
from scoreline.evaluation.competition import backtest_competition

MODELS = ["dixon_coles", "results_blend"]
MARKET = "market_pinnacle"
POLICIES = [
    BettingPolicy(edge=edge, staking=staking)
    for staking in (Staking.FLAT, Staking.KELLY)
    for edge in (0.02, 0.05)
]


def main(source: str, png: Path) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, source, ["E0"])
        report = backtest_competition(settings, "E0", MODELS)
        prices = MatchStore(settings.store_dir).results("E0")
    predictions = report.result.predictions
    print(
        f"E0: {len(predictions)} predicted matches, seasons {predictions['season'].min()}-"
        f"{predictions['season'].max()}, backtest {time.perf_counter() - started:.0f} s"
    )

    results: dict[str, BettingResult] = {}
    for model in [*MODELS, MARKET]:
        for policy in POLICIES:
            results[f"{model} | {policy.label}"] = simulate(predictions, prices, model, policy, "b365")
    table = summary_table(results)
    columns = [
        "n_bets",
        "staked",
        "pnl",
        "roi",
        "yield",
        "hit_rate",
        "max_drawdown",
        "final_bankroll",
        "mean_clv",
        "share_beating_close",
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table[columns].round(4).to_string())
    print(
        "\nflat 1 % edge 0.02, by outcome backed (price: mean odds taken; per_unit: mean profit "
        "per unit staked, unweighted, unlike the stake-weighted yield above):"
    )
    for result in results.values():
        if result.policy == POLICIES[0]:
            bets = result.bets.assign(profit_per_unit=result.bets["pnl"] / result.bets["stake"])
            by_outcome = bets.groupby("outcome").agg(
                n=("stake", "size"),
                price=("price", "mean"),
                hit_rate=("won", "mean"),
                per_unit=("profit_per_unit", "mean"),
                mean_clv=("clv", "mean"),
            )
            print(f"{result.model}:\n{by_outcome.round(3).to_string()}")
    print("\nforecast scores on the same backtest:")
    print(report.scores.overall[["n", "rps", "log_loss"]].round(4).to_string())
    shown = {name: r for name, r in results.items() if r.policy.edge == 0.02}
    print(f"bankroll curves (edge 0.02): {bankroll_curve_png(shown, png)}")


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data",
        Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/betting_e0.png"),
    )
