"""``weekly_training`` three times in one fresh workspace, side by side: from clean, rerun with
nothing changed, and rerun after one model's parameters changed (a tuned file for Dixon-Coles).

    python benchmarks/weekly_training.py ../shared/data [--competition E0] [--engine local] [--json]

Prints each run's wall time and the steps that ran or were skipped. The third run should retrain
only the changed model, and its backtest refit only the models that depend on it (Dixon-Coles and
the results blend holding it); every other model's walk-forward is read from the prediction cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="../shared/data")
    parser.add_argument("--competition", default="E0")
    parser.add_argument("--engine", default="local", choices=["serial", "local"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    source = str(Path(args.source).resolve())
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        for name in ("notebooks", "pipelines"):
            shutil.copytree(ROOT / name, home / name)
        shutil.copy(ROOT / "MLproject", home / "MLproject")
        (home / "registry").mkdir()
        shutil.copy(ROOT / "registry" / "policy.yaml", home / "registry" / "policy.yaml")
        os.environ.update(
            {"SCORELINE_HOME": str(home), "SCORELINE_DATA_SOURCE": source, "SCORELINE_ENGINE": args.engine}
        )
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        from scoreline.config import Settings
        from scoreline.pipeline import apply_overrides, load_spec, run_pipeline

        settings = Settings(home=home)
        spec = apply_overrides(load_spec("weekly_training", home), [f"competition={args.competition}"])
        runs = {}

        def run(label: str) -> None:
            started = time.perf_counter()
            done = run_pipeline(spec, settings)
            runs[label] = {
                "seconds": round(time.perf_counter() - started, 1),
                "ran": {s.name: round(s.seconds, 1) for s in done.steps if s.status == "ran"},
                "skipped": [s.name for s in done.steps if s.status == "skipped"],
            }
            if not args.json:
                print(f"{label}: {runs[label]['seconds']} s; ran {runs[label]['ran']}", file=sys.stderr)

        run("clean")
        run("rerun_unchanged")
        tuned = settings.registry_path / "tuned" / args.competition / "dixon_coles.json"
        tuned.parent.mkdir(parents=True, exist_ok=True)
        tuned.write_text(json.dumps({"params": {"xi": 0.0021, "l2": 4.0}}))
        run("one_model_changed")
    summary = {
        "competition": args.competition,
        "engine": args.engine,
        "cpus": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": runs,
    }
    if args.json:
        print(json.dumps(summary))
        return
    for label, row in runs.items():
        print(f"{label:>18}: {row['seconds']:7.1f} s, ran {', '.join(row['ran']) or 'nothing'}")
    print(f"load average {summary['load_average']} on {summary['cpus']} CPUs (a shared machine: noisy)")


if __name__ == "__main__":
    main()
