"""Monitoring thresholds: the ``monitoring:`` section of ``registry/policy.yaml``.

Validated into a frozen pydantic model before anything runs; an unknown key or a bad value is
an error naming ``monitoring.<key>``. A policy file without the section gets the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["MonitoringPolicy", "load_monitoring_policy", "parse_monitoring_policy"]


class MonitoringPolicy(BaseModel):
    """When a monitoring run raises an alert (and which data it compares)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: seasons of the champion's training history that form the drift reference
    reference_seasons: int = Field(2, ge=1)
    #: window of recent predictions (by creation time) when no --since/--days is given
    current_days: int = Field(28, ge=1)
    #: without --since/--days the window also reaches back (up to ``max_days``) far enough to
    #: hold this many settled predictions: on E0, 28 days rarely hold the ``min_settled`` 50
    current_matches: int | None = Field(None, ge=1)
    max_days: int = Field(120, ge=1)
    #: drift is judged only on at least this many recent predictions with features
    min_current: int = Field(30, ge=1)
    #: alert when the share of drifted features exceeds this
    drift_share_max: float = Field(0.4, gt=0.0, le=1.0)
    #: Evidently stat test for every feature (``ks``, ``wasserstein``, ``psi`` ...) and its
    #: threshold; unset = Evidently's per-column defaults
    drift_method: str | None = None
    drift_threshold: float | None = Field(None, gt=0.0)
    #: quality checks apply from this many settled predictions on
    min_settled: int = Field(50, ge=1)
    #: alert when live log loss / Brier is worse than the champion's backtest by more than this
    log_loss_worse_by_max: float = Field(0.05, ge=0.0)
    brier_worse_by_max: float = Field(0.03, ge=0.0)
    #: two-way sports: alert when an interval's live coverage is below its level by more
    coverage_below_target_max: float = Field(0.05, ge=0.0, le=1.0)
    #: live halftime intervals: the rolling window (latest games with a half-time score), the
    #: games needed before judging, and the alert when coverage is under nominal by more than
    #: this (0.10: 85 % for the 95 % interval, as the Prometheus rule)
    live_coverage_window: int = Field(100, ge=1)
    live_min_games: int = Field(30, ge=1)
    live_coverage_below_nominal_max: float = Field(0.10, ge=0.0, le=1.0)


def parse_monitoring_policy(data: Any, source: str = "policy") -> MonitoringPolicy:
    """The ``monitoring`` mapping of a policy document (absent or null = defaults)."""
    section = (data or {}).get("monitoring") if isinstance(data, dict) else None
    try:
        return MonitoringPolicy.model_validate(section or {})
    except ValidationError as err:
        problems = []
        for problem in err.errors():
            where = ".".join(["monitoring", *(str(p) for p in problem["loc"])])
            message = "unknown key (typo?)" if problem["type"] == "extra_forbidden" else problem["msg"]
            problems.append(f"{where}: {message}")
        raise ValueError(f"{source}: {'; '.join(problems)}") from None


def load_monitoring_policy(path: Path) -> MonitoringPolicy:
    """The monitoring thresholds of the policy file at ``path`` (defaults when it is missing)."""
    if not path.is_file():
        return MonitoringPolicy()
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from None
    return parse_monitoring_policy(data, str(path))
