"""Live in-game forecasting: ``scoreline live replay``."""

from __future__ import annotations

import datetime as dt

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option
from scoreline.config import Settings


@click.group("live")
def live_group() -> None:
    """Live in-game forecasts: feed -> event bus -> in-game champion -> prediction store."""


@live_group.command("replay")
@competition_option
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="The night to replay.")
@click.option("--season", type=int, default=None, help="Replay a whole season (start year) instead.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Times faster than the game clock; 0 = as fast as the loop goes.",
)
@json_option
def replay_command(code: str, day: str | None, season: int | None, speed: float, as_json: bool) -> None:
    """Play a real night's scoring events as a live feed through the in-game champion; every
    forecast is stored with its game clock and pushed by the service (GET /live/stream)."""
    from scoreline.live.champion import ingame_champion
    from scoreline.live.replay import LiveReplay, check_competition, replay_events

    settings = Settings()
    try:
        date = dt.date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--date: {day!r} is not YYYY-MM-DD")
    try:
        check_competition(code)
        model = ingame_champion(settings, code)  # before reading 1.7 M events: fail fast
        events = replay_events(settings, code, date, season)
    except (ValueError, FileNotFoundError) as err:
        fail(str(err))
    replay = LiveReplay.open(settings, events, model, code)
    try:
        figures = replay.run(speed)
    finally:
        replay.close()
    if as_json:
        emit_json(figures)
        return
    click.echo(
        f"{code} live replay: {figures['games']} games, {figures['forecasts']} of {figures['events']} events "
        f"forecast by {figures['model_name']} v{figures['model_version']} in {figures['seconds']:.1f} s "
        f"({figures['events_per_second']} events/s, bus {figures['bus']}); event to stored forecast "
        f"p50 {figures['store_latency_ms_p50']} ms, p99 {figures['store_latency_ms_p99']} ms"
    )
