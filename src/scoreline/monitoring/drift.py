"""Data drift of a champion's inputs: its training feature window (reference) against the
features of recent predictions (current), per feature, with Evidently.

Evidently is imported inside :func:`data_drift` only (about 3 s): nothing else pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scoreline.config import competition as competition_of
from scoreline.features.builder import competition_features

__all__ = ["Drift", "comparable_features", "data_drift", "reference_features"]


@dataclass
class Drift:
    """Drift per feature (``{"score", "method", "threshold", "drifted"}``) and the share of
    drifted features; ``snapshot`` is the Evidently run (``save_html``); ``notes`` say which
    columns were left out and why."""

    features: dict[str, dict[str, Any]]
    share: float
    reference_rows: int
    current_rows: int
    notes: list[str] = field(default_factory=list)
    snapshot: Any = None

    @property
    def drifted(self) -> list[str]:
        return [name for name, f in self.features.items() if f["drifted"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "features": self.features,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "notes": self.notes,
        }


def reference_features(history: pd.DataFrame, code: str, seasons: int) -> pd.DataFrame:
    """Point-in-time features of the last ``seasons`` seasons of ``history`` (a champion's
    training matches), computed on the whole history exactly as the model was fitted."""
    if history.empty:
        raise ValueError(f"{code}: the champion has no training history to compare with")
    features = competition_features(history, competition_of(code))
    last = sorted(history["season"].dropna().unique())[-seasons:]
    return features.loc[history["season"].isin(last).to_numpy()].reset_index(drop=True)


def comparable_features(
    reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Both frames cut to the numeric feature columns they share that vary; notes name every
    column left out and why (a constant or empty column has no distribution to compare)."""
    notes = []
    only = sorted(set(reference.columns) ^ set(current.columns))
    if only:
        notes.append(f"not in both reference and current: {', '.join(only)}")
    shared = [c for c in reference.columns if c in set(current.columns)]
    keep, constant, empty = [], [], []
    for column in shared:
        ref = pd.to_numeric(reference[column], errors="coerce")
        cur = pd.to_numeric(current[column], errors="coerce")
        if ref.isna().all() or cur.isna().all():
            empty.append(column)
        elif ref.nunique() <= 1 and cur.nunique() <= 1:
            constant.append(column)
        else:
            keep.append(column)
    if empty:
        notes.append(f"empty in reference or current: {', '.join(empty)}")
    if constant:
        notes.append(f"constant: {', '.join(constant)}")
    as_float = dict.fromkeys(keep, np.float64)
    return reference[keep].astype(as_float), current[keep].astype(as_float), notes


def data_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    drift_share: float,
    method: str | None = None,
    threshold: float | None = None,
) -> Drift:
    """Evidently's data drift of every comparable feature of ``current`` against ``reference``.

    ``method``/``threshold``: one stat test for every column (Evidently's per-column default
    when None: K-S or Wasserstein by sample size). Fails when no feature is comparable.
    """
    ref, cur, notes = comparable_features(reference, current)
    if ref.columns.empty:
        raise ValueError("no feature is comparable between reference and current: " + "; ".join(notes))
    from scoreline.monitoring.drift_suite import run_drift_suite  # Evidently: ~3 s to import

    snapshot, features, share = run_drift_suite(ref, cur, drift_share, method, threshold)
    return Drift(features, share, len(ref), len(cur), notes, snapshot)
