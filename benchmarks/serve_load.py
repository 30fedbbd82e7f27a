"""Load benchmark of the prediction service: BentoML against a plain FastAPI app, same champion.

    python benchmarks/serve_load.py [--data ../shared/data] [--model dixon_coles]
        [--duration 15] [--workers 1,2] [--soak-seconds 60] [--sections predict,batch,startup,soak]

Builds a throwaway workspace: ingests E0 from ``--data``, trains ``--model`` with
``tracking.train_and_log``, registers it, makes it the champion and exports it to the workspace's
BentoML store. Then, on loopback:

* ``predict``: for each worker count, our service (``bentoml serve``) and the FastAPI/uvicorn app
  of ``benchmarks/fastapi_reference.py`` (same champion, same request schemas, same forecast and
  prediction store write per request) run side by side; wrk POSTs /predict at 1, 8 and 64
  connections (``-t1``/``-t2``, ``--latency``), alternating between the two servers, in two
  regimes: *repeat* (60 fixtures: 20 pairings of this season's teams on three dates, sent over
  and over) and *distinct* (every request one never sent before: the 1,140 pairings of all 20
  teams on three dates cycle, and a home price unique to the request makes each answer new;
  the three dates are seen once before the run, so their features and model outputs are
  cached, as a served fixture list's would be). Printed: requests/s, p50, p99, and
  BentoML/FastAPI ratios; and the latency of the first fixture on a new date (a feature
  computation).
* ``batch``: /predict_batch of 10,000 and 100,000 fixtures (distinct, over three dates), median
  of 5 after one warm-up, end to end with httpx (request bytes encoded beforehand; the time
  runs from sending to the last byte of the answer).
* ``startup``: seconds from process start to a 200 on /readyz, median of 3.
* ``soak``: RSS of every process of the 2-worker service two seconds after ``--soak-seconds``
  of distinct /predict load at 8 connections plus back-to-back 10,000-fixture batches, each over
  ten dates not seen before (so the feature and forecast caches fill up to their bounds).

The last lines hold the figures against the issue's targets.

Needs ``wrk`` on the PATH (``apt-get install wrk``). Servers are stopped through their process
tree (psutil), never by name. Other load on the machine moves the figures: compare the two
servers of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

BENCHMARKS = Path(__file__).resolve().parent
CODE = "E0"
DATES = 3
REPEAT_PAIRS = 20
BATCH_SIZES = (10_000, 100_000)
BATCH_REPEATS = 5


# --------------------------------------------------------------------------- the workspace


def build_workspace(folder: Path, data: str, model: str) -> tuple[Path, list[str], list[str]]:
    """A workspace whose BentoML store holds the E0 champion; returns the BentoML home, this
    season's teams and three fixture dates after the history."""
    import mlflow
    import pandas as pd

    from scoreline.config import Settings
    from scoreline.data.ingest import ingest
    from scoreline.data.store import MatchStore
    from scoreline.promotion import register_model, set_champion
    from scoreline.serving.package import export_champions
    from scoreline.tracking import train_and_log

    for name in [n for n in os.environ if n.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))]:
        del os.environ[name]
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    settings = Settings(home=folder)
    started = time.perf_counter()
    ingest(settings, data, [CODE])
    logged = train_and_log(settings, CODE, model)
    version = register_model(settings, CODE, logged["model_uri"], {"model_name": model})
    set_champion(settings, CODE, version.version, "serve_load benchmark")
    mlflow.set_tracking_uri(None)
    export_champions(settings)
    results = MatchStore(settings.store_dir).results(CODE)
    latest = results.loc[results["season"] == results["season"].max()]
    teams = sorted(set(latest["home_team"]) | set(latest["away_team"]))
    last = pd.Timestamp(results["date"].max())
    dates = [(last + pd.Timedelta(days=7 * (k + 1))).strftime("%Y-%m-%d") for k in range(DATES)]
    print(
        f"workspace: {CODE} {model} trained on {logged['matches']} matches, champion exported "
        f"({time.perf_counter() - started:.0f} s); {len(teams)} teams, fixture dates {', '.join(dates)}"
    )
    return settings.bentoml_home, teams, dates


def fixture_texts(teams: list[str], dates: list[str]) -> list[str]:
    """Every ordered pairing of ``teams`` on each date, as JSON objects without the closing brace
    (the wrk script appends prices)."""
    pairs = [(h, a) for h in teams for a in teams if h != a]
    return [
        json.dumps({"competition": CODE, "home_team": h, "away_team": a, "date": d})[:-1]
        for d in dates
        for h, a in pairs
    ]


def lua_script(path: Path, fixtures: list[str], distinct: bool) -> Path:
    """A wrk script POSTing ``fixtures`` round-robin (each thread its own stride); ``distinct``
    adds a home price unique to the request (offset by the run's first argument)."""
    items = ",\n".join(json.dumps(f) for f in fixtures)
    suffix = 'string.format(\',"prices":{"home":%.5f}}\', 2 + (offset + n) * 1e-5)' if distinct else '"}"'
    path.write_text(f"""
local fixtures = {{
{items}
}}
local created, threads = 0, {{}}
function setup(thread)
  thread:set("tid", created)
  created = created + 1
  table.insert(threads, thread)
end
function init(args)
  offset = tonumber(args[1] or "0")
  counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local n = counter * 4 + tid
  counter = counter + 1
  return wrk.format(nil, nil, nil, fixtures[(n % #fixtures) + 1] .. {suffix})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {{"requests":%d,"duration_us":%d,"status_errors":%d,' ..
    '"socket_errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}}\\n', summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
""")
    return path


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A server process (and its workers) on a free loopback port."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> float:
        """Start and wait for /readyz; returns the seconds to ready."""
        started = time.perf_counter()
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.log.parent,
            )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}; "
                    f"see {self.log}:\n{self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s; see {self.log}")

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def stop(self) -> None:
        """SIGTERM to the server and every worker (each may have a process group of its own);
        whatever outlives 20 s is killed."""
        if self.process is None or self.process.poll() is not None:
            return
        members = self.tree()
        for member in members:
            try:
                member.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(members, timeout=20)
        for member in alive:
            member.kill()
        self.process.wait(timeout=20)

    def rss_mb(self) -> list[tuple[str, float]]:
        """(role, MB) per process: the root (arbiter or supervisor), then its children."""
        out = []
        for i, member in enumerate(self.tree()):
            try:
                rss = member.memory_info().rss / 2**20
                line = " ".join(member.cmdline())
            except psutil.NoSuchProcess:
                continue
            role = (
                "root"
                if i == 0
                else (
                    "worker"
                    if any(w in line for w in ("_bentoml_impl.worker", "multiprocessing", "uvicorn"))
                    else "child"
                )
            )
            out.append((role, rss))
        return out


def servers(folder: Path, bentoml_home: Path, workers: int, python: str) -> tuple[Server, Server]:
    """Our service and the FastAPI reference with ``workers`` workers, each with its own
    prediction store."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))}
    base.update(
        {
            "BENTOML_HOME": str(bentoml_home),
            "BENTOML_DO_NOT_TRACK": "true",
            "SCORELINE_SERVE_WORKERS": str(workers),
            "SCORELINE_SERVE_COMPETITIONS": CODE,
        }
    )
    made = []
    for name, command in (
        (
            "bentoml",
            [python, "-m", "bentoml", "serve", "scoreline.serving.service:Scoreline", "--host", "127.0.0.1"],
        ),
        ("fastapi", [python, str(BENCHMARKS / "fastapi_reference.py"), "--workers", str(workers)]),
    ):
        home = folder / f"{name}-{workers}w"
        home.mkdir(exist_ok=True)
        env = {
            **base,
            "SCORELINE_HOME": str(home),
            "SCORELINE_PREDICTION_STORE_URL": f"sqlite:///{home / 'predictions.db'}",
        }
        made.append(
            Server(
                f"{name} ({workers} worker{'s' if workers > 1 else ''})", command, env, home / "server.log"
            )
        )
    return made[0], made[1]


# --------------------------------------------------------------------------- measurements


def wrk(url: str, script: Path, connections: int, seconds: float, offset: int) -> dict:
    threads = 1 if connections == 1 else 2
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"{url}/predict",
            "--",
            str(offset),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    line = next((row for row in done.stdout.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def cold_date_ms(server: Server, teams: list[str], day: str) -> float:
    started = time.perf_counter()
    answer = httpx.post(
        f"{server.url}/predict",
        timeout=120,
        json={"competition": CODE, "home_team": teams[0], "away_team": teams[1], "date": day},
    )
    answer.raise_for_status()
    return (time.perf_counter() - started) * 1e3


def batch_body(fixtures: list[str], n: int, offset: int) -> bytes:
    rows = [
        f'{fixtures[i % len(fixtures)]},"prices":{{"home":{2 + (offset + i) * 1e-5:.5f}}}}}' for i in range(n)
    ]
    return ('{"fixtures":[' + ",".join(rows) + "]}").encode()


def post_batch(client: httpx.Client, body: bytes, n: int) -> float:
    started = time.perf_counter()
    answer = client.post("/predict_batch", content=body, headers={"content-type": "application/json"})
    seconds = time.perf_counter() - started
    if answer.status_code != 200:
        raise RuntimeError(f"/predict_batch of {n}: {answer.status_code} {answer.text[:300]}")
    return seconds


def ms(us: float) -> str:
    return f"{us / 1e3:8.2f}"


def predict_section(folder, bentoml_home, teams, dates, args, python) -> list[dict]:
    every = fixture_texts(teams, dates)
    repeat = fixture_texts(teams[:5], dates)[: REPEAT_PAIRS * DATES]
    scripts = {
        "repeat": lua_script(folder / "repeat.lua", repeat, distinct=False),
        "distinct": lua_script(folder / "distinct.lua", every, distinct=True),
    }
    rows, offset = [], 0
    print(f"\n/predict, wrk {args.duration:.0f} s per cell; latencies in ms")
    print(
        f"{'workers':>7} {'regime':<9} {'conns':>5} | {'bentoml rps':>11} {'p50':>8} {'p99':>8} | "
        f"{'fastapi rps':>11} {'p50':>8} {'p99':>8} | {'rps ratio':>9} {'p50 ratio':>9} {'p99 ratio':>9}"
    )
    for workers in args.workers:
        ours, reference = servers(folder, bentoml_home, workers, python)
        try:
            for server in (ours, reference):
                server.start()
            cold = {
                s.name: statistics.median(cold_date_ms(s, teams, d) for d in dates) for s in (ours, reference)
            }
            for server in (ours, reference):  # warm-up: connections, both regimes' code paths
                for script in scripts.values():
                    offset += 1_000_000
                    wrk(server.url, script, 8, 2, offset)
            for regime, script in scripts.items():
                for connections in args.connections:
                    got = {}
                    for server in (ours, reference):
                        offset += 1_000_000
                        got[server.name] = wrk(server.url, script, connections, args.duration, offset)
                    a, b = got[ours.name], got[reference.name]
                    bad = {
                        name: r["status_errors"] + r["socket_errors"]
                        for name, r in got.items()
                        if r["status_errors"] + r["socket_errors"]
                    }
                    print(
                        f"{workers:>7} {regime:<9} {connections:>5} | {a['rps']:>11,.0f} "
                        f"{ms(a['p50_us'])} {ms(a['p99_us'])} | {b['rps']:>11,.0f} "
                        f"{ms(b['p50_us'])} {ms(b['p99_us'])} | {a['rps'] / b['rps']:>9.2f} "
                        f"{a['p50_us'] / b['p50_us']:>9.2f} {a['p99_us'] / b['p99_us']:>9.2f}"
                        + (f"  errors: {bad}" if bad else ""),
                        flush=True,
                    )
                    rows.append(
                        {
                            "workers": workers,
                            "regime": regime,
                            "connections": connections,
                            "bentoml": a,
                            "fastapi": b,
                        }
                    )
            print(
                f"{'':>7} first fixture on a new date (median of {DATES}): "
                + ", ".join(f"{name} {value:.0f} ms" for name, value in cold.items())
            )
        finally:
            for server in (ours, reference):
                server.stop()
    return rows


def batch_section(folder, bentoml_home, teams, dates, args, python) -> dict:
    every = fixture_texts(teams, dates)
    ours, reference = servers(folder, bentoml_home, 1, python)
    figures: dict = {}
    print(
        f"\n/predict_batch, 1 worker, distinct fixtures over {DATES} dates, seconds end to end "
        f"(median of {BATCH_REPEATS} after a warm-up)"
    )
    try:
        for server in (ours, reference):
            server.start()
            with httpx.Client(base_url=server.url, timeout=300) as client:
                for n in BATCH_SIZES:
                    offset = 50_000_000 if server is ours else 70_000_000
                    bodies = [batch_body(every, n, offset + k * n) for k in range(BATCH_REPEATS + 1)]
                    post_batch(client, bodies[0], n)
                    times = [post_batch(client, body, n) for body in bodies[1:]]
                    figures[(server.name, n)] = statistics.median(times)
                    print(
                        f"  {server.name:<20} {n:>7,} fixtures: {statistics.median(times):6.3f} s "
                        f"(min {min(times):.3f}, max {max(times):.3f}; request "
                        f"{len(bodies[1]) / 2**20:.1f} MB)",
                        flush=True,
                    )
            print(
                f"  {server.name:<20} RSS after batches: "
                + ", ".join(f"{role} {mb:.0f} MB" for role, mb in server.rss_mb())
            )
    finally:
        for server in (ours, reference):
            server.stop()
    return {f"{name} {n}": seconds for (name, n), seconds in figures.items()}


def startup_section(folder, bentoml_home, args, python) -> dict:
    figures = {}
    print("\nstart-up to /readyz, 1 worker (median of 3)")
    for index in range(2):
        times = []
        for _ in range(3):
            server = servers(folder, bentoml_home, 1, python)[index]
            try:
                times.append(server.start())
                rss = server.rss_mb()
            finally:
                server.stop()
        figures[server.name] = statistics.median(times)
        print(
            f"  {server.name:<20} {statistics.median(times):5.2f} s "
            f"(runs: {', '.join(f'{t:.2f}' for t in times)}); RSS at ready: "
            + ", ".join(f"{role} {mb:.0f} MB" for role, mb in rss),
            flush=True,
        )
    return figures


def soak_section(folder, bentoml_home, teams, dates, args, python) -> dict:
    import pandas as pd

    every = fixture_texts(teams, dates)
    script = lua_script(folder / "soak.lua", every, distinct=True)
    ours = servers(folder, bentoml_home, 2, python)[0]
    batches, stop = [], threading.Event()

    def batch_load() -> None:
        first = pd.Timestamp(dates[-1]) + pd.Timedelta(days=7)
        with httpx.Client(base_url=ours.url, timeout=300) as client:
            for k in range(10_000):
                if stop.is_set():
                    return
                days = [(first + pd.Timedelta(days=10 * k + d)).strftime("%Y-%m-%d") for d in range(10)]
                body = batch_body(fixture_texts(teams, days), 10_000, 90_000_000 + k * 10_000)
                batches.append(post_batch(client, body, 10_000))

    print(
        f"\nsoak: {ours.name}, {args.soak_seconds:.0f} s of distinct /predict at 8 connections "
        "plus back-to-back 10,000-fixture batches over 10 new dates each"
    )
    try:
        ours.start()
        at_ready = ours.rss_mb()
        loader = threading.Thread(target=batch_load)
        loader.start()
        load = wrk(ours.url, script, 8, args.soak_seconds, 95_000_000)
        stop.set()
        loader.join()
        time.sleep(2)  # the last answer's clean-up (the service trims the heap after a batch)
        after = ours.rss_mb()
    finally:
        stop.set()
        ours.stop()
    print(
        f"  /predict: {load['rps']:,.0f} requests/s, p50 {load['p50_us'] / 1e3:.2f} ms, "
        f"p99 {load['p99_us'] / 1e3:.2f} ms, errors {load['status_errors'] + load['socket_errors']}; "
        f"{len(batches)} batches, median {statistics.median(batches):.2f} s"
        if batches
        else ""
    )
    for label, rss in (("at ready", at_ready), ("after soak", after)):
        print(f"  RSS {label}: " + ", ".join(f"{role} {mb:.0f} MB" for role, mb in rss))
    workers = [mb for role, mb in after if role == "worker"]
    return {
        "rss_after_mb": after,
        "max_worker_mb": max(workers) if workers else None,
        "predict": load,
        "batches": len(batches),
    }


def check_targets(figures: dict) -> None:
    """The issue's targets, met or missed, from the figures measured."""
    lines = []
    for row in figures.get("predict", []):
        ours, ref, c, w = row["bentoml"], row["fastapi"], row["connections"], row["workers"]
        where = f"{w} worker{'s' if w > 1 else ''}, {row['regime']}"
        if c == 8:
            lines.append(
                (f">= 1,000 requests/s at 8 clients ({where})", ours["rps"] >= 1000, f"{ours['rps']:,.0f}")
            )
            lines.append(
                (
                    f"p50 <= 5 ms at 8 clients ({where})",
                    ours["p50_us"] <= 5000,
                    f"{ours['p50_us'] / 1e3:.2f} ms",
                )
            )
        if c == 64:
            lines.append(
                (
                    f"p99 <= 100 ms at 64 clients ({where})",
                    ours["p99_us"] <= 100_000,
                    f"{ours['p99_us'] / 1e3:.1f} ms",
                )
            )
        if c == 1:
            lines.append(
                (
                    f"p50 at 1 client <= 2x FastAPI's ({where})",
                    ours["p50_us"] <= 2 * ref["p50_us"],
                    f"{ours['p50_us'] / ref['p50_us']:.2f}x",
                )
            )
    for size, limit in zip(BATCH_SIZES, (0.25, 2.5)):
        for name, seconds in figures.get("batch", {}).items():
            if name.startswith("bentoml") and name.endswith(f" {size}"):
                lines.append(
                    (f"/predict_batch of {size:,} <= {limit} s", seconds <= limit, f"{seconds:.3f} s")
                )
    for name, seconds in figures.get("startup", {}).items():
        if name.startswith("bentoml"):
            lines.append(("start-up <= 5 s to ready", seconds <= 5, f"{seconds:.2f} s"))
    if figures.get("soak", {}).get("max_worker_mb") is not None:
        mb = figures["soak"]["max_worker_mb"]
        lines.append(("RSS <= 400 MB per worker after the soak", mb <= 400, f"{mb:.0f} MB"))
    if lines:
        print("\ntargets (our service)")
        for text, met, value in lines:
            print(f"  {'met   ' if met else 'MISSED'} {text}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SCORELINE_TEST_DATA", "../shared/data"))
    parser.add_argument("--model", default="dixon_coles")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk cell")
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--soak-seconds", type=float, default=60.0)
    parser.add_argument("--sections", default="predict,batch,startup,soak")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    args.workers = [int(w) for w in args.workers.split(",")]
    sections = set(args.sections.split(","))
    if shutil.which("wrk") is None and sections & {"predict", "soak"}:
        sys.exit(
            "wrk is not installed: `apt-get install wrk` (Debian/Ubuntu) or "
            "`brew install wrk`, then run this again (or --sections batch,startup)"
        )
    print(f"{os.cpu_count()} CPUs, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="serve_load-") as scratch:
        folder = Path(scratch)
        bentoml_home, teams, dates = build_workspace(folder / "workspace", args.data, args.model)
        python = sys.executable
        if "startup" in sections:
            figures["startup"] = startup_section(folder, bentoml_home, args, python)
        if "predict" in sections:
            figures["predict"] = predict_section(folder, bentoml_home, teams, dates, args, python)
        if "batch" in sections:
            figures["batch"] = batch_section(folder, bentoml_home, teams, dates, args, python)
        if "soak" in sections:
            figures["soak"] = soak_section(folder, bentoml_home, teams, dates, args, python)
    check_targets(figures)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
