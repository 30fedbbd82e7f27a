"""Hyper-parameter tuning with Optuna on a validation span that precedes the evaluation span.

The objective is the walk-forward score (RPS for football, Brier for two-way sports) of one
model over the ``validation_seasons`` seasons just before the first evaluated season, so tuning
never sees the matches the backtest reports. Studies live in an RDB storage (SQLite under
``registry/`` by default, any SQLAlchemy URL by configuration); the best parameters are written
to ``registry/tuned/<competition>/<model>.json``, where :func:`tuned_params` (and so the model
catalogue) picks them up.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
import pandas as pd

from scoreline.config import Competition, Settings, Sport
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY
from scoreline.evaluation.report import per_match_losses
from scoreline.models.base import MatchModel, clone

Space = Callable[[optuna.Trial], dict[str, Any]]


def _dixon_coles(trial: optuna.Trial) -> dict[str, Any]:
    return {"xi": trial.suggest_float("xi", 0.0, 0.006), "l2": trial.suggest_float("l2", 0.5, 40.0, log=True)}


def _margin(trial: optuna.Trial) -> dict[str, Any]:
    return {"half_life_days": trial.suggest_float("half_life_days", 60.0, 1500.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.01, 30.0, log=True)}


def _gbdt(trial: optuna.Trial) -> dict[str, Any]:
    depth = trial.suggest_int("max_depth", 2, 5)
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "max_depth": depth,
        "num_leaves": 2 ** depth,
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample": trial.suggest_float("colsample", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-2, 50.0, log=True),
    }


#: search space per model class name
SPACES: dict[str, Space] = {
    "DixonColes": _dixon_coles,
    "MarginModel": _margin,
    "GradientBoostingModel": _gbdt,
}


def tuned_path(settings: Settings, code: str, model: str) -> Path:
    return settings.registry_path / "tuned" / code / f"{model}.json"


def tuned_params(settings: Settings, code: str, model: str) -> dict[str, Any]:
    """The best parameters found by ``scoreline tune`` for ``model`` (empty if never tuned)."""
    path = tuned_path(settings, code, model)
    return json.loads(path.read_text())["params"] if path.is_file() else {}


def study_storage(settings: Settings) -> str:
    """Optuna's storage URL: ``SCORELINE_OPTUNA_STORAGE`` if configured, else SQLite in registry/."""
    settings.registry_path.mkdir(parents=True, exist_ok=True)
    return settings.optuna_storage or f"sqlite:///{settings.registry_path / 'optuna.db'}"


@dataclass(frozen=True)
class TuningResult:
    study_name: str
    best_value: float
    best_params: dict[str, Any]
    n_trials: int
    seconds: float
    path: Path

    def to_dict(self) -> dict:
        return {"study": self.study_name, "best_value": self.best_value, "best_params": self.best_params,
                "trials": self.n_trials, "seconds": round(self.seconds, 1), "path": str(self.path)}


def validation_score(data: pd.DataFrame, model: MatchModel, comp: Competition, first_eval_season: int,
                     validation_seasons: int) -> float:
    """Mean walk-forward RPS (football) or Brier (two-way) over the seasons before evaluation."""
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    config = WalkForward(from_season=first_eval_season - validation_seasons,
                         to_season=first_eval_season - 1, window="month",
                         train_days=3 * 365 if comp.sport is Sport.FOOTBALL else 8 * 365)
    result = walk_forward(data.loc[data["season"] < first_eval_season], {"m": model}, config, outcomes)
    probs = result.probabilities("m")
    outcome = result.predictions["outcome"].to_numpy()
    keep = (outcome >= 0) & np.isfinite(probs).all(axis=1)
    losses = per_match_losses(probs[keep] / probs[keep].sum(axis=1, keepdims=True), outcome[keep])
    return float(losses["rps" if comp.sport is Sport.FOOTBALL else "brier"].mean())


def tune(settings: Settings, comp: Competition, name: str, model: MatchModel, data: pd.DataFrame,
         first_eval_season: int, n_trials: int, validation_seasons: int = 3, seed: int = 0) -> TuningResult:
    """Run (or continue) the study ``<code>-<model>`` and write the best parameters."""
    space = SPACES.get(type(model).__name__)
    if space is None:
        raise KeyError(f"model {name!r} has no search space; tunable: "
                       f"{', '.join(sorted(SPACES))} (by class)")
    study_name = f"{comp.code}-{name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, storage=study_storage(settings),
                                direction="minimize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: optuna.Trial) -> float:
        candidate = clone(model).set_params(**space(trial))
        return validation_score(data, candidate, comp, first_eval_season, validation_seasons)

    started = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    best = space(optuna.trial.FixedTrial(study.best_trial.params))  # the model's own structure
    path = tuned_path(settings, comp.code, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"params": best, "value": study.best_value, "study": study_name,
                                "validation_seasons": [first_eval_season - validation_seasons,
                                                       first_eval_season - 1]}, indent=2))
    return TuningResult(study_name, float(study.best_value), best, len(study.trials),
                        time.perf_counter() - started, path)
