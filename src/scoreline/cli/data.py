"""Commands over the match store: ``scoreline ingest``."""

from __future__ import annotations

import click

from scoreline.cli.common import emit_json, fail, json_option
from scoreline.config import COMPETITIONS, Settings


@click.command()
@click.option(
    "--source",
    default=None,
    metavar="PATH|URL",
    help="Folder laid out like shared/data, or a football-data.co.uk style base URL. "
    "Default: $SCORELINE_DATA_SOURCE, else https://www.football-data.co.uk.",
)
@click.option(
    "--competition",
    "codes",
    multiple=True,
    type=click.Choice(list(COMPETITIONS)),
    help="Only these competitions (repeatable). Default: all.",
)
@json_option
def ingest(source: str | None, codes: tuple[str, ...], as_json: bool) -> None:
    """Read, validate and store match data; print the validation summary."""
    from scoreline.data.ingest import ingest as run_ingest
    from scoreline.data.ingest import save_report
    from scoreline.data.parsing import FileParseError
    from scoreline.data.sources import SourceError

    settings = Settings()
    try:
        report = run_ingest(settings, source or None, list(codes) or None)
    except (SourceError, FileParseError) as err:
        fail(str(err))
    folder = save_report(report, settings.reports_path / "ingest")
    if as_json:
        emit_json({**report.to_dict(), "report_dir": str(folder)})
        return
    table = report.by_competition()
    click.echo(f"source: {report.source}")
    click.echo(table.to_string())
    click.echo(
        f"total: {int(table['rows'].sum())} rows read, {int(table['results'].sum())} results, "
        f"{int(table['fixtures'].sum())} fixtures, {int(table['quarantined'].sum())} quarantined "
        f"from {len(report.files)} files in {report.seconds:.1f} s"
    )
    if report.ingame is not None:
        ingame = report.ingame.summary()
        click.echo(
            f"NBA in-game timelines: {ingame['games']} games ({ingame['games_with_lines']} with pre-game "
            f"lines), {ingame['events']} scoring events; {ingame['rows_rejected']} rows rejected, "
            f"{ingame['games_excluded']} games excluded (see the quarantine)"
        )
    if len(report.quarantine):
        reasons = (
            report.quarantine["reason"].str.split("; ").explode().str.replace(r"\(.*\)", "(...)", regex=True)
        )
        click.echo("quarantine reasons:")
        for reason, count in reasons.value_counts().head(10).items():
            click.echo(f"  {count:6d}  {reason}")
    for note in report.notes:
        click.echo(f"note: {note}")
    state = f"snapshot {report.snapshot}" if report.changed else f"unchanged (snapshot {report.snapshot})"
    click.echo(f"store: {settings.store_dir} {state}")
    click.echo(f"validation report: {folder}")
