"""Monitoring figures as Prometheus gauges, in node_exporter's textfile-collector format.

Point node_exporter's ``--collector.textfile.directory`` at ``reports/monitoring/<code>/`` (or
copy/symlink ``scoreline_monitor.prom`` there); the file is replaced atomically, so the
collector never reads half a file.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["gauge_text", "write_gauges"]

GAUGES = {
    "drift_share": "Share of the champion's features drifted against its training window",
    "drifted_features": "Number of drifted features",
    "compared_features": "Number of features compared for drift",
    "current_predictions": "Recent predictions with features in the drift comparison",
    "settled_predictions": "Settled predictions scored for live quality",
    "live": "Live score of settled predictions, by metric",
    "backtest": "The champion's walk-forward backtest score, by metric",
    "interval_coverage": "Live coverage of the forecast intervals (two-way sports)",
    "alerts": "Thresholds breached by the last monitoring run",
    "last_run_timestamp_seconds": "Unix time of the last monitoring run",
}


def _labels(labels: Mapping[str, str]) -> str:
    quoted = (
        f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels.items()
    )
    return "{" + ",".join(quoted) + "}"


def gauge_text(summary: Mapping[str, Any]) -> str:
    """The ``scoreline_monitor_*`` gauges of one monitoring summary (NaN when not measured)."""
    code = summary["competition"]
    samples: dict[str, list[tuple[dict, float]]] = {name: [] for name in GAUGES}
    base = {"competition": code}
    drift = summary.get("drift") or {}
    features = drift.get("features") or {}
    samples["drift_share"].append((base, drift.get("share", math.nan)))
    samples["drifted_features"].append((base, len(drift.get("drifted") or []) if features else math.nan))
    samples["compared_features"].append((base, len(features)))
    samples["current_predictions"].append((base, drift.get("current_rows", 0)))
    quality = summary.get("quality") or {}
    live, backtest = quality.get("live") or {}, quality.get("backtest") or {}
    samples["settled_predictions"].append((base, live.get("n", 0)))
    for metric in ("log_loss", "brier", "rps", "accuracy", "ece"):
        if metric in live:
            samples["live"].append(({**base, "metric": metric}, live[metric]))
        if metric in backtest:
            samples["backtest"].append(({**base, "metric": metric}, backtest[metric]))
    for name, interval in (live.get("coverage") or {}).items():
        samples["interval_coverage"].append(({**base, "interval": name}, interval["coverage"]))
    samples["alerts"].append((base, len(summary.get("alerts") or [])))
    samples["last_run_timestamp_seconds"].append((base, summary["timestamp"]))
    lines = []
    for name, rows in samples.items():
        if not rows:
            continue
        metric = f"scoreline_monitor_{name}"
        lines += [f"# HELP {metric} {GAUGES[name]}", f"# TYPE {metric} gauge"]
        for labels, value in rows:
            value = math.nan if value is None else float(value)
            lines.append(f"{metric}{_labels(labels)} {'NaN' if math.isnan(value) else repr(value)}")
    return "\n".join(lines) + "\n"


def write_gauges(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` atomically (temporary file in the same folder, then
    ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
