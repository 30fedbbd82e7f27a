"""A replay of the real 2022/23 Premier League runs end to end (ingest -> settle -> matchday ->
monitor -> retrain with the gate) and its settled P/L, ROI and bet count equal a computation
from the stored bets and the real results, done here independently.

Cut to stay near a minute: Elo only, six seasons of history, one mid-season retrain and one
monitor run (benchmarks/replay.py runs the default weekly cadence).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from scoreline.matchday.replay import ReplayConfig, replay
from scoreline.predictions import PredictionStore

from .conftest import ROOT

pytestmark = pytest.mark.realdata

CONFIG = ReplayConfig(days_ahead=7, retrain_every=200, monitor_every=200, models=("elo",), history_seasons=6)
KEY = ["date", "home_team", "away_team"]


@pytest.fixture(scope="module")
def replayed(real_ingest, real_data, tmp_path_factory):
    _, ingested = real_ingest
    folder = tmp_path_factory.mktemp("replay")
    settings = ingested.model_copy(  # the price files: every book and the gate's evidence
        update={
            "reports_dir": folder / "reports",
            "registry_dir": folder / "registry",
            "data_source": str(real_data),
        }
    )
    settings.registry_path.mkdir()
    shutil.copy(ROOT / "registry" / "policy.yaml", settings.registry_path / "policy.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = replay(settings, "E0", 2022, CONFIG, folder / "workspace")
    return result, settings


def test_replay_runs_the_whole_loop_over_the_season(replayed):
    result, settings = replayed
    s = result.summary

    assert (s["first_day"], s["last_day"], s["matches"]) == ("2022-08-05", "2023-05-29", 380)
    assert s["predicted_matches"] == 380 and s["settled_predictions"] == s["predictions"] >= 380
    assert s["n_open"] == 0 and s["n_settled"] == s["n_bets"] > 50
    # money went only through strategies the gate let through; the others bet on paper
    staked = {name for name, f in s["by_strategy"].items() if not f["paper"]}
    assert staked == {"sharp_soft"} and s["by_strategy"]["model_edge"]["paper"]
    assert s["by_strategy"]["sharp_soft"]["n_bets"] == s["n_bets"]
    assert [p["day"] for p in result.promotions] == ["2022-08-05", "2023-02-21"]
    assert result.promotions[0]["promoted"] and result.promotions[0]["model"] == "elo"
    assert s["promotions_accepted"] + s["promotions_rejected"] == 2
    assert [m["day"] for m in result.monitors] == ["2023-02-21"] and "live" in result.monitors[0]
    assert set(s["seconds"]) == {"ingest", "settle", "matchday", "monitor", "retrain"}
    assert all(s["runs"][stage] > 0 for stage in s["runs"])
    saved = json.loads((settings.reports_path / "replay" / "E0" / "2022" / "summary.json").read_text())
    assert saved["pnl"] == pytest.approx(s["pnl"]) and len(saved["promotions"]) == 2

    # point in time: every forecast was made on or before its match day, by a champion
    store = PredictionStore(f"sqlite:///{result.workspace / 'registry' / 'predictions.db'}")
    try:
        predictions = store.predictions("E0")
    finally:
        store.close()
    assert (predictions["created_at"].dt.normalize() <= predictions["date"]).all()
    assert set(predictions["model_version"]) <= {p["version"] for p in result.promotions if p["promoted"]}


def test_settled_pnl_roi_and_bets_equal_a_direct_computation(replayed, e0):
    result, _ = replayed
    s, every = result.summary, result.bets
    assert not every.duplicated([*KEY, "strategy"]).any() and (every["placed_on"] <= every["date"]).all()
    assert (every["status"] != "open").all()  # paper bets are settled too
    bets = every.loc[~every["paper"].astype(bool)].reset_index(drop=True)  # the money
    season = e0.loc[e0["season"] == 2022].astype({"home_team": object, "away_team": object})
    real = bets.merge(season, on=KEY, how="left", suffixes=("", "_real"), validate="one_to_one")

    assert real["match_id"].notna().all(), "a bet on a match that is not in the season"
    h, a = real["home_score_real"].to_numpy(int), real["away_score_real"].to_numpy(int)
    happened = np.where(h > a, "home", np.where(h == a, "draw", "away"))
    won = bets["outcome"].to_numpy() == happened
    stake, price = bets["stake"].to_numpy(float), bets["price"].to_numpy(float)
    pnl = np.where(won, stake * (price - 1.0), -stake)

    assert s["n_bets"] == len(bets) == int((bets["status"] != "open").sum())
    assert s["pnl"] == pytest.approx(pnl.sum(), abs=1e-9)
    assert s["roi"] == pytest.approx(pnl.sum() / 100.0, abs=1e-11)  # bankroll 100 (policy)
    assert s["yield"] == pytest.approx(pnl.sum() / stake.sum())
    assert s["hit_rate"] == pytest.approx(won.mean())
    assert s["bankroll"] == pytest.approx(100.0 + pnl.sum())

    # the price taken is the best soft book's pre-closing price (at least Bet365's); CLV
    # against Pinnacle's real close
    taken = real[[f"odds_b365_{o}" for o in ("home", "draw", "away")]].to_numpy(float)
    pick = pd.Series(bets["outcome"]).map({"home": 0, "draw": 1, "away": 2}).to_numpy()
    rows = np.arange(len(bets))
    assert (price >= taken[rows, pick] - 1e-12).all()
    assert set(bets["price_source"]) <= {"b365", "bw", "iw", "wh", "vc"}
    close = 1.0 / real[[f"odds_pinnacle_close_{o}" for o in ("home", "draw", "away")]].to_numpy(float)
    clv = price * (close / close.sum(axis=1, keepdims=True))[rows, pick] - 1.0
    assert np.allclose(bets["clv"], clv, equal_nan=True) and s["mean_clv"] == pytest.approx(np.nanmean(clv))

    # stakes: each sized on 100 + the P/L of the matches played before its matchday, capped
    # at 2 % of that bankroll per bet and 10 % per matchday
    played_before = np.array([pnl[(bets["date"] < day).to_numpy()].sum() for day in bets["placed_on"]])
    assert np.allclose(bets["bankroll"], 100.0 + played_before)
    assert (stake <= 0.02 * bets["bankroll"] + 1e-9).all()
    daily = bets.groupby("placed_on").agg(staked=("stake", "sum"), bankroll=("bankroll", "first"))
    assert (daily["staked"] <= 0.10 * daily["bankroll"] + 1e-9).all()


def test_replay_cli_refuses_an_unknown_season_or_model(real_ingest, monkeypatch):
    from click.testing import CliRunner

    from scoreline.cli import main

    _, settings = real_ingest
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    runner = CliRunner()
    out = runner.invoke(main, ["replay", "--competition", "E0", "--season", "1990", "--json"])
    assert (
        out.exit_code == 2
        and "season 1990 of E0 is not in the match store (stored: 2005..2022)" in out.output
    )
    out = runner.invoke(main, ["replay", "--competition", "E0", "--season", "2022", "--models", "elo,elk"])
    assert out.exit_code == 2 and "models: unknown elk for E0" in out.output


def test_the_replay_workspace_ignores_the_callers_stores(tmp_path, monkeypatch):
    import os

    import mlflow

    from scoreline.matchday.replay import replay_settings, replay_tracking_uri
    from scoreline.tracking.experiments import tracking_on

    elsewhere = f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}"
    monkeypatch.setenv("SCORELINE_PREDICTION_STORE_URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    ws = replay_settings(tmp_path / "replay")
    assert ws.prediction_store == f"sqlite:///{tmp_path / 'replay' / 'registry' / 'predictions.db'}"
    try:
        with tracking_on(replay_tracking_uri(ws)):
            assert ws.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'replay' / 'registry' / 'mlflow.db'}"
        assert os.environ["MLFLOW_TRACKING_URI"] == elsewhere
    finally:
        mlflow.set_tracking_uri(None)
