"""The live loop on a real night: every event forecast once and in order, in the prediction
store, across a predictor that dies mid-night (in-process bus and Redis Streams)."""

from __future__ import annotations

import dataclasses

import pytest

from ingame import BrownianModel
from scoreline.live.bus import MemoryBus, RedisBus
from scoreline.live.feed import ReplayFeed
from scoreline.live.loop import Predictor, publish_feed, run_replay
from scoreline.predictions.store import PredictionStore

pytestmark = pytest.mark.realdata


class Crash(Exception):
    """The predictor process dying."""


def _bus(kind: str, request) -> object:
    return MemoryBus() if kind == "memory" else RedisBus(request.getfixturevalue("redis_url"))


def _fresh_stream(bus) -> None:
    if isinstance(bus, RedisBus):
        bus.client.delete("scoreline:live:events:NBA")


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_every_event_is_forecast_once_in_order_across_a_predictor_restart(night, tmp_path, kind, request):
    store = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}")
    bus = _bus(kind, request)
    _fresh_stream(bus)
    feed = ReplayFeed(night, speed=0)
    published = publish_feed(feed, bus)
    assert published == len(night)

    first = Predictor(BrownianModel(), store, bus, batch=64)
    for _ in range(7):
        first.step(block_ms=0)
    # the next batch is stored, then the process dies before acknowledging it
    first.bus = _FailingAck(bus)
    with pytest.raises(Crash):
        first.step(block_ms=0)

    restarted_bus = bus if kind == "memory" else RedisBus(request.getfixturevalue("redis_url"))
    second = Predictor(BrownianModel(), store, restarted_bus, batch=64)
    assert second.step(block_ms=0) == []  # the re-delivered batch: stored before the crash
    while second.events < len(night) - 7 * 64:
        second.step(block_ms=0)

    stored = store.live_forecasts("NBA", 0, 100_000)
    order = [(r["game_id"], r["seq"]) for r in stored]
    expected = [(e.game_id, e.seq) for e in ReplayFeed(night, speed=0).events()]
    assert order == expected  # each event once, in feed order

    # the restarted predictor rebuilt its games from the store: every forecast (the 18-minute
    # patterns behind the halftime forecasts included) is the one of an unbroken run
    clean = PredictionStore(f"sqlite:///{tmp_path / 'clean.db'}")
    clean_bus = MemoryBus()
    run_replay(
        ReplayFeed(night, speed=0), clean_bus, Predictor(BrownianModel(), clean, clean_bus), len(night)
    )
    unbroken = clean.live_forecasts("NBA", 0, 100_000)
    for name in ("win_prob", "margin", "margin_low", "halftime", "halftime_low", "explanation"):
        assert [r[name] for r in stored] == [r[name] for r in unbroken], name
    assert sum(r["halftime"] is not None for r in stored) > len(night) / 3


def test_no_forecast_sees_a_later_event(night, tmp_path):
    """Leakage: the forecasts of the first k events are the same whether or not the feed goes on."""
    events = list(ReplayFeed(night, speed=0).events())
    full = Predictor(BrownianModel(), PredictionStore("sqlite://"), MemoryBus()).forecast(events)
    fields = ("game_id", "seq", "win_prob", "margin", "halftime", "explanation")
    for cut in (1, 300, 777, 1200):
        cut_short = Predictor(BrownianModel(), PredictionStore("sqlite://"), MemoryBus()).forecast(
            events[:cut]
        )
        assert [[r[f] for f in fields] for r in cut_short] == [[r[f] for f in fields] for r in full[:cut]]


def test_a_game_without_a_spread_is_named(night):
    (event, *_) = ReplayFeed(night, speed=0).events()
    predictor = Predictor(BrownianModel(), PredictionStore("sqlite://"), MemoryBus())
    with pytest.raises(ValueError, match=f"game {event.game_id}: spread: the in-game model needs"):
        predictor.forecast([dataclasses.replace(event, spread=float("nan"))])


class _FailingAck:
    def __init__(self, bus) -> None:
        self.bus = bus

    def read(self, *args, **kwargs):
        return self.bus.read(*args, **kwargs)

    def ack(self, *args, **kwargs):
        raise Crash


def test_the_store_takes_each_event_once(night, tmp_path):
    store = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}")
    bus = MemoryBus()
    predictor = Predictor(BrownianModel(), store, bus)
    rows = predictor.forecast(list(ReplayFeed(night.head(30), speed=0).events()))
    assert store.record_live_forecasts(rows) == 30
    assert store.record_live_forecasts(rows) == 0
    assert len(store.live_forecasts("NBA")) == 30
    with pytest.raises(ValueError, match=r"row 1: win_prob 1\.5 is not a probability"):
        store.record_live_forecasts([rows[0], {**rows[1], "win_prob": 1.5}])
