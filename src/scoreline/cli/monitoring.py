"""``scoreline monitor``: drift and live quality of a champion."""

from __future__ import annotations

import sys

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option
from scoreline.config import Settings


@click.command("monitor")
@competition_option
@click.option(
    "--since",
    default=None,
    metavar="YYYY-MM-DD[THH:MM]",
    help="Predictions created at or after this UTC time.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Predictions of the last N days. Default: the policy's current_days.",
)
@click.option("--parent-run-id", default="", help="Nest the MLflow run under this pipeline run.")
@json_option
def monitor_command(
    code: str, since: str | None, days: int | None, parent_run_id: str, as_json: bool
) -> None:
    """Drift and live quality of the champion; exit 1 with ALERT lines when a threshold of
    registry/policy.yaml `monitoring:` is breached (a scheduler then runs weekly_training)."""
    from scoreline.monitoring.monitor import monitor

    if since is not None and days is not None:
        fail("give --since or --days, not both")
    try:
        result = monitor(Settings(), code, since=since, days=days, parent_run_id=parent_run_id)
    except ValueError as err:  # no champion, bad policy, bad --since, nothing comparable
        fail(str(err))
    summary = result.summary
    if as_json:
        emit_json(summary)
    else:
        drift = summary["drift"]
        live = summary["quality"]["live"]
        click.echo(
            f"{code} champion v{summary['champion']['version']} "
            f"({summary['champion']['model_name']}), predictions since {summary['window']['since']}: "
            f"{summary['window']['predictions']} ({summary['window']['settled']} settled)"
        )
        if drift:
            click.echo(
                f"  drift: {len(drift['drifted'])} of {len(drift['features'])} features "
                f"(share {drift['share']:.2f}); report {summary['report_html']}"
            )
        if live.get("n"):
            scores = ", ".join(f"{k} {v:.4f}" for k, v in live.items() if isinstance(v, float))
            click.echo(f"  live ({live['n']} settled): {scores}")
        for note in summary["notes"]:
            click.echo(f"  note: {note}")
        click.echo(f"  gauges {summary['gauges']}; MLflow run {summary['run_id']}")
    for alert in result.alerts:
        click.echo(alert, err=True)
    if result.alerts:
        sys.exit(1)
