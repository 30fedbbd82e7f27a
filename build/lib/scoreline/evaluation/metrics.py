"""Probabilistic scores for match forecasts, vectorised over matches.

Multi-class functions take ``probs`` (n, k), rows summing to 1, columns in outcome order
(football: home, draw, away; two-way sports: home, away), and ``outcome`` (n,) integer index of
the observed column. They return one value per match, so a caller can average, group or pass
them to :func:`bootstrap_difference` for a paired comparison of two forecasters on the same
matches. Calibration functions take one-vs-rest probabilities ``p`` (n,) with binary ``y`` (n,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit

_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BootstrapDifference:
    """Paired bootstrap of mean(loss_a - loss_b): negative means forecaster a scores better."""

    mean_difference: float
    lower: float  # 2.5th percentile of the bootstrap means
    upper: float  # 97.5th percentile of the bootstrap means
    n: int  # matches


def rps(probs: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Ranked probability score per match (n,): mean squared gap of the cumulative distributions.

    Outcomes are ordered (home < draw < away), so a draw forecast is closer to a home win than
    an away forecast is. Divided by k - 1: 0 is perfect, 1 is the worst possible.
    """
    probs, outcome = _check_forecasts(probs, outcome)
    gap = np.cumsum(probs - _one_hot(outcome, probs.shape[1]), axis=1)[:, :-1]
    return (gap**2).sum(axis=1) / (probs.shape[1] - 1)


def log_loss(probs: np.ndarray, outcome: np.ndarray, eps: float = 1e-15) -> np.ndarray:
    """Negative natural log of the probability given to the observed outcome, per match (n,).

    Probabilities are clipped to ``eps`` so a confident miss costs -ln(eps) rather than inf.
    """
    probs, outcome = _check_forecasts(probs, outcome)
    observed = probs[np.arange(len(outcome)), outcome]
    return -np.log(np.clip(observed, eps, 1.0))


def brier(probs: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Multi-class Brier score per match (n,): sum over the k classes of (p - o)^2, in [0, 2].

    Predicting football base rates (about 0.45/0.27/0.28) scores about 0.64. For the
    one-number two-way convention see :func:`binary_brier`.
    """
    probs, outcome = _check_forecasts(probs, outcome)
    return ((probs - _one_hot(outcome, probs.shape[1])) ** 2).sum(axis=1)


def binary_brier(p_home: np.ndarray, home_won: np.ndarray) -> np.ndarray:
    """Two-way Brier score per match (n,): (p_home - home_won)^2, in [0, 1].

    Half of :func:`brier` on the same two-way forecasts; the usual convention in NFL/NBA
    write-ups (the NFL closing spread scores about 0.215 on it). Ties must be dropped first.
    """
    p, y = _check_binary(p_home, home_won)
    return (p - y) ** 2


def accuracy(probs: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """1.0 where the most probable column (first one on ties) was observed, else 0.0, per match."""
    probs, outcome = _check_forecasts(probs, outcome)
    return (probs.argmax(axis=1) == outcome).astype(float)


def summarise(probs: np.ndarray, outcome: np.ndarray) -> dict[str, float]:
    """Mean rps, log_loss, brier and accuracy over the matches, plus their count ``n``."""
    return {
        "rps": float(rps(probs, outcome).mean()),
        "log_loss": float(log_loss(probs, outcome).mean()),
        "brier": float(brier(probs, outcome).mean()),
        "accuracy": float(accuracy(probs, outcome).mean()),
        "n": len(outcome),
    }


def reliability_table(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed rate against mean forecast in equal-width probability bins.

    Columns: bin (0 = [0, 1/n_bins), the last bin includes 1), mean_predicted, observed_rate,
    count. Empty bins are left out.
    """
    p, y = _check_binary(p, y)
    if n_bins < 1:
        raise ValueError("n_bins must be >= 1")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    filled = count > 0
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins)[filled],
            "mean_predicted": np.bincount(bins, p, n_bins)[filled] / count[filled],
            "observed_rate": np.bincount(bins, y, n_bins)[filled] / count[filled],
            "count": count[filled],
        }
    )


def expected_calibration_error(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Count-weighted mean of |mean_predicted - observed_rate| over equal-width bins (scalar)."""
    table = reliability_table(p, y, n_bins)
    gap = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float((gap * table["count"]).sum() / table["count"].sum())


def calibration_slope_intercept(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration logit(P(y=1)) = intercept + slope * logit(p), by maximum likelihood.

    Returns (slope, intercept). A calibrated forecaster has slope 1 and intercept 0; slope < 1
    means over-confident (forecasts too extreme), slope > 1 under-confident. ``p`` is clipped
    to [1e-12, 1 - 1e-12] before the logit.
    """
    p, y = _check_binary(p, y)
    if y.min() == y.max():
        raise ValueError("y must contain both 0 and 1 to fit a calibration curve")
    x = np.column_stack([np.ones_like(p), logit(np.clip(p, 1e-12, 1 - 1e-12))])
    beta = np.array([0.0, 1.0])  # identity recalibration: the usual answer, so Newton starts close
    for _ in range(100):
        mu = expit(x @ beta)
        gradient = x.T @ (y - mu)
        hessian = (x * (mu * (1 - mu))[:, None]).T @ x
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            return float(beta[1]), float(beta[0])
    raise RuntimeError("calibration fit did not converge (are the classes separable?)")


def bootstrap_difference(
    loss_a: np.ndarray,
    loss_b: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    block: int | None = None,
) -> BootstrapDifference:
    """Paired bootstrap 95% percentile interval for mean(loss_a - loss_b) over the same matches.

    ``block=None`` resamples matches independently. An integer resamples circular blocks of that
    many consecutive matches (pass the losses in date order), which keeps the serial correlation
    of a season (a shared bad week for both forecasters) inside each resample.
    """
    a, b = np.asarray(loss_a, dtype=float), np.asarray(loss_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"losses must be 1-D of equal length, got {a.shape} and {b.shape}")
    n = len(a)
    if n < 2 or not np.all(np.isfinite(a) & np.isfinite(b)):
        raise ValueError("losses need at least 2 matches and only finite values")
    if block is not None and not 1 <= block <= n:
        raise ValueError(f"block must be between 1 and {n}, got {block}")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")

    diff = a - b
    rng = np.random.default_rng(seed)
    length = 1 if block is None else block
    n_blocks = -(-n // length)
    chunk = max(1, 4_000_000 // n)  # resamples per batch, to bound memory at ~32 MB of indices
    means = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        starts = rng.integers(0, n, size=(size, n_blocks, 1))
        index = ((starts + np.arange(length)) % n).reshape(size, -1)[:, :n]
        means.append(diff[index].mean(axis=1))
    lower, upper = np.percentile(np.concatenate(means), [2.5, 97.5])
    return BootstrapDifference(float(diff.mean()), float(lower), float(upper), n)


def _one_hot(outcome: np.ndarray, k: int) -> np.ndarray:
    return (outcome[:, None] == np.arange(k)).astype(float)


def _check_forecasts(probs: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=float)
    outcome = np.asarray(outcome)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, k) with k >= 2, got {probs.shape}")
    if outcome.shape != (probs.shape[0],):
        raise ValueError(f"outcome must have shape ({probs.shape[0]},), got {outcome.shape}")
    if not np.issubdtype(outcome.dtype, np.integer):
        raise ValueError(f"outcome must be integer column indices, got dtype {outcome.dtype}")
    if np.any((outcome < 0) | (outcome >= probs.shape[1])):
        raise ValueError(f"outcome out of range: must be in 0..{probs.shape[1] - 1}")
    if not np.all((probs >= 0) & (probs <= 1)):
        raise ValueError("probabilities must lie in [0, 1] (NaN is not allowed)")
    worst = np.abs(probs.sum(axis=1) - 1).max(initial=0.0)
    if worst > _SUM_TOLERANCE:
        raise ValueError(
            f"probability rows must sum to 1 within {_SUM_TOLERANCE}, worst is off by {worst:.3g}"
        )
    return probs, outcome


def _check_binary(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(y)
    if p.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"p and y must be 1-D of equal length, got {p.shape} and {y.shape}")
    if len(p) == 0:
        raise ValueError("need at least one forecast")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("probabilities must lie in [0, 1] (NaN is not allowed)")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must be binary (0/1 or bool)")
    return p, y.astype(float)
