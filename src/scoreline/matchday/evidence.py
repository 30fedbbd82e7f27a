"""Every configured strategy backtested on every book's prices, and the staking gate's verdicts:
what ``scoreline bets report`` prints and what the matchday loop's gate reads.

Prices come from the football-data season files (:mod:`scoreline.data.prices`: the store keeps
only a few books); model strategies read the walk-forward probabilities of the newest
``scoreline backtest`` of each competition (``reports/backtest/<code>/<time>/predictions.parquet``)
and are skipped, saying so, where there is none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import COMPETITIONS, Settings, Sport
from scoreline.data.prices import load_prices
from scoreline.data.prices_american import AMERICAN_CODES, load_american_prices
from scoreline.data.sources import is_url
from scoreline.evaluation.betting import BettingPolicy, Staking
from scoreline.evaluation.competition import DEFAULT_FROM_SEASON
from scoreline.evaluation.strategies import PriceFrame, model_matrix
from scoreline.evaluation.strategies_american import SIDES, LineFrame, american_bets
from scoreline.evaluation.strategies_backtest import StrategyEvidence, evaluate, evidence_of
from scoreline.evaluation.strategies_gate import GateVerdict, verdict
from scoreline.promotion.policy import Betting

#: the first season whose files carry Pinnacle's close (CLV's yardstick)
FIRST_PRICED_SEASON = 2012
FOOTBALL_CODES = tuple(c.code for c in COMPETITIONS.values() if c.sport is Sport.FOOTBALL)


@dataclass(frozen=True)
class StrategyReport:
    """The backtest of ``betting.strategies`` on ``codes`` and each strategy's gate verdict."""

    codes: tuple[str, ...]
    evidence: StrategyEvidence
    verdicts: dict[str, GateVerdict]
    policy: BettingPolicy
    notes: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict:
        table = self.evidence.table.reset_index()
        return {
            "competitions": list(self.codes),
            "staking": self.policy.label,
            "starting_bankroll": self.policy.starting_bankroll,
            "figures": table.replace({np.nan: None}).to_dict(orient="records"),
            "gate": {name: v.to_dict() for name, v in self.verdicts.items()},
            "skipped": self.evidence.skipped,
            "notes": list(self.notes),
            "seconds": round(self.seconds, 1),
        }


def backtest_policy(rules: Betting, staking: Staking) -> BettingPolicy:
    """The matchday's staking caps as the backtest's :class:`BettingPolicy` with ``staking``
    (every strategy is backtested under the same rules; the edge is each strategy's own)."""
    return BettingPolicy(
        edge=0.0,
        staking=staking,
        kelly_fraction=rules.kelly_fraction,
        flat_stake=rules.flat_stake,
        max_stake_fraction=rules.max_stake_fraction,
        max_daily_exposure=rules.max_daily_exposure,
        starting_bankroll=rules.bankroll,
    )


def price_folder(settings: Settings, source: str | Path | None = None, sub: str = "soccer") -> Path:
    """The folder holding ``soccer/{DIV}_{YYZZ}.csv`` (or another sport's ``sub`` folder:
    ``nba``, ``cfb``, ``nfl``): ``source``, else the configured data source when it is a
    folder, else the download cache of ``scoreline ingest``."""
    candidates = [Path(source)] if source else []
    if not source and settings.data_source and not is_url(settings.data_source):
        candidates.append(Path(settings.data_source))
    if not source:
        candidates.append(settings.cache_dir / "football-data")
    for folder in candidates:
        if (folder / sub).is_dir():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    what = "football-data season files (soccer/*.csv)" if sub == "soccer" else f"{sub}/ line files"
    raise ValueError(f"no {what} in {tried}: pass --source or run ingest")


def latest_predictions(settings: Settings, code: str) -> pd.DataFrame | None:
    """The walk-forward predictions of the newest ``scoreline backtest`` of ``code``, if any."""
    runs = sorted((settings.reports_path / "backtest" / code).glob("*/predictions.parquet"))
    return pd.read_parquet(runs[-1]) if runs else None


def strategy_report(
    settings: Settings,
    rules: Betting,
    codes: Sequence[str] = FOOTBALL_CODES,
    source: str | Path | None = None,
    from_season: int = FIRST_PRICED_SEASON,
    to_season: int | None = None,
    predictions: dict[str, pd.DataFrame] | None = None,
    staking: Staking = Staking.FLAT,
    n_boot: int = 1000,
) -> StrategyReport:
    """Backtest ``rules.strategies`` on ``codes`` from ``from_season`` and judge each by
    ``rules.gate`` (its last seasons). ``predictions``: per competition, a backtest's
    predictions frame (default: the newest stored backtest of each). ``staking``: flat stakes
    by default, so every bet weighs the same and the bootstrap intervals are exact; Kelly stakes
    grow with the bankroll, so late bets dominate its yield and its intervals (drawn with the
    stakes held fixed) are too narrow."""
    started = time.perf_counter()
    unknown = [c for c in codes if c not in FOOTBALL_CODES]
    if unknown:
        raise ValueError(
            f"no bookmaker price files for {', '.join(unknown)}; football: {', '.join(FOOTBALL_CODES)}"
        )
    market = load_prices(price_folder(settings, source), codes, from_season, to_season)
    frame = PriceFrame.build(market, rules.strategies.sharp_soft.sharp)
    notes: list[str] = []
    found = {}
    for code in codes:
        table = predictions.get(code) if predictions is not None else latest_predictions(settings, code)
        if table is None:
            notes.append(f"{code}: no backtest predictions (`scoreline backtest --competition {code}`)")
        else:
            found[code] = table
    models = {}
    strategies = rules.strategies.named()
    if found:
        stacked = pd.concat(found.values(), ignore_index=True)
        for name in {getattr(s, "model", None) for s in strategies.values()} - {None}:
            try:
                models[str(name)] = model_matrix(stacked, str(name), frame.matches["match_id"])
            except KeyError as err:
                notes.append(str(err).strip("'\""))
    policy = backtest_policy(rules, staking)
    evidence = evaluate(strategies, frame, policy, models, n_boot=n_boot)
    verdicts = {
        name: verdict(name, evidence.bets[name], frame.matches, rules.gate)
        for name in strategies
        if name in evidence.bets
    }
    return StrategyReport(
        tuple(codes), evidence, verdicts, policy, tuple(notes), time.perf_counter() - started
    )


def american_report(
    settings: Settings,
    rules: Betting,
    code: str,
    source: str | Path | None = None,
    from_season: int | None = None,
    to_season: int | None = None,
    predictions: pd.DataFrame | None = None,
    staking: Staking = Staking.FLAT,
    n_boot: int = 1000,
) -> StrategyReport:
    """Backtest ``rules.american`` on one American competition's lines (NBA, CFB, NFL) from
    ``from_season`` (default: the first season ``scoreline backtest`` evaluates, so model bets
    and line bets cover the same games), pooled and per season. ``predictions``: a backtest's
    predictions frame (default: the newest stored backtest of ``code``). No staking-gate
    verdicts: the gate judges against a sharp close, which these files do not have."""
    started = time.perf_counter()
    if code not in AMERICAN_CODES:
        raise ValueError(f"{code} is not an American competition; one of {', '.join(AMERICAN_CODES)}")
    first = from_season if from_season is not None else DEFAULT_FROM_SEASON.get(code)
    sub = {"NBA": "nba", "CFB": "cfb", "NFL": "nfl"}[code]
    market = load_american_prices(price_folder(settings, source, sub), code, first, to_season)
    frame = LineFrame.build(market)
    spread = rules.american.spread
    notes: list[str] = []
    table = predictions if predictions is not None else latest_predictions(settings, code)
    model = None
    name = rules.american.model_edge.model
    if table is None:
        notes.append(f"{code}: no backtest predictions (`scoreline backtest --competition {code}`)")
    else:
        try:
            model = model_matrix(table, name, frame.matches["match_id"], SIDES)
        except KeyError as err:
            notes.append(str(err).strip("'\""))
    bets, skipped = american_bets(rules.american, frame, code, model)
    if any(placed["line"].notna().any() for placed in bets.values()):
        notes.insert(
            0,
            f"spread bets are priced at {spread.price:+g} (decimal {spread.decimal:.4f}): the files "
            f"quote no spread prices; a line more than {spread.max_off_median:g} points off the "
            "game's median line is not taken",
        )
    for strategy, placed in bets.items():
        clv = placed[[c for c in placed.columns if c.startswith("clv_")]].to_numpy(float)
        if not np.isfinite(clv).any():
            notes.append(
                f"{strategy}: no closing-line value: every bet was taken at the only line the {code} "
                "files give for its game (no later line to compare with)"
            )
    settled = frame.matches.loc[frame.matches["margin"].notna()]
    policy = backtest_policy(rules, staking)
    evidence = evidence_of(bets, settled, policy, ("pooled", "season"), n_boot, skipped)
    return StrategyReport((code,), evidence, {}, policy, tuple(notes), time.perf_counter() - started)


def save_report(report: StrategyReport, folder: Path) -> Path:
    """Write ``figures.csv`` (every strategy and scope), ``summary.json`` (what ``--json``
    prints), ``bets_<strategy>.csv`` and the three pictures (bankroll, CLV histogram, bets per
    season) to ``folder``."""
    from scoreline.evaluation.strategies_plots import bankroll_png, bets_per_season_png, clv_histogram_png

    folder.mkdir(parents=True, exist_ok=True)
    report.evidence.table.to_csv(folder / "figures.csv")
    (folder / "summary.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    for name, bets in report.evidence.bets.items():
        bets.to_csv(folder / f"bets_{name.replace('@', '_at_')}.csv", index=False)
    bankroll_png(report.evidence, report.policy, folder / "bankroll.png")
    clv_histogram_png(report.evidence, folder / "clv_histogram.png")
    bets_per_season_png(report.evidence, folder / "bets_per_season.png")
    return folder


def log_report(settings: Settings, report: StrategyReport, folder: Path) -> str:
    """Log the pooled figures and ``folder``'s files to MLflow (a ``bets-report`` run of the
    ``scoreline`` experiment, or of the competition's when there is one); returns the run id."""
    import mlflow

    from scoreline.tracking.experiments import step_run

    code = report.codes[0] if len(report.codes) == 1 else None
    with step_run("", "bets-report", code, settings) as run:
        mlflow.set_tags({"competitions": ",".join(report.codes), "staking": report.policy.label})
        pooled = report.evidence.table.xs("pooled", level="scope")
        for strategy, row in pooled.iterrows():
            mlflow.log_metrics(
                {
                    f"{str(strategy).replace('@', '_at_')}.{k}": float(v)
                    for k, v in row.items()
                    if np.isfinite(v)
                }
            )
        mlflow.log_artifacts(str(folder), artifact_path="bets_report")
        return run.info.run_id
