"""Threshold checks of one monitoring run: each breach is one ``ALERT: ...`` line a scheduler
can act on (retrain: ``scoreline pipeline run weekly_training``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scoreline.monitoring.drift import Drift
from scoreline.monitoring.policy import MonitoringPolicy

__all__ = ["alerts"]

TOP_DRIFTED = 8


def alerts(
    code: str,
    drift: Drift | None,
    live: Mapping[str, Any],
    backtest: Mapping[str, float],
    policy: MonitoringPolicy,
) -> list[str]:
    """Every breached threshold of ``policy``, as a message naming the figure and its bound.

    Drift counts from ``min_current`` predictions with features, quality from ``min_settled``
    settled ones; a loss is compared only when the champion's backtest recorded it.
    """
    found = []
    if (
        drift is not None
        and drift.current_rows >= policy.min_current
        and drift.share > policy.drift_share_max
    ):
        names = drift.drifted
        listed = ", ".join(names[:TOP_DRIFTED]) + (" ..." if len(names) > TOP_DRIFTED else "")
        found.append(
            f"ALERT: {code} data drift: {len(names)} of {len(drift.features)} features "
            f"drifted (share {drift.share:.2f} > {policy.drift_share_max:g}): {listed}"
        )
    if live.get("n", 0) < policy.min_settled:
        return found
    for metric, allowed in (("log_loss", policy.log_loss_worse_by_max), ("brier", policy.brier_worse_by_max)):
        if metric in live and metric in backtest and live[metric] - backtest[metric] > allowed:
            found.append(
                f"ALERT: {code} live {metric} {live[metric]:.4f} on {live['n']} settled "
                f"predictions is worse than the backtest's {backtest[metric]:.4f} by "
                f"{live[metric] - backtest[metric]:.4f} (max {allowed:g})"
            )
    for name, interval in live.get("coverage", {}).items():
        short = interval["level"] - interval["coverage"]
        if interval["n"] >= policy.min_settled and short > policy.coverage_below_target_max:
            found.append(
                f"ALERT: {code} {name.replace('_', ' ')}% interval covers "
                f"{interval['coverage']:.1%} of {interval['n']} settled matches, "
                f"{short:.1%} below its {interval['level']:.0%} target "
                f"(max {policy.coverage_below_target_max:.0%})"
            )
    return found
