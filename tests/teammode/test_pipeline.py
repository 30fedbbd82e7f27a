"""A fresh team-mode workspace trains and promotes: the weekly_training notebooks (ingest, train
elo and dixon_coles, backtest, promote) on five real Premier League seasons, configured only by
environment (team database + tracking server). Runs, the registered model, its champion alias
and the artifacts end up on the server; the workspace keeps no registry database of its own."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from scoreline.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SEASONS = ("1819", "1920", "2021", "2122", "2223")
SPEC = {
    "name": "team_training",
    "description": "weekly_training's notebooks on a small slice, in team mode",
    "parameters": {"competition": "E0"},
    "steps": [
        {"name": "ingest", "notebook": "notebooks/ingest.ipynb", "parameters": {"competitions": ["E0"]}},
        {"name": "train_elo", "notebook": "notebooks/train.ipynb", "parameters": {"model": "elo"}},
        {
            "name": "train_dixon_coles",
            "notebook": "notebooks/train.ipynb",
            "parameters": {"model": "dixon_coles"},
        },
        {
            "name": "backtest",
            "notebook": "notebooks/backtest.ipynb",
            "parameters": {"models": ["elo", "dixon_coles"], "from_season": 2022, "window": "month"},
        },
        {"name": "promote", "notebook": "notebooks/promote.ipynb"},
    ],
}

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def team_run(real_data, postgres_url, tracking_server, tmp_path_factory):
    """(settings, pipeline run, tracking URI in force) of the spec above in a fresh workspace in
    team mode."""
    from scoreline.pipeline import load_spec, run_pipeline

    from .conftest import new_database

    home = tmp_path_factory.mktemp("team-workspace")
    source = home / "source" / "soccer"
    source.mkdir(parents=True)
    for season in SEASONS:
        shutil.copy(real_data / "soccer" / f"E0_{season}.csv", source)
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    (home / "pipelines").mkdir()
    (home / "pipelines" / "team_training.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    (home / "registry").mkdir()
    shutil.copy(ROOT / "registry" / "policy.yaml", home / "registry" / "policy.yaml")
    database = new_database(postgres_url)
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SCORELINE_") and name != "SCORELINE_TEST_DATA":
                patch.delenv(name)
        patch.setenv("SCORELINE_HOME", str(home))
        patch.setenv("SCORELINE_DATA_SOURCE", str(home / "source"))
        patch.setenv("SCORELINE_TEAM_DATABASE_URL", database)
        patch.setenv("MLFLOW_TRACKING_URI", tracking_server)
        settings = Settings()
        uri = settings.mlflow_tracking_uri  # read from the environment
        try:
            run = run_pipeline(load_spec("team_training", home), settings)
        finally:
            mlflow.set_tracking_uri(None)  # step code in this process may have set it
    return settings, run, uri


def test_settings_put_every_store_on_the_team_services(team_run, tracking_server):
    settings, _, uri = team_run
    assert settings.team_mode and uri == tracking_server
    assert settings.prediction_store == settings.optuna_storage == settings.team_database_url
    assert settings.prediction_store.startswith("postgresql+psycopg://")


def test_runs_model_and_champion_live_on_the_server(team_run, tracking_server, tmp_path):
    _, run, _ = team_run
    assert run.status == "finished" and [s.status for s in run.steps] == ["ran"] * 5
    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    parent = client.get_run(run.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.mlflow.parentRunId = '{run.mlflow_run_id}'",
    )
    assert sorted(r.data.tags["step"] for r in children) == [
        "backtest",
        "ingest",
        "promote",
        "train",
        "train",
    ]
    champion = client.get_model_version_by_alias("scoreline-E0", "champion")
    assert champion.tags.get("model_name") in {"elo", "dixon_coles"}
    # the champion's files are the server's (proxied artifacts), not this machine's, and they
    # download from it as the service's export does
    assert champion.source.startswith("mlflow-artifacts:"), champion.source
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=champion.source, dst_path=str(tmp_path), tracking_uri=tracking_server
    )
    assert (Path(folder) / "MLmodel").is_file()
    files = client.list_artifacts(parent.info.run_id, "spec")
    assert [f.path for f in files] == ["spec/team_training.yaml"]


def test_workspace_keeps_no_local_registry(team_run):
    settings, _, _ = team_run
    local = [p for p in settings.home.rglob("*") if p.suffix == ".db" or p.name == "mlruns"]
    assert local == [], local
    assert not (settings.registry_path / "artifacts").exists()
