"""The live loop: a feed publishes score events onto the bus; the predictor reads them, forecasts
each with the in-game champion and writes every forecast to the prediction store, which the
service pushes to subscribers (``GET /live/stream``).

Exactly once, in order: the predictor acknowledges a batch of events only after its forecasts
are committed; a predictor that dies before that gets the batch again when it restarts
(:mod:`scoreline.live.bus`), and the store skips events it already holds. A restarted predictor
rebuilds the state of the games in progress from the stored forecasts, so its features are the
ones it would have had (:meth:`Predictor.restore`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoreline.live.bus import EventBus
from scoreline.live.feed import Feed, ScoreEvent
from scoreline.live.model import HalftimeForecast, InGameModel
from scoreline.live.state import STATE_COLUMNS, GameTracker
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
        self.tracker = GameTracker()
        self.halftimes: dict[str, HalftimeForecast] = {}
        self.forecasts = 0
        self.restore()

    def restore(self) -> None:
        """Rebuild the states of the games in progress (stored forecasts, no final event yet)
        as they were when their last forecast was made."""
        open_games = self.store.live_games(self.competition, since=_hours_ago(24))
        if open_games.empty:
            return
        open_ids = open_games.loc[~open_games["final"].astype(bool), "game_id"].tolist()
        stored = self.store.live_game_events(self.competition, open_ids)
        for row in stored.itertuples(index=False):
            event = ScoreEvent(
                competition=self.competition,
                game_id=row.game_id,
                seq=int(row.seq),
                date=row.date,
                home_team=row.home_team,
                away_team=row.away_team,
                period=int(row.period),
                clock=row.clock,
                elapsed_s=float(row.elapsed_s),
                home_score=int(row.home_score),
                away_score=int(row.away_score),
            )
            self.tracker.update(event)
            if row.halftime is not None and not pd.isna(row.halftime) and row.game_id not in self.halftimes:
                self.halftimes[row.game_id] = HalftimeForecast(
                    float(row.halftime),
                    float(row.halftime_low),
                    float(row.halftime_high),
                    float(row.halftime_coverage),
                    str(row.explanation or ""),
                )

    def step(self, block_ms: int = 100) -> list[dict]:
        """Read, forecast, store and acknowledge one batch of events; returns its forecasts."""
        entries = self.bus.read(self.stream, GROUP, self.consumer, self.batch, block_ms)
        if not entries:
            return []
        events = [ScoreEvent.from_message(fields) for _, fields in entries]
        rows = self.forecast(events)
        self.store.record_live_forecasts(rows)
        self.bus.ack(self.stream, GROUP, [entry_id for entry_id, _ in entries])
        self.forecasts += len(rows)
        return rows

    def forecast(self, events: list[ScoreEvent]) -> list[dict]:
        """One forecast row per event, in order (each from its game's state at that event)."""
        states = []
        #: games whose 18-minute pattern completes in this batch: pattern, spread, first event
        pending: dict[str, tuple[np.ndarray, float, int]] = {}
        for i, event in enumerate(events):
            state = self.tracker.update(event)
            states.append(GameTracker.row(state, event))
            pattern = state.pattern()
            if pattern is not None and event.game_id not in self.halftimes and event.game_id not in pending:
                pending[event.game_id] = (pattern, event.spread, i)
        if pending:
            games = list(pending)
            made = self.model.predict_halftime(
                np.vstack([pending[g][0] for g in games]),
                np.array([pending[g][1] for g in games], dtype=float),
            )
            self.halftimes.update(zip(games, made))
        answers = self.model.predict_states(pd.DataFrame(states, columns=list(STATE_COLUMNS)))
        columns = {
            c: answers[c].to_numpy(dtype=float).tolist()
            for c in ("win_prob", "margin", "margin_low", "margin_high")
        }
        rows = []
        for i, event in enumerate(events):
            # a halftime forecast made in this batch is on its events from the one that made it
            half = (
                self.halftimes.get(event.game_id) if i >= pending.get(event.game_id, (0, 0, 0))[2] else None
            )
            rows.append(
                {
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
                    **{c: columns[c][i] for c in columns},
                    "halftime": half.differential if half else None,
                    "halftime_low": half.lower if half else None,
                    "halftime_high": half.upper if half else None,
                    "halftime_coverage": half.coverage if half else None,
                    "explanation": half.explanation if half else None,
                    "model_name": self.model.model_name,
                    "model_version": self.model.version,
                }
            )
            if event.final:
                self.halftimes.pop(event.game_id, None)
                self.tracker.games.pop(event.game_id, None)
        return rows


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
    """What a replay did: events published and forecast, wall seconds, and the event-to-store
    latency (feed publication to committed forecast) of every forecast."""

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
    ``expected`` events are forecast. ``on_forecasts(n)`` is told of each stored batch."""
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
    done = 0
    try:
        while done < expected:
            if failure:
                raise failure[0]
            rows = predictor.step(block_ms=100)
            if rows:
                committed = time.time()
                done += len(rows)
                figures.latencies_ms.extend((committed - row["emitted_at"]) * 1000 for row in rows)
                if on_forecasts is not None:
                    on_forecasts(len(rows))
            elif not publisher.is_alive() and figures.events <= done:
                break
    finally:
        stop.set()
        publisher.join(timeout=10)
    figures.forecasts = done
    figures.seconds = time.perf_counter() - started
    return figures
