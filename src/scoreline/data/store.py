"""The match store: Parquet snapshots under ``data/store``, swapped in atomically.

Layout::

    data/store/CURRENT                      name of the snapshot in force
    data/store/snapshots/<name>/results.parquet     played matches
                               /fixtures.parquet    upcoming matches (no result yet)
                               /quarantine.parquet  rejected source rows with reasons
                               /manifest.json       counts, content hash, ingest summary
                               /<extra>.parquet     optional extra tables (``extra_tables`` in
                                                    the manifest), e.g. the NBA in-game timelines

A commit writes a complete new snapshot beside the old one and then replaces ``CURRENT`` with
``os.replace`` (atomic on POSIX), so a crash at any point leaves the previous snapshot in force
and intact. A lock file serialises concurrent ingests.

Extra tables (:mod:`scoreline.data.ingame`'s ``ingame_games`` and ``ingame_events``, 1.7 M
rows) are read only on demand (:meth:`MatchStore.extra_table`), so loading the match tables
stays as fast as before; a commit that does not rewrite one carries it into the new snapshot by a
hard link. The snapshot's ``content_hash`` is the three tables' hash while there are no extra
tables, else a hash over it and every extra table's hash (kept in the manifest).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
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


def frame_hash(frame: pd.DataFrame) -> str:
    """Row-order dependent hash of one table (extra tables are written in a canonical order)."""
    digest = hashlib.sha256()
    digest.update(",".join(frame.columns).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def combined_hash(core: str, extra: Mapping[str, str]) -> str:
    """A snapshot's identity: the three tables' hash alone, or with each extra table's hash."""
    if not extra:
        return core
    text = core + "".join(f"|{name}:{extra[name]}" for name in sorted(extra))
    return hashlib.sha256(text.encode()).hexdigest()


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

    def extra_tables(self) -> dict[str, dict]:
        """The extra tables of the snapshot in force: name -> ``{"rows", "hash"}``."""
        return dict(self.manifest().get("extra_tables", {}))

    def extra_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        """Extra table ``name`` of the snapshot in force (only ``columns``, if given); None when
        the snapshot has no such table."""
        current = self.current_name()
        if current is None or name not in self.extra_tables():
            return None
        return pd.read_parquet(self._snapshots / current / f"{name}.parquet", columns=columns)

    def hash_with(self, snapshot: Snapshot, extra: Mapping[str, pd.DataFrame] | None = None) -> str:
        """The content hash :meth:`commit` would give ``snapshot`` with ``extra`` (extra tables
        not given are those of the snapshot in force): compare it with ``manifest()`` to tell
        whether anything changed."""
        hashes = {name: info["hash"] for name, info in self.extra_tables().items()}
        hashes.update({name: frame_hash(frame) for name, frame in (extra or {}).items()})
        return combined_hash(snapshot.content_hash(), hashes)

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

    def commit(
        self, snapshot: Snapshot, manifest: dict, extra: Mapping[str, pd.DataFrame] | None = None
    ) -> str:
        """Write ``snapshot`` (and the ``extra`` tables given) aside and make it current; the
        snapshot in force's other extra tables are carried over. Returns the new name.

        Call under :meth:`lock`. Nothing visible changes until the final ``os.replace``.
        """
        extra = dict(extra or {})
        clash = set(extra) & {*TABLES, "manifest"}
        if clash:
            raise ValueError(f"extra table names {sorted(clash)} are reserved")
        carried = {n: info for n, info in self.extra_tables().items() if n not in extra}
        extra_info = {**carried, **{n: {"rows": len(f), "hash": frame_hash(f)} for n, f in extra.items()}}
        content = combined_hash(snapshot.content_hash(), {n: i["hash"] for n, i in extra_info.items()})
        name = f"{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S%f}-{content[:12]}"
        previous = self.current_name()
        self._snapshots.mkdir(parents=True, exist_ok=True)
        staging = self._snapshots / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            for table in TABLES:
                getattr(snapshot, table).to_parquet(staging / f"{table}.parquet", index=False)
            for table, frame in extra.items():
                frame.to_parquet(staging / f"{table}.parquet", index=False)
            for table in carried:
                source = self._snapshots / str(previous) / f"{table}.parquet"
                try:
                    os.link(source, staging / source.name)  # snapshots are never modified in place
                except OSError:
                    shutil.copy2(source, staging / source.name)
            manifest = {
                **manifest,
                "snapshot": name,
                "content_hash": content,
                "rows": {t: len(getattr(snapshot, t)) for t in TABLES},
            }
            if extra_info:
                manifest["extra_tables"] = extra_info
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
