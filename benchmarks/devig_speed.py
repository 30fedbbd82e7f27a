"""De-vig speed: scoreline's vectorised solvers against penaltyblog's per-row calls.

Run from the repository root: ``PYTHONPATH=src python benchmarks/devig_speed.py``.
penaltyblog solves one match per call, so it is timed on 2,000 rows and extrapolated to 50,000.
"""

from __future__ import annotations

import time

import numpy as np
import penaltyblog as pb

from scoreline.features.market import DevigMethod, implied_probabilities

N_ROWS = 50_000
N_PENALTYBLOG = 2_000


def realistic_1x2_odds(n: int, seed: int = 0) -> np.ndarray:
    """Decimal home/draw/away odds rounded to 2 dp, booksums between about 1.02 and 1.12."""
    rng = np.random.default_rng(seed)
    home = rng.uniform(0.12, 0.80, n)
    draw = np.clip(0.30 - 0.3 * np.abs(home - 0.4), 0.12, 0.30)
    probs = np.column_stack([home, draw, np.maximum(1 - home - draw, 0.04)])
    probs /= probs.sum(axis=1, keepdims=True)
    return np.round(1 / (probs * rng.uniform(1.02, 1.12, (n, 1))), 2)


def best_seconds(run, repeats: int) -> float:
    """Fastest of ``repeats`` wall-clock timings, to damp noise from other processes."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    odds = realistic_1x2_odds(N_ROWS)
    rows = [row.tolist() for row in odds[:N_PENALTYBLOG]]
    scale = N_ROWS / N_PENALTYBLOG
    print(f"De-vig of {N_ROWS:,} 1X2 rows (penaltyblog timed on {N_PENALTYBLOG:,} rows, x{scale:g})")
    print(f"{'method':<16}{'scoreline s':>13}{'penaltyblog s':>16}{'speed-up':>10}")
    for method in DevigMethod:
        ours = best_seconds(lambda: implied_probabilities(odds, method), repeats=3)
        theirs = scale * best_seconds(
            lambda: [pb.implied.calculate_implied(r, method=method.value) for r in rows], repeats=1
        )
        print(f"{method.value:<16}{ours:>13.3f}{theirs:>16.2f}{theirs / ours:>9.0f}x")
    print("penaltyblog column is extrapolated from 2,000 rows, not measured on 50,000.")


if __name__ == "__main__":
    main()
