"""Time BayesianGoalModel fits (ADVI and NUTS) on one real Premier League season.

Data: the 2022/23 English Premier League (380 matches, 20 teams) from the shared data folder,
ingested into a throw-away store. Timed, each from the raw match table (model build, PyTensor
compilation from a warm cache, inference):

* ADVI, cold start (defaults: 8,000 iterations, 500 draws);
* ADVI, warm-started refit after adding one more week of matches (the walk-forward case);
* NUTS, 2 chains x 1,000 tune + 1,000 draws, one process.

The walk-forward estimate multiplies the warm ADVI refit time by one refit per match week over
11 seasons. A run first compiles into ``<workspace>/.cache/pytensor``; run it twice for
warm-cache figures.

    .venv/bin/python benchmarks/bayes_fit_time.py [/path/to/shared/data]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.models.bayes import BayesianGoalModel, ConvergenceError

SEASON, N_SEASONS = 2022, 11


def premier_league_season(source: str) -> pd.DataFrame:
    settings = Settings(home=Path(tempfile.mkdtemp()))
    ingest(settings, source, ["E0"])
    matches = MatchStore(settings.store_dir).results("E0")
    return matches[matches["season"] == SEASON].sort_values("date", kind="stable")


def timed_fit(model: BayesianGoalModel, matches: pd.DataFrame) -> tuple[BayesianGoalModel, float]:
    start = time.perf_counter()
    try:
        model.fit(matches)
    except ConvergenceError as error:
        print(f"  refused: {error}")
    return model, time.perf_counter() - start


def show(label: str, model: BayesianGoalModel, seconds: float) -> None:
    diagnostics = {k: v for k, v in getattr(model, "diagnostics_", {}).items() if k != "loss_trend"}
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in diagnostics.items())
    print(f"{label:<34} {seconds:7.1f} s   {shown}")


def main() -> None:
    source = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"
    season = premier_league_season(source)
    week = pd.to_datetime(season["date"]).dt.to_period("W")
    last_week = week == week.max()
    n_weeks = week.nunique()
    print(
        f"E0 {SEASON}/{SEASON % 100 + 1}: {len(season)} matches, "
        f"{pd.concat([season.home_team, season.away_team]).nunique()} teams, "
        f"{n_weeks} match weeks"
    )

    BayesianGoalModel(advi_iterations=200, advi_tol=1.0).fit(season)  # imports, C cache
    advi, advi_s = timed_fit(BayesianGoalModel(), season)
    show("ADVI cold", advi, advi_s)
    warm = BayesianGoalModel(warm_start=True).fit(season[~last_week])
    warm, warm_s = timed_fit(warm, season)
    show("ADVI warm refit (+1 week)", warm, warm_s)
    nuts, nuts_s = timed_fit(
        BayesianGoalModel(method="nuts", tune=1000, draws=1000, chains=2, cores=1), season
    )
    show("NUTS 2x(1000 tune + 1000 draws)", nuts, nuts_s)

    if hasattr(nuts, "posterior_"):
        fixtures = season[["home_team", "away_team", "neutral"]]
        gap = abs(advi.predict_proba(fixtures) - nuts.predict_proba(fixtures))
        print(
            f"ADVI vs NUTS H/D/A on the season's fixtures: mean |diff| {gap.mean():.4f}, max {gap.max():.4f}"
        )
    refits = n_weeks * N_SEASONS
    print(
        f"walk-forward: {refits} weekly refits ({n_weeks} weeks x {N_SEASONS} seasons) x "
        f"{warm_s:.1f} s warm ADVI = {refits * warm_s / 60:.0f} min on one core "
        f"(NUTS at {nuts_s:.0f} s per fit: {refits * nuts_s / 3600:.1f} h)"
    )


if __name__ == "__main__":
    main()
