"""The engines: a backtest on a local Dask cluster, and on a real ``dask scheduler`` with two
``dask worker`` processes on loopback, gives exactly the serial predictions; an Optuna study runs
its trials on the workers as child runs of one ``tune`` run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from leagues import poisson_league
from scoreline.config import Settings, competition
from scoreline.engine import SerialEngine, local_cluster, open_engine, remote_cluster
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.evaluation.competition import backtest_competition
from scoreline.models.base import OUTCOMES_3WAY
from scoreline.models.baselines import BaseRates
from scoreline.models.dixon_coles import DixonColes
from scoreline.tuning import tune
from test_tuning_workers import check_shared_study

E0 = competition("E0")


@pytest.fixture(scope="module")
def league():
    return poisson_league(range(2008, 2012), seed=1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def loopback_scheduler(tmp_path_factory):
    """``dask scheduler`` and two single-threaded ``dask worker`` processes on loopback, as on
    several machines (the CLI of the lock's distributed); the scheduler's address."""
    dask = Path(sys.executable).with_name("dask")
    folder = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    log = (folder / "dask.log").open("w")
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]
    worker = ["worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
    commands = [scheduler] + [[*worker, "--local-directory", str(folder / f"w{i}")] for i in range(2)]
    processes = [
        subprocess.Popen([str(dask), *command], stdout=log, stderr=subprocess.STDOUT) for command in commands
    ]
    try:
        from distributed import Client

        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def models() -> dict:
    return {"base": BaseRates(), "dixon_coles": DixonColes(), "short": BaseRates(history_days=200)}


def test_a_local_cluster_gives_the_serial_predictions(league):
    config = WalkForward(from_season=2010, window="month")
    serial = walk_forward(league, models(), config, OUTCOMES_3WAY, SerialEngine())
    with local_cluster(2) as engine:
        assert engine.workers == 2
        parallel = walk_forward(league, models(), config, OUTCOMES_3WAY, engine)
    pd.testing.assert_frame_equal(serial.predictions, parallel.predictions)
    assert serial.n_refits == parallel.n_refits and set(parallel.fit_seconds) == set(models())


def test_the_configured_scheduler_is_the_engine(settings, loopback_scheduler, monkeypatch):
    with open_engine(settings, "serial") as engine:
        assert engine.name == "serial"
    with pytest.raises(ValueError, match="needs SCORELINE_DASK_SCHEDULER"):
        with open_engine(settings, "dask"):
            pass
    with pytest.raises(ValueError, match="engine must be"):
        with open_engine(settings, "threads"):
            pass
    monkeypatch.setenv("SCORELINE_DASK_SCHEDULER", loopback_scheduler)
    with open_engine(Settings(home=settings.home)) as engine:  # no code change: the setting
        assert engine.name == loopback_scheduler and engine.workers == 2


@pytest.mark.realdata
def test_a_backtest_on_two_loopback_workers_matches_the_serial_one(real_ingest, loopback_scheduler, tmp_path):
    _, settings = real_ingest
    config = WalkForward(from_season=2022, window="month", train_days=365)
    serial = backtest_competition(settings, "E0", None, config, tmp_path / "serial", cached=False)
    with remote_cluster(loopback_scheduler) as engine:
        assert engine.workers == 2
        on_cluster = backtest_competition(
            settings, "E0", None, config, tmp_path / "dask", engine, cached=False
        )
        ran_on = engine.client.run(os.getpid)
    pd.testing.assert_frame_equal(serial.result.predictions, on_cluster.result.predictions)
    pd.testing.assert_frame_equal(serial.scores.overall, on_cluster.scores.overall)
    assert len(set(ran_on.values()) - {os.getpid()}) == 2


def test_an_optuna_study_runs_on_two_loopback_workers(settings, league, loopback_scheduler):
    try:
        with remote_cluster(loopback_scheduler) as engine:
            result = tune(
                settings,
                E0,
                "dixon_coles",
                DixonColes(),
                league,
                2011,
                n_trials=4,
                validation_seasons=1,
                workers=2,
                engine=engine,
            )
            worker_pids = set(engine.client.run(os.getpid).values())
    finally:
        mlflow.set_tracking_uri(None)
    check_shared_study(settings, result, n_trials=4, workers=2)
    study_pids = {int(r.data.tags["worker_pid"]) for r in _children(settings, result.run_id)}
    assert study_pids == worker_pids  # the trials ran on the dask workers


def _children(settings, run_id: str) -> list:
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("E0")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get(MLFLOW_PARENT_RUN_ID) == run_id]
