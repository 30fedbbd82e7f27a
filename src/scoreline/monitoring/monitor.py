"""One monitoring run of a competition's champion: drift of its inputs, live quality of its
settled forecasts, threshold alerts; written as an Evidently HTML report, a JSON summary, a
Prometheus gauge file and an MLflow ``monitor`` run.

:func:`evaluate` is the pure part (frames in, summary out); :func:`monitor` wires it to the
registry, the prediction store and the outputs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd

from scoreline.config import Settings
from scoreline.config import competition as competition_of
from scoreline.forecasts.champion import load_champion
from scoreline.monitoring.alerts import alerts
from scoreline.monitoring.drift import Drift, data_drift, reference_features
from scoreline.monitoring.gauges import gauge_text, write_gauges
from scoreline.monitoring.live import live_alerts, live_coverage
from scoreline.monitoring.policy import MonitoringPolicy, load_monitoring_policy
from scoreline.monitoring.quality import backtest_figures, live_quality
from scoreline.monitoring.report import save_report
from scoreline.monitoring.summaries import monitoring_dir, new_run_folder
from scoreline.predictions.store import PredictionStore
from scoreline.promotion.policy import policy_path
from scoreline.tracking.experiments import step_run

__all__ = ["MonitorResult", "evaluate", "monitor"]

GAUGE_FILE = "scoreline_monitor.prom"


@dataclass
class MonitorResult:
    """The summary (what ``--json`` prints and ``summary.json`` holds) and the drift run."""

    summary: dict[str, Any]
    drift: Drift | None

    @property
    def alerts(self) -> list[str]:
        return self.summary["alerts"]

    @property
    def ok(self) -> bool:
        return not self.summary["alerts"]


def evaluate(
    code: str,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    settled: pd.DataFrame,
    backtest: Mapping[str, float],
    policy: MonitoringPolicy,
    now: dt.datetime | None = None,
    live_scores: pd.DataFrame | None = None,
) -> MonitorResult:
    """Drift of ``current`` features against ``reference`` features, live quality of
    ``settled`` predictions against ``backtest`` figures, the rolling coverage of the live
    halftime intervals (``live_scores``: the store's ``live_scores``), and the alerts ``policy``
    raises.

    Drift is skipped (with a note) below ``policy.min_current`` current rows.
    """
    now = now or dt.datetime.now(dt.UTC)
    notes = []
    drift = None
    if len(current) >= policy.min_current:
        drift = data_drift(
            reference, current, policy.drift_share_max, policy.drift_method, policy.drift_threshold
        )
    else:
        notes.append(
            f"drift not judged: {len(current)} recent predictions with features "
            f"(min_current {policy.min_current})"
        )
    live = live_quality(settled, code) if len(settled) else {"n": 0}
    if live["n"] < policy.min_settled:
        notes.append(
            f"quality not judged: {live['n']} settled predictions (min_settled {policy.min_settled})"
        )
    found = alerts(code, drift, live, backtest, policy)
    ingame = live_coverage(live_scores, policy.live_coverage_window) if live_scores is not None else {}
    found += live_alerts(code, ingame, policy)
    summary = {
        "competition": code,
        "at": now.isoformat(timespec="seconds"),
        "timestamp": now.timestamp(),
        "ok": not found,
        "alerts": found,
        "notes": notes,
        "drift": drift.to_dict() if drift is not None else None,
        "quality": {"live": live, "backtest": dict(backtest), "ingame_coverage": ingame},
        "policy": policy.model_dump(),
    }
    return MonitorResult(summary, drift)


def _metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    out = {"alerts": float(len(summary["alerts"]))}
    drift = summary.get("drift")
    if drift:
        out |= {
            "drift_share": drift["share"],
            "drifted_features": float(len(drift["drifted"])),
            "compared_features": float(len(drift["features"])),
            "current_rows": float(drift["current_rows"]),
        }
    live = summary["quality"]["live"]
    out |= {f"live.{k}": float(v) for k, v in live.items() if isinstance(v, (int, float))}
    out |= {f"coverage.{k}": v["coverage"] for k, v in live.get("coverage", {}).items()}
    ingame = summary["quality"].get("ingame_coverage", {})
    out |= {f"ingame_coverage.{k}": v["coverage"] for k, v in ingame.items()}
    return {k: v for k, v in out.items() if math.isfinite(v)}


def window_start(
    store: PredictionStore, code: str, now: dt.datetime, since: dt.datetime, matches: int, max_days: int
) -> dt.datetime:
    """``since``, or earlier (not before ``now - max_days``) so that the window up to ``now``
    holds ``matches`` settled predictions: a window sized by matches, not by days."""
    earliest = now - dt.timedelta(days=max_days)
    settled = store.predictions(code, since=earliest, settled=True)
    created = pd.to_datetime(settled["created_at"], utc=True) if len(settled) else pd.Series(dtype=object)
    created = created[created <= pd.Timestamp(now)].sort_values()
    if len(created) < matches:
        return earliest if len(created) else since
    return min(since, created.iloc[-matches].to_pydatetime())


def monitor(
    settings: Settings,
    code: str,
    *,
    since: dt.datetime | str | None = None,
    days: int | None = None,
    parent_run_id: str = "",
    policy: MonitoringPolicy | None = None,
    now: dt.datetime | None = None,
) -> MonitorResult:
    """Monitor ``code``'s champion on the predictions created since ``since`` (else in the last
    ``days``, else the policy's ``current_days``, reaching back further, up to ``max_days``,
    until the window holds ``current_matches`` settled predictions) and write every output.
    ``now``: the monitored moment (a replay's simulated day), naming the run's folder.

    Reference: the champion's last ``reference_seasons`` training seasons. Outputs:
    ``reports/monitoring/<code>/<UTC stamp>/report.html`` and ``summary.json``, the gauge file
    ``reports/monitoring/<code>/scoreline_monitor.prom`` and a ``monitor`` MLflow run; the
    summary's ``alerts`` list every breached threshold.
    """
    code = competition_of(code).code
    if since is not None and days is not None:
        raise ValueError("give since or days, not both")
    if days is not None and days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    policy = policy or load_monitoring_policy(policy_path(settings.registry_path))
    now = now or dt.datetime.now(dt.UTC)
    now = now if now.tzinfo else now.replace(tzinfo=dt.UTC)  # naive means UTC, as stored
    sized = since is None and days is None
    start = now - dt.timedelta(days=days or policy.current_days)
    version, pyfunc = load_champion(settings, code)
    store = PredictionStore(settings.prediction_store)
    try:
        if sized and policy.current_matches:
            start = window_start(store, code, now, start, policy.current_matches, policy.max_days)
        since = start if since is None else since
        recent = store.predictions(code, since=since)
        settled = store.predictions(code, since=since, settled=True)
        current = store.features(code, since=since).reset_index(drop=True)
        ingame = store.live_scores(code)
    finally:
        store.close()
    reference = reference_features(pyfunc.history, code, policy.reference_seasons)
    base = monitoring_dir(settings, code)
    with step_run(parent_run_id, "monitor", code, settings) as run:
        result = evaluate(
            code, reference, current, settled, backtest_figures(version.tags), policy, now, ingame
        )
        folder = new_run_folder(base, now)
        summary = result.summary | {
            "champion": {
                "version": str(version.version),
                "model_name": version.tags.get("model_name", "unknown"),
            },
            "window": {
                "since": str(pd.Timestamp(since).isoformat()),
                "predictions": len(recent),
                "settled": len(settled),
            },
            "run_id": run.info.run_id,
            "folder": str(folder),
            "report_html": None,
            "gauges": str(base / GAUGE_FILE),
        }
        full = None
        if result.drift is not None:  # on disk its dashboard script is shared by every report
            path, full = save_report(result.drift.snapshot, folder / "report.html", summary, base.parent)
            summary["report_html"] = str(path)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        write_gauges(base / GAUGE_FILE, gauge_text(summary))
        mlflow.log_metrics(_metrics(summary))
        mlflow.set_tags(
            {
                "alert": str(bool(summary["alerts"])).lower(),
                "champion_version": summary["champion"]["version"],
            }
        )
        for item in folder.iterdir():
            if item.name != "report.html":
                mlflow.log_artifact(str(item), "monitoring")
        if full is not None:  # MLflow's copy stands alone
            mlflow.log_text(full, "monitoring/report.html")
        result.summary = summary
    return result
