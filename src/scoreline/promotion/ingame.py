"""Registering the NBA in-game model and moving its ``champion`` alias.

The registered model is ``scoreline-NBA-ingame`` (:func:`registered_model_name` with task
``ingame``); the live loop loads ``models:/scoreline-NBA-ingame@champion``. A candidate is
registered with its walk-forward figures as tags and becomes the champion only when every rule
of :func:`ingame_rules` holds on its evaluation (pooled over the evaluated seasons and minutes):

* the state model's mean Brier score and mean log loss are below both anchors' (Stern's model
  and the spread-share rule) on the same games;
* the pattern ensemble's half-time MAE is below the baseline's;
* the coverage of the 80 % and 95 % intervals, of the half-time forecast and of the final margin
  (averaged over the minutes), is within ``tolerance`` (3 points) of nominal.

Per-minute misses are reported by the evaluation (and the benchmark) but do not block: the
champion must beat the anchors overall, and the per-minute table says where it does not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd

from scoreline.config import Settings
from scoreline.promotion.registry import (
    CHAMPION,
    champion_uri,
    register_model,
    registered_model_name,
    set_champion,
)

__all__ = [
    "COMPETITION",
    "TASK",
    "IngameRule",
    "champion_uri_ingame",
    "ingame_rules",
    "promote_ingame",
    "train_ingame",
]

COMPETITION = "NBA"
TASK = "ingame"


def champion_uri_ingame() -> str:
    """``models:/scoreline-NBA-ingame@champion``."""
    return champion_uri(COMPETITION, TASK)


@dataclass(frozen=True)
class IngameRule:
    name: str
    value: float
    threshold: float
    passed: bool

    def line(self) -> str:
        mark = "pass" if self.passed else "FAIL"
        return f"{mark}  {self.name}: {self.value:.4f} (threshold {self.threshold:.4f})"


def ingame_rules(minutes: pd.DataFrame, halftime: pd.DataFrame, tolerance: float = 0.03) -> list[IngameRule]:
    """The gate's rules on :func:`~scoreline.evaluation.ingame.score_minutes` and
    :func:`~scoreline.evaluation.ingame.score_halftime` tables (see the module docstring)."""
    mean = minutes.groupby("model")[["brier", "log_loss", "coverage_80", "coverage_95"]].mean()
    half = halftime.set_index("model")
    rules = []
    for metric in ("brier", "log_loss"):
        for anchor in ("stern", "spread_share"):
            value, threshold = float(mean.loc["state", metric]), float(mean.loc[anchor, metric])
            rules.append(IngameRule(f"state {metric} below {anchor}", value, threshold, value < threshold))
    value, threshold = float(half.loc["ensemble", "mae"]), float(half.loc["baseline", "mae"])
    rules.append(IngameRule("half-time ensemble MAE below the baseline", value, threshold, value < threshold))
    for level in (80, 95):
        for name, observed in (
            ("half-time", float(half.loc["ensemble", f"coverage_{level}"])),
            ("final margin", float(mean.loc["state", f"coverage_{level}"])),
        ):
            gap = abs(observed - level / 100)
            rules.append(
                IngameRule(
                    f"{name} {level} % coverage within {tolerance:.0%} of nominal",
                    gap,
                    tolerance,
                    gap <= tolerance,
                )
            )
    return rules


def promote_ingame(
    settings: Settings, model_uri: str, minutes: pd.DataFrame, halftime: pd.DataFrame, run_id: str = ""
) -> dict:
    """Register ``model_uri`` as a version of ``scoreline-NBA-ingame`` tagged with its figures,
    and move ``champion`` to it when every rule passes. Returns ``{"name", "version",
    "promoted", "rules", "uri"}``."""
    rules = ingame_rules(minutes, halftime)
    passed = all(rule.passed for rule in rules)
    tags = {
        "task": TASK,
        "evaluation_run": run_id,
        "gate": "pass" if passed else "fail",
        **{f"rule.{i}": rule.line() for i, rule in enumerate(rules)},
    }
    version = register_model(
        settings,
        COMPETITION,
        model_uri,
        tags,
        description="NBA in-game: win probability and final margin at any game second; half-time "
        "differential from the first 18 minutes with conformal intervals",
        task=TASK,
    )
    if passed:
        set_champion(settings, COMPETITION, version.version, reason="in-game gate passed", task=TASK)
    return {
        "name": registered_model_name(COMPETITION, TASK),
        "version": str(version.version),
        "promoted": passed,
        "rules": [rule.line() for rule in rules],
        "uri": champion_uri_ingame()
        if passed
        else f"models:/{registered_model_name(COMPETITION, TASK)}/{version.version}",
        "alias": CHAMPION if passed else None,
    }


def train_ingame(
    settings: Settings,
    seasons: list[int],
    parent_run_id: str = "",
    folder: Path | None = None,
    promote: bool = True,
) -> dict:
    """The in-game job: walk forward over ``seasons`` (each fitted on earlier seasons), log the
    evaluation in an ``ingame`` run (tables, calibration plot, metrics), fit the forecaster on
    every stored season, log it as a pyfunc in the same run, and register / promote it.

    Returns ``{"run_id", "model_uri", "minutes", "halftime", "registry", "seconds"}`` (the two
    tables as records; ``registry`` is None with ``promote=False``).
    """
    from scoreline.data.ingame import load_ingame
    from scoreline.data.store import MatchStore
    from scoreline.evaluation.ingame import (
        fit_forecaster,
        ingame_data,
        score_halftime,
        score_minutes,
        walk_forward,
    )
    from scoreline.progress import Progress
    from scoreline.tracking.experiments import step_run
    from scoreline.tracking.ingame import log_ingame_evaluation, log_ingame_model
    from scoreline.tracking.logs import log_data_snapshot

    started = time.perf_counter()
    store = MatchStore(settings.store_dir)
    data = ingame_data(load_ingame(store))
    with Progress(len(seasons), "in-game walk-forward", "seasons") as progress:
        evaluation = walk_forward(data, seasons, on_season=lambda s: progress.advance(detail=f"season {s}"))
    folder = folder or settings.reports_path / "ingame" / pd.Timestamp.now(tz="UTC").strftime(
        "%Y%m%dT%H%M%SZ"
    )
    with step_run(parent_run_id, TASK, COMPETITION, settings) as run:
        log_data_snapshot(store, COMPETITION)
        log_ingame_evaluation(evaluation, folder)
        forecaster = fit_forecaster(data)
        mlflow.log_params(
            {
                "trained_through": forecaster.trained_through,
                **{f"final.{k}": v for k, v in forecaster.info.items()},
            }
        )
        model_uri = log_ingame_model(forecaster, settings)
    minutes, halftime = score_minutes(evaluation), score_halftime(evaluation)
    registry = promote_ingame(settings, model_uri, minutes, halftime, run.info.run_id) if promote else None
    return {
        "run_id": run.info.run_id,
        "model_uri": model_uri,
        "report_dir": str(folder),
        "minutes": minutes.to_dict(orient="records"),
        "halftime": halftime.to_dict(orient="records"),
        "registry": registry,
        "seconds": round(time.perf_counter() - started, 1),
    }
