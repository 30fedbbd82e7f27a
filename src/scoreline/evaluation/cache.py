"""Walk-forward predictions kept per model, so a backtest refits only the models that changed.

A model's entry is keyed by everything its predictions depend on: the feature frame's content
(the data snapshot and the feature configuration), the model's class and parameters, the
walk-forward configuration, the outcomes and the source of the model and backtest code.
Changing one model's parameters changes that model's key only; the others are read back
instead of refitted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from scoreline.models.base import MatchModel

#: the code a cached prediction depends on besides its inputs: every model and the backtest loop
_SOURCES = Path(__file__).resolve().parents[1]
_CODE = ("models", "evaluation/backtest.py")


class PredictionCache:
    """One ``<key>.npz`` per (model, inputs) under ``folder``: probabilities and fit seconds.
    Entries are written whole (temporary file, then rename), so a crash never leaves a torn one."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @cached_property
    def _code_digest(self) -> str:
        digest = hashlib.sha256()
        for part in _CODE:
            path = _SOURCES / part
            for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
                digest.update(file.relative_to(_SOURCES).as_posix().encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()

    def key(self, data: pd.DataFrame, model: MatchModel, config: object, outcomes: tuple[str, ...]) -> str:
        """The entry's name: sha256 of the frame's content, the model, ``config`` and the code."""
        frame = hashlib.sha256(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
        frame.update(json.dumps(list(map(str, data.columns))).encode())
        parts = [frame.hexdigest(), joblib.hash(model), repr(config), repr(outcomes), self._code_digest]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get(self, key: str) -> tuple[np.ndarray, float] | None:
        """(probabilities, fit seconds) stored under ``key``; None when absent or unreadable."""
        path = self.folder / f"{key}.npz"
        try:
            with np.load(path) as stored:
                return stored["probabilities"], float(stored["fit_seconds"])
        except (OSError, KeyError, ValueError):
            return None

    def put(self, key: str, probabilities: np.ndarray, fit_seconds: float) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".entry-", suffix=".npz", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, probabilities=probabilities, fit_seconds=np.float64(fit_seconds))
            os.replace(tmp, self.folder / f"{key}.npz")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
