"""Full walk-forward backtests of every competition, next to the market and (E0) the peer.

    python benchmarks/backtest.py ../shared/data [E0 NFL ...]

Prints each competition's table (every model and the de-vigged market on the same matches), the
bootstrap CI of each model minus the reference market, wall time and peak memory. For E0 it also
runs the peer measured in shared/NOTES.md, penaltyblog 1.13.1's Dixon-Coles (weekly refit on the
previous 1,140 league matches, xi = 0.0018/day, promoted teams given the relegated teams' mean
strength), on exactly the same matches, and bootstraps our best results-only model against it.
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from scoreline.config import COMPETITIONS, Settings
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation import metrics
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.evaluation.competition import backtest_competition
from scoreline.evaluation.report import common_rows
from scoreline.models.base import OUTCOMES_3WAY, MatchModel
from scoreline.models.dixon_coles import dixon_coles_grid


class PenaltyblogPeer(MatchModel):
    """penaltyblog's Dixon-Coles as configured for the NOTES.md peer figure."""

    outcomes = OUTCOMES_3WAY

    def __init__(self, season_teams: dict | None = None, n_matches: int = 1140, xi: float = 0.0018):
        self.season_teams = season_teams
        self.n_matches = n_matches
        self.xi = xi

    def fit(self, matches: pd.DataFrame) -> Self:
        from penaltyblog.models import DixonColesGoalModel

        recent = matches.sort_values("date").tail(self.n_matches)
        days = (recent["date"].max() - recent["date"]).dt.days.to_numpy()
        started = time.perf_counter()
        model = DixonColesGoalModel(
            recent["home_score"].to_numpy(int),
            recent["away_score"].to_numpy(int),
            recent["home_team"].to_numpy(str),
            recent["away_team"].to_numpy(str),
            weights=np.exp(-self.xi * days),
        )
        model.fit()
        self.seconds_ = time.perf_counter() - started
        self.params_ = model.params
        self.teams_by_season_ = recent.groupby("season")["home_team"].agg(set).to_dict()
        return self

    def _strength(self, team: str, season: int) -> tuple[float, float]:
        if f"attack_{team}" in self.params_:
            return self.params_[f"attack_{team}"], self.params_[f"defence_{team}"]
        previous = max(s for s in self.teams_by_season_ if s < season)
        relegated = [t for t in self.teams_by_season_[previous] if t not in self.season_teams[season]]
        return (
            float(np.mean([self.params_[f"attack_{t}"] for t in relegated])),
            float(np.mean([self.params_[f"defence_{t}"] for t in relegated])),
        )

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        home = [self._strength(t, s) for t, s in zip(fixtures["home_team"], fixtures["season"])]
        away = [self._strength(t, s) for t, s in zip(fixtures["away_team"], fixtures["season"])]
        lam = np.exp(
            self.params_["home_advantage"] + np.array([h[0] for h in home]) + np.array([a[1] for a in away])
        )
        mu = np.exp(np.array([a[0] for a in away]) + np.array([h[1] for h in home]))
        return dixon_coles_grid(lam, mu, self.params_["rho"], max_goals=14).home_draw_away()


def peer_comparison(settings: Settings, ours: pd.DataFrame, model: str) -> None:
    matches = MatchStore(settings.store_dir).results("E0")
    season_teams = matches.groupby("season")["home_team"].agg(set).to_dict()
    peer = PenaltyblogPeer(season_teams)
    fit_times: list[float] = []

    class Timed(PenaltyblogPeer):
        def fit(self, m):
            super().fit(m)
            fit_times.append(self.seconds_)
            return self

    started = time.perf_counter()
    result = walk_forward(
        matches, {"peer": Timed(season_teams)}, WalkForward(from_season=2012), OUTCOMES_3WAY
    )
    wall = time.perf_counter() - started
    joined = ours.merge(
        result.predictions[["match_id", "peer_home", "peer_draw", "peer_away"]], on="match_id"
    )
    outcome = joined["outcome"].to_numpy(int)
    p_ours = joined[[f"{model}_{o}" for o in OUTCOMES_3WAY]].to_numpy(float)
    p_peer = joined[["peer_home", "peer_draw", "peer_away"]].to_numpy(float)
    r_ours, r_peer = metrics.rps(p_ours, outcome), metrics.rps(p_peer, outcome)
    diff = metrics.bootstrap_difference(r_ours, r_peer)
    print(
        f"\npeer penaltyblog Dixon-Coles on the same {len(joined)} matches: RPS {r_peer.mean():.4f}, "
        f"log loss {metrics.log_loss(p_peer, outcome).mean():.4f}; {len(fit_times)} refits, median fit "
        f"{1000 * statistics.median(fit_times):.0f} ms, walk-forward {wall:.1f} s"
    )
    print(f"{model} - peer RPS: {diff.mean_difference:+.4f} (95 % CI {diff.lower:+.4f} .. {diff.upper:+.4f})")
    del peer


def main(source: str, codes: list[str]) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, source)
        for code in codes:
            started = time.perf_counter()
            report = backtest_competition(settings, code)
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            overall = report.scores.overall
            print(
                f"\n=== {code}: {len(report.result.predictions)} matches from "
                f"{report.result.predictions['season'].min()}, {report.result.n_refits} refits, "
                f"wall {wall:.1f} s, peak RSS so far {peak:.0f} MB, tuned {report.tuned}"
            )
            print("fit seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.result.fit_seconds.items()))
            print(overall[["n", "rps", "log_loss", "brier", "accuracy", "ece", "slope"]].round(4).to_string())
            cols = [c for c in report.scores.versus.columns if c.startswith(("rps", "brier"))]
            print(f"minus {report.scores.reference}:")
            print(report.scores.versus[cols].round(4).to_string())
            if code == "E0":
                mask = common_rows(report.result)
                peer_comparison(settings, report.result.predictions.loc[mask], "results_blend")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data", sys.argv[2:] or list(COMPETITIONS))
