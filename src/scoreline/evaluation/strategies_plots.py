"""Pictures of the strategies' evidence: bankroll by date, CLV histogram, bets per season.

Each function draws every strategy of a :class:`~scoreline.evaluation.strategies_backtest.
StrategyEvidence` into one PNG (matplotlib's Agg backend: no display needed) and returns the path.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.evaluation.betting import LEGEND_BELOW, BettingPolicy, Staking, draw_bankroll, staking_title
from scoreline.evaluation.strategies_backtest import StrategyEvidence, clv_names, staked


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bankroll_png(evidence: StrategyEvidence, policy: BettingPolicy, path: Path) -> Path:
    """End-of-day bankroll of each strategy over every match pooled, under ``policy``'s caps with
    flat stakes and with Kelly stakes (proportional to the bankroll), side by side on a linear
    axis from 0; a broke strategy's curve ends with an x."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(14, 6), sharey=True)
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(evidence.bets)}
    ruin = policy.ruin_below * policy.starting_bankroll
    for ax, staking in zip(axes, (Staking.FLAT, Staking.KELLY)):
        sized = replace(policy, staking=staking)
        for name, bets in evidence.bets.items():
            if bets.empty:
                continue
            placed = staked(bets, sized)
            if placed.empty:
                continue
            daily = placed.groupby("date")["bankroll_after"].last()
            start = pd.Series([policy.starting_bankroll], [daily.index[0] - pd.Timedelta(days=1)])
            draw_bankroll(ax, pd.concat([start, daily]), f"{name} ({len(placed)} bets)", colours[name], ruin)
        ax.axhline(policy.starting_bankroll, color="grey", lw=0.8, ls="--")
        ax.set(xlabel="date", title=staking_title(sized))
        ax.set_ylim(bottom=0)
        ax.legend(**LEGEND_BELOW, title="strategy: final bankroll (units)")
    axes[0].set_ylabel(f"bankroll (units; starts at {policy.starting_bankroll:g})")
    fig.suptitle("Bankroll by date, every match pooled")
    return _save(fig, plt, path)


def clv_histogram_png(evidence: StrategyEvidence, path: Path) -> Path:
    """Each strategy's closing-line value per bet: against the Shin-de-vigged Pinnacle close
    (football), else the bets' own close (the closing spread)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5))
    bins = np.linspace(-0.3, 0.3, 61)
    measures = set()
    for name, bets in evidence.bets.items():
        names = clv_names(bets)
        if not names:
            continue
        measure = "shin" if "shin" in names else names[0]
        clv = bets[f"clv_{measure}"].to_numpy(float)
        clv = clv[np.isfinite(clv)]
        if clv.size:
            measures.add(measure)
            ax.hist(
                np.clip(clv, bins[0], bins[-1]),
                bins=bins,
                histtype="step",
                density=True,
                label=f"{name} mean {clv.mean():+.2%}",
            )
    ax.axvline(0.0, color="grey", lw=0.8, ls="--")
    ax.set(
        xlabel="CLV against the Shin-de-vigged Pinnacle close"
        if measures <= {"shin"}
        else "CLV against the closing line",
        ylabel="density",
        title="Closing-line value per bet",
    )
    if measures:
        ax.legend(fontsize=8)
    return _save(fig, plt, path)


def bets_per_season_png(evidence: StrategyEvidence, path: Path) -> Path:
    """Bets per 100 matches in each season, per strategy (opportunities shrink over time)."""
    plt = _pyplot()
    table = evidence.table.reset_index()
    seasons = table.loc[table["scope"].str.fullmatch(r"\d{4}")]
    wide = (
        seasons.pivot(index="scope", columns="strategy", values="bets_per_100")
        if len(seasons)
        else pd.DataFrame()
    )
    fig, ax = plt.subplots(figsize=(10, 5))
    if not wide.empty:
        wide.index = pd.Index([f"{s}/{(int(s) + 1) % 100:02d}" for s in wide.index])
        wide.plot.bar(ax=ax, width=0.8)
        ax.legend(fontsize=8)
    ax.set(xlabel="season", ylabel="bets per 100 matches", title="Bets per season")
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
