"""The prediction store: every forecast the service gave, the results that settle them, and each
prediction's score once its match is played (SQLAlchemy Core; SQLite by default, PostgreSQL
URLs unchanged).

Tables: ``predictions`` (one row per forecast: the request, the probabilities, prices, the rest of
the forecast record as JSON in ``detail`` and the model's features as JSON in ``features``),
``results`` (one row per played match, keyed by competition, date and teams) and
``settlements`` (per prediction: the score it was settled on, the outcome, RPS, log loss and
Brier). Times are UTC.

Writes are all-or-nothing: every row is checked first (a bad one raises ValueError naming its
index and field, before anything is written) and each call is one transaction. On SQLite the
database runs in WAL mode with ``synchronous=NORMAL``: a commit that returned is in the WAL and
survives the process being killed (SIGKILL included); an OS crash or power loss can lose the
last commits, which ``?synchronous=FULL`` on the URL prevents (an fsync per commit). Write
transactions begin IMMEDIATE, so worker threads and processes can share one file: they queue on
a lock file beside the database (:class:`WriterLock`) and SQLite's own lock, waiting up to
``busy_timeout`` ms (``?busy_timeout=``, default 30 000). Readers never wait (WAL).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean, Column, Connection, Date, DateTime, Float, ForeignKey, Index, Integer, MetaData,
    PrimaryKeyConstraint, String, Table, Text, and_, create_engine, event, func, insert, or_,
    select, tuple_,
)
from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from scoreline.config import COMPETITIONS
from scoreline.evaluation.report import per_match_losses

__all__ = ["PredictionStore"]

OUTCOMES = ("home", "draw", "away")
#: how far a prediction's probabilities may sum from 1
SUM_TOLERANCE = 1e-6
#: SQLite settings read from the URL's query (not sqlite3.connect arguments)
SQLITE_OPTIONS = {"synchronous": "NORMAL", "busy_timeout": "30000"}

metadata = MetaData()

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
    Column("detail", Text),
    Column("features", Text),
    Index("ix_predictions_match", "competition", "date", "home_team", "away_team"),
    Index("ix_predictions_created_at", "created_at"),
)

results_table = Table(
    "results", metadata,
    Column("competition", String(16), nullable=False),
    Column("date", Date, nullable=False),
    Column("home_team", String(200), nullable=False),
    Column("away_team", String(200), nullable=False),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    PrimaryKeyConstraint("competition", "date", "home_team", "away_team"),
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

MATCH_KEY = ("competition", "date", "home_team", "away_team")
#: record fields with a column of their own; every other field goes to ``detail``
PREDICTION_FIELDS = frozenset(c.name for c in predictions_table.columns) - {"id", "detail"}


class PredictionStore:
    """Predictions, results and settlements in one SQL database (any SQLAlchemy URL).

    The schema is created at open if missing (idempotent). One instance per process; it is
    thread-safe (a connection pool).
    """

    def __init__(self, url: str) -> None:
        self._writers: WriterLock | nullcontext = nullcontext()
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
            _sqlite_transactions(self.engine, options)
            if parsed.database and parsed.database != ":memory:":
                self._writers = WriterLock(Path(parsed.database).with_suffix(".writer.lock"))
        else:
            self.engine = create_engine(parsed, pool_pre_ping=True)
        with self._write() as conn:
            metadata.create_all(conn, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): committed on exit, rolled back on
        any error."""
        with self._writers, self.engine.connect().execution_options(scoreline_write=True) as conn:
            with conn.begin():
                yield conn

    def _upsert_results(self):
        """INSERT of results; on SQLite and PostgreSQL a concurrent writer's row is updated."""
        name = self.engine.dialect.name
        if name not in ("sqlite", "postgresql"):
            return insert(results_table)
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        statement = dialect_insert(results_table)
        return statement.on_conflict_do_update(
            index_elements=list(MATCH_KEY),
            set_={c: statement.excluded[c] for c in ("home_score", "away_score", "recorded_at")})

    # -- writes --------------------------------------------------------------------------------
    def record_predictions(self, rows: list[Mapping[str, Any]]) -> list[int]:
        """Store forecasts (e.g. :meth:`Forecaster.forecast_records` plus request fields, a
        ``features`` dict and ``created_at``) in one transaction; returns their ids in row order.

        Required: ``competition``, ``model_name``, ``model_version``, ``date``, ``home_team``,
        ``away_team`` and the competition's ``prob_<outcome>``; optional ``neutral``,
        ``price_<outcome>``, ``created_at`` (default now), ``features``. Other fields are kept
        as JSON in ``detail``.
        """
        now, encoded = _utc_now(), {}
        records = [_prediction_row(i, row, now, encoded) for i, row in enumerate(rows)]
        if not records:
            return []
        statement = insert(predictions_table).returning(predictions_table.c.id,
                                                        sort_by_parameter_order=True)
        with self._write() as conn:
            return [int(i) for i in conn.execute(statement, records).scalars()]

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
        with self._write() as conn:
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
                conn.execute(self._upsert_results(), new)
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
        with self._write() as conn:
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
        p, s = predictions_table, settlements_table
        query = (select(p, *(c for c in s.columns if c.name != "prediction_id"))
                 .select_from(p.outerjoin(s, s.c.prediction_id == p.c.id)).order_by(p.c.id))
        if competition is not None:
            query = query.where(p.c.competition == competition)
        if since is not None:
            query = query.where(p.c.created_at >= _timestamp(since, "since"))
        if settled is not None:
            query = query.where(s.c.prediction_id.isnot(None) if settled else s.c.prediction_id.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        columns = [c.name for c in p.columns] + [c.name for c in s.columns if c.name != "prediction_id"]
        frame = pd.DataFrame(rows, columns=columns)
        for name in ("detail", "features"):
            frame[name] = [json.loads(v) if v is not None else None for v in frame[name]]
        frame["date"] = pd.to_datetime(frame["date"])
        return frame

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


def _sqlite_transactions(engine, options: dict[str, str]) -> None:
    """WAL, the synchronous level and the busy timeout on every connection; SQLAlchemy emits
    BEGIN itself (IMMEDIATE for writes, so a write never has to upgrade a read lock)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN from the sqlite3 module
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(options['busy_timeout'])}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {options['synchronous'].upper()}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        write = conn.get_execution_options().get("scoreline_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


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


def _number(index: int, row: Mapping, field: str) -> float | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(index, field, f"must be a number, got {value!r}")
    value = float(value)
    return None if math.isnan(value) else value


def _json(index: int, field: str, value: Any) -> str | None:
    """``value`` as JSON text (NaN as null, numpy scalars and dates converted)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _fail(index, field, "is not valid JSON") from None
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):  # NaN, numpy scalars, dates: convert, then try again
        pass
    try:
        return json.dumps(_plain(value), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise _fail(index, field, f"cannot be stored as JSON ({error})") from None


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _prediction_row(index: int, row: Mapping[str, Any], now: dt.datetime,
                    encoded: dict[int, str | None]) -> dict[str, Any]:
    """A checked ``predictions`` row; the first problem raises, naming ``index`` and the field.

    ``encoded``: features JSON by object id, for this call's rows (which stay alive meanwhile):
    identical fixtures of a forecast share one features dict, encoded once."""
    if not isinstance(row, Mapping):
        raise ValueError(f"row {index}: must be a mapping of fields, got {type(row).__name__}")
    competition = _text(index, row, "competition")
    comp = COMPETITIONS.get(competition)
    if comp is None:
        raise _fail(index, "competition", f"unknown {competition!r}; known: {', '.join(COMPETITIONS)}")
    out: dict[str, Any] = {"competition": competition}
    for field in ("model_name", "home_team", "away_team"):
        out[field] = _text(index, row, field)
    version = row.get("model_version")
    if isinstance(version, (int, np.integer)) and not isinstance(version, bool):
        version = str(version)  # registry versions are numbers
    out["model_version"] = _text(index, {"model_version": version}, "model_version")
    if out["home_team"] == out["away_team"]:
        raise _fail(index, "away_team", f"is the home team too ({out['home_team']!r})")
    out["date"] = _day(index, row, "date")
    neutral = row.get("neutral")
    if neutral is not None and not isinstance(neutral, (bool, np.bool_)):
        raise _fail(index, "neutral", f"must be true or false, got {neutral!r}")
    out["neutral"] = bool(neutral)
    outcomes = OUTCOMES if comp.outcomes == 3 else ("home", "away")
    total = 0.0
    for outcome in OUTCOMES:
        field = f"prob_{outcome}"
        value = _number(index, row, field)
        if outcome not in outcomes:
            if value is not None:
                raise _fail(index, field, f"{competition} has no draw outcome")
        elif value is None or not 0.0 <= value <= 1.0:
            raise _fail(index, field, f"must be a probability in [0, 1], got {row.get(field)!r}")
        else:
            total += value
        out[field] = value
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise _fail(index, "prob_*", f"probabilities sum to {total:.9f}, not 1")
    for outcome in OUTCOMES:
        field = f"price_{outcome}"
        value = _number(index, row, field)
        if value is not None and not (math.isfinite(value) and value > 1.0):
            raise _fail(index, field, f"must be a decimal price above 1, got {row.get(field)!r}")
        out[field] = value
    created = row.get("created_at")
    out["created_at"] = now if created is None else _timestamp(created, "created_at", index)
    features = row.get("features")
    if id(features) not in encoded:
        encoded[id(features)] = _json(index, "features", features)
    out["features"] = encoded[id(features)]
    extra = {k: v for k, v in row.items() if k not in PREDICTION_FIELDS}
    out["detail"] = _json(index, "detail", extra) if extra else None
    return out


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
