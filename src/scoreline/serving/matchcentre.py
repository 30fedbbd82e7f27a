"""What the match-centre page reads besides forecasts: the stored predictions of fixtures not yet
played, and the latest monitoring summary of a competition.

Both are read-only. Upcoming fixtures are whatever the prediction store holds for them (the
matchday pipeline's forecasts and the service's own), one row per fixture: its latest forecast.
Monitoring summaries are the ``summary.json`` files ``scoreline monitor`` writes under
``reports/monitoring/<code>/<UTC stamp>/``; the newest readable one counts, so a summary caught
half-written is passed over for the run before it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import and_, func, select

from scoreline.serving.store import (
    MATCH_KEY, OUTCOMES, PredictionStore, predictions_table, results_table,
)

__all__ = ["latest_monitoring_summary", "monitoring_status", "upcoming_predictions"]

logger = logging.getLogger("scoreline.serving")

#: a monitoring run's folder: ``20261124T050000Z`` or, for a second run that second, ``...Z-2``
RUN_FOLDER = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


def upcoming_predictions(store: PredictionStore, competition: str, start: dt.date, end: dt.date,
                         limit: int) -> list[dict[str, Any]]:
    """The latest stored forecast of each ``competition`` fixture dated ``start`` to ``end``
    (inclusive) that has no result yet, by date then home team; at most ``limit`` rows. Each
    row has the prediction's columns, its ``prediction_id`` and ``fair_odds_<outcome>`` (1 /
    probability; null where the probability is)."""
    p, r = predictions_table, results_table
    latest = (select(func.max(p.c.id))
              .where(p.c.competition == competition, p.c.date >= start, p.c.date <= end)
              .group_by(*(p.c[k] for k in MATCH_KEY)))
    played = and_(*(r.c[k] == p.c[k] for k in MATCH_KEY))
    query = (select(p.c.id, p.c.created_at, p.c.date, p.c.home_team, p.c.away_team, p.c.neutral,
                    p.c.model_name, p.c.model_version, *(p.c[f"prob_{o}"] for o in OUTCOMES))
             .select_from(p.outerjoin(r, played))
             .where(p.c.id.in_(latest), r.c.competition.is_(None))
             .order_by(p.c.date, p.c.home_team, p.c.away_team).limit(limit))
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [{"prediction_id": row["id"],
             **{k: row[k] for k in row.keys() if k != "id"},
             **{f"fair_odds_{o}": _fair_odds(row[f"prob_{o}"]) for o in OUTCOMES}}
            for row in rows]


def _fair_odds(probability: float | None) -> float | None:
    return 1.0 / probability if probability else None


def latest_monitoring_summary(folder: Path) -> dict[str, Any] | None:
    """The newest readable ``summary.json`` among the run folders in ``folder``
    (``reports/monitoring/<code>``); None when there is none."""
    if not folder.is_dir():
        return None
    runs = []
    for run in folder.iterdir():
        match = RUN_FOLDER.match(run.name)
        if match and run.is_dir():
            runs.append(((match[1], int(match[2] or 1)), run))
    for _, run in sorted(runs, key=lambda item: item[0], reverse=True):
        try:
            summary = json.loads((run / "summary.json").read_text())
        except (OSError, ValueError) as error:  # missing, or caught while being written
            logger.warning("monitoring summary in %s skipped: %s", run, error)
            continue
        if isinstance(summary, dict):
            return summary
    return None


def monitoring_status(code: str, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields of :class:`~scoreline.serving.schemas.MonitoringStatus` from a monitoring
    ``summary`` (None: no run yet). Non-finite figures are left out (JSON has no NaN)."""
    if summary is None:
        return {"competition": code, "has_run": False,
                "message": f"no monitoring run yet for {code}: `scoreline monitor --competition "
                           f"{code}` writes one"}
    alerts = [str(a) for a in summary.get("alerts") or []]
    drift = summary.get("drift") or {}
    live = (summary.get("quality") or {}).get("live") or {}
    window = summary.get("window") or {}
    champion = summary.get("champion") or {}
    at = summary.get("at")
    return {
        "competition": code, "has_run": True,
        "message": f"{len(alerts)} alert(s)" if alerts else "no alerts",
        "at": at, "ok": not alerts, "alerts": alerts,
        "notes": [str(n) for n in summary.get("notes") or []],
        "champion_version": str(champion["version"]) if "version" in champion else None,
        "drift_share": _finite(drift.get("share")),
        "drifted_features": [str(f) for f in drift.get("drifted") or []],
        "compared_features": len(drift["features"]) if "features" in drift else None,
        "window_predictions": window.get("predictions"),
        "window_settled": window.get("settled"),
        "live": {k: v for k, v in live.items() if _finite(v) is not None},
        "coverage": {k: v["coverage"] for k, v in (live.get("coverage") or {}).items()
                     if isinstance(v, dict) and _finite(v.get("coverage")) is not None},
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
