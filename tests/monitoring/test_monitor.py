"""Monitoring on the real data: drift that must be flagged and drift that must not, and a full
run against a registered champion and a prediction store filled by a Forecaster."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner

from scoreline.data.store import MatchStore
from scoreline.forecasts.forecaster import Forecaster
from scoreline.monitoring.drift import reference_features
from scoreline.monitoring.monitor import evaluate, monitor
from scoreline.monitoring.policy import MonitoringPolicy, parse_monitoring_policy
from scoreline.predictions import PredictionStore
from scoreline.promotion import register_model, set_champion
from scoreline.tracking import train_and_log
from scoreline.tracking.pyfunc import history_frame

pytestmark = pytest.mark.realdata

POLICY = MonitoringPolicy(min_current=30, min_settled=30)


@pytest.fixture(scope="module")
def histories(real_ingest):
    """Canonical played-match tables of E0 and D1, as a champion's history holds them."""
    _, settings = real_ingest
    store = MatchStore(settings.store_dir)
    return {code: history_frame(store.results(code)) for code in ("E0", "D1")}


def _seasons(history: pd.DataFrame) -> list[int]:
    return sorted(int(s) for s in history["season"].dropna().unique())


def test_the_next_season_of_the_same_league_does_not_drift(histories):
    e0 = histories["E0"]
    last = _seasons(e0)[-1]
    reference = reference_features(e0.loc[e0["season"] < last], "E0", 2)
    current = reference_features(e0, "E0", 1)  # the last season, as the model would see it
    result = evaluate("E0", reference, current, pd.DataFrame(), {}, POLICY)
    assert result.ok, result.alerts
    assert result.drift.share <= POLICY.drift_share_max
    assert len(result.drift.features) >= 5
    assert result.drift.current_rows == int((e0["season"] == last).sum())


def test_another_league_and_a_shifted_season_drift(histories):
    e0, d1 = histories["E0"], histories["D1"]
    reference = reference_features(e0, "E0", 2)
    other = evaluate("E0", reference, reference_features(d1, "D1", 1), pd.DataFrame(), {}, POLICY)
    first = _seasons(e0)[0]
    early = reference_features(e0.loc[e0["season"] <= first], "E0", 1)  # ratings still forming
    shifted = evaluate("E0", reference, early, pd.DataFrame(), {}, POLICY)
    for result in (other, shifted):
        assert not result.ok
        assert result.drift.share > POLICY.drift_share_max
        assert result.alerts[0].startswith("ALERT: E0 data drift:")
        assert all(name in result.alerts[0] for name in result.drift.drifted[:3])


def test_monitoring_policy_names_a_bad_key():
    assert parse_monitoring_policy({"sports": {}}) == MonitoringPolicy()
    with pytest.raises(ValueError, match=r"monitoring\.drift_share_max"):
        parse_monitoring_policy({"monitoring": {"drift_share_max": 2}})
    with pytest.raises(ValueError, match=r"monitoring\.drift_shar: unknown key"):
        parse_monitoring_policy({"monitoring": {"drift_shar": 0.2}})


@pytest.fixture(scope="module")
def champion(real_ingest, tmp_path_factory):
    """An elo champion of E0 in a temporary registry, and a prediction store holding its
    forecasts (with features) of the last season's last 10 match days, settled on the results."""
    _, ingested = real_ingest
    settings = ingested.model_copy(
        update={
            "registry_dir": tmp_path_factory.mktemp("registry"),
            "reports_dir": tmp_path_factory.mktemp("reports"),
        }
    )
    saved = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        trained = train_and_log(settings, "E0", "elo")
        version = register_model(
            settings,
            "E0",
            trained["model_uri"],
            {
                "model_name": "elo",
                "backtest.log_loss": "np.float64(0.5)",
                "backtest.brier": "0.59",
                "backtest.accuracy": "0.5",
            },
        )
        set_champion(settings, "E0", version.version, "installed by the test")
        pyfunc = mlflow.pyfunc.load_model(trained["model_uri"])
        forecaster = Forecaster.from_pyfunc(
            pyfunc, model_name="elo", version=str(version.version), competition="E0"
        )
        history = forecaster.pyfunc.history
        last = history.loc[history["season"] == history["season"].max()]
        days = sorted(last["date"].unique())[-10:]
        played = last.loc[last["date"].isin(days)]
        fixtures = played[["home_team", "away_team", "date"]].assign(
            date=played["date"].dt.strftime("%Y-%m-%d")
        )
        records = forecaster.forecast_records(fixtures, features=True)
        store = PredictionStore(settings.prediction_store)
        store.record_predictions([{**r, "competition": "E0"} for r in records])
        store.record_results(
            [
                {
                    "competition": "E0",
                    "date": d,
                    "home_team": h,
                    "away_team": a,
                    "home_score": int(hs),
                    "away_score": int(as_),
                }
                for d, h, a, hs, as_ in played[
                    ["date", "home_team", "away_team", "home_score", "away_score"]
                ].itertuples(index=False)
            ]
        )
        store.settle()
        store.close()
    finally:
        mlflow.set_tracking_uri(None)
        if saved is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return settings, len(played)


def test_monitor_writes_report_summary_gauges_and_a_run(champion):
    settings, n = champion
    result = monitor(settings, "E0", days=1, policy=POLICY)
    summary = result.summary
    assert summary["window"]["predictions"] == n and summary["window"]["settled"] == n
    assert summary["drift"]["current_rows"] == n
    live = summary["quality"]["live"]
    assert live["n"] == n and 0.0 < live["log_loss"] < 1.5 and 0.0 <= live["accuracy"] <= 1.0
    assert summary["quality"]["backtest"]["log_loss"] == pytest.approx(0.5)
    assert any(a.startswith("ALERT: E0 live log_loss") for a in result.alerts)  # ~1.0 vs 0.5
    html = open(summary["report_html"]).read()
    assert len(html) > 10_000 and "<html" in html.lower()
    # the report says what was monitored and how it scored live, above Evidently's tabs
    assert "<title>Scoreline monitoring E0" in html and "Monitoring E0: champion version" in html
    header = html[html.index('id="scoreline-header"') : html.index("</section>")]
    assert (
        f"(n = {n})" in header and f"{live['log_loss']:.4f}" in header and "ALERT: E0 live log_loss" in header
    )
    assert "Tests tab: the first test is the drift verdict" in header
    # Evidently's 3.5 MB dashboard script is shared on disk, inline in MLflow's copy
    shared = re.search(r'<script src="\.\./\.\./(evidently-[0-9a-f]{12}\.js)"></script>', html)
    assert shared and len(html) < 4_000_000
    library = os.path.join(summary["folder"], "..", "..", shared.group(1))
    assert "window.drawDashboard=" in open(library).read()
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    logged = client.download_artifacts(
        summary["run_id"], "monitoring/report.html", str(settings.reports_path)
    )
    assert "window.drawDashboard=" in open(logged).read() and "scoreline-header" in open(logged).read()
    stored = json.loads(open(os.path.join(summary["folder"], "summary.json")).read())
    assert stored["alerts"] == result.alerts and stored["run_id"] == summary["run_id"]
    gauges = open(summary["gauges"]).read()
    assert f'scoreline_monitor_settled_predictions{{competition="E0"}} {float(n)!r}' in gauges
    assert 'scoreline_monitor_live{competition="E0",metric="log_loss"}' in gauges
    run = mlflow.MlflowClient(settings.mlflow_tracking_uri).get_run(summary["run_id"])
    assert run.data.tags["step"] == "monitor"
    assert run.data.metrics["live.log_loss"] == pytest.approx(live["log_loss"])
    mlflow.set_tracking_uri(None)


def test_a_breached_threshold_exits_non_zero_with_an_alert(champion, monkeypatch):
    from scoreline.cli import main

    settings, n = champion
    policy = settings.registry_path / "policy.yaml"
    policy.write_text(
        "monitoring:\n  min_current: 30\n  min_settled: 30\n"
        "  log_loss_worse_by_max: 0.0\n  drift_share_max: 1.0\n"
    )
    for name, value in (
        ("SCORELINE_HOME", settings.home),
        ("SCORELINE_DATA_DIR", settings.data_dir),
        ("SCORELINE_REGISTRY_DIR", settings.registry_path),
        ("SCORELINE_REPORTS_DIR", settings.reports_path),
    ):
        if value is not None:
            monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = CliRunner().invoke(main, ["monitor", "--competition", "E0", "--days", "1", "--json"])
    summary = json.loads(run.stdout)
    assert run.exit_code == 1, run.output
    assert [a for a in summary["alerts"] if a.startswith("ALERT: E0 live log_loss")]
    assert "ALERT: E0 live log_loss" in run.stderr
    assert summary["quality"]["live"]["n"] == n
    policy.write_text(
        "monitoring:\n  min_settled: 30\n  log_loss_worse_by_max: 5.0\n  drift_share_max: 1.0\n"
    )
    calm = CliRunner().invoke(main, ["monitor", "--competition", "E0", "--days", "1"])
    assert calm.exit_code == 0, calm.output
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize("window", [{"days": 1}, {"since": "2100-01-01"}], ids=["predictions", "none"])
def test_the_monitor_notebook_runs_with_and_without_recent_predictions(
    champion, window, tmp_path, monkeypatch
):
    import papermill

    settings, _ = champion
    root = Path(__file__).resolve().parents[2]
    for name in ("home", "data_dir", "registry_dir", "reports_dir"):
        monkeypatch.setenv(f"SCORELINE_{name.upper()}", str(getattr(settings, name)))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    papermill.execute_notebook(
        str(root / "notebooks" / "monitor.ipynb"),
        str(tmp_path / "monitor.ipynb"),
        parameters={**window, "fail_on_alert": False, "run_dir": str(tmp_path)},
        kernel_name="scoreline",
        cwd=str(root / "notebooks"),
        progress_bar=False,
    )
    summary = json.loads((tmp_path / "monitor_E0.json").read_text())
    assert bool(summary["drift"]) == ("days" in window)


def test_the_window_is_sized_by_matches_and_named_by_the_monitored_day(champion):
    """A day's window holds none of the settled forecasts (made when the fixture ran): the
    window reaches back until it holds ``current_matches`` of them; the folder is the day's."""
    settings, n = champion
    day = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    policy = POLICY.model_copy(update={"current_days": 1, "current_matches": n, "max_days": 60})
    result = monitor(settings, "E0", policy=policy, now=day)
    assert result.summary["window"]["settled"] == n and result.summary["quality"]["live"]["n"] == n
    assert os.path.basename(result.summary["folder"]).startswith(day.strftime("%Y%m%dT"))
    mlflow.set_tracking_uri(None)
