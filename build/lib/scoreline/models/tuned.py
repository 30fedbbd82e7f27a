"""Hyper-parameters found by ``scoreline tune``, as stored under ``registry/tuned/<competition>/``:
backtests, training and the detail models read them; tuning writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scoreline.config import Settings

__all__ = ["tuned_params", "tuned_path"]


def tuned_path(settings: Settings, code: str, model: str) -> Path:
    return settings.registry_path / "tuned" / code / f"{model}.json"


def tuned_params(settings: Settings, code: str, model: str) -> dict[str, Any]:
    """The best parameters found by ``scoreline tune`` for ``model`` (empty if never tuned)."""
    path = tuned_path(settings, code, model)
    return json.loads(path.read_text())["params"] if path.is_file() else {}
