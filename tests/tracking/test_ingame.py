"""The in-game champion: logged as a pyfunc, registered as scoreline-NBA-ingame, moved to
``champion`` only by a passing gate, and loaded by its alias to answer both request shapes."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from scoreline.features.ingame import pattern_columns, pattern_table, state_table
from scoreline.models.ingame import PatternEnsemble, StateModel
from scoreline.models.ingame.forecaster import InGameForecaster
from scoreline.promotion.ingame import champion_uri_ingame, ingame_rules, promote_ingame
from scoreline.promotion.registry import champion_version
from scoreline.tracking.experiments import step_run
from scoreline.tracking.ingame import log_ingame_model

pytestmark = pytest.mark.realdata


def tables(state_brier: float, coverage_80: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-minute and half-time score tables as the evaluation writes them."""
    minutes = pd.DataFrame(
        [
            {
                "minute": m,
                "model": model,
                "brier": b,
                "log_loss": b * 3,
                "coverage_80": c,
                "coverage_95": 0.95,
            }
            for m in (6, 46)
            for model, b, c in (
                ("state", state_brier, coverage_80),
                ("stern", 0.15, 0.7),
                ("spread_share", 0.14, 0.8),
            )
        ]
    )
    halftime = pd.DataFrame(
        [
            {"model": "ensemble", "mae": 4.70, "coverage_80": 0.80, "coverage_95": 0.95},
            {"model": "baseline", "mae": 4.75},
        ]
    )
    return minutes, halftime


def test_the_gate_names_the_rule_that_fails():
    rules = ingame_rules(*tables(state_brier=0.145, coverage_80=0.80))
    failed = [r.line() for r in rules if not r.passed]
    assert failed == ["FAIL  state brier below spread_share: 0.1450 (threshold 0.1400)"]
    rules = ingame_rules(*tables(state_brier=0.13, coverage_80=0.76))
    assert [r.name for r in rules if not r.passed] == ["final margin 80 % coverage within 3% of nominal"]


@pytest.fixture
def tracked(settings):
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    yield settings
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def test_the_champion_loads_by_its_alias_and_answers_both_shapes(tracked, ingame_slice):
    games = ingame_slice.with_lines()
    train = games.loc[games["season"] <= 2017]
    events = ingame_slice.events
    forecaster = InGameForecaster(
        StateModel(calibration_games=500).fit(state_table(train, events)),
        PatternEnsemble(calibration_games=500).fit(pattern_table(train, events)),
        trained_through=2017,
    )
    with step_run("", "ingame", "NBA", tracked) as run:
        uri = log_ingame_model(forecaster, tracked)
    passing, failing = tables(0.13, 0.80), tables(0.16, 0.80)
    first = promote_ingame(tracked, uri, *passing, run.info.run_id)
    assert (
        first["promoted"] and first["uri"] == champion_uri_ingame() == "models:/scoreline-NBA-ingame@champion"
    )
    second = promote_ingame(tracked, uri, *failing, run.info.run_id)
    assert not second["promoted"] and second["version"] == "2"
    assert champion_version(tracked, "NBA", task="ingame").version == "1"  # a failing gate moves nothing

    model = mlflow.pyfunc.load_model(champion_uri_ingame())
    request = pd.DataFrame([np.linspace(0, 9, 18)], columns=pattern_columns(18)).assign(spread_home=-5.5)
    answer = model.predict(request).iloc[0]
    assert answer["lower"] < answer["forecast"] < answer["upper"] and answer["coverage_probability"] == 0.95
    assert answer["lower_80"] > answer["lower_95"] and json.loads(answer["explanation"])["members"]

    game = games.loc[games["season"] == 2018].iloc[0]
    feed = events.loc[events["game_id"] == game["game_id"]].sort_values(["elapsed_s", "seq"])
    feed = feed[["game_id", "seq", "elapsed_s", "home_score", "away_score"]].assign(
        spread_home=game["spread_home"], total_line=game["total_line"]
    )  # Int64 scores and sequence numbers, as the store returns them
    out = model.predict(feed)
    assert len(out) == len(feed) and out["p_home_win"].between(0, 1).all()
    assert out["halftime"].isna().to_numpy().tolist() == (feed["elapsed_s"] <= 1080).tolist()
    final_win = float(game["home_score"] > game["away_score"])
    assert abs(out["p_home_win"].iloc[-1] - final_win) < 0.5  # the last event is seconds from the end
    with pytest.raises(Exception, match="spread_home"):
        model.predict(feed.drop(columns="spread_home"))
