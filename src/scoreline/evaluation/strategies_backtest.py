"""The evidence for each betting strategy: bets settled under one staking rule, and their figures.

A strategy's bets (:func:`scoreline.evaluation.strategies.select`) are staked by the backtest's
rules (:func:`scoreline.evaluation.betting.stakes_and_bankroll`: flat or fractional Kelly, caps
per bet and per day), settled on the result, and judged by closing-line value against the sharp
book's close de-vigged twice, multiplicatively and by Shin (``clv = price * q_close - 1``): the
two disagree most on long shots, where Shin takes more margin off.

Figures per scope (every match pooled, each competition, each season): bets, bets per 100
matches, hit rate, staked, P/L, ``roi`` = P/L / starting bankroll, ``yield`` = P/L / staked, max
drawdown of the end-of-day bankroll, mean CLV under both closes and the share of bets beating
the close. 95 % intervals come from a paired bootstrap that resamples the scope's matches (bet
on or not): every strategy sees the same resamples of a scope, so their intervals compare
like with like. A scope's bankroll starts afresh, so its ROI and drawdown are its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoreline.evaluation.betting import BettingPolicy, max_drawdown, stakes_and_bankroll
from scoreline.evaluation.strategies import (
    CLOSING_METHODS,
    FOOTBALL,
    PriceFrame,
    Selection,
    Strategy,
    select,
)

#: per-bet table columns
BET_COLUMNS = (
    "match_id",
    "competition",
    "season",
    "date",
    "outcome",
    "book",
    "probability",
    "price",
    "expected_value",
    "won",
    "clv_multiplicative",
    "clv_shin",
)
#: the figures with a bootstrap interval (``{figure}_lo`` / ``{figure}_hi`` beside each)
WITH_INTERVALS = ("roi", "yield", "clv_multiplicative", "clv_shin")


def settled_bets(selection: Selection, frame: PriceFrame) -> pd.DataFrame:
    """One row per chosen bet (:data:`BET_COLUMNS`, date order): won or not and its CLV under
    both closing de-vigs (NaN without a sharp close). Stakes come later, per scope."""
    matches = frame.matches.iloc[selection.rows]
    out = pd.DataFrame(
        {
            "match_id": matches["match_id"].to_numpy(),
            "competition": matches["competition"].to_numpy(),
            "season": matches["season"].to_numpy(),
            "date": matches["date"].to_numpy(),
            "outcome": np.asarray(FOOTBALL, dtype=object)[selection.pick],
            "book": selection.book,
            "probability": selection.probability,
            "price": selection.price,
            "expected_value": selection.expected_value,
            "won": matches["outcome"].to_numpy() == selection.pick,
        }
    )
    for method in CLOSING_METHODS:
        fair = frame.fair_close(method)[selection.rows, selection.pick]
        out[f"clv_{method.value}"] = closing_line_value(selection.price, fair)
    return out


def closing_line_value(price: np.ndarray, close_probability: np.ndarray) -> np.ndarray:
    """``price / fair_close - 1`` with ``fair_close = 1 / close_probability``: +0.05 means the
    bet was taken 5 % above the fair closing price."""
    return np.asarray(price, dtype=float) * np.asarray(close_probability, dtype=float) - 1.0


def staked(bets: pd.DataFrame, policy: BettingPolicy) -> pd.DataFrame:
    """``bets`` (date order) with ``stake``, ``pnl`` and ``bankroll_after`` under ``policy``,
    the bankroll starting at ``policy.starting_bankroll``; bets after ruin are dropped. A bet
    with ``push`` true (a spread bet landing on the line) gets its stake back."""
    price = bets["price"].to_numpy(float)
    push = bets["push"].to_numpy(bool) if "push" in bets else np.zeros(len(bets), bool)
    payout = np.where(bets["won"].to_numpy(bool), price, np.where(push, 1.0, 0.0))
    kelly = bets["expected_value"].to_numpy(float) / (price - 1.0)
    stake, after = stakes_and_bankroll(bets["date"].to_numpy(), kelly, payout, policy)
    out = bets.assign(stake=stake, pnl=stake * (payout - 1.0), bankroll_after=after)
    return out.loc[out["stake"] > 0].reset_index(drop=True)


def figures(
    bets: pd.DataFrame, n_matches: int, policy: BettingPolicy, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """A scope's figures (module notes) from its staked ``bets`` and its ``n_matches`` matches
    that could be bet; a CLV mean and interval per ``clv_<name>`` column of ``bets``.
    Bootstrap: ``n_boot`` resamples of the ``n_matches`` matches, drawn
    from ``seed`` (the same seed and scope give every strategy the same resamples)."""
    start = policy.starting_bankroll
    stake = bets["stake"].to_numpy(float)
    pnl = bets["pnl"].to_numpy(float)
    clv = {c.removeprefix("clv_"): bets[c].to_numpy(float) for c in bets.columns if c.startswith("clv_")}
    daily = bets.groupby("date", sort=True)["bankroll_after"].last().to_numpy()
    out: dict[str, float] = {
        "n_matches": n_matches,
        "n_bets": len(bets),
        "bets_per_100": 100.0 * len(bets) / n_matches if n_matches else float("nan"),
        "hit_rate": float(bets["won"].mean()) if len(bets) else float("nan"),
        "staked": float(stake.sum()),
        "pnl": float(pnl.sum()),
        "roi": float(pnl.sum()) / start,
        "yield": float(pnl.sum() / stake.sum()) if stake.sum() > 0 else float("nan"),
        "max_drawdown": max_drawdown(np.r_[start, daily]),
        "final_bankroll": float(daily[-1]) if len(daily) else start,
    }
    for name, values in clv.items():
        finite = np.isfinite(values)
        out[f"n_clv_{name}"] = int(finite.sum())
        out[f"clv_{name}"] = float(values[finite].mean()) if finite.any() else float("nan")
    # beating the close: under Shin's de-vig where there is one (the stricter), else the bets' own
    judged = clv.get("shin", next(iter(clv.values()), np.zeros(0)))
    judged = judged[np.isfinite(judged)]
    out["share_beating_close"] = float((judged > 0).mean()) if judged.size else float("nan")
    # each bet is on a distinct match; its position among the scope's matches is arbitrary
    # (only counts matter), so the bets take positions 0..len-1 and the rest never bet
    weights = _match_weights(n_matches, len(bets), n_boot, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        samples = {
            "roi": weights @ pnl / start,
            "yield": (weights @ pnl) / (weights @ stake),
            **{
                f"clv_{name}": (weights @ np.where(np.isfinite(v), v, 0.0))
                / (weights @ np.isfinite(v).astype(float))
                for name, v in clv.items()
            },
        }
    for name, values in samples.items():
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [2.5, 97.5]) if finite.size else (np.nan, np.nan)
        out[f"{name}_lo"], out[f"{name}_hi"] = float(low), float(high)
    return out


def clv_names(table: pd.DataFrame) -> list[str]:
    """The closing-line values a figures table (or a bets table) holds: ``multiplicative`` and
    ``shin`` for football, ``spread`` for spread bets, in column order."""
    return [
        c.removeprefix("clv_")
        for c in table.columns
        if c.startswith("clv_") and not c.endswith(("_lo", "_hi"))
    ]


def _match_weights(n_matches: int, n_bets: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_bets) how often each of the first ``n_bets`` of ``n_matches`` matches is
    drawn in each bootstrap resample of all the matches."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_boot, n_bets))
    if n_matches == 0 or n_bets == 0:
        return out
    chunk = max(1, 2_000_000 // n_matches)
    for begin in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - begin)
        draws = rng.integers(0, n_matches, size=(rows, n_matches))
        flat = (draws + n_matches * np.arange(rows)[:, None]).ravel()
        counts = np.bincount(flat, minlength=rows * n_matches).reshape(rows, n_matches)
        out[begin : begin + rows] = counts[:, :n_bets]
    return out


@dataclass(frozen=True)
class StrategyEvidence:
    """Every strategy's bets and figures per scope.

    ``bets``: strategy name -> settled bets (:data:`BET_COLUMNS`, no stakes). ``table``: one row
    per (strategy, scope) with :func:`figures`' columns; ``scope`` is ``pooled``, a competition
    code or a season start year as text. ``skipped``: strategy -> why it was not run.
    """

    bets: dict[str, pd.DataFrame]
    table: pd.DataFrame
    skipped: dict[str, str]

    def row(self, strategy: str, scope: str = "pooled") -> dict[str, float]:
        return self.table.loc[(strategy, scope)].to_dict()


def evaluate(
    strategies: dict[str, Strategy],
    frame: PriceFrame,
    policy: BettingPolicy,
    model_probabilities: dict[str, np.ndarray] | None = None,
    scopes: Iterable[str] = ("pooled", "competition", "season"),
    n_boot: int = 1000,
) -> StrategyEvidence:
    """Backtest ``strategies`` on ``frame`` under ``policy``.

    ``model_probabilities``: model name -> (n, 3) walk-forward probabilities aligned to
    ``frame.matches``; a model strategy whose model is absent is skipped (and said so). A
    consensus strategy adds one row per ``also_at`` book: the same bets at that book's price
    (``consensus@b365``).
    """
    model_probabilities = model_probabilities or {}
    bets: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    for name, strategy in strategies.items():
        model = getattr(strategy, "model", None)
        if model is not None and model not in model_probabilities:
            skipped[name] = f"no walk-forward probabilities of model {model!r}"
            continue
        selection = select(strategy, frame, model_probabilities.get(model) if model else None)
        bets[name] = settled_bets(selection, frame)
        for book in getattr(strategy, "also_at", ()):
            bets[f"{name}@{book}"] = settled_bets(selection.priced_at(frame, book), frame)

    matches = frame.matches.loc[frame.matches["outcome"] >= 0]
    return evidence_of(bets, matches, policy, scopes, n_boot, skipped)


def evidence_of(
    bets: dict[str, pd.DataFrame],
    matches: pd.DataFrame,
    policy: BettingPolicy,
    scopes: Iterable[str] = ("pooled", "competition", "season"),
    n_boot: int = 1000,
    skipped: dict[str, str] | None = None,
) -> StrategyEvidence:
    """Each strategy's settled ``bets`` staked under ``policy`` and judged per scope over
    ``matches`` (the settled matches any strategy could bet: ``competition``, ``season``)."""
    groups = _scopes(matches, tuple(scopes))
    rows = []
    for name, table in bets.items():
        for scope, (column, value, n_matches, seed) in groups.items():
            part = table if column is None else table.loc[table[column] == value]
            row = figures(staked(part.reset_index(drop=True), policy), n_matches, policy, n_boot, seed)
            rows.append({"strategy": name, "scope": scope, **row})
    empty = pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []], names=["strategy", "scope"]))
    table = pd.DataFrame(rows).set_index(["strategy", "scope"]) if rows else empty
    return StrategyEvidence(bets, table, skipped or {})


def _scopes(matches: pd.DataFrame, kinds: tuple[str, ...]) -> dict[str, tuple[str | None, object, int, int]]:
    """scope name -> (column, value, number of matches, bootstrap seed)."""
    out: dict[str, tuple[str | None, object, int, int]] = {}
    if "pooled" in kinds:
        out["pooled"] = (None, None, len(matches), 0)
    for kind, column in (("competition", "competition"), ("season", "season")):
        if kind not in kinds:
            continue
        for i, (value, n) in enumerate(matches[column].value_counts().sort_index().items()):
            out[str(value)] = (column, value, int(n), 1 + i + (1000 if kind == "season" else 0))
    return out
