"""A competition's backtest end to end: stored matches -> features -> walk-forward -> scores -> files.

This is what ``scoreline backtest`` and the backtest notebook call; it only wires the pure
pieces together and writes the report folder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoreline.config import Competition, Settings, Sport, competition
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import (
    OUTCOMES_2WAY, OUTCOMES_3WAY, BacktestResult, WalkForward, walk_forward,
)
from scoreline.evaluation.report import Scores, reliability_diagram, score
from scoreline.features.builder import competition_features
from scoreline.models import catalog

#: default first evaluated season per competition (football: Pinnacle closing prices exist)
DEFAULT_FROM_SEASON = {"NFL": 2005, "NBA": 2021, "CFB": 2021}


@dataclass(frozen=True)
class BacktestReport:
    competition: str
    result: BacktestResult
    scores: Scores
    folder: Path
    seconds: float

    def to_dict(self) -> dict:
        return {
            "competition": self.competition,
            "matches": int(len(self.result.predictions)),
            "refits": self.result.n_refits,
            "fit_seconds": {k: round(v, 2) for k, v in self.result.fit_seconds.items()},
            "seconds": round(self.seconds, 1),
            "report_dir": str(self.folder),
            **self.scores.to_dict(),
        }


def default_config(comp: Competition, from_season: int | None = None) -> WalkForward:
    first = from_season if from_season is not None else DEFAULT_FROM_SEASON.get(comp.code, 2012)
    if comp.sport is Sport.FOOTBALL:
        # the peer setup: weekly refits on about three seasons of history
        return WalkForward(from_season=first, window="week", train_days=3 * 365)
    return WalkForward(from_season=first, window="week", train_days=8 * 365)


def backtest_competition(settings: Settings, code: str, model_names: list[str] | None = None,
                         config: WalkForward | None = None, out_dir: Path | None = None) -> BacktestReport:
    """Walk-forward backtest of ``code`` with the named models (all by default) and the market."""
    started = time.perf_counter()
    comp = competition(code)
    matches = MatchStore(settings.store_dir).results(code)
    if matches.empty:
        raise ValueError(f"no stored results for {code}: run `scoreline ingest` first")
    data = matches.join(competition_features(matches, comp))
    config = config or default_config(comp)
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    result = walk_forward(data, catalog.select(comp, model_names), config, outcomes)
    scores = score(result, catalog.reference(comp))

    folder = out_dir or settings.reports_path / "backtest" / code / pd.Timestamp.now().strftime("%Y%m%dT%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    result.predictions.to_parquet(folder / "predictions.parquet", index=False)
    scores.by_season.to_csv(folder / "by_season.csv")
    reliability_diagram(result, folder / "reliability.png",
                        [m for m in result.models if m not in ("base_rates",)])
    report = BacktestReport(code, result, scores, folder, time.perf_counter() - started)
    (folder / "scores.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report
