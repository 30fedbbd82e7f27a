"""Betting figures as tables that fit a 100-column terminal: short headers, numbers without
their units, and one legend line that gives the units.

Two tables: a backtest's bets per (model, staking) (:func:`scoreline.evaluation.betting.
summary_table`) and the strategies' evidence per scope (``scoreline bets report``). Fractions
print as percentages; an interval prints beside its estimate, the estimate to two (yield, whose
intervals are several points wide) or three (CLV) significant figures and the bounds to one
fewer: ``+1.5 [-2,+5]``, ``+2.24 [+2.0,+2.4]``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["MAX_WIDTH", "backtest_betting_frame", "backtest_betting_text", "evidence_text", "text_table"]

#: the widest line a betting table prints
MAX_WIDTH = 100


def _pct(value: float, decimals: int = 1, sign: bool = True) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{100 * value:{'+' if sign else ''}.{decimals}f}"


def _figures(value: float, digits: int) -> str:
    """``value`` in %, signed, to ``digits`` significant figures but never rounding the whole
    part, nor a non-zero value to 0: +2.24 and +12.7 (3), +2.0, +16 and -0.4 (2)."""
    whole = len(str(int(abs(100 * value)))) if np.isfinite(value) else 1
    decimals = max(digits - whole, 0)
    while np.isfinite(value) and value != 0 and float(_pct(value, decimals)) == 0 and decimals < 4:
        decimals += 1
    return _pct(value, decimals)


def _with_interval(row: pd.Series, name: str, digits: int) -> str:
    """``estimate [lo,hi]`` in %: the estimate to ``digits`` significant figures, the bounds to
    one fewer (what an interval's width can carry)."""
    value, lo, hi = row[name], row[f"{name}_lo"], row[f"{name}_hi"]
    if not np.isfinite(value):
        return "-"
    return f"{_figures(value, digits)} [{_figures(lo, digits - 1)},{_figures(hi, digits - 1)}]"


def text_table(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> list[str]:
    """Lines of ``rows`` under ``headers``, one space apart: the first ``left`` columns
    left-aligned (names), the others right-aligned (numbers)."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return " ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def backtest_betting_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A backtest's betting summary (one row per model and policy) with short headers, indexed
    by (model, staking): bets, staked, P/L and final bankroll in units; yield, max drawdown,
    mean CLV and the share of bets beating the close in %."""
    staking = table["policy"].str.replace(r" edge .*$", "", regex=True)
    frame = pd.DataFrame(
        {
            "model": table["model"].to_numpy(),
            "staking": staking.to_numpy(),
            "bets": table["n_bets"].astype(int).to_numpy(),
            "staked": table["staked"].round(1).to_numpy(),
            "P/L": table["pnl"].round(1).to_numpy(),
            "final": table["final_bankroll"].round(1).to_numpy(),
            "yield%": (100 * table["yield"]).round(1).to_numpy(),
            "DD%": (100 * table["max_drawdown"]).round(0).astype("Int64").to_numpy(),
            "CLV%": (100 * table["mean_clv"]).round(2).to_numpy(),
            "beat%": (100 * table["share_beating_close"]).round(0).astype("Int64").to_numpy(),
        }
    )
    return frame.set_index(["model", "staking"])


def backtest_betting_text(table: pd.DataFrame, starting_bankroll: float) -> list[str]:
    """:func:`backtest_betting_frame` as lines under a legend line (at most :data:`MAX_WIDTH`)."""
    frame = backtest_betting_frame(table).reset_index()
    edges = sorted(set(table["policy"].str.extract(r"edge (\S+)$")[0].dropna()))
    legend = (
        f"bets, staked, P/L, final: units of a {starting_bankroll:g}-unit start; yield = P/L / staked, "
        f"DD = max drawdown, CLV = mean vs the de-vigged close, beat = bets beating it, in %; "
        f"edge {', '.join(edges)}"
    )
    rows = [
        [
            r["model"],
            r["staking"],
            f"{r['bets']:d}",
            f"{r['staked']:.0f}",
            f"{r['P/L']:+.1f}",
            f"{r['final']:.1f}",
            f"{r['yield%']:+.1f}",
            f"{r['DD%']}",
            f"{r['CLV%']:+.2f}" if np.isfinite(r["CLV%"]) else "-",
            f"{r['beat%']}" if pd.notna(r["beat%"]) else "-",
        ]
        for _, r in frame.iterrows()
    ]
    headers = ["model", "staking", "bets", "staked", "P/L", "final", "yield", "DD", "CLV", "beat"]
    return [*textwrap.wrap(legend, MAX_WIDTH), *text_table(headers, rows, left=2)]


def evidence_text(table: pd.DataFrame, codes: Iterable[str], scope: str = "all") -> list[str]:
    """The strategies' evidence (rows (strategy, scope), the columns of
    :func:`scoreline.evaluation.strategies_backtest.figures`) as a legend and a table; ``scope``
    keeps one kind of row: ``pooled``, ``competition`` (one of ``codes``) or ``season``."""
    codes = set(codes)

    def kind(where: str) -> str:
        return "pooled" if where == "pooled" else "competition" if where in codes else "season"

    clvs = [
        c.removeprefix("clv_")
        for c in table.columns
        if c.startswith("clv_") and not c.endswith(("_lo", "_hi"))
    ]
    against = (
        "Pinnacle's close de-vigged multiplicatively (mult) and by Shin"
        if "shin" in clvs
        else "the closing line, where the files hold an earlier one (else -)"
    )
    legend = (
        "in %: hit rate; yield = P/L / staked; ROI = P/L / bankroll; DD = max drawdown; CLV against "
        f"{against}; [95 % bootstrap CI]"
    )
    rows = []
    for (strategy, where), row in table.iterrows():
        if scope != "all" and kind(str(where)) != scope:
            continue
        rows.append(
            [
                strategy,
                str(where),
                f"{int(row['n_bets'])}",
                _pct(row["hit_rate"], sign=False),
                _with_interval(row, "yield", 2),
                _pct(row["roi"], 0),
                _pct(row["max_drawdown"], 0, sign=False),
                *(_with_interval(row, f"clv_{name}", 3) for name in clvs),
            ]
        )
    short = {"multiplicative": "mult", "shin": "Shin"}
    headers = [
        "strategy",
        "scope",
        "bets",
        "hit",
        "yield [CI]",
        "ROI",
        "DD",
        *(f"CLV {short.get(name, name)} [CI]" for name in clvs),
    ]
    return [*textwrap.wrap(legend, MAX_WIDTH), *text_table(headers, rows, left=2)]
