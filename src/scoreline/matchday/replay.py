"""Replay a past season day by day through the whole production loop, in a workspace of its own.

Each simulated day ``D`` (from the season's first match to the day after its last):

1. **ingest**: the replay's match store gets a snapshot of the real data as it stood on ``D``:
   every result before ``D``, and the matches of ``D`` to ``D + days_ahead - 1`` as fixtures
   with no scores and no closing prices (pre-closing prices kept);
2. **settle** the predictions and bets on the results revealed, then **matchday** (forecast the
   fixtures with the champion, store, bet) at the simulated time ``D 06:00 UTC``;
3. every ``monitor_every`` days **monitor** the champion on the last ``current_days`` of
   predictions, every ``retrain_every`` days **retrain with the gate**: train the candidate
   models on the results before ``D``, backtest them (with the champion's model among them) on
   the seasons since ``backtest_seasons`` before, and promote through the real gate; a new
   champion forecasts from ``D + 1``.

Before the first day the same retrain makes the first champion. Days on which nothing changes
(no result revealed, no fixture entering the window, same champion) are passed over: their
settle and matchday would do nothing. The replay's settings point every store (match store,
MLflow, prediction store, reports) into the workspace; ``MLFLOW_TRACKING_URI`` is pointed there
for the replay and restored after.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data import schema
from scoreline.data.prices import PriceFileCache
from scoreline.data.store import MatchStore, Snapshot
from scoreline.evaluation.backtest import Window
from scoreline.evaluation.competition import backtest_competition, default_config
from scoreline.forecasts.champion import champion_forecaster
from scoreline.matchday.bets import bet_summary, summary_by_strategy, summary_by_version
from scoreline.matchday.book import BetBook
from scoreline.matchday.evidence import price_folder
from scoreline.matchday.matchday import betting_rules, run_matchday
from scoreline.matchday.settle import run_settle
from scoreline.models import catalog
from scoreline.monitoring.monitor import monitor
from scoreline.predictions.store import PredictionStore
from scoreline.progress import Progress
from scoreline.promotion import CandidateError, promote
from scoreline.promotion.promote import find_policy
from scoreline.tracking.experiments import step_run, tracking_on
from scoreline.tracking.logs import log_backtest, log_data_snapshot
from scoreline.tracking.training import train_and_log

__all__ = ["ReplayConfig", "ReplayResult", "replay", "snapshot_on"]

#: columns a fixture does not have before kick-off
RESULT_ONLY = tuple(
    c
    for c in schema.COLUMNS
    if c in ("home_score", "away_score", "home_ht_score", "away_ht_score", *schema.STAT_COLUMNS)
    or "_close_" in c
)
STAGES = ("ingest", "settle", "matchday", "monitor", "retrain")


@dataclass(frozen=True)
class ReplayConfig:
    """How a replay runs. ``retrain_every`` / ``monitor_every``: days between retrains /
    monitor runs (0 = only the first champion / never); ``models``: the candidates of each
    retrain; ``backtest_seasons``: seasons before the current one that a retrain's backtest
    covers (its ``window``: week or month between refits)."""

    days_ahead: int = 7
    retrain_every: int = 7
    monitor_every: int = 7
    models: tuple[str, ...] = ("elo", "dixon_coles")
    backtest_seasons: int = 1
    window: Window = "month"
    #: seasons before the replayed one the replay's store holds (None: every stored season)
    history_seasons: int | None = None

    def __post_init__(self) -> None:
        if self.days_ahead < 1:
            raise ValueError(f"days_ahead must be at least 1, got {self.days_ahead}")
        if self.history_seasons is not None and self.history_seasons < self.backtest_seasons + 1:
            raise ValueError(
                f"history_seasons must cover the backtest: at least "
                f"{self.backtest_seasons + 1}, got {self.history_seasons}"
            )
        for name in ("retrain_every", "monitor_every", "backtest_seasons"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.models:
            raise ValueError("models: name at least one model to train")


@dataclass
class ReplayResult:
    summary: dict
    bets: pd.DataFrame
    workspace: Path | None  # None when the throwaway workspace was removed
    promotions: list[dict] = field(default_factory=list)
    monitors: list[dict] = field(default_factory=list)


def snapshot_on(matches: pd.DataFrame, day: pd.Timestamp, days_ahead: int) -> Snapshot:
    """The store as it stood on the morning of ``day``: results before it, the next
    ``days_ahead`` days' matches as fixtures without their result-only columns."""
    results = matches.loc[matches["date"] < day]
    upcoming = matches.loc[
        (matches["date"] >= day) & (matches["date"] < day + pd.Timedelta(days=days_ahead))
    ].copy()
    for column in RESULT_ONLY:
        if column in upcoming:
            upcoming[column] = pd.Series(
                pd.NA if str(upcoming[column].dtype) in ("Int64", "boolean") else float("nan"),
                index=upcoming.index,
                dtype=upcoming[column].dtype,
            )
    return Snapshot(
        results.reset_index(drop=True), upcoming.reset_index(drop=True), schema.empty_quarantine()
    )


def replay_settings(workspace: Path, price_files: Path | None = None) -> Settings:
    """Settings with every store inside ``workspace`` (the caller's environment ignored);
    ``price_files``: the folder of football-data season files the staking gate and the
    strategies read every book's prices from (pre-closing prices only enter a bet)."""
    return Settings(
        home=workspace,
        data_dir=workspace / "data",
        reports_dir=workspace / "reports",
        registry_dir=workspace / "registry",
        tracking_uri=None,
        prediction_store_url=None,
        optuna_storage=None,
        team_database_url=None,
        data_source=str(price_files) if price_files else None,
        bentoml_dir=workspace / ".bentoml",
    )


def replay_tracking_uri(workspace: Settings) -> str:
    """The replay's own MLflow store, whatever ``MLFLOW_TRACKING_URI`` the caller has set."""
    return f"sqlite:///{workspace.registry_path / 'mlflow.db'}"


def _commit(store: MatchStore, snapshot: Snapshot, day: pd.Timestamp) -> None:
    with store.lock():
        store.commit(snapshot, {"replay_day": str(day.date())})


def _retrain(ws: Settings, code: str, config: ReplayConfig, day: pd.Timestamp) -> dict:
    """Train the candidates on the replay store, backtest them, promote through the gate."""
    store = MatchStore(ws.store_dir)
    season = int(store.results(code)["season"].max())
    for model in config.models:
        train_and_log(ws, code, model)
    walk = replace(default_config(competition(code), season - config.backtest_seasons), window=config.window)
    with step_run("", "backtest", code, ws) as run:
        log_data_snapshot(store, code)
        report = backtest_competition(
            ws, code, list(config.models), walk, ws.reports_path / "backtest" / code / f"{day.date()}"
        )
        log_backtest(report)
    entry = {"day": str(day.date()), "backtest_run_id": run.info.run_id}
    try:
        result = promote(ws, code, backtest_run_id=run.info.run_id)
    except CandidateError as err:
        return entry | {"promoted": False, "model": None, "version": None, "failed": [str(err)]}
    return entry | {
        "promoted": result.promoted,
        "model": result.model_name,
        "version": result.version,
        "champion": result.champion,
        "failed": [f"{r.rule} {r.metric}".strip() for r in result.gate.failures],
    }


def _monitor(ws: Settings, code: str, now: dt.datetime) -> dict:
    try:  # the policy's window (sized by matches) up to the simulated day, its folder named by it
        result = monitor(ws, code, now=now)
    except ValueError as err:  # nothing comparable yet
        return {"day": str(now.date()), "alerts": [], "note": str(err)}
    drift = result.summary.get("drift") or {}
    return {
        "day": str(now.date()),
        "alerts": result.alerts,
        "drift_share": drift.get("share"),
        "live": {k: v for k, v in result.summary["quality"]["live"].items() if isinstance(v, (int, float))},
    }


def _summary(
    ws: Settings,
    code: str,
    season: int,
    config: ReplayConfig,
    played: pd.DataFrame,
    days: pd.DatetimeIndex,
    active: int,
    bankroll: float,
    promotions: list[dict],
    monitors: list[dict],
    seconds: dict[str, float],
    runs: dict[str, int],
) -> tuple[dict, pd.DataFrame]:
    """The replay's figures from its prediction store and bet book, and the bets."""
    store = PredictionStore(ws.prediction_store)
    try:
        bets = BetBook(store).bets(code)
        predicted = store.predictions(code)
    finally:
        store.close()
    return {
        "competition": code,
        "season": season,
        "first_day": str(days[0].date()),
        "last_day": str(days[-1].date()),
        "days": len(days),
        "active_days": active,
        "matches": len(played),
        "config": asdict(config),
        "predictions": len(predicted),
        "predicted_matches": len(predicted[["date", "home_team", "away_team"]].drop_duplicates()),
        "settled_predictions": int(predicted["outcome"].notna().sum()),
        **bet_summary(bets, bankroll),
        "by_version": summary_by_version(bets, bankroll),
        "by_strategy": summary_by_strategy(bets, bankroll),
        "promotions_accepted": sum(p["promoted"] for p in promotions),
        "promotions_rejected": sum(not p["promoted"] for p in promotions),
        "monitor_runs": len(monitors),
        "monitor_alerts": sum(len(m["alerts"]) for m in monitors),
        "seconds": {s: round(seconds[s], 2) for s in STAGES},
        "runs": {s: runs[s] for s in STAGES},
    }, bets


def replay(
    settings: Settings,
    code: str,
    season: int,
    config: ReplayConfig = ReplayConfig(),
    workspace: Path | None = None,
) -> ReplayResult:
    """Replay ``season`` of ``code`` from ``settings``' match store (see the module notes).

    ``workspace``: where the replay's stores live (kept); default a temporary folder removed at
    the end. The summary (days, predictions, bets, P/L, ROI, yield, hit rate, CLV, promotions
    accepted and rejected, monitor alerts, seconds per stage) is also written with the bets to
    ``settings.reports_path / "replay" / code / season``.
    """
    code = competition(code).code
    started = time.perf_counter()
    known = catalog.models(competition(code))
    unknown = [m for m in config.models if m not in known]
    if unknown:
        raise ValueError(f"models: unknown {', '.join(unknown)} for {code}; available: {', '.join(known)}")
    matches = MatchStore(settings.store_dir).results(code)
    played = matches.loc[matches["season"] == season]
    if played.empty:
        seasons = sorted(int(s) for s in matches["season"].dropna().unique())
        raise ValueError(
            f"season {season} of {code} is not in the match store "
            f"(stored: {seasons[0] if seasons else '-'}..{seasons[-1] if seasons else '-'})"
        )
    if (matches["season"] < season).sum() == 0:
        raise ValueError(f"no {code} results before season {season} to train the first champion on")
    oldest = season - config.history_seasons if config.history_seasons else matches["season"].min()
    matches = matches.loc[matches["season"].between(oldest, season)].sort_values(["date", "match_id"])
    throwaway = workspace is None
    folder = Path(tempfile.mkdtemp(prefix="scoreline-replay-")) if workspace is None else workspace
    try:
        price_files: Path | None = price_folder(settings)
    except ValueError:  # no price files: every strategy but the model's bets on paper
        price_files = None
    ws = replay_settings(folder.resolve(), price_files)
    ws.registry_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(find_policy(settings), ws.registry_path / "policy.yaml")
    seconds: dict[str, float] = defaultdict(float)
    runs: dict[str, int] = defaultdict(int)
    promotions: list[dict] = []
    monitors: list[dict] = []
    first, last = played["date"].min(), played["date"].max()
    days = pd.date_range(first, last + pd.Timedelta(days=1), freq="D")
    store = MatchStore(ws.store_dir)
    rules = betting_rules(ws)
    price_cache = PriceFileCache()  # the season's price files, parsed once for every day

    def timed(stage: str, call, *args, **kwargs):
        begin = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            seconds[stage] += time.perf_counter() - begin
            runs[stage] += 1

    try:
        with tracking_on(replay_tracking_uri(ws)):
            forecaster, revealed, upcoming, active = None, -1, None, 0
            next_monitor = first + pd.Timedelta(days=config.monitor_every)
            next_retrain = first + pd.Timedelta(days=config.retrain_every)
            progress = Progress(len(days), f"{code} {season} replay", unit="days")
            for day in days:
                progress.advance(
                    0, detail=f"{day:%Y-%m-%d}, {len(promotions)} retrains, {len(monitors)} monitor runs"
                )
                now = dt.datetime.combine(day.date(), dt.time(6, 0))
                snapshot = snapshot_on(matches, day, config.days_ahead)
                results_changed = len(snapshot.results) != revealed
                fixtures_changed = tuple(snapshot.fixtures["match_id"]) != upcoming
                if results_changed or fixtures_changed:
                    revealed, upcoming = len(snapshot.results), tuple(snapshot.fixtures["match_id"])
                    timed("ingest", _commit, store, snapshot, day)
                if forecaster is None:  # the first champion, from the seasons before
                    promotions.append(timed("retrain", _retrain, ws, code, config, day))
                    if not promotions[-1]["promoted"]:
                        raise ValueError(
                            f"the first champion was rejected on {day.date()}: "
                            f"{', '.join(promotions[-1]['failed'])}"
                        )
                    forecaster = champion_forecaster(ws, code)
                    fixtures_changed = True
                active += results_changed or fixtures_changed
                if results_changed:
                    timed("settle", run_settle, ws, code, day=day.date(), rules=rules)
                if fixtures_changed and day <= last:
                    timed(
                        "matchday",
                        run_matchday,
                        ws,
                        code,
                        day.date(),
                        config.days_ahead,
                        forecaster=forecaster,
                        rules=rules,
                        now=now,
                        price_cache=price_cache,
                    )
                if config.monitor_every and day >= next_monitor:
                    monitors.append(timed("monitor", _monitor, ws, code, now))
                    next_monitor += pd.Timedelta(days=config.monitor_every)
                if config.retrain_every and day >= next_retrain and day <= last:
                    promotions.append(timed("retrain", _retrain, ws, code, config, day))
                    next_retrain += pd.Timedelta(days=config.retrain_every)
                    if promotions[-1]["promoted"]:
                        forecaster = champion_forecaster(ws, code)
                        upcoming = None  # the new champion forecasts tomorrow's window
                progress.advance()
            progress.close()
        summary, bets = _summary(
            ws,
            code,
            season,
            config,
            played,
            days,
            active,
            rules.bankroll,
            promotions,
            monitors,
            seconds,
            runs,
        )
        summary |= {
            "wall_seconds": round(time.perf_counter() - started, 2),
            "workspace": None if throwaway else str(folder),
        }
        out = settings.reports_path / "replay" / code / str(season)
        out.mkdir(parents=True, exist_ok=True)
        bets.to_csv(out / "bets.csv", index=False)
        (out / "summary.json").write_text(
            json.dumps(summary | {"promotions": promotions, "monitors": monitors}, indent=2, default=str)
        )
        summary["report_dir"] = str(out)
        return ReplayResult(summary, bets, None if throwaway else folder, promotions, monitors)
    finally:
        if throwaway:
            shutil.rmtree(folder, ignore_errors=True)
