"""Operating the stores: ``scoreline health``, ``backup``, ``restore`` and ``migrate-store``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from scoreline.cli.common import emit_json, fail, json_option
from scoreline.config import Settings


@click.command("health")
@click.option(
    "--service-url",
    default=None,
    metavar="URL",
    help="Readiness URL. Default: $SCORELINE_SERVICE_URL, else http://127.0.0.1:3000/readyz.",
)
@click.option("--no-service", is_flag=True, help="Skip the service check.")
@json_option
def health_command(service_url: str | None, no_service: bool, as_json: bool) -> None:
    """Check the match store, registry, champions, prediction store and service; exit 1 if
    anything is wrong."""
    from scoreline.operations import SERVICE_URL, checks_to_dict, health

    url = None if no_service else (service_url or os.environ.get("SCORELINE_SERVICE_URL") or SERVICE_URL)
    checks = health(Settings(), url)
    report = checks_to_dict(checks)
    if as_json:
        emit_json(report)
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<18} {check.detail}")
    if not report["ok"]:
        sys.exit(1)


@click.command("backup")
@click.option(
    "--to",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Backup folder (new or empty). Default: backups/<UTC stamp>/.",
)
@json_option
def backup_command(folder: Path | None, as_json: bool) -> None:
    """Consistent copy of the registry databases (SQLite online backup) and artifacts."""
    from scoreline.operations import backup, verify_backup

    try:
        written = backup(Settings(), folder)
    except (FileExistsError, FileNotFoundError, RuntimeError) as err:
        fail(str(err))
    manifest = verify_backup(written)
    if as_json:
        emit_json({"folder": str(written), **manifest})
        return
    click.echo(f"backup in {written}:")
    for name, info in manifest["files"].items():
        click.echo(f"  {name:<16} {info['bytes']:>12,} bytes  sha256 {info['sha256'][:16]}")
    for name, command in manifest.get("not_included", {}).items():
        click.echo(f"  not included: {name} is in PostgreSQL; back it up with `{command}`")


@click.command("restore")
@click.option(
    "--from", "folder", required=True, type=click.Path(path_type=Path, exists=True, file_okay=False)
)
@click.option("--force", is_flag=True, help="Replace existing databases and artifacts.")
@json_option
def restore_command(folder: Path, force: bool, as_json: bool) -> None:
    """Restore a backup after checking its manifest (stop the service first)."""
    from scoreline.operations import restore

    try:
        written = restore(Settings(), folder, force=force)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        fail(str(err))
    if as_json:
        emit_json({"restored": [str(p) for p in written]})
        return
    for path in written:
        click.echo(f"restored {path}")


@click.command("migrate-store")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The new prediction store (SQLAlchemy URL, e.g. postgresql+psycopg://...); must be empty.",
)
@click.option(
    "--from",
    "source",
    default=None,
    metavar="URL",
    help="The store to copy. Default: the SQLite store under registry/.",
)
@json_option
def migrate_store_command(target: str, source: str | None, as_json: bool) -> None:
    """Copy the prediction store into a new database (SQLite to PostgreSQL for team mode), all
    or nothing; then point SCORELINE_PREDICTION_STORE_URL (or the team database) at it."""
    from sqlalchemy.engine import make_url

    from scoreline.matchday.book import metadata as bet_book
    from scoreline.predictions import PredictionStore, copy_store

    settings = Settings()
    source = source or f"sqlite:///{settings.registry_path / 'predictions.db'}"
    path = source.removeprefix("sqlite:///").split("?", 1)[0]
    if source.startswith("sqlite:///") and not Path(path).is_file():
        fail(f"--from: no prediction store at {path}")
    try:
        stores = (PredictionStore(source), PredictionStore(target))
    except Exception as err:  # a bad URL or an unreachable server
        fail(f"cannot open the stores: {type(err).__name__}: {err}")
    try:
        copied = copy_store(stores[0], stores[1], extra=[bet_book])
    except ValueError as err:
        fail(str(err))
    finally:
        for store in stores:
            store.close()
    shown = {
        "from": make_url(source).render_as_string(hide_password=True),
        "to": make_url(target).render_as_string(hide_password=True),
    }
    if as_json:
        emit_json({**shown, "rows": copied})
        return
    click.echo(
        f"copied {shown['from']} -> {shown['to']}: "
        + ", ".join(f"{table} {n:,}" for table, n in copied.items())
    )
