"""Converting a store written before outputs had a table of their own (JSON ``detail`` and
``features`` on each prediction): run when such a store is opened."""

from __future__ import annotations

import json

from sqlalchemy import Connection, inspect, text

from scoreline.predictions.outputs import output_item, store_feature_sets, store_outputs
from scoreline.predictions.rows import feature_vector
from scoreline.predictions.tables import predictions_table

__all__ = ["upgrade_schema"]


def upgrade_schema(conn: Connection) -> None:
    """Bring an older database up to date: add ``what_if`` (false for every stored forecast) and
    convert one from before ``forecast_outputs`` (:func:`_outputs_table`)."""
    columns = {c["name"] for c in inspect(conn).get_columns("predictions")}
    if "what_if" not in columns:
        conn.execute(text("ALTER TABLE predictions ADD COLUMN what_if BOOLEAN NOT NULL DEFAULT FALSE"))
    if "output_id" not in columns:
        _outputs_table(conn)


def _outputs_table(conn: Connection) -> None:
    """Convert a database from before ``forecast_outputs``: each prediction's JSON ``detail`` and
    ``features`` become an output (features as numbers with their feature set), then those two
    columns go."""
    conn.execute(
        text("ALTER TABLE predictions ADD COLUMN output_id INTEGER REFERENCES forecast_outputs (id)")
    )
    legacy = conn.execute(
        text("SELECT id, detail, features FROM predictions WHERE detail IS NOT NULL OR features IS NOT NULL")
    ).all()
    vectors, details = [], []
    for prediction_id, detail, features in legacy:
        try:
            vectors.append(feature_vector(prediction_id, features))
            details.append(detail)
        except ValueError:  # not numbers: kept, in the detail
            vectors.append(None)
            details.append(json.dumps({**json.loads(detail or "{}"), "features": json.loads(features)}))
    sets = store_feature_sets(conn, {v.names for v in vectors if v is not None})
    items = [output_item(sets, vector, detail) for vector, detail in zip(vectors, details)]
    ids = store_outputs(conn, items)
    p = predictions_table
    for (prediction_id, _, _), item in zip(legacy, items):
        conn.execute(p.update().where(p.c.id == prediction_id).values(output_id=ids[item[0]]))
    for column in ("detail", "features"):
        conn.execute(text(f"ALTER TABLE predictions DROP COLUMN {column}"))
