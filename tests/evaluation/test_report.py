"""Backtest scores as people read them: narrow tables, the market beside every model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.evaluation.report import Scores, versus_market_png, versus_table

MODELS = ["base_rates", "elo", "dixon_coles", "results_blend", "lightgbm_market", "xgboost_market"]
REFERENCE = "market_pinnacle_close"


def scores() -> Scores:
    rng = np.random.default_rng(0)
    rows = [*MODELS, "market_pinnacle", REFERENCE]
    overall = pd.DataFrame(
        {
            "n": 760,
            "rps": 0.19 + rng.uniform(0, 0.04, len(rows)),
            "log_loss": 0.95 + rng.uniform(0, 0.1, len(rows)),
            "brier": 0.56 + rng.uniform(0, 0.08, len(rows)),
            "accuracy": 0.5,
            "ece": 0.03,
        },
        index=pd.Index(rows, name="model"),
    )
    versus = pd.DataFrame(index=pd.Index(rows[:-1], name="model"))
    for name in ("rps", "log_loss", "brier"):
        diff = overall.loc[rows[:-1], name].to_numpy() - overall.loc[REFERENCE, name]
        versus[f"{name}_diff"], versus[f"{name}_lower"], versus[f"{name}_upper"] = (
            diff,
            diff - 0.002,
            diff + 0.002,
        )
    return Scores(overall, pd.DataFrame(), versus, REFERENCE)


def test_the_bootstrap_table_fits_a_100_column_terminal():
    text = scores().versus_text()
    assert max(len(line) for line in text.splitlines()) <= 100, text
    first = text.splitlines()[2].split(maxsplit=1)[1]  # "-0.0037 [-0.0057, -0.0017]  +0.0368 [...]"
    assert first.count("[") == 2 and first.count(",") == 2


def test_versus_table_puts_the_market_beside_every_model(tmp_path):
    table = versus_table(scores())
    assert table.loc[REFERENCE, "role"] == "reference" and table.loc[REFERENCE, "rps_diff"] == 0
    assert table.loc["base_rates", "role"] == "baseline" and table.loc["elo", "role"] == "model"
    assert list(table["rps"]) == sorted(table["rps"])
    png = versus_market_png(scores(), tmp_path / "versus.png")
    assert png.stat().st_size > 10_000


def test_reliability_bins_hold_equal_counts_so_no_sparse_bin_swings_the_curve():
    from scoreline.evaluation.report import equal_count_bins

    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(0.1, 0.6, 990), [0.95] * 10])  # ten forecasts above 0.9
    y = (rng.uniform(size=p.size) < p).astype(float)
    table = equal_count_bins(p, y, 10)
    assert len(table) == 10 and set(table["count"]) == {100}  # equal-width bins: one of 10 matches
    assert table["mean_predicted"].is_monotonic_increasing


def test_the_reliability_diagram_is_one_small_panel_per_model(tmp_path):
    from scoreline.evaluation.backtest import BacktestResult
    from scoreline.evaluation.report import reliability_diagram

    rng = np.random.default_rng(2)
    n = 600
    frame = pd.DataFrame({"outcome": rng.integers(0, 3, n), "season": 2020})
    models = ["elo", "dixon_coles", "market_pinnacle_close"]
    for model in models:
        probs = rng.dirichlet([4, 3, 3], n)
        for j, outcome in enumerate(("home", "draw", "away")):
            frame[f"{model}_{outcome}"] = probs[:, j]
    result = BacktestResult(frame, models, ("home", "draw", "away"))
    png = reliability_diagram(result, tmp_path / "reliability.png")
    from matplotlib.image import imread

    height, width = imread(png).shape[:2]
    assert width > 2.5 * height  # three panels side by side, not eleven lines in one
