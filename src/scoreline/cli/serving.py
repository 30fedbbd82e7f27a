"""The prediction service: ``scoreline package`` and ``scoreline serve``."""

from __future__ import annotations

import os
import sys

import click

from scoreline.cli.common import emit_json, fail, json_option
from scoreline.config import COMPETITIONS, Settings


@click.command("package")
@click.option(
    "--competition",
    "codes",
    multiple=True,
    type=click.Choice(list(COMPETITIONS)),
    help="Only these competitions (repeatable). Default: every one with a champion.",
)
@click.option("--build", is_flag=True, help="Then build the bento (bentos/bentofile.yaml).")
@json_option
def package_command(codes: tuple[str, ...], build: bool, as_json: bool) -> None:
    """Export the registry's champions (and in-game champions) into the BentoML model store (and
    build the bento)."""
    from scoreline.serving.package import build_bento, export_champions, export_ingame_champions

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = Settings()
    try:
        exported = export_champions(settings, list(codes) or None)
        ingame = export_ingame_champions(settings, [e.competition for e in exported])
        bento = build_bento(settings) if build else None
    except (ValueError, RuntimeError) as err:
        fail(str(err))
    if as_json:
        emit_json(
            {
                "bentoml_home": str(settings.bentoml_home),
                "bento": bento,
                "models": [e.to_dict() for e in exported],
                "ingame_models": ingame,
            }
        )
        return
    for e in exported:
        click.echo(
            f"{e.competition}: {e.registered_model} version {e.registry_version} "
            f"({e.model_name}) -> {e.bento_model}" + ("" if e.created else " (already exported)")
        )
    for code, tag in ingame.items():
        click.echo(f"{code} in-game champion -> {tag}")
    click.echo(f"BentoML store: {settings.bentoml_home}")
    if bento:
        click.echo(f"bento: {bento} (run it: BENTOML_HOME={settings.bentoml_home} bentoml serve {bento})")


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes, each with every champion. "
    "Default: $SCORELINE_SERVE_WORKERS, else one per CPU core.",
)
@click.option("--no-export", is_flag=True, help="Serve the champions already in the BentoML store.")
def serve(port: int, host: str, workers: int | None, no_export: bool) -> None:
    """Export the champions and serve them with BentoML (the path a built bento takes too)."""
    from scoreline.serving.package import export_champions

    settings = Settings()
    if not no_export:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            exported = export_champions(settings)
        except ValueError as err:
            fail(str(err))
        for e in exported:
            click.echo(
                f"serving {e.competition}: {e.registered_model} version {e.registry_version} ({e.model_name})"
            )
    env = {
        **os.environ,
        "BENTOML_HOME": str(settings.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "SCORELINE_HOME": str(settings.home),
    }
    if workers:
        env["SCORELINE_SERVE_WORKERS"] = str(workers)
    sys.stdout.flush()
    # exec: the PID that started is the server's, so signals reach it
    # this interpreter running bentoml, with fixed arguments
    os.execve(  # nosec B606
        sys.executable,
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "scoreline.serving.service:Scoreline",
            "--host",
            host,
            "--port",
            str(port),
        ],
        env,
    )
