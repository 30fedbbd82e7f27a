"""Settling predictions: each prediction whose match has a result gets its outcome and scores
(three-way RPS, log loss and Brier for football; two-way for the others, where a tie has no
score). Idempotent: a prediction is scored again only when its result was corrected."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, func, insert, or_, select

from scoreline.config import COMPETITIONS
from scoreline.evaluation.report import per_match_losses
from scoreline.predictions.postgres import serialise
from scoreline.predictions.rows import chunks
from scoreline.predictions.tables import (
    MATCH_KEY,
    OUTCOMES,
    predictions_table,
    results_table,
    settlements_table,
)

__all__ = ["settle", "settlement_rows"]


def settle(conn: Connection, now: dt.datetime) -> dict[str, int]:
    """Score, in the open write transaction ``conn``, every prediction whose match has a result
    and that is unsettled or was settled on a since-corrected score.

    Returns counts: ``settled`` (newly), ``resettled`` (score corrected), ``unchanged``
    (already settled on the current result), ``pending`` (no result yet).
    """
    p, r, s = predictions_table, results_table, settlements_table
    matched = and_(*(p.c[k] == r.c[k] for k in MATCH_KEY))
    query = (
        select(
            p.c.id,
            p.c.competition,
            p.c.prob_home,
            p.c.prob_draw,
            p.c.prob_away,
            r.c.home_score,
            r.c.away_score,
            s.c.prediction_id.label("settled"),
        )
        .select_from(p.join(r, matched).outerjoin(s, s.c.prediction_id == p.c.id))
        .where(
            or_(
                s.c.prediction_id.is_(None),
                s.c.home_score != r.c.home_score,
                s.c.away_score != r.c.away_score,
            )
        )
    )
    serialise(conn, "settle")  # two settles would score the same predictions
    due = pd.DataFrame(
        conn.execute(query).mappings().all(),
        columns=[
            "id",
            "competition",
            "prob_home",
            "prob_draw",
            "prob_away",
            "home_score",
            "away_score",
            "settled",
        ],
    )
    rows = settlement_rows(due, now)
    redo = due.loc[due["settled"].notna(), "id"].astype(int).tolist()
    for chunk in chunks(redo, 500):
        conn.execute(s.delete().where(s.c.prediction_id.in_(chunk)))
    if rows:
        conn.execute(insert(s), rows)
    total = conn.execute(select(func.count()).select_from(p)).scalar_one()
    settled = conn.execute(select(func.count()).select_from(s)).scalar_one()
    resettled = len(redo)
    return {
        "settled": len(rows) - resettled,
        "resettled": resettled,
        "unchanged": settled - len(rows),
        "pending": total - settled,
    }


def settlement_rows(due: pd.DataFrame, now: dt.datetime) -> list[dict[str, Any]]:
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
            rows.append(
                {
                    "prediction_id": int(prediction_id),
                    "home_score": int(home[j]),
                    "away_score": int(away[j]),
                    "outcome": str(names[j]),
                    **{name: (None if math.isnan(v[j]) else float(v[j])) for name, v in losses.items()},
                    "settled_at": now,
                }
            )
    return rows
