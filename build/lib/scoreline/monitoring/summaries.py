"""Where monitoring runs are kept and how the latest is found: ``reports/monitoring/<code>/``
holds one folder per run (``20261124T050000Z``, or ``...Z-2`` for a second run that second) with
its ``summary.json`` and report, and the gauge file. Light on imports: the service reads the
latest summary for the match centre."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

from scoreline.config import Settings
from scoreline.config import competition as competition_of

__all__ = ["latest_monitoring_summary", "monitoring_dir", "new_run_folder"]

logger = logging.getLogger("scoreline.monitoring")

#: a monitoring run's folder: ``20261124T050000Z`` or, for a second run that second, ``...Z-2``
RUN_FOLDER = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


def monitoring_dir(settings: Settings, code: str) -> Path:
    """``reports/monitoring/<code>``: the runs' folders and the gauge file."""
    return settings.reports_path / "monitoring" / competition_of(code).code


def new_run_folder(base: Path, now: dt.datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        folder = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise RuntimeError(f"no free run folder under {base}")


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
