"""Live bets as pure functions over frames: which fixtures to back and how much, how a bet
settles, and the figures to date. The staking rules are the backtest's
(:mod:`scoreline.evaluation.betting`); only the bankroll differs: the live one is the starting
bankroll plus the settled P/L to date, and bets still open hold part of it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.config import competition
from scoreline.evaluation.betting import (
    BettingPolicy,
    Staking,
    closing_line_value,
    decimal_prices,
    stakes_and_bankroll,
    value_bets,
)
from scoreline.promotion.policy import PRICE_SOURCES, Betting

__all__ = [
    "BET_FIELDS",
    "bet_summary",
    "fixture_prices",
    "price_source",
    "propose_bets",
    "settle_bets",
    "staking_policy",
    "summary_by_strategy",
    "summary_by_version",
]

#: what a proposed bet holds beyond the fixture's identity
BET_FIELDS = ("outcome", "probability", "price", "expected_value", "kelly", "stake")


def price_source(rules: Betting, code: str) -> str:
    """The pre-closing book ``code``'s bets are priced at."""
    sport = competition(code).sport
    return rules.price_source.get(sport, PRICE_SOURCES[sport][0])


def fixture_prices(fixtures: pd.DataFrame, source: str, outcomes: tuple[str, ...]) -> np.ndarray:
    """(n, k) decimal prices of ``source`` in ``outcomes`` order; NaN where the fixtures have no
    such columns (a fixture without prices is forecast, never bet)."""
    try:
        return decimal_prices(fixtures, source, outcomes).astype(np.float64)
    except KeyError:
        return np.full((len(fixtures), len(outcomes)), np.nan)


def staking_policy(rules: Betting, bankroll: float, exposure_limit: float) -> BettingPolicy:
    """The backtest's :class:`BettingPolicy` for one matchday: sized on ``bankroll``, the day's
    new stakes together at most ``exposure_limit`` (units)."""
    return BettingPolicy(
        edge=rules.edge,
        staking=Staking(rules.staking),
        kelly_fraction=rules.kelly_fraction,
        flat_stake=rules.flat_stake,
        max_stake_fraction=rules.max_stake_fraction,
        max_daily_exposure=min(1.0, exposure_limit / bankroll),
        starting_bankroll=bankroll,
    )


def propose_bets(
    forecasts: pd.DataFrame,
    outcomes: tuple[str, ...],
    rules: Betting,
    bankroll: float,
    staked_today: float = 0.0,
    open_stakes: float = 0.0,
) -> pd.DataFrame:
    """At most one bet per forecast row: the outcome with the largest expected value
    ``p * price - 1`` when it exceeds ``rules.edge`` (ties: the first outcome).

    ``forecasts``: ``prob_<o>`` and decimal ``price_<o>`` per outcome (NaN = no price).
    Stakes (units): ``kelly_fraction`` of the full Kelly stake ``(p * price - 1) / (price - 1)``
    of ``bankroll`` (or ``flat_stake`` of it), each capped at ``max_stake_fraction`` of it, all
    scaled down together so that they stay within ``max_daily_exposure * bankroll -
    staked_today`` and within the bankroll not already on open bets. Returns the chosen rows of
    ``forecasts`` (its index kept) with :data:`BET_FIELDS` added and ``bankroll``.
    """
    probs = forecasts[[f"prob_{o}" for o in outcomes]].to_numpy(np.float64)
    prices = forecasts[[f"price_{o}" for o in outcomes]].to_numpy(np.float64)
    usable = np.isfinite(probs).all(axis=1) & np.isfinite(prices).all(axis=1) & (prices > 1).all(axis=1)
    chosen, pick, ev = value_bets(probs, prices, usable, rules.edge)
    limit = min(rules.max_daily_exposure * bankroll - staked_today, bankroll - open_stakes)
    if not len(chosen) or bankroll <= 0 or limit <= 1e-12:
        return forecasts.iloc[:0].assign(
            **{f: pd.Series(dtype=object if f == "outcome" else float) for f in (*BET_FIELDS, "bankroll")}
        )
    price = prices[chosen, pick]
    kelly = ev / (price - 1.0)
    # one date: every bet of the day is sized together from the same bankroll
    stake, _ = stakes_and_bankroll(
        np.zeros(len(chosen)), kelly, np.ones(len(chosen)), staking_policy(rules, bankroll, limit)
    )
    bets = forecasts.iloc[chosen].assign(
        outcome=np.asarray(outcomes, dtype=object)[pick],
        probability=probs[chosen, pick],
        price=price,
        expected_value=ev,
        kelly=kelly,
        stake=stake,
        bankroll=bankroll,
    )
    return bets.loc[bets["stake"] > 0]


def settle_bets(
    bets: pd.DataFrame, outcomes: tuple[str, ...], closing_source: str = "pinnacle_close"
) -> pd.DataFrame:
    """Each bet's ``status`` (won / lost / push), ``pnl`` and closing-line value.

    ``bets``: ``outcome``, ``price``, ``stake``, ``home_score``, ``away_score`` and, where known,
    the closing prices ``odds_{closing_source}_<o>``. A win pays ``stake * (price - 1)``, a loss
    costs the stake, a two-way tie is a push (stake back). ``clv`` = ``price * q - 1`` with
    ``q`` the de-vigged (multiplicative) closing probability of the backed outcome, returned as
    ``close_probability``; NaN without closing prices. Returns the three-plus-two columns,
    indexed like ``bets``.
    """
    home = bets["home_score"].to_numpy(np.int64)
    away = bets["away_score"].to_numpy(np.int64)
    if len(outcomes) == 3:
        observed = np.where(home > away, "home", np.where(home == away, "draw", "away"))
    else:
        observed = np.where(home > away, "home", np.where(home < away, "away", "push"))
    backed = bets["outcome"].to_numpy(object)
    status = np.where(observed == "push", "push", np.where(backed == observed, "won", "lost"))
    stake = bets["stake"].to_numpy(np.float64)
    price = bets["price"].to_numpy(np.float64)
    pnl = np.where(status == "won", stake * (price - 1.0), np.where(status == "lost", -stake, 0.0))
    pick = np.array([outcomes.index(o) for o in backed], dtype=int)
    frame = bets.reset_index(drop=True)
    clv = closing_line_value(frame, closing_source, outcomes, np.arange(len(frame)), pick, price)
    return pd.DataFrame(
        {"status": status, "pnl": pnl, "clv": clv, "close_probability": (clv + 1.0) / price}, index=bets.index
    )


def bet_summary(bets: pd.DataFrame, starting_bankroll: float) -> dict[str, float]:
    """Figures to date of the stored bets with money on them (``status``, ``stake``, ``pnl``,
    ``clv``; rows with ``paper`` set are left out): bets placed, open and settled, staked and
    P/L of the settled ones, ``roi`` = P/L / starting bankroll, ``yield`` = P/L / staked,
    ``hit_rate`` = share of settled bets won (pushes count as not won), mean CLV over the
    settled bets with a closing price, and the bankroll now."""
    if "paper" in bets:
        bets = bets.loc[~bets["paper"].astype(bool)]
    settled = bets.loc[bets["status"] != "open"]
    staked = float(settled["stake"].sum())
    pnl = float(settled["pnl"].sum())
    clv = settled["clv"].to_numpy(np.float64)
    clv = clv[np.isfinite(clv)]
    return {
        "n_bets": len(bets),
        "n_open": int(len(bets) - len(settled)),
        "n_settled": len(settled),
        "open_stakes": float(bets["stake"].sum()) - staked,
        "staked": staked,
        "pnl": pnl,
        "roi": pnl / starting_bankroll,
        "yield": pnl / staked if staked > 0 else float("nan"),
        "hit_rate": float((settled["status"] == "won").mean()) if len(settled) else float("nan"),
        "n_clv": int(clv.size),
        "mean_clv": float(clv.mean()) if clv.size else float("nan"),
        "starting_bankroll": starting_bankroll,
        "bankroll": starting_bankroll + pnl,
    }


def summary_by_strategy(bets: pd.DataFrame, starting_bankroll: float) -> dict[str, dict]:
    """:func:`bet_summary` of each strategy's bets, paper ones included (``paper``: whether the
    strategy's bets were kept off money; their bankroll is notional)."""
    if "strategy" not in bets:
        return {}
    return {
        str(name): {
            **bet_summary(group.assign(paper=False), starting_bankroll),
            "paper": bool(group["paper"].astype(bool).all()),
        }
        for name, group in bets.groupby("strategy", sort=True)
    }


def summary_by_version(bets: pd.DataFrame, starting_bankroll: float) -> dict[str, dict[str, float]]:
    """:func:`bet_summary` per ``model_version`` (ROI still on the starting bankroll)."""
    return {
        str(version): bet_summary(group, starting_bankroll)
        for version, group in bets.groupby("model_version", sort=True)
    }
