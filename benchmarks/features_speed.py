"""Wall time and peak memory of ``feature_table`` over every stored match, then per competition.

    python benchmarks/features_speed.py ../shared/data

The ingest runs in a child process, so this process's peak RSS (``resource.getrusage``) covers
only reading the store and building features; tracemalloc gives the peak of feature_table alone.
"""

from __future__ import annotations

import multiprocessing
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.features.builder import feature_table

REPEATS = 3


def _ingest(home: str, source: str) -> None:
    ingest(Settings(home=Path(home)), source)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(matches: pd.DataFrame) -> tuple[float, float, tuple[int, int]]:
    """Best-of-``REPEATS`` wall seconds, tracemalloc peak MB of one call, and the table shape."""
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        table = feature_table(matches)
        timings.append(time.perf_counter() - started)
    tracemalloc.start()
    feature_table(matches)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(timings), peak / 2**20, table.shape


def main(source: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        child = multiprocessing.get_context("spawn").Process(target=_ingest, args=(home, source))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"ingest failed with exit code {child.exitcode}")
        matches = MatchStore(Settings(home=Path(home)).store_dir).results()
    rss_loaded = peak_rss_mb()

    print(
        f"feature_table (form + pre-closing market), best of {REPEATS}; alloc = tracemalloc peak of one call"
    )
    print(f"{'competition':<12}{'matches':>9}{'columns':>9}{'wall s':>9}{'alloc MB':>10}")
    seconds, alloc, shape = measure(matches)
    print(f"{'ALL':<12}{shape[0]:>9,}{shape[1]:>9}{seconds:>9.3f}{alloc:>10.0f}")
    for code, group in matches.groupby("competition", sort=True):
        seconds, alloc, shape = measure(group)
        print(f"{code:<12}{shape[0]:>9,}{shape[1]:>9}{seconds:>9.3f}{alloc:>10.0f}")
    print(
        f"peak RSS of this process: {rss_loaded:.0f} MB after loading the store, "
        f"{peak_rss_mb():.0f} MB after all feature tables"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
