"""Tuning workers in team mode: one study in PostgreSQL, trials logged to a tracking server (as
several machines would share them); a dying worker's trial is failed in PostgreSQL, not left
RUNNING."""

from __future__ import annotations

import os

import mlflow
import optuna
import pytest
from optuna.trial import TrialState

from leagues import poisson_league
from scoreline.config import Settings, competition
from scoreline.models.dixon_coles import DixonColes
from scoreline.tuning import TuningError, tune
from test_tuning_workers import DyingDixonColes, check_shared_study, tune_runs

from .conftest import new_database

E0 = competition("E0")


@pytest.fixture
def team_settings(postgres_url, tracking_server, tmp_path, monkeypatch):
    """A team-mode workspace: its own PostgreSQL database and the session's tracking server."""
    for name in list(os.environ):
        if name.startswith("SCORELINE_") and name != "SCORELINE_TEST_DATA":
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    settings = Settings(home=tmp_path, team_database_url=new_database(postgres_url))
    assert settings.optuna_storage.startswith("postgresql")
    yield settings
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def league():
    return poisson_league(range(2008, 2012), seed=2)


def test_two_workers_share_one_postgresql_study(team_settings, league):
    result = tune(
        team_settings,
        E0,
        "dixon_coles_team",
        DixonColes(),
        league,
        2011,
        n_trials=4,
        validation_seasons=1,
        workers=2,
    )
    check_shared_study(team_settings, result, n_trials=4, workers=2)


def test_a_dying_worker_fails_its_trial_in_postgresql(team_settings, league):
    with pytest.raises(TuningError, match=r"died with exit code 3"):
        tune(
            team_settings,
            E0,
            "dixon_coles_dying",
            DyingDixonColes(),
            league,
            2011,
            n_trials=2,
            validation_seasons=1,
            workers=2,
        )
    study = optuna.load_study(study_name="E0-dixon_coles_dying", storage=team_settings.optuna_storage)
    assert study.trials and {t.state for t in study.trials} == {TrialState.FAIL}
    runs = [
        r
        for r in tune_runs(team_settings)
        if r.data.params.get("model_name") == "dixon_coles_dying"
        or r.data.tags.get("study") == "E0-dixon_coles_dying"
    ]
    assert runs and {r.info.status for r in runs} == {"FAILED"}
