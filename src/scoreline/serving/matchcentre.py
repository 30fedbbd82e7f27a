"""What the match-centre page shows of monitoring: the fields of the latest monitoring summary as
:class:`~scoreline.serving.schemas.MonitoringStatus` gives them (the upcoming fixtures are the
prediction store's :meth:`~scoreline.predictions.store.PredictionStore.upcoming`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["monitoring_status"]


def monitoring_status(code: str, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields of :class:`~scoreline.serving.schemas.MonitoringStatus` from a monitoring
    ``summary`` (None: no run yet). Non-finite figures are left out (JSON has no NaN)."""
    if summary is None:
        return {
            "competition": code,
            "has_run": False,
            "message": f"no monitoring run yet for {code}: `scoreline monitor --competition "
            f"{code}` writes one",
        }
    alerts = [str(a) for a in summary.get("alerts") or []]
    drift = summary.get("drift") or {}
    live = (summary.get("quality") or {}).get("live") or {}
    backtest = (summary.get("quality") or {}).get("backtest") or {}
    window = summary.get("window") or {}
    champion = summary.get("champion") or {}
    at = summary.get("at")
    return {
        "competition": code,
        "has_run": True,
        "message": f"{len(alerts)} alert(s)" if alerts else "no alerts",
        "at": at,
        "ok": not alerts,
        "alerts": alerts,
        "notes": [str(n) for n in summary.get("notes") or []],
        "champion_version": str(champion["version"]) if "version" in champion else None,
        "drift_share": _finite(drift.get("share")),
        "drifted_features": [str(f) for f in drift.get("drifted") or []],
        "compared_features": len(drift["features"]) if "features" in drift else None,
        "window_predictions": window.get("predictions"),
        "window_settled": window.get("settled"),
        "live": {k: v for k, v in live.items() if _finite(v) is not None},
        # the champion's walk-forward scores: what a live figure is judged against
        "backtest": {k: v for k, v in backtest.items() if k != "n" and _finite(v) is not None},
        "coverage": {
            k: v["coverage"]
            for k, v in (live.get("coverage") or {}).items()
            if isinstance(v, dict) and _finite(v.get("coverage")) is not None
        },
    }


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
