"""The live loop: a feed publishes score events onto the bus; the predictor reads them, forecasts
each with the in-game champion and writes every forecast to the prediction store, which the
service pushes to subscribers (``GET /live/stream``).

Exactly once, in order: the predictor acknowledges a batch of events only after its forecasts
are committed; a predictor that dies before that gets the batch again when it restarts
(:mod:`scoreline.live.bus`), and the store skips events it already holds. A restarted predictor
rebuilds the games in progress from the stored forecasts, so its features are the ones it would
have had (:meth:`Predictor.restore`). The in-game model keeps each game's point-in-time state
(:mod:`scoreline.live.model`): a forecast never sees a later event.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scoreline.live.bus import EventBus
from scoreline.live.feed import Feed, ScoreEvent
from scoreline.live.model import InGameForecast, InGameModel, LiveGame
from scoreline.predictions.store import PredictionStore

__all__ = ["GROUP", "Predictor", "ReplayFigures", "events_stream", "publish_feed", "run_replay"]

#: the predictors' consumer group on each events stream
GROUP = "predictors"


def events_stream(competition: str) -> str:
    """The bus stream of a competition's score events."""
    return f"scoreline:live:events:{competition}"


class Predictor:
    """Forecasts every score event of one competition's stream and stores the forecasts."""

    def __init__(
        self,
        model: InGameModel,
        store: PredictionStore,
        bus: EventBus,
        competition: str = "NBA",
        consumer: str = "predictor-1",
        batch: int = 512,
    ) -> None:
        self.model, self.store, self.bus = model, store, bus
        self.competition, self.consumer, self.batch = competition, consumer, batch
        self.stream = events_stream(competition)
        #: the games in progress: the model's live game and the last event applied to it
        self.games: dict[str, tuple[LiveGame, int]] = {}
        #: events read and acknowledged so far
        self.events = 0
        self.restore()

    def restore(self) -> None:
        """Rebuild the games in progress (stored forecasts, no final event yet) by feeding the
        model the events it had forecast, so their states are those of an unbroken run."""
        open_games = self.store.live_games(self.competition, since=_hours_ago(24))
        if open_games.empty:
            return
        open_ids = open_games.loc[~open_games["final"].astype(bool), "game_id"].tolist()
        stored = self.store.live_game_events(self.competition, open_ids)
        for game_id, rows in stored.groupby("game_id", sort=False):
            first = rows.iloc[0]
            game = self._start(game_id, first["spread"], first["total"])
            for row in rows.itertuples(index=False):
                game.update(float(row.elapsed_s), int(row.home_score), int(row.away_score))
            self.games[game_id] = (game, int(rows["seq"].max()))

    def _start(self, game_id: str, spread: float | None, total: float | None) -> LiveGame:
        if spread is None or not np.isfinite(spread):
            raise ValueError(f"game {game_id}: spread: the in-game model needs the pre-game spread")
        return self.model.start_game(
            float(spread), None if total is None or not np.isfinite(total) else total
        )

    def step(self, block_ms: int = 100) -> list[dict]:
        """Read, forecast, store and acknowledge one batch of events; returns its new forecasts
        (an event already forecast before a restart gets none)."""
        entries = self.bus.read(self.stream, GROUP, self.consumer, self.batch, block_ms)
        if not entries:
            return []
        rows = self.forecast([ScoreEvent.from_message(fields) for _, fields in entries])
        self.store.record_live_forecasts(rows)
        self.bus.ack(self.stream, GROUP, [entry_id for entry_id, _ in entries])
        self.events += len(entries)
        return rows

    def forecast(self, events: list[ScoreEvent]) -> list[dict]:
        """A forecast row per event not yet applied to its game, in order, each from its game's
        state right after that event."""
        rows = []
        for event in events:
            game, last = self.games.get(event.game_id) or (
                self._start(event.game_id, event.spread, event.total),
                -1,
            )
            if event.seq <= last:
                continue
            answer = game.update(event.elapsed_s, event.home_score, event.away_score)
            self.games[event.game_id] = (game, event.seq)
            rows.append(self._row(event, answer))
            if event.final:
                del self.games[event.game_id]
        return rows

    def _row(self, event: ScoreEvent, answer: InGameForecast) -> dict:
        half = answer.halftime
        level = half.coverage_probability if half is not None else max(answer.margin_intervals, default=None)
        low, high = answer.margin_intervals.get(level, (None, None)) if level is not None else (None, None)
        return {
            "competition": event.competition,
            "date": event.date,
            "home_team": event.home_team,
            "away_team": event.away_team,
            "game_id": event.game_id,
            "seq": event.seq,
            "period": event.period,
            "clock": event.clock,
            "elapsed_s": event.elapsed_s,
            "home_score": event.home_score,
            "away_score": event.away_score,
            "final": event.final,
            "emitted_at": event.emitted_at,
            "spread": event.spread,
            "total": event.total,
            "win_prob": answer.p_home_win,
            "margin": answer.margin,
            "margin_low": low,
            "margin_high": high,
            "halftime": half.forecast if half is not None else None,
            "halftime_low": half.lower if half is not None else None,
            "halftime_high": half.upper if half is not None else None,
            "halftime_coverage": half.coverage_probability if half is not None else None,
            "explanation": json.dumps(half.explanation, default=str) if half is not None else None,
            "model_name": self.model.model_name,
            "model_version": self.model.version,
        }


def _hours_ago(hours: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours)


def publish_feed(feed: Feed, bus: EventBus, stop: threading.Event | None = None) -> int:
    """Publish every event of ``feed`` onto its competition's stream; returns how many."""
    stream = events_stream(feed.competition)
    n = 0
    for event in feed.events():
        if stop is not None and stop.is_set():
            break
        bus.publish(stream, event.to_message())
        n += 1
    return n


@dataclass
class ReplayFigures:
    """What a replay did: events published, new forecasts stored (an event forecast before a
    predictor restart is not forecast again), wall seconds, and the event-to-store latency (feed
    publication to committed forecast) of every forecast."""

    events: int = 0
    forecasts: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict:
        lat = np.asarray(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {
            "events": self.events,
            "forecasts": self.forecasts,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.forecasts / self.seconds, 1) if self.seconds else None,
            "store_latency_ms_p50": round(float(np.nanpercentile(lat, 50)), 2),
            "store_latency_ms_p99": round(float(np.nanpercentile(lat, 99)), 2),
        }


def run_replay(
    feed: Feed,
    bus: EventBus,
    predictor: Predictor,
    expected: int,
    on_forecasts: Callable[[int], None] | None = None,
) -> ReplayFigures:
    """Play ``feed`` onto ``bus`` (a thread) while ``predictor`` forecasts its events, until the
    ``expected`` events are acknowledged. ``on_forecasts(n)`` is told of each batch's events."""
    figures = ReplayFigures()
    failure: list[BaseException] = []
    stop = threading.Event()

    def play() -> None:
        try:
            figures.events = publish_feed(feed, bus, stop)
        except BaseException as error:  # reported by the main thread
            failure.append(error)

    started = time.perf_counter()
    publisher = threading.Thread(target=play, name="live-feed", daemon=True)
    publisher.start()
    start = predictor.events
    try:
        while predictor.events - start < expected:
            if failure:
                raise failure[0]
            before = predictor.events
            rows = predictor.step(block_ms=100)
            if rows:
                committed = time.time()
                figures.forecasts += len(rows)
                figures.latencies_ms.extend((committed - row["emitted_at"]) * 1000 for row in rows)
            if predictor.events > before:
                if on_forecasts is not None:
                    on_forecasts(predictor.events - before)
            elif not publisher.is_alive() and figures.events <= predictor.events - start:
                break
    finally:
        stop.set()
        publisher.join(timeout=10)
    figures.seconds = time.perf_counter() - started
    return figures
