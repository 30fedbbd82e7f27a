"""Benchmark of the live loop: a real night pushed to 500 browsers, and a whole season at full speed.

    python benchmarks/live_replay.py [--data ../shared/data] [--date 2022-11-25] [--speed 60]
        [--subscribers 500] [--season 2023] [--model registry|test] [--sections night,season]

Builds a throwaway workspace: ingests NBA (with ``nba_pbp/``) from ``--data``, trains an Elo
pre-game champion and exports it with the in-game champion to the workspace's BentoML store.
``--model fit`` (default) fits part A's in-game forecaster (state model and pattern
ensemble, ``evaluation.ingame.fit_forecaster``) on the seasons before the replayed ones;
``--model registry`` takes the champion from the registry (``scoreline-NBA-ingame@champion``);
``--model test`` the tests' Brownian-motion model (``tests/ingame.py``). Then, on loopback:

* ``night``: ``bentoml serve`` of the service (one worker per core). First *idle*: pre-game
  ``POST /predict`` at a fixed ``--rate`` for ``--predict-seconds``, nothing else running. Then
  ``--subscribers`` clients connect to ``GET /live/stream`` (raw sockets in ``--client-procs``
  processes, so the clients cost little CPU), and the night is replayed at ``--speed`` through
  the whole loop (feed -> bus -> in-game model -> prediction store -> service -> SSE) while the
  same /predict load runs again. Printed: event-to-subscriber latency p50/p99 over every
  (event, subscriber) pair (the feed's publication time to the client's read), events lost or
  duplicated or out of order per subscriber, and /predict p50/p99 idle vs during the replay
  (their ratio, target <= 2x).
* ``season``: every scoring event of ``--season`` replayed at maximum speed through feed -> bus
  -> model -> prediction store (SQLite in the workspace), with the in-process bus and, if
  ``redis-server`` is on the PATH, Redis Streams (a throwaway server on loopback), side by side.
  Printed: events per second through the loop.

The last lines hold the figures against the issue's targets. Other load on the machine moves the
figures: compare the parts of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CODE = "NBA"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ingame_model(kind: str, settings, through: int):
    """The in-game model: the registry's champion, one fitted here on the seasons up to
    ``through`` (part A's forecaster, as ``scoreline.promotion.ingame.train_ingame`` fits it,
    without its walk-forward evaluation), or the tests' Brownian model."""
    if kind == "registry":
        from scoreline.live.champion import ingame_champion

        return ingame_champion(settings, CODE)
    if kind == "fit":
        from scoreline.data.ingame import load_ingame
        from scoreline.data.store import MatchStore
        from scoreline.evaluation.ingame import fit_forecaster, ingame_data

        started = time.perf_counter()
        data = ingame_data(load_ingame(MatchStore(settings.store_dir)), seasons=range(2000, through + 1))
        forecaster = fit_forecaster(data)
        forecaster.model_name, forecaster.version = "ingame_ensemble", f"fitted-through-{through}"
        print(
            f"in-game forecaster fitted on seasons to {through} in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        return forecaster
    sys.path.insert(0, str(ROOT / "tests"))
    import cloudpickle

    import ingame

    cloudpickle.register_pickle_by_value(ingame)
    return ingame.BrownianModel(version="test")


def build_workspace(folder: Path, data: str, kind: str, through: int):
    """Settings of a workspace with the NBA champions exported; the in-game model."""
    import mlflow

    from scoreline.config import Settings
    from scoreline.data.ingest import ingest
    from scoreline.promotion import register_model, set_champion
    from scoreline.serving.package import export_champions, export_ingame_model
    from scoreline.tracking import train_and_log

    for name in [n for n in os.environ if n.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))]:
        del os.environ[name]
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    settings = Settings(home=folder)
    started = time.perf_counter()
    ingest(settings, data, [CODE])
    logged = train_and_log(settings, CODE, "elo")
    version = register_model(settings, CODE, logged["model_uri"], {"model_name": "elo"})
    set_champion(settings, CODE, version.version, "live_replay benchmark")
    model = ingame_model(kind, settings, through)
    mlflow.set_tracking_uri(None)
    export_champions(settings, [CODE])
    export_ingame_model(settings, CODE, model)
    print(
        f"workspace: NBA ingested, elo champion and in-game model {model.model_name} v{model.version} "
        f"exported ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return settings, model


class Service:
    """``bentoml serve`` of the service in the workspace (stopped through its process tree)."""

    def __init__(self, settings, workers: int, poll_s: float) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCORELINE_", "MLFLOW_", "BENTOML_"))}
        env |= {
            "BENTOML_HOME": str(settings.bentoml_home),
            "BENTOML_DO_NOT_TRACK": "true",
            "SCORELINE_HOME": str(settings.home),
            "SCORELINE_SERVE_WORKERS": str(workers),
            "SCORELINE_PREDICTION_STORE_URL": settings.prediction_store,
            "SCORELINE_LIVE_POLL_S": str(poll_s),
        }
        self.log = (settings.home / "service.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "scoreline.serving.service:Scoreline", "--host",
             "127.0.0.1", "--port", str(self.port)],
            cwd=settings.home, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited: see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the service was not ready in 180 s")

    def stop(self) -> None:
        import psutil

        tree = [psutil.Process(self.process.pid), *psutil.Process(self.process.pid).children(recursive=True)]
        for member in tree:
            member.terminate()
        _, alive = psutil.wait_procs(tree, timeout=20)
        for member in alive:
            member.kill()


# -- SSE subscribers: raw sockets, one asyncio loop per process ----------------------------------
async def _subscribe(port: int, start_id: int, expected: int, deadline: float, out: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /live/stream?competition=NBA HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"Last-Event-ID: {start_id}\r\n\r\n".encode()
    )
    await writer.drain()
    ids: list[int] = []
    latencies: list[float] = []
    buffer = b""
    headers_done = False
    try:
        while len(ids) < expected and time.time() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), timeout=max(deadline - time.time(), 0.1))
            now = time.time()
            if not chunk:
                break
            buffer += chunk
            if not headers_done:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    continue
                buffer, headers_done = buffer[end + 4 :], True
            # chunked transfer: sizes are on lines of their own; events are found by their fields
            while True:
                at = buffer.find(b"id: ")
                if at < 0:
                    break
                end = buffer.find(b"\n\n", at)
                if end < 0:
                    buffer = buffer[at:]
                    break
                event = buffer[at:end]
                buffer = buffer[end + 2 :]
                ids.append(int(event[4 : event.index(b"\n")]))
                mark = event.index(b'"emitted_at": ') + 14
                latencies.append(now - float(event[mark : event.index(b",", mark)]))
    except TimeoutError:
        pass
    finally:
        writer.close()
    out.append((ids, latencies))


def _client_process(
    port: int, count: int, start_id: int, expected: int, seconds: float, ready, results
) -> None:
    async def run() -> list:
        out: list = []
        deadline = time.time() + seconds
        tasks = [
            asyncio.create_task(_subscribe(port, start_id, expected, deadline, out)) for _ in range(count)
        ]
        await asyncio.sleep(2.0)
        ready.set()
        await asyncio.gather(*tasks)
        return out

    for ids, latencies in asyncio.run(run()):
        results.put((ids, np.asarray(latencies, dtype=np.float32).tobytes()))


def predict_load(url: str, rate: float, seconds: float, teams: list[str]) -> list[float]:
    """Pre-game POST /predict at a fixed rate (one request at a time); each latency in ms."""
    import httpx

    latencies = []
    pairs = [(h, a) for h in teams for a in teams if h != a]
    with httpx.Client(base_url=url, timeout=30) as client:
        start = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - start) < seconds:
            wait = n / rate - elapsed
            if wait > 0:
                time.sleep(wait)
            home, away = pairs[n % len(pairs)]
            sent = time.perf_counter()
            answer = client.post("/predict", json={"competition": CODE, "home_team": home, "away_team": away})
            latencies.append((time.perf_counter() - sent) * 1000)
            assert answer.status_code == 200, answer.text
            n += 1
    return latencies


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def night_section(settings, model, args) -> dict:
    from scoreline.live.bus import MemoryBus
    from scoreline.live.feed import ReplayFeed
    from scoreline.live.loop import Predictor, run_replay
    from scoreline.live.replay import replay_events
    from scoreline.predictions.store import PredictionStore

    events = replay_events(settings, CODE, dt.date.fromisoformat(args.date), None)
    teams = sorted(set(events["home_team"]) | set(events["away_team"]))
    service = Service(settings, args.workers, args.poll)
    try:
        import httpx

        for home, away in itertools.pairwise(teams):  # warm the answer path
            httpx.post(
                f"{service.url}/predict", json={"competition": CODE, "home_team": home, "away_team": away}
            )
        idle = predict_load(service.url, args.rate, args.predict_seconds, teams)
        print(
            f"idle /predict: {len(idle)} requests, p50 {pct(idle, 50):.1f} ms, p99 {pct(idle, 99):.1f} ms",
            flush=True,
        )

        store = PredictionStore(settings.prediction_store)
        start_id = store.last_live_id()
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        per_proc = [args.subscribers // args.client_procs + (i < args.subscribers % args.client_procs)
                    for i in range(args.client_procs)]  # fmt: skip
        seconds = 2880 / args.speed + 120
        readies = [ctx.Event() for _ in per_proc]
        clients = [
            ctx.Process(
                target=_client_process, args=(service.port, n, start_id, len(events), seconds, ready, results)
            )
            for n, ready in zip(per_proc, readies)
        ]
        for client in clients:
            client.start()
        for ready in readies:
            ready.wait(60)
        time.sleep(1.0)
        connected = httpx.get(f"{service.url}/metrics").text
        subscribers = sum(
            float(line.rsplit(" ", 1)[1])
            for line in connected.splitlines()
            if line.startswith("scoreline_live_subscribers")
        )
        print(f"{subscribers:.0f} subscribers connected", flush=True)

        import psutil

        def cpu_seconds(pids: list[int]) -> float:
            total = 0.0
            for pid in pids:
                try:
                    times = psutil.Process(pid).cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return total

        server = psutil.Process(service.process.pid)
        service_pids = [server.pid, *(p.pid for p in server.children(recursive=True))]
        client_pids = [c.pid for c in clients]
        cpu_before = (cpu_seconds(service_pids), cpu_seconds(client_pids), cpu_seconds([os.getpid()]))
        busy: list[float] = []
        loader = threading.Thread(
            target=lambda: busy.extend(predict_load(service.url, args.rate, args.predict_seconds, teams))
        )
        bus = MemoryBus()
        loader.start()
        figures = run_replay(
            ReplayFeed(events, speed=args.speed), bus, Predictor(model, store, bus), len(events)
        )
        loader.join()
        cpu_after = (cpu_seconds(service_pids), cpu_seconds(client_pids), cpu_seconds([os.getpid()]))
        got = [results.get(timeout=seconds + 60) for _ in range(args.subscribers)]
        for client in clients:
            client.join(30)
        store.close()
    finally:
        service.stop()
    expected = list(range(start_id + 1, start_id + 1 + len(events)))
    complete = sum(ids == expected for ids, _ in got)
    lost = sum(len(set(expected) - set(ids)) for ids, _ in got)
    duplicated = sum(len(ids) - len(set(ids)) for ids, _ in got)
    latencies = np.concatenate([np.frombuffer(raw, dtype=np.float32) for _, raw in got]) * 1000
    out = {
        "date": args.date,
        "games": int(events["game_id"].nunique()),
        "events": len(events),
        "speed": args.speed,
        "poll_s": args.poll,
        "workers": args.workers,
        "replay_seconds": round(figures.seconds, 1),
        "subscribers": args.subscribers,
        "subscribers_connected": int(subscribers),
        "subscribers_complete_in_order": complete,
        "events_lost": lost,
        "events_duplicated": duplicated,
        "deliveries": int(latencies.size),
        "latency_ms_p50": round(pct(latencies, 50), 1),
        "latency_ms_p99": round(pct(latencies, 99), 1),
        "latency_ms_max": round(float(latencies.max()) if latencies.size else float("nan"), 1),
        "store_latency_ms_p50": figures.summary()["store_latency_ms_p50"],
        "store_latency_ms_p99": figures.summary()["store_latency_ms_p99"],
        "predict_idle_ms_p50": round(pct(idle, 50), 2),
        "predict_idle_ms_p99": round(pct(idle, 99), 2),
        "predict_replay_ms_p50": round(pct(busy, 50), 2),
        "predict_replay_ms_p99": round(pct(busy, 99), 2),
        "predict_requests": [len(idle), len(busy)],
        # CPU seconds used during the replay (and its /predict load), per process group
        "cpu_s_service": round(cpu_after[0] - cpu_before[0], 1),
        "cpu_s_subscribers": round(cpu_after[1] - cpu_before[1], 1),
        "cpu_s_feed_predictor_and_predict_load": round(cpu_after[2] - cpu_before[2], 1),
    }
    out["predict_p99_ratio"] = round(out["predict_replay_ms_p99"] / out["predict_idle_ms_p99"], 2)
    return out


def season_section(settings, model, args) -> dict:
    from scoreline.live.bus import MemoryBus, RedisBus
    from scoreline.live.feed import ReplayFeed
    from scoreline.live.loop import Predictor, run_replay
    from scoreline.live.replay import replay_events
    from scoreline.predictions.store import PredictionStore

    events = replay_events(settings, CODE, None, args.season)
    out = {"season": args.season, "games": int(events["game_id"].nunique()), "events_in_season": len(events)}
    if args.season_games:  # the season's first games (by date), for a model too slow for all
        first = events.drop_duplicates("game_id").sort_values(["date", "game_id"])["game_id"][
            : args.season_games
        ]
        events = events[events["game_id"].isin(set(first))]
    out |= {"games_replayed": int(events["game_id"].nunique()), "events": len(events)}
    buses = [("memory", MemoryBus, None)] if "memory" in args.buses else []
    server = None
    if "redis" in args.buses and shutil.which("redis-server"):
        port = free_port()
        folder = tempfile.mkdtemp(prefix="redis-", dir=settings.home)
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", folder],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        buses.append(("redis", RedisBus, f"redis://127.0.0.1:{port}/0"))
    try:
        for name, kind, url in buses:
            store = PredictionStore(f"sqlite:///{settings.home / f'season-{name}.db'}")
            bus = kind(url) if url else kind()
            figures = run_replay(ReplayFeed(events, speed=0), bus, Predictor(model, store, bus), len(events))
            assert figures.forecasts == len(events) == len(store.live_forecasts(CODE, 0, 10**7))
            out[f"{name}_seconds"] = round(figures.seconds, 1)
            out[f"{name}_events_per_second"] = round(len(events) / figures.seconds)
            print(
                f"season {args.season} via {name} bus: {len(events)} events in {figures.seconds:.1f} s",
                flush=True,
            )
            bus.close()
            store.close()
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--date", default="2022-11-25")
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--poll", type=float, default=0.02, help="the service's SCORELINE_LIVE_POLL_S")
    parser.add_argument("--rate", type=float, default=20.0, help="pre-game /predict requests per second")
    parser.add_argument("--predict-seconds", type=float, default=40.0)
    parser.add_argument("--season", type=int, default=2023)
    parser.add_argument("--model", choices=["registry", "fit", "test"], default="fit")
    parser.add_argument("--buses", default="memory,redis", help="buses of the season section")
    parser.add_argument("--season-games", type=int, default=0, help="replay only the season's first N games")
    parser.add_argument("--sections", default="night,season")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
        through = (
            min(
                dt.date.fromisoformat(args.date).year - (dt.date.fromisoformat(args.date).month < 8),
                args.season,
            )
            - 1
        )
        settings, model = build_workspace(Path(folder), args.data, args.model, through)
        figures: dict = {"model": f"{model.model_name} v{model.version}", "cpus": os.cpu_count(),
                         "load_before": os.getloadavg()}  # fmt: skip
        if "night" in sections:
            figures["night"] = night_section(settings, model, args)
            print("night:", json.dumps(figures["night"]), flush=True)
        if "season" in sections:
            figures["season"] = season_section(settings, model, args)
    print(json.dumps(figures, indent=2))
    night = figures.get("night")
    if night:
        verdict = {True: "met", False: "MISSED"}
        print(
            f"night {night['date']} ({night['games']} games, {night['events']} events) at "
            f"{night['speed']:g}x, {night['subscribers']} subscribers: latency p50 "
            f"{night['latency_ms_p50']} ms, p99 {night['latency_ms_p99']} ms (target <= 100: "
            f"{verdict[night['latency_ms_p99'] <= 100]}); {night['events_lost']} lost, "
            f"{night['events_duplicated']} duplicated, {night['subscribers_complete_in_order']}/"
            f"{night['subscribers']} subscribers got every event in order; /predict p99 idle "
            f"{night['predict_idle_ms_p99']} ms vs replay {night['predict_replay_ms_p99']} ms = "
            f"{night['predict_p99_ratio']}x (target <= 2: {verdict[night['predict_p99_ratio'] <= 2]})"
        )
    season = figures.get("season")
    if season:
        rates = ", ".join(
            f"{k.split('_')[0]} bus {v} events/s" for k, v in season.items() if k.endswith("per_second")
        )
        print(
            f"season {season['season']} ({season['games_replayed']} of {season['games']} games, "
            f"{season['events']} of {season['events_in_season']} events) at full speed: {rates}"
        )


if __name__ == "__main__":
    main()
