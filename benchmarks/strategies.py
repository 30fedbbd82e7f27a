"""Every betting strategy backtested on the five leagues' prices, 2012/13 onwards (a run to read).

    python benchmarks/strategies.py [../shared/data] [--json]

The default policy's strategies (registry/policy.yaml `betting.strategies`) at flat stakes
(1 unit = 1 % of a 100-unit bankroll, daily exposure capped as in the policy): bets, hit rate,
yield and ROI, CLV against Pinnacle's close de-vigged multiplicatively and by Shin, with paired
bootstrap 95 % intervals; pooled, per league and (for sharp_soft) per season; the staking gate's
verdicts; and the wall time of the whole run (reading every file included; target < 2 min).
Model strategies use the newest `scoreline backtest` of each league in the workspace and are
skipped, saying so, without one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from scoreline.config import Settings
from scoreline.matchday.evidence import FOOTBALL_CODES, strategy_report
from scoreline.promotion.policy import parse_policy

ROOT = Path(__file__).resolve().parents[1]


def pct(row: dict, name: str) -> str:
    return f"{row[name]:+.2%} [{row[name + '_lo']:+.2%}, {row[name + '_hi']:+.2%}]"


def main(source: str, as_json: bool) -> None:
    started = time.perf_counter()
    policy = parse_policy(yaml.safe_load((ROOT / "registry" / "policy.yaml").read_text()))
    report = strategy_report(Settings(), policy.betting, FOOTBALL_CODES, source)
    wall = time.perf_counter() - started
    if as_json:
        print(json.dumps({**report.to_dict(), "wall_seconds": round(wall, 1)}, default=str))
        return
    table = report.evidence.table
    print(f"{', '.join(FOOTBALL_CODES)} 2012/13 onwards; stakes {report.policy.label.split(' edge')[0]}")
    for (strategy, scope), row in table.iterrows():
        if scope != "pooled" and not (strategy == "sharp_soft" or scope in FOOTBALL_CODES):
            continue
        print(
            f"  {strategy:<15} {scope:<6} matches {int(row['n_matches']):5d} bets {int(row['n_bets']):5d} "
            f"hit {row['hit_rate']:.1%} yield {pct(row, 'yield')} ROI {row['roi']:+.1%} "
            f"drawdown {row['max_drawdown']:.1%} CLV mult {pct(row, 'clv_multiplicative')} "
            f"Shin {pct(row, 'clv_shin')}"
        )
    for name, why in report.evidence.skipped.items():
        print(f"  {name}: skipped ({why})")
    for name, v in report.verdicts.items():
        print(f"gate {name}: {'STAKE' if v.staked else 'paper'} ({v.reason}; seasons {list(v.seasons)})")
    print(f"wall time {wall:.1f} s (strategy backtest {report.seconds:.1f} s)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--json"]
    main(args[0] if args else str(ROOT.parent / "shared" / "data"), "--json" in sys.argv)
