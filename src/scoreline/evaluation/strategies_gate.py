"""The staking gate: money goes only through strategies whose recent closing-line value is
measurably positive.

Closing-line value is the one betting figure the data measure tightly (thousands of bets give a
CLV interval a fraction of a percent wide, while a +/-2 point ROI interval needs ~23,000 bets),
and beating the close is what a positive long-run return needs. So a strategy is *staked* only
when, over its walk-forward bets of the last ``window_seasons`` settled seasons, the 95 %
bootstrap interval of its mean CLV lies above zero under every closing de-vig in
``closing_methods`` and it has at least ``min_bets`` bets; every other strategy's proposals are
*paper* bets: recorded, settled and reported, never staked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from scoreline.evaluation.betting import BettingPolicy
from scoreline.evaluation.strategies import CLOSING_METHODS
from scoreline.evaluation.strategies_backtest import figures
from scoreline.features.market import DevigMethod


class StakingGate(BaseModel):
    """``betting.gate`` in ``registry/policy.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: the leagues whose price files make the evidence (a strategy reads prices, not teams)
    competitions: tuple[str, ...] = ("E0", "D1", "SP1", "I1", "F1")
    window_seasons: int = Field(default=3, ge=1)  # the last settled seasons the evidence covers
    closing_methods: tuple[DevigMethod, ...] = CLOSING_METHODS
    min_bets: int = Field(default=100, ge=1)
    n_boot: int = Field(default=1000, ge=100)


@dataclass(frozen=True)
class GateVerdict:
    """Whether ``strategy`` may stake money, and the evidence: its bets and mean CLV with the
    95 % interval under each closing de-vig over ``seasons``."""

    strategy: str
    staked: bool
    reason: str
    seasons: tuple[int, ...]
    n_matches: int
    n_bets: int
    clv: dict[str, tuple[float, float, float]]  # method -> (mean, low, high)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["clv"] = {m: dict(zip(("mean", "low", "high"), v)) for m, v in self.clv.items()}
        out["seasons"] = list(self.seasons)
        return out


def verdict(
    strategy: str,
    bets: pd.DataFrame,
    matches: pd.DataFrame,
    gate: StakingGate,
    before_season: int | None = None,
) -> GateVerdict:
    """Judge ``strategy`` on its walk-forward ``bets`` (settled, :mod:`strategies_backtest`
    columns) over ``matches`` (the matches it could bet: ``season`` and ``outcome``): the last
    ``gate.window_seasons`` seasons before ``before_season`` (all seasons when None)."""
    played = matches.loc[matches["outcome"] >= 0]
    seasons = sorted(int(s) for s in played["season"].unique() if before_season is None or s < before_season)
    window = tuple(seasons[-gate.window_seasons :])
    n_matches = int(played["season"].isin(window).sum())
    recent = bets.loc[bets["season"].isin(window)].reset_index(drop=True)
    # CLV is per bet, whatever the stakes: one unit each, on a bankroll that cannot run out
    unit = recent.assign(stake=1.0, pnl=np.where(recent["won"], recent["price"] - 1.0, -1.0))
    unit["bankroll_after"] = len(unit) + unit["pnl"].cumsum()
    bank = BettingPolicy(starting_bankroll=float(max(len(unit), 1)))
    row = figures(unit, n_matches, bank, gate.n_boot, seed=0) if len(recent) else {}
    clv = {
        m.value: (
            row.get(f"clv_{m.value}", np.nan),
            row.get(f"clv_{m.value}_lo", np.nan),
            row.get(f"clv_{m.value}_hi", np.nan),
        )
        for m in gate.closing_methods
    }
    if not window:
        reason = "no settled season to judge"
    elif len(recent) < gate.min_bets:
        reason = f"{len(recent)} bets in seasons {window[0]}-{window[-1]}, fewer than {gate.min_bets}"
    else:
        failing = [m for m, (_, low, _) in clv.items() if not low > 0]
        reason = (
            "CLV interval above zero under " + " and ".join(clv)
            if not failing
            else "CLV interval not above zero under " + " and ".join(failing)
        )
    passed = reason.startswith("CLV interval above zero")
    return GateVerdict(strategy, passed, reason, window, n_matches, len(recent), clv)


def verdicts_path(reports: Path, code: str, season: int) -> Path:
    """Where the matchday keeps ``code``'s verdicts for ``season`` under the ``reports`` folder."""
    return reports / "gate" / code / f"{season}.json"


def stored_verdicts(reports: Path, code: str) -> tuple[int, dict[str, dict]] | None:
    """The newest season's stored verdicts of ``code`` (season, strategy -> :meth:`GateVerdict.to_dict`),
    or None when the matchday has judged no season yet."""
    files = sorted((int(p.stem), p) for p in (reports / "gate" / code).glob("*.json") if p.stem.isdigit())
    if not files:
        return None
    season, path = files[-1]
    return season, json.loads(path.read_text())["verdicts"]
