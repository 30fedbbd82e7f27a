"""In-game models on real seasons: conformal coverage on a held-back season, the anchors, the
Dejavu explanation, and the live path equal to the batch path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.features.ingame import pattern_table, state_table
from scoreline.models.conformal import coverage_table
from scoreline.models.ingame import DejavuModel, PatternEnsemble, StateModel, SternModel
from scoreline.models.ingame.forecaster import InGameForecaster

pytestmark = pytest.mark.realdata
MINUTES = [360.0, 720.0, 1080.0, 1440.0, 2160.0, 2520.0, 2760.0]


@pytest.fixture(scope="module")
def fitted(ingame_slice):
    """Models fitted on 2016-17 .. 2018-19, and the held-back 2019-20 tables."""
    games = ingame_slice.with_lines()
    train_games = games.loc[games["season"] < 2019]
    test_games = games.loc[games["season"] == 2019]
    events = ingame_slice.events
    train_states = state_table(train_games, events)
    test_states = state_table(test_games, events, seconds=MINUTES)
    state = StateModel(calibration_games=800).fit(train_states)
    patterns = PatternEnsemble(calibration_games=800).fit(pattern_table(train_games, events))
    return {
        "state": state,
        "pattern": patterns,
        "test_states": test_states,
        "test_patterns": pattern_table(test_games, events),
        "train_games": train_games,
        "test_games": test_games,
        "events": events,
    }


def test_conformal_coverage_on_a_held_back_season_is_within_3_points(fitted):
    half = fitted["test_patterns"]
    forecast = fitted["pattern"].predict(half, explain=False)
    table = coverage_table(forecast.intervals.assign(y=half["ht_margin"].to_numpy()))
    assert (table["coverage"] - table.index).abs().max() <= 0.03, table

    states = fitted["test_states"]
    margin = fitted["state"].predict_margin(states)
    by_minute = [
        coverage_table(margin.intervals.loc[rows].assign(y=states.loc[rows, "final_margin"]))
        for rows in (states["t"] == t for t in MINUTES)
    ]
    pooled = pd.concat(by_minute).groupby(level=0)["coverage"].mean()
    assert (pooled - pooled.index).abs().max() <= 0.03, pooled


def test_the_state_model_beats_stern_on_the_held_back_season(fitted):
    states = fitted["test_states"]
    y = states["home_win"].to_numpy()
    stern = SternModel().fit(
        fitted["train_games"].assign(final_margin=lambda g: g["home_score"] - g["away_score"])
    )
    ours = np.mean((fitted["state"].predict_proba(states)[:, 0] - y) ** 2)
    anchor = np.mean((stern.predict_proba(states)[:, 0] - y) ** 2)
    assert ours < anchor
    assert 11.0 < stern.sigma_ < 14.0  # NBA final margins around the spread


def test_a_finished_game_is_certain_and_stern_is_symmetric():
    stern = SternModel().fit(pd.DataFrame({"spread_home": [0.0] * 40, "final_margin": [12.0, -12.0] * 20}))
    assert stern.sigma_ == pytest.approx(12.0)
    state = pd.DataFrame(
        {"margin": [5.0, -5.0, 0.0], "expected_remaining": [0.0] * 3, "remaining_s": [0.0] * 3}
    )
    p = stern.predict_proba(state)[:, 0]
    assert p[0] > 0.999 and p[1] < 0.001 and p[2] == pytest.approx(0.5)


def test_dejavu_explains_with_matched_training_games(fitted):
    train = pattern_table(fitted["train_games"], fitted["events"])
    model = DejavuModel(k=50, explain=3, calibration_games=800).fit(train)
    row = fitted["test_patterns"].head(1)
    explanation = model.predict(row).explanations[0]
    matched = explanation["matched_games"]
    assert len(matched) == 3 and explanation["k"] == 50
    known = train.set_index("game_id")
    for game in matched:
        source = known.loc[game["game_id"]]
        assert (game["home_team"], game["away_team"], game["date"]) == (
            source["home_team"],
            source["away_team"],
            source["date"].strftime("%Y-%m-%d"),
        )
    distances = [g["distance"] for g in matched]
    assert distances == sorted(distances)
    own = np.append(row[[f"diff_{m}" for m in range(1, 19)]].to_numpy()[0], row["spread_home"].iloc[0])
    nearest = known.loc[matched[0]["game_id"]]
    other = np.append(nearest[[f"diff_{m}" for m in range(1, 19)]].to_numpy(float), nearest["spread_home"])
    assert np.linalg.norm(own - other) == pytest.approx(matched[0]["distance"], abs=0.01)


def test_the_live_game_gives_the_batch_forecasts(fitted):
    forecaster = InGameForecaster(fitted["state"], fitted["pattern"])
    game = fitted["test_games"].iloc[0]
    events = fitted["events"].loc[fitted["events"]["game_id"] == game["game_id"]]
    events = events.sort_values(["elapsed_s", "seq"])
    live = forecaster.start_game(game["spread_home"], game["total_line"])
    forecasts = [live.update(e.elapsed_s, e.home_score, e.away_score) for e in events.itertuples()]
    last_of_second = ~events.duplicated("elapsed_s", keep="last").to_numpy()
    at = events.loc[last_of_second, ["game_id", "elapsed_s"]].rename(columns={"elapsed_s": "t"})
    batch = forecaster.forecast_states(
        state_table(fitted["test_games"].head(1), events, seconds=list(at["t"]))
    )
    live_p = [f.p_home_win for f, keep in zip(forecasts, last_of_second, strict=True) if keep]
    np.testing.assert_allclose(live_p, batch["p_home_win"].to_numpy(), rtol=1e-9)
    halftime = [f.halftime for f in forecasts]
    first = next(i for i, h in enumerate(halftime) if h is not None)
    assert events["elapsed_s"].iloc[first] > 1080 and events["elapsed_s"].iloc[first - 1] <= 1080
    expected = forecaster.halftime_rows(
        fitted["test_patterns"].loc[lambda t: t["game_id"] == game["game_id"]]
    )[0]
    assert halftime[-1].forecast == pytest.approx(expected.forecast)
    assert halftime[-1].lower < halftime[-1].forecast < halftime[-1].upper


def test_a_request_that_is_not_18_numbers_is_refused(fitted):
    forecaster = InGameForecaster(fitted["state"], fitted["pattern"])
    with pytest.raises(ValueError, match="expected 18 finite numbers"):
        forecaster.halftime([1.0] * 17, -3.0)
    with pytest.raises(ValueError, match="spread_home"):
        forecaster.halftime([1.0] * 18, float("nan"))
    answer = forecaster.halftime([0.0] * 18, -6.0, 225.0).to_dict()
    assert answer["coverage_probability"] == 0.95 and answer["lower"] < answer["forecast"] < answer["upper"]
    assert answer["explanation"]["members"][0]["matched_games"]
