"""Every betting strategy backtested on the five leagues' prices, 2012/13 onwards, and on the
American files' lines (NBA, college football, NFL) (a run to read).

    python benchmarks/strategies.py [../shared/data] [--json] [--only football|american]

The default policy's strategies (registry/policy.yaml `betting.strategies`) at flat stakes
(1 unit = 1 % of a 100-unit bankroll, daily exposure capped as in the policy): bets, hit rate,
yield and ROI, CLV against Pinnacle's close de-vigged multiplicatively and by Shin, with paired
bootstrap 95 % intervals; pooled, per league and (for sharp_soft) per season; the staking gate's
verdicts; and the wall time of the whole run (reading every file included; target < 2 min).
Model strategies use the newest `scoreline backtest` of each league in the workspace and are
skipped, saying so, without one.

American sports (`betting.american`): model_edge at the NBA moneyline, against the spread for
college football and the NFL; consensus (line shopping against the books' median) where several
books quote a game (college football); pooled and per season, CLV against the closing spread
where the files have an earlier line (and said to be absent where they do not).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

from scoreline.config import Settings
from scoreline.data.prices_american import AMERICAN_CODES
from scoreline.evaluation.strategies_backtest import clv_names
from scoreline.matchday.evidence import FOOTBALL_CODES, american_report, strategy_report
from scoreline.promotion.policy import parse_policy

ROOT = Path(__file__).resolve().parents[1]


def pct(row: dict, name: str) -> str:
    return f"{row[name]:+.2%} [{row[name + '_lo']:+.2%}, {row[name + '_hi']:+.2%}]"


def main(source: str, as_json: bool, only: str | None) -> None:
    started = time.perf_counter()
    policy = parse_policy(yaml.safe_load((ROOT / "registry" / "policy.yaml").read_text()))
    out: dict = {}
    if only in (None, "football"):
        report = strategy_report(Settings(), policy.betting, FOOTBALL_CODES, source)
        out["football"] = report.to_dict()
        if not as_json:
            print_football(report)
    if only in (None, "american"):
        for code in AMERICAN_CODES:
            report = american_report(Settings(), policy.betting, code, source)
            out[code] = report.to_dict()
            if not as_json:
                print_american(report)
    wall = time.perf_counter() - started
    if as_json:
        print(json.dumps({**out, "wall_seconds": round(wall, 1)}, default=str))
        return
    print(f"wall time {wall:.1f} s")


def print_football(report) -> None:
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
    print(f"strategy backtest {report.seconds:.1f} s")


def print_american(report) -> None:
    table = report.evidence.table
    code = report.codes[0]
    print(f"{code}; stakes {report.policy.label.split(' edge')[0]}; pooled, then per season")
    for (strategy, scope), row in table.iterrows():
        clv = [n for n in clv_names(table) if row[f"n_clv_{n}"] > 0]
        print(
            f"  {strategy:<11} {scope:<6} games {int(row['n_matches']):5d} bets {int(row['n_bets']):5d} "
            f"hit {row['hit_rate']:.1%} yield {pct(row, 'yield')} ROI {pct(row, 'roi')} "
            + (
                " ".join(f"CLV {n} {pct(row, f'clv_{n}')} ({int(row[f'n_clv_{n}'])} bets)" for n in clv)
                or "CLV none"
            )
        )
    for name, why in report.evidence.skipped.items():
        print(f"  {name}: skipped ({why})")
    for note in report.notes:
        print(f"  note: {note}")
    print(f"  {report.seconds:.1f} s")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--") and a not in ("football", "american")]
    chosen = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
    main(args[0] if args else str(ROOT.parent / "shared" / "data"), "--json" in sys.argv, chosen)
