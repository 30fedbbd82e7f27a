"""The champion of a competition, loaded from the MLflow Model Registry: the registry version and
its pyfunc, or straight away its :class:`~scoreline.forecasts.forecaster.Forecaster` (what
``scoreline predict``, the matchday loop and the monitor answer or judge with)."""

from __future__ import annotations

import mlflow
from mlflow.entities.model_registry import ModelVersion

from scoreline.config import Settings
from scoreline.forecasts.forecaster import Forecaster
from scoreline.promotion.registry import champion_uri, champion_version
from scoreline.tracking.experiments import tracking_on, tracking_uri
from scoreline.tracking.pyfunc import MatchModelPyfunc

__all__ = ["champion_forecaster", "load_champion"]


def load_champion(settings: Settings, code: str) -> tuple[ModelVersion, MatchModelPyfunc]:
    """``code``'s champion: its registry version and its pyfunc; ValueError when there is none."""
    version = champion_version(settings, code)
    if version is None:
        raise ValueError(
            f"{code} has no champion: run the weekly_training pipeline or "
            f"`scoreline promote --competition {code}` first"
        )
    with tracking_on(tracking_uri(settings)):
        return version, mlflow.pyfunc.load_model(champion_uri(code)).unwrap_python_model()


def champion_forecaster(settings: Settings, code: str) -> Forecaster:
    """The forecaster of ``code``'s champion."""
    version, pyfunc = load_champion(settings, code)
    return Forecaster(
        pyfunc, competition=code, model_name=version.tags.get("model_name", "?"), version=str(version.version)
    )
