"""The ``scoreline`` command: thin wiring over the library; every figure also as ``--json``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from scoreline.config import COMPETITIONS, Settings


def _json_safe(value):
    """NaN/inf are not JSON: emit them as null so any parser reads the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _emit_json(payload: dict) -> None:
    click.echo(json.dumps(_json_safe(json.loads(json.dumps(payload, default=str))), allow_nan=False))


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scoreline")
def main() -> None:
    """Scoreline: sports match forecasting workspace."""


@main.command()
@click.option("--source", default=None, metavar="PATH|URL",
              help="Folder laid out like shared/data, or a football-data.co.uk style base URL. "
                   "Default: $SCORELINE_DATA_SOURCE, else https://www.football-data.co.uk.")
@click.option("--competition", "codes", multiple=True, type=click.Choice(list(COMPETITIONS)),
              help="Only these competitions (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def ingest(source: str | None, codes: tuple[str, ...], as_json: bool) -> None:
    """Read, validate and store match data; print the validation summary."""
    from scoreline.data.ingest import ingest as run_ingest, save_report
    from scoreline.data.parsing import FileParseError
    from scoreline.data.sources import SourceError

    settings = Settings()
    try:
        report = run_ingest(settings, source or None, list(codes) or None)
    except (SourceError, FileParseError) as err:
        _fail(str(err))
    folder = save_report(report, settings.reports_path / "ingest")
    if as_json:
        _emit_json({**report.to_dict(), "report_dir": str(folder)})
        return
    table = report.by_competition()
    click.echo(f"source: {report.source}")
    click.echo(table.to_string())
    click.echo(f"total: {int(table['rows'].sum())} rows read, {int(table['results'].sum())} results, "
               f"{int(table['fixtures'].sum())} fixtures, {int(table['quarantined'].sum())} quarantined "
               f"from {len(report.files)} files in {report.seconds:.1f} s")
    if len(report.quarantine):
        reasons = report.quarantine["reason"].str.split("; ").explode().str.replace(r"\(.*\)", "(...)", regex=True)
        click.echo("quarantine reasons:")
        for reason, count in reasons.value_counts().head(10).items():
            click.echo(f"  {count:6d}  {reason}")
    for note in report.notes:
        click.echo(f"note: {note}")
    state = f"snapshot {report.snapshot}" if report.changed else f"unchanged (snapshot {report.snapshot})"
    click.echo(f"store: {settings.store_dir} {state}")
    click.echo(f"validation report: {folder}")


@main.command()
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--models", default=None, metavar="NAME[,NAME...]",
              help="Comma-separated model names (default: every model of the sport). "
                   "Market benchmarks are always included.")
@click.option("--from-season", type=int, default=None,
              help="First evaluated season (start year). Default: 2012 football, 2005 NFL, 2020 NBA (2020-21), 2021 CFB.")
@click.option("--window", type=click.Choice(["week", "month"]), default="week", show_default=True,
              help="Prediction window between refits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def backtest(code: str, models: str | None, from_season: int | None, window: str, as_json: bool) -> None:
    """Walk-forward backtest: every model next to the de-vigged market on the same matches."""
    from dataclasses import replace

    from scoreline.config import competition
    from scoreline.evaluation.competition import backtest_competition, default_config

    settings = Settings()
    config = replace(default_config(competition(code), from_season), window=window)
    names = [n.strip() for n in models.split(",")] if models else None
    try:
        report = backtest_competition(settings, code, names, config)
    except (KeyError, ValueError) as err:
        _fail(str(err).strip("'\""))
    if as_json:
        _emit_json(report.to_dict())
        return
    scores = report.scores
    click.echo(f"{code} walk-forward from {config.from_season}: {len(report.result.predictions)} matches, "
               f"{report.result.n_refits} refits, {report.seconds:.1f} s")
    click.echo(scores.overall.round(4).to_string())
    if len(scores.versus):
        click.echo(f"\ndifference to {scores.reference} (negative = better), 95 % bootstrap CI:")
        cols = [c for c in scores.versus.columns if c.startswith(("rps", "log_loss", "brier"))]
        click.echo(scores.versus[cols].round(4).to_string())
    if len(report.betting):
        click.echo("\nbetting at pre-closing prices (CLV against the de-vigged close):")
        cols = ["n_bets", "staked", "pnl", "yield", "max_drawdown", "mean_clv", "share_beating_close"]
        click.echo(report.betting[cols].round(3).to_string())
    click.echo(f"\nreport: {report.folder}")


@main.command()
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--model", "name", required=True, help="A model name of the competition's catalogue.")
@click.option("--trials", type=int, default=20, show_default=True)
@click.option("--from-season", type=int, default=None,
              help="First evaluated season; tuning uses the seasons before it only.")
@click.option("--validation-seasons", type=int, default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def tune(code: str, name: str, trials: int, from_season: int | None, validation_seasons: int,
         as_json: bool) -> None:
    """Optuna search of one model's hyper-parameters on the seasons before the evaluation."""
    from scoreline.config import competition
    from scoreline.data.store import MatchStore
    from scoreline.evaluation.competition import default_config
    from scoreline.features.builder import competition_features
    from scoreline.models import catalog
    from scoreline.tuning import tune as run_tune

    settings = Settings()
    comp = competition(code)
    models = catalog.models(comp)
    if name not in models:
        _fail(f"unknown model {name!r} for {code}; available: {', '.join(models)}")
    matches = MatchStore(settings.store_dir).results(code)
    if matches.empty:
        _fail(f"no stored results for {code}: run `scoreline ingest` first")
    data = matches.join(competition_features(matches, comp))
    first = default_config(comp, from_season).from_season
    try:
        result = run_tune(settings, comp, name, models[name], data, first, trials, validation_seasons)
    except (KeyError, ValueError) as err:
        _fail(str(err).strip("'\""))
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(f"study {result.study_name}: {result.n_trials} trials in total, best validation "
               f"score {result.best_value:.5f} ({first - validation_seasons}-{first - 1}) in {result.seconds:.1f} s")
    click.echo(f"best parameters: {json.dumps(result.best_params)}")
    click.echo(f"written to {result.path} (used by backtests and training from now on)")


@main.group()
def pipeline() -> None:
    """Run pipeline specs (pipelines/*.yaml): notebooks executed by papermill, tracked in MLflow."""


@pipeline.command("run")
@click.argument("name")
@click.option("-p", "--parameter", "overrides", multiple=True, metavar="[STEP.]KEY=VALUE",
              help="Override a parameter (value parsed as YAML): KEY=VALUE for the pipeline, "
                   "STEP.KEY=VALUE for one step. Repeatable.")
@click.option("--force", is_flag=True, help="Run every step, even those unchanged since their last success.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of progress lines.")
def pipeline_run(name: str, overrides: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Run the pipeline NAME (pipelines/NAME.yaml or a path), skipping unchanged steps."""
    from scoreline.pipeline import SpecError, StepFailed, apply_overrides, load_spec, run_pipeline

    settings = Settings()

    def progress(position: int, total: int, step: str, result) -> None:
        if as_json:
            return
        if result is None:
            click.echo(f"[{position}/{total}] {step} ... ", nl=False)
        elif result.status == "skipped":
            click.echo(f"skipped (unchanged since {result.reused_run})")
        else:
            click.echo(f"{result.status} {result.seconds:.1f} s")

    from scoreline.data.sources import SourceUnavailable, check_reachable

    try:
        spec = apply_overrides(load_spec(name, settings.home), overrides)
        if any(Path(step.notebook).name == "ingest.ipynb" for step in spec.steps):
            check_reachable(settings.source)
        run = run_pipeline(spec, settings, force=force, progress=progress)
    except (SpecError, SourceUnavailable) as err:
        _fail(str(err))
    except StepFailed as err:
        if as_json:
            _emit_json({**err.run.to_dict(), "error": str(err)})
        _fail(str(err), code=1)
    if as_json:
        _emit_json(run.to_dict())
        return
    ran = sum(s.status == "ran" for s in run.steps)
    click.echo(f"{run.pipeline} {run.run_id}: {ran} ran, {len(run.steps) - ran} skipped in {run.seconds:.1f} s")
    click.echo(f"executed notebooks: {run.run_dir}")
    click.echo(f"MLflow: experiment {run.experiment}, run {run.mlflow_run_id} (browse with `make ui`)")


@pipeline.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def pipeline_list(as_json: bool) -> None:
    """The pipeline specs under pipelines/ with their steps (invalid specs show their error)."""
    from scoreline.pipeline import SpecError, available_specs, load_spec

    settings = Settings()
    specs = []
    for path in available_specs(settings.home):
        try:
            spec = load_spec(path, settings.home)
        except SpecError as err:
            specs.append({"name": path.stem, "path": str(path), "error": str(err)})
            continue
        specs.append({"name": spec.name, "path": str(path), "description": spec.description,
                      "parameters": spec.parameters,
                      "steps": [{"name": s.name, "notebook": s.notebook} for s in spec.steps]})
    if as_json:
        _emit_json({"pipelines": specs})
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


if __name__ == "__main__":
    main()
