"""Rolling split-conformal prediction intervals around any point forecast (margin, total, ...).

A :class:`RollingConformal` keeps the most recent ``window`` absolute residuals ``|y - yhat|`` of
matches *already played* and turns them into symmetric intervals ``yhat ± r_q``, where ``r_q`` is
the finite-sample corrected conformal quantile: the ``ceil((n + 1) q)``-th smallest of the ``n``
stored residuals (infinite while ``ceil((n + 1) q) > n``). Under exchangeability of recent and
future residuals this covers with probability at least ``q``.

Point-in-time: :func:`walk_forward_intervals` gives every prediction window the intervals of the
residuals of *earlier* windows only, and adds a window's residuals after the whole window has
been predicted, so neither a match's own residual nor those of its window-mates (or of anything
later) ever widen or narrow its interval.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

__all__ = ["RollingConformal", "coverage_table", "interval_columns", "walk_forward_intervals"]


def interval_columns(level: float) -> tuple[str, str]:
    """``("lower_80", "upper_80")`` for level 0.8: the column names of one interval level."""
    pct = f"{level * 100:g}".replace(".", "_")
    return f"lower_{pct}", f"upper_{pct}"


class RollingConformal(BaseEstimator):
    """Symmetric conformal intervals from the last ``window`` absolute residuals.

    ``alpha_levels``: nominal coverage levels in (0, 1), e.g. ``(0.8, 0.95)``. ``window``: how
    many of the most recent residuals are kept (older ones drop out, so the width follows a
    drifting error scale). ``min_residuals``: below this many stored residuals the intervals are
    infinite (no calibration yet).

    State: ``residuals_`` (a deque, oldest first), grown only by :meth:`update`.
    """

    def __init__(
        self, alpha_levels: Sequence[float] = (0.8, 0.95), window: int = 1000, min_residuals: int = 30
    ):
        self.alpha_levels = alpha_levels
        self.window = window
        self.min_residuals = min_residuals

    def _store(self) -> deque:
        if not hasattr(self, "residuals_"):
            for level in self.alpha_levels:
                if not 0.0 < level < 1.0:
                    raise ValueError(f"coverage levels must lie in (0, 1), not {level}")
            self.residuals_: deque[float] = deque(maxlen=int(self.window))
        return self.residuals_

    def update(self, y: np.ndarray, yhat: np.ndarray | float) -> Self:
        """Add the absolute residuals of played matches (NaN pairs are skipped); return ``self``."""
        residual = np.abs(np.asarray(y, dtype=float) - np.asarray(yhat, dtype=float))
        self._store().extend(residual[np.isfinite(residual)].tolist())
        return self

    @property
    def n_residuals(self) -> int:
        return len(self._store())

    def radius(self, level: float) -> float:
        """Half-width of the ``level`` interval (points); ``inf`` without enough residuals."""
        stored = self._store()
        n = len(stored)
        k = math.ceil((n + 1) * level)
        if n < self.min_residuals or k > n:
            return math.inf
        return float(np.partition(np.fromiter(stored, float, n), k - 1)[k - 1])

    def intervals(self, yhat: np.ndarray) -> pd.DataFrame:
        """``lower_XX`` / ``upper_XX`` columns (one pair per level) around the forecasts ``yhat``."""
        yhat = np.asarray(yhat, dtype=float)
        out = {}
        for level in self.alpha_levels:
            r = self.radius(level)
            lower, upper = interval_columns(level)
            out[lower], out[upper] = yhat - r, yhat + r
        return pd.DataFrame(out)


def walk_forward_intervals(
    predictions: pd.DataFrame,
    levels: Sequence[float] = (0.8, 0.95),
    window: int = 1000,
    min_residuals: int = 30,
    conformal: RollingConformal | None = None,
) -> pd.DataFrame:
    """Rolling conformal intervals for walk-forward point forecasts, in time order.

    ``predictions``: columns ``date``, ``y`` (observed; NaN = not yet played), ``yhat`` (point
    forecast made before ``window_start``) and ``window_start`` (the cut-off of the prediction
    window the row belongs to). Windows are processed in ``window_start`` order: each window's
    intervals come from the residuals of earlier windows, and its own residuals are added only
    afterwards. Raises if a window holds a match dated on or after the next window's start (its
    residual would not be known when that window is predicted).

    Returns the ``lower_XX`` / ``upper_XX`` columns aligned to ``predictions.index``.
    ``conformal``: the (fresh) calibrator to use; by default ``RollingConformal(levels, window,
    min_residuals)``.
    """
    missing = {"date", "y", "yhat", "window_start"} - set(predictions)
    if missing:
        raise ValueError(f"predictions lack columns {sorted(missing)}")
    calibrator = (
        conformal if conformal is not None else RollingConformal(tuple(levels), window, min_residuals)
    )
    frame = predictions.sort_values(["window_start", "date"], kind="stable")
    starts = np.sort(frame["window_start"].unique())
    last_date = frame.groupby("window_start")["date"].max().reindex(starts).to_numpy()
    if len(starts) > 1 and (last_date[:-1] >= starts[1:]).any():
        raise ValueError("a window holds matches dated on or after the next window's start")
    if (frame["date"] < frame["window_start"]).any():
        raise ValueError("a match is dated before the start of its prediction window")

    blocks = []
    for _, block in frame.groupby("window_start", sort=True):
        yhat = block["yhat"].to_numpy(dtype=float)
        blocks.append(calibrator.intervals(yhat).set_axis(block.index))
        calibrator.update(block["y"].to_numpy(dtype=float), yhat)  # after the whole window
    return pd.concat(blocks).reindex(predictions.index)


def coverage_table(frame: pd.DataFrame, levels: Sequence[float] = (0.8, 0.95)) -> pd.DataFrame:
    """Empirical coverage and mean width per level, on rows with an observed ``y`` and a finite
    interval; index ``level``, columns ``n``, ``coverage``, ``mean_width`` (points)."""
    rows = []
    y = frame["y"].to_numpy(dtype=float)
    for level in levels:
        lower_col, upper_col = interval_columns(level)
        lower, upper = frame[lower_col].to_numpy(float), frame[upper_col].to_numpy(float)
        ok = np.isfinite(y) & np.isfinite(lower) & np.isfinite(upper)
        covered = (y[ok] >= lower[ok]) & (y[ok] <= upper[ok])
        rows.append(
            {
                "level": level,
                "n": int(ok.sum()),
                "coverage": float(covered.mean()) if ok.any() else np.nan,
                "mean_width": float(np.mean(upper[ok] - lower[ok])) if ok.any() else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("level")
