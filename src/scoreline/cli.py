"""The ``scoreline`` command: thin wiring over the library; every figure also as ``--json``."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click

from scoreline.config import COMPETITIONS, Settings


def _json_safe(value):
    """NaN/inf are not JSON: emit them as null so any parser reads the output."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _emit_json(payload: dict) -> None:
    click.echo(json.dumps(_json_safe(json.loads(json.dumps(payload, default=str))), allow_nan=False))


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scoreline")
def main() -> None:
    """Scoreline: sports match forecasting workspace."""
    # MLflow's artifact-download progress bars would interleave with the tables and --json
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@main.command()
@click.option("--source", default=None, metavar="PATH|URL",
              help="Folder laid out like shared/data, or a football-data.co.uk style base URL. "
                   "Default: $SCORELINE_DATA_SOURCE, else https://www.football-data.co.uk.")
@click.option("--competition", "codes", multiple=True, type=click.Choice(list(COMPETITIONS)),
              help="Only these competitions (repeatable). Default: all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def ingest(source: str | None, codes: tuple[str, ...], as_json: bool) -> None:
    """Read, validate and store match data; print the validation summary."""
    from scoreline.data.ingest import ingest as run_ingest, save_report
    from scoreline.data.parsing import FileParseError
    from scoreline.data.sources import SourceError

    settings = Settings()
    try:
        report = run_ingest(settings, source or None, list(codes) or None)
    except (SourceError, FileParseError) as err:
        _fail(str(err))
    folder = save_report(report, settings.reports_path / "ingest")
    if as_json:
        _emit_json({**report.to_dict(), "report_dir": str(folder)})
        return
    table = report.by_competition()
    click.echo(f"source: {report.source}")
    click.echo(table.to_string())
    click.echo(f"total: {int(table['rows'].sum())} rows read, {int(table['results'].sum())} results, "
               f"{int(table['fixtures'].sum())} fixtures, {int(table['quarantined'].sum())} quarantined "
               f"from {len(report.files)} files in {report.seconds:.1f} s")
    if len(report.quarantine):
        reasons = report.quarantine["reason"].str.split("; ").explode().str.replace(r"\(.*\)", "(...)", regex=True)
        click.echo("quarantine reasons:")
        for reason, count in reasons.value_counts().head(10).items():
            click.echo(f"  {count:6d}  {reason}")
    for note in report.notes:
        click.echo(f"note: {note}")
    state = f"snapshot {report.snapshot}" if report.changed else f"unchanged (snapshot {report.snapshot})"
    click.echo(f"store: {settings.store_dir} {state}")
    click.echo(f"validation report: {folder}")


@main.command()
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--models", default=None, metavar="NAME[,NAME...]",
              help="Comma-separated model names (default: every model of the sport). "
                   "Market benchmarks are always included.")
@click.option("--from-season", type=int, default=None,
              help="First evaluated season (start year). Default: 2012 football, 2005 NFL, 2020 NBA (2020-21), 2021 CFB.")
@click.option("--window", type=click.Choice(["week", "month"]), default="week", show_default=True,
              help="Prediction window between refits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def backtest(code: str, models: str | None, from_season: int | None, window: str, as_json: bool) -> None:
    """Walk-forward backtest: every model next to the de-vigged market on the same matches."""
    from dataclasses import replace

    from scoreline.config import competition
    from scoreline.evaluation.competition import backtest_competition, default_config

    settings = Settings()
    config = replace(default_config(competition(code), from_season), window=window)
    names = [n.strip() for n in models.split(",")] if models else None
    try:
        report = backtest_competition(settings, code, names, config)
    except (KeyError, ValueError) as err:
        _fail(str(err).strip("'\""))
    if as_json:
        _emit_json(report.to_dict())
        return
    scores = report.scores
    click.echo(f"{code} walk-forward from {config.from_season}: {len(report.result.predictions)} matches, "
               f"{report.result.n_refits} refits, {report.seconds:.1f} s")
    click.echo(scores.table())
    if len(report.betting):
        click.echo("\nbetting at pre-closing prices (CLV against the de-vigged close):")
        cols = ["n_bets", "staked", "pnl", "yield", "max_drawdown", "mean_clv", "share_beating_close"]
        click.echo(report.betting[cols].round(3).to_string())
    click.echo(f"\nreport: {report.folder}")


@main.command()
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--model", "name", required=True, help="A model name of the competition's catalogue.")
@click.option("--trials", type=int, default=20, show_default=True)
@click.option("--from-season", type=int, default=None,
              help="First evaluated season; tuning uses the seasons before it only.")
@click.option("--validation-seasons", type=int, default=3, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the study (run the command on several machines "
                   "against one $SCORELINE_OPTUNA_STORAGE to add theirs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def tune(code: str, name: str, trials: int, from_season: int | None, validation_seasons: int,
         workers: int, as_json: bool) -> None:
    """Optuna search of one model's hyper-parameters on the seasons before the evaluation;
    each trial is an MLflow child run of one ``tune`` run."""
    from scoreline.config import competition
    from scoreline.data.store import MatchStore
    from scoreline.evaluation.competition import default_config
    from scoreline.features.builder import competition_features
    from scoreline.models import catalog
    from scoreline.tuning import TuningError, tune as run_tune

    settings = Settings()
    comp = competition(code)
    models = catalog.models(comp)
    if name not in models:
        _fail(f"unknown model {name!r} for {code}; available: {', '.join(models)}")
    matches = MatchStore(settings.store_dir).results(code)
    if matches.empty:
        _fail(f"no stored results for {code}: run `scoreline ingest` first")
    data = matches.join(competition_features(matches, comp))
    first = default_config(comp, from_season).from_season
    try:
        result = run_tune(settings, comp, name, models[name], data, first, trials, validation_seasons,
                          workers=workers)
    except (KeyError, ValueError, TuningError) as err:
        _fail(str(err).strip("'\""))
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(f"study {result.study_name}: {result.n_trials} trials in total, best validation "
               f"score {result.best_value:.5f} ({first - validation_seasons}-{first - 1}) in {result.seconds:.1f} s")
    click.echo(f"best parameters: {json.dumps(result.best_params)}")
    click.echo(f"trials of this call: child runs of MLflow run {result.run_id} ({result.workers} worker(s))")
    click.echo(f"written to {result.path} (used by backtests and training from now on)")


@main.command("promote")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--model", default=None, metavar="NAME",
              help="Judge this trained model. Default: the best eligible model of the backtest.")
@click.option("--backtest-run", default=None, metavar="RUN_ID",
              help="The backtest run to judge by. Default: the latest FINISHED one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def promote_command(code: str, model: str | None, backtest_run: str | None, as_json: bool) -> None:
    """Gate a candidate against registry/policy.yaml, register it, and make it champion if every
    rule passes (exit 1 when the gate fails; the version is registered either way)."""
    from scoreline.promotion import CandidateError, PolicyError, promote

    try:
        result = promote(Settings(), code, model, backtest_run)
    except (CandidateError, PolicyError, TimeoutError) as err:
        _fail(str(err))
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(f"{result.registered_model} version {result.version}: {result.model_name} "
                   f"(backtest run {result.backtest_run_id}, train run {result.train_run_id})")
        click.echo(result.gate.to_text())
        click.echo(f"champion: version {result.champion}, previous: {result.previous or 'none'}")
        click.echo(f"model card and gate table: MLflow run {result.run_id}")
    if not result.promoted:
        failed = "; ".join(f"{r.rule} {r.metric}".strip() + (f" by {-r.margin:.4f}" if r.margin is not None else "")
                           + (f" ({r.note})" if r.note else "") for r in result.gate.failures)
        _fail(f"gate failed, {result.registered_model} champion unchanged: {failed}", code=1)


@main.command("rollback")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rollback_command(code: str, as_json: bool) -> None:
    """Move the champion alias back to the previous champion."""
    from scoreline.promotion import PREVIOUS, champion_version, registered_model_name, rollback

    settings = Settings()
    try:
        version = rollback(settings, code)
    except (ValueError, TimeoutError) as err:
        _fail(str(err))
    previous = champion_version(settings, code, PREVIOUS)
    payload = {"competition": code, "registered_model": registered_model_name(code),
               "champion": str(version.version), "model_name": version.tags.get("model_name"),
               "previous": str(previous.version) if previous else None}
    if as_json:
        _emit_json(payload)
        return
    click.echo(f"{payload['registered_model']}: champion is version {payload['champion']} "
               f"({payload['model_name']}), previous: {payload['previous'] or 'none'}")


@main.group()
def pipeline() -> None:
    """Run pipeline specs (pipelines/*.yaml): notebooks executed by papermill, tracked in MLflow."""


@pipeline.command("run")
@click.argument("name")
@click.option("-p", "--parameter", "overrides", multiple=True, metavar="[STEP.]KEY=VALUE",
              help="Override a parameter (value parsed as YAML): KEY=VALUE for the pipeline, "
                   "STEP.KEY=VALUE for one step. Repeatable.")
@click.option("--force", is_flag=True, help="Run every step, even those unchanged since their last success.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of progress lines.")
def pipeline_run(name: str, overrides: tuple[str, ...], force: bool, as_json: bool) -> None:
    """Run the pipeline NAME (pipelines/NAME.yaml or a path), skipping unchanged steps."""
    from scoreline.pipeline import SpecError, StepFailed, apply_overrides, load_spec, run_pipeline

    settings = Settings()

    def progress(position: int, total: int, step: str, result) -> None:
        if as_json:
            return
        if result is None:
            click.echo(f"[{position}/{total}] {step} ... ", nl=False)
        elif result.status == "skipped":
            click.echo(f"skipped (unchanged since {result.reused_run})")
        else:
            click.echo(f"{result.status} {result.seconds:.1f} s")

    from scoreline.data.sources import SourceUnavailable, check_reachable

    try:
        spec = apply_overrides(load_spec(name, settings.home), overrides)
        if any(Path(step.notebook).name == "ingest.ipynb" for step in spec.steps):
            check_reachable(settings.source)
        run = run_pipeline(spec, settings, force=force, progress=progress)
    except (SpecError, SourceUnavailable) as err:
        _fail(str(err))
    except StepFailed as err:
        if as_json:
            _emit_json({**err.run.to_dict(), "error": str(err)})
        _fail(str(err), code=1)
    if as_json:
        _emit_json(run.to_dict())
        return
    ran = sum(s.status == "ran" for s in run.steps)
    click.echo(f"{run.pipeline} {run.run_id}: {ran} ran, {len(run.steps) - ran} skipped in {run.seconds:.1f} s")
    click.echo(f"executed notebooks: {run.run_dir}")
    server = settings.mlflow_tracking_uri if settings.mlflow_tracking_uri.startswith("http") else None
    click.echo(f"MLflow: experiment {run.experiment}, run {run.mlflow_run_id} "
               f"(browse {'at ' + server if server else 'with `make ui`'})")


@pipeline.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def pipeline_list(as_json: bool) -> None:
    """The pipeline specs under pipelines/ with their steps (invalid specs show their error)."""
    from scoreline.pipeline import SpecError, available_specs, load_spec

    settings = Settings()
    specs = []
    for path in available_specs(settings.home):
        try:
            spec = load_spec(path, settings.home)
        except SpecError as err:
            specs.append({"name": path.stem, "path": str(path), "error": str(err)})
            continue
        specs.append({"name": spec.name, "path": str(path), "description": spec.description,
                      "parameters": spec.parameters,
                      "steps": [{"name": s.name, "notebook": s.notebook} for s in spec.steps]})
    if as_json:
        _emit_json({"pipelines": specs})
        return
    if not specs:
        click.echo(f"no pipeline specs in {settings.home / 'pipelines'}")
    for item in specs:
        if "error" in item:
            click.echo(f"{item['name']}: INVALID: {item['error']}")
            continue
        click.echo(f"{item['name']}: {item['description']}".rstrip(": "))
        for i, step in enumerate(item["steps"], 1):
            click.echo(f"  {i}. {step['name']:<16} {step['notebook']}")


@main.command()
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.argument("home")
@click.argument("away")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="Match date (default: today).")
@click.option("--neutral", is_flag=True, help="Played at a neutral venue.")
@click.option("--prices", default=None, metavar="H,D,A|H,A",
              help="Decimal prices per outcome, to report the edge of each.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def predict(code: str, home: str, away: str, day: str | None, neutral: bool, prices: str | None,
            as_json: bool) -> None:
    """Forecast one fixture with the competition's champion from the MLflow registry."""
    import mlflow

    from scoreline.promotion import champion_uri, champion_version
    from scoreline.serving.forecast import Forecaster
    from scoreline.tracking import _prepare_store

    settings = Settings()
    version = champion_version(settings, code)
    if version is None:
        _fail(f"{code} has no champion yet: run the weekly_training pipeline or `scoreline promote "
              f"--competition {code}`")
    mlflow.set_tracking_uri(_prepare_store(settings))
    forecaster = Forecaster.from_pyfunc(
        mlflow.pyfunc.load_model(champion_uri(code)), competition=code,
        model_name=version.tags.get("model_name", "?"), version=str(version.version))
    fixture = {"home_team": home, "away_team": away, "neutral": neutral}
    if day:
        fixture["date"] = day
    if prices:
        values = prices.split(",")
        if len(values) != len(forecaster.outcomes):
            _fail(f"--prices needs {len(forecaster.outcomes)} comma-separated decimal prices "
                  f"({', '.join(forecaster.outcomes)}), got {prices!r}")
        fixture |= {f"price_{o}": v for o, v in zip(forecaster.outcomes, values)}
    try:
        [record] = forecaster.forecast_records(pd_frame([fixture]))
    except ValueError as err:  # unknown team (with suggestions), same team twice, bad date/price
        _fail(str(err))
    if as_json:
        _emit_json(record)
        return
    click.echo(f"{code} {record['home_team']} v {record['away_team']} on {record['date']}: "
               f"{record['model_name']} (registry version {record['model_version']})")
    for o in forecaster.outcomes:
        edge = record.get(f"edge_{o}")
        click.echo(f"  {o:<5} p={record[f'prob_{o}']:.3f}  fair odds {record[f'fair_odds_{o}']:.2f}"
                   + (f"  edge {edge:+.3f}" if edge is not None else ""))
    if record.get("expected_goals_home") is not None:
        click.echo(f"  expected goals {record['expected_goals_home']:.2f} - "
                   f"{record['expected_goals_away']:.2f}; likeliest scores: "
                   + ", ".join(f"{s['home']}-{s['away']} ({s['probability']:.3f})"
                               for s in record["top_scores"]))
    for target in ("margin", "total"):
        if record.get(target) is not None:
            click.echo(f"  {target} {record[target]:+.1f}  80 % [{record[f'{target}_lower_80']:.1f}, "
                       f"{record[f'{target}_upper_80']:.1f}]  95 % [{record[f'{target}_lower_95']:.1f}, "
                       f"{record[f'{target}_upper_95']:.1f}]")


@main.command("monitor")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--since", default=None, metavar="YYYY-MM-DD[THH:MM]",
              help="Predictions created at or after this UTC time.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Predictions of the last N days. Default: the policy's current_days.")
@click.option("--parent-run-id", default="", help="Nest the MLflow run under this pipeline run.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def monitor_command(code: str, since: str | None, days: int | None, parent_run_id: str,
                    as_json: bool) -> None:
    """Drift and live quality of the champion; exit 1 with ALERT lines when a threshold of
    registry/policy.yaml `monitoring:` is breached (a scheduler then runs weekly_training)."""
    from scoreline.monitoring import monitor

    if since is not None and days is not None:
        _fail("give --since or --days, not both")
    try:
        result = monitor(Settings(), code, since=since, days=days, parent_run_id=parent_run_id)
    except ValueError as err:  # no champion, bad policy, bad --since, nothing comparable
        _fail(str(err))
    summary = result.summary
    if as_json:
        _emit_json(summary)
    else:
        drift = summary["drift"]
        live = summary["quality"]["live"]
        click.echo(f"{code} champion v{summary['champion']['version']} "
                   f"({summary['champion']['model_name']}), predictions since {summary['window']['since']}: "
                   f"{summary['window']['predictions']} ({summary['window']['settled']} settled)")
        if drift:
            click.echo(f"  drift: {len(drift['drifted'])} of {len(drift['features'])} features "
                       f"(share {drift['share']:.2f}); report {summary['report_html']}")
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


@main.command("matchday")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--days", type=click.IntRange(min=1), default=7, show_default=True,
              help="Fixtures dated --date to --date + days - 1.")
@click.option("--date", "day", default=None, metavar="YYYY-MM-DD", help="First day (default: today, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def matchday_command(code: str, days: int, day: str | None, as_json: bool) -> None:
    """Forecast the coming fixtures with the champion, store them, propose bets (registry/policy.yaml
    `betting:`); re-running a day adds nothing."""
    from scoreline.matchday import run_matchday

    try:
        result = run_matchday(Settings(), code, day, days)
    except ValueError as err:  # no champion, bad fixture row, unknown team, bad policy
        _fail(str(err))
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(f"{code} matchday {result.day} (+{days - 1} days): {result.fixtures} fixtures, "
               f"{result.predicted} forecast ({result.reused} already), champion {result.model_name} "
               f"v{result.model_version}; bankroll {result.bankroll:.2f}")
    for bet in result.bets.itertuples(index=False):
        click.echo(f"  {bet.date} {bet.home_team} v {bet.away_team}: {bet.outcome} @ {bet.price:.2f} "
                   f"(p {bet.probability:.3f}, EV {bet.expected_value:+.3f}) stake {bet.stake:.2f}")
    click.echo(f"  report {result.folder}")


@main.command("settle")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def settle_command(code: str, as_json: bool) -> None:
    """Settle predictions and bets on the stored results; P/L, ROI, yield, hit rate and CLV to date."""
    from scoreline.matchday import run_settle

    try:
        result = run_settle(Settings(), code)
    except ValueError as err:  # a bad result row, bad policy
        _fail(str(err))
    if as_json:
        _emit_json(result.to_dict())
        return
    s = result.summary
    click.echo(f"{code}: {result.results_recorded} results recorded, predictions {result.predictions}, "
               f"{result.bets_settled} bets settled")
    for label, figures in (("to date", s), *((f"v{v}", f) for v, f in result.by_version.items())):
        click.echo(f"  {label}: {figures['n_settled']} bets settled ({figures['n_open']} open), staked "
                   f"{figures['staked']:.2f}, P/L {figures['pnl']:+.2f}, ROI {figures['roi']:+.2%}, "
                   f"yield {figures['yield']:+.2%}, hit rate {figures['hit_rate']:.2%}, "
                   f"mean CLV {figures['mean_clv']:+.3f}")
    click.echo(f"  bankroll {s['bankroll']:.2f}; report {result.folder}")


@main.command("replay")
@click.option("--competition", "code", required=True, type=click.Choice(list(COMPETITIONS)))
@click.option("--season", type=int, required=True, help="Season start year, e.g. 2022 for 2022/23.")
@click.option("--days-ahead", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--retrain-every", type=click.IntRange(min=0), default=7, show_default=True,
              help="Days between retrains with the gate (0: only the first champion).")
@click.option("--monitor-every", type=click.IntRange(min=0), default=7, show_default=True,
              help="Days between monitor runs (0: never).")
@click.option("--models", default="elo,dixon_coles", show_default=True, metavar="NAME[,NAME...]",
              help="Candidate models trained at each retrain.")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the replay's stores here (default: a temporary folder, removed).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def replay_command(code: str, season: int, days_ahead: int, retrain_every: int, monitor_every: int,
                   models: str, workspace: Path | None, as_json: bool) -> None:
    """Replay a past season day by day: ingest -> settle -> matchday -> monitor -> retrain with the gate."""
    from scoreline.matchday.replay import ReplayConfig, replay

    try:
        config = ReplayConfig(days_ahead=days_ahead, retrain_every=retrain_every,
                              monitor_every=monitor_every,
                              models=tuple(m.strip() for m in models.split(",") if m.strip()))
        result = replay(Settings(), code, season, config, workspace)
    except (ValueError, KeyError) as err:  # unknown season or model, first champion rejected
        _fail(str(err))
    s = result.summary
    if as_json:
        _emit_json(s)
        return
    click.echo(f"{code} {season}: {s['days']} days ({s['active_days']} with news), {s['predictions']} "
               f"predictions, {s['n_bets']} bets, staked {s['staked']:.2f}, P/L {s['pnl']:+.2f}, "
               f"ROI {s['roi']:+.2%}, yield {s['yield']:+.2%}, hit rate {s['hit_rate']:.2%}, "
               f"mean CLV {s['mean_clv']:+.3f}")
    click.echo(f"  promotions {s['promotions_accepted']} accepted, {s['promotions_rejected']} rejected; "
               f"{s['monitor_runs']} monitor runs, {s['monitor_alerts']} alerts")
    click.echo("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in s["seconds"].items())
               + f"; wall {s['wall_seconds']:.1f}; report {s['report_dir']}")


@main.command("health")
@click.option("--service-url", default=None, metavar="URL",
              help="Readiness URL. Default: $SCORELINE_SERVICE_URL, else http://127.0.0.1:3000/readyz.")
@click.option("--no-service", is_flag=True, help="Skip the service check.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def health_command(service_url: str | None, no_service: bool, as_json: bool) -> None:
    """Check the match store, registry, champions, prediction store and service; exit 1 if
    anything is wrong."""
    from scoreline.operations import SERVICE_URL, checks_to_dict, health

    url = None if no_service else (service_url or os.environ.get("SCORELINE_SERVICE_URL") or SERVICE_URL)
    checks = health(Settings(), url)
    report = checks_to_dict(checks)
    if as_json:
        _emit_json(report)
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name:<18} {check.detail}")
    if not report["ok"]:
        sys.exit(1)


@main.command("backup")
@click.option("--to", "folder", type=click.Path(path_type=Path), default=None,
              help="Backup folder (new or empty). Default: backups/<UTC stamp>/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def backup_command(folder: Path | None, as_json: bool) -> None:
    """Consistent copy of the registry databases (SQLite online backup) and artifacts."""
    from scoreline.operations import backup, verify_backup

    try:
        written = backup(Settings(), folder)
    except (FileExistsError, FileNotFoundError, RuntimeError) as err:
        _fail(str(err))
    manifest = verify_backup(written)
    if as_json:
        _emit_json({"folder": str(written), **manifest})
        return
    click.echo(f"backup in {written}:")
    for name, info in manifest["files"].items():
        click.echo(f"  {name:<16} {info['bytes']:>12,} bytes  sha256 {info['sha256'][:16]}")
    for name, command in manifest.get("not_included", {}).items():
        click.echo(f"  not included: {name} is in PostgreSQL; back it up with `{command}`")


@main.command("restore")
@click.option("--from", "folder", required=True, type=click.Path(path_type=Path, exists=True,
                                                                 file_okay=False))
@click.option("--force", is_flag=True, help="Replace existing databases and artifacts.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def restore_command(folder: Path, force: bool, as_json: bool) -> None:
    """Restore a backup after checking its manifest (stop the service first)."""
    from scoreline.operations import restore

    try:
        written = restore(Settings(), folder, force=force)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        _fail(str(err))
    if as_json:
        _emit_json({"restored": [str(p) for p in written]})
        return
    for path in written:
        click.echo(f"restored {path}")


@main.command("migrate-store")
@click.option("--to", "target", required=True, metavar="URL",
              help="The new prediction store (SQLAlchemy URL, e.g. postgresql+psycopg://...); must be empty.")
@click.option("--from", "source", default=None, metavar="URL",
              help="The store to copy. Default: the SQLite store under registry/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def migrate_store_command(target: str, source: str | None, as_json: bool) -> None:
    """Copy the prediction store into a new database (SQLite to PostgreSQL for team mode), all
    or nothing; then point SCORELINE_PREDICTION_STORE_URL (or the team database) at it."""
    from sqlalchemy.engine import make_url

    from scoreline.matchday.book import metadata as bet_book
    from scoreline.serving.store import PredictionStore, copy_store

    settings = Settings()
    source = source or f"sqlite:///{settings.registry_path / 'predictions.db'}"
    path = source.removeprefix("sqlite:///").split("?", 1)[0]
    if source.startswith("sqlite:///") and not Path(path).is_file():
        _fail(f"--from: no prediction store at {path}")
    try:
        stores = [PredictionStore(source), PredictionStore(target)]
    except Exception as err:  # a bad URL or an unreachable server
        _fail(f"cannot open the stores: {type(err).__name__}: {err}")
    try:
        copied = copy_store(*stores, extra=[bet_book])
    except ValueError as err:
        _fail(str(err))
    finally:
        for store in stores:
            store.close()
    shown = {"from": make_url(source).render_as_string(hide_password=True),
             "to": make_url(target).render_as_string(hide_password=True)}
    if as_json:
        _emit_json({**shown, "rows": copied})
        return
    click.echo(f"copied {shown['from']} -> {shown['to']}: "
               + ", ".join(f"{table} {n:,}" for table, n in copied.items()))


def pd_frame(rows: list[dict]):
    """A data frame of ``rows`` (pandas imported only by the commands that need it)."""
    import pandas as pd

    return pd.DataFrame(rows)


@main.command("package")
@click.option("--competition", "codes", multiple=True, type=click.Choice(list(COMPETITIONS)),
              help="Only these competitions (repeatable). Default: every one with a champion.")
@click.option("--build", is_flag=True, help="Then build the bento (bentos/bentofile.yaml).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def package_command(codes: tuple[str, ...], build: bool, as_json: bool) -> None:
    """Export the registry's champions into the BentoML model store (and build the bento)."""
    import os

    from scoreline.serving.package import build_bento, export_champions

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = Settings()
    try:
        exported = export_champions(settings, list(codes) or None)
        bento = build_bento(settings) if build else None
    except (ValueError, RuntimeError) as err:
        _fail(str(err))
    if as_json:
        _emit_json({"bentoml_home": str(settings.bentoml_home), "bento": bento,
                    "models": [e.to_dict() for e in exported]})
        return
    for e in exported:
        click.echo(f"{e.competition}: {e.registered_model} version {e.registry_version} "
                   f"({e.model_name}) -> {e.bento_model}" + ("" if e.created else " (already exported)"))
    click.echo(f"BentoML store: {settings.bentoml_home}")
    if bento:
        click.echo(f"bento: {bento} (run it: BENTOML_HOME={settings.bentoml_home} bentoml serve {bento})")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes, each with every champion. Default: $SCORELINE_SERVE_WORKERS, else one per CPU core.")
@click.option("--no-export", is_flag=True, help="Serve the champions already in the BentoML store.")
def serve(port: int, host: str, workers: int | None, no_export: bool) -> None:
    """Export the champions and serve them with BentoML (the path a built bento takes too)."""
    import os

    from scoreline.serving.package import export_champions

    settings = Settings()
    if not no_export:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        try:
            exported = export_champions(settings)
        except ValueError as err:
            _fail(str(err))
        for e in exported:
            click.echo(f"serving {e.competition}: {e.registered_model} version {e.registry_version} "
                       f"({e.model_name})")
    env = {**os.environ, "BENTOML_HOME": str(settings.bentoml_home), "BENTOML_DO_NOT_TRACK": "true",
           "SCORELINE_HOME": str(settings.home)}
    if workers:
        env["SCORELINE_SERVE_WORKERS"] = str(workers)
    sys.stdout.flush()
    # exec: the PID that started is the server's, so signals reach it
    os.execve(sys.executable, [sys.executable, "-m", "bentoml", "serve",
                               "scoreline.serving.service:Scoreline", "--host", host,
                               "--port", str(port)], env)


if __name__ == "__main__":
    main()
