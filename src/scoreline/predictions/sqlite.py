"""SQLite specifics of the prediction store: WAL mode, write transactions that begin IMMEDIATE,
a writer lock shared by threads and processes, checkpoints off the request path, and the fast
multi-row insert of predictions.

The database runs in WAL mode with ``synchronous=NORMAL``: a commit that returned is in the WAL
and survives the process being killed (SIGKILL included); an OS crash or power loss can lose the
last commits, which ``?synchronous=FULL`` on the URL prevents (an fsync per commit). Writers
queue on a lock file beside the database (:class:`WriterLock`) and SQLite's own lock, waiting
up to ``busy_timeout`` ms (``?busy_timeout=``, default 30 000). Readers never wait (WAL). WAL
pages are copied into the database by a background thread (:class:`Checkpoints`), not by the
commit of whichever request crosses SQLite's threshold.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import Engine, event

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SQLITE_OPTIONS", "Checkpoints", "WriterLock", "configure", "insert_rows"]

#: SQLite settings read from the URL's query (not sqlite3.connect arguments)
SQLITE_OPTIONS = {"synchronous": "NORMAL", "busy_timeout": "30000"}


#: WAL size past which a writer completes the checkpoint (see :class:`Checkpoints`); the file is
#: cut back to half of it when SQLite rewinds it
WAL_LIMIT_BYTES = 32 * 2**20


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
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # type: ignore[arg-type]  # opened just above
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, *exc) -> None:
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)  # type: ignore[arg-type]  # held: opened
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
        self._thread = threading.Thread(
            target=self._run,
            args=(str(path), busy_timeout_ms, interval),
            name="sqlite-checkpoints",
            daemon=True,
        )
        self._thread.start()

    def _run(self, path: str, busy_timeout_ms: int, interval: float) -> None:

        db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000
        )
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
            with contextlib.suppress(sqlite3.Error):  # the commit stands; the next one tries again
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self, wait: bool = True) -> None:
        self._stopped.set()
        if wait:
            self._thread.join(timeout=5)


def configure(engine: Engine, options: dict[str, str], background_checkpoints: bool) -> None:
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


def insert_rows(
    engine: Engine,
    writers: AbstractContextManager,
    checkpoints: Checkpoints | None,
    sql: str,
    table: str,
    rows: Sequence[tuple],
) -> int:
    """Insert ``rows`` (values in the order of ``sql``'s columns after ``id``) into ``table`` in
    one IMMEDIATE transaction under ``writers``; returns the first id given to them.

    The driver itself runs the statement: SQLAlchemy's statement and per-row parameter handling
    would cost more than the insert. Ids are taken from the table's maximum, which is safe
    because the write lock is held, so no other writer can take them."""
    with writers:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                # ``table`` is a table name of ours, never input
                next_id = f"SELECT coalesce(max(id), 0) + 1 FROM {table}"  # nosec B608
                first = cursor.execute(next_id).fetchone()[0]
                cursor.executemany(sql, [(first + i, *row) for i, row in enumerate(rows)])
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            if checkpoints is not None:
                checkpoints.finish(cursor)
        finally:
            connection.close()  # back to the pool
    return int(first)
