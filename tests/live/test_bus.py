"""The event bus keeps Redis Streams' promise in both forms: an entry read but not acknowledged
is handed to the same consumer again after a restart, an acknowledged one never."""

from __future__ import annotations

import uuid

import pytest

from scoreline.live.bus import MemoryBus, RedisBus


@pytest.fixture(params=["memory", "redis"])
def make_bus(request):
    """A factory of bus connections to one stream store (a restart = a new connection)."""
    if request.param == "memory":
        shared = MemoryBus()
        yield lambda: shared
    else:
        url = request.getfixturevalue("redis_url")
        opened = []

        def connect() -> RedisBus:
            opened.append(RedisBus(url))
            return opened[-1]

        yield connect
        for bus in opened:
            bus.close()


def test_unacknowledged_entries_come_back_after_a_restart(make_bus):
    stream = f"test:{uuid.uuid4().hex}"
    bus = make_bus()
    for n in range(10):
        bus.publish(stream, {"n": str(n)})
    first = bus.read(stream, "g", "c1", count=4, block_ms=0)
    assert [f["n"] for _, f in first] == ["0", "1", "2", "3"]
    bus.ack(stream, "g", [i for i, _ in first[:2]])
    restarted = make_bus()  # the consumer died holding entries 2 and 3
    again = restarted.read(stream, "g", "c1", count=10, block_ms=0)
    assert [f["n"] for _, f in again] == ["2", "3"]
    restarted.ack(stream, "g", [i for i, _ in again])
    rest = restarted.read(stream, "g", "c1", count=10, block_ms=0)
    assert [f["n"] for _, f in rest] == [str(n) for n in range(4, 10)]
    restarted.ack(stream, "g", [i for i, _ in rest])
    assert restarted.read(stream, "g", "c1", count=10, block_ms=50) == []


def test_a_blocking_read_returns_what_arrives(make_bus):
    import threading

    stream = f"test:{uuid.uuid4().hex}"
    bus = make_bus()
    bus.read(stream, "g", "c1", count=1, block_ms=0)  # the group exists before the entry
    publisher = make_bus()
    timer = threading.Timer(0.1, lambda: publisher.publish(stream, {"n": "late"}))
    timer.start()
    got = bus.read(stream, "g", "c1", count=5, block_ms=5000)
    timer.join()
    assert [f["n"] for _, f in got] == ["late"]
