"""MLflow experiments and runs: experiment naming, the tracking store, one run per pipeline step.

Experiments are named per competition (``E0``, ``NFL``; ``scoreline`` for steps that span
competitions, such as ingest) and always created with an absolute artifact location under
``registry/artifacts/<experiment>``, so where a process happens to run never decides where
artifacts land, and with a description the UI shows. A pipeline step executed in another
process (a papermill kernel) joins its pipeline's run only through the parent run id it is given:
:func:`step_run` opens its run in the parent's experiment, tagged ``mlflow.parentRunId``, so the
UI shows it nested, and names it for what it did (``train-E0-dixon_coles``).
"""

from __future__ import annotations

import os
import subprocess  # runs git only, with fixed arguments  # nosec B404
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus, ViewType
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoreline.config import COMPETITIONS, Settings

__all__ = [
    "DEFAULT_EXPERIMENT",
    "experiment_description",
    "experiment_id",
    "git_commit",
    "step_run",
    "tracking_on",
    "tracking_uri",
]

#: experiment of steps that are not about one competition (ingest, pipeline parents)
DEFAULT_EXPERIMENT = "scoreline"
#: the tag MLflow's UI shows as an experiment's (and a run's) description
DESCRIPTION_TAG = "mlflow.note.content"


def experiment_description(name: str) -> str:
    """What an experiment holds, for the UI: per competition, the default one, pipelines."""
    if name in COMPETITIONS:
        return (
            f"{COMPETITIONS[name].name} ({name}): train, backtest, promote, tune and monitor runs "
            "started on their own; runs of a pipeline live nested under it in its pipeline-* "
            "experiment. Registered model: scoreline-" + name
        )
    if name == DEFAULT_EXPERIMENT:
        return "Runs not about one competition (ingest of every competition) started on their own."
    pipeline = name.removeprefix("pipeline-")
    return f"Runs of the {pipeline} pipeline: one parent run per execution, each step nested."


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


def experiment_id(name: str, settings: Settings, description: str = "") -> str:
    """Id of experiment ``name``, created with its artifacts under ``registry/artifacts/<name>``
    (behind a tracking server: the server's artifact root) and ``description`` (default:
    :func:`experiment_description`).

    An experiment that already exists keeps the location it was created with (MLflow cannot
    move it). Creating one also retires MLflow's empty ``Default`` experiment, which only
    clutters the UI: nothing here logs to it.
    """
    client = mlflow.MlflowClient(tracking_uri=tracking_uri(settings))
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        created = client.create_experiment(
            name,
            artifact_location=settings.artifact_location(name),
            tags={
                DESCRIPTION_TAG: description or experiment_description(name),
                # MLflow 3's UI opens a model-development experiment on its runs, not on traces
                "mlflow.experimentKind": "custom_model_development",
            },
        )
    except MlflowException:  # created meanwhile by a concurrent step
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
    _retire_empty_default(client)
    return created


def _retire_empty_default(client: mlflow.MlflowClient) -> None:
    default = client.get_experiment_by_name("Default")
    if default is None or default.lifecycle_stage != "active":
        return
    if not client.search_runs([default.experiment_id], max_results=1, run_view_type=ViewType.ALL):
        with suppress(MlflowException):  # a concurrent process retired it first
            client.delete_experiment(default.experiment_id)


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


def run_name(step: str, competition: str | None, detail: str = "") -> str:
    """``train-E0-dixon_coles``: what the run did, for which competition, with what."""
    return "-".join(part for part in (step, competition, detail) if part)


@contextmanager
def step_run(
    parent_run_id: str, step: str, competition: str | None, settings: Settings, detail: str = ""
) -> Iterator[mlflow.ActiveRun]:
    """A run for one pipeline step named :func:`run_name` (``detail``: the model, the season...).

    On its own (``parent_run_id`` empty) the run lives in experiment ``competition`` (or
    ``scoreline``). Under a pipeline it lives in the parent's experiment with the
    ``mlflow.parentRunId`` tag: the only way a step executed in another process nests under its
    pipeline's run in the UI. Its source is the step's notebook when the pipeline runner says
    which (``settings.step_notebook``), not ``ipykernel_launcher.py``. The run ends FINISHED, or
    FAILED when the body raises. Setting the tracking URI also exports it as
    ``MLFLOW_TRACKING_URI`` (MLflow does), so processes started afterwards use the same store.
    """
    mlflow.set_tracking_uri(tracking_uri(settings))
    if parent_run_id:
        experiment = mlflow.MlflowClient().get_run(parent_run_id).info.experiment_id
    else:
        experiment = experiment_id(competition or DEFAULT_EXPERIMENT, settings)
    commit = git_commit(settings.home)
    tags = {"step": step, "git_commit": commit or "unknown"}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if competition:
        tags["competition"] = competition
    if parent_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    if settings.step_notebook:
        tags |= {"mlflow.source.name": settings.step_notebook, "mlflow.source.type": "NOTEBOOK"}
    name = run_name(step, competition, detail)
    run = mlflow.start_run(
        experiment_id=experiment, run_name=name, tags=tags, nested=mlflow.active_run() is not None
    )
    try:
        yield run
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
