"""The prediction store: every forecast the product gave (the service's answers, the matchday
loop's forecasts), the results that settle them, and each prediction's score once its match is
played. SQLAlchemy Core; SQLite by default, PostgreSQL URLs unchanged.

Writes are all-or-nothing: every row is checked first (:mod:`~scoreline.predictions.rows`; a bad
one raises ValueError naming its index and field, before anything is written) and each call is
one transaction (new feature sets and outputs are committed just before it: rows nothing refers
to if it then fails, reused by the next identical forecast). A batch of predictions is one
multi-row insert: on SQLite their ids are taken from the table's maximum inside the write lock
(:mod:`~scoreline.predictions.sqlite`), elsewhere returned by the insert. On PostgreSQL writers
run concurrently (:mod:`~scoreline.predictions.postgres`). A database written before outputs
had a table of their own is converted when opened (:mod:`~scoreline.predictions.migration`).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, create_engine, insert, select, tuple_
from sqlalchemy.engine import make_url

from scoreline.predictions import live, reads, sqlite
from scoreline.predictions.migration import upgrade_schema
from scoreline.predictions.outputs import OUTPUT_IDS_KEPT, output_item, store_feature_sets, store_outputs
from scoreline.predictions.postgres import dialect_insert, serialise
from scoreline.predictions.rows import as_columns, chunks, prediction_columns, result_row, scores, utc_now
from scoreline.predictions.settlement import settle
from scoreline.predictions.tables import (
    MATCH_KEY,
    WRITTEN,
    FeatureVector,
    metadata,
    predictions_table,
    results_table,
)

__all__ = ["PredictionStore"]


class PredictionStore:
    """Predictions, results and settlements in one SQL database (any SQLAlchemy URL).

    The schema is created at open if missing (idempotent). One instance per process; it is
    thread-safe (a connection pool).
    """

    def __init__(self, url: str) -> None:
        self._writers: AbstractContextManager = nullcontext()
        self._checkpoints: sqlite.Checkpoints | None = None
        parsed = make_url(url)
        self.url = url
        if parsed.get_backend_name() == "sqlite":
            options = {k: str(parsed.query.get(k, v)) for k, v in sqlite.SQLITE_OPTIONS.items()}
            if options["synchronous"].upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                raise ValueError(
                    f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {options['synchronous']!r}"
                )
            if not options["busy_timeout"].isdigit():
                raise ValueError(f"busy_timeout must be milliseconds, not {options['busy_timeout']!r}")
            parsed = parsed.difference_update_query(list(sqlite.SQLITE_OPTIONS))
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(parsed)
            on_file = bool(parsed.database) and parsed.database != ":memory:"
            sqlite.configure(self.engine, options, background_checkpoints=on_file)
            if on_file:
                database = Path(str(parsed.database))
                self._writers = sqlite.WriterLock(database.with_suffix(".writer.lock"))
                self._checkpoints = sqlite.Checkpoints(database, int(options["busy_timeout"]))
                weakref.finalize(self, self._checkpoints.stop, False)
        else:
            self.engine = create_engine(parsed, pool_pre_ping=True)
        self._feature_sets: dict[tuple[str, ...], int] = {}
        self._insert_sql = str(
            insert(predictions_table).values(dict.fromkeys(WRITTEN)).compile(dialect=self.engine.dialect)
        )
        self._bind = {
            c: predictions_table.c[c]
            .type.dialect_impl(self.engine.dialect)
            .bind_processor(self.engine.dialect)
            for c in ("created_at", "date", "neutral", "what_if")
        }
        self._feature_names = reads.FeatureNames()
        self._output_ids: dict[str, int] = {}
        with self.write_transaction() as conn:
            serialise(conn, "schema")  # service workers opening one new database at once
            metadata.create_all(conn, checkfirst=True)
            upgrade_schema(conn)

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

    # -- writes --------------------------------------------------------------------------------
    def record_predictions(self, rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence]) -> list[int]:
        """Store forecasts in one transaction; returns their ids in row order.

        Required: ``competition``, ``model_name``, ``model_version``, ``date``, ``home_team``,
        ``away_team`` and the competition's ``prob_<outcome>``; optional ``neutral``,
        ``price_<outcome>``, ``created_at`` (default now), ``features`` (a
        :class:`~scoreline.predictions.tables.FeatureVector`, a ``{name: number or None}``
        dict, or that dict as JSON text) and ``detail`` (a dict, kept as JSON). Any other field
        joins ``detail``. Rows sharing one ``detail`` or ``features`` object (identical
        forecasts) are encoded once. ``rows`` may also be those fields as columns (equally long
        sequences, no other field): how the service hands over a batch without building a dict
        per row.
        """
        columns = prediction_columns(*as_columns(rows), utc_now())
        n = len(columns["competition"])
        if not n:
            return []
        columns["output_id"] = self._outputs_of(columns.pop("features"), columns.pop("detail"))
        p = predictions_table
        if self.engine.dialect.name != "sqlite":
            with self.write_transaction() as conn:
                statement = insert(p).returning(p.c.id, sort_by_parameter_order=True)
                rows = [dict(zip(WRITTEN[1:], values)) for values in zip(*(columns[c] for c in WRITTEN[1:]))]
                return [int(i) for i in conn.execute(statement, rows).scalars()]
        for name in ("created_at", "date", "neutral", "what_if"):  # converted once per distinct value
            convert = self._bind[name]
            if convert is not None:
                done = {value: convert(value) for value in set(columns[name])}
                columns[name] = [done[value] for value in columns[name]]
        first = sqlite.insert_rows(
            self.engine,
            self._writers,
            self._checkpoints,
            self._insert_sql,
            "predictions",
            list(zip(*(columns[c] for c in WRITTEN[1:]))),
        )
        return list(range(first, first + n))

    def _outputs_of(self, vectors: list[FeatureVector | None], details: list[str | None]) -> list[int | None]:
        """Each row's ``forecast_outputs`` id: looked up by digest, the new ones stored first
        (with any new feature set) in a transaction of their own. Rows sharing their features
        and detail objects are digested once (grouped by object identity, in numpy: a Python
        loop over a 100,000-row batch cost a third of a second)."""
        n = len(vectors)
        pairs = np.empty((n, 2), dtype=np.uint64)
        pairs[:, 0] = np.fromiter(map(id, vectors), dtype=np.uint64, count=n)
        pairs[:, 1] = np.fromiter(map(id, details), dtype=np.uint64, count=n)
        _, first, which = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        distinct = [(vectors[i], details[i]) for i in first.tolist()]
        empty = [vector is None and detail is None for vector, detail in distinct]
        if all(empty):
            return [None] * n
        new_sets = {v.names for v, _ in distinct if v is not None} - self._feature_sets.keys()
        if new_sets:
            with self.write_transaction() as conn:
                self._feature_sets.update(store_feature_sets(conn, new_sets))
        items = [output_item(self._feature_sets, v, d) for (v, d), e in zip(distinct, empty) if not e]
        ids = self._output_ids  # shared by threads: read with get (another may clear it)
        known = {item[0]: ids.get(item[0]) for item in items}
        new = [item for item in items if known[item[0]] is None]
        if new:
            with self.write_transaction() as conn:
                stored = store_outputs(conn, new)
            known.update(stored)
            if len(ids) + len(stored) > OUTPUT_IDS_KEPT:
                ids.clear()
            ids.update(stored)
        found = iter(known[item[0]] for item in items)
        per_output = [None if e else next(found) for e in empty]
        return [per_output[k] for k in which.reshape(-1).tolist()]

    def record_results(self, results: Sequence[Mapping[str, Any]]) -> int:
        """Insert or correct results (``competition``, ``date``, ``home_team``, ``away_team``,
        ``home_score``, ``away_score``; optionally the half-time ``home_half`` and ``away_half``,
        which score live halftime forecasts) in one transaction; returns how many results were
        new or changed (re-sending a stored result writes nothing)."""
        now = utc_now()
        latest: dict[tuple, tuple[int, dict]] = {}
        halves = []
        for i, row in enumerate(results):
            record = result_row(i, row, now)
            half = live.halftime_row(i, row, record)
            if half is not None:
                halves.append(half)
            key = tuple(record[k] for k in MATCH_KEY)
            if key in latest and scores(latest[key][1]) != scores(record):
                raise ValueError(
                    f"rows {latest[key][0]} and {i} give different scores for "
                    f"{key[0]} {key[1]} {key[2]} v {key[3]}"
                )
            latest[key] = (i, record)
        if not latest:
            return 0
        t = results_table
        with self.write_transaction() as conn:
            stored = {}
            for chunk in chunks(list(latest), 500):
                found = conn.execute(
                    select(*(t.c[k] for k in MATCH_KEY), t.c.home_score, t.c.away_score).where(
                        tuple_(*(t.c[k] for k in MATCH_KEY)).in_(chunk)
                    )
                )
                stored.update({tuple(r[:4]): (r[4], r[5]) for r in found})
            new = [rec for key, (_, rec) in latest.items() if key not in stored]
            changed = [
                rec for key, (_, rec) in latest.items() if key in stored and stored[key] != scores(rec)
            ]
            if new:
                conn.execute(_upsert_results(conn), new)
            for rec in changed:
                conn.execute(
                    t.update()
                    .where(and_(*(t.c[k] == rec[k] for k in MATCH_KEY)))
                    .values(
                        home_score=rec["home_score"],
                        away_score=rec["away_score"],
                        recorded_at=rec["recorded_at"],
                    )
                )
            live.record_halftimes(conn, halves, now)
        return len(new) + len(changed)

    def settle(self) -> dict[str, int]:
        """Score every prediction whose match has a result and that is unsettled or was settled
        on a since-corrected score; one transaction. Idempotent: a second run changes nothing.
        Returns counts (see :func:`scoreline.predictions.settlement.settle`)."""
        now = utc_now()
        with self.write_transaction() as conn:
            return settle(conn, now)

    # -- reads ---------------------------------------------------------------------------------
    def predictions(
        self,
        competition: str | None = None,
        since: dt.datetime | str | None = None,
        settled: bool | None = None,
    ) -> pd.DataFrame:
        """Stored predictions with their settlements (:func:`scoreline.predictions.reads.predictions`)."""
        return reads.predictions(self.engine, self._feature_names, competition, since, settled)

    def features(
        self,
        competition: str | None = None,
        since: dt.datetime | str | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        """The features of stored predictions (:func:`scoreline.predictions.reads.features`)."""
        return reads.features(self.engine, self._feature_names, competition, since, model_version)

    # -- live forecasts (:mod:`scoreline.predictions.live`) -------------------------------------
    def record_live_forecasts(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store in-game forecasts in one transaction (an event already stored is skipped);
        returns how many were new."""
        with self.write_transaction() as conn:
            return live.write_live_forecasts(conn, rows, utc_now())

    def last_live_id(self) -> int:
        """The id of the latest live forecast (0 before the first)."""
        return live.last_live_id(self.engine)

    def live_forecasts(
        self, competition: str | None, after_id: int = 0, limit: int = 1000, since: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """Live forecasts after ``after_id`` in the order they were written
        (:func:`scoreline.predictions.live.live_forecasts_after`)."""
        return live.live_forecasts_after(self.engine, competition, after_id, limit, since)

    def live_games(self, competition: str, since: dt.datetime) -> pd.DataFrame:
        """Each game forecast live since ``since``, at its latest forecast."""
        return live.live_games(self.engine, competition, since)

    def live_game_events(self, competition: str, game_ids: Sequence[str]) -> pd.DataFrame:
        """The stored live forecasts of ``game_ids`` in feed order."""
        return live.game_events(self.engine, competition, game_ids)

    def live_scores(self, competition: str | None = None) -> pd.DataFrame:
        """Live forecasts judged against half-time and final results, one row per game
        (:func:`scoreline.predictions.live.live_scores`)."""
        return live.live_scores(self.engine, competition)

    def results(self, competition: str | None = None) -> pd.DataFrame:
        """Stored results, by date."""
        return reads.results(self.engine, competition)

    def upcoming(self, competition: str, start: dt.date, end: dt.date, limit: int) -> list[dict[str, Any]]:
        """The latest forecast of each fixture not yet played
        (:func:`scoreline.predictions.reads.upcoming`)."""
        return reads.upcoming(self.engine, competition, start, end, limit)


def _upsert_results(conn: Connection):
    """INSERT of results; on SQLite and PostgreSQL a concurrent writer's row is updated."""
    statement = dialect_insert(conn, results_table)
    if statement is None:
        return insert(results_table)
    return statement.on_conflict_do_update(
        index_elements=list(MATCH_KEY),
        set_={c: statement.excluded[c] for c in ("home_score", "away_score", "recorded_at")},
    )
