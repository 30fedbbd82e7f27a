"""Scoring a backtest: every model next to the market on the same matches, overall and per season.

Scores are computed on the matches *every* forecaster covers (market rows are NaN where a match
had no prices), so the figures in one table are comparable. Differences to the reference
market come with paired-bootstrap 95 % intervals (negative = the model scores better).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoreline.evaluation import metrics
from scoreline.evaluation.backtest import BacktestResult


def common_rows(result: BacktestResult, models: list[str] | None = None) -> np.ndarray:
    """Mask of predictions that have an outcome and finite probabilities from every model."""
    models = models or result.models
    mask = result.predictions["outcome"].to_numpy() >= 0
    for model in models:
        mask &= np.isfinite(result.probabilities(model)).all(axis=1)
    return mask


def per_match_losses(probs: np.ndarray, outcome: np.ndarray) -> dict[str, np.ndarray]:
    """RPS, log loss, Brier and accuracy per match. Two-way Brier is the one-number
    (p_home - home_won)^2 convention, three-way the multi-class sum."""
    brier = (
        metrics.binary_brier(probs[:, 0], (outcome == 0).astype(float))
        if probs.shape[1] == 2
        else metrics.brier(probs, outcome)
    )
    return {
        "rps": metrics.rps(probs, outcome),
        "log_loss": metrics.log_loss(probs, outcome),
        "brier": brier,
        "accuracy": metrics.accuracy(probs, outcome),
    }


def _normalised(probs: np.ndarray) -> np.ndarray:
    # market de-vig and float round-off leave rows summing to 1 +- 1e-12
    return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Scores:
    overall: pd.DataFrame  # one row per model: n, rps, log_loss, brier, accuracy, ece, slope, intercept
    by_season: pd.DataFrame  # (season, model) rows with the same columns
    versus: pd.DataFrame  # model - reference: mean difference and 95 % CI for rps and log_loss
    reference: str

    def table(self, by_season: bool = False) -> str:
        """The scores as text: the overall table, RPS by season if asked, and each model minus
        the reference with its bootstrap CI (what the CLI and the benchmarks print)."""
        parts = [self.overall.round(4).to_string()]
        if by_season:
            parts += ["\nRPS by season", self.by_season["rps"].unstack().round(4).to_string()]
        if len(self.versus):
            parts += [
                f"\nminus {self.reference} (negative = better), 95 % paired-bootstrap CI",
                self.versus_text(),
            ]
        return "\n".join(parts)

    def versus_text(self) -> str:
        """Each model minus the reference as ``-0.0070 [-0.0094, -0.0046]`` for RPS (for two
        outcomes the same ranking as Brier) and log loss: the interval beside its estimate, in
        under 100 columns (nine bare columns took 154). Brier's are in ``--json``."""
        cells = pd.DataFrame(index=self.versus.index)
        for name in ("rps", "log_loss"):
            diff, lower, upper = (self.versus[f"{name}_{k}"] for k in ("diff", "lower", "upper"))
            cells[name] = [f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for d, lo, hi in zip(diff, lower, upper)]
        return cells.to_string()

    def to_dict(self) -> dict:
        return {
            "reference": self.reference,
            "overall": _records(self.overall),
            "by_season": _records(self.by_season.reset_index()),
            "versus_reference": _records(self.versus),
        }


def _role(model: str, reference: str) -> str:
    if model == reference:
        return "reference"
    if model.startswith("market_"):
        return "market"
    return "baseline" if model == "base_rates" else "model"


def versus_table(scores: Scores) -> pd.DataFrame:
    """Models next to the market, one row each, best first by RPS: the overall scores and
    each model minus the reference with its 95 % interval (the reference's own row: zeros)."""
    table = scores.overall[["n", "rps", "log_loss", "brier", "accuracy", "ece"]].copy()
    table.insert(0, "role", [_role(m, scores.reference) for m in table.index])
    if len(scores.versus):
        columns = [f"{n}_{k}" for n in ("rps", "log_loss", "brier") for k in ("diff", "lower", "upper")]
        table = table.join(scores.versus[columns])
        table.loc[scores.reference, columns] = 0.0
    return table.sort_values("rps").rename_axis("model")


def versus_market_png(scores: Scores, path: Path, metric: str = "rps", title: str = "") -> Path:
    """PNG of each forecaster's ``metric`` minus the reference market's with its 95 % interval,
    on an axis set by the forecasters a quant compares (base rates are left out: their gap of
    0.03-0.04 would flatten differences of 0.001-0.007 into slivers). Labels give the value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    versus = scores.versus.drop(index="base_rates", errors="ignore").sort_values(f"{metric}_diff")
    diff, lower, upper = (versus[f"{metric}_{k}"].to_numpy() for k in ("diff", "lower", "upper"))
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(versus) + 1.4))
    colours = ["tab:green" if u < 0 else "tab:red" if lo > 0 else "tab:grey" for lo, u in zip(lower, upper)]
    ax.barh(versus.index, diff, color=colours, alpha=0.8)
    ax.errorbar(diff, versus.index, xerr=[diff - lower, upper - diff], fmt="none", ecolor="black", capsize=3)
    for y, (value, hi) in enumerate(zip(diff, upper)):
        ax.annotate(
            f"{value:+.4f}",
            (max(hi, 0), y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(0, color="black", lw=1)
    ax.invert_yaxis()
    ax.set(
        xlabel=f"{metric.upper()} minus {scores.reference} (negative = better than the market), 95 % CI",
        title=title or f"models vs market on {int(scores.overall['n'].iloc[0])} matches",
    )
    ax.margins(x=0.15)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in frame.reset_index().to_dict(orient="records")
    ]


def score(result: BacktestResult, reference: str, n_boot: int = 2000) -> Scores:
    """Score every model of ``result`` on the common matches; compare each with ``reference``."""
    mask = common_rows(result)
    if not mask.any():
        raise ValueError("no match is covered by every model (check the market prices)")
    frame = result.predictions.loc[mask]
    outcome = frame["outcome"].to_numpy(dtype=int)
    seasons = frame["season"].to_numpy()
    losses = {m: per_match_losses(_normalised(result.probabilities(m)[mask]), outcome) for m in result.models}

    overall_rows, season_rows, versus_rows = [], [], []
    for model in result.models:
        probs = _normalised(result.probabilities(model)[mask])
        home_won = (outcome == 0).astype(float)
        slope, intercept = _slope_intercept(probs[:, 0], home_won)
        overall_rows.append(
            {
                "model": model,
                "n": int(mask.sum()),
                **{k: float(v.mean()) for k, v in losses[model].items()},
                "ece": _mean_ece(probs, outcome),
                "slope": slope,
                "intercept": intercept,
            }
        )
        for season in np.unique(seasons):
            sel = seasons == season
            season_rows.append(
                {
                    "season": int(season),
                    "model": model,
                    "n": int(sel.sum()),
                    **{k: float(v[sel].mean()) for k, v in losses[model].items()},
                }
            )
        if model != reference:
            row: dict[str, Any] = {"model": model, "reference": reference}
            for name in ("rps", "log_loss", "brier"):
                diff = metrics.bootstrap_difference(
                    losses[model][name], losses[reference][name], n_boot=n_boot
                )
                row |= {
                    f"{name}_diff": diff.mean_difference,
                    f"{name}_lower": diff.lower,
                    f"{name}_upper": diff.upper,
                }
            versus_rows.append(row)
    return Scores(
        pd.DataFrame(overall_rows).set_index("model"),
        pd.DataFrame(season_rows).set_index(["season", "model"]),
        pd.DataFrame(versus_rows).set_index("model") if versus_rows else pd.DataFrame(),
        reference,
    )


def _slope_intercept(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Calibration slope/intercept of the home-win probability; NaN for (near-)constant
    forecasts such as base rates, whose slope is undefined."""
    if np.ptp(p) < 1e-3:
        return float("nan"), float("nan")
    return metrics.calibration_slope_intercept(p, y)


def _mean_ece(probs: np.ndarray, outcome: np.ndarray) -> float:
    """Expected calibration error averaged over the outcome classes (one-vs-rest)."""
    return float(
        np.mean(
            [
                metrics.expected_calibration_error(probs[:, j], (outcome == j).astype(float))
                for j in range(probs.shape[1])
            ]
        )
    )


def equal_count_bins(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Mean forecast, observed rate and count in ``n_bins`` bins of (nearly) equal count: no
    sparse bin at the extremes swings the curve (equal-width bins hold a handful of matches
    above 0.8 and draw them as cliffs)."""
    order = np.argsort(p, kind="stable")
    groups = [g for g in np.array_split(order, min(n_bins, len(p))) if len(g)]
    return pd.DataFrame(
        {
            "mean_predicted": [float(p[g].mean()) for g in groups],
            "observed_rate": [float(y[g].mean()) for g in groups],
            "count": [len(g) for g in groups],
        }
    )


#: one colour per outcome, the same in every panel
OUTCOME_COLOURS = {"home": "tab:blue", "draw": "tab:grey", "away": "tab:red"}


def reliability_diagram(
    result: BacktestResult, path: Path, models: list[str] | None = None, n_bins: int = 10
) -> Path:
    """PNG of observed frequency against forecast probability: small multiples, one panel per
    model (best RPS first), each outcome one colour in every panel, equal-count bins whose
    marker area shows how many matches they hold; the panel title gives the model's mean ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = models or result.models
    mask = common_rows(result)
    outcome = result.predictions.loc[mask, "outcome"].to_numpy(dtype=int)
    probs = {m: _normalised(result.probabilities(m)[mask]) for m in models}
    models = sorted(models, key=lambda m: float(metrics.rps(probs[m], outcome).mean()))
    columns = min(4, len(models))
    rows = -(-len(models) // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.3 * columns, 3.3 * rows + 0.4), squeeze=False, sharex=True, sharey=True
    )
    per_bin = max(1, int(mask.sum()) // n_bins)
    for ax, model in zip(axes.flat, models):
        ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
        for j, name in enumerate(result.outcomes):
            table = equal_count_bins(probs[model][:, j], (outcome == j).astype(float), n_bins)
            colour = OUTCOME_COLOURS.get(name, f"C{j}")
            ax.plot(table["mean_predicted"], table["observed_rate"], color=colour, lw=1, label=name)
            ax.scatter(
                table["mean_predicted"], table["observed_rate"], s=table["count"] / per_bin * 18, color=colour
            )
        ax.set_title(f"{model}\nECE {_mean_ece(probs[model], outcome):.3f}", fontsize=9)
        ax.set(xlim=(0, 1), ylim=(0, 1))
    for ax in axes.flat[len(models) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("forecast probability")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed frequency")
    axes[0][0].legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"Reliability on {int(mask.sum())} matches, {n_bins} equal-count bins per outcome", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
