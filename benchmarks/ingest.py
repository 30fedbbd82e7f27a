"""Wall time and peak memory of a full ingest of a source folder into a fresh store.

python benchmarks/ingest.py ../shared/data
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from scoreline.config import Settings
from scoreline.data.ingest import ingest


def main(source: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        started = time.perf_counter()
        first = ingest(settings, source)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        again = ingest(settings, source)
        warm = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(first.by_competition().to_string())
    print(f"files: {len(first.files)}  rows: {int(first.files['rows'].sum())}")
    print(
        f"ingest into an empty store: {cold:.1f} s; re-run (nothing changed: {not again.changed}): "
        f"{warm:.1f} s; peak RSS {peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
