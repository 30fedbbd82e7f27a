"""The event bus between a feed and the predictor: an append-only stream read by a consumer
group, with Redis Streams' semantics (``XADD`` / ``XREADGROUP`` / ``XACK``).

An entry read but not acknowledged stays pending for its group: a consumer that restarts
under the same name gets its pending entries again before any new one, so a predictor that dies
between reading an event and acknowledging it forecasts that event again (the prediction store
ignores the second copy: exactly once end to end). :class:`MemoryBus` keeps the stream in the
process (one process runs feed and predictor: ``scoreline live replay``); :class:`RedisBus`
keeps it in Redis (``SCORELINE_REDIS_URL``), so feed, predictor and readers can be processes of
their own and a predictor restart loses nothing.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

__all__ = ["EventBus", "MemoryBus", "RedisBus", "open_bus"]

Entry = tuple[str, dict[str, str]]


class EventBus(Protocol):
    """An append-only stream of text-field messages, read by consumer groups."""

    def publish(self, stream: str, fields: dict[str, str]) -> str:
        """Append ``fields``; returns the entry's id."""
        ...

    def read(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Up to ``count`` entries for ``consumer`` of ``group``: its pending ones first, then new
        ones (waiting up to ``block_ms`` for one). The group starts at the stream's beginning."""
        ...

    def ack(self, stream: str, group: str, ids: list[str]) -> None:
        """Mark entries as done for ``group``: never delivered to it again."""
        ...

    def close(self) -> None: ...


class MemoryBus:
    """The bus inside one process (threads): entries in a list, ids ``<n>-0``."""

    def __init__(self) -> None:
        self._streams: dict[str, list[dict[str, str]]] = {}
        #: per (stream, group): entries acknowledged, in order, and entries handed out so far
        self._acked: dict[tuple[str, str], set[int]] = {}
        self._delivered: dict[tuple[str, str, str], list[int]] = {}
        self._next: dict[tuple[str, str], int] = {}
        self._changed = threading.Condition()

    def publish(self, stream: str, fields: dict[str, str]) -> str:
        with self._changed:
            entries = self._streams.setdefault(stream, [])
            entries.append(dict(fields))
            self._changed.notify_all()
            return f"{len(entries)}-0"

    def read(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        with self._changed:
            acked = self._acked.setdefault((stream, group), set())
            mine = self._delivered.setdefault((stream, group, consumer), [])
            pending = [i for i in mine if i not in acked]
            if pending:
                mine[:] = pending
                return [self._entry(stream, i) for i in pending[:count]]
            entries = self._streams.setdefault(stream, [])
            start = self._next.get((stream, group), 0)
            if start >= len(entries) and block_ms > 0:
                self._changed.wait_for(lambda: len(entries) > start, timeout=block_ms / 1000)
            taken = list(range(start, min(len(entries), start + count)))
            self._next[(stream, group)] = start + len(taken)
            mine[:] = taken
            return [self._entry(stream, i) for i in taken]

    def _entry(self, stream: str, index: int) -> Entry:
        return f"{index + 1}-0", self._streams[stream][index]

    def ack(self, stream: str, group: str, ids: list[str]) -> None:
        with self._changed:
            self._acked.setdefault((stream, group), set()).update(int(i.split("-")[0]) - 1 for i in ids)

    def close(self) -> None:
        return None


class RedisBus:
    """The bus in Redis Streams: one stream key per stream, consumer groups created on first
    read (``XGROUP CREATE ... 0 MKSTREAM``). Entries are trimmed to about ``max_length``."""

    def __init__(self, url: str, max_length: int = 1_000_000) -> None:
        import redis

        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.max_length = max_length
        self._groups: set[tuple[str, str]] = set()
        self._caught_up: set[tuple[str, str, str]] = set()

    def publish(self, stream: str, fields: dict[str, str]) -> str:
        return str(self.client.xadd(stream, fields, maxlen=self.max_length, approximate=True))  # type: ignore[arg-type]

    def _group(self, stream: str, group: str) -> None:
        import redis

        if (stream, group) in self._groups:
            return
        try:
            self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add((stream, group))

    def read(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        self._group(stream, group)
        key = (stream, group, consumer)
        if key not in self._caught_up:  # this consumer's pending entries first (after a restart)
            entries = _entries(self.client.xreadgroup(group, consumer, {stream: "0"}, count=count))
            if entries:
                return entries
            self._caught_up.add(key)
        return _entries(
            self.client.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms or None)
        )

    def ack(self, stream: str, group: str, ids: list[str]) -> None:
        if ids:
            self.client.xack(stream, group, *ids)

    def close(self) -> None:
        self.client.close()


def _entries(answer: Any) -> list[Entry]:
    """XREADGROUP's answer for one stream (``[[stream, [(id, fields), ...]]]``) as entries."""
    return [(str(i), dict(f)) for i, f in (answer[0][1] if answer else [])]


def open_bus(redis_url: str | None) -> EventBus:
    """Redis Streams at ``redis_url`` when given (``SCORELINE_REDIS_URL``), else in-process."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
