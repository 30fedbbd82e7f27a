"""Big batches against small requests: /predict while 10,000-fixture batches run back to back,
our service (big batches answered by its batch processes) beside the plain FastAPI app of
``benchmarks/fastapi_reference.py`` (every batch answered in the worker that took it).

    python benchmarks/batch_load.py [--data ../shared/data] [--workers 2] [--duration 15]
        [--batch 10000] [--big 100000] [--batch-niceness 10] [--json]

Builds the throwaway workspace of ``benchmarks/serve_load.py`` (E0 Dixon-Coles champion in a
BentoML store), starts both servers side by side and, for each in turn:

* *idle*: wrk POSTs distinct /predict requests at 8 connections for ``--duration`` seconds
  (requests/s, p50, p99);
* *batches*: the same while a client posts ``--batch``-fixture /predict_batch requests back to
  back (each over dates it has not seen before, so its features are computed too);
* *big*: one ``--big``-fixture /predict_batch end to end (send to last byte), median of 3 after
  a warm-up.

Printed: each figure, the loaded/idle throughput ratio, and the targets of issue 17 (p99 <= 50 ms
and throughput >= 80 % of idle with batches running; the big batch < 1 s). Other load on the
machine moves every figure: compare the two servers of one run. ``--json`` prints one JSON object
instead (and the progress goes to stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_load  # a sibling script, not a package

CONNECTIONS = 8
BIG_REPEATS = 3


def batch_bodies(teams: list[str], first: str, n: int, stop: threading.Event):
    """``n``-fixture bodies, each over ten dates after ``first`` not used by an earlier body."""
    import pandas as pd

    start = pd.Timestamp(first) + pd.Timedelta(days=7)
    for k in range(1_000_000):
        if stop.is_set():
            return
        days = [(start + pd.Timedelta(days=10 * k + d)).strftime("%Y-%m-%d") for d in range(10)]
        yield serve_load.batch_body(serve_load.fixture_texts(teams, days), n, 10_000_000 + k * n)


def measure(server, script: Path, teams, dates, args, log) -> dict:
    """Idle /predict, /predict with batches back to back, and the big batch, on ``server``."""
    offset = 1_000_000 * (1 + (server.name.startswith("fastapi")))
    serve_load.wrk(server.url, script, CONNECTIONS, 2, offset)  # warm-up
    idle = serve_load.wrk(server.url, script, CONNECTIONS, args.duration, offset + 100_000)
    log(f"  {server.name}: idle {summary(idle)}")
    seconds: list[float] = []
    stop = threading.Event()

    def batches() -> None:
        with httpx.Client(base_url=server.url, timeout=600) as client:
            for body in batch_bodies(teams, dates[-1], args.batch, stop):
                seconds.append(serve_load.post_batch(client, body, args.batch))

    loader = threading.Thread(target=batches)
    loader.start()
    time.sleep(1.0)  # the first batch is under way
    loaded = serve_load.wrk(server.url, script, CONNECTIONS, args.duration, offset + 200_000)
    stop.set()
    loader.join()
    log(
        f"  {server.name}: with {args.batch:,}-fixture batches {summary(loaded)}; "
        f"{len(seconds)} batches, median {statistics.median(seconds):.2f} s"
    )
    every = serve_load.fixture_texts(teams, dates)
    bodies = [
        serve_load.batch_body(every, args.big, 50_000_000 + k * args.big) for k in range(BIG_REPEATS + 1)
    ]
    with httpx.Client(base_url=server.url, timeout=600) as client:
        serve_load.post_batch(client, bodies[0], args.big)
        big = [serve_load.post_batch(client, body, args.big) for body in bodies[1:]]
    log(f"  {server.name}: {args.big:,}-fixture batch {statistics.median(big):.2f} s (runs {fmt(big)})")
    return {
        "idle": idle,
        "with_batches": loaded,
        "rps_ratio": loaded["rps"] / idle["rps"],
        "batches": len(seconds),
        "batch_seconds_median": statistics.median(seconds),
        "big_seconds": statistics.median(big),
        "big_runs": big,
    }


def summary(result: dict) -> str:
    errors = result["status_errors"] + result["socket_errors"]
    return (
        f"{result['rps']:,.0f} requests/s, p50 {result['p50_us'] / 1e3:.1f} ms, "
        f"p99 {result['p99_us'] / 1e3:.1f} ms" + (f", {errors} errors" if errors else "")
    )


def fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def targets(figures: dict) -> list[dict]:
    ours = figures["servers"]["bentoml"]
    p99 = ours["with_batches"]["p99_us"] / 1e3
    return [
        {"target": "/predict p99 <= 50 ms with batches", "value": p99, "met": p99 <= 50},
        {
            "target": "/predict throughput >= 80 % of idle with batches",
            "value": ours["rps_ratio"],
            "met": ours["rps_ratio"] >= 0.8,
        },
        {
            "target": f"{figures['big']:,}-fixture batch < 1 s",
            "value": ours["big_seconds"],
            "met": ours["big_seconds"] < 1,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SCORELINE_TEST_DATA", "../shared/data"))
    parser.add_argument("--model", default="dixon_coles")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    parser.add_argument("--batch", type=int, default=10_000, help="fixtures per background batch")
    parser.add_argument("--big", type=int, default=100_000, help="fixtures of the timed big batch")
    parser.add_argument(
        "--batch-niceness", type=int, help="our batch processes' niceness (default: the service's, 10)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    def log(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    figures: dict = {
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "workers": args.workers,
        "connections": CONNECTIONS,
        "batch": args.batch,
        "big": args.big,
        "batch_niceness": args.batch_niceness,
        "servers": {},
    }
    with tempfile.TemporaryDirectory(prefix="batch_load-") as scratch:
        folder = Path(scratch)
        out = sys.stderr if args.json else sys.stdout
        with contextlib.redirect_stdout(out):
            built = serve_load.build_workspace(folder / "workspace", args.data, args.model)
        bentoml_home, teams, dates = built
        script = serve_load.lua_script(
            folder / "distinct.lua", serve_load.fixture_texts(teams, dates), distinct=True
        )
        log(
            f"{os.cpu_count()} CPUs, load average {fmt(list(os.getloadavg()))}; "
            f"{args.workers} workers, /predict at {CONNECTIONS} connections"
        )
        for server in serve_load.servers(folder, bentoml_home, args.workers, sys.executable):
            if args.batch_niceness is not None:
                server.env["SCORELINE_SERVE_BATCH_NICENESS"] = str(args.batch_niceness)
            try:
                server.start()
                for day in dates:  # the dates' features, as a served fixture list's would be
                    serve_load.cold_date_ms(server, teams, day)
                name = server.name.split(" ")[0]  # bentoml, fastapi
                figures["servers"][name] = measure(server, script, teams, dates, args, log)
            finally:
                server.stop()
    figures["load_average_end"] = os.getloadavg()
    ours, reference = figures["servers"]["bentoml"], figures["servers"]["fastapi"]
    figures["bentoml_vs_fastapi"] = {
        "p99_with_batches": ours["with_batches"]["p99_us"] / reference["with_batches"]["p99_us"],
        "rps_with_batches": ours["with_batches"]["rps"] / reference["with_batches"]["rps"],
        "big_seconds": ours["big_seconds"] / reference["big_seconds"],
    }
    figures["targets"] = targets(figures)
    if args.json:
        print(json.dumps(figures, default=float))
        return
    print(
        "\nside by side (bentoml / fastapi): p99 with batches "
        f"{figures['bentoml_vs_fastapi']['p99_with_batches']:.2f}x, requests/s with batches "
        f"{figures['bentoml_vs_fastapi']['rps_with_batches']:.2f}x, big batch "
        f"{figures['bentoml_vs_fastapi']['big_seconds']:.2f}x"
    )
    print(f"load average at the end: {fmt(list(os.getloadavg()))}")
    print("targets (our service)")
    for line in figures["targets"]:
        print(f"  {'met   ' if line['met'] else 'MISSED'} {line['target']}: {line['value']:.3f}")


if __name__ == "__main__":
    main()
