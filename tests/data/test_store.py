"""The snapshot store: atomic commits, crash safety, pruning."""

from __future__ import annotations

import pandas as pd
import pytest

from csvs import write_season
from scoreline.data import store as store_module
from scoreline.data.adapters import football_data
from scoreline.data.store import MatchStore, Snapshot, empty_snapshot
from scoreline.data.validation import validate


def a_snapshot(tmp_path) -> Snapshot:
    path = write_season(tmp_path / "src")
    checked = validate(football_data.read(path, tmp_path / "src").frame, pd.Timestamp("2024-01-01"))
    return Snapshot(checked.kept, empty_snapshot().fixtures, checked.quarantine)


def test_commit_then_load_round_trips(tmp_path):
    store = MatchStore(tmp_path / "store")
    snap = a_snapshot(tmp_path)
    name = store.commit(snap, {})
    loaded = store.load()
    assert loaded.name == name and store.manifest()["rows"]["results"] == 3
    assert loaded.content_hash() == snap.content_hash()


def test_crash_while_writing_leaves_the_previous_snapshot_in_force(tmp_path, monkeypatch):
    store = MatchStore(tmp_path / "store")
    first = store.commit(a_snapshot(tmp_path), {})
    before = {p: p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file()}

    calls = {"n": 0}
    original = pd.DataFrame.to_parquet

    def crash_on_second_table(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_on_second_table)
    bigger = a_snapshot(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        store.commit(Snapshot(bigger.results.iloc[:1], bigger.fixtures, bigger.quarantine), {})
    after = {p: p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file()}
    assert store.current_name() == first
    assert after == before  # nothing half-written, no staging left behind


def test_old_snapshots_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "KEEP_SNAPSHOTS", 2)
    store = MatchStore(tmp_path / "store")
    snap = a_snapshot(tmp_path)
    names = [
        store.commit(Snapshot(snap.results.iloc[:k], snap.fixtures, snap.quarantine), {}) for k in (1, 2, 3)
    ]
    kept = sorted(p.name for p in (tmp_path / "store" / "snapshots").iterdir())
    assert kept == names[1:]
