"""Hyper-parameter tuning with Optuna on a validation span that precedes the evaluation span.

The objective is the walk-forward score (RPS for football, Brier for two-way sports) of one
model over the ``validation_seasons`` seasons just before the first evaluated season, so tuning
never sees the matches the backtest reports. Studies live in an RDB storage (SQLite under
``registry/`` by default, any SQLAlchemy URL by configuration); the best parameters are written
to ``registry/tuned/<competition>/<model>.json``, where :func:`~scoreline.models.tuned.tuned_params`
(and so backtests and training) picks them up.

A study can be worked by several processes at once: ``workers`` spawned processes on this
machine, and any number of ``scoreline tune`` commands on other machines against the same
storage (PostgreSQL in team mode). They share the study through the storage only; each trial is
an MLflow child run of its command's ``tune`` run, tagged with the worker's host and pid. A
worker that fails stops the others after their current trial and fails the call with its
traceback; a worker that dies outright has its unfinished trial marked FAIL, not left RUNNING.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from multiprocessing import connection
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from optuna.trial import TrialState

from scoreline.config import Competition, Settings, Sport
from scoreline.engine import Engine, SerialEngine
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.evaluation.report import per_match_losses
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel, clone
from scoreline.models.tuned import tuned_path
from scoreline.tracking.experiments import step_run

Space = Callable[[optuna.Trial], dict[str, Any]]

#: seconds a worker waits for the others to load the study before the first trial
START_TIMEOUT_S = 300
#: a trial whose worker has not beaten for this long is failed by the next trial that starts
#: anywhere (a worker on another machine that died); workers beat every HEARTBEAT_S
HEARTBEAT_S, GRACE_S = 30, 120
#: seconds SQLite waits for another worker's write lock before failing
SQLITE_BUSY_TIMEOUT_S = 60
#: the end of a failed worker's traceback that is reported
MAX_TRACEBACK_CHARS = 16_000


def _dixon_coles(trial: optuna.Trial) -> dict[str, Any]:
    return {"xi": trial.suggest_float("xi", 0.0, 0.006), "l2": trial.suggest_float("l2", 0.5, 40.0, log=True)}


def _margin(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "half_life_days": trial.suggest_float("half_life_days", 60.0, 1500.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.01, 30.0, log=True),
    }


def _gbdt(trial: optuna.Trial) -> dict[str, Any]:
    depth = trial.suggest_int("max_depth", 2, 5)
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "max_depth": depth,
        "num_leaves": 2**depth,
        "min_child_samples": trial.suggest_int("min_child_samples", 20, 300, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample": trial.suggest_float("colsample", 0.3, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-2, 50.0, log=True),
    }


#: search space per model class name (a subclass of one of these is searched the same way)
SPACES: dict[str, Space] = {
    "DixonColes": _dixon_coles,
    "MarginModel": _margin,
    "GradientBoostingModel": _gbdt,
}


class TuningError(RuntimeError):
    """A tuning worker failed; the message holds its traceback."""


def search_space(model: MatchModel, name: str) -> Space:
    """The search space of ``model``'s class (or of its nearest tunable base class)."""
    for cls in type(model).__mro__:
        if cls.__name__ in SPACES:
            return SPACES[cls.__name__]
    raise KeyError(f"model {name!r} has no search space; tunable: {', '.join(sorted(SPACES))} (by class)")


def study_storage(settings: Settings) -> str:
    """Optuna's storage URL: ``SCORELINE_OPTUNA_STORAGE`` if configured, else SQLite in registry/."""
    settings.registry_path.mkdir(parents=True, exist_ok=True)
    return settings.optuna_storage or f"sqlite:///{settings.registry_path / 'optuna.db'}"


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """The study storage at ``url``, safe for several processes: SQLite waits for another
    worker's write lock instead of failing at once, and trials keep a heartbeat so a trial whose
    worker died is failed rather than left RUNNING."""
    engine_kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )


@dataclass(frozen=True)
class TuningResult:
    study_name: str
    best_value: float
    best_params: dict[str, Any]
    n_trials: int
    seconds: float
    path: Path
    #: the MLflow ``tune`` run; each trial of this call is a child run of it
    run_id: str = ""
    workers: int = 1

    def to_dict(self) -> dict:
        return {
            "study": self.study_name,
            "best_value": self.best_value,
            "best_params": self.best_params,
            "trials": self.n_trials,
            "seconds": round(self.seconds, 1),
            "path": str(self.path),
            "workers": self.workers,
            "run_id": self.run_id,
        }


def validation_score(
    data: pd.DataFrame, model: MatchModel, comp: Competition, first_eval_season: int, validation_seasons: int
) -> float:
    """Mean walk-forward RPS (football) or Brier (two-way) over the seasons before evaluation."""
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    config = WalkForward(
        from_season=first_eval_season - validation_seasons,
        to_season=first_eval_season - 1,
        window="month",
        train_days=3 * 365 if comp.sport is Sport.FOOTBALL else 8 * 365,
    )
    result = walk_forward(data.loc[data["season"] < first_eval_season], {"m": model}, config, outcomes)
    probs = result.probabilities("m")
    outcome = result.predictions["outcome"].to_numpy()
    keep = (outcome >= 0) & np.isfinite(probs).all(axis=1)
    losses = per_match_losses(probs[keep] / probs[keep].sum(axis=1, keepdims=True), outcome[keep])
    return float(losses["rps" if comp.sport is Sport.FOOTBALL else "brier"].mean())


def _score_name(comp: Competition) -> str:
    return "validation_rps" if comp.sport is Sport.FOOTBALL else "validation_brier"


@dataclass(frozen=True)
class _Job:
    """Everything a worker needs to run trials (pickled into spawned workers)."""

    comp: Competition
    name: str
    model: MatchModel
    data: pd.DataFrame
    first_eval_season: int
    validation_seasons: int
    study_name: str
    storage: str
    seed: int
    tracking_uri: str
    experiment_id: str
    #: the ``tune`` run the trials' runs nest under
    run_id: str
    #: trials the study had before this call
    n_before: int

    def study(self, worker: int) -> optuna.Study:
        return optuna.load_study(
            study_name=self.study_name,
            storage=rdb_storage(self.storage),
            sampler=optuna.samplers.TPESampler(seed=self.sampler_seed(worker)),
        )

    def sampler_seed(self, worker: int) -> int:
        """A seed per call, machine and worker: equal seeds would propose the same parameters
        while the sampler is still drawing at random (its first 10 trials), on a re-run as on
        two machines or workers at once. The same call on the same machine is reproducible."""
        key = f"{self.seed}/{socket.gethostname()}/{worker}/{self.n_before}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


def _objective(job: _Job, client: mlflow.MlflowClient, trial: optuna.Trial) -> float:
    """One trial: the validation score of the suggested parameters, logged as a child run."""
    params = search_space(job.model, job.name)(trial)
    pid, host = os.getpid(), socket.gethostname()
    run = client.create_run(
        job.experiment_id,
        run_name=f"trial-{trial.number}",
        tags={
            MLFLOW_PARENT_RUN_ID: job.run_id,
            "step": "tune_trial",
            "competition": job.comp.code,
            "study": job.study_name,
            "trial_number": str(trial.number),
            "worker_pid": str(pid),
            "worker_host": host,
        },
    )
    run_id = run.info.run_id
    for key, value in {"pid": pid, "host": host, "mlflow_run_id": run_id}.items():
        trial.set_user_attr(key, value)
    try:
        value = validation_score(
            job.data,
            clone(job.model).set_params(**params),
            job.comp,
            job.first_eval_season,
            job.validation_seasons,
        )
    except BaseException as err:
        client.set_tag(run_id, "error", f"{type(err).__name__}: {err}"[:5000])
        client.set_terminated(run_id, "FAILED")
        raise
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(_score_name(job.comp), value, now, 0)],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag("model_name", job.name)],
    )
    client.set_terminated(run_id, "FINISHED")
    return value


def _work(job: _Job, worker: int, tickets, stop, start, failures) -> None:
    """A spawned worker: load the study, wait for the others, then run trials while tickets last.

    A failure sets ``stop`` (the others finish their current trial and leave) and reports the
    traceback on ``failures``.
    """
    try:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = job.study(worker)
        objective = partial(_objective, job, mlflow.MlflowClient(job.tracking_uri))
        try:
            start.wait(START_TIMEOUT_S)
        except threading.BrokenBarrierError:
            if stop.is_set():  # another worker failed before the first trial
                return
            raise
        while not stop.is_set() and _claim(tickets):
            study.optimize(objective, n_trials=1)
    except BaseException:
        stop.set()
        # bounded: a message larger than the pipe's buffer would block this exit
        failures.put((worker, os.getpid(), traceback.format_exc()[-MAX_TRACEBACK_CHARS:]))
        raise SystemExit(1) from None


def _claim(tickets) -> bool:
    """Take one trial off the shared count; False when none are left."""
    with tickets.get_lock():
        if tickets.value <= 0:
            return False
        tickets.value -= 1
        return True


def _run_workers(job: _Job, n_trials: int, workers: int) -> None:
    """Run ``n_trials`` trials of ``job`` in ``workers`` spawned processes; raise
    :class:`TuningError` with every failed worker's traceback."""
    context = multiprocessing.get_context("spawn")
    tickets, stop = context.Value("i", n_trials), context.Event()
    start, failures = context.Barrier(workers), context.SimpleQueue()
    processes = [
        context.Process(target=_work, args=(job, i, tickets, stop, start, failures), name=f"tune-worker-{i}")
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    reported: dict[int, str] = {}

    def collect() -> None:  # read reports as they come: a full pipe would block their writers
        while not failures.empty():
            worker, pid, text = failures.get()
            reported[pid] = f"tuning worker {worker} (pid {pid}) failed:\n{text}"

    try:
        alive: dict[Any, Any] = {p.sentinel: p for p in processes}
        while alive:
            for sentinel in connection.wait(list(alive), timeout=1.0):
                process = alive.pop(sentinel)
                process.join()
                if process.exitcode != 0:
                    stop.set()
                    start.abort()  # workers still waiting to start give up
            collect()
    except BaseException:  # interrupted: stop the workers and fail their open trials
        stop.set()
        start.abort()
        for process in processes:
            process.terminate()
            process.join()
        _fail_orphaned_trials(job, {p.pid for p in processes if p.pid is not None})
        raise
    collect()
    died = {
        p.pid: f"tuning worker {i} (pid {p.pid}) died with exit code {p.exitcode}"
        for i, p in enumerate(processes)
        if p.exitcode != 0 and p.pid not in reported
    }
    if reported or died:
        _fail_orphaned_trials(job, {pid for pid in died if pid is not None})
        raise TuningError("\n".join([*reported.values(), *died.values()]))


def _engine_trials(item: tuple[int, int], job: _Job) -> int:
    """A task on an engine's worker (any machine that reaches the study's storage and the
    tracking server): run its share of trials on the shared study; returns the trials run."""
    worker, n_trials = item
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    job.study(worker).optimize(
        partial(_objective, job, mlflow.MlflowClient(job.tracking_uri)), n_trials=n_trials
    )
    return n_trials


def _fail_orphaned_trials(job: _Job, pids: set[int]) -> None:
    """Mark FAIL the trials (and their runs) that dead workers left RUNNING."""
    if not pids:
        return
    storage = rdb_storage(job.storage)
    study_id = storage.get_study_id_from_name(job.study_name)
    client = mlflow.MlflowClient(job.tracking_uri)
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("pid") in pids and trial.user_attrs.get("host") == socket.gethostname():
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            if trial.user_attrs.get("mlflow_run_id"):
                client.set_terminated(trial.user_attrs["mlflow_run_id"], "FAILED")


def tune(
    settings: Settings,
    comp: Competition,
    name: str,
    model: MatchModel,
    data: pd.DataFrame,
    first_eval_season: int,
    n_trials: int,
    validation_seasons: int = 3,
    seed: int = 0,
    workers: int = 1,
    parent_run_id: str = "",
    engine: Engine | None = None,
) -> TuningResult:
    """Add ``n_trials`` trials to the study ``<code>-<model>`` and write the best parameters.

    ``workers`` > 1 runs the trials in that many spawned processes sharing the study (one
    machine's share of a team study: run the same call on other machines against the same
    storage). Trials are child runs of one MLflow ``tune`` run (under ``parent_run_id`` when
    given), which also gets the best value and parameters and the tuned JSON. ``seed`` makes a
    call reproducible on one machine (see :meth:`_Job.sampler_seed`). With a Dask ``engine``
    the trials run as ``workers`` tasks on its cluster instead (:func:`_engine_trials`).
    """
    space = search_space(model, name)
    if n_trials < 1 or workers < 1:
        raise ValueError(f"trials and workers must be at least 1, got trials={n_trials}, workers={workers}")
    study_name = f"{comp.code}-{name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = study_storage(settings)
    n_before = len(
        optuna.create_study(
            study_name=study_name, storage=rdb_storage(storage), direction="minimize", load_if_exists=True
        ).trials
    )
    started = time.perf_counter()
    with step_run(parent_run_id, "tune", comp.code, settings) as run:
        mlflow.log_params(
            {
                "model_name": name,
                "study": study_name,
                "trials_added": n_trials,
                "workers": workers,
                "first_eval_season": first_eval_season,
                "validation_seasons": validation_seasons,
                "seed": seed,
            }
        )
        job = _Job(
            comp,
            name,
            model,
            data,
            first_eval_season,
            validation_seasons,
            study_name,
            storage,
            seed,
            mlflow.get_tracking_uri(),
            run.info.experiment_id,
            run.info.run_id,
            n_before,
        )
        study = job.study(0)
        if engine is not None and not isinstance(engine, SerialEngine):
            shares = [n_trials // workers + (i < n_trials % workers) for i in range(workers)]
            engine.map(_engine_trials, [(i, n) for i, n in enumerate(shares) if n], {"job": job}, spread=True)
        elif workers == 1:
            study.optimize(partial(_objective, job, mlflow.MlflowClient(job.tracking_uri)), n_trials=n_trials)
        else:
            _run_workers(job, n_trials, workers)
        best_trial = study.best_trial  # over the whole study: earlier calls and other machines
        best_value = float(best_trial.value)  # type: ignore[arg-type]  # a finished trial's
        best = space(optuna.trial.FixedTrial(best_trial.params))  # type: ignore[arg-type]  # same API
        path = tuned_path(settings, comp.code, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_file = path.with_suffix(f".{os.getpid()}.tmp")  # readers never see half a file
        partial_file.write_text(
            json.dumps(
                {
                    "params": best,
                    "value": best_value,
                    "study": study_name,
                    "validation_seasons": [first_eval_season - validation_seasons, first_eval_season - 1],
                },
                indent=2,
            )
        )
        os.replace(partial_file, path)
        n_total = len(study.get_trials(deepcopy=False))
        mlflow.log_params({f"best.{k}": v for k, v in best.items()})
        mlflow.log_metrics({"best_value": best_value, "study_trials": n_total})
        mlflow.log_artifact(str(path))
    return TuningResult(
        study_name,
        best_value,
        best,
        n_total,
        time.perf_counter() - started,
        path,
        run.info.run_id,
        workers,
    )
