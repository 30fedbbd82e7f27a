"""``scoreline predict``: one fixture forecast by the champion from the registry."""

from __future__ import annotations

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option, pd_frame
from scoreline.config import Settings


@click.command()
@competition_option
@click.argument("home")
@click.argument("away")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="Match date (default: today).")
@click.option("--neutral", is_flag=True, help="Played at a neutral venue.")
@click.option(
    "--prices",
    default=None,
    metavar="H,D,A|H,A",
    help="Decimal prices per outcome, to report the edge of each.",
)
@json_option
def predict(
    code: str, home: str, away: str, day: str | None, neutral: bool, prices: str | None, as_json: bool
) -> None:
    """Forecast one fixture with the competition's champion from the MLflow registry."""
    from scoreline.forecasts.champion import champion_forecaster

    try:
        forecaster = champion_forecaster(Settings(), code)
    except ValueError as err:  # no champion
        fail(str(err))
    fixture = {"home_team": home, "away_team": away, "neutral": neutral}
    if day:
        fixture["date"] = day
    if prices:
        values = prices.split(",")
        if len(values) != len(forecaster.outcomes):
            fail(
                f"--prices needs {len(forecaster.outcomes)} comma-separated decimal prices "
                f"({', '.join(forecaster.outcomes)}), got {prices!r}"
            )
        fixture |= {f"price_{o}": v for o, v in zip(forecaster.outcomes, values)}
    try:
        [record] = forecaster.forecast_records(pd_frame([fixture]))
    except ValueError as err:  # unknown team (with suggestions), same team twice, bad date/price
        fail(str(err))
    if as_json:
        emit_json(record)
        return
    click.echo(
        f"{code} {record['home_team']} v {record['away_team']} on {record['date']}: "
        f"{record['model_name']} (registry version {record['model_version']})"
    )
    for o in forecaster.outcomes:
        edge = record.get(f"edge_{o}")
        click.echo(
            f"  {o:<5} p={record[f'prob_{o}']:.3f}  fair odds {record[f'fair_odds_{o}']:.2f}"
            + (f"  edge {edge:+.3f}" if edge is not None else "")
        )
    if record.get("expected_goals_home") is not None:
        click.echo(
            f"  expected goals {record['expected_goals_home']:.2f} - "
            f"{record['expected_goals_away']:.2f}; likeliest scores: "
            + ", ".join(f"{s['home']}-{s['away']} ({s['probability']:.3f})" for s in record["top_scores"])
        )
    for target in ("margin", "total"):
        if record.get(target) is not None:
            click.echo(
                f"  {target} {record[target]:+.1f}  80 % [{record[f'{target}_lower_80']:.1f}, "
                f"{record[f'{target}_upper_80']:.1f}]  95 % [{record[f'{target}_lower_95']:.1f}, "
                f"{record[f'{target}_upper_95']:.1f}]"
            )
