"""The same walk-forward on three engines, side by side: serial, a local Dask cluster sized to the
machine, and a ``dask scheduler`` with two ``dask worker`` processes on loopback (what several
machines look like). Prints wall times and whether every engine gave the serial scores exactly.

    python benchmarks/backtest_engines.py ../shared/data [--competition E0] [--from-season 2012]
        [--to-season 2022] [--window week] [--json]

Default: E0 2012/13-2022/23, every default model, weekly windows (the pipeline's backtest).
The prediction cache is off, so every engine fits every model.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.engine import SerialEngine, local_cluster, remote_cluster
from scoreline.evaluation.competition import backtest_competition, default_config


def loopback_cluster(folder: Path, workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    """A ``dask scheduler`` and ``workers`` single-threaded ``dask worker`` processes on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{port}"
    log = (folder / "dask.log").open("w")
    processes = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ]
    for i in range(workers):
        worker = [dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
        processes.append(
            subprocess.Popen(
                [*worker, "--local-directory", str(folder / f"w{i}")], stdout=log, stderr=subprocess.STDOUT
            )
        )
    return address, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="../shared/data")
    parser.add_argument("--competition", default="E0")
    parser.add_argument("--from-season", type=int, default=2012)
    parser.add_argument("--to-season", type=int, default=2022)
    parser.add_argument("--window", default="week", choices=["week", "month"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, args.source)
        base = default_config(competition(args.competition), args.from_season)
        config = replace(base, to_season=args.to_season, window=args.window)
        runs: dict[str, dict] = {}
        reference: pd.DataFrame | None = None

        def run(label: str, engine) -> None:
            nonlocal reference
            started = time.perf_counter()
            report = backtest_competition(
                settings, args.competition, None, config, Path(home) / label, engine, cached=False
            )
            wall = time.perf_counter() - started
            overall = report.scores.overall
            if reference is None:
                reference = report.result.predictions
            runs[label] = {
                "workers": engine.workers,
                "wall_seconds": round(wall, 1),
                "matches": len(report.result.predictions),
                "refits": report.result.n_refits,
                "fit_seconds": {m: round(v, 1) for m, v in report.result.fit_seconds.items()},
                "identical_to_serial": bool(report.result.predictions.equals(reference)),
                "rps": {m: round(float(v), 5) for m, v in overall["rps"].items()} if "rps" in overall else {},
            }
            if not args.json:
                print(f"{label}: {wall:.1f} s on {engine.workers} worker(s)", file=sys.stderr)

        run("serial", SerialEngine())
        with local_cluster() as engine:
            run("local", engine)
        folder = Path(home) / "dask"
        folder.mkdir()
        address, processes = loopback_cluster(folder)
        try:
            with remote_cluster(address) as engine:
                engine.client.wait_for_workers(2, timeout=120)
                run("loopback_2_workers", engine)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    summary = {
        "competition": args.competition,
        "seasons": [args.from_season, args.to_season],
        "window": args.window,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "engines": runs,
    }
    if args.json:
        print(json.dumps(summary))
        return
    for label, row in runs.items():
        print(
            f"{label:>20}: {row['wall_seconds']:7.1f} s, {row['workers']} worker(s), "
            f"{row['matches']} matches, identical to serial: {row['identical_to_serial']}"
        )
    print(f"load average {summary['load_average']} on {summary['cpus']} CPUs (a shared machine: noisy)")


if __name__ == "__main__":
    main()
