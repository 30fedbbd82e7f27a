"""MLflow tracking: artifact locations, nested step runs, the pyfunc model and backtest logging."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from leagues import poisson_league
from scoreline.config import competition
from scoreline.data.store import MatchStore
from scoreline.features.builder import competition_features
from scoreline.models.baselines import BaseRates
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.ratings import RatingModel
from scoreline.tracking import (
    MatchModelPyfunc,
    experiment_id,
    log_data_snapshot,
    log_model,
    model_requirements,
    step_run,
)


def league(seasons=range(2010, 2012), seed=3) -> pd.DataFrame:
    return poisson_league(seasons, seed, strength_sd=0.35, prices=True)


@pytest.fixture
def tracked(settings):
    """Settings whose tracking store is a SQLite file in the temporary workspace."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    yield settings
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # also unsets MLFLOW_TRACKING_URI, which MLflow exported


def test_experiments_keep_artifacts_under_the_registry_whatever_the_cwd(tracked, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    eid = experiment_id("E0", tracked)
    assert experiment_id("E0", tracked) == eid  # get, not create twice
    location = mlflow.MlflowClient().get_experiment(eid).artifact_location
    assert location == (tracked.registry_path / "artifacts" / "E0").resolve().as_uri()
    assert tracked.mlflow_tracking_uri.startswith("sqlite:///")
    assert (tracked.registry_path / "mlflow.db").is_file()
    assert not (elsewhere / "mlruns").exists()


def test_step_run_nests_under_the_given_parent_and_records_failure(tracked):
    with step_run("", "pipeline", None, tracked) as parent:
        pass
    parent_id = parent.info.run_id
    with step_run(parent_id, "features", "E0", tracked) as child:
        mlflow.log_metric("x", 1.0)
    client = mlflow.MlflowClient()
    run = client.get_run(child.info.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent_id
    assert run.data.tags["step"] == "features" and run.data.tags["competition"] == "E0"
    assert "git_commit" in run.data.tags
    assert run.info.status == "FINISHED"
    # nested in the UI: the child lives in its parent's experiment, not in E0
    assert run.info.experiment_id == client.get_run(parent_id).info.experiment_id
    assert client.get_experiment(run.info.experiment_id).name == "scoreline"
    assert run.info.run_name == "features-E0"

    with pytest.raises(RuntimeError):
        with step_run(parent_id, "train", "E0", tracked, detail="dixon_coles") as failed:
            raise RuntimeError("boom")
    assert client.get_run(failed.info.run_id).info.status == "FAILED"
    assert client.get_run(failed.info.run_id).info.run_name == "train-E0-dixon_coles"
    assert mlflow.active_run() is None
    assert "mlflow.parentRunId" not in client.get_run(parent_id).data.tags


def test_runs_on_their_own_live_in_their_competition_s_described_experiment(tracked, monkeypatch):
    monkeypatch.setenv("SCORELINE_STEP_NOTEBOOK", "notebooks/train.ipynb")
    settings = tracked.model_copy(update={"step_notebook": "notebooks/train.ipynb"})
    with step_run("", "train", "E0", settings, detail="elo") as run:
        pass
    client = mlflow.MlflowClient()
    found = client.get_run(run.info.run_id)
    experiment = client.get_experiment(found.info.experiment_id)
    assert experiment.name == "E0" and found.info.run_name == "train-E0-elo"
    assert experiment.tags["mlflow.note.content"].startswith("English Premier League (E0)")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on runs
    assert found.data.tags["mlflow.source.name"] == "notebooks/train.ipynb"
    default = client.get_experiment_by_name("Default")
    assert default is None or default.lifecycle_stage == "deleted"  # no empty Default in the UI


def test_log_data_snapshot_records_hash_and_rows(tracked):
    from scoreline.data import schema
    from scoreline.data.store import Snapshot

    matches = schema.conform(league().assign(source_file="x.csv", source_line=1))
    store = MatchStore(tracked.store_dir)
    with store.lock():
        store.commit(Snapshot(matches, schema.empty_matches(), schema.empty_quarantine()), {})
    with step_run("", "ingest", None, tracked) as run:
        logged = log_data_snapshot(store, "E0")
    params = mlflow.MlflowClient().get_run(run.info.run_id).data.params
    assert params["data_content_hash"] == store.manifest()["content_hash"]
    assert int(params["data_rows_results"]) == len(matches) == logged["data_rows_E0_results"]


@pytest.mark.parametrize(
    "make_model", [DixonColes, BaseRates, lambda: RatingModel("elo_home_expected", transform="logit")]
)
def test_pyfunc_forecasts_raw_fixtures_like_the_model_on_the_same_features(tracked, make_model):
    data = league()
    history, upcoming = data.iloc[:-5].copy(), data.iloc[-5:].copy()
    comp = competition("E0")
    model = make_model().fit(history.join(competition_features(history, comp)))

    with step_run("", "train", "E0", tracked):
        uri = log_model(model, "model", "E0", history, tracked)
    loaded = mlflow.pyfunc.load_model(uri)

    raw = upcoming[["home_team", "away_team", "date"]].reset_index(drop=True)
    got = loaded.predict(raw)
    combined = pd.concat([history, upcoming.assign(home_score=pd.NA, away_score=pd.NA)], ignore_index=True)
    expected = model.predict_proba(combined.join(competition_features(combined, comp)).iloc[len(history) :])
    assert list(got.columns) == ["prob_home", "prob_draw", "prob_away"]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=0, atol=1e-12)

    # JSON-style input (dates as text, an explicit season) gives the same forecasts
    as_json = raw.assign(date=raw["date"].dt.strftime("%Y-%m-%d"), season=2011)
    np.testing.assert_allclose(loaded.predict(as_json).to_numpy(), expected, rtol=0, atol=1e-12)

    meta = loaded.metadata
    required = {c.name for c in meta.get_input_schema().inputs if c.required}
    assert required == {"home_team", "away_team", "date"}
    assert meta.get_output_schema().input_names() == ["prob_home", "prob_draw", "prob_away"]
    local = Path(mlflow.artifacts.download_artifacts(uri))
    example = json.loads((local / "input_example.json").read_text())
    assert len(example["data"]) == 3
    assert (local / "code" / "scoreline" / "tracking" / "pyfunc.py").is_file()
    assert "mlflow==3.17.2" in (local / "requirements.txt").read_text()
    stored = mlflow.get_logged_model(uri.removeprefix("models:/")).artifact_location
    assert stored.startswith((tracked.registry_path / "artifacts" / "E0").resolve().as_uri())


def test_feature_state_keeps_only_the_columns_features_read(tracked):
    data = league().assign(odds_pinnacle_close_home=2.0, source_file="x.csv")
    wrapper = MatchModelPyfunc("E0", BaseRates().fit(data), data)
    assert not [c for c in wrapper.history.columns if "close" in c or c.startswith("source")]
    assert wrapper.history["date"].is_monotonic_increasing


def test_a_fixture_after_the_off_season_belongs_to_the_next_season(tracked):
    data = league()
    wrapper = MatchModelPyfunc("E0", BaseRates().fit(data), data)
    last = data["date"].max()
    fixtures = pd.DataFrame(
        {
            "home_team": ["T0", "T1"],
            "away_team": ["T1", "T0"],
            "date": [last + pd.Timedelta(days=7), last + pd.Timedelta(days=90)],
        }
    )
    assert wrapper.fixtures(fixtures)["season"].tolist() == [2011, 2012]
    with pytest.raises(ValueError, match="need columns"):
        wrapper.predict(None, fixtures.drop(columns="date"))


def test_requirements_are_pinned_from_the_lock(settings):
    pins = model_requirements(settings, DixonColes())
    names = {p.split("==")[0] for p in pins}
    assert {
        "pandas",
        "numpy",
        "scikit-learn",
        "scipy",
        "statsmodels",
        "lightgbm",
        "xgboost",
        "mlflow",
    } <= names
    assert all("==" in p for p in pins)
    assert "pymc" not in names


@pytest.mark.realdata
def test_log_backtest_records_every_model_and_the_market(real_ingest, tmp_path, monkeypatch):
    from dataclasses import replace

    from scoreline.evaluation.competition import backtest_competition, default_config
    from scoreline.tracking import log_backtest

    _, settings = real_ingest
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = settings.model_copy(update={"registry_dir": tmp_path / "registry"})
    config = replace(default_config(competition("E0"), 2021), window="month")
    report = backtest_competition(settings, "E0", ["elo"], config, tmp_path / "report")
    try:
        with step_run("", "backtest", "E0", settings) as run:
            log_backtest(report)
    finally:
        mlflow.set_tracking_uri(None)
    client = mlflow.MlflowClient(settings.mlflow_tracking_uri)
    logged = client.get_run(run.info.run_id).data.metrics
    for model in report.scores.overall.index:
        for name in ("rps", "log_loss", "brier", "accuracy"):
            assert np.isfinite(logged[f"{name}/{model}"])  # grouped by metric: models side by side
    assert {"rps_minus_reference/elo", "log_loss_minus_reference/elo"} <= set(logged)
    artifacts = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "backtest")}
    assert {
        "scores.json",
        "by_season.csv",
        "reliability.png",
        "predictions.parquet",
        "models_vs_market.json",
        "models_vs_market.png",
    } <= artifacts
    stored = json.loads(
        Path(
            client.download_artifacts(run.info.run_id, "backtest/models_vs_market.json", str(tmp_path))
        ).read_text()
    )
    table = pd.DataFrame(stored["data"], columns=stored["columns"])
    assert set(table["model"]) == set(report.scores.overall.index)
    note = client.get_run(run.info.run_id).data.tags["mlflow.note.content"]
    assert note.startswith("E0 walk-forward backtest") and "Best model by RPS: elo" in note
    reference = table.set_index("model").loc[report.scores.reference]
    assert reference["role"] == "reference" and reference["rps_diff"] == 0


def test_a_model_pickled_before_tracking_became_a_package_still_loads(monkeypatch):
    """Models logged before the split were pickled as ``scoreline.tracking.MatchModelPyfunc`` and
    ``...PointsDetail``: a pickle names a class by its module, so those names must keep
    resolving (registries and BentoML stores hold such models)."""
    import pickle

    from scoreline.tracking import pyfunc

    data = league()
    wrapper = pyfunc.MatchModelPyfunc(
        "E0", BaseRates().fit(data), data, pyfunc.PointsDetail(None, None, None)
    )
    for cls in (pyfunc.MatchModelPyfunc, pyfunc.PointsDetail):
        monkeypatch.setattr(cls, "__module__", "scoreline.tracking")
    old = pickle.dumps(wrapper)
    monkeypatch.undo()
    assert b"scoreline.tracking\x94" in old and b"scoreline.tracking.pyfunc" not in old
    loaded = pickle.loads(old)
    assert isinstance(loaded, pyfunc.MatchModelPyfunc) and isinstance(loaded.detail, pyfunc.PointsDetail)
    fixtures = data.tail(3)[["home_team", "away_team", "date"]]
    np.testing.assert_array_equal(loaded.predict(None, fixtures), wrapper.predict(None, fixtures))


def test_logging_a_model_prints_no_cloudpickle_warning_or_info_lines(tracked, capfd):
    history = league()
    model = BaseRates().fit(history.join(competition_features(history, competition("E0"))))
    with step_run("", "train", "E0", tracked):
        capfd.readouterr()  # the new store's own INFO lines are the CLI's concern (MLFLOW_LOGGING_LEVEL)
        log_model(model, "model", "E0", history, tracked, with_detail=False)
        err = capfd.readouterr().err
    assert "CloudPickle" not in err and "INFO mlflow" not in err, err
