"""What concurrent writers need (PostgreSQL in team mode): transaction-level advisory locks for
the two read-then-write operations, and inserts that keep a concurrent writer's identical row.

SQLite writers are already one at a time (BEGIN IMMEDIATE, :mod:`scoreline.predictions.sqlite`);
PostgreSQL's run concurrently, which inserts and upserts handle, but creating the schema and
settling (read, then write what was read) must not interleave.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, text
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["ADVISORY_LOCKS", "dialect_insert", "serialise"]

#: transaction-level advisory lock keys (PostgreSQL), per serialised operation
ADVISORY_LOCKS = {"schema": 0x5C0E_0001, "settle": 0x5C0E_0002}


def serialise(conn: Connection, operation: str) -> None:
    """On PostgreSQL, wait for any other transaction doing ``operation`` and hold it off until
    this one ends (``pg_advisory_xact_lock``). SQLite writers are already one at a time
    (BEGIN IMMEDIATE); PostgreSQL's run concurrently, which inserts and upserts handle, but
    schema creation and settlement (read, then write what was read) must not interleave."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCKS[operation]})


def dialect_insert(conn: Connection, table: Table):
    """INSERT of ``table`` that supports ``on_conflict_*`` on SQLite and PostgreSQL; None on
    other databases."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return None
