"""The registry: ``scoreline promote`` and ``scoreline rollback``."""

from __future__ import annotations

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option
from scoreline.config import Settings


@click.command("promote")
@competition_option
@click.option(
    "--model",
    default=None,
    metavar="NAME",
    help="Judge this trained model. Default: the best eligible model of the backtest.",
)
@click.option(
    "--backtest-run",
    default=None,
    metavar="RUN_ID",
    help="The backtest run to judge by. Default: the latest FINISHED one.",
)
@json_option
def promote_command(code: str, model: str | None, backtest_run: str | None, as_json: bool) -> None:
    """Gate a candidate against registry/policy.yaml, register it, and make it champion if every
    rule passes (exit 1 when the gate fails; the version is registered either way)."""
    from scoreline.promotion import CandidateError, PolicyError, promote

    try:
        result = promote(Settings(), code, model, backtest_run)
    except (CandidateError, PolicyError, TimeoutError) as err:
        fail(str(err))
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(
            f"{result.registered_model} version {result.version}: {result.model_name} "
            f"(backtest run {result.backtest_run_id}, train run {result.train_run_id})"
        )
        click.echo(result.gate.to_text())
        click.echo(f"champion: version {result.champion}, previous: {result.previous or 'none'}")
        click.echo(f"model card and gate table: MLflow run {result.run_id}")
    if not result.promoted:
        failed = "; ".join(
            f"{r.rule} {r.metric}".strip()
            + (f" by {-r.margin:.4f}" if r.margin is not None else "")
            + (f" ({r.note})" if r.note else "")
            for r in result.gate.failures
        )
        fail(f"gate failed, {result.registered_model} champion unchanged: {failed}", code=1)


@click.command("rollback")
@competition_option
@json_option
def rollback_command(code: str, as_json: bool) -> None:
    """Move the champion alias back to the previous champion."""
    from scoreline.promotion import PREVIOUS, champion_version, registered_model_name, rollback

    settings = Settings()
    try:
        version = rollback(settings, code)
    except (ValueError, TimeoutError) as err:
        fail(str(err))
    previous = champion_version(settings, code, PREVIOUS)
    payload = {
        "competition": code,
        "registered_model": registered_model_name(code),
        "champion": str(version.version),
        "model_name": version.tags.get("model_name"),
        "previous": str(previous.version) if previous else None,
    }
    if as_json:
        emit_json(payload)
        return
    click.echo(
        f"{payload['registered_model']}: champion is version {payload['champion']} "
        f"({payload['model_name']}), previous: {payload['previous'] or 'none'}"
    )
