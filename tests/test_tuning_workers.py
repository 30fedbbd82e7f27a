"""Several tuning workers on one SQLite study: every trial run exactly once, by both workers, as
an MLflow child run of one ``tune`` run; a failing or dying worker fails the call with its
message and leaves no trial RUNNING and no tuned file half-written."""

from __future__ import annotations

import json
import os
import shutil

import mlflow
import optuna
import pytest
from click.testing import CliRunner
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.trial import TrialState

from leagues import poisson_league
from scoreline.config import competition
from scoreline.models.dixon_coles import DixonColes
from scoreline.tuning import TuningError, study_storage, tune

E0 = competition("E0")


class ExplodingDixonColes(DixonColes):
    """Fails every fit with a recognisable message (in whichever worker runs it)."""

    def fit(self, matches, **kwargs):
        raise RuntimeError("exploded inside a tuning worker")


class DyingDixonColes(DixonColes):
    """Kills its process outright: no exception, no clean-up code runs."""

    def fit(self, matches, **kwargs):
        os._exit(3)


@pytest.fixture(autouse=True)
def _forget_tracking_uri():
    yield
    mlflow.set_tracking_uri(None)  # tune's run set it (and exported MLFLOW_TRACKING_URI)


@pytest.fixture(scope="module")
def league():
    return poisson_league(range(2008, 2012), seed=1)


def tune_runs(settings, experiment: str = "E0") -> list:
    """Every run of ``experiment`` in the workspace's tracking store."""
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id], max_results=1000) if found else []


def check_shared_study(settings, result, n_trials: int, workers: int) -> None:
    """Exactly ``n_trials`` complete trials from ``workers`` distinct worker processes, each an
    MLflow child run of the call's ``tune`` run; the tuned file written."""
    study = optuna.load_study(study_name=result.study_name, storage=study_storage(settings))
    trials = study.get_trials()
    assert len(trials) == n_trials == result.n_trials
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    assert len({tuple(sorted(t.params.items())) for t in trials}) == n_trials  # no repeated proposal
    pids = {t.user_attrs["pid"] for t in trials}
    assert len(pids) == workers and (os.getpid() in pids) == (workers == 1)  # 1: in-process
    runs = {r.info.run_id: r for r in tune_runs(settings)}
    parent = runs[result.run_id]
    assert parent.info.status == "FINISHED" and parent.data.tags["step"] == "tune"
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)
    assert parent.data.params["workers"] == str(workers)
    children = [r for r in runs.values() if r.data.tags.get(MLFLOW_PARENT_RUN_ID) == result.run_id]
    assert len(children) == n_trials
    assert {int(r.data.tags["worker_pid"]) for r in children} == pids
    assert sorted(int(r.data.tags["trial_number"]) for r in children) == list(range(n_trials))
    assert all(r.info.status == "FINISHED" for r in children)
    by_number = {t.number: t for t in trials}
    for child in children:
        trial = by_number[int(child.data.tags["trial_number"])]
        assert child.data.metrics["validation_rps"] == pytest.approx(trial.value)
        assert float(child.data.params["xi"]) == pytest.approx(trial.params["xi"])
    saved = json.loads(result.path.read_text())
    assert set(saved) == {"params", "value", "study", "validation_seasons"}
    assert set(saved["params"]) == {"xi", "l2"} and saved["value"] == pytest.approx(study.best_value)


def test_two_workers_share_one_sqlite_study(settings, league):
    result = tune(
        settings, E0, "dixon_coles", DixonColes(), league, 2011, n_trials=4, validation_seasons=1, workers=2
    )
    assert result.workers == 2
    check_shared_study(settings, result, n_trials=4, workers=2)


def test_one_worker_records_the_same_things_in_process(settings, league):
    result = tune(settings, E0, "dixon_coles", DixonColes(), league, 2011, n_trials=2, validation_seasons=1)
    check_shared_study(settings, result, n_trials=2, workers=1)
    again = tune(settings, E0, "dixon_coles", DixonColes(), league, 2011, n_trials=2, validation_seasons=1)
    trials = optuna.load_study(study_name=again.study_name, storage=study_storage(settings)).get_trials()
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 4  # a re-run draws new points


def test_a_failing_worker_fails_the_call_with_its_traceback(settings, league):
    kept = settings.registry_path / "tuned" / "E0" / "dixon_coles.json"
    kept.parent.mkdir(parents=True)
    kept.write_text('{"params": {"xi": 0.001, "l2": 2.0}}')
    with pytest.raises(TuningError) as failed:
        tune(
            settings,
            E0,
            "dixon_coles",
            ExplodingDixonColes(),
            league,
            2011,
            n_trials=4,
            validation_seasons=1,
            workers=2,
        )
    message = str(failed.value)
    assert "tuning worker" in message and "Traceback" in message
    assert "RuntimeError: exploded inside a tuning worker" in message
    assert kept.read_text() == '{"params": {"xi": 0.001, "l2": 2.0}}'  # the last good result stays
    trials = optuna.load_study(study_name="E0-dixon_coles", storage=study_storage(settings)).get_trials()
    assert trials and {t.state for t in trials} == {TrialState.FAIL}
    runs = tune_runs(settings)
    assert {r.data.tags["step"]: r.info.status for r in runs if r.data.tags["step"] == "tune"} == {
        "tune": "FAILED"
    }
    assert {r.info.status for r in runs if r.data.tags["step"] == "tune_trial"} == {"FAILED"}


def test_a_dying_worker_leaves_no_trial_running(settings, league):
    with pytest.raises(TuningError, match=r"died with exit code 3"):
        tune(
            settings,
            E0,
            "dixon_coles",
            DyingDixonColes(),
            league,
            2011,
            n_trials=2,
            validation_seasons=1,
            workers=2,
        )
    trials = optuna.load_study(study_name="E0-dixon_coles", storage=study_storage(settings)).get_trials()
    assert trials and {t.state for t in trials} == {TrialState.FAIL}
    assert {r.info.status for r in tune_runs(settings)} == {"FAILED"}
    assert not (settings.registry_path / "tuned" / "E0" / "dixon_coles.json").exists()


@pytest.fixture
def e0_workspace(real_data, settings, monkeypatch):
    """A workspace with three real Premier League seasons ingested; the environment points the
    CLI at it."""
    from scoreline.data.ingest import ingest

    source = settings.home / "source" / "soccer"
    source.mkdir(parents=True)
    for season in ("1920", "2021", "2122"):
        shutil.copy(real_data / "soccer" / f"E0_{season}.csv", source)
    ingest(settings, str(settings.home / "source"), ["E0"])
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    return settings


@pytest.mark.realdata
def test_cli_tunes_with_two_workers(e0_workspace):
    from scoreline.cli import main

    done = CliRunner().invoke(
        main,
        [
            "tune",
            "--competition",
            "E0",
            "--model",
            "dixon_coles",
            "--trials",
            "2",
            "--workers",
            "2",
            "--from-season",
            "2021",
            "--validation-seasons",
            "1",
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["trials"] == 2 and payload["workers"] == 2 and 0.15 < payload["best_value"] < 0.25
    study = optuna.load_study(study_name="E0-dixon_coles", storage=study_storage(e0_workspace))
    assert len({t.user_attrs["pid"] for t in study.get_trials()}) == 2
    # no season before the first stored one: the workers' own error fails the command
    failed = CliRunner().invoke(
        main,
        [
            "tune",
            "--competition",
            "E0",
            "--model",
            "dixon_coles",
            "--trials",
            "2",
            "--workers",
            "2",
            "--from-season",
            "2019",
            "--validation-seasons",
            "1",
        ],
    )
    assert failed.exit_code == 2
    assert "tuning worker" in failed.stderr and "no matches from season 2018" in failed.stderr
