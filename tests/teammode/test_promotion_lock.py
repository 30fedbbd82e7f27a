"""Promotions on two machines sharing a team database serialise on a PostgreSQL advisory lock
(each machine's file lock only covers that machine)."""

from __future__ import annotations

import threading
import time

import pytest

from scoreline.config import Settings
from scoreline.promotion.registry import promotion_lock


def machine(tmp_path, name: str, team_database: str) -> Settings:
    """The settings of one machine: its own workspace (and file locks), the shared database."""
    return Settings(
        home=tmp_path / name, team_database_url=team_database, tracking_uri="http://127.0.0.1:9"
    )  # never contacted by the lock


def test_a_promotion_on_another_machine_waits_for_the_one_holding_the_lock(tmp_path, team_database):
    first, second = (machine(tmp_path, n, team_database) for n in ("a", "b"))
    held, release, order = threading.Event(), threading.Event(), []

    def promote_on_first():
        with promotion_lock(first, "E0"):
            order.append("first in")
            held.set()
            release.wait(10)
            order.append("first out")

    holder = threading.Thread(target=promote_on_first)
    holder.start()
    assert held.wait(10)
    with pytest.raises(TimeoutError, match="another machine's promotion"):
        with promotion_lock(second, "E0", timeout_s=0.5):
            pass
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with promotion_lock(second, "E0", timeout_s=10):
        order.append("second in")
    holder.join()
    assert order == ["first in", "first out", "second in"] and time.monotonic() - started >= 0.3
    with promotion_lock(second, "D1", timeout_s=0.5):  # other competitions are not held up
        with promotion_lock(second, "D1", timeout_s=0.5):  # re-entrant within the machine
            pass
