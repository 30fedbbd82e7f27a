"""A full-season replay of the production loop at the default cadence (a run to read, not a test).

    python benchmarks/replay.py [../shared/data] [E0] [2022]

Ingests the competition into a temporary workspace, then replays the season day by day
(``scoreline replay`` defaults: fixtures 7 days ahead, Elo and Dixon-Coles retrained with the
gate every 7 days, monitoring every 7 days) and prints the wall time per stage, the bets with
money on them and their P/L, ROI, yield, hit rate and CLV, each strategy's bets (staked or on
paper, as the staking gate decided from the seasons before), the promotions and the monitor
alerts. The source folder's price files give every book's pre-closing prices and the gate's
evidence.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.matchday.replay import ReplayConfig, replay

ROOT = Path(__file__).resolve().parents[1]


def main(source: str, code: str, season: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), data_source=source)
        started = time.perf_counter()
        ingest(settings, source, [code])
        ingested = time.perf_counter() - started
        settings.registry_path.mkdir(parents=True)
        (settings.registry_path / "policy.yaml").write_text((ROOT / "registry" / "policy.yaml").read_text())
        result = replay(settings, code, season, ReplayConfig())
    s = result.summary
    print(f"{code} {season}/{(season + 1) % 100:02d} replay, default cadence {s['config']}")
    print(f"ingest of the source: {ingested:.1f} s; replay wall time {s['wall_seconds']:.1f} s")
    for stage, seconds in s["seconds"].items():
        print(f"  {stage:<9} {seconds:8.1f} s  over {s['runs'][stage]} runs")
    print(
        f"days {s['days']} ({s['active_days']} with news), predictions {s['predictions']} "
        f"({s['predicted_matches']} matches)"
    )
    print(
        f"bets {s['n_bets']}, staked {s['staked']:.2f}, P/L {s['pnl']:+.2f}, ROI {s['roi']:+.2%}, "
        f"yield {s['yield']:+.2%}, hit rate {s['hit_rate']:.2%}, mean CLV {s['mean_clv']:+.4f} "
        f"(bankroll {s['starting_bankroll']:.0f} -> {s['bankroll']:.2f})"
    )
    for name, f in s["by_strategy"].items():
        print(
            f"  {name:<12} {'paper ' if f['paper'] else 'STAKED'} bets {f['n_bets']:4d}, staked "
            f"{f['staked']:7.2f}, P/L {f['pnl']:+7.2f}, yield {f['yield']:+.2%}, hit rate "
            f"{f['hit_rate']:.2%}, mean CLV {f['mean_clv']:+.4f} ({f['n_clv']} with a close)"
        )
    print(
        f"promotions {s['promotions_accepted']} accepted, {s['promotions_rejected']} rejected: "
        + ", ".join(
            f"{p['day']} {p['model']} {'ok' if p['promoted'] else 'rejected'}" for p in result.promotions
        )
    )
    print(f"monitor runs {s['monitor_runs']}, alerts {s['monitor_alerts']}")
    kinds = Counter(
        re.sub(r"\d+\.\d+", "#", alert.split(":")[1].split(" on ")[0].split(" by ")[0]).strip()
        for m in result.monitors
        for alert in m["alerts"]
    )
    for kind, n in kinds.most_common():
        print(f"  {n:3d} x {kind}")
    alerted = [m["day"] for m in result.monitors if m["alerts"]]
    if alerted:
        print(f"  first alert {alerted[0]}, last {alerted[-1]}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0] if args else str(ROOT.parent / "shared" / "data"),
        args[1] if len(args) > 1 else "E0",
        int(args[2]) if len(args) > 2 else 2022,
    )
