"""What refitting the gradient-boosted models less often costs in accuracy, and saves in time.

    python benchmarks/refit_cadence.py ../shared/data [--from-season 2012] [--to-season 2022]
        [--every 4] [--json]

Walks E0 forward weekly (the pipeline's setup: three seasons of history) twice for the four
GBDT models: refitted every week, and refitted at every ``--every``-th weekly refit only (still
predicting every week, with features as of the match). Prints each model's RPS both ways on the
same matches, the paired-bootstrap 95 % interval of the difference (coarse minus weekly) and the
fit seconds. Runs on a local Dask cluster (the models in parallel).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.engine import local_cluster
from scoreline.evaluation import metrics
from scoreline.evaluation.backtest import walk_forward
from scoreline.evaluation.competition import GBDT, default_config
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import OUTCOMES_3WAY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="../shared/data")
    parser.add_argument("--from-season", type=int, default=2012)
    parser.add_argument("--to-season", type=int, default=2022)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    comp = competition("E0")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, args.source)
        matches = MatchStore(settings.store_dir).results("E0")
    data = matches.join(competition_features(matches, comp))
    weekly = replace(default_config(comp, args.from_season), to_season=args.to_season, slow_refits=())
    coarse = replace(weekly, slow_refits=tuple((m, args.every) for m in GBDT))
    models = {name: catalog.models(comp)[name] for name in GBDT}
    with local_cluster() as engine:
        every_week = walk_forward(data, models, weekly, OUTCOMES_3WAY, engine)
        less_often = walk_forward(data, models, coarse, OUTCOMES_3WAY, engine)
    outcome = every_week.predictions["outcome"].to_numpy()
    rows = {}
    for name in GBDT:
        r_weekly = metrics.rps(every_week.probabilities(name), outcome)
        r_coarse = metrics.rps(less_often.probabilities(name), outcome)
        diff = metrics.bootstrap_difference(r_coarse, r_weekly)
        rows[name] = {
            "rps_weekly": round(float(r_weekly.mean()), 5),
            f"rps_every_{args.every}": round(float(r_coarse.mean()), 5),
            "difference": round(diff.mean_difference, 5),
            "ci95": [round(diff.lower, 5), round(diff.upper, 5)],
            "fit_seconds_weekly": round(every_week.fit_seconds[name], 1),
            f"fit_seconds_every_{args.every}": round(less_often.fit_seconds[name], 1),
        }
    summary = {
        "competition": "E0",
        "seasons": [args.from_season, args.to_season],
        "matches": len(outcome),
        "weekly_refits": every_week.n_refits,
        "every": args.every,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "models": rows,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(json.dumps(summary, indent=2), file=sys.stdout)


if __name__ == "__main__":
    main()
