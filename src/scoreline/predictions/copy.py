"""Copying a whole prediction store into a new database (``scoreline migrate-store``: the SQLite
store into PostgreSQL for team mode)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import MetaData, func, insert, inspect, select
from sqlalchemy.engine import make_url

from scoreline.predictions.store import PredictionStore
from scoreline.predictions.tables import metadata

__all__ = ["copy_store"]


def copy_store(
    source: PredictionStore, target: PredictionStore, chunk_rows: int = 5_000, extra: Sequence[MetaData] = ()
) -> dict[str, int]:
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
            raise ValueError(
                f"{make_url(target.url).render_as_string(hide_password=True)} is not "
                f"empty ({', '.join(f'{n} {k}' for k, n in held.items() if n)}): "
                "copy into a new database"
            )
        with source.engine.connect() as read, read.begin():
            for table in tables:
                result = read.execution_options(yield_per=chunk_rows).execute(
                    select(table).order_by(*table.primary_key.columns)
                )
                copied[table.name] = 0
                for rows in result.mappings().partitions():
                    out.execute(insert(table), [dict(row) for row in rows])
                    copied[table.name] += len(rows)
        if out.dialect.name == "postgresql":
            for table in tables:
                if "id" in table.c and table.c.id.autoincrement is True:
                    sequence = func.pg_get_serial_sequence(table.name, "id")
                    after = func.coalesce(func.max(table.c.id), 0) + 1
                    out.execute(select(func.setval(sequence, after, False)))
    return copied
