"""Training a catalogue model on every stored result of a competition and logging it, with the
data snapshot and its parameters, in a ``train`` run."""

from __future__ import annotations

import json
import time

import mlflow

from scoreline.config import Competition, Settings
from scoreline.config import competition as competition_of
from scoreline.data.store import MatchStore
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import MatchModel
from scoreline.models.tuned import tuned_params
from scoreline.tracking.experiments import step_run
from scoreline.tracking.logs import log_data_snapshot
from scoreline.tracking.packaging import log_model
from scoreline.tracking.pyfunc import history_frame

__all__ = ["train_and_log"]


def _flat_params(model: MatchModel) -> dict[str, str]:
    """Hyper-parameters as MLflow params: nested estimators by class name, values as text."""
    flat = {}
    for key, value in model.get_params(deep=True).items():
        text = type(value).__name__ if hasattr(value, "get_params") else repr(value)
        flat[f"model.{key}"] = text[:500]
    return flat


def train_and_log(settings: Settings, code: str, model_name: str, parent_run_id: str = "") -> dict:
    """Fit catalogue model ``model_name`` (with any ``scoreline tune`` parameters) on every
    stored result of ``code``, features joined, and log it as a pyfunc in a ``train`` run.

    Returns ``{"model_uri", "run_id", "model_name", "competition", "matches", "fit_seconds"}``.
    """
    comp: Competition = competition_of(code)
    store = MatchStore(settings.store_dir)
    matches = store.results(code)
    if matches.empty:
        raise ValueError(f"no stored results for {code}: run the ingest first")
    tuned = tuned_params(settings, code, model_name)
    models = catalog.models(comp)
    if model_name not in models:
        raise KeyError(f"unknown model {model_name!r} for {code}; available: {', '.join(models)}")
    model = catalog.with_tuned(models, {model_name: tuned})[model_name]
    history = history_frame(matches)
    with step_run(parent_run_id, "train", code, settings, detail=model_name) as run:
        log_data_snapshot(store, code)
        mlflow.log_params(
            {"model_name": model_name, "tuned": json.dumps(tuned, sort_keys=True), **_flat_params(model)}
        )
        started = time.perf_counter()
        model.fit(history.join(competition_features(history, comp)))
        seconds = time.perf_counter() - started
        mlflow.log_metrics({"fit_seconds": seconds, "train_matches": len(history)})
        uri = log_model(model, model_name, code, history, settings, store.fixtures(code))
    return {
        "model_uri": uri,
        "run_id": run.info.run_id,
        "model_name": model_name,
        "competition": code,
        "matches": len(history),
        "fit_seconds": round(seconds, 2),
    }
