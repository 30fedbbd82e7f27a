"""Reading the prediction store: predictions with their settlements, the features they were
made on (what drift monitoring compares), results, and the latest forecast of each fixture not
yet played (what the match centre lists). Readers never wait for writers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, false, func, select

from scoreline.predictions.outputs import feature_dict
from scoreline.predictions.rows import timestamp
from scoreline.predictions.tables import (
    MATCH_KEY,
    OUTCOMES,
    feature_sets_table,
    outputs_table,
    predictions_table,
    results_table,
    settlements_table,
)

__all__ = ["FeatureNames", "features", "predictions", "results", "upcoming"]


class FeatureNames(dict[int, tuple[str, ...]]):
    """Feature names per feature set id, read from the database once per set."""

    def read(self, conn: Connection) -> FeatureNames:
        t = feature_sets_table
        for set_id, names in conn.execute(select(t.c.id, t.c.names).where(t.c.id.notin_(list(self)))):
            self[set_id] = tuple(json.loads(names))
        return self


def predictions(
    engine: Engine,
    names: FeatureNames,
    competition: str | None = None,
    since: dt.datetime | str | None = None,
    settled: bool | None = None,
) -> pd.DataFrame:
    """Stored predictions (oldest first) with their settlement columns (``home_score``,
    ``away_score``, ``outcome``, ``rps``, ``log_loss``, ``brier``, ``settled_at``; null while
    unsettled). ``since``: created at or after (UTC); ``settled``: only settled (True) or
    unsettled (False) ones. ``detail`` and ``features`` come back as dicts."""
    p, s, o = predictions_table, settlements_table, outputs_table
    query = (
        select(
            p,
            o.c.detail,
            o.c.feature_set_id,
            o.c.features,
            *(c for c in s.columns if c.name != "prediction_id"),
        )
        .select_from(p.outerjoin(o, o.c.id == p.c.output_id).outerjoin(s, s.c.prediction_id == p.c.id))
        .order_by(p.c.id)
    )
    if competition is not None:
        query = query.where(p.c.competition == competition)
    if since is not None:
        query = query.where(p.c.created_at >= timestamp(since, "since"))
    if settled is not None:
        query = query.where(s.c.prediction_id.isnot(None) if settled else s.c.prediction_id.is_(None))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        names.read(conn)
    columns = (
        [c.name for c in p.columns]
        + ["detail", "feature_set_id", "features"]
        + [c.name for c in s.columns if c.name != "prediction_id"]
    )
    frame = pd.DataFrame(rows, columns=columns)
    frame["detail"] = [json.loads(v) if v is not None else None for v in frame["detail"]]
    frame["features"] = [
        feature_dict(names, set_id, values)
        for set_id, values in zip(frame["feature_set_id"], frame["features"])
    ]
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.drop(columns=["output_id", "feature_set_id"])


def features(
    engine: Engine,
    names: FeatureNames,
    competition: str | None = None,
    since: dt.datetime | str | None = None,
    model_version: str | None = None,
) -> pd.DataFrame:
    """The features of stored predictions, one float64 row per prediction (index: its id,
    oldest first; NaN where a prediction lacks a feature). ``since``: created at or after (UTC)."""
    p, o = predictions_table, outputs_table
    query = (
        select(p.c.id, o.c.feature_set_id, o.c.features)
        .select_from(p.join(o, o.c.id == p.c.output_id))
        .where(o.c.features.isnot(None))
        .order_by(p.c.id)
    )
    if competition is not None:
        query = query.where(p.c.competition == competition)
    if since is not None:
        query = query.where(p.c.created_at >= timestamp(since, "since"))
    if model_version is not None:
        query = query.where(p.c.model_version == str(model_version))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        names.read(conn)
    blocks: dict[int, tuple[list[int], list[bytes]]] = {}
    for prediction_id, set_id, values in rows:
        blocks.setdefault(set_id, ([], []))
        blocks[set_id][0].append(prediction_id)
        blocks[set_id][1].append(values)
    parts = [
        pd.DataFrame(
            np.frombuffer(b"".join(values), dtype="<f8").reshape(len(ids), -1),
            index=ids,
            columns=list(names[set_id]),
        )
        for set_id, (ids, values) in blocks.items()
    ]
    if not parts:
        return pd.DataFrame(index=pd.Index([], name="id", dtype="int64"))
    frame = pd.concat(parts).sort_index().astype(np.float64)
    frame.index.name = "id"
    return frame


def results(engine: Engine, competition: str | None = None) -> pd.DataFrame:
    """Stored results, by date."""
    t = results_table
    query = select(t).order_by(t.c.date, t.c.competition, t.c.home_team)
    if competition is not None:
        query = query.where(t.c.competition == competition)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in t.columns])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def upcoming(
    engine: Engine, competition: str, start: dt.date, end: dt.date, limit: int
) -> list[dict[str, Any]]:
    """The latest stored forecast of each ``competition`` fixture dated ``start`` to ``end``
    (inclusive) that has no result yet (what-if forecasts are not fixtures), by date then home
    team; at most ``limit`` rows. Each row has the prediction's columns, its ``prediction_id``
    and ``fair_odds_<outcome>`` (1 / probability; null where the probability is)."""
    p, r = predictions_table, results_table
    latest = (
        select(func.max(p.c.id))
        .where(p.c.competition == competition, p.c.date >= start, p.c.date <= end)
        .where(p.c.what_if.is_(false()))
        .group_by(*(p.c[k] for k in MATCH_KEY))
    )
    played = and_(*(r.c[k] == p.c[k] for k in MATCH_KEY))
    query = (
        select(
            p.c.id,
            p.c.created_at,
            p.c.date,
            p.c.home_team,
            p.c.away_team,
            p.c.neutral,
            p.c.model_name,
            p.c.model_version,
            *(p.c[f"prob_{o}"] for o in OUTCOMES),
        )
        .select_from(p.outerjoin(r, played))
        .where(p.c.id.in_(latest), r.c.competition.is_(None))
        .order_by(p.c.date, p.c.home_team, p.c.away_team)
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "prediction_id": row["id"],
            **{k: row[k] for k in row.keys() if k != "id"},
            **{f"fair_odds_{o}": 1.0 / row[f"prob_{o}"] if row[f"prob_{o}"] else None for o in OUTCOMES},
        }
        for row in rows
    ]
