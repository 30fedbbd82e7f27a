"""Live forecast quality on settled predictions, beside the champion's backtest figures.

Football: accuracy, log loss, multi-class Brier, RPS and calibration (ECE averaged one-vs-rest
over home/draw/away). Two-way sports: win-probability Brier ``(p_home - home_won)^2``, log loss,
accuracy, ECE of ``p_home`` (ties dropped, as the backtest drops them) and the live coverage of
the forecast's margin and total intervals (ties kept: a margin of 0 is still a margin).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from scoreline.config import competition as competition_of
from scoreline.evaluation import metrics
from scoreline.evaluation.report import per_match_losses

__all__ = ["LEVELS", "backtest_figures", "live_quality"]

#: interval levels the service reports (margin and total), in stored detail as
#: ``margin_lower_80`` ... ``total_upper_95``
LEVELS = (0.8, 0.95)


def live_quality(settled: pd.DataFrame, code: str) -> dict[str, Any]:
    """Scores of the settled predictions of ``code`` (rows of ``PredictionStore.predictions(
    settled=True)``): ``n`` and the metric means; ``coverage`` per interval for two-way sports."""
    three_way = competition_of(code).outcomes == 3
    columns = ["prob_home", "prob_draw", "prob_away"] if three_way else ["prob_home", "prob_away"]
    scored = settled.loc[settled["outcome"].isin(["home", "draw", "away"])]
    out: dict[str, Any] = {"n": len(scored)}
    if len(scored):
        probs = scored[columns].to_numpy(np.float64)
        probs = probs / probs.sum(axis=1, keepdims=True)
        outcome = scored["outcome"].map({"home": 0, "draw": 1, "away": 2 if three_way else 1})
        outcome = outcome.to_numpy(np.int64)
        out |= {name: float(values.mean()) for name, values in per_match_losses(probs, outcome).items()}
        out["ece"] = float(
            np.mean(
                [
                    metrics.expected_calibration_error(probs[:, j], (outcome == j).astype(float))
                    for j in range(probs.shape[1] if three_way else 1)
                ]
            )
        )
    if not three_way:
        out["coverage"] = interval_coverage(settled)
    return out


def interval_coverage(settled: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per ``margin_80`` ... ``total_95``: ``{"level", "coverage", "n"}``, the share of settled
    matches whose home-minus-away margin (or total) fell inside the stored interval."""
    details = pd.DataFrame.from_records(
        [d if isinstance(d, dict) else {} for d in settled["detail"]], index=settled.index
    )
    actual = {
        "margin": settled["home_score"] - settled["away_score"],
        "total": settled["home_score"] + settled["away_score"],
    }
    out = {}
    for target, value in actual.items():
        for level in LEVELS:
            pct = f"{level * 100:g}"
            lower, upper = f"{target}_lower_{pct}", f"{target}_upper_{pct}"
            if lower not in details or upper not in details:
                continue
            low = pd.to_numeric(details[lower], errors="coerce")
            high = pd.to_numeric(details[upper], errors="coerce")
            known = low.notna() & high.notna() & value.notna()
            if not known.any():
                continue
            inside = (value[known] >= low[known]) & (value[known] <= high[known])
            out[f"{target}_{pct}"] = {"level": level, "coverage": float(inside.mean()), "n": int(known.sum())}
    return out


def backtest_figures(tags: Mapping[str, str]) -> dict[str, float]:
    """The champion's walk-forward scores from its registry version tags (``backtest.log_loss``
    ... written at promotion), as floats; unparsable or non-finite values left out."""
    out = {}
    for key, value in tags.items():
        if key.startswith("backtest.") and key.count(".") == 1:
            # promotion writes repr(): "0.95" or "np.float64(0.95)"
            found = re.fullmatch(r"\s*(?:np\.float\d*\()?\s*([^()\s]+)\s*\)?\s*", str(value))
            try:
                number = float(found.group(1)) if found else math.nan
            except ValueError:
                continue
            if math.isfinite(number):
                out[key.removeprefix("backtest.")] = number
    return out
