"""The settle step: results into the prediction store, predictions and bets settled on them, and
the betting figures to date.

Idempotent: a second run with the same results changes nothing; a corrected score re-settles
the predictions (:meth:`PredictionStore.settle`) and the bets of that match.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.store import MatchStore
from scoreline.matchday.bets import bet_summary, settle_bets, summary_by_strategy, summary_by_version
from scoreline.matchday.book import BetBook
from scoreline.matchday.matchday import betting_rules, calendar_day, matchday_lock
from scoreline.predictions.store import PredictionStore
from scoreline.promotion.policy import Betting

__all__ = ["SettleResult", "result_frame", "run_settle"]

MATCH = ("date", "home_team", "away_team")
RESULT_COLUMNS = (*MATCH, "home_score", "away_score")


@dataclass(frozen=True)
class SettleResult:
    competition: str
    day: dt.date
    results_recorded: int  # new or corrected results in the prediction store
    predictions: dict[str, int]  # PredictionStore.settle counts
    bets_settled: int  # bets (re)settled by this run
    summary: dict[str, float]  # bet_summary to date
    by_version: dict[str, dict[str, float]]
    by_strategy: dict[str, dict]  # every strategy's bets, paper ones included
    folder: Path | None

    def to_dict(self) -> dict:
        return {
            "competition": self.competition,
            "day": self.day.isoformat(),
            "results_recorded": self.results_recorded,
            "predictions": self.predictions,
            "bets_settled": self.bets_settled,
            **self.summary,
            "by_version": self.by_version,
            "by_strategy": self.by_strategy,
            "report_dir": str(self.folder) if self.folder else None,
        }


def result_frame(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` checked row by row (``row i`` as given): :data:`RESULT_COLUMNS`, a date and
    two non-negative whole scores; midnight dates, integer scores."""
    missing = [c for c in RESULT_COLUMNS if c not in results]
    if missing:
        raise ValueError(f"results: missing column(s) {', '.join(missing)}")
    frame = results.reset_index(drop=True).copy()
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna())[0])
        raise ValueError(f"row {row}: date {frame['date'][row]!r} is not a date (YYYY-MM-DD)")
    frame["date"] = dates.dt.normalize()
    for field in ("home_score", "away_score"):
        score = pd.to_numeric(frame[field], errors="coerce")
        bad = ~(score.notna() & (score >= 0) & (score == np.floor(score))).to_numpy(bool)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"row {row}: {field} must be a whole number >= 0, got {frame[field][row]!r}")
        frame[field] = score.astype(np.int64)
    return frame


def run_settle(
    settings: Settings,
    code: str,
    results: pd.DataFrame | None = None,
    day: dt.date | str | None = None,
    *,
    rules: Betting | None = None,
    write_report: bool = True,
) -> SettleResult:
    """Settle ``code``'s predictions and bets on ``results`` (default: the match store's).

    Only results of fixtures with a stored prediction or bet are recorded. A bet's closing-line
    value needs the closing prices of the policy's ``closing_source`` in the results (the match
    store has them; NaN otherwise). ``rules``: default the policy file's ``betting:`` section.
    ``day`` (default today, UTC) only names the report folder ``reports/settle/<code>/<day>/``
    (``summary.json``, ``bets.csv``).
    """
    code = competition(code).code
    day = calendar_day(day)
    rules = rules or betting_rules(settings)
    outcomes = ("home", "draw", "away") if competition(code).outcomes == 3 else ("home", "away")
    # the store's rows were validated at ingest; given ones are checked whole, rows named
    frame = MatchStore(settings.store_dir).results(code) if results is None else result_frame(results)
    closing = [f"odds_{rules.closing_source}_{o}" for o in outcomes]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store = PredictionStore(settings.prediction_store)
    try:
        book = BetBook(store)
        with matchday_lock(settings, code):
            keys = pd.DataFrame(sorted(book.fixtures_of(code)), columns=list(MATCH))
            keys["date"] = pd.to_datetime(keys["date"])
            wanted = frame.merge(keys, on=list(MATCH), how="inner")
            recorded = store.record_results(
                [
                    {
                        "competition": code,
                        "date": r.date.date(),
                        "home_team": r.home_team,
                        "away_team": r.away_team,
                        "home_score": int(r.home_score),
                        "away_score": int(r.away_score),
                    }
                    for r in wanted.itertuples(index=False)
                ]
            )
            predictions = store.settle()
            bets = book.bets(code)
            played = store.results(code)[[*MATCH, "home_score", "away_score"]]
            due = bets.rename(columns={"home_score": "was_home", "away_score": "was_away"}).merge(
                played, on=list(MATCH), how="inner"
            )
            due = due.loc[
                (due["status"] == "open")
                | (due["was_home"] != due["home_score"])
                | (due["was_away"] != due["away_score"])
            ]
            if len(due):
                prices = wanted[[*MATCH, *(c for c in closing if c in wanted)]]
                due = due.merge(prices, on=list(MATCH), how="left")
                settled = settle_bets(due, outcomes, rules.closing_source)
                for name in ("clv", "close_probability"):  # results without prices keep the known close
                    settled[name] = settled[name].where(
                        np.isfinite(settled[name]), pd.to_numeric(due[name]).to_numpy()
                    )
                book.update_settlements(
                    [
                        {
                            "id": int(i),
                            "home_score": int(h),
                            "away_score": int(a),
                            "status": s,
                            "pnl": float(p),
                            "clv": None if not np.isfinite(c) else float(c),
                            "close_probability": None if not np.isfinite(q) else float(q),
                            "settled_at": now,
                        }
                        for i, h, a, s, p, c, q in zip(
                            due["id"],
                            due["home_score"],
                            due["away_score"],
                            settled["status"],
                            settled["pnl"],
                            settled["clv"],
                            settled["close_probability"],
                        )
                    ]
                )
            bets = book.bets(code)
    finally:
        store.close()
    result = SettleResult(
        code,
        day,
        recorded,
        predictions,
        len(due),
        bet_summary(bets, rules.bankroll),
        summary_by_version(bets, rules.bankroll),
        summary_by_strategy(bets, rules.bankroll),
        None,
    )
    if write_report:
        folder = settings.reports_path / "settle" / code / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        bets.to_csv(folder / "bets.csv", index=False)
        result = SettleResult(**{**result.__dict__, "folder": folder})
        (folder / "summary.json").write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result
