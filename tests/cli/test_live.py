"""``scoreline live replay``: a real night through the in-game champion from the registry."""

from __future__ import annotations

import json
import os

import mlflow
import pytest
from click.testing import CliRunner

from ingame import BrownianModel
from scoreline.cli import main

pytestmark = pytest.mark.realdata


class InGamePyfunc(mlflow.pyfunc.PythonModel):
    """The registry's form of an in-game model (as ``scoreline.tracking.ingame.InGamePyfunc``):
    a pyfunc holding it as ``forecaster``."""

    def __init__(self, forecaster) -> None:
        self.forecaster = forecaster

    def predict(self, context, model_input):
        raise NotImplementedError("the live loop uses the forecaster itself")


@pytest.fixture
def workspace(real_ingest, tmp_path, monkeypatch):
    """The session's ingested workspace with a registry of its own (SCORELINE_* set)."""
    _, ingested = real_ingest
    settings = ingested.model_copy(update={"registry_dir": tmp_path / "registry"})
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    monkeypatch.setenv("SCORELINE_REGISTRY_DIR", str(settings.registry_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SCORELINE_REDIS_URL", raising=False)
    monkeypatch.setenv("SCORELINE_PROGRESS_SECONDS", "0")
    return settings


def test_replay_without_an_in_game_champion_says_so(workspace):
    run = CliRunner().invoke(main, ["live", "replay", "--competition", "NBA", "--date", "2022-11-25"])
    assert run.exit_code == 2 and "NBA has no in-game champion (scoreline-NBA-ingame@champion" in run.output
    other = CliRunner().invoke(main, ["live", "replay", "--competition", "E0", "--date", "2022-11-25"])
    assert other.exit_code == 2 and "only NBA has them, not E0" in other.output


def test_replay_a_night_through_the_registry_champion(workspace):
    from scoreline.live.champion import ingame_model_name
    from scoreline.predictions.store import PredictionStore
    from scoreline.promotion import registry_client
    from scoreline.tracking.experiments import experiment_id, tracking_uri

    mlflow.set_tracking_uri(tracking_uri(workspace))
    try:  # in an experiment of the workspace: the default one would write ./mlruns
        with mlflow.start_run(experiment_id=experiment_id("NBA", workspace)):
            logged = mlflow.pyfunc.log_model(name="model", python_model=InGamePyfunc(BrownianModel()))
        version = mlflow.register_model(logged.model_uri, ingame_model_name("NBA"))
        registry_client(workspace).set_registered_model_alias(
            ingame_model_name("NBA"), "champion", version.version
        )
    finally:
        mlflow.set_tracking_uri(None)
    run = CliRunner().invoke(
        main, ["live", "replay", "--competition", "NBA", "--date", "2022-11-25", "--speed", "0", "--json"]
    )
    assert run.exit_code == 0, run.output
    figures = json.loads(run.stdout)
    assert "MLFLOW_TRACKING_URI" not in os.environ  # loading the champion left MLflow as it was
    assert figures["games"] == 14 and figures["events"] == figures["forecasts"] == 1858
    assert (figures["model_name"], figures["model_version"], figures["bus"]) == (
        "brownian_test",
        "1",
        "MemoryBus",
    )
    stored = PredictionStore(workspace.prediction_store).live_forecasts("NBA", 0, 10_000)
    assert len(stored) == 1858 and {r["model_version"] for r in stored} == {"1"}
    # pre-game lines reach the model: every event carries its game's spread
    assert all(r["spread"] is not None for r in stored)
    again = CliRunner().invoke(
        main, ["live", "replay", "--competition", "NBA", "--date", "2022-11-25", "--speed", "0", "--json"]
    )
    assert (
        again.exit_code == 0
        and len(PredictionStore(workspace.prediction_store).live_forecasts("NBA", 0, 10_000)) == 1858
    )
