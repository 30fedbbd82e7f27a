"""Research commands: ``scoreline backtest`` and ``scoreline tune``."""

from __future__ import annotations

import json
from typing import cast

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option
from scoreline.config import Settings

engine_option = click.option(
    "--engine",
    type=click.Choice(["serial", "local", "dask"]),
    default=None,
    help="Where the independent pieces run: this process, a local Dask cluster sized to the "
    "machine, or the cluster at $SCORELINE_DASK_SCHEDULER. Default: the scheduler when set, "
    "else $SCORELINE_ENGINE (local).",
)


@click.command()
@competition_option
@click.option(
    "--models",
    default=None,
    metavar="NAME[,NAME...]",
    help="Comma-separated model names (default: every model of the sport). "
    "Market benchmarks are always included.",
)
@click.option(
    "--from-season",
    type=int,
    default=None,
    help="First evaluated season (start year). "
    "Default: 2012 football, 2005 NFL, 2020 NBA (2020-21), 2021 CFB.",
)
@click.option(
    "--window",
    type=click.Choice(["week", "month"]),
    default="week",
    show_default=True,
    help="Prediction window between refits.",
)
@engine_option
@json_option
def backtest(
    code: str, models: str | None, from_season: int | None, window: str, engine: str | None, as_json: bool
) -> None:
    """Walk-forward backtest: every model next to the de-vigged market on the same matches."""
    from dataclasses import replace

    from scoreline.config import competition
    from scoreline.engine import open_engine
    from scoreline.evaluation.backtest import Window
    from scoreline.evaluation.competition import backtest_competition, default_config

    settings = Settings()
    config = replace(default_config(competition(code), from_season), window=cast(Window, window))
    names = [n.strip() for n in models.split(",")] if models else None
    try:
        with open_engine(settings, engine) as runner:
            report = backtest_competition(settings, code, names, config, engine=runner)
    except (KeyError, ValueError, ConnectionError) as err:
        fail(str(err).strip("'\""))
    if as_json:
        emit_json(report.to_dict())
        return
    scores = report.scores
    click.echo(
        f"{code} walk-forward from {config.from_season}: {len(report.result.predictions)} matches, "
        f"{report.result.n_refits} refits, {report.seconds:.1f} s"
    )
    click.echo(scores.table())
    if len(report.betting):
        from scoreline.evaluation.betting import STARTING_BANKROLL
        from scoreline.evaluation.betting_tables import backtest_betting_text

        click.echo("\nbetting at pre-closing prices:")
        click.echo("\n".join(backtest_betting_text(report.betting, STARTING_BANKROLL)))
    click.echo(f"\nreport: {report.folder}")


@click.command()
@competition_option
@click.option("--model", "name", required=True, help="A model name of the competition's catalogue.")
@click.option("--trials", type=int, default=20, show_default=True)
@click.option(
    "--from-season",
    type=int,
    default=None,
    help="First evaluated season; tuning uses the seasons before it only.",
)
@click.option("--validation-seasons", type=int, default=3, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes sharing the study (run the command on several machines "
    "against one $SCORELINE_OPTUNA_STORAGE to add theirs).",
)
@engine_option
@json_option
def tune(
    code: str,
    name: str,
    trials: int,
    from_season: int | None,
    validation_seasons: int,
    workers: int,
    engine: str | None,
    as_json: bool,
) -> None:
    """Optuna search of one model's hyper-parameters on the seasons before the evaluation;
    each trial is an MLflow child run of one ``tune`` run."""
    from scoreline.config import competition
    from scoreline.data.store import MatchStore
    from scoreline.engine import open_engine
    from scoreline.evaluation.competition import default_config
    from scoreline.features.builder import competition_features
    from scoreline.models import catalog
    from scoreline.tuning import TuningError
    from scoreline.tuning import tune as run_tune

    settings = Settings()
    comp = competition(code)
    models = catalog.models(comp)
    if name not in models:
        fail(f"unknown model {name!r} for {code}; available: {', '.join(models)}")
    matches = MatchStore(settings.store_dir).results(code)
    if matches.empty:
        fail(f"no stored results for {code}: run `scoreline ingest` first")
    data = matches.join(competition_features(matches, comp))
    first = default_config(comp, from_season).from_season
    try:
        # trials on the configured Dask cluster when there is one, else --workers spawned processes
        with open_engine(settings, engine or ("dask" if settings.dask_scheduler else "serial")) as runner:
            result = run_tune(
                settings,
                comp,
                name,
                models[name],
                data,
                first,
                trials,
                validation_seasons,
                workers=workers,
                engine=runner,
            )
    except (KeyError, ValueError, TuningError, ConnectionError) as err:
        fail(str(err).strip("'\""))
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(
        f"study {result.study_name}: {result.n_trials} trials in total, best validation "
        f"score {result.best_value:.5f} ({first - validation_seasons}-{first - 1}) in {result.seconds:.1f} s"
    )
    click.echo(f"best parameters: {json.dumps(result.best_params)}")
    click.echo(f"trials of this call: child runs of MLflow run {result.run_id} ({result.workers} worker(s))")
    click.echo(f"written to {result.path} (used by backtests and training from now on)")
