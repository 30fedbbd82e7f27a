"""Pushing live forecasts to browsers: ``GET /live/stream`` as Server-Sent Events, and the live
metrics.

Each service worker runs one :class:`LiveBroadcaster`: it reads the forecasts the predictor
commits to the prediction store (every ``SCORELINE_LIVE_POLL_S``, one query for every
competition), encodes each once as an SSE event whose id is the forecast's store id, and hands
it to every subscriber's queue. A subscriber first gets what it missed from the store (after its
``Last-Event-ID``, or the forecasts of the last hours when it has none), then the live ones,
skipping any id it already sent: in order, exactly once, across reconnects. A subscriber that
falls :data:`QUEUE_LIMIT` batches behind is disconnected; its reconnect resumes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from scoreline.predictions.store import PredictionStore

__all__ = ["HISTORY_HOURS", "LiveBroadcaster", "LiveMetrics", "sse_event"]

logger = logging.getLogger("scoreline.serving.live")

#: a subscriber without Last-Event-ID first gets the forecasts made in these last hours
HISTORY_HOURS = 6.0
#: batches a subscriber may fall behind before it is disconnected (it then resumes from the store)
QUEUE_LIMIT = 2000
#: seconds without a forecast after which every stream gets a comment line (proxies close idle
#: connections)
KEEPALIVE_S = 15.0
#: a game with no score change for this long (wall clock) no longer counts as in progress
STALE_GAME_S = 1800.0

Batch = list[tuple[int, bytes]]


def sse_event(row: dict[str, Any]) -> bytes:
    """One forecast as a Server-Sent Event (``id`` = store id, ``event: forecast``)."""
    data = json.dumps(row, allow_nan=False, default=str)
    return f"id: {row['id']}\nevent: forecast\ndata: {data}\n\n".encode()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class LiveBroadcaster:
    """Reads new live forecasts from ``store`` and fans them out to subscribers (one per worker,
    inside the worker's event loop)."""

    def __init__(
        self,
        store: PredictionStore,
        poll_s: float,
        on_forecasts: Callable[[list[dict]], None] | None = None,
        subscribers_gauge: Any = None,
    ) -> None:
        self.store, self.poll_s, self.on_forecasts = store, poll_s, on_forecasts
        self._gauge = subscribers_gauge
        self.subscribers: dict[str, set[asyncio.Queue[Batch | None]]] = {}
        self.last_id: int | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start polling in the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="live-broadcaster")

    async def _poll(self) -> None:
        if self.last_id is None:
            self.last_id = await asyncio.to_thread(self.store.last_live_id)
        quiet_since = time.monotonic()
        while True:
            try:
                rows = await asyncio.to_thread(self.store.live_forecasts, None, self.last_id, 5000)
            except Exception:  # a locked or restarting database: the next round reads again
                logger.exception("reading live forecasts failed")
                rows = []
            if rows:
                self.last_id = rows[-1]["id"]
                self._dispatch(rows)
                if self.on_forecasts is not None:
                    self.on_forecasts(rows)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                for queues in self.subscribers.values():
                    for queue in queues:
                        queue.put_nowait([])  # a keep-alive comment
                quiet_since = time.monotonic()
            if len(rows) < 5000:
                await asyncio.sleep(self.poll_s)

    def _dispatch(self, rows: list[dict]) -> None:
        by_competition: dict[str, Batch] = {}
        for row in rows:
            by_competition.setdefault(row["competition"], []).append((row["id"], sse_event(row)))
        for code, batch in by_competition.items():
            for queue in list(self.subscribers.get(code, ())):
                if queue.qsize() >= QUEUE_LIMIT:
                    self.subscribers[code].discard(queue)
                    queue.put_nowait(None)  # the subscriber closes; its reconnect catches up
                else:
                    queue.put_nowait(batch)

    async def stream(self, competition: str, last_event_id: int | None) -> AsyncIterator[bytes]:
        """The SSE byte stream of one subscriber (see the module docstring)."""
        self.start()
        queue: asyncio.Queue[Batch | None] = asyncio.Queue()
        self.subscribers.setdefault(competition, set()).add(queue)
        if self._gauge is not None:
            self._gauge.inc()
        sent = last_event_id or 0
        since = None if last_event_id is not None else _utc_now() - dt.timedelta(hours=HISTORY_HOURS)
        try:
            yield b"retry: 1000\n\n"
            while True:  # what the store holds first, page by page
                rows = await asyncio.to_thread(self.store.live_forecasts, competition, sent, 2000, since)
                if not rows:
                    break
                yield b"".join(sse_event(row) for row in rows)
                sent = rows[-1]["id"]
            while True:
                batch = await queue.get()  # no timer per wait: the poller sends keep-alives
                if batch is None:
                    return
                if not batch:
                    yield b": keepalive\n\n"
                    continue
                fresh = [event for event_id, event in batch if event_id > sent]
                if fresh:
                    sent = batch[-1][0]
                    yield b"".join(fresh)
        finally:
            self.subscribers.get(competition, set()).discard(queue)
            if self._gauge is not None:
                self._gauge.dec()

    @property
    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self.subscribers.values())

    async def stop(self) -> None:
        """Stop polling and end every subscriber's stream (so a shutdown does not wait for
        them; browsers reconnect to another worker or the restarted service)."""
        for queues in self.subscribers.values():
            for queue in queues:
                queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class LiveMetrics:
    """The live forecasts' Prometheus metrics (prometheus_client in BentoML's multi-process
    mode). Forecast counts, latencies and games in progress are recorded by one worker only
    (``recorder``), since every worker's broadcaster sees every forecast; results' errors and
    coverage by the worker that receives them."""

    def __init__(self, recorder: bool, window: int) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.recorder, self.window = recorder, window
        self._forecasts = Counter("scoreline_live_forecasts", "Live in-game forecasts made", ["competition"])
        self._latency = Histogram(
            "scoreline_live_latency_seconds",
            "Score event published by the feed to its forecast reaching the service",
            ["competition"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self._active = Gauge(
            "scoreline_live_active_games",
            "Games in progress (a forecast, no final event yet)",
            ["competition"],
            multiprocess_mode="max",
        )
        self._coverage = Gauge(
            "scoreline_live_coverage",
            "Share of the latest halftime intervals that held the actual half-time margin",
            ["competition", "nominal"],
            multiprocess_mode="mostrecent",
        )
        self._nominal = Gauge(
            "scoreline_live_coverage_nominal",
            "The nominal coverage of those intervals (the coverage alert fires 10 points under it)",
            ["competition", "nominal"],
            multiprocess_mode="mostrecent",
        )
        self.subscribers = Gauge(
            "scoreline_live_subscribers", "Clients connected to GET /live/stream", multiprocess_mode="livesum"
        )
        self._error = Histogram(
            "scoreline_live_halftime_error_points",
            "Absolute error of halftime forecasts (points), observed when the half-time score arrives",
            ["competition"],
            buckets=(1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30),
        )
        self._games: dict[tuple[str, str], tuple[float, bool]] = {}
        for code in ("NBA",):  # present in /metrics before the first game
            self._forecasts.labels(code)
            self._active.labels(code).set(0)

    def forecasts(self, rows: list[dict]) -> None:
        if not self.recorder:
            return
        now = time.time()
        counts: dict[str, int] = {}
        for row in rows:
            code = row["competition"]
            counts[code] = counts.get(code, 0) + 1
            self._latency.labels(code).observe(max(now - row["emitted_at"], 0.0))
            self._games[(code, row["game_id"])] = (now, bool(row["final"]))
        for code, n in counts.items():
            self._forecasts.labels(code).inc(n)
        self.refresh_games(now)

    def refresh_games(self, now: float) -> None:
        """Set the games in progress: seen within :data:`STALE_GAME_S`, no final event yet."""
        codes = {code for code, _ in self._games} | {"NBA"}
        for key in [k for k, (seen, final) in self._games.items() if final or now - seen > STALE_GAME_S]:
            del self._games[key]
        for code in codes:
            self._active.labels(code).set(sum(c == code for c, _ in self._games))

    def scored(self, store: PredictionStore, competitions: set[str], new_games: set[tuple]) -> None:
        """After results arrive: observe the error of each newly scored game's halftime
        forecast and set the rolling coverage of the latest ``window`` games."""
        for code in competitions:
            scores = store.live_scores(code)
            halves = scores.dropna(subset=["halftime", "actual_halftime"]) if not scores.empty else scores
            if halves.empty:
                continue
            keys = list(zip(halves["competition"], halves["date"], halves["home_team"], halves["away_team"]))
            fresh = halves[[key in new_games for key in keys]]
            for error in fresh["halftime_error"].abs():
                self._error.labels(code).observe(float(error))
            latest = halves.tail(self.window)
            for nominal, of_level in latest.groupby("halftime_coverage"):
                self._coverage.labels(code, f"{nominal:g}").set(float(of_level["covered"].mean()))
                self._nominal.labels(code, f"{nominal:g}").set(float(nominal))
