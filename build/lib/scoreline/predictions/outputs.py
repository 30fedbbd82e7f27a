"""Forecast outputs and feature sets: what a model said beyond probabilities (its detail as
JSON, its features as float64 bytes) stored once however many predictions share it, addressed
by a content digest, and the feature names once per distinct list."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select

from scoreline.predictions.postgres import dialect_insert
from scoreline.predictions.rows import chunks
from scoreline.predictions.tables import FeatureVector, feature_sets_table, outputs_table

__all__ = ["OUTPUT_IDS_KEPT", "feature_dict", "output_item", "store_feature_sets", "store_outputs"]

#: output ids a store remembers by digest (about 150 bytes each)
OUTPUT_IDS_KEPT = 20_000


def store_feature_sets(conn: Connection, names: set[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """The ``feature_sets`` id of each names tuple, inserted when missing."""
    t, ids = feature_sets_table, {}
    for key in names:
        listed = json.dumps(list(key))
        digest = hashlib.sha256(listed.encode()).hexdigest()
        found = conn.execute(select(t.c.id).where(t.c.digest == digest)).scalar()
        if found is None:
            statement = dialect_insert(conn, t)
            if statement is None:
                found = conn.execute(insert(t).values(digest=digest, names=listed)).inserted_primary_key[0]  # type: ignore[index]
            else:  # a concurrent writer's identical set is kept
                conn.execute(
                    statement.values(digest=digest, names=listed).on_conflict_do_nothing(
                        index_elements=["digest"]
                    )
                )
                found = conn.execute(select(t.c.id).where(t.c.digest == digest)).scalar_one()
        ids[key] = int(found)
    return ids


def output_item(
    sets: dict[tuple[str, ...], int], vector: FeatureVector | None, detail: str | None
) -> tuple[str, int | None, bytes | None, str | None]:
    """``(digest, feature_set_id, features, detail)`` of a ``forecast_outputs`` row."""
    set_id = sets[vector.names] if vector is not None else None
    values = np.ascontiguousarray(vector.values, "<f8").tobytes() if vector is not None else None
    digest = hashlib.blake2b(
        f"{set_id}|{len(values or b'')}|".encode() + (values or b"") + (detail or "").encode(), digest_size=16
    ).hexdigest()
    return digest, set_id, values, detail


def store_outputs(conn: Connection, items: list[tuple]) -> dict[str, int]:
    """The ``forecast_outputs`` id of each item's digest, inserted when missing (a concurrent
    writer's identical row is kept)."""
    t = outputs_table
    ids: dict[str, int] = {}
    digests = list(dict.fromkeys(item[0] for item in items))
    for chunk in chunks(digests, 500):
        ids.update((d, i) for d, i in conn.execute(select(t.c.digest, t.c.id).where(t.c.digest.in_(chunk))))
    rows = {
        item[0]: dict(zip(("digest", "feature_set_id", "features", "detail"), item))
        for item in items
        if item[0] not in ids
    }
    if rows:
        statement = dialect_insert(conn, t)
        statement = (
            statement.on_conflict_do_nothing(index_elements=["digest"])
            if statement is not None
            else insert(t)
        )
        conn.execute(statement, list(rows.values()))
        for chunk in chunks(list(rows), 500):
            ids.update(
                (d, i) for d, i in conn.execute(select(t.c.digest, t.c.id).where(t.c.digest.in_(chunk)))
            )
    return ids


def feature_dict(names: dict[int, tuple[str, ...]], set_id, values) -> dict | None:
    """Stored features as ``{name: value}`` (NaN as None)."""
    if values is None or set_id is None or pd.isna(set_id):
        return None
    numbers = np.frombuffer(values, dtype="<f8").tolist()
    return {name: (v if v == v else None) for name, v in zip(names[int(set_id)], numbers)}
