"""Live in-game forecasts in the monitor: the rolling coverage of the halftime intervals over
the latest games with a half-time score, and the alert when it falls too far under nominal
(the same rule as Prometheus's ``LiveCoverageLow``, ``deploy/prometheus/alerts.yml``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from scoreline.monitoring.policy import MonitoringPolicy

__all__ = ["live_alerts", "live_coverage"]


def live_coverage(scores: pd.DataFrame, window: int) -> dict[str, dict[str, Any]]:
    """Per nominal coverage level (``"0.8"``): of the latest ``window`` games whose halftime
    forecast has a half-time score (``live_scores``' rows, oldest first), how many (``n``), the
    share whose interval held the actual margin (``coverage``) and the mean absolute error."""
    if scores.empty:
        return {}
    judged = scores.dropna(subset=["halftime", "actual_halftime"]).tail(window)
    return {
        f"{nominal:g}": {
            "n": len(games),
            "nominal": float(nominal),
            "coverage": float(games["covered"].astype(bool).mean()),
            "mae": float(games["halftime_error"].abs().mean()),
        }
        for nominal, games in judged.groupby("halftime_coverage")
    }


def live_alerts(code: str, coverage: dict[str, dict[str, Any]], policy: MonitoringPolicy) -> list[str]:
    """An alert per level whose rolling coverage is more than
    ``policy.live_coverage_below_nominal_max`` under nominal, from ``policy.live_min_games`` games."""
    found = []
    for level in coverage.values():
        short = level["nominal"] - level["coverage"]
        if level["n"] >= policy.live_min_games and short > policy.live_coverage_below_nominal_max:
            found.append(
                f"ALERT: {code} live halftime {level['nominal']:.0%} intervals held {level['coverage']:.1%} "
                f"of the last {level['n']} games, {short:.1%} under nominal "
                f"(max {policy.live_coverage_below_nominal_max:.0%})"
            )
    return found
