"""Run a pipeline spec: each step's notebook executed by papermill, unchanged steps skipped.

For every step, in order, the runner hashes the notebook's bytes, the step's effective
parameters (canonical JSON) and the content of its declared ``inputs``. When the last
*successful* run of that step (recorded in ``reports/<pipeline>/.state.json``) had the same hash
the step is skipped and the earlier executed notebook is reused; otherwise the notebook is
executed into ``reports/<pipeline>/<run_id>/<NN>_<step>.ipynb``. The state is rewritten
atomically after each successful step, so a failure later on keeps what already succeeded.

Every step also receives two injected parameters: ``run_dir`` (absolute path of this run's
folder) and ``parent_run_id`` (the MLflow parent run's id). The parent run lives in the experiment
``pipeline-<name>`` and holds the pipeline parameters, the executed notebooks, the effective spec,
``requirements.lock`` and per-step seconds; notebooks open nested runs under it themselves.

Skipping looks only at what a step declares: a step reading another step's output must list
that output (or the store pointer ``data/store/CURRENT``) in ``inputs`` to re-run when it changes.
"""

from __future__ import annotations

import ast
import contextlib
import getpass
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat

from scoreline.config import Settings
from scoreline.pipeline.spec import PipelineSpec, SpecError, StepSpec, absolute_paths
from scoreline.progress import is_progress_line
from scoreline.tracking.experiments import experiment_id, git_commit

log = logging.getLogger(__name__)

STATE_FILE = ".state.json"
#: called before a step starts (result None) and when it ends: (position 1.., total, step, result)
Progress = Callable[[int, int, str, "StepResult | None"], None]
#: called with (step, line) for each progress line a step's kernel writes on stderr
StepOutput = Callable[[str, str], None]


@dataclass(frozen=True)
class StepResult:
    """What happened to one step in one pipeline run."""

    name: str
    #: "ran", "skipped" (unchanged since ``reused_run``) or "failed"
    status: str
    #: wall-clock seconds of the execution (0 when skipped)
    seconds: float
    #: the executed notebook: this run's, or the reused run's when skipped
    notebook: Path | None
    #: sha256 of notebook bytes + effective parameters + declared inputs
    hash: str
    #: run id whose output a skipped step reuses
    reused_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "notebook": str(self.notebook) if self.notebook else None,
            "hash": self.hash,
            "reused_run": self.reused_run,
        }


@dataclass
class PipelineRun:
    """One execution of a pipeline: its folder, its steps and its MLflow parent run."""

    pipeline: str
    run_id: str
    run_dir: Path
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    #: the MLflow parent run holding params, notebooks and metrics
    mlflow_run_id: str = ""
    experiment: str = ""
    experiment_id: str = ""
    #: "running", "finished", "failed" or "killed"
    status: str = "running"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "mlflow_run_id": self.mlflow_run_id,
            "experiment": self.experiment,
            "experiment_id": self.experiment_id,
            "steps": [s.to_dict() for s in self.steps],
        }


class StepFailed(RuntimeError):
    """A step's notebook raised; earlier steps' outputs and state are kept."""

    def __init__(
        self,
        message: str,
        *,
        step: str,
        notebook: Path,
        run: PipelineRun,
        cell_index: int | None = None,
        exec_count: int | None = None,
    ) -> None:
        super().__init__(message)
        self.step = step
        self.notebook = notebook
        self.run = run
        self.cell_index = cell_index
        self.exec_count = exec_count


# --- hashing and state -------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _update_with_file(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)


def step_hash(workspace: Path, notebook: Path, parameters: dict[str, Any], inputs: list[str]) -> str:
    """sha256 hex of the notebook bytes, the parameters as canonical JSON and each input's content.

    A folder input contributes its sorted relative file listing and every file's bytes; a missing
    input contributes "absent", so its later appearance invalidates the step. An absolute input
    (``{data_source}``) is read where it is.
    """
    digest = hashlib.sha256()
    digest.update(b"notebook\0")
    _update_with_file(digest, notebook)
    digest.update(b"\0parameters\0" + canonical_json(parameters).encode())
    for item in inputs:
        path = workspace / item
        digest.update(b"\0input\0" + item.encode() + b"\0")
        if path.is_file():
            _update_with_file(digest, path)
        elif path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                digest.update(b"\0file\0" + child.relative_to(path).as_posix().encode() + b"\0")
                _update_with_file(digest, child)
        else:
            digest.update(b"absent")
    return digest.hexdigest()


def load_state(pipeline_dir: Path) -> dict[str, dict[str, Any]]:
    """Per step: hash, run_id, notebook, seconds and finish time of its last successful run."""
    path = pipeline_dir / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable pipeline state %s: %s", path, err)
        return {}
    return data.get("steps", {}) if isinstance(data, dict) else {}


def _write_state(pipeline_dir: Path, steps: dict[str, dict[str, Any]]) -> None:
    # write-then-rename: a crash mid-write leaves the previous state, never a torn file
    pipeline_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=pipeline_dir)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"steps": steps}, handle, indent=2, sort_keys=True)
        os.replace(tmp, pipeline_dir / STATE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def new_run_id() -> str:
    """UTC timestamp plus a short random suffix: sortable and unique across parallel runs."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


# --- checks before anything runs ---------------------------------------------------------


def declared_parameters(notebook: Path) -> list[str] | None:
    """Names assigned at top level of the notebook's ``parameters``-tagged cell; None when it has
    no such cell, [] when the cell is not plain Python (then nothing can be checked)."""
    # ast rather than papermill's regex inspector, which gives up on comments holding quotes
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return []
            names: list[str] = []
            for node in tree.body:
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else ([node.target] if isinstance(node, ast.AnnAssign) else [])
                )
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return None


#: what a spec's inputs may name besides the step's parameters
INPUT_CONTEXT = ("data_source",)


def input_context(settings: Settings) -> dict[str, str]:
    """The values of :data:`INPUT_CONTEXT`: ``{data_source}`` is the folder (or URL) the ingest
    reads, so an unchanged source folder lets the ingest be skipped."""
    return {"data_source": settings.source}


def check_steps(
    spec: PipelineSpec, workspace: Path, kernel: str, context: dict[str, str] | None = None
) -> None:
    """Fail before running anything: missing kernel, notebook, ``parameters`` cell, or a
    parameter no notebook declares (papermill would inject it silently and nothing would use it)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise SpecError(
            f"no Jupyter kernel named {kernel!r}: run `make setup` "
            f"(python -m ipykernel install --prefix .venv --name {kernel})"
        ) from None
    declared_anywhere: set[str] = set()
    for step in spec.steps:
        path = workspace / step.notebook
        if not path.is_file():
            raise SpecError(
                f"step {step.name!r}: notebook {step.notebook!r} does not exist under {workspace}"
            )
        names = declared_parameters(path)
        if names is None:
            raise SpecError(
                f"step {step.name!r}: {step.notebook} has no cell tagged 'parameters'; papermill would "
                "ignore the step's parameters silently. Tag the cell holding the defaults "
                "(JupyterLab: property inspector > cell tags)"
            )
        # every {name} of an input is a parameter of the step or a name of input_context
        spec.effective_inputs(step, context if context is not None else dict.fromkeys(INPUT_CONTEXT, ""))
        declared_anywhere.update(names)
        unknown = sorted(set(step.parameters) - set(names))
        if names and unknown:
            raise SpecError(
                f"step {step.name!r}: parameter(s) {', '.join(unknown)} not defined in the "
                f"parameters cell of {step.notebook} (it defines: {', '.join(names)})"
            )
    unused = sorted(set(spec.parameters) - declared_anywhere)
    if declared_anywhere and unused:
        raise SpecError(
            f"pipeline {spec.name!r}: parameter(s) {', '.join(unused)} not defined in any "
            "step's parameters cell (typo?)"
        )


# --- MLflow parent run -------------------------------------------------------------------


def _git_commit(workspace: Path) -> str:
    return git_commit(workspace) or "unknown"


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    return text[:6000]  # MLflow's limit on a param value


class _ParentRun:
    """The pipeline's MLflow parent run, driven through ``MlflowClient`` (short transactions
    only, no active fluent run) so the kernels can write nested runs to the same SQLite store."""

    def __init__(self, settings: Settings, spec: PipelineSpec, run_id: str, run_dir: Path) -> None:
        from mlflow import MlflowClient

        settings.registry_path.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder
        self.client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        self.experiment = f"pipeline-{spec.name}"
        self.experiment_id = experiment_id(
            self.experiment,
            settings,
            f"Runs of the {spec.name} pipeline ({spec.description or 'no description'}): "
            "one parent run per execution, its steps nested under it.",
        )
        workspace = settings.home
        commit = _git_commit(workspace)
        tags = {
            "pipeline": spec.name,
            "run_id": run_id,
            "git_commit": commit,
            "mlflow.source.git.commit": commit,
            "run_dir": str(run_dir),
            "mlflow.source.name": f"pipelines/{spec.name}.yaml",
            "mlflow.source.type": "PROJECT",
            "mlflow.note.content": spec.description,
            # the fluent API records who ran a run; a client-created one shows "Created by: -"
            "mlflow.user": getpass.getuser(),
        }
        # named for what it ran: weekly_training-E0 (the run id is a tag)
        name = "-".join(str(p) for p in (spec.name, spec.parameters.get("competition")) if p)
        self.run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        self.id = self.run.info.run_id
        params = {k: _param_value(v) for k, v in spec.parameters.items()}
        for step in spec.steps:
            params.update({f"{step.name}.{k}": _param_value(v) for k, v in step.parameters.items()})
        if params:
            from mlflow.entities import Param

            self.client.log_batch(self.id, params=[Param(k, v) for k, v in params.items()])

    def attach_notebook(self, notebook: Path, since_ms: int) -> None:
        """The executed notebook (and its HTML rendering) on the runs the step opened under
        this parent, so each step's run shows the notebook that produced it."""
        children = self.client.search_runs(
            [self.experiment_id],
            f"tags.mlflow.parentRunId = '{self.id}' and attributes.start_time >= {since_ms}",
        )
        html = rendered_html(notebook)
        for child in children:
            self.client.log_artifact(child.info.run_id, str(notebook), "notebook")
            if html is not None:
                self.client.log_artifact(child.info.run_id, str(html), "notebook")

    def finish(self, run: PipelineRun, spec: PipelineSpec, workspace: Path, status: str) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        metrics = [
            Metric("total_seconds", round(run.seconds, 1), now, 0),  # 1024.7, not 1024.6807066689998
            Metric("steps_ran", sum(s.status == "ran" for s in run.steps), now, 0),
            Metric("steps_skipped", sum(s.status == "skipped" for s in run.steps), now, 0),
        ]
        tags = []
        for step in run.steps:
            tags.append(RunTag(f"step.{step.name}.status", step.status))
            if step.reused_run:
                tags.append(RunTag(f"step.{step.name}.reused_run", step.reused_run))
            if step.status != "skipped":
                metrics.append(Metric(f"step.{step.name}.seconds", round(step.seconds, 1), now, 0))
        self.client.log_batch(self.id, metrics=metrics, tags=tags)
        for step in run.steps:
            if step.status != "skipped" and step.notebook is not None and step.notebook.is_file():
                self.client.log_artifact(self.id, str(step.notebook), "notebooks")
                html = step.notebook.with_suffix(".html")  # rendered when the step ended
                if html.is_file() or rendered_html(step.notebook) is not None:
                    self.client.log_artifact(self.id, str(html), "notebooks")
        self.client.log_text(self.id, spec.to_yaml(), f"spec/{spec.name}.yaml")
        lock = workspace / "requirements.lock"
        if lock.is_file():
            self.client.log_artifact(self.id, str(lock))
        self.client.set_terminated(self.id, status)


def rendered_html(notebook: Path) -> Path | None:
    """``notebook`` rendered as HTML beside it (nbconvert's lab template, plots inline), the way
    MLflow's artifact viewer shows it; None when it cannot be rendered (logged, not raised)."""
    from nbconvert import HTMLExporter

    target = notebook.with_suffix(".html")
    try:
        body, _ = HTMLExporter(template_name="lab").from_filename(str(notebook))
        target.write_text(body, encoding="utf-8")
    except Exception as err:  # a rendering problem must not fail a pipeline that ran
        log.warning("could not render %s as HTML: %s", notebook, err)
        return None
    return target


# --- execution ---------------------------------------------------------------------------


@contextlib.contextmanager
def _kernel_environment(settings: Settings, notebook: str) -> Iterator[None]:
    """Export the runner's settings so the kernel's ``Settings()`` and MLflow agree with it, and
    the step's notebook, which its MLflow runs name as their source."""
    values = {
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "SCORELINE_HOME": str(settings.home),
        "SCORELINE_STEP_NOTEBOOK": notebook,
    }
    for name in (
        "data_source",
        "data_dir",
        "reports_dir",
        "registry_dir",
        "team_database_url",
        "optuna_storage",
        "prediction_store_url",
    ):
        value = getattr(settings, name)
        if value is not None:
            values[f"SCORELINE_{name.upper()}"] = str(value)
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_lines(text: str, n: int = 3) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    more = " ..." if len(lines) > n else ""
    return " | ".join(lines[:n]) + more


class _ProgressRelay:
    """A file-like sink for a kernel's stderr (papermill's ``stderr_file``) that hands each
    :func:`~scoreline.progress.is_progress_line` to ``on_output``, so the terminal shows which
    model and window a long step is on, not only the executed notebook."""

    def __init__(self, step: str, on_output: StepOutput) -> None:
        self.step, self.on_output, self._pending = step, on_output, ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            if is_progress_line(line):
                self.on_output(self.step, line.strip())
        return len(text)

    def flush(self) -> None:
        """Nothing buffered beyond an incomplete line."""


@contextlib.contextmanager
def _kernel_sockets() -> Iterator[Any]:
    """Kernel-manager configuration: the kernel listens on unix sockets in a private temporary
    folder, not on loopback TCP ports that any local user could reach unencrypted."""
    from traitlets.config import Config

    with tempfile.TemporaryDirectory(prefix="scoreline-kernel-") as folder:
        yield Config({"KernelManager": {"transport": "ipc", "ip": str(Path(folder) / "kernel")}})


def _execute_step(
    step: StepSpec,
    position: int,
    total: int,
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    settings: Settings,
    kernel: str,
    run: PipelineRun,
    on_output: StepOutput | None = None,
) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    workspace = settings.home
    cwd = workspace / "notebooks" if (workspace / "notebooks").is_dir() else notebook.parent
    where = f"step {step.name!r} ({position}/{total}, {step.notebook})"
    try:
        with _kernel_environment(settings, step.notebook), _kernel_sockets() as sockets:
            papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=parameters,
                kernel_name=kernel,
                cwd=str(cwd),
                progress_bar=False,
                log_output=False,
                request_save_on_cell_execute=True,
                config=sockets,
                stderr_file=_ProgressRelay(step.name, on_output) if on_output else None,
            )
    except PapermillExecutionError as err:
        error = f"{err.ename}: {_first_lines(err.evalue)}" if str(err.evalue).strip() else err.ename
        raise StepFailed(
            f"{where} failed at In [{err.exec_count}] (cell {err.cell_index} of the executed notebook): "
            f"{error}\nexecuted notebook: {output}",
            step=step.name,
            notebook=output,
            run=run,
            cell_index=err.cell_index,
            exec_count=err.exec_count,
        ) from None
    except Exception as err:  # kernel died, timeout, unreadable notebook...
        raise StepFailed(
            f"{where} could not run: {type(err).__name__}: "
            f"{_first_lines(str(err))}\nexecuted notebook: {output}",
            step=step.name,
            notebook=output,
            run=run,
        ) from err


def run_pipeline(
    spec: PipelineSpec,
    settings: Settings,
    *,
    force: bool = False,
    run_id: str | None = None,
    kernel: str = "scoreline",
    progress: Progress | None = None,
    on_output: StepOutput | None = None,
) -> PipelineRun:
    """Execute ``spec`` step by step; raises ``SpecError`` before running anything when a
    notebook, its ``parameters`` cell or the kernel is missing, and ``StepFailed`` at the first
    failing step (its ``run`` holds what happened so far). ``on_output`` receives the progress
    lines the steps' kernels write (which model, which window, ETA)."""
    workspace = Path(settings.home).resolve()
    context = input_context(settings)
    check_steps(spec, workspace, kernel, context)
    run_id = run_id or new_run_id()
    pipeline_dir = settings.reports_path.resolve() / spec.name
    run_dir = pipeline_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(pipeline_dir)
    parent = _ParentRun(settings, spec, run_id, run_dir)
    run = PipelineRun(
        spec.name,
        run_id,
        run_dir,
        mlflow_run_id=parent.id,
        experiment=parent.experiment,
        experiment_id=parent.experiment_id,
    )
    total = len(spec.steps)
    started = time.perf_counter()

    def report(position: int, name: str, result: StepResult | None) -> None:
        if progress is not None:
            progress(position, total, name, result)

    try:
        for position, step in enumerate(spec.steps, 1):
            report(position, step.name, None)
            notebook = workspace / step.notebook
            # pipeline-level parameters reach only the notebooks that declare them (check_steps
            # has already made sure every step-level one is declared)
            declared = declared_parameters(notebook)
            # a path the spec file gives is relative to the workspace (-p ones are absolute by now)
            parameters = absolute_paths(
                {
                    k: v
                    for k, v in spec.effective_parameters(step).items()
                    if declared is None or k in declared
                },
                workspace,
            )
            inputs = spec.effective_inputs(step, context)
            # a step valid for a day only: the day is one of its inputs
            day = {"utc_day": datetime.now(UTC).date().isoformat()} if step.valid_for == "day" else {}
            digest = step_hash(workspace, notebook, {**parameters, **day}, inputs)
            previous = state.get(step.name) or {}
            reusable = previous.get("hash") == digest and Path(previous.get("notebook", "")).is_file()
            remote = any("://" in item for item in inputs)  # a URL's content is not hashed: run it
            if reusable and not force and not step.always and not remote:
                result = StepResult(
                    step.name,
                    "skipped",
                    0.0,
                    Path(previous["notebook"]),
                    digest,
                    reused_run=previous.get("run_id"),
                )
            else:
                output = run_dir / f"{position:02d}_{step.name}.ipynb"
                injected = {**parameters, "run_dir": str(run_dir), "parent_run_id": parent.id}
                t0 = time.perf_counter()
                since_ms = int(time.time() * 1000)
                try:
                    _execute_step(
                        step, position, total, notebook, output, injected, settings, kernel, run, on_output
                    )
                except StepFailed:
                    failed = StepResult(step.name, "failed", time.perf_counter() - t0, output, digest)
                    run.steps.append(failed)
                    report(position, step.name, failed)
                    raise
                result = StepResult(step.name, "ran", time.perf_counter() - t0, output, digest)
                parent.attach_notebook(output, since_ms)
                state[step.name] = {
                    "hash": digest,
                    "run_id": run_id,
                    "notebook": str(output),
                    "seconds": round(result.seconds, 3),
                    "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                _write_state(pipeline_dir, state)
            run.steps.append(result)
            report(position, step.name, result)
    except BaseException as err:
        run.seconds = time.perf_counter() - started
        status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
        run.status = status.lower()
        try:
            parent.finish(run, spec, workspace, status)
        except Exception as tracking_error:  # never mask the step's own error
            log.warning("could not close MLflow run %s: %s", parent.id, tracking_error)
        raise
    run.seconds = time.perf_counter() - started
    run.status = "finished"
    parent.finish(run, spec, workspace, "FINISHED")
    return run
