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
from scoreline.engine import Engine
from scoreline.evaluation.backtest import BacktestResult, WalkForward, walk_forward
from scoreline.evaluation.betting import BettingPolicy, Staking, bankroll_curve_png, simulate, summary_table
from scoreline.evaluation.cache import PredictionCache
from scoreline.evaluation.report import Scores, reliability_diagram, score
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel
from scoreline.models.dixon_coles import DixonColes, tune_decay
from scoreline.models.tuned import tuned_params

#: the gradient-boosted models of the football catalogue: refitted on a coarser cadence
GBDT = ("lightgbm", "xgboost", "lightgbm_market", "xgboost_market")
#: default first evaluated season per competition (football: Pinnacle closing prices exist)
DEFAULT_FROM_SEASON = {"NFL": 2005, "NBA": 2020, "CFB": 2021}  # NBA 2020 = 2020-21


@dataclass(frozen=True)
class BacktestReport:
    competition: str
    result: BacktestResult
    scores: Scores
    folder: Path
    seconds: float
    tuned: dict[str, dict[str, float]]
    betting: pd.DataFrame  # one row per (model, policy): bets, staked, pnl, roi, yield, drawdown, CLV

    def to_dict(self) -> dict:
        return {
            "competition": self.competition,
            "matches": len(self.result.predictions),
            "refits": self.result.n_refits,
            "fit_seconds": {k: round(v, 2) for k, v in self.result.fit_seconds.items()},
            "seconds": round(self.seconds, 1),
            "tuned": self.tuned,
            "betting": self.betting.reset_index().to_dict(orient="records"),
            "report_dir": str(self.folder),
            **self.scores.to_dict(),
        }


def default_config(comp: Competition, from_season: int | None = None) -> WalkForward:
    first = from_season if from_season is not None else DEFAULT_FROM_SEASON.get(comp.code, 2012)
    if comp.sport is Sport.FOOTBALL:
        # the peer setup: weekly refits on about three seasons of history; the boosted trees
        # (85 % of the fit time) every fourth week: E0 2019-22 RPS -0.0001..-0.0005 against
        # weekly, every 95 % interval spanning 0, 4-6x less fit time (benchmarks/refit_cadence.py)
        return WalkForward(
            from_season=first, window="week", train_days=3 * 365, slow_refits=tuple((m, 4) for m in GBDT)
        )
    return WalkForward(from_season=first, window="week", train_days=8 * 365)


def tune_on_past(
    data: pd.DataFrame,
    models: dict[str, MatchModel],
    config: WalkForward,
) -> dict[str, dict[str, float]]:
    """Tune hyper-parameters that the models leave to the data on matches *before* the first
    evaluated season only (Dixon-Coles' time decay), setting them on ``models`` in place.
    Models tuned by ``scoreline tune`` are not passed here."""
    tuned: dict[str, dict[str, float]] = {}
    past = data.loc[data["season"] < config.from_season]
    for name, model in models.items():
        if isinstance(model, DixonColes) and past["season"].nunique() >= 2:
            window = past.loc[past["date"] >= past["date"].max() - pd.Timedelta(days=6 * 365)]
            choice = tune_decay(window, xis=(0.0009, 0.0018, 0.0027, 0.0036)).best_xi
            model.set_params(xi=choice)
            tuned[name] = {"xi": choice}
    return tuned


#: the betting policies every backtest reports: flat 1 % stakes and quarter Kelly, 2 % edge, on
#: the matchday's 100-unit bankroll (:data:`~scoreline.evaluation.betting.STARTING_BANKROLL`)
POLICIES = (
    BettingPolicy(edge=0.02, staking=Staking.FLAT),
    BettingPolicy(edge=0.02, staking=Staking.KELLY, kelly_fraction=0.25),
)


def simulate_bets(result: BacktestResult, matches: pd.DataFrame, png: Path) -> pd.DataFrame:
    """Bet every forecasting model (and the pre-closing market, as a sanity row) at pre-closing
    prices under :data:`POLICIES`; returns the summary table and draws the bankroll curves."""
    # a market row bet at its own book's prices can never find value; Pinnacle pre-closing
    # bet at Bet365's is the sanity row (it should beat the close)
    bettable = [
        m
        for m in result.models
        if (m != "base_rates" and not m.startswith("market_")) or m == "market_pinnacle"
    ]
    results = {}
    for model in bettable:
        for policy in POLICIES:
            simulated = simulate(result.predictions, matches, model, policy)
            if simulated.summary["n_matches"] > 0:  # NFL/CFB data have no moneylines to bet
                results[f"{model} {policy.label}"] = simulated
    if not results:
        return pd.DataFrame()
    bankroll_curve_png(results, png)  # flat and Kelly side by side
    return summary_table(results)


def backtest_competition(
    settings: Settings,
    code: str,
    model_names: list[str] | None = None,
    config: WalkForward | None = None,
    out_dir: Path | None = None,
    engine: Engine | None = None,
    cached: bool = True,
) -> BacktestReport:
    """Walk-forward backtest of ``code`` with the named models (all by default) and the market.

    The models walk on ``engine`` (serial by default); with ``cached``, a model whose data,
    features, parameters and code are unchanged since an earlier backtest is read back from
    ``<data>/cache/backtest/<code>/`` instead of refitted."""
    started = time.perf_counter()
    comp = competition(code)
    matches = MatchStore(settings.store_dir).results(code)
    if matches.empty:
        raise ValueError(f"no stored results for {code}: run `scoreline ingest` first")
    data = matches.join(competition_features(matches, comp))
    config = config or default_config(comp)
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    from_optuna = {name: tuned_params(settings, code, name) for name in catalog.models(comp)}
    models = catalog.select(comp, model_names, from_optuna)
    tuned = {n: p for n, p in from_optuna.items() if p and n in models}
    tuned |= tune_on_past(data, {n: m for n, m in models.items() if n not in tuned}, config)
    cache = PredictionCache(settings.cache_dir / "backtest" / code) if cached else None
    result = walk_forward(data, models, config, outcomes, engine, cache)
    scores = score(result, catalog.reference(comp))

    folder = out_dir or settings.reports_path / "backtest" / code / pd.Timestamp.now().strftime(
        "%Y%m%dT%H%M%S"
    )
    folder.mkdir(parents=True, exist_ok=True)
    result.predictions.to_parquet(folder / "predictions.parquet", index=False)
    scores.by_season.to_csv(folder / "by_season.csv")
    reliability_diagram(
        result, folder / "reliability.png", [m for m in result.models if m not in ("base_rates",)]
    )
    betting = simulate_bets(result, matches, folder / "bankroll.png")
    report = BacktestReport(code, result, scores, folder, time.perf_counter() - started, tuned, betting)
    (folder / "scores.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    return report
