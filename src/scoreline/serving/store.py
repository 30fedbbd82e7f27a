"""The prediction store: every forecast the service gave, the results that settle them, and each
prediction's score once its match is played (SQLAlchemy Core; SQLite by default, PostgreSQL
URLs unchanged).

Tables: ``predictions`` (one row per forecast: the request, the probabilities, prices and its
``output_id``), ``forecast_outputs`` (what the model said beyond probabilities: the detail as
JSON and the features as float64 bytes, stored once however many predictions share them; a
fixture asked for again, at other prices, is the same output), ``feature_sets`` (feature names,
once per distinct list), ``results`` (one row per played match, keyed by competition, date and
teams) and ``settlements`` (per prediction: the score it was settled on, the outcome, RPS, log
loss and Brier). Times are UTC. A database written before outputs had a table of their own (JSON
``detail`` and ``features`` on each prediction) is converted when opened.

Writes are all-or-nothing: every row is checked first (a bad one raises ValueError naming its
index and field, before anything is written) and each call is one transaction (new feature sets
and outputs are committed just before it: rows nothing refers to if it then fails, reused by
the next identical forecast). A batch of predictions is one multi-row insert: on SQLite their
ids are taken from the table's maximum inside the write lock, elsewhere returned by the insert.
On SQLite the database runs in WAL mode with ``synchronous=NORMAL``: a commit that returned is
in the WAL and survives the process being killed (SIGKILL included); an OS crash or power loss
can lose the last commits, which ``?synchronous=FULL`` on the URL prevents (an fsync per
commit). Write transactions begin IMMEDIATE, so worker threads and processes can share one
file: they queue on a lock file beside the database (:class:`WriterLock`) and SQLite's own lock,
waiting up to ``busy_timeout`` ms (``?busy_timeout=``, default 30 000). Readers never wait
(WAL). WAL pages are copied into the database by a background thread (:class:`Checkpoints`),
not by the commit of whichever request crosses SQLite's threshold.

On PostgreSQL (team mode) writers run concurrently: inserts of shared rows (feature sets,
outputs, results) are upserts, and the two read-then-write operations, creating the schema and
settling, wait for each other on transaction-level advisory locks. :func:`copy_store` moves a
store's rows into a new database (``scoreline migrate-store``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
import os
import threading
import weakref
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic_core
from sqlalchemy import (
    Boolean, Column, Connection, Date, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
    MetaData, PrimaryKeyConstraint, String, Table, Text, and_, create_engine, event, func,
    insert, inspect, or_, select, text, tuple_,
)
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from scoreline.config import COMPETITIONS
from scoreline.evaluation.report import per_match_losses

__all__ = ["FeatureVector", "PredictionStore", "copy_store"]

OUTCOMES = ("home", "draw", "away")
#: how far a prediction's probabilities may sum from 1
SUM_TOLERANCE = 1e-6
#: SQLite settings read from the URL's query (not sqlite3.connect arguments)
SQLITE_OPTIONS = {"synchronous": "NORMAL", "busy_timeout": "30000"}
#: WAL size past which a writer completes the checkpoint (see :class:`Checkpoints`); the file is
#: cut back to half of it when SQLite rewinds it
WAL_LIMIT_BYTES = 32 * 2**20

metadata = MetaData()

feature_sets_table = Table(
    "feature_sets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: SHA-256 of ``names``
    Column("digest", String(64), nullable=False, unique=True),
    #: the feature names as a JSON list, in the order of the stored values
    Column("names", Text, nullable=False),
)

outputs_table = Table(
    "forecast_outputs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: BLAKE2b-128 (hex) of the feature set id, the feature bytes and the detail text
    Column("digest", String(32), nullable=False, unique=True),
    Column("feature_set_id", Integer, ForeignKey("feature_sets.id")),
    #: float64 values (little-endian) in the order of the feature set's names
    Column("features", LargeBinary),
    Column("detail", Text),
)

predictions_table = Table(
    "predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    Column("competition", String(16), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("date", Date, nullable=False),
    Column("home_team", String(200), nullable=False),
    Column("away_team", String(200), nullable=False),
    Column("neutral", Boolean, nullable=False),
    *(Column(f"prob_{o}", Float, nullable=o == "draw") for o in OUTCOMES),
    *(Column(f"price_{o}", Float) for o in OUTCOMES),
    Column("output_id", Integer, ForeignKey("forecast_outputs.id")),
    Index("ix_predictions_match", "competition", "date", "home_team", "away_team"),
    Index("ix_predictions_created_at", "created_at"),
)

MATCH_KEY = ("competition", "date", "home_team", "away_team")


def match_key_columns() -> list[Column]:
    """New columns naming a fixture (:data:`MATCH_KEY`), for a table keyed by it."""
    return [Column("competition", String(16), nullable=False), Column("date", Date, nullable=False),
            Column("home_team", String(200), nullable=False),
            Column("away_team", String(200), nullable=False)]


results_table = Table(
    "results", metadata,
    *match_key_columns(),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    PrimaryKeyConstraint(*MATCH_KEY),
)

settlements_table = Table(
    "settlements", metadata,
    Column("prediction_id", Integer, ForeignKey("predictions.id"), primary_key=True),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    #: home / draw / away; "tie" for a drawn two-way match (nothing to score)
    Column("outcome", String(8), nullable=False),
    Column("rps", Float),
    Column("log_loss", Float),
    Column("brier", Float),
    Column("settled_at", DateTime, nullable=False),
)

#: record fields with a column of their own, ``features`` and ``detail``; every other field goes
#: to ``detail``
PREDICTION_FIELDS = (frozenset(c.name for c in predictions_table.columns) - {"id", "output_id"}
                     | {"features", "detail"})
#: the columns :meth:`PredictionStore.record_predictions` writes
WRITTEN = ("id", "created_at", "competition", "model_name", "model_version", "date", "home_team",
           "away_team", "neutral", *(f"prob_{o}" for o in OUTCOMES),
           *(f"price_{o}" for o in OUTCOMES), "output_id")
#: output ids a store remembers by digest (about 150 bytes each)
OUTPUT_IDS_KEPT = 20_000


@dataclass(frozen=True, eq=False)
class FeatureVector:
    """A prediction's features as the store keeps them: ``values`` (float64, NaN = missing) in
    the order of ``names``. Rows of one model share one ``names`` tuple."""

    names: tuple[str, ...]
    values: np.ndarray


class PredictionStore:
    """Predictions, results and settlements in one SQL database (any SQLAlchemy URL).

    The schema is created at open if missing (idempotent). One instance per process; it is
    thread-safe (a connection pool).
    """

    def __init__(self, url: str) -> None:
        self._writers: WriterLock | nullcontext = nullcontext()
        self._checkpoints: Checkpoints | None = None
        parsed = make_url(url)
        self.url = url
        if parsed.get_backend_name() == "sqlite":
            options = {k: str(parsed.query.get(k, v)) for k, v in SQLITE_OPTIONS.items()}
            if options["synchronous"].upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {options['synchronous']!r}")
            if not options["busy_timeout"].isdigit():
                raise ValueError(f"busy_timeout must be milliseconds, not {options['busy_timeout']!r}")
            parsed = parsed.difference_update_query(list(SQLITE_OPTIONS))
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(parsed)
            on_file = bool(parsed.database) and parsed.database != ":memory:"
            _sqlite_transactions(self.engine, options, background_checkpoints=on_file)
            if on_file:
                self._writers = WriterLock(Path(parsed.database).with_suffix(".writer.lock"))
                self._checkpoints = Checkpoints(Path(parsed.database), int(options["busy_timeout"]))
                weakref.finalize(self, self._checkpoints.stop, False)
        else:
            self.engine = create_engine(parsed, pool_pre_ping=True)
        self._feature_sets: dict[tuple[str, ...], int] = {}
        self._insert_sql = str(insert(predictions_table).values({c: None for c in WRITTEN})
                               .compile(dialect=self.engine.dialect))
        self._bind = {c: predictions_table.c[c].type.dialect_impl(self.engine.dialect)
                      .bind_processor(self.engine.dialect) for c in ("created_at", "date", "neutral")}
        self._feature_names: dict[int, tuple[str, ...]] = {}
        self._output_ids: dict[str, int] = {}
        with self.write_transaction() as conn:
            _serialise(conn, "schema")  # service workers opening one new database at once
            metadata.create_all(conn, checkfirst=True)
            _upgrade(conn)

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        self.engine.dispose()

    @contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite, under the writer lock): committed
        on exit, rolled back on any error. Other tables in the store's database (the bet book)
        write through it too, so they share its locking and durability."""
        with self._writers, self.engine.connect().execution_options(scoreline_write=True) as conn:
            with conn.begin():
                yield conn

    @staticmethod
    def _upsert_results(conn: Connection):
        """INSERT of results; on SQLite and PostgreSQL a concurrent writer's row is updated."""
        statement = _dialect_insert(conn, results_table)
        if statement is None:
            return insert(results_table)
        return statement.on_conflict_do_update(
            index_elements=list(MATCH_KEY),
            set_={c: statement.excluded[c] for c in ("home_score", "away_score", "recorded_at")})

    # -- writes --------------------------------------------------------------------------------
    def record_predictions(self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence]) -> list[int]:
        """Store forecasts in one transaction; returns their ids in row order.

        Required: ``competition``, ``model_name``, ``model_version``, ``date``, ``home_team``,
        ``away_team`` and the competition's ``prob_<outcome>``; optional ``neutral``,
        ``price_<outcome>``, ``created_at`` (default now), ``features`` (a
        :class:`FeatureVector`, a ``{name: number or None}`` dict, or that dict as JSON text)
        and ``detail`` (a dict, kept as JSON). Any other field joins ``detail``. Rows sharing
        one ``detail`` or ``features`` object (identical forecasts) are encoded once. ``rows``
        may also be those fields as columns (equally long sequences, no other field): how the
        service hands over a batch without building a dict per row.
        """
        columns = _prediction_columns(*_as_columns(rows), _utc_now())
        n = len(columns["competition"])
        if not n:
            return []
        columns["output_id"] = self._outputs_of(columns.pop("features"), columns.pop("detail"))
        p = predictions_table
        if self.engine.dialect.name != "sqlite":
            with self.write_transaction() as conn:
                statement = insert(p).returning(p.c.id, sort_by_parameter_order=True)
                return [int(i) for i in conn.execute(statement, _row_dicts(columns, WRITTEN[1:])).scalars()]
        # SQLite: the driver itself, on values converted once per distinct value (SQLAlchemy's
        # statement and per-row parameter handling would cost more than the insert), ids from
        # the table's maximum: the write lock is held, so no other writer can take them
        for name in ("created_at", "date", "neutral"):
            convert = self._bind[name]
            if convert is not None:
                done = {value: convert(value) for value in set(columns[name])}
                columns[name] = [done[value] for value in columns[name]]
        with self._writers:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    first = cursor.execute("SELECT coalesce(max(id), 0) + 1 FROM predictions").fetchone()[0]
                    columns["id"] = list(range(first, first + n))
                    cursor.executemany(self._insert_sql, list(zip(*(columns[c] for c in WRITTEN))))
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                if self._checkpoints is not None:
                    self._checkpoints.finish(cursor)
            finally:
                connection.close()  # back to the pool
        return columns["id"]

    def _outputs_of(self, vectors: list[FeatureVector | None], details: list[str | None]) -> list[int | None]:
        """Each row's ``forecast_outputs`` id: looked up by digest, the new ones stored first
        (with any new feature set) in a transaction of their own. Rows sharing their features
        and detail objects are digested once."""
        pairs: dict[tuple[int, int], int] = {}
        distinct: list[tuple[FeatureVector | None, str | None]] = []
        which = []
        for vector, detail in zip(vectors, details):
            if vector is None and detail is None:
                which.append(-1)
                continue
            key = (id(vector), id(detail))
            if key not in pairs:
                pairs[key] = len(distinct)
                distinct.append((vector, detail))
            which.append(pairs[key])
        if not distinct:
            return [None] * len(which)
        new_sets = {v.names for v, _ in distinct if v is not None} - self._feature_sets.keys()
        if new_sets:
            with self.write_transaction() as conn:
                self._feature_sets.update(_store_feature_sets(conn, new_sets))
        items = [_output_item(self._feature_sets, vector, detail) for vector, detail in distinct]
        ids = self._output_ids  # shared by threads: read with get (another may clear it)
        known = {item[0]: ids.get(item[0]) for item in items}
        new = [item for item in items if known[item[0]] is None]
        if new:
            with self.write_transaction() as conn:
                stored = _store_outputs(conn, new)
            known.update(stored)
            if len(ids) + len(stored) > OUTPUT_IDS_KEPT:
                ids.clear()
            ids.update(stored)
        per_output = [known[item[0]] for item in items]
        return [per_output[k] if k >= 0 else None for k in which]

    def record_results(self, results: list[Mapping[str, Any]]) -> int:
        """Insert or correct results (``competition``, ``date``, ``home_team``, ``away_team``,
        ``home_score``, ``away_score``) in one transaction; returns how many rows were new or
        changed (re-sending a stored result writes nothing)."""
        now = _utc_now()
        latest: dict[tuple, tuple[int, dict]] = {}
        for i, row in enumerate(results):
            record = _result_row(i, row, now)
            key = tuple(record[k] for k in MATCH_KEY)
            if key in latest and _scores(latest[key][1]) != _scores(record):
                raise ValueError(f"rows {latest[key][0]} and {i} give different scores for "
                                 f"{key[0]} {key[1]} {key[2]} v {key[3]}")
            latest[key] = (i, record)
        if not latest:
            return 0
        t = results_table
        with self.write_transaction() as conn:
            stored = {}
            for chunk in _chunks(list(latest), 500):
                found = conn.execute(select(*(t.c[k] for k in MATCH_KEY), t.c.home_score,
                                            t.c.away_score)
                                     .where(tuple_(*(t.c[k] for k in MATCH_KEY)).in_(chunk)))
                stored.update({tuple(r[:4]): (r[4], r[5]) for r in found})
            new = [rec for key, (_, rec) in latest.items() if key not in stored]
            changed = [rec for key, (_, rec) in latest.items()
                       if key in stored and stored[key] != _scores(rec)]
            if new:
                conn.execute(self._upsert_results(conn), new)
            for rec in changed:
                conn.execute(t.update().where(and_(*(t.c[k] == rec[k] for k in MATCH_KEY)))
                             .values(home_score=rec["home_score"], away_score=rec["away_score"],
                                     recorded_at=rec["recorded_at"]))
        return len(new) + len(changed)

    def settle(self) -> dict[str, int]:
        """Score every prediction whose match has a result and that is unsettled or was settled
        on a since-corrected score; one transaction. Idempotent: a second run changes nothing.

        Returns counts: ``settled`` (newly), ``resettled`` (score corrected), ``unchanged``
        (already settled on the current result), ``pending`` (no result yet).
        """
        p, r, s = predictions_table, results_table, settlements_table
        matched = and_(*(p.c[k] == r.c[k] for k in MATCH_KEY))
        query = (select(p.c.id, p.c.competition, p.c.prob_home, p.c.prob_draw, p.c.prob_away,
                        r.c.home_score, r.c.away_score, s.c.prediction_id.label("settled"))
                 .select_from(p.join(r, matched).outerjoin(s, s.c.prediction_id == p.c.id))
                 .where(or_(s.c.prediction_id.is_(None), s.c.home_score != r.c.home_score,
                            s.c.away_score != r.c.away_score)))
        now = _utc_now()
        with self.write_transaction() as conn:
            _serialise(conn, "settle")  # two settles would score the same predictions
            due = pd.DataFrame(conn.execute(query).mappings().all(),
                               columns=["id", "competition", "prob_home", "prob_draw", "prob_away",
                                        "home_score", "away_score", "settled"])
            rows = _settlement_rows(due, now)
            redo = due.loc[due["settled"].notna(), "id"].astype(int).tolist()
            for chunk in _chunks(redo, 500):
                conn.execute(s.delete().where(s.c.prediction_id.in_(chunk)))
            if rows:
                conn.execute(insert(s), rows)
            total = conn.execute(select(func.count()).select_from(p)).scalar_one()
            settled = conn.execute(select(func.count()).select_from(s)).scalar_one()
        resettled = len(redo)
        return {"settled": len(rows) - resettled, "resettled": resettled,
                "unchanged": settled - len(rows), "pending": total - settled}

    # -- reads ---------------------------------------------------------------------------------
    def predictions(self, competition: str | None = None, since: dt.datetime | str | None = None,
                    settled: bool | None = None) -> pd.DataFrame:
        """Stored predictions (oldest first) with their settlement columns (``home_score``,
        ``away_score``, ``outcome``, ``rps``, ``log_loss``, ``brier``, ``settled_at``; null
        while unsettled). ``since``: created at or after (UTC); ``settled``: only settled
        (True) or unsettled (False) ones. ``detail`` and ``features`` come back as dicts."""
        p, s, o = predictions_table, settlements_table, outputs_table
        query = (select(p, o.c.detail, o.c.feature_set_id, o.c.features,
                        *(c for c in s.columns if c.name != "prediction_id"))
                 .select_from(p.outerjoin(o, o.c.id == p.c.output_id)
                              .outerjoin(s, s.c.prediction_id == p.c.id)).order_by(p.c.id))
        if competition is not None:
            query = query.where(p.c.competition == competition)
        if since is not None:
            query = query.where(p.c.created_at >= _timestamp(since, "since"))
        if settled is not None:
            query = query.where(s.c.prediction_id.isnot(None) if settled else s.c.prediction_id.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            names = self._names(conn)
        columns = ([c.name for c in p.columns] + ["detail", "feature_set_id", "features"]
                   + [c.name for c in s.columns if c.name != "prediction_id"])
        frame = pd.DataFrame(rows, columns=columns)
        frame["detail"] = [json.loads(v) if v is not None else None for v in frame["detail"]]
        frame["features"] = [_feature_dict(names, set_id, values) for set_id, values
                             in zip(frame["feature_set_id"], frame["features"])]
        frame["date"] = pd.to_datetime(frame["date"])
        return frame.drop(columns=["output_id", "feature_set_id"])

    def features(self, competition: str | None = None, since: dt.datetime | str | None = None,
                 model_version: str | None = None) -> pd.DataFrame:
        """The features of stored predictions, one float64 row per prediction (index: its id,
        oldest first; NaN where a prediction lacks a feature): what drift monitoring compares.
        ``since``: created at or after (UTC)."""
        p, o = predictions_table, outputs_table
        query = (select(p.c.id, o.c.feature_set_id, o.c.features).select_from(p.join(o, o.c.id == p.c.output_id))
                 .where(o.c.features.isnot(None)).order_by(p.c.id))
        if competition is not None:
            query = query.where(p.c.competition == competition)
        if since is not None:
            query = query.where(p.c.created_at >= _timestamp(since, "since"))
        if model_version is not None:
            query = query.where(p.c.model_version == str(model_version))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            names = self._names(conn)
        blocks: dict[int, tuple[list[int], list[bytes]]] = {}
        for prediction_id, set_id, values in rows:
            blocks.setdefault(set_id, ([], []))
            blocks[set_id][0].append(prediction_id)
            blocks[set_id][1].append(values)
        parts = [pd.DataFrame(np.frombuffer(b"".join(values), dtype="<f8").reshape(len(ids), -1),
                              index=ids, columns=list(names[set_id]))
                 for set_id, (ids, values) in blocks.items()]
        if not parts:
            return pd.DataFrame(index=pd.Index([], name="id", dtype="int64"))
        frame = pd.concat(parts).sort_index().astype(np.float64)
        frame.index.name = "id"
        return frame

    def _names(self, conn: Connection) -> dict[int, tuple[str, ...]]:
        """Feature names per feature set id (read once per set)."""
        t = feature_sets_table
        known = self._feature_names
        for set_id, names in conn.execute(select(t.c.id, t.c.names).where(t.c.id.notin_(list(known)))):
            known[set_id] = tuple(json.loads(names))
        return known

    def results(self, competition: str | None = None) -> pd.DataFrame:
        """Stored results, by date."""
        t = results_table
        query = select(t).order_by(t.c.date, t.c.competition, t.c.home_team)
        if competition is not None:
            query = query.where(t.c.competition == competition)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        frame = pd.DataFrame(rows, columns=[c.name for c in t.columns])
        frame["date"] = pd.to_datetime(frame["date"])
        return frame


def copy_store(source: PredictionStore, target: PredictionStore, chunk_rows: int = 5_000,
               extra: Sequence[MetaData] = ()) -> dict[str, int]:
    """Copy every row of ``source`` into the empty store ``target`` (moving the SQLite store to
    PostgreSQL for team mode); returns the rows copied per table.

    ``extra``: the metadata of other tables kept in the store's database (the bet book); those
    the source has are created in the target and copied too. The source is read in one
    transaction (a consistent snapshot while the service keeps writing) and the target written
    in one, so the copy is all or nothing; ids are kept, and PostgreSQL's id sequences are moved
    past them. A target holding any row is refused.
    """
    present = set(inspect(source.engine).get_table_names())
    others = [t for m in extra for t in m.sorted_tables if t.name in present]
    tables = metadata.sorted_tables + others  # parents before the rows that refer to them
    copied: dict[str, int] = {}
    with target.write_transaction() as out:
        for m in extra:
            m.create_all(out, tables=[t for t in m.sorted_tables if t in others], checkfirst=True)
        held = {t.name: out.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}
        if any(held.values()):
            raise ValueError(f"{make_url(target.url).render_as_string(hide_password=True)} is not "
                             f"empty ({', '.join(f'{n} {k}' for k, n in held.items() if n)}): "
                             "copy into a new database")
        with source.engine.connect() as read, read.begin():
            for table in tables:
                result = read.execution_options(yield_per=chunk_rows).execute(
                    select(table).order_by(*table.primary_key.columns))
                copied[table.name] = 0
                for rows in result.mappings().partitions():
                    out.execute(insert(table), [dict(row) for row in rows])
                    copied[table.name] += len(rows)
        if out.dialect.name == "postgresql":
            for table in tables:
                if "id" in table.c and table.c.id.autoincrement is True:
                    out.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                     f"coalesce(max(id), 0) + 1, false) FROM {table.name}"))
    return copied


# --------------------------------------------------------------------------- SQLite
class WriterLock:
    """An exclusive lock on a file beside the database, held around each write transaction.

    SQLite's own busy handler retries a locked database after sleeps of up to 100 ms, so
    writers in several processes mostly sleep; a blocking ``flock`` hands the lock straight to
    the next waiter. Threads of a process queue on a mutex first (one descriptor per process,
    reopened after a fork). Without ``fcntl`` (Windows) the busy timeout alone serialises.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._mutex.acquire()
        if fcntl is None:
            return
        try:
            if self._pid != os.getpid():  # first use, or a forked child: own descriptor
                self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()


class Checkpoints:
    """Copies committed WAL pages into the database file from a background thread (a PASSIVE
    checkpoint every ``interval`` seconds), in place of SQLite's automatic checkpoint, which runs
    inside whichever commit takes the WAL past 1,000 pages and so adds tens of milliseconds to
    that request. The thread stops with :meth:`stop` or when the store is garbage-collected;
    a checkpoint never blocks writers, and an interrupted one loses nothing (the WAL holds the
    commits).

    Under a steady stream of commits a background checkpoint never catches up with the last
    one, and SQLite only rewinds the WAL once one has: :meth:`finish` lets a writer that still
    holds the write lock complete the checkpoint (little is left to copy by then) once the WAL
    passes :data:`WAL_LIMIT_BYTES`, so the next commit starts the file over."""

    def __init__(self, path: Path, busy_timeout_ms: int, interval: float = 0.5) -> None:
        self.wal = path.with_name(path.name + "-wal")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(str(path), busy_timeout_ms, interval),
                                        name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def _run(self, path: str, busy_timeout_ms: int, interval: float) -> None:
        import sqlite3

        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                             timeout=busy_timeout_ms / 1000)
        try:
            while not self._stopped.wait(interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:  # busy or gone: the next round tries again
                    pass
        finally:
            db.close()

    def finish(self, cursor) -> None:
        """Complete a checkpoint on ``cursor``'s connection if the WAL is past its limit (call
        with the write lock held, after a commit)."""
        try:
            size = os.stat(self.wal).st_size
        except OSError:
            return
        if size > WAL_LIMIT_BYTES:
            try:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except Exception:  # the commit stands; the next one tries again
                pass

    def stop(self, wait: bool = True) -> None:
        self._stopped.set()
        if wait:
            self._thread.join(timeout=5)


def _sqlite_transactions(engine, options: dict[str, str], background_checkpoints: bool) -> None:
    """WAL, the synchronous level and the busy timeout on every connection; SQLAlchemy emits
    BEGIN itself (IMMEDIATE for writes, so a write never has to upgrade a read lock). With
    ``background_checkpoints`` (:class:`Checkpoints`) commits never checkpoint, and the WAL file
    is cut back to half of :data:`WAL_LIMIT_BYTES` when SQLite rewinds it."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN from the sqlite3 module
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(options['busy_timeout'])}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {options['synchronous'].upper()}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if background_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES // 2}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        write = conn.get_execution_options().get("scoreline_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# --------------------------------------------------------------------------- PostgreSQL
#: transaction-level advisory lock keys (PostgreSQL), per serialised operation
ADVISORY_LOCKS = {"schema": 0x5C0E_0001, "settle": 0x5C0E_0002}


def _serialise(conn: Connection, operation: str) -> None:
    """On PostgreSQL, wait for any other transaction doing ``operation`` and hold it off until
    this one ends (``pg_advisory_xact_lock``). SQLite writers are already one at a time
    (BEGIN IMMEDIATE); PostgreSQL's run concurrently, which inserts and upserts handle, but
    schema creation and settlement (read, then write what was read) must not interleave."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCKS[operation]})


def _dialect_insert(conn: Connection, table: Table):
    """INSERT of ``table`` that supports ``on_conflict_*`` on SQLite and PostgreSQL; None on
    other databases."""
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        return None
    return dialect_insert(table)


# --------------------------------------------------------------------------- rows
def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _fail(index: int, field: str, problem: str) -> ValueError:
    return ValueError(f"row {index}: {field}: {problem}")


def _text(index: int, row: Mapping, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise _fail(index, field, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _day(index: int, row: Mapping, field: str) -> dt.date:
    value = row.get(field)
    if isinstance(value, dt.datetime):  # pd.Timestamp too
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise _fail(index, field, f"must be a date (YYYY-MM-DD), got {value!r}")


def _timestamp(value: Any, field: str, index: int | None = None) -> dt.datetime:
    """A naive UTC datetime from a datetime (aware ones converted) or an ISO string."""
    stamp = value
    if isinstance(value, str):
        try:
            stamp = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            stamp = None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        stamp = dt.datetime(value.year, value.month, value.day)
    if not isinstance(stamp, dt.datetime):
        problem = f"must be a date-time (ISO 8601), got {value!r}"
        raise _fail(index, field, problem) if index is not None else ValueError(f"{field}: {problem}")
    if isinstance(stamp, pd.Timestamp):
        stamp = stamp.to_pydatetime()
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(dt.UTC).replace(tzinfo=None)
    return stamp


def _upgrade(conn: Connection) -> None:
    """Convert a database from before ``forecast_outputs``: each prediction's JSON ``detail`` and
    ``features`` become an output (features as numbers with their feature set), then those two
    columns go."""
    columns = {c["name"] for c in inspect(conn).get_columns("predictions")}
    if "output_id" in columns:
        return
    conn.execute(text("ALTER TABLE predictions ADD COLUMN output_id INTEGER "
                      "REFERENCES forecast_outputs (id)"))
    legacy = conn.execute(text("SELECT id, detail, features FROM predictions "
                               "WHERE detail IS NOT NULL OR features IS NOT NULL")).all()
    vectors, details = [], []
    for prediction_id, detail, features in legacy:
        try:
            vectors.append(_feature_vector(prediction_id, features))
            details.append(detail)
        except ValueError:  # not numbers: kept, in the detail
            vectors.append(None)
            details.append(json.dumps({**json.loads(detail or "{}"), "features": json.loads(features)}))
    sets = _store_feature_sets(conn, {v.names for v in vectors if v is not None})
    items = [_output_item(sets, vector, detail) for vector, detail in zip(vectors, details)]
    ids = _store_outputs(conn, items)
    p = predictions_table
    for (prediction_id, _, _), item in zip(legacy, items):
        conn.execute(p.update().where(p.c.id == prediction_id).values(output_id=ids[item[0]]))
    for column in ("detail", "features"):
        conn.execute(text(f"ALTER TABLE predictions DROP COLUMN {column}"))


def _store_feature_sets(conn: Connection, names: set[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """The ``feature_sets`` id of each names tuple, inserted when missing."""
    t, ids = feature_sets_table, {}
    for key in names:
        listed = json.dumps(list(key))
        digest = hashlib.sha256(listed.encode()).hexdigest()
        found = conn.execute(select(t.c.id).where(t.c.digest == digest)).scalar()
        if found is None:
            statement = _dialect_insert(conn, t)
            if statement is None:
                found = conn.execute(insert(t).values(digest=digest, names=listed)).inserted_primary_key[0]
            else:  # a concurrent writer's identical set is kept
                conn.execute(statement.values(digest=digest, names=listed)
                             .on_conflict_do_nothing(index_elements=["digest"]))
                found = conn.execute(select(t.c.id).where(t.c.digest == digest)).scalar_one()
        ids[key] = int(found)
    return ids


def _output_item(sets: dict[tuple[str, ...], int], vector: FeatureVector | None,
                 detail: str | None) -> tuple[str, int | None, bytes | None, str | None]:
    """``(digest, feature_set_id, features, detail)`` of a ``forecast_outputs`` row."""
    set_id = sets[vector.names] if vector is not None else None
    values = np.ascontiguousarray(vector.values, "<f8").tobytes() if vector is not None else None
    digest = hashlib.blake2b(f"{set_id}|{len(values or b'')}|".encode() + (values or b"")
                             + (detail or "").encode(), digest_size=16).hexdigest()
    return digest, set_id, values, detail


def _store_outputs(conn: Connection, items: list[tuple]) -> dict[str, int]:
    """The ``forecast_outputs`` id of each item's digest, inserted when missing (a concurrent
    writer's identical row is kept)."""
    t = outputs_table
    ids: dict[str, int] = {}
    digests = list(dict.fromkeys(item[0] for item in items))
    for chunk in _chunks(digests, 500):
        ids.update((d, i) for d, i in conn.execute(select(t.c.digest, t.c.id).where(t.c.digest.in_(chunk))))
    rows = {item[0]: dict(zip(("digest", "feature_set_id", "features", "detail"), item))
            for item in items if item[0] not in ids}
    if rows:
        statement = _dialect_insert(conn, t)
        statement = (statement.on_conflict_do_nothing(index_elements=["digest"])
                     if statement is not None else insert(t))
        conn.execute(statement, list(rows.values()))
        for chunk in _chunks(list(rows), 500):
            ids.update((d, i) for d, i in conn.execute(select(t.c.digest, t.c.id).where(t.c.digest.in_(chunk))))
    return ids


def _feature_dict(names: dict[int, tuple[str, ...]], set_id, values) -> dict | None:
    """Stored features as ``{name: value}`` (NaN as None)."""
    if values is None or set_id is None or pd.isna(set_id):
        return None
    numbers = np.frombuffer(values, dtype="<f8").tolist()
    return {name: (v if v == v else None) for name, v in zip(names[int(set_id)], numbers)}


def _row_dicts(columns: dict[str, list], names: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(names, values)) for values in zip(*(columns[c] for c in names))]


def _json_fallback(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _mapping(index: int, field: str, value: Any) -> Mapping | None:
    """A dict field given as a dict or as its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _fail(index, field, "is not valid JSON") from None
    if value is not None and not isinstance(value, Mapping):
        raise _fail(index, field, f"must be a dict, got {type(value).__name__}")
    return value


def _encoded(index: int, field: str, value: Any) -> str | None:
    """``value`` (a dict or JSON text) as compact JSON text; NaN and infinities as null."""
    value = _mapping(index, field, value)
    if value is None:
        return None
    try:
        return pydantic_core.to_json(value, inf_nan_mode="null", fallback=_json_fallback).decode()
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as error:
        raise _fail(index, field, f"cannot be stored as JSON ({error})") from None


def _feature_vector(index: int, value: Any) -> FeatureVector | None:
    """A row's ``features`` as a :class:`FeatureVector` (from a dict or its JSON text)."""
    if isinstance(value, FeatureVector):
        return value
    value = _mapping(index, "features", value)
    if value is None:
        return None
    for name, number in value.items():
        if not isinstance(name, str) or not (
                number is None or (isinstance(number, (int, float, np.integer, np.floating))
                                   and not isinstance(number, (bool, np.bool_)))):
            raise _fail(index, "features", f"{name!r} must be a number or null, got {number!r}")
    return FeatureVector(tuple(value), np.array(list(value.values()), dtype=np.float64))


def _first(bad: Sequence[bool] | np.ndarray) -> int | None:
    """The flat (row-major) index of the first true value, None if none is."""
    bad = np.asarray(bad, dtype=bool).reshape(-1)
    first = int(bad.argmax()) if bad.size else 0
    return first if bad.size and bad[first] else None


def _texts(values: list, field: str) -> list[str]:
    """A non-empty text column, stripped."""
    for i, value in enumerate(values):
        if type(value) is not str or not value.strip():
            if field == "model_version" and isinstance(value, (int, np.integer)) \
                    and not isinstance(value, (bool, np.bool_)):
                continue  # registry versions are numbers
            raise _fail(i, field, f"must be a non-empty string, got {value!r}")
    return [v.strip() if type(v) is str else str(v) for v in values]


#: the numeric fields of a prediction, in the order of :func:`_probabilities_and_prices`' matrix
NUMERIC = (*(f"prob_{o}" for o in OUTCOMES), *(f"price_{o}" for o in OUTCOMES))


def _probabilities_and_prices(columns: dict[str, list], codes: list[str]) -> dict[str, list]:
    """The checked ``prob_*`` and ``price_*`` columns (None where null): one float matrix for
    all six, so the checks cost a few array operations whatever the number of rows."""
    values = [columns[f] for f in NUMERIC]
    n = len(codes)
    try:
        if any(type(v) is bool for column in values for v in column):
            raise TypeError
        numbers = np.array(values, dtype=np.float64).reshape(len(NUMERIC), n).T
    except (TypeError, ValueError):  # name the first value that is not a number
        for i in range(n):
            for field, column in zip(NUMERIC, values):
                value = column[i]
                if value is not None and (isinstance(value, (bool, np.bool_)) or not isinstance(
                        value, (int, float, np.integer, np.floating))):
                    raise _fail(i, field, f"must be a number, got {value!r}") from None
        raise
    probs, prices = numbers[:, :3], numbers[:, 3:]
    given = ~np.isnan(probs)
    three_way = np.array([COMPETITIONS[c].outcomes == 3 for c in codes], dtype=bool)
    extra = _first(given[:, 1] & ~three_way)
    if extra is not None:
        raise _fail(extra, "prob_draw", f"{codes[extra]} has no draw outcome")
    expected = given | True
    expected[:, 1] = three_way
    bad = _first(expected & ~((probs >= 0.0) & (probs <= 1.0)))  # row-major: first row, then field
    if bad is not None:
        row, field = divmod(bad, 3)
        raise _fail(row, NUMERIC[field], f"must be a probability in [0, 1], got {values[field][row]!r}")
    total = np.where(given, probs, 0.0).sum(axis=1)
    off = _first(np.abs(total - 1.0) > SUM_TOLERANCE)
    if off is not None:
        raise _fail(off, "prob_*", f"probabilities sum to {total[off]:.9f}, not 1")
    bad = _first(~np.isnan(prices) & ~(np.isfinite(prices) & (prices > 1.0)))
    if bad is not None:
        row, field = divmod(bad, 3)
        raise _fail(row, NUMERIC[3 + field], f"must be a decimal price above 1, got {values[3 + field][row]!r}")
    return {field: [None if v != v else v for v in column]
            for field, column in zip(NUMERIC, numbers.T.tolist())}


def _distinct(values: list, convert) -> list:
    """A column whose few distinct values are each converted once by ``convert(index, value)``."""
    try:
        distinct = dict.fromkeys(values)
    except TypeError:  # an unhashable value: convert one by one (and refuse it)
        return [convert(i, value) for i, value in enumerate(values)]
    first = {}
    for i, value in enumerate(values):
        if value not in first:
            first[value] = i
            if len(first) == len(distinct):
                break
    done = {value: convert(i, value) for value, i in first.items()}
    return [done[value] for value in values]


#: the fields of a prediction (columns, features and detail); a row's other fields join detail
RECORD_FIELDS = ("competition", "model_name", "model_version", "date", "home_team", "away_team",
                 "neutral", *NUMERIC, "created_at", "features", "detail")


def _as_columns(rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence]) -> tuple[dict[str, list], int]:
    """The :data:`RECORD_FIELDS` of ``rows`` as lists, and their length; a row's fields beyond
    them are merged into a ``detail`` of its own."""
    if isinstance(rows, Mapping):
        unknown = sorted(set(rows) - set(RECORD_FIELDS))
        if unknown:
            raise ValueError(f"unknown prediction field(s) {unknown}; known: {', '.join(RECORD_FIELDS)}")
        lengths = {field: len(values) for field, values in rows.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"prediction columns of different lengths: {lengths}")
        n = next(iter(lengths.values()), 0)
        return {f: list(rows[f]) if f in rows else [None] * n for f in RECORD_FIELDS}, n
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"row {i}: must be a mapping of fields, got {type(row).__name__}")
    columns = {f: [row.get(f) for row in rows] for f in RECORD_FIELDS}
    if not all(row.keys() <= PREDICTION_FIELDS for row in rows):
        details = columns["detail"]
        for i, row in enumerate(rows):
            extra = {k: v for k, v in row.items() if k not in PREDICTION_FIELDS}
            if extra:
                details[i] = {**(_mapping(i, "detail", details[i]) or {}), **extra}
    return columns, len(rows)


def _prediction_columns(columns: dict[str, list], n: int, now: dt.datetime) -> dict[str, list]:
    """The checked ``predictions`` columns of :func:`_as_columns`' ``columns``, with ``features``
    (:class:`FeatureVector` or None) and ``detail`` (JSON text or None), one object per distinct
    input object; the first problem of each check raises, naming the row and the field. Checks
    run column by column, over numpy arrays where the values are numbers."""
    out: dict[str, Any] = {}
    codes = _distinct(columns["competition"], _competition)
    out["competition"] = codes
    for field in ("model_name", "model_version", "home_team", "away_team"):
        out[field] = _texts(columns[field], field)
    same = _first([h == a for h, a in zip(out["home_team"], out["away_team"])])
    if same is not None:
        raise _fail(same, "away_team", f"is the home team too ({out['home_team'][same]!r})")
    out["date"] = _distinct(columns["date"], lambda i, value: _day(i, {"date": value}, "date"))
    for i, value in enumerate(columns["neutral"]):
        if value is not None and value is not False and value is not True \
                and not isinstance(value, np.bool_):
            raise _fail(i, "neutral", f"must be true or false, got {value!r}")
    out["neutral"] = [bool(v) for v in columns["neutral"]]
    out.update(_probabilities_and_prices(columns, codes))
    out["created_at"] = _distinct(columns["created_at"], lambda i, value: now if value is None
                                  else _timestamp(value, "created_at", i))
    out["detail"] = _once_per_object(columns["detail"], lambda i, value: _encoded(i, "detail", value))
    vectors = _once_per_object(columns["features"], _feature_vector)
    for i, vector in enumerate(vectors):
        if vector is not None and vector.values.shape != (len(vector.names),):
            raise _fail(i, "features", f"{len(vector.names)} names but values of shape "
                                       f"{vector.values.shape}")
    out["features"] = vectors
    return out


def _competition(index: int, code: Any) -> str:
    if not isinstance(code, str) or not code.strip():
        raise _fail(index, "competition", f"must be a non-empty string, got {code!r}")
    if code.strip() not in COMPETITIONS:
        raise _fail(index, "competition", f"unknown {code.strip()!r}; known: {', '.join(COMPETITIONS)}")
    return code.strip()


def _once_per_object(values: list, convert) -> list:
    """``convert(index, value)`` of each value, once per distinct object (rows of one forecast
    share theirs)."""
    done: dict[int, Any] = {}
    for i, value in enumerate(values):
        if id(value) not in done:
            done[id(value)] = convert(i, value)
    return [done[id(value)] for value in values]


def _result_row(index: int, row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise ValueError(f"row {index}: must be a mapping of fields, got {type(row).__name__}")
    competition = _text(index, row, "competition")
    comp = COMPETITIONS.get(competition)
    if comp is None:
        raise _fail(index, "competition", f"unknown {competition!r}; known: {', '.join(COMPETITIONS)}")
    out: dict[str, Any] = {"competition": competition, "date": _day(index, row, "date"),
                           "home_team": _text(index, row, "home_team"),
                           "away_team": _text(index, row, "away_team"), "recorded_at": now}
    if out["home_team"] == out["away_team"]:
        raise _fail(index, "away_team", f"is the home team too ({out['home_team']!r})")
    for field in ("home_score", "away_score"):
        value = row.get(field)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                or not 0 <= value <= comp.max_score:
            raise _fail(index, field, f"must be a whole number in 0..{comp.max_score}, got {value!r}")
        out[field] = int(value)
    return out


def _scores(record: Mapping) -> tuple[int, int]:
    return record["home_score"], record["away_score"]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _settlement_rows(due: pd.DataFrame, now: dt.datetime) -> list[dict[str, Any]]:
    """Outcome and scores of each due prediction: three-way RPS, log loss and Brier for
    football; two-way for the others, where a tie has no score."""
    rows = []
    for code, group in due.groupby("competition", sort=False):
        three_way = COMPETITIONS[code].outcomes == 3
        columns = ["prob_home", "prob_draw", "prob_away"] if three_way else ["prob_home", "prob_away"]
        probs = group[columns].to_numpy(np.float64)
        probs = probs / probs.sum(axis=1, keepdims=True)
        home = group["home_score"].to_numpy(np.int64)
        away = group["away_score"].to_numpy(np.int64)
        if three_way:
            outcome = np.where(home > away, 0, np.where(home == away, 1, 2))
            names = np.array(OUTCOMES)[outcome]
        else:
            outcome = np.where(home > away, 0, np.where(home < away, 1, -1))
            names = np.where(outcome == 0, "home", np.where(outcome == 1, "away", "tie"))
        scored = outcome >= 0
        losses = {name: np.full(len(group), np.nan) for name in ("rps", "log_loss", "brier")}
        if scored.any():
            computed = per_match_losses(probs[scored], outcome[scored])
            for name in losses:
                losses[name][scored] = computed[name]
        for j, prediction_id in enumerate(group["id"].to_numpy()):
            rows.append({
                "prediction_id": int(prediction_id), "home_score": int(home[j]),
                "away_score": int(away[j]), "outcome": str(names[j]),
                **{name: (None if math.isnan(v[j]) else float(v[j])) for name, v in losses.items()},
                "settled_at": now,
            })
    return rows
