"""The store's live tables: an older store opens and gains them, live forecasts are judged on
half-time and final results sent with the results."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from scoreline.predictions.store import PredictionStore

DAY = dt.date(2022, 11, 25)


def live_row(seq: int, elapsed: float, home: int, away: int, **extra) -> dict:
    return {
        "competition": "NBA",
        "date": DAY,
        "home_team": "BOS",
        "away_team": "SAC",
        "game_id": "0022200275",
        "seq": seq,
        "period": 1 + int(elapsed // 720),
        "clock": "05:00",
        "elapsed_s": elapsed,
        "home_score": home,
        "away_score": away,
        "final": False,
        "emitted_at": 1.0,
        "win_prob": 0.6,
        "margin": 4.0,
        "model_name": "brownian_test",
        "model_version": "1",
        **extra,
    }


def test_a_store_from_before_the_live_tables_opens_and_gains_them(tmp_path):
    path = tmp_path / "predictions.db"
    dump = (Path(__file__).parent / "data" / "store_written_before_the_move.sql").read_text()
    with sqlite3.connect(path) as db:
        db.executescript(dump)
    store = PredictionStore(f"sqlite:///{path}")
    try:
        assert store.predictions()["id"].tolist() == [1, 2]
        assert store.record_live_forecasts([live_row(1, 30.0, 2, 0)]) == 1
        assert [r["seq"] for r in store.live_forecasts("NBA")] == [1]
    finally:
        store.close()


def test_live_forecasts_are_scored_by_half_time_and_final_results(tmp_path):
    store = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}")
    half = {"halftime": 5.0, "halftime_low": 1.0, "halftime_high": 9.0, "halftime_coverage": 0.8}
    store.record_live_forecasts(
        [
            live_row(1, 30.0, 2, 0, win_prob=0.5),
            live_row(2, 1100.0, 40, 33, win_prob=0.7, **half),
            live_row(3, 1300.0, 44, 35, win_prob=0.9, **{**half, "halftime": 4.0}),
        ]
    )
    result = {"competition": "NBA", "date": DAY, "home_team": "BOS", "away_team": "SAC"}
    assert store.live_scores("NBA").empty
    with pytest.raises(ValueError, match=r"row 0: away_half: must be a whole number in 0\.\.104"):
        store.record_results(
            [{**result, "home_score": 122, "away_score": 104, "home_half": 60, "away_half": 110}]
        )
    assert store.results().empty  # nothing half-written
    store.record_results([{**result, "home_score": 122, "away_score": 104, "home_half": 60, "away_half": 49}])
    (game,) = store.live_scores("NBA").to_dict("records")
    # the game's first halftime forecast (5), against the actual 11: outside 1..9
    assert game["halftime"] == 5.0 and game["actual_halftime"] == 11
    assert game["halftime_error"] == -6.0 and not game["covered"]
    assert game["actual_margin"] == 18
    assert game["win_brier"] == pytest.approx(((0.5 - 1) ** 2 + (0.7 - 1) ** 2 + (0.9 - 1) ** 2) / 3)
