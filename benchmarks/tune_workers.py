"""Tuning throughput: trials per minute of ``scoreline tune`` with 1 and 2 worker processes.

Run from the repository root: ``python benchmarks/tune_workers.py [DATA_FOLDER] [--trials 8]``
(DATA_FOLDER defaults to ``$SCORELINE_TEST_DATA``, else ``../shared/data``). Each worker count
gets a fresh temporary workspace (SQLite study and tracking store, the Premier League ingested)
and runs the same number of Dixon-Coles trials on the three seasons before 2012. "wall" counts
everything the call does (study and run creation, starting the workers, the tuned file);
"trials" only the span from the first trial's start to the last trial's end; "s per trial" is
a trial's mean duration (it grows when the workers compete for cores); "load" is the one-minute
load average after the run (other processes on the machine slow both rows).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import mlflow
import optuna


def measure(source: Path, workers: int, trials: int) -> dict:
    from scoreline.config import Settings, competition
    from scoreline.data.ingest import ingest
    from scoreline.data.store import MatchStore
    from scoreline.features.builder import competition_features
    from scoreline.models.dixon_coles import DixonColes
    from scoreline.tuning import study_storage, tune

    comp = competition("E0")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, str(source), ["E0"])
        matches = MatchStore(settings.store_dir).results("E0")
        data = matches.join(competition_features(matches, comp))
        started = time.perf_counter()
        try:
            result = tune(settings, comp, "dixon_coles", DixonColes(), data, 2012, trials, workers=workers)
        finally:
            mlflow.set_tracking_uri(None)  # the tune run set (and exported) this workspace's store
        wall = time.perf_counter() - started
        done = optuna.load_study(study_name=result.study_name, storage=study_storage(settings)).trials
        span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
        pids = {t.user_attrs["pid"] for t in done}
        trial_s = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done) / len(done)
    return {
        "workers": workers,
        "trials": len(done),
        "pids": len(pids),
        "wall_s": wall,
        "span_s": span,
        "trial_s": trial_s,
        "best": result.best_value,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("SCORELINE_TEST_DATA", "../shared/data"))
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    for name in [n for n in os.environ if n.startswith("SCORELINE_")]:
        os.environ.pop(name)
    print(
        f"E0 dixon_coles, {args.trials} trials, validation 2009-2011, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(
        f"{'workers':>7}{'trials':>8}{'pids':>6}{'wall s':>9}{'trials/min wall':>17}"
        f"{'trial span s':>14}{'trials/min in span':>20}{'s per trial':>13}{'best RPS':>10}{'load':>6}"
    )
    for workers in (1, 2):
        row = measure(Path(args.data).resolve(), workers, args.trials)
        print(
            f"{row['workers']:>7}{row['trials']:>8}{row['pids']:>6}{row['wall_s']:>9.1f}"
            f"{60 * row['trials'] / row['wall_s']:>17.2f}{row['span_s']:>14.1f}"
            f"{60 * row['trials'] / row['span_s']:>20.2f}{row['trial_s']:>13.2f}{row['best']:>10.5f}"
            f"{row['load']:>6.1f}"
        )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
