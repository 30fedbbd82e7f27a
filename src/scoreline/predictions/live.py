"""The prediction store's live tables: every in-game forecast with the game clock it was made at,
and the half-time scores that, with the final results, score those forecasts.

``live_forecasts``: one row per score change of a game in progress (unique on competition, game
and the event's ``seq``: a re-delivered event is not stored twice). Its ``id`` is the order the
forecasts were written in, which is the order subscribers get them (``GET /live/stream``; the
id is the stream's event id, so a client that reconnects resumes after the last id it saw).
One predictor writes a competition's forecasts, so ids are committed in order.
``halftime_results``: the half-time score per match (:data:`~scoreline.predictions.tables.MATCH_KEY`).
The tables are created when a store is opened, so a store written before them opens unchanged.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    select,
)

from scoreline.predictions.postgres import dialect_insert
from scoreline.predictions.tables import MATCH_KEY, match_key_columns, metadata, results_table

__all__ = [
    "LIVE_COLUMNS",
    "game_events",
    "halftime_results_table",
    "halftime_row",
    "last_live_id",
    "live_forecasts_after",
    "live_forecasts_table",
    "live_games",
    "live_scores",
    "record_halftimes",
    "write_live_forecasts",
]

live_forecasts_table = Table(
    "live_forecasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime, nullable=False),
    *match_key_columns(),
    Column("game_id", String(32), nullable=False),
    #: the event's place in its game's feed
    Column("seq", Integer, nullable=False),
    Column("period", Integer, nullable=False),
    #: MM:SS left in the period
    Column("clock", String(8), nullable=False),
    #: game seconds since tip-off
    Column("elapsed_s", Float, nullable=False),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    #: the game's last event
    Column("final", Boolean, nullable=False),
    #: when the feed published the event (Unix seconds): where latency is measured from
    Column("emitted_at", Float, nullable=False),
    #: the pre-game lines the model had (home spread, total)
    Column("spread", Float),
    Column("total", Float),
    Column("win_prob", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("margin_low", Float),
    Column("margin_high", Float),
    #: the halftime forecast from the first 18 minutes: null before minute 18 is over
    Column("halftime", Float),
    Column("halftime_low", Float),
    Column("halftime_high", Float),
    Column("halftime_coverage", Float),
    Column("explanation", Text),
    Column("model_name", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    UniqueConstraint("competition", "game_id", "seq", name="uq_live_forecasts_event"),
    Index("ix_live_forecasts_match", *MATCH_KEY),
)

halftime_results_table = Table(
    "halftime_results",
    metadata,
    *match_key_columns(),
    Column("home_half", Integer, nullable=False),
    Column("away_half", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    PrimaryKeyConstraint(*MATCH_KEY),
)

#: a live forecast's fields, as written and as read (``id`` and ``created_at`` come from the store)
LIVE_COLUMNS = tuple(c.name for c in live_forecasts_table.columns if c.name not in ("id", "created_at"))
_REQUIRED = {c.name for c in live_forecasts_table.columns if not c.nullable} - {"id", "created_at"}


def _checked(i: int, row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The row as the table takes it; ValueError names the row and field."""
    missing = sorted(k for k in _REQUIRED if row.get(k) is None)
    if missing:
        raise ValueError(f"row {i}: missing {', '.join(missing)}")
    record: dict[str, Any] = {k: row.get(k) for k in LIVE_COLUMNS}
    for name in ("win_prob", "margin", "elapsed_s", "emitted_at"):
        number = float(record[name])
        if not math.isfinite(number):
            raise ValueError(f"row {i}: {name} is {number}")
        record[name] = number
    if not 0.0 <= record["win_prob"] <= 1.0:
        raise ValueError(f"row {i}: win_prob {record['win_prob']} is not a probability")
    for name in (
        "spread",
        "total",
        "margin_low",
        "margin_high",
        "halftime",
        "halftime_low",
        "halftime_high",
        "halftime_coverage",
    ):
        value = record[name]
        record[name] = None if value is None or not math.isfinite(float(value)) else float(value)
    record["created_at"] = now
    return record


def write_live_forecasts(conn: Connection, rows: Sequence[Mapping[str, Any]], now: dt.datetime) -> int:
    """Insert live forecasts in one statement; a row whose event is already stored is skipped.
    Returns how many rows were new. Every row is checked before anything is written."""
    records = [_checked(i, row, now) for i, row in enumerate(rows)]
    if not records:
        return 0
    statement = dialect_insert(conn, live_forecasts_table)
    if statement is None:  # another database: skip the stored events by hand
        t = live_forecasts_table
        stored = {
            (c, g, s)
            for c, g, s in conn.execute(
                select(t.c.competition, t.c.game_id, t.c.seq).where(
                    t.c.game_id.in_({r["game_id"] for r in records})
                )
            )
        }
        records = [r for r in records if (r["competition"], r["game_id"], r["seq"]) not in stored]
        if records:
            conn.execute(insert(t), records)
        return len(records)
    done = conn.execute(statement.on_conflict_do_nothing(), records)
    return int(done.rowcount)


def last_live_id(engine: Engine) -> int:
    """The id of the latest live forecast (0 when there is none)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(live_forecasts_table.c.id))).scalar() or 0)


def live_forecasts_after(
    engine: Engine,
    competition: str | None,
    after_id: int = 0,
    limit: int = 1000,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Live forecasts of ``competition`` (None: every one) with an id above ``after_id`` (and
    created at or after ``since``), oldest first, at most ``limit``; ``date`` as ISO text,
    ``created_at`` as UTC ISO."""
    t = live_forecasts_table
    query = select(t).where(t.c.id > after_id)
    if competition is not None:
        query = query.where(t.c.competition == competition)
    if since is not None:
        query = query.where(t.c.created_at >= since)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.id).limit(limit)).mappings().all()
    return [
        {**row, "date": row["date"].isoformat(), "created_at": row["created_at"].isoformat() + "Z"}
        for row in rows
    ]


def live_games(engine: Engine, competition: str, since: dt.datetime) -> pd.DataFrame:
    """One row per game with a live forecast created since ``since``: its latest forecast's
    ``id``, ``game_id``, teams, score, ``elapsed_s`` and ``final``."""
    t = live_forecasts_table
    latest = (
        select(func.max(t.c.id).label("id"))
        .where(and_(t.c.competition == competition, t.c.created_at >= since))
        .group_by(t.c.game_id)
        .subquery()
    )
    query = select(
        t.c.id,
        t.c.game_id,
        *(t.c[k] for k in MATCH_KEY),
        t.c.home_score,
        t.c.away_score,
        t.c.elapsed_s,
        t.c.final,
    ).join(latest, latest.c.id == t.c.id)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all())


def game_events(engine: Engine, competition: str, game_ids: Sequence[str]) -> pd.DataFrame:
    """The stored forecasts of ``game_ids`` in feed order: what a restarted predictor rebuilds
    its game states from."""
    t = live_forecasts_table
    if not game_ids:
        return pd.DataFrame(columns=list(LIVE_COLUMNS))
    with engine.connect() as conn:
        rows = conn.execute(
            select(t)
            .where(and_(t.c.competition == competition, t.c.game_id.in_(list(game_ids))))
            .order_by(t.c.game_id, t.c.seq)
        ).mappings()
        return pd.DataFrame(rows.all())


def halftime_row(index: int, row: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any] | None:
    """The half-time score of a result row (``home_half``, ``away_half``), None when it has
    none; ValueError names the row when only one is given or one exceeds the final score."""
    home, away = row.get("home_half"), row.get("away_half")
    if home is None and away is None:
        return None
    if home is None or away is None:
        raise ValueError(f"row {index}: give both home_half and away_half, or neither")
    for field, value, final in (("home_half", home, "home_score"), ("away_half", away, "away_score")):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= result[final]:
            raise ValueError(
                f"row {index}: {field}: must be a whole number in 0..{result[final]}, got {value!r}"
            )
    return {**{k: result[k] for k in MATCH_KEY}, "home_half": home, "away_half": away}


def record_halftimes(conn: Connection, rows: Sequence[Mapping[str, Any]], now: dt.datetime) -> int:
    """Insert or correct half-time scores (MATCH_KEY, ``home_half``, ``away_half``); returns how
    many rows were written."""
    records = [
        {
            **{k: row[k] for k in MATCH_KEY},
            "home_half": row["home_half"],
            "away_half": row["away_half"],
            "recorded_at": now,
        }
        for row in rows
    ]
    if not records:
        return 0
    t = halftime_results_table
    statement = dialect_insert(conn, t)
    if statement is None:
        for record in records:
            conn.execute(t.delete().where(and_(*(t.c[k] == record[k] for k in MATCH_KEY))))
        conn.execute(insert(t), records)
        return len(records)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(MATCH_KEY),
            set_={c: statement.excluded[c] for c in ("home_half", "away_half", "recorded_at")},
        ),
        records,
    )
    return len(records)


def live_scores(engine: Engine, competition: str | None = None) -> pd.DataFrame:
    """Each game's live forecasts judged against what happened, one row per game with a
    half-time or final result (ordered by the game's first forecast): the halftime forecast (the
    game's first one) with its interval and nominal coverage, the actual half-time margin,
    ``halftime_error`` (forecast minus actual) and ``covered``; the final margin and
    ``win_brier``, the mean Brier score of the game's win probabilities."""
    t, h, r = live_forecasts_table, halftime_results_table, results_table
    first_half = (
        select(func.min(t.c.id)).where(t.c.halftime.is_not(None)).group_by(t.c.competition, t.c.game_id)
    )
    if competition is not None:
        first_half = first_half.where(t.c.competition == competition)
    key = [t.c[k] for k in MATCH_KEY]
    outcome = (r.c.home_score > r.c.away_score).label("home_won")
    finals_query = (
        select(
            *key,
            t.c.game_id,
            func.min(t.c.created_at).label("created_at"),
            func.avg(t.c.win_prob).label("mean_p"),
            func.avg(t.c.win_prob * t.c.win_prob).label("mean_p2"),
            (r.c.home_score - r.c.away_score).label("actual_margin"),
            outcome,
        )
        .join(r, and_(*(r.c[k] == t.c[k] for k in MATCH_KEY)))
        .group_by(*key, t.c.game_id, r.c.home_score, r.c.away_score)
    )
    if competition is not None:
        finals_query = finals_query.where(t.c.competition == competition)
    with engine.connect() as conn:
        halves = pd.DataFrame(
            conn.execute(
                select(
                    *key,
                    t.c.game_id,
                    t.c.created_at,
                    t.c.halftime,
                    t.c.halftime_low,
                    t.c.halftime_high,
                    t.c.halftime_coverage,
                    (h.c.home_half - h.c.away_half).label("actual_halftime"),
                )
                .join(h, and_(*(h.c[k] == t.c[k] for k in MATCH_KEY)))
                .where(t.c.id.in_(first_half.scalar_subquery()))
            )
            .mappings()
            .all(),
            columns=[
                *MATCH_KEY,
                "game_id",
                "created_at",
                "halftime",
                "halftime_low",
                "halftime_high",
                "halftime_coverage",
                "actual_halftime",
            ],
        )
        finals = pd.DataFrame(
            conn.execute(finals_query).mappings().all(),
            columns=[*MATCH_KEY, "game_id", "created_at", "mean_p", "mean_p2", "actual_margin", "home_won"],
        )
    halves["halftime_error"] = halves["halftime"] - halves["actual_halftime"]
    halves["covered"] = (halves["actual_halftime"] >= halves["halftime_low"]) & (
        halves["actual_halftime"] <= halves["halftime_high"]
    )
    won = finals.pop("home_won").astype(float)
    finals["win_brier"] = finals.pop("mean_p2") - 2 * won * finals.pop("mean_p") + won
    merged = halves.merge(finals, on=[*MATCH_KEY, "game_id"], how="outer", suffixes=("", "_final"))
    merged["created_at"] = merged["created_at"].fillna(merged.pop("created_at_final"))
    return merged.sort_values("created_at", ignore_index=True)
