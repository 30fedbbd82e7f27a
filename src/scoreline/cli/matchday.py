"""The matchday loop: ``scoreline matchday``, ``settle`` and ``replay``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from scoreline.cli.common import competition_option, emit_json, fail, json_option
from scoreline.config import Settings


@click.command("matchday")
@competition_option
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="Fixtures dated --date to --date + days - 1.",
)
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="First day (default: today, UTC).")
@json_option
def matchday_command(code: str, days: int, day: str | None, as_json: bool) -> None:
    """Forecast the coming fixtures with the champion, store them, propose bets (registry/policy.yaml
    `betting:`); re-running a day adds nothing."""
    from scoreline.matchday import run_matchday

    try:
        result = run_matchday(Settings(), code, day, days)
    except ValueError as err:  # no champion, bad fixture row, unknown team, bad policy
        fail(str(err))
    if as_json:
        emit_json(result.to_dict())
        return
    click.echo(
        f"{code} matchday {result.day} (+{days - 1} days): {result.fixtures} fixtures, "
        f"{result.predicted} forecast ({result.reused} already), champion {result.model_name} "
        f"v{result.model_version}; bankroll {result.bankroll:.2f}"
    )
    for name, verdict in result.gate.items():
        click.echo(f"  {name}: {'STAKED' if verdict['staked'] else 'paper'} ({verdict['reason']})")
    for bet in result.bets.itertuples(index=False):
        click.echo(
            f"  {bet.date} {bet.home_team} v {bet.away_team}: {bet.strategy} {bet.outcome} @ "
            f"{bet.price:.2f} {bet.price_source} (p {bet.probability:.3f}, EV {bet.expected_value:+.3f}) "
            f"{'paper' if bet.paper else 'stake'} {bet.stake:.2f}"
        )
    click.echo(f"  report {result.folder}")


@click.command("settle")
@competition_option
@json_option
def settle_command(code: str, as_json: bool) -> None:
    """Settle predictions and bets on the stored results; P/L, ROI, yield, hit rate and CLV to date."""
    from scoreline.matchday import run_settle

    try:
        result = run_settle(Settings(), code)
    except ValueError as err:  # a bad result row, bad policy
        fail(str(err))
    if as_json:
        emit_json(result.to_dict())
        return
    s = result.summary
    click.echo(
        f"{code}: {result.results_recorded} results recorded, predictions {result.predictions}, "
        f"{result.bets_settled} bets settled"
    )
    for label, figures in (("to date", s), *((f"v{v}", f) for v, f in result.by_version.items())):
        click.echo(
            f"  {label}: {figures['n_settled']} bets settled ({figures['n_open']} open), staked "
            f"{figures['staked']:.2f}, P/L {figures['pnl']:+.2f}, ROI {figures['roi']:+.2%}, "
            f"yield {figures['yield']:+.2%}, hit rate {figures['hit_rate']:.2%}, "
            f"mean CLV {figures['mean_clv']:+.3f}"
        )
    click.echo(f"  bankroll {s['bankroll']:.2f}; report {result.folder}")


@click.command("replay")
@competition_option
@click.option("--season", type=int, required=True, help="Season start year, e.g. 2022 for 2022/23.")
@click.option("--days-ahead", type=click.IntRange(min=1), default=7, show_default=True)
@click.option(
    "--retrain-every",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Days between retrains with the gate (0: only the first champion).",
)
@click.option(
    "--monitor-every",
    type=click.IntRange(min=0),
    default=7,
    show_default=True,
    help="Days between monitor runs (0: never).",
)
@click.option(
    "--models",
    default="elo,dixon_coles",
    show_default=True,
    metavar="NAME[,NAME...]",
    help="Candidate models trained at each retrain.",
)
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the replay's stores here (default: a temporary folder, removed).",
)
@json_option
def replay_command(
    code: str,
    season: int,
    days_ahead: int,
    retrain_every: int,
    monitor_every: int,
    models: str,
    workspace: Path | None,
    as_json: bool,
) -> None:
    """Replay a past season day by day: ingest -> settle -> matchday -> monitor -> retrain with the gate."""
    from scoreline.matchday.replay import ReplayConfig, replay

    try:
        config = ReplayConfig(
            days_ahead=days_ahead,
            retrain_every=retrain_every,
            monitor_every=monitor_every,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
        )
        result = replay(Settings(), code, season, config, workspace)
    except (ValueError, KeyError) as err:  # unknown season or model, first champion rejected
        fail(str(err))
    s = result.summary
    if as_json:
        emit_json(s)
        return
    click.echo(
        f"{code} {season}: {s['days']} days ({s['active_days']} with news), {s['predictions']} "
        f"predictions, {s['n_bets']} bets, staked {s['staked']:.2f}, P/L {s['pnl']:+.2f}, "
        f"ROI {s['roi']:+.2%}, yield {s['yield']:+.2%}, hit rate {s['hit_rate']:.2%}, "
        f"mean CLV {s['mean_clv']:+.3f}"
    )
    click.echo(
        f"  promotions {s['promotions_accepted']} accepted, {s['promotions_rejected']} rejected; "
        f"{s['monitor_runs']} monitor runs, {s['monitor_alerts']} alerts"
    )
    click.echo(
        "  seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items())
        + f"; wall {s['wall_seconds']:.1f}; report {s['report_dir']}"
    )


@click.group("bets")
def bets_group() -> None:
    """The betting strategies' evidence (registry/policy.yaml `betting.strategies`)."""


@bets_group.command("report")
@click.option(
    "--competition",
    "codes",
    multiple=True,
    metavar="CODE",
    help="A football competition (repeat for several; default: the five leagues), or one of "
    "NBA, CFB, NFL (alone: their lines, not football prices).",
)
@click.option(
    "--source",
    default=None,
    metavar="FOLDER",
    help="Folder with soccer/{DIV}_{YYZZ}.csv, or nba/, cfb/, nfl/ (default: the configured data "
    "folder or the download cache).",
)
@click.option(
    "--from-season",
    type=int,
    default=None,
    help="First season (start year; default 2012 for football, Pinnacle's first close; for "
    "NBA/CFB/NFL the first season `scoreline backtest` evaluates).",
)
@click.option(
    "--staking",
    type=click.Choice(["flat", "kelly"]),
    default="flat",
    show_default=True,
    help="flat: the policy's flat_stake per bet; kelly: its fractional Kelly (caps as in the policy).",
)
@click.option("--to-season", type=int, default=None, help="Last season (start year; default: the newest).")
@click.option(
    "--scope",
    type=click.Choice(["pooled", "competition", "season", "all"]),
    default="all",
    show_default=True,
    help="Which rows the table prints (--json holds them all).",
)
@click.option("--mlflow", "to_mlflow", is_flag=True, help="Also log the figures and pictures to MLflow.")
@json_option
def bets_report_command(
    codes: tuple[str, ...],
    source: str | None,
    from_season: int | None,
    to_season: int | None,
    staking: str,
    scope: str,
    to_mlflow: bool,
    as_json: bool,
) -> None:
    """Backtest every strategy on every book's prices: bets, hit rate, ROI, yield, drawdown, CLV
    against Pinnacle's close (multiplicative and Shin) with 95 % bootstrap intervals, per league,
    pooled and per season; and the staking gate's verdict on each. For NBA, CFB or NFL: the
    moneyline and against-the-spread strategies on their lines, CLV against the closing spread
    where the files have an earlier line."""
    import pandas as pd

    from scoreline.data.prices_american import AMERICAN_CODES
    from scoreline.evaluation.betting import Staking
    from scoreline.matchday.evidence import (
        FIRST_PRICED_SEASON,
        FOOTBALL_CODES,
        american_report,
        log_report,
        save_report,
        strategy_report,
    )
    from scoreline.matchday.matchday import betting_rules

    settings = Settings()
    american = [c for c in codes if c.upper() in AMERICAN_CODES]
    try:
        if american and len(codes) > 1:
            raise ValueError(f"--competition {american[0]} reports its own lines: give it alone")
        rules = betting_rules(settings)
        if american:
            report = american_report(
                settings, rules, american[0].upper(), source, from_season, to_season, staking=Staking(staking)
            )
        else:
            report = strategy_report(
                settings,
                rules,
                codes or FOOTBALL_CODES,
                source,
                from_season if from_season is not None else FIRST_PRICED_SEASON,
                to_season,
                staking=Staking(staking),
            )
    except (ValueError, FileNotFoundError) as err:  # no price files, unknown code, bad policy
        fail(str(err))
    stamp = pd.Timestamp.now().strftime("%Y%m%dT%H%M%S")
    folder = save_report(report, settings.reports_path / "bets" / stamp)
    run_id = log_report(settings, report, folder) if to_mlflow else None
    if as_json:
        emit_json({**report.to_dict(), "report_dir": str(folder), "mlflow_run_id": run_id})
        return
    from scoreline.evaluation.betting_tables import MAX_WIDTH, evidence_text

    table = report.evidence.table
    seasons = sorted(str(w) for w in table.index.get_level_values("scope").unique() if str(w).isdigit())
    span = f"seasons {seasons[0]}-{seasons[-1]}" if seasons else "no settled season"
    click.echo(
        f"{', '.join(report.codes)} {span}; stakes {report.policy.label.split(' edge')[0]} of a "
        f"{report.policy.starting_bankroll:g}-unit bankroll, afresh in each scope"
    )
    for line in evidence_text(table, report.codes, scope):
        click.echo(line)
    lines = [f"{name}: skipped ({why})" for name, why in report.evidence.skipped.items()]
    if not american:
        lines.append("staking gate (CLV interval above zero over the last seasons):")
    lines += [
        f"  {name:<16} {'STAKE' if v.staked else 'paper'}: {v.reason}" for name, v in report.verdicts.items()
    ]
    lines += [f"note: {note}" for note in report.notes]
    for line in lines:  # long reasons and notes wrap under MAX_WIDTH
        click.echo("\n".join(textwrap.wrap(line, MAX_WIDTH, subsequent_indent="    ")))
    click.echo(f"  {report.seconds:.1f} s; report {folder}" + (f"; MLflow run {run_id}" if run_id else ""))
