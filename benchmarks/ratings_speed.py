"""Rating-pass speed: scoreline's Elo and pi passes against penaltyblog's per-match objects.

Run from the repository root: ``python benchmarks/ratings_speed.py [DATA_FOLDER]`` (default
``/work/shared/data``). Ours is timed over every shared match, one pass per competition, summed;
penaltyblog's ``Elo`` / ``PiRatingSystem`` are timed on the Premier League (E0), reading the
pre-match figure and then updating, match by match, and compared per match.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import penaltyblog as pb

from scoreline.config import Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.features.ratings import EloParams, elo_ratings, pi_ratings


def best_seconds(run, repeats: int) -> float:
    """Fastest of ``repeats`` wall-clock timings, to damp noise from other processes."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def all_results(folder: str) -> pd.DataFrame:
    settings = Settings(home=Path(tempfile.mkdtemp()))
    ingest(settings, folder, None)
    return MatchStore(settings.store_dir).results()


def penaltyblog_elo(matches: pd.DataFrame) -> None:
    elo = pb.ratings.Elo(k=20.0, home_field_advantage=60.0)
    for home, away, hg, ag in _rows(matches):
        elo.home_win_probability(home, away)
        elo.update_ratings(home, away, 0 if hg > ag else 1 if hg == ag else 2)


def penaltyblog_pi(matches: pd.DataFrame) -> None:
    pi = pb.ratings.PiRatingSystem()
    for home, away, hg, ag in _rows(matches):
        pi.expected_goal_difference(home, away)
        pi.update_ratings(home, away, hg - ag)


def _rows(matches: pd.DataFrame):
    ordered = matches.sort_values("date")
    columns = ["home_team", "away_team", "home_score", "away_score"]
    return list(ordered[columns].astype(object).itertuples(index=False))


def main() -> None:
    folder = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data"
    results = all_results(folder)
    groups = [g for _, g in results.groupby("competition")]
    params = EloParams(mov=False)

    ours_elo = sum(best_seconds(lambda g=g: elo_ratings(g, params), repeats=5) for g in groups)
    ours_pi = sum(best_seconds(lambda g=g: pi_ratings(g), repeats=5) for g in groups)
    n_all = len(results)

    e0 = results.loc[results["competition"] == "E0"]
    n_e0 = len(e0)
    theirs_elo = best_seconds(lambda: penaltyblog_elo(e0), repeats=3)
    theirs_pi = best_seconds(lambda: penaltyblog_pi(e0), repeats=3)

    print(f"scoreline: {n_all:,} matches, {len(groups)} competitions, one pass each, summed")
    print(f"penaltyblog: E0 only, {n_e0:,} matches, pre-match figure then update, per match")
    print(
        f"{'system':<8}{'ours s':>9}{'ours us/match':>15}{'pb E0 s':>10}{'pb us/match':>13}"
        f"{'pb at ' + format(n_all, ',') + ' s':>16}{'speed-up':>10}"
    )
    for name, ours, theirs in [("elo", ours_elo, theirs_elo), ("pi", ours_pi, theirs_pi)]:
        ours_per, theirs_per = ours / n_all, theirs / n_e0
        print(
            f"{name:<8}{ours:>9.3f}{1e6 * ours_per:>15.2f}{theirs:>10.3f}{1e6 * theirs_per:>13.2f}"
            f"{theirs_per * n_all:>16.2f}{theirs_per / ours_per:>9.1f}x"
        )
    print(
        "'pb at N s' is penaltyblog's E0 time per match extrapolated to all matches, not measured;"
        " penaltyblog's times exclude the row extraction, ours include all input handling."
    )


if __name__ == "__main__":
    main()
