"""What runs log besides models: the data snapshot a run read, and a backtest's scores, tables
and plots."""

from __future__ import annotations

import json
from typing import Any

import mlflow

from scoreline.data.store import MatchStore

__all__ = ["log_backtest", "log_data_snapshot"]


def log_data_snapshot(store: MatchStore, competition: str | None = None) -> dict[str, Any]:
    """Log the store snapshot in force (name, content hash, rows per table) on the active run.

    With ``competition``, also its played and upcoming row counts. Returns what was logged.
    """
    manifest = store.manifest()
    if not manifest:
        raise ValueError(f"the match store at {store.root} is empty: run the ingest first")
    logged: dict[str, Any] = {
        "data_snapshot": manifest["snapshot"],
        "data_content_hash": manifest["content_hash"],
        **{f"data_rows_{table}": n for table, n in manifest["rows"].items()},
    }
    if competition:
        logged[f"data_rows_{competition}_results"] = len(store.results(competition))
        logged[f"data_rows_{competition}_fixtures"] = len(store.fixtures(competition))
    mlflow.log_params(logged)
    mlflow.set_tags({"data_snapshot": manifest["snapshot"], "data_content_hash": manifest["content_hash"]})
    return logged


def log_backtest(report) -> dict[str, float]:
    """Log a :class:`~scoreline.evaluation.competition.BacktestReport` on the active run.

    Metrics, grouped by what they measure so MLflow's UI puts every model side by side:
    ``rps/<model>`` (and ``log_loss``, ``brier``, ``accuracy``, ``ece``) for every row of the
    overall table, market rows included, and ``rps_minus_reference/<model>`` (and ``log_loss_``,
    ``brier_``). The 95 % bootstrap bounds are in the ``models_vs_market`` table
    (``mlflow.log_table``), with the summary figure ``models_vs_market.png``. Artifacts under
    ``backtest/``: scores.json, by_season.csv, reliability.png, bankroll.png, predictions.parquet.
    Returns the metrics.
    """
    from scoreline.evaluation.report import versus_market_png, versus_table

    scores = report.scores
    metrics: dict[str, float] = {}
    for model, row in scores.overall.iterrows():
        for name in ("rps", "log_loss", "brier", "accuracy", "ece"):
            if name in row:
                metrics[f"{name}/{model}"] = float(row[name])
    for model, row in scores.versus.iterrows():
        for name in ("rps", "log_loss", "brier"):
            metrics[f"{name}_minus_reference/{model}"] = float(row[f"{name}_diff"])
    mlflow.log_metrics(metrics)
    predictions = report.result.predictions
    mlflow.log_params(
        {
            "competition": report.competition,
            "reference": scores.reference,
            "models": ",".join(report.result.models),
            "matches": len(predictions),
            "refits": report.result.n_refits,
            "first_season": int(predictions["season"].min()),
            "last_season": int(predictions["season"].max()),
            "tuned": json.dumps(report.tuned, sort_keys=True),
        }
    )
    table = versus_table(scores)
    mlflow.log_table(table.round(5).reset_index(), "backtest/models_vs_market.json")
    mlflow.set_tag("mlflow.note.content", _summary(report, table))
    if len(scores.versus):
        metric = "rps" if len(report.result.outcomes) == 3 else "brier"
        title = f"{report.competition}: models vs market, {len(predictions)} matches"
        figure = versus_market_png(scores, report.folder / "models_vs_market.png", metric, title)
        mlflow.log_artifact(str(figure), artifact_path="backtest")
    for file in ("scores.json", "by_season.csv", "reliability.png", "bankroll.png", "predictions.parquet"):
        if (report.folder / file).is_file():
            mlflow.log_artifact(str(report.folder / file), artifact_path="backtest")
    return metrics


def _summary(report, table) -> str:
    """The run's description in the UI: the best model next to the market, where to look."""
    predictions = report.result.predictions
    seasons = f"{int(predictions['season'].min())}-{int(predictions['season'].max())}"
    reference = report.scores.reference
    models = table[table["role"] == "model"]
    lines = [f"{report.competition} walk-forward backtest: {len(predictions)} matches, seasons {seasons}."]
    if len(models) and reference in table.index:
        best, market = models.iloc[0], table.loc[reference]
        gap = f" ({best['rps_diff']:+.4f}, 95 % CI {best['rps_lower']:+.4f} to {best['rps_upper']:+.4f})"
        lines.append(
            f"Best model by RPS: {models.index[0]} {best['rps']:.4f} vs {reference} {market['rps']:.4f}"
            + (gap if "rps_diff" in table else "")
            + "."
        )
    lines.append("Every model vs the market: artifacts backtest/models_vs_market.json and .png.")
    return " ".join(lines)
