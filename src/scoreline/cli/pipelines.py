"""``scoreline pipeline run|list``: pipeline specs executed by papermill."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from scoreline.cli.common import emit_json, fail, json_option
from scoreline.config import Settings


class StepLines:
    """``[3/12] train_elo ... ran 7.1 s`` per step, with the progress lines its kernel writes in
    between: rewritten in place on a terminal, one line each in a log."""

    def __init__(self, terminal: bool, quiet: bool) -> None:
        self.terminal, self.quiet = terminal, quiet
        self.head, self.width, self.relayed = "", 0, False

    def step(self, position: int, total: int, name: str, result) -> None:
        if self.quiet:
            return
        if result is None:
            self.head, self.width, self.relayed = f"[{position}/{total}] {name} ... ", 0, False
            click.echo(self.head, nl=False)
            return
        outcome = (
            f"skipped (unchanged since {result.reused_run})"
            if result.status == "skipped"
            else f"{result.status} {result.seconds:.1f} s"
        )
        if self.terminal and self.relayed:  # clear what the rewritten status line held
            click.echo(("\r" + self.head + outcome).ljust(self.width))
        else:
            click.echo((self.head if self.relayed else "") + outcome)

    def relay(self, name: str, line: str) -> None:
        if self.quiet:
            return
        if self.terminal:
            text = "\r" + self.head + line
            click.echo(text.ljust(self.width), nl=False)
            self.width = max(self.width, len(text))
        else:
            click.echo(("" if self.relayed else "\n") + "    " + line)
        self.relayed = True


@click.group()
def pipeline() -> None:
    """Run pipeline specs (pipelines/*.yaml): notebooks executed by papermill, tracked in MLflow."""


@pipeline.command("run")
@click.argument("name")
@click.option(
    "-p",
    "--parameter",
    "overrides",
    multiple=True,
    metavar="[STEP.]KEY=VALUE",
    help="Override a parameter (value parsed as YAML): KEY=VALUE for the pipeline, "
    "STEP.KEY=VALUE for one step. Repeatable.",
)
@click.option("--force", is_flag=True, help="Run every step, even those unchanged since their last success.")
@json_option
def pipeline_run(name: str, overrides: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Run the pipeline NAME (pipelines/NAME.yaml or a path), skipping unchanged steps."""
    from scoreline.pipeline import SpecError, StepFailed, apply_overrides, load_spec, run_pipeline

    settings = Settings()
    lines = StepLines(terminal=sys.stdout.isatty(), quiet=as_json)
    from scoreline.data.sources import SourceUnavailable, check_reachable

    try:
        spec = apply_overrides(load_spec(name, settings.home), overrides)
        if any(Path(step.notebook).name == "ingest.ipynb" for step in spec.steps):
            check_reachable(settings.source)
        run = run_pipeline(spec, settings, force=force, progress=lines.step, on_output=lines.relay)
    except (SpecError, SourceUnavailable) as err:
        fail(str(err))
    except StepFailed as err:
        if as_json:
            emit_json({**err.run.to_dict(), "error": str(err)})
        fail(str(err), code=1)
    from scoreline.pipeline.outcome import describe_parent_run, outcome_lines, pipeline_outcome

    outcome = pipeline_outcome(run)
    describe_parent_run(settings, run, outcome_lines(outcome))
    if as_json:
        emit_json({**run.to_dict(), "outcome": outcome})
        return
    ran = sum(s.status == "ran" for s in run.steps)
    click.echo(
        f"{run.pipeline} {run.run_id}: {ran} ran, {len(run.steps) - ran} skipped in {run.seconds:.1f} s"
    )
    for line in outcome_lines(outcome):
        click.echo(line)
    click.echo(f"executed notebooks: {run.run_dir}")
    server = settings.mlflow_tracking_uri if settings.mlflow_tracking_uri.startswith("http") else None
    # MLflow 3's UI opens in its GenAI layout (traces, judges) unless the link asks for runs
    page = f"/#/experiments/{run.experiment_id}/runs/{run.mlflow_run_id}?workflowType=machine_learning"
    click.echo(
        f"MLflow: experiment {run.experiment}, run {run.mlflow_run_id}: "
        + (f"{server.rstrip('/')}{page}" if server else f"`make ui`, then http://127.0.0.1:5000{page}")
    )


@pipeline.command("list")
@json_option
def pipeline_list(as_json: bool) -> None:
    """The pipeline specs under pipelines/ with their steps (invalid specs show their error)."""
    from scoreline.pipeline import SpecError, available_specs, load_spec

    settings = Settings()
    specs: list[dict[str, Any]] = []
    for path in available_specs(settings.home):
        try:
            spec = load_spec(path, settings.home)
        except SpecError as err:
            specs.append({"name": path.stem, "path": str(path), "error": str(err)})
            continue
        specs.append(
            {
                "name": spec.name,
                "path": str(path),
                "description": spec.description,
                "parameters": spec.parameters,
                "steps": [{"name": s.name, "notebook": s.notebook} for s in spec.steps],
            }
        )
    if as_json:
        emit_json({"pipelines": specs})
        return
    if not specs:
        click.echo(f"no pipeline specs in {settings.home / 'pipelines'}")
    for item in specs:
        if "error" in item:
            click.echo(f"{item['name']}: INVALID: {item['error']}")
            continue
        click.echo(f"{item['name']}: {item['description']}".rstrip(": "))
        for i, step in enumerate(item["steps"], 1):
            click.echo(f"  {i}. {step['name']:<16} {step['notebook']}")
