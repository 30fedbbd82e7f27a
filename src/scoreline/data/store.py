"""The match store: Parquet snapshots under ``data/store``, swapped in atomically.

Layout::

    data/store/CURRENT                      name of the snapshot in force
    data/store/snapshots/<name>/results.parquet     played matches
                               /fixtures.parquet    upcoming matches (no result yet)
                               /quarantine.parquet  rejected source rows with reasons
                               /manifest.json       counts, content hash, ingest summary

A commit writes a complete new snapshot beside the old one and then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX), so a crash at any point leaves the previous snapshot in force
and intact. A lock file serialises concurrent ingests.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.data import schema

TABLES = ("results", "fixtures", "quarantine")
KEEP_SNAPSHOTS = 5


@dataclass(frozen=True)
class Snapshot:
    results: pd.DataFrame
    fixtures: pd.DataFrame
    quarantine: pd.DataFrame
    name: str | None = None

    def content_hash(self) -> str:
        """Order-independent hash of the three tables (the data snapshot's identity)."""
        digest = hashlib.sha256()
        for table in TABLES:
            frame = getattr(self, table)
            key = "match_id" if table != "quarantine" else ["source_file", "source_line"]
            ordered = frame.sort_values(key).reset_index(drop=True) if len(frame) else frame
            floats = ordered.select_dtypes("float").columns
            # one bit pattern for 0.0 and NaN (-0.0 and sign-flipped NaN hash differently)
            ordered = ordered.assign(
                **{c: np.where(ordered[c].isna(), np.nan, ordered[c] + 0.0) for c in floats}
            )
            digest.update(table.encode())
            digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
        return digest.hexdigest()


def empty_snapshot() -> Snapshot:
    return Snapshot(schema.empty_matches(), schema.empty_matches(), schema.empty_quarantine())


class MatchStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    @property
    def _current_file(self) -> Path:
        return self.root / "CURRENT"

    @property
    def _snapshots(self) -> Path:
        return self.root / "snapshots"

    def current_name(self) -> str | None:
        try:
            return self._current_file.read_text().strip() or None
        except FileNotFoundError:
            return None

    def load(self) -> Snapshot:
        """The snapshot in force (empty tables when nothing was ingested yet)."""
        name = self.current_name()
        if name is None:
            return empty_snapshot()
        folder = self._snapshots / name
        tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
        return Snapshot(**tables, name=name)

    def results(self, competition: str | None = None) -> pd.DataFrame:
        return _only(self.load().results, competition)

    def fixtures(self, competition: str | None = None) -> pd.DataFrame:
        return _only(self.load().fixtures, competition)

    def manifest(self) -> dict:
        name = self.current_name()
        if name is None:
            return {}
        return json.loads((self._snapshots / name / "manifest.json").read_text())

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock held for a whole read-merge-commit cycle."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(self, snapshot: Snapshot, manifest: dict) -> str:
        """Write ``snapshot`` aside and make it current; returns its name.

        Call under :meth:`lock`. Nothing visible changes until the final ``os.replace``.
        """
        content = snapshot.content_hash()
        name = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%f}-{content[:12]}"
        self._snapshots.mkdir(parents=True, exist_ok=True)
        staging = self._snapshots / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for table in TABLES:
                getattr(snapshot, table).to_parquet(staging / f"{table}.parquet", index=False)
            manifest = {
                **manifest,
                "snapshot": name,
                "content_hash": content,
                "rows": {t: len(getattr(snapshot, t)) for t in TABLES},
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            _fsync_dir(staging)
            os.replace(staging, self._snapshots / name)
            pointer = self.root / f".CURRENT.{uuid.uuid4().hex}"
            pointer.write_text(name + "\n")
            with open(pointer) as handle:
                os.fsync(handle.fileno())
            os.replace(pointer, self._current_file)
            _fsync_dir(self.root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._prune(keep=name)
        return name

    def _prune(self, keep: str) -> None:
        names = sorted(p.name for p in self._snapshots.iterdir() if p.is_dir() and not p.name.startswith("."))
        for old in names[:-KEEP_SNAPSHOTS]:
            if old != keep:
                shutil.rmtree(self._snapshots / old, ignore_errors=True)


def _only(frame: pd.DataFrame, competition: str | None) -> pd.DataFrame:
    if competition is None:
        return frame
    return frame.loc[frame["competition"] == competition].reset_index(drop=True)


def _fsync_dir(path: Path) -> None:
    for file in path.iterdir():
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
