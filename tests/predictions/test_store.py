"""The prediction store: round trips, settlement, validation before writing, concurrent writer
processes and durability of returned commits across a SIGKILL."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from scoreline.predictions import FeatureVector, PredictionStore


def prediction(**changes) -> dict:
    row = {
        "competition": "E0",
        "model_name": "elo",
        "model_version": "3",
        "date": "2024-08-17",
        "home_team": "Arsenal",
        "away_team": "Chelsea",
        "neutral": False,
        "prob_home": 0.5,
        "prob_draw": 0.25,
        "prob_away": 0.25,
        "fair_odds_home": 2.0,
        "price_home": 2.2,
        "edge_home": 0.1,
        "top_scores": [{"home": 1, "away": 0, "probability": 0.12}],
        "features": {"elo_home": 1612.5, "rest_home": None},
        "request_id": "r-1",
    }
    row.update(changes)
    return row


def bare(**changes) -> dict:
    """A prediction with no fields beyond the store's own (and ``detail``)."""
    row = prediction(**changes)
    for extra in ("fair_odds_home", "edge_home", "top_scores", "request_id"):
        row.pop(extra)
    return row


def result(**changes) -> dict:
    row = {
        "competition": "E0",
        "date": "2024-08-17",
        "home_team": "Arsenal",
        "away_team": "Chelsea",
        "home_score": 2,
        "away_score": 1,
    }
    row.update(changes)
    return row


@pytest.fixture
def store(tmp_path):
    opened = PredictionStore(f"sqlite:///{tmp_path / 'predictions.db'}")
    yield opened
    opened.close()


def test_predictions_and_results_round_trip(store):
    created = dt.datetime(2024, 8, 16, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    ids = store.record_predictions(
        [
            prediction(created_at=created),
            prediction(
                competition="NBA",
                home_team="ATL",
                away_team="BKN",
                prob_home=0.6,
                prob_draw=None,
                prob_away=0.4,
                date=dt.date(2024, 1, 2),
                model_version=7,
                margin=3.5,
                features=json.dumps({"elo_home": 1500.0}),
            ),
        ]
    )
    assert ids == sorted(ids) and len(set(ids)) == 2
    table = store.predictions()
    assert table["id"].tolist() == ids
    first = table.iloc[0]
    assert first["created_at"] == pd.Timestamp("2024-08-16 10:30")  # stored as UTC
    assert first["date"] == pd.Timestamp("2024-08-17") and first["price_home"] == 2.2
    assert first["features"] == {"elo_home": 1612.5, "rest_home": None}
    assert first["detail"] == {
        "fair_odds_home": 2.0,
        "edge_home": 0.1,
        "request_id": "r-1",
        "top_scores": [{"home": 1, "away": 0, "probability": 0.12}],
    }
    second = table.iloc[1]
    assert second["model_version"] == "7" and math.isnan(second["prob_draw"])
    assert second["detail"]["margin"] == 3.5 and second["features"] == {"elo_home": 1500.0}
    assert store.predictions(competition="NBA")["id"].tolist() == [ids[1]]
    assert store.predictions(since="2024-08-16T11:00:00Z")["id"].tolist() == [ids[1]]

    assert (
        store.record_results(
            [
                result(),
                result(
                    competition="NBA",
                    date="2024-01-02",
                    home_team="ATL",
                    away_team="BKN",
                    home_score=110,
                    away_score=104,
                ),
            ]
        )
        == 2
    )
    results = store.results("E0")
    assert results[["home_team", "home_score", "away_score"]].values.tolist() == [["Arsenal", 2, 1]]
    assert store.record_predictions([]) == [] and store.record_results([]) == 0


def test_settle_scores_each_prediction_once_and_again_only_after_a_correction(store):
    ids = store.record_predictions(
        [
            prediction(),
            prediction(model_name="dixon_coles", prob_home=0.4, prob_draw=0.3, prob_away=0.3),
            prediction(home_team="Everton", away_team="Fulham"),  # no result yet
            prediction(
                competition="NBA",
                home_team="ATL",
                away_team="BKN",
                prob_home=0.7,
                prob_draw=None,
                prob_away=0.3,
            ),
        ]
    )
    store.record_results(
        [
            result(home_score=2, away_score=1),
            result(competition="NBA", home_team="ATL", away_team="BKN", home_score=100, away_score=100),
        ]
    )  # a tie: nothing to score
    assert store.settle() == {"settled": 3, "resettled": 0, "unchanged": 0, "pending": 1}
    table = store.predictions(settled=True).set_index("id")
    # home win at (0.5, 0.25, 0.25): RPS ((0.5)^2 + (0.25)^2) / 2, log loss -ln 0.5, Brier 0.375
    assert table.loc[ids[0], "outcome"] == "home"
    assert table.loc[ids[0], "rps"] == pytest.approx(0.15625)
    assert table.loc[ids[0], "log_loss"] == pytest.approx(math.log(2))
    assert table.loc[ids[0], "brier"] == pytest.approx(0.375)
    assert table.loc[ids[1], "log_loss"] == pytest.approx(-math.log(0.4))
    assert table.loc[ids[3], "outcome"] == "tie" and math.isnan(table.loc[ids[3], "rps"])
    assert store.predictions(settled=False)["id"].tolist() == [ids[2]]

    before = store.predictions()
    assert store.settle() == {"settled": 0, "resettled": 0, "unchanged": 3, "pending": 1}
    pd.testing.assert_frame_equal(store.predictions(), before)
    assert store.record_results([result(home_score=2, away_score=1)]) == 0  # unchanged

    assert store.record_results([result(home_score=1, away_score=1)]) == 1  # corrected
    assert store.settle() == {"settled": 0, "resettled": 2, "unchanged": 1, "pending": 1}
    table = store.predictions().set_index("id")
    assert table.loc[ids[0], "outcome"] == "draw" and table.loc[ids[0], "home_score"] == 1
    assert table.loc[ids[0], "log_loss"] == pytest.approx(-math.log(0.25))
    assert table.loc[ids[0], "rps"] == pytest.approx((0.5**2 + 0.25**2) / 2)
    assert table.loc[ids[3], "outcome"] == "tie"
    assert store.settle() == {"settled": 0, "resettled": 0, "unchanged": 3, "pending": 1}


@pytest.mark.parametrize(
    "bad, message",
    [
        (prediction(prob_home="high"), r"row 2: prob_home: must be a number"),
        (prediction(prob_home=0.7), r"row 2: prob_\*: probabilities sum to 1.2"),
        (prediction(date="2024-02-30"), r"row 2: date: must be a date"),
        (prediction(competition="XX"), r"row 2: competition: unknown 'XX'"),
        (prediction(away_team="Arsenal"), r"row 2: away_team: is the home team too"),
        (prediction(price_away=1.0), r"row 2: price_away: must be a decimal price above 1"),
        (
            prediction(competition="NFL", prob_draw=0.2, prob_home=0.4, prob_away=0.4),
            r"row 2: prob_draw: NFL has no draw",
        ),
        (prediction(features={"x": object()}), r"row 2: features: 'x' must be a number or null"),
        (prediction(features={"x": "1.5"}), r"row 2: features: 'x' must be a number or null"),
        (prediction(detail={"x": object()}), r"row 2: detail: cannot be stored as JSON"),
        (prediction(detail=[1, 2]), r"row 2: detail: must be a dict"),
        (prediction(neutral="yes"), r"row 2: neutral: must be true or false"),
        (
            prediction(
                competition="NBA",
                prob_draw=None,
                prob_home=0.7,
                prob_away=0.3,
                features=FeatureVector(("a", "b"), np.zeros(3)),
            ),
            r"row 2: features: 2 names",
        ),
        (prediction(model_name=None), r"row 2: model_name: must be a non-empty string"),
        (prediction(home_team="  "), r"row 2: home_team: must be a non-empty string, got '  '"),
    ],
)
def test_a_bad_prediction_row_is_named_and_nothing_is_written(store, bad, message):
    store.record_predictions([prediction()])
    with pytest.raises(ValueError, match=message):
        store.record_predictions([prediction(), prediction(), bad, prediction()])
    assert len(store.predictions()) == 1


def test_a_version_true_is_refused_beside_the_version_one_it_equals(store):
    """Text columns are checked once per distinct value: ``True == 1`` must not pass as ``1``."""
    with pytest.raises(ValueError, match=r"row 1: model_version: must be a non-empty string, got True"):
        store.record_predictions([prediction(model_version=1), prediction(model_version=True)])
    assert store.record_predictions([prediction(model_version=1)]) == [1]
    assert store.predictions()["model_version"].tolist() == ["1"]


def test_a_bad_result_row_is_named_and_nothing_is_written(store):
    with pytest.raises(ValueError, match=r"row 1: home_score: must be a whole number in 0..15"):
        store.record_results([result(), result(home_team="Everton", home_score=-1)])
    with pytest.raises(ValueError, match=r"rows 0 and 2 give different scores"):
        store.record_results([result(), result(home_team="Everton"), result(away_score=3)])
    assert store.results().empty
    assert store.record_results([result(), result()]) == 1  # the same row twice is one row


def test_sqlite_runs_in_wal_mode_with_the_configured_synchronous_level(tmp_path):
    normal = PredictionStore(f"sqlite:///{tmp_path / 'a' / 'p.db'}")
    full = PredictionStore(f"sqlite:///{tmp_path / 'b.db'}?synchronous=FULL&busy_timeout=5000")
    for opened, level in ((normal, 1), (full, 2)):
        with opened.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == level
        opened.close()
    with pytest.raises(ValueError, match="synchronous must be"):
        PredictionStore(f"sqlite:///{tmp_path / 'c.db'}?synchronous=SOMETIMES")
    reopened = PredictionStore(f"sqlite:///{tmp_path / 'a' / 'p.db'}")  # schema creation is idempotent
    assert reopened.predictions().empty


def test_settings_name_a_default_store_under_the_registry(settings):
    assert settings.prediction_store == f"sqlite:///{settings.registry_path / 'predictions.db'}"
    assert (
        settings.model_copy(update={"prediction_store_url": "postgresql://db/x"}).prediction_store
        == "postgresql://db/x"
    )


WRITER = textwrap.dedent("""
    import sys
    from scoreline.predictions import PredictionStore

    url, name, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = PredictionStore(url)
    row = {"competition": "E0", "model_name": name, "model_version": "1", "date": "2024-08-17",
           "home_team": "Arsenal", "away_team": "Chelsea", "prob_home": 0.5, "prob_draw": 0.25,
           "prob_away": 0.25, "features": {"elo_home": 1500.0}}
    for batch in range(batches):
        ids = store.record_predictions([dict(row, request_id=f"{batch}-{i}") for i in range(size)])
        print(" ".join(map(str, ids)), flush=True)
""")


def test_concurrent_writer_processes_all_land(tmp_path):
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    PredictionStore(url).close()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, f"w{k}", "30", str(1 + 20 * (k % 2))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    printed = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        printed += [int(i) for i in out.split()]
    table = PredictionStore(url).predictions()
    assert len(printed) == len(set(printed)) == 2 * 30 * 1 + 2 * 30 * 21
    assert sorted(table["id"]) == sorted(printed)
    assert table.groupby("model_name").size().to_dict() == {"w0": 30, "w1": 630, "w2": 30, "w3": 630}


def test_every_returned_commit_survives_a_sigkill_mid_stream(tmp_path):
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, "w", "100000", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines, deadline = [], time.monotonic() + 60
    while len(lines) < 40 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        lines.append(line)
    assert len(lines) >= 40, writer.stderr.read()
    os.kill(writer.pid, signal.SIGKILL)  # mid-stream: the next batch is being written
    rest = writer.stdout.read()  # what readline buffered too (communicate reads the bare pipe)
    assert writer.wait(timeout=30) == -signal.SIGKILL
    confirmed = [int(i) for line in lines + rest.splitlines() for i in line.split()]
    stored = set(PredictionStore(url).predictions()["id"])
    assert set(confirmed) <= stored
    assert len(stored) - len(confirmed) in (0, 50)  # at most the one batch whose print was cut off


def count(store: PredictionStore, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_outputs_are_stored_once_with_features_as_numbers_and_names_once(store):
    names = tuple(f"f{j}" for j in range(84))
    values = np.linspace(0.0, 1.0, 84)
    values[7] = np.nan
    shared = FeatureVector(names, values)
    detail = {"top_scores": [{"home": 1, "away": 0, "probability": 0.12}], "xg": float("nan")}
    rows = [
        bare(home_team=f"Team {i}", price_home=2 + i / 1000, features=shared, detail=detail)
        for i in range(10_000)
    ]
    rows += [
        bare(features={"elo_home": 1500.0, "rest_home": None}, detail=None),
        bare(
            competition="NBA",
            home_team="ATL",
            away_team="BKN",
            prob_home=0.6,
            prob_draw=None,
            prob_away=0.4,
            features=None,
            detail=None,
        ),
    ]
    ids = store.record_predictions(rows)
    assert ids == list(range(ids[0], ids[0] + len(rows)))  # one insert, ids in row order
    assert count(store, "forecast_outputs") == 2 and count(store, "feature_sets") == 2
    with store.engine.connect() as conn:
        sizes = {r[0] for r in conn.execute(text("SELECT length(features) FROM forecast_outputs"))}
        assert conn.execute(text("SELECT count(*) FROM predictions WHERE output_id IS NULL")).scalar() == 1
    assert sizes == {84 * 8, 2 * 8}
    table = store.predictions()
    assert table["id"].tolist() == ids
    first = table.iloc[0]
    assert first["features"]["f7"] is None and first["features"]["f83"] == 1.0
    assert list(first["features"]) == list(names) and table.iloc[9_999]["price_home"] == 2 + 9_999 / 1000
    assert first["detail"] == {"top_scores": [{"home": 1, "away": 0, "probability": 0.12}], "xg": None}
    assert table.iloc[-2]["features"] == {"elo_home": 1500.0, "rest_home": None}
    assert table.iloc[-2]["detail"] is None
    assert table.iloc[-1]["features"] is None and table.iloc[-1]["detail"] is None
    features = store.features(competition="E0")
    assert features.index.tolist() == ids[:-1] and features.shape == (10_001, 86)
    np.testing.assert_array_equal(features.loc[ids[0], list(names)].to_numpy(), values)
    assert np.isnan(features.loc[ids[0], "elo_home"]) and features.loc[ids[-2], "elo_home"] == 1500.0
    assert store.features(competition="NBA").empty
    # another store (process) finds the stored output and names by content, not by object
    again = PredictionStore(store.url)
    again.record_predictions(
        [
            bare(features=FeatureVector(names, values.copy()), detail=dict(detail)),
            bare(features=FeatureVector(names, values + 1), detail=detail),
        ]
    )
    assert count(again, "forecast_outputs") == 3 and count(again, "feature_sets") == 2
    again.close()


LEGACY_SCHEMA = """
CREATE TABLE predictions (
    id INTEGER NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, competition VARCHAR(16) NOT NULL,
    model_name VARCHAR(200) NOT NULL, model_version VARCHAR(64) NOT NULL, date DATE NOT NULL,
    home_team VARCHAR(200) NOT NULL, away_team VARCHAR(200) NOT NULL, neutral BOOLEAN NOT NULL,
    prob_home FLOAT NOT NULL, prob_draw FLOAT, prob_away FLOAT NOT NULL, price_home FLOAT,
    price_draw FLOAT, price_away FLOAT, detail TEXT, features TEXT)
"""


def test_a_database_from_before_feature_sets_is_upgraded_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text(LEGACY_SCHEMA))
        conn.exec_driver_sql(
            "INSERT INTO predictions VALUES (1, '2024-08-16 10:30:00', 'E0', 'elo', '3', "
            "'2024-08-17', 'Arsenal', 'Chelsea', 0, 0.5, 0.25, 0.25, NULL, NULL, NULL, ?, ?)",
            ('{"request_id": "r-1"}', '{"elo_home": 1612.5, "rest_home": null}'),
        )
    engine.dispose()
    store = PredictionStore(f"sqlite:///{path}")
    with store.engine.connect() as conn:
        columns = {c[1] for c in conn.execute(text("PRAGMA table_info(predictions)"))}
    assert "output_id" in columns and not {"detail", "features"} & columns
    [new] = store.record_predictions([prediction(features={"elo_home": 1500.0, "rest_home": 3.0})])
    table = store.predictions().set_index("id")
    assert table.loc[1, "features"] == {"elo_home": 1612.5, "rest_home": None}
    assert table.loc[1, "detail"] == {"request_id": "r-1"} and new == 2
    assert table.loc[new, "features"] == {"elo_home": 1500.0, "rest_home": 3.0}
    features = store.features()
    assert features.loc[1, "elo_home"] == 1612.5 and np.isnan(features.loc[1, "rest_home"])
    assert features.loc[2, "rest_home"] == 3.0
    store.close()
    PredictionStore(f"sqlite:///{path}").close()  # upgrading twice changes nothing


def test_columns_are_taken_as_rows_are_and_checked_alike(store):
    rows = [bare(), bare(home_team="Everton", away_team="Fulham", prob_home=0.4, prob_away=0.35)]
    columns = {field: [row[field] for row in rows] for field in rows[0]}
    ids = store.record_predictions(columns)
    table = store.predictions().set_index("id")
    assert table.loc[ids, "home_team"].tolist() == ["Arsenal", "Everton"]
    assert table.loc[ids[1], "prob_away"] == 0.35 and table.loc[ids[0], "features"]["elo_home"] == 1612.5
    with pytest.raises(ValueError, match=r"row 1: prob_\*: probabilities sum to 1.05"):
        store.record_predictions({**columns, "prob_home": [0.5, 0.45]})
    with pytest.raises(ValueError, match=r"unknown prediction field\(s\) \['request_id'\]"):
        store.record_predictions({**columns, "request_id": ["a", "b"]})
    with pytest.raises(ValueError, match="different lengths"):
        store.record_predictions({**columns, "home_team": ["Arsenal"]})
    assert len(store.predictions()) == 2


def test_a_store_written_before_the_package_move_opens_and_reads_the_same(tmp_path):
    """``data/store_written_before_the_move.sql``: a SQLite store written by the code as it stood
    in ``serving/store.py`` (two predictions, a result, a settlement), dumped with iterdump."""
    import sqlite3
    from pathlib import Path

    path = tmp_path / "predictions.db"
    dump = (Path(__file__).parent / "data" / "store_written_before_the_move.sql").read_text()
    with sqlite3.connect(path) as db:
        db.executescript(dump)
    store = PredictionStore(f"sqlite:///{path}")
    try:
        frame = store.predictions()
        assert frame["id"].tolist() == [1, 2]
        e0, nfl = frame.iloc[0], frame.iloc[1]
        assert (e0["home_team"], e0["away_team"], e0["model_version"]) == ("Arsenal", "Everton", "3")
        assert e0["features"] == {"elo_gap": 120.5, "rest_home": None}
        assert e0["detail"] == {"expected_goals_home": 2.1}
        assert e0["outcome"] == "home" and e0["rps"] == pytest.approx(((0.3) ** 2 + 0.1**2) / 2)
        assert nfl["features"] == {"elo_gap": 44.0} and pd.isna(nfl["outcome"])
        assert store.results()["home_score"].tolist() == [2]
        assert store.settle() == {"settled": 0, "resettled": 0, "unchanged": 1, "pending": 1}
        new = store.record_predictions([prediction()])
        assert new == [3]  # ids continue after the stored ones
    finally:
        store.close()


def test_a_what_if_forecast_is_stored_but_never_listed_as_a_fixture(store):
    """The match centre's form asks "what if": the answer is logged, yet it is no fixture."""
    scheduled, asked = store.record_predictions([prediction(), prediction(home_team="Leeds", what_if=True)])
    day = prediction()["date"]
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    listed = store.upcoming("E0", day - dt.timedelta(days=1), day + dt.timedelta(days=1), 10)
    assert [p["prediction_id"] for p in listed] == [scheduled]
    assert {int(i) for i in store.predictions("E0")["id"]} >= {scheduled, asked}
    with pytest.raises(ValueError, match="what_if"):
        store.record_predictions([prediction(what_if="yes")])
