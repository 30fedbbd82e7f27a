"""The prediction store's tables (SQLAlchemy Core metadata).

``predictions``: one row per forecast (the request, the probabilities, prices and its
``output_id``); ``forecast_outputs``: what the model said beyond probabilities (the detail as
JSON, the features as float64 bytes), stored once however many predictions share them;
``feature_sets``: feature names, once per distinct list; ``results``: one row per played match,
keyed by :data:`MATCH_KEY`; ``settlements``: per prediction, the score it was settled on, the
outcome, RPS, log loss and Brier. Times are naive UTC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)

__all__ = [
    "MATCH_KEY",
    "OUTCOMES",
    "FeatureVector",
    "feature_sets_table",
    "match_key_columns",
    "metadata",
    "outputs_table",
    "predictions_table",
    "results_table",
    "settlements_table",
]

OUTCOMES = ("home", "draw", "away")
#: the columns naming a fixture: results are keyed by them, predictions and bets indexed
MATCH_KEY = ("competition", "date", "home_team", "away_team")

metadata = MetaData()


feature_sets_table = Table(
    "feature_sets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: SHA-256 of ``names``
    Column("digest", String(64), nullable=False, unique=True),
    #: the feature names as a JSON list, in the order of the stored values
    Column("names", Text, nullable=False),
)


outputs_table = Table(
    "forecast_outputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: BLAKE2b-128 (hex) of the feature set id, the feature bytes and the detail text
    Column("digest", String(32), nullable=False, unique=True),
    Column("feature_set_id", Integer, ForeignKey("feature_sets.id")),
    #: float64 values (little-endian) in the order of the feature set's names
    Column("features", LargeBinary),
    Column("detail", Text),
)


predictions_table = Table(
    "predictions",
    metadata,
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
    #: a what-if forecast (the match centre's form): logged, never listed as a fixture
    Column("what_if", Boolean, nullable=False, server_default=false()),
    Index("ix_predictions_match", "competition", "date", "home_team", "away_team"),
    Index("ix_predictions_created_at", "created_at"),
)


def match_key_columns() -> list[Column]:
    """New columns naming a fixture (:data:`MATCH_KEY`), for a table keyed by it."""
    return [
        Column("competition", String(16), nullable=False),
        Column("date", Date, nullable=False),
        Column("home_team", String(200), nullable=False),
        Column("away_team", String(200), nullable=False),
    ]


results_table = Table(
    "results",
    metadata,
    *match_key_columns(),
    Column("home_score", Integer, nullable=False),
    Column("away_score", Integer, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    PrimaryKeyConstraint(*MATCH_KEY),
)


settlements_table = Table(
    "settlements",
    metadata,
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
PREDICTION_FIELDS = frozenset(c.name for c in predictions_table.columns) - {"id", "output_id"} | {
    "features",
    "detail",
}


#: what a stored forecast holds besides its id, time and output: the fixture, the model, the
#: probabilities and the prices offered
FORECAST_COLUMNS = (
    "competition",
    "model_name",
    "model_version",
    "date",
    "home_team",
    "away_team",
    "neutral",
    *(f"prob_{o}" for o in OUTCOMES),
    *(f"price_{o}" for o in OUTCOMES),
)
#: the columns :meth:`PredictionStore.record_predictions` writes, in insert order
WRITTEN = ("id", "created_at", *FORECAST_COLUMNS, "output_id", "what_if")


@dataclass(frozen=True, eq=False)
class FeatureVector:
    """A prediction's features as the store keeps them: ``values`` (float64, NaN = missing) in
    the order of ``names``. Rows of one model share one ``names`` tuple."""

    names: tuple[str, ...]
    values: np.ndarray
