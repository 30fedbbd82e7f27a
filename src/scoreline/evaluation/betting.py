"""Betting a model's backtest forecasts against bookmaker prices: staking, P/L and closing-line value.

The simulator reads a :class:`~scoreline.evaluation.backtest.BacktestResult`'s predictions (one
row per match, ``{model}_{outcome}`` probabilities) and a price table keyed by ``match_id``. It
bets at *pre-closing* prices of one source; closing prices are used only afterwards, to measure
closing-line value (CLV), never to choose or size a bet.

Rules (the :class:`BettingPolicy` holds the numbers)
----------------------------------------------------
* **Value.** Outcome ``j`` of a match is a candidate when ``p_j * price_j > 1 + edge`` (expected
  profit per unit staked above ``edge``). At most one bet per match: the candidate with the
  largest expected value ``p * price - 1`` (ties: the first in outcome order). Backing several
  outcomes of one match partly hedges and muddles the hit rate, so we do not.
* **Stakes**, in bankroll units (starting bankroll = ``starting_bankroll``, 100 units by
  default, as the matchday loop's: :data:`STARTING_BANKROLL`):

  - flat: ``flat_stake * starting_bankroll`` per bet, the same amount throughout;
  - Kelly: ``kelly_fraction * f*`` of the bankroll at the start of the bet's date, with the
    single-outcome Kelly fraction ``f* = (p * price - 1) / (price - 1)``.

  Every stake is then capped at ``max_stake_fraction`` of the bankroll at the start of the date,
  and if a date's stakes together exceed ``max_daily_exposure`` of that bankroll they are all
  scaled down by the same factor. Matches on one date are treated as simultaneous: all are sized
  from the same start-of-day bankroll and none compounds on another's result. Since the daily
  exposure is at most the whole bankroll, the bankroll never goes negative.
* **Ruin.** A strategy whose bankroll has fallen below ``ruin_below`` of the starting bankroll
  (1 %: one flat stake) is broke and places no further bets: without the rule the caps shrink
  its stakes with the bankroll and it goes on betting dust, its curve falling to 1e-7.
* **Settlement.** A winning bet returns ``stake * price`` (profit ``stake * (price - 1)``), a
  losing one nothing. A two-way tie (outcome -1 with equal scores, e.g. an NFL tie) is settled as
  a push: the stake comes back. Matches with no result are not bet.
* **Closing-line value.** ``clv = price_taken / fair_close - 1`` with ``fair_close = 1 /
  q_close``, where ``q_close`` is the multiplicatively de-vigged closing probability of the
  backed outcome (Pinnacle's closing 1X2 by default). Positive CLV means the bet was taken at a
  better price than the efficient closing line; it is NaN where closing prices are missing (and
  for two-way sports, whose schema has no closing moneyline).

Summary figures: ``roi`` = profit / starting bankroll (return on the capital put up), ``yield`` =
profit / total staked (profit per unit bet, what bettors usually call ROI), ``max_drawdown`` =
the largest fall of the end-of-day bankroll from its running peak, as a fraction of that peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.data.prices_american import american_to_decimal
from scoreline.features.market import DevigMethod, implied_probabilities
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY

#: the starting bankroll of every simulated and live strategy, units (the matchday policy's
#: ``betting.bankroll`` defaults to it)
STARTING_BANKROLL = 100.0
#: the pseudo price source for two-way sports: American moneylines converted to decimal odds
MONEYLINE = "moneyline"
#: per-bet table columns, in order
BET_COLUMNS = (
    "date",
    "match_id",
    "outcome",
    "probability",
    "price",
    "expected_value",
    "stake",
    "won",
    "return",
    "pnl",
    "bankroll_after",
    "clv",
)


class Staking(Enum):
    """How a bet's stake is sized."""

    FLAT = "flat"  # a fixed fraction of the *starting* bankroll
    KELLY = "kelly"  # a fraction of the Kelly stake, on the bankroll at the start of the date


@dataclass(frozen=True)
class BettingPolicy:
    """When to bet and how much; all amounts are fractions of a bankroll (see the module notes).

    Attributes
    ----------
    edge : minimum expected profit per unit staked: bet when ``p * price > 1 + edge``.
    staking : :class:`Staking` method.
    kelly_fraction : multiplier on the full Kelly stake (0.25 = quarter Kelly); Kelly only.
    flat_stake : stake per bet as a fraction of the starting bankroll; flat only.
    max_stake_fraction : cap on one stake, as a fraction of the start-of-date bankroll.
    max_daily_exposure : cap on the total staked on one date, as a fraction of the start-of-date
        bankroll (<= 1, so the bankroll cannot go negative).
    starting_bankroll : bankroll before the first bet, in units.
    ruin_below : broke (no further bets) once the bankroll is below this fraction of the
        starting bankroll.
    """

    edge: float = 0.02
    staking: Staking = Staking.FLAT
    kelly_fraction: float = 0.25
    flat_stake: float = 0.01
    max_stake_fraction: float = 0.05
    max_daily_exposure: float = 0.25
    starting_bankroll: float = STARTING_BANKROLL
    ruin_below: float = 0.01

    def __post_init__(self) -> None:
        if not isinstance(self.staking, Staking):
            raise TypeError(f"staking must be a Staking, not {self.staking!r}")
        if self.edge < 0:
            raise ValueError(f"edge must be >= 0, got {self.edge}")
        for name in ("kelly_fraction", "flat_stake", "max_stake_fraction", "max_daily_exposure"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if not 0 <= self.ruin_below < 1:
            raise ValueError(f"ruin_below must be in [0, 1), got {self.ruin_below}")
        if self.starting_bankroll <= 0:
            raise ValueError(f"starting_bankroll must be positive, got {self.starting_bankroll}")

    @property
    def label(self) -> str:
        """Short name for tables, e.g. ``flat 1% edge 0.02`` or ``0.25 Kelly edge 0.05``."""
        sizing = (
            f"flat {self.flat_stake:.0%}"
            if self.staking is Staking.FLAT
            else f"{self.kelly_fraction:g} Kelly"
        )
        return f"{sizing} edge {self.edge:g}"


@dataclass(frozen=True)
class BettingResult:
    """The bets one model would have placed under one policy, and their summary.

    ``bets``: one row per bet placed, in settlement order (date, then match_id), columns
    :data:`BET_COLUMNS`: ``outcome`` is the outcome name backed ("home", "draw", "away"),
    ``price`` the decimal odds taken, ``expected_value`` = ``probability * price - 1``,
    ``return`` the amount paid back (0 for a loss), ``pnl`` = return - stake,
    ``bankroll_after`` the bankroll after settling this bet (bets of one date settle in
    ``match_id`` order; the last bet of a date shows the end-of-day bankroll), ``clv`` the
    closing-line value (NaN without closing prices).

    ``summary``: n_matches (matches with a result, model probabilities and prices), n_bets,
    staked, pnl, roi (pnl / starting bankroll), yield (pnl / staked), max_drawdown,
    final_bankroll, hit_rate (share of bets won; pushes count as not won), n_clv (bets with a
    closing price), mean_clv, share_beating_close (share of those with clv > 0).
    """

    model: str
    policy: BettingPolicy
    price_source: str
    bets: pd.DataFrame
    summary: dict[str, float]

    def bankroll_by_date(self) -> pd.Series:
        """End-of-day bankroll on each date with a bet, starting bankroll first (at the day
        before the first bet), indexed by date."""
        start = self.policy.starting_bankroll
        if self.bets.empty:
            return pd.Series([start], dtype=float, name="bankroll")
        daily = self.bets.groupby("date", sort=True)["bankroll_after"].last()
        first = pd.Series([start], index=[daily.index[0] - pd.Timedelta(days=1)])
        return pd.concat([first, daily]).rename("bankroll")

    @property
    def broke_on(self) -> pd.Timestamp | None:
        """The date of the last bet when it left the strategy broke (``policy.ruin_below``)."""
        if self.bets.empty:
            return None
        last = self.bets.iloc[-1]
        broke = last["bankroll_after"] < self.policy.ruin_below * self.policy.starting_bankroll
        return pd.Timestamp(last["date"]) if broke else None


def decimal_prices(prices: pd.DataFrame, source: str, outcomes: tuple[str, ...]) -> np.ndarray:
    """(n, k) decimal odds of ``source`` in ``outcomes`` order: ``odds_{source}_{outcome}``
    columns, or for :data:`MONEYLINE` the American ``moneyline_{home,away}`` converted."""
    if source == MONEYLINE:
        columns = [f"moneyline_{o}" for o in outcomes]
        _require(prices, columns)
        return american_to_decimal(prices[columns].to_numpy(dtype=float))
    columns = [f"odds_{source}_{o}" for o in outcomes]
    _require(prices, columns)
    return prices[columns].to_numpy(dtype=float)


def _require(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise KeyError(f"price table lacks {', '.join(missing)}")


def simulate(
    predictions: pd.DataFrame,
    matches_prices: pd.DataFrame,
    model: str,
    policy: BettingPolicy,
    price_source: str | None = None,
    closing_source: str = "pinnacle_close",
) -> BettingResult:
    """Bet ``model``'s forecasts at ``price_source``'s pre-closing prices under ``policy``.

    ``predictions``: a backtest's predictions (match_id, date, home_score, away_score,
    outcome, ``{model}_{home|draw|away}`` or ``{model}_{home|away}``). ``matches_prices``:
    one row per match_id with the price columns of :mod:`scoreline.data.schema` (other
    columns are ignored). ``price_source``: the book whose prices are taken, e.g. "b365",
    "pinnacle", "avg", "max" (default "b365" for three-way, :data:`MONEYLINE` for two-way
    sports); closing sources are refused, since those prices are not known when the bet is
    chosen. ``closing_source``: the closing 1X2 prices CLV is measured against (ignored where
    its columns are absent).
    """
    outcomes = OUTCOMES_3WAY if f"{model}_draw" in predictions else OUTCOMES_2WAY
    source = price_source or ("b365" if outcomes == OUTCOMES_3WAY else MONEYLINE)
    if source.endswith("_close"):
        raise ValueError(f"bets are placed at pre-closing prices; {source!r} is a closing source")
    prob_columns = [f"{model}_{o}" for o in outcomes]
    _require(predictions, prob_columns)

    price_columns = [
        c for c in matches_prices.columns if c.startswith(("odds_", "moneyline_")) and c not in predictions
    ]
    frame = predictions.merge(
        matches_prices[["match_id", *price_columns]], on="match_id", how="left", validate="one_to_one"
    )
    frame = frame.sort_values(["date", "match_id"], kind="stable").reset_index(drop=True)

    probs = frame[prob_columns].to_numpy(dtype=float)
    prices = decimal_prices(frame, source, outcomes)
    observed = frame["outcome"].to_numpy(dtype=int)
    home = frame["home_score"].to_numpy(dtype=float)
    away = frame["away_score"].to_numpy(dtype=float)
    push = (observed < 0) & (len(outcomes) == 2) & (home == away)  # a two-way tie
    usable = (
        np.isfinite(probs).all(axis=1)
        & np.isfinite(prices).all(axis=1)
        & (prices > 1).all(axis=1)
        & ((observed >= 0) | push)
    )

    # selection: pre-closing prices and model probabilities only
    idx, pick, ev = value_bets(probs, prices, usable, policy.edge)
    price = prices[idx, pick]
    prob = probs[idx, pick]
    won = observed[idx] == pick
    payout_per_unit = np.where(won, price, np.where(push[idx], 1.0, 0.0))
    dates = frame["date"].to_numpy()[idx]
    stake, bankroll_after = stakes_and_bankroll(dates, ev / (price - 1.0), payout_per_unit, policy)

    clv = closing_line_value(frame, closing_source, outcomes, idx, pick, price)
    bets = pd.DataFrame(
        {
            "date": frame["date"].to_numpy()[idx],
            "match_id": frame["match_id"].to_numpy()[idx],
            "outcome": np.asarray(outcomes, dtype=object)[pick],
            "probability": prob,
            "price": price,
            "expected_value": ev,
            "stake": stake,
            "won": won,
            "return": stake * payout_per_unit,
            "pnl": stake * (payout_per_unit - 1.0),
            "bankroll_after": bankroll_after,
            "clv": clv,
        },
        columns=list(BET_COLUMNS),
    )
    bets = bets.loc[bets["stake"] > 0].reset_index(drop=True)  # nothing staked after ruin
    return BettingResult(model, policy, source, bets, _summary(bets, policy, int(usable.sum())))


def value_bets(
    probs: np.ndarray, prices: np.ndarray, usable: np.ndarray, edge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The value rule: of each ``usable`` row, the outcome with the largest expected value
    ``p * price - 1`` (ties: the first), backed when that exceeds ``edge``. Returns the rows
    backed, the outcome column of each and its expected value."""
    with np.errstate(invalid="ignore"):
        value = np.where(usable[:, None], probs * prices - 1.0, -np.inf)
    choice = value.argmax(axis=1) if len(value) else np.zeros(0, dtype=int)
    best = value[np.arange(len(value)), choice]
    rows = np.flatnonzero(usable & (best > edge))
    return rows, choice[rows], best[rows]


def stakes_and_bankroll(
    dates: np.ndarray, kelly: np.ndarray, payout_per_unit: np.ndarray, policy: BettingPolicy
) -> tuple[np.ndarray, np.ndarray]:
    """Stakes and the running bankroll after each bet, bets sorted by date.

    ``kelly``: full-Kelly fraction per bet; ``payout_per_unit``: what one unit staked pays back.
    Bets of one date are sized together from the start-of-date bankroll; from the first date
    that starts with the bankroll below ``policy.ruin_below`` of the starting one, nothing is
    staked (stake 0: the strategy is broke).
    """
    stake = np.zeros(len(dates))
    after = np.zeros(len(dates))
    bankroll = policy.starting_bankroll
    starts = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]]) if len(dates) else np.array([], int)
    ruin = policy.ruin_below * policy.starting_bankroll
    for begin, end in zip(starts, np.r_[starts[1:], len(dates)]):
        day = slice(begin, end)
        if bankroll < ruin:
            after[begin:] = bankroll
            break
        if policy.staking is Staking.KELLY:
            wanted = policy.kelly_fraction * kelly[day] * bankroll
        else:
            wanted = np.full(end - begin, policy.flat_stake * policy.starting_bankroll)
        wanted = np.minimum(wanted, policy.max_stake_fraction * bankroll)
        total, limit = wanted.sum(), policy.max_daily_exposure * bankroll
        if total > limit:
            wanted = wanted * (limit / total)
        stake[day] = np.maximum(wanted, 0.0)
        after[day] = bankroll + np.cumsum(stake[day] * (payout_per_unit[day] - 1.0))
        bankroll = max(after[end - 1], 0.0)  # guards against -1e-17 round-off only
    return stake, after


def closing_line_value(
    frame: pd.DataFrame,
    closing_source: str,
    outcomes: tuple[str, ...],
    idx: np.ndarray,
    pick: np.ndarray,
    price: np.ndarray,
) -> np.ndarray:
    """``price / (1 / q_close) - 1`` per bet, with q_close de-vigged multiplicatively."""
    columns = [f"odds_{closing_source}_{o}" for o in outcomes]
    if not all(c in frame for c in columns) or len(idx) == 0:
        return np.full(len(idx), np.nan)
    closing = frame[columns].to_numpy(dtype=float)[idx]
    fair = implied_probabilities(closing, DevigMethod.MULTIPLICATIVE).probabilities
    return price * fair[np.arange(len(idx)), pick] - 1.0


def max_drawdown(bankroll: np.ndarray) -> float:
    """Largest fall from a running peak, as a fraction of that peak (0.2 = 20 % below the peak)."""
    path = np.asarray(bankroll, dtype=float)
    if path.size == 0:
        return 0.0
    peak = np.maximum.accumulate(path)
    return float(np.max((peak - path) / peak))


def _summary(bets: pd.DataFrame, policy: BettingPolicy, n_matches: int) -> dict[str, float]:
    staked = float(bets["stake"].sum())
    pnl = float(bets["pnl"].sum())
    clv = bets["clv"].to_numpy(dtype=float)
    clv = clv[np.isfinite(clv)]
    start = policy.starting_bankroll
    daily = bets.groupby("date", sort=True)["bankroll_after"].last().to_numpy()
    return {
        "n_matches": n_matches,
        "n_bets": len(bets),
        "staked": staked,
        "pnl": pnl,
        "roi": pnl / start,
        "yield": pnl / staked if staked > 0 else float("nan"),
        "max_drawdown": max_drawdown(np.r_[start, daily]),
        "final_bankroll": float(daily[-1]) if len(daily) else start,
        "hit_rate": float(bets["won"].mean()) if len(bets) else float("nan"),
        "n_clv": int(clv.size),
        "mean_clv": float(clv.mean()) if clv.size else float("nan"),
        "share_beating_close": float((clv > 0).mean()) if clv.size else float("nan"),
    }


def summary_table(results: dict[str, BettingResult]) -> pd.DataFrame:
    """One row per named result: model, price source, policy label and every summary figure."""
    rows = [
        {"name": name, "model": r.model, "prices": r.price_source, "policy": r.policy.label, **r.summary}
        for name, r in results.items()
    ]
    return pd.DataFrame(rows).set_index("name")


#: a bankroll panel's legend, under the axes: the curves it would hide matter more
LEGEND_BELOW = {
    "loc": "upper center",
    "bbox_to_anchor": (0.5, -0.12),
    "ncol": 3,
    "fontsize": 8,
    "title_fontsize": 8,
}


def draw_bankroll(ax, curve: pd.Series, label: str, colour, ruin: float) -> None:
    """One end-of-day bankroll ``curve`` on ``ax``; a curve ending below ``ruin`` (broke: no
    more bets) ends with an x, and the label says when, else it gives the final bankroll."""
    broke = curve.iloc[-1] < ruin
    ending = f"broke {curve.index[-1]:%Y-%m}" if broke else f"{curve.iloc[-1]:.0f}"
    ax.step(curve.index, curve.to_numpy(), where="post", lw=1.1, color=colour, label=f"{label}: {ending}")
    if broke:
        ax.plot([curve.index[-1]], [curve.iloc[-1]], marker="x", ms=8, mew=2, color=colour)


def staking_title(policy: BettingPolicy) -> str:
    """``flat 1%: the same stake throughout`` or ``0.25 Kelly: stakes proportional to the bankroll``."""
    kind = (
        "stakes proportional to the bankroll"
        if policy.staking is Staking.KELLY
        else "the same stake throughout"
    )
    return f"{policy.label.split(' edge')[0]}: {kind}"


def bankroll_curve_png(results: dict[str, BettingResult], path: Path | str) -> Path:
    """PNG of each result's end-of-day bankroll against date, one panel per staking method
    (flat, then Kelly: stakes proportional to the bankroll), on a linear axis from 0. A model
    keeps its colour in every panel; a broke strategy's curve ends with an x at its ruin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    panels = [m for m in Staking if any(r.policy.staking is m for r in results.values())] or [Staking.FLAT]
    models = list(dict.fromkeys(r.model for r in results.values()))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 6), sharey=True, squeeze=False)
    for ax, staking in zip(axes[0], panels):
        shown = [r for r in results.values() if r.policy.staking is staking and not r.bets.empty]
        for result in shown:
            ruin = result.policy.ruin_below * result.policy.starting_bankroll
            draw_bankroll(ax, result.bankroll_by_date(), result.model, colours[result.model], ruin)
        titles = sorted({staking_title(r.policy) for r in shown}) or [staking.value]
        ax.set(title="; ".join(titles), xlabel="date")
        if shown:
            ax.legend(**LEGEND_BELOW, title="model: final bankroll (units)")
    starts = sorted({r.policy.starting_bankroll for r in results.values()})
    for ax in axes[0]:
        for start in starts:
            ax.axhline(start, color="grey", lw=0.8, ls="--")
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel(f"bankroll (units; starts at {', '.join(f'{s:g}' for s in starts)})")
    fig.suptitle("Bankroll by date: each model's forecasts bet at pre-closing prices")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
