"""The ``scoreline`` command: one group registering each command group's module.

Every command is thin wiring over the library and prints its figures as tables or, with
``--json``, as one JSON object. Commands import what they drive inside their bodies, so
``scoreline --help`` and a quick command do not pay for MLflow, BentoML and Evidently.
"""

from __future__ import annotations

import os

import click

from scoreline.cli import (
    data,
    evaluation,
    forecasts,
    live,
    matchday,
    monitoring,
    operations,
    pipelines,
    promotion,
    serving,
)

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scoreline")
def main() -> None:
    """Scoreline: sports match forecasting workspace."""
    # MLflow's artifact-download progress bars would interleave with the tables and --json
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's INFO lines (database migrations, "Creating initial MLflow database tables") say
    # nothing a user acts on; warnings still show. Exported, so notebook kernels inherit it.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


for command in (
    data.ingest,
    evaluation.backtest,
    evaluation.tune,
    pipelines.pipeline,
    promotion.promote_command,
    promotion.rollback_command,
    forecasts.predict,
    serving.package_command,
    serving.serve,
    monitoring.monitor_command,
    matchday.matchday_command,
    matchday.settle_command,
    matchday.replay_command,
    matchday.bets_group,
    live.live_group,
    operations.health_command,
    operations.backup_command,
    operations.restore_command,
    operations.migrate_store_command,
):
    main.add_command(command)
