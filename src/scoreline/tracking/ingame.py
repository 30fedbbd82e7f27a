"""MLflow for the NBA in-game models: the ``ingame`` evaluation run, and the champion's pyfunc.

The registered in-game champion (``models:/scoreline-NBA-ingame@champion``, see
:mod:`scoreline.promotion.ingame`) is an :class:`InGamePyfunc` around an
:class:`~scoreline.models.ingame.forecaster.InGameForecaster`. Load it with
``mlflow.pyfunc.load_model(uri)``; then either

* ``model.predict(frame)`` with one of two shapes (columns are matched by name):

  - **half-time requests**: ``diff_1`` .. ``diff_18`` (home minus away at the end of minutes
    1..18), ``spread_home`` (home perspective, < 0 = home favoured), optional ``total_line``
    -> one row each: ``forecast``, ``lower``, ``upper``, ``coverage_probability`` (the level
    of ``lower``/``upper``), ``lower_80``, ``upper_80``, ``lower_95``, ``upper_95``,
    ``explanation`` (JSON text naming the matched games);
  - **scoring events**: ``game_id``, ``seq`` (feed order), ``elapsed_s`` (game seconds),
    ``home_score``, ``away_score``, ``spread_home``, ``total_line`` for all events so far of one
    or more games -> one row per event, the forecast right after it: ``p_home_win``,
    ``margin``, ``margin_lower_80`` ... and, once minute 18 is over, ``halftime``,
    ``halftime_lower_80`` ... (NaN before);

* or, for a live loop, ``forecaster = model.unwrap_python_model().forecaster`` and its
  ``start_game(spread_home, total_line).update(elapsed_s, home_score, away_score)`` per event
  (O(1) per event, no history resent), or ``forecaster.halftime(pattern, spread_home)``.

The pyfunc itself is stateless; conformal recalibration from recorded outcomes is
``forecaster.pattern_model.recalibrate(actual, forecast)`` on the caller's copy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from scoreline.config import Settings
from scoreline.evaluation.ingame import (
    InGameEvaluation,
    calibration_plot,
    score_halftime,
    score_minutes,
)
from scoreline.features.ingame import pattern_columns
from scoreline.models.conformal import interval_columns
from scoreline.models.ingame.forecaster import InGameForecaster
from scoreline.tracking.packaging import PACKAGE_FOLDER, model_requirements, pyfunc_logging_quiet

__all__ = ["EVENT_COLUMNS", "InGamePyfunc", "log_ingame_evaluation", "log_ingame_model"]

#: the columns of a scoring-events request
EVENT_COLUMNS = ("game_id", "seq", "elapsed_s", "home_score", "away_score", "spread_home", "total_line")


class InGamePyfunc(PythonModel):
    """The in-game champion as an MLflow pyfunc (see the module docstring for both shapes)."""

    def __init__(self, forecaster: InGameForecaster):
        self.forecaster = forecaster

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        pattern = pattern_columns(18)
        if set(pattern) <= set(frame.columns):
            return self._halftime(frame)
        missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(
                "expected half-time requests (diff_1 .. diff_18, spread_home) or scoring events; "
                f"the events lack column(s) {', '.join(missing)}"
            )
        return self._events(frame)

    def _halftime(self, frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.reset_index(drop=True)
        bad = rows[[*pattern_columns(18), "spread_home"]].isna().any(axis=1)
        if bad.any():
            raise ValueError(
                f"half-time request row(s) {bad[bad].index.tolist()}: "
                "diff_1 .. diff_18 and spread_home are required"
            )
        answers = self.forecaster.halftime_rows(rows)
        out = []
        for answer in answers:
            row: dict[str, Any] = {
                "forecast": answer.forecast,
                "lower": answer.lower,
                "upper": answer.upper,
                "coverage_probability": answer.coverage_probability,
            }
            for level, (lower, upper) in answer.intervals.items():
                low, high = interval_columns(level)
                row[low], row[high] = lower, upper
            row["explanation"] = json.dumps(answer.explanation, default=str)
            out.append(row)
        return pd.DataFrame(out)

    def _events(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True)
        games = frame.groupby("game_id", sort=False)[["spread_home", "total_line"]].first().reset_index()
        no_spread = games.loc[games["spread_home"].isna(), "game_id"].tolist()
        if no_spread:
            raise ValueError(f"game(s) {no_spread}: spread_home is required")
        return self.forecaster.forecast_events(frame, games)


def _signature() -> ModelSignature:
    """Both request shapes, every column optional (the shape is told by the columns present)."""
    types = {"game_id": "string", "seq": "long", "home_score": "long", "away_score": "long"}
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(types.get(c, "double"), c, required=False) for c in (*pattern_columns(18), *EVENT_COLUMNS)
    ]
    return ModelSignature(inputs=Schema(inputs))


def log_ingame_model(forecaster: InGameForecaster, settings: Settings, name: str = "ingame") -> str:
    """Log ``forecaster`` as an :class:`InGamePyfunc` on the active run; returns the model URI."""
    example = pd.DataFrame([np.arange(1, 19, dtype=float)], columns=pattern_columns(18)).assign(
        spread_home=-3.5, total_line=224.5
    )
    with pyfunc_logging_quiet():
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=InGamePyfunc(forecaster),
            signature=_signature(),
            input_example=example,
            pip_requirements=model_requirements(settings),
            code_paths=[str(PACKAGE_FOLDER)],
        )
    return info.model_uri


def log_ingame_evaluation(evaluation: InGameEvaluation, folder: Path) -> dict[str, float]:
    """Write and log (on the active run) the evaluation's tables and plot; return the metrics.

    Metrics: ``{model}.{brier|log_loss|margin_mae|coverage_80|coverage_95}.m{minute:02d}`` per
    state model and minute, the same averaged over the minutes (``...mean``), and
    ``halftime.{model}.{mae|coverage_80|coverage_95}``. Artifacts under ``ingame/``: the
    per-minute and half-time tables (overall and by season), ``calibration.png`` and the
    predictions.
    """
    folder.mkdir(parents=True, exist_ok=True)
    minutes = score_minutes(evaluation)
    halftime = score_halftime(evaluation)
    files = {
        "per_minute.csv": minutes,
        "per_minute_by_season.csv": score_minutes(evaluation, by_season=True),
        "halftime.csv": halftime,
        "halftime_by_season.csv": score_halftime(evaluation, by_season=True),
    }
    for file, table in files.items():
        table.to_csv(folder / file, index=False)
    evaluation.states.to_parquet(folder / "state_predictions.parquet", index=False)
    evaluation.halftime.to_parquet(folder / "halftime_predictions.parquet", index=False)
    calibration_plot(evaluation, folder / "calibration.png")

    logged: dict[str, float] = {}
    names = ("brier", "log_loss", "margin_mae", "coverage_80", "coverage_95")
    for row in minutes.itertuples():
        for name in names:
            logged[f"{row.model}.{name}.m{int(row.minute):02d}"] = float(getattr(row, name))
    for model, group in minutes.groupby("model"):
        for name in names:
            logged[f"{model}.{name}.mean"] = float(group[name].mean())
    for row in halftime.itertuples():
        for name in ("mae", "coverage_80", "coverage_95"):
            value = getattr(row, name, np.nan)
            if pd.notna(value):
                logged[f"halftime.{row.model}.{name}"] = float(value)
    mlflow.log_metrics(logged)
    mlflow.log_params(
        {
            "seasons": ",".join(str(s) for s in evaluation.seasons),
            "games": int(evaluation.halftime["game_id"].nunique()),
            **{f"fit_seconds.{k}": round(v, 1) for k, v in evaluation.fit_seconds.items()},
        }
    )
    for file in (*files, "calibration.png", "state_predictions.parquet", "halftime_predictions.parquet"):
        mlflow.log_artifact(str(folder / file), artifact_path="ingame")
    return logged
