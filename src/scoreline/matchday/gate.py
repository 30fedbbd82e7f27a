"""The staking gate as the matchday loop applies it: each strategy's verdict for a season, from
the walk-forward evidence of the seasons before it, and every book's pre-closing prices of the
fixtures being bet.

The evidence (:func:`scoreline.matchday.evidence.strategy_report` on the price files of the
policy's ``gate.competitions``, seasons before the one being bet) takes seconds, and it cannot
change within a season, so a season's verdicts are computed once and kept with their figures in
``reports/gate/<code>/<season>.json``, keyed by the policy's strategies and gate: the matchday
report and the model card read them from there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.prices import MarketPrices, load_prices
from scoreline.data.schema import match_ids
from scoreline.evaluation.strategies import FOOTBALL, PriceFrame
from scoreline.evaluation.strategies_gate import GateVerdict
from scoreline.matchday.evidence import price_folder, strategy_report
from scoreline.promotion.card import gate_report_path
from scoreline.promotion.policy import Betting

__all__ = ["fixture_price_frame", "season_verdicts"]


def season_verdicts(settings: Settings, rules: Betting, code: str, season: int) -> dict[str, dict]:
    """Each strategy's gate verdict (:meth:`GateVerdict.to_dict`) for betting ``code`` in
    ``season``: staked only on a CLV interval above zero over the seasons before. A strategy
    without evidence (no price files, no walk-forward model probabilities, another sport) is
    a paper strategy, and says why."""
    names = list(rules.strategies.named())
    if competition(code).outcomes != 3:
        return {n: _paper(n, f"no bookmaker price files for {code}: no CLV evidence") for n in names}
    key = _policy_key(rules)
    path = report_path(settings, code, season)
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("policy") == key:
            return stored["verdicts"]
    try:
        report = strategy_report(
            settings, rules, rules.gate.competitions, to_season=season - 1, n_boot=rules.gate.n_boot
        )
    except (ValueError, FileNotFoundError) as err:  # no price files in reach
        return {n: _paper(n, str(err)) for n in names}
    verdicts = {
        n: report.verdicts[n].to_dict()
        if n in report.verdicts
        else _paper(n, report.evidence.skipped.get(n, ""))
        for n in names
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"policy": key, "season": season, "verdicts": verdicts}, indent=2))
    return verdicts


def fixture_price_frame(settings: Settings, window: pd.DataFrame, code: str) -> PriceFrame:
    """Every book's pre-closing 1X2 prices of the fixtures in ``window`` (rows in order, no
    result): from the price files where they list the fixture, else from the fixture's own
    ``odds_{book}_{outcome}`` columns (the store keeps Bet365, Pinnacle, max and average)."""
    ids = (
        window["match_id"].astype("string")
        if "match_id" in window
        else match_ids(
            pd.Series(code, index=window.index), window["date"], window["home_team"], window["away_team"]
        )
    )
    matches = pd.DataFrame(
        {
            "match_id": ids.to_numpy(),
            "competition": code,
            "season": window["season"].to_numpy() if "season" in window else np.nan,
            "date": window["date"].to_numpy(),
            "home_team": window["home_team"].to_numpy(),
            "away_team": window["away_team"].to_numpy(),
            "home_score": np.nan,
            "away_score": np.nan,
        }
    )
    own = _columns_as_prices(window, ids)
    files = _window_prices(settings, code, window)
    # the files first: a book the store also keeps has the same price there
    long = pd.concat([files, own], ignore_index=True) if files is not None else own
    long = long.drop_duplicates(["match_id", "book", "outcome"], keep="first")
    return PriceFrame.build(MarketPrices(matches, long), sort=False)


def _window_prices(settings: Settings, code: str, window: pd.DataFrame) -> pd.DataFrame | None:
    if window.empty:
        return None
    try:
        folder = price_folder(settings)
    except ValueError:
        return None
    seasons = pd.to_datetime(window["date"])
    first = int((seasons.dt.year - (seasons.dt.month < 7)).min())
    try:
        market = load_prices(folder, [code], first, first + 1)
    except FileNotFoundError:
        return None
    prices = market.prices
    pre = prices.loc[(prices["when"] == "pre") & (prices["market"] == "1x2")]
    return pre.astype(dict.fromkeys(("book", "market", "outcome", "when"), str))


def _columns_as_prices(window: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """The fixture's ``odds_{book}_{outcome}`` pre-closing columns as long-table rows."""
    rows = []
    for column in window.columns:
        parts = column.split("_")
        if len(parts) != 3 or parts[0] != "odds" or parts[2] not in FOOTBALL:
            continue
        values = pd.to_numeric(window[column], errors="coerce").to_numpy(dtype=float)
        rows.append(
            pd.DataFrame(
                {
                    "match_id": ids.to_numpy(),
                    "book": parts[1],
                    "market": "1x2",
                    "outcome": parts[2],
                    "when": "pre",
                    "line": np.nan,
                    "price": values,
                }
            )
        )
    if not rows:
        return pd.DataFrame(columns=["match_id", "book", "market", "outcome", "when", "line", "price"])
    long = pd.concat(rows, ignore_index=True)
    return long.loc[long["price"] > 1.0].reset_index(drop=True)


def _paper(name: str, reason: str) -> dict:
    return GateVerdict(name, False, reason or "no walk-forward evidence", (), 0, 0, {}).to_dict()


def _policy_key(rules: Betting) -> str:
    text = json.dumps(
        {"strategies": rules.strategies.model_dump(mode="json"), "gate": rules.gate.model_dump(mode="json")},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def report_path(settings: Settings, code: str, season: int) -> Path:
    """Where :func:`season_verdicts` keeps ``code``'s verdicts for ``season`` (the model card
    reads them from there)."""
    return gate_report_path(settings, code, season)
