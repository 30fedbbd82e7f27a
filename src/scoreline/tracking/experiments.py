"""MLflow experiments and runs: experiment naming, the tracking store, one run per pipeline step.

Experiments are named per competition (``E0``, ``NFL``; ``scoreline`` for steps that span
competitions, such as ingest) and always created with an absolute artifact location under
``registry/artifacts/<experiment>``, so where a process happens to run never decides where
artifacts land. A pipeline step executed in another process (a papermill kernel) joins its
pipeline's run only through the parent run id it is given: :func:`step_run` tags its run with
``mlflow.parentRunId``.
"""

from __future__ import annotations

import os
import subprocess  # runs git only, with fixed arguments  # nosec B404
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoreline.config import Settings

__all__ = ["DEFAULT_EXPERIMENT", "experiment_id", "git_commit", "step_run", "tracking_on", "tracking_uri"]

#: experiment of steps that are not about one competition (ingest, pipeline parents)
DEFAULT_EXPERIMENT = "scoreline"


def tracking_uri(settings: Settings) -> str:
    """The tracking URI in force; a SQLite store's folder is created (SQLite will not)."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return uri


@contextmanager
def tracking_on(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI (and the ``MLFLOW_TRACKING_URI`` it exports to child
    processes, which :attr:`Settings.mlflow_tracking_uri` reads) on ``uri`` for the block, the
    caller's restored after: loading a model by ``models:/`` URI needs the global, and a library
    call must not leave it changed."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)  # type: ignore[arg-type]  # None unsets it and the variable


def experiment_id(name: str, settings: Settings) -> str:
    """Id of experiment ``name``, created with its artifacts under ``registry/artifacts/<name>``
    (behind a tracking server: the server's artifact root).

    An experiment that already exists keeps the location it was created with (MLflow cannot
    move it).
    """
    client = mlflow.MlflowClient(tracking_uri=tracking_uri(settings))
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=settings.artifact_location(name))
    except MlflowException:  # created meanwhile by a concurrent step
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def git_commit(folder: Path) -> str | None:
    """The checked-out commit of the repository holding ``folder`` (None outside a repository)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=folder,
            capture_output=True,  # nosec B603 B607
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextmanager
def step_run(
    parent_run_id: str, step: str, competition: str | None, settings: Settings
) -> Iterator[mlflow.ActiveRun]:
    """A run for one pipeline step in experiment ``competition`` (or ``scoreline``).

    ``parent_run_id`` (empty for a step run on its own) becomes the ``mlflow.parentRunId`` tag:
    the only way a step executed in another process nests under its pipeline's run. The run
    ends FINISHED, or FAILED when the body raises. Setting the tracking URI also exports it as
    ``MLFLOW_TRACKING_URI`` (MLflow does), so processes started afterwards use the same store.
    """
    mlflow.set_tracking_uri(tracking_uri(settings))
    experiment = experiment_id(competition or DEFAULT_EXPERIMENT, settings)
    commit = git_commit(settings.home)
    tags = {"step": step, "git_commit": commit or "unknown"}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if competition:
        tags["competition"] = competition
    if parent_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    name = f"{step}-{competition}" if competition else step
    run = mlflow.start_run(
        experiment_id=experiment, run_name=name, tags=tags, nested=mlflow.active_run() is not None
    )
    try:
        yield run
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
