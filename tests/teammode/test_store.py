"""The prediction store on PostgreSQL: the SQLite suite's behaviour tests against a fresh
database each, and eight concurrent writers (service workers) on one new database: every
acknowledged write is there exactly once, and settlement, run concurrently too, is idempotent."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import text

# the dialect-agnostic tests of the SQLite suite, run here against the `store` below
from predictions.test_store import (  # noqa: F401  (collected by pytest)
    bare,
    count,
    prediction,
    result,
    test_a_bad_prediction_row_is_named_and_nothing_is_written,
    test_a_bad_result_row_is_named_and_nothing_is_written,
    test_columns_are_taken_as_rows_are_and_checked_alike,
    test_outputs_are_stored_once_with_features_as_numbers_and_names_once,
    test_predictions_and_results_round_trip,
    test_settle_scores_each_prediction_once_and_again_only_after_a_correction,
)
from scoreline.predictions import FeatureVector, PredictionStore

from .conftest import new_database

WRITERS = 8
BATCHES = 25
TEAMS = [f"Team {i:02d}" for i in range(20)]


@pytest.fixture
def store(team_database):
    opened = PredictionStore(team_database)
    assert opened.engine.dialect.name == "postgresql"
    yield opened
    opened.close()


def _writer(url: str, k: int, opened: threading.Barrier, acknowledged: dict, errors: list) -> None:
    """One service worker: its own store (connection pool) on the shared database, batches of
    predictions with features of a feature set every writer shares, and results that overlap
    the other writers' (the same match reported by several)."""
    try:
        opened.wait()
        store = PredictionStore(url)  # all eight create the schema of a new database at once
        names = tuple(f"f{j}" for j in range(12))
        ids = []
        for b in range(BATCHES):
            rows = [
                bare(
                    model_name=f"w{k}",
                    home_team=TEAMS[i],
                    away_team=TEAMS[(i + 1 + b % 19) % 20],
                    date=f"2024-09-{1 + b % 28:02d}",
                    features=FeatureVector(names, np.full(12, float(b))),
                    detail={"batch": b},
                )
                for i in range(1 + (k + b) % 4)
            ]
            ids += store.record_predictions(rows)
            store.record_results(
                [
                    result(
                        home_team=TEAMS[i],
                        away_team=TEAMS[(i + 1 + b % 19) % 20],
                        date=f"2024-09-{1 + b % 28:02d}",
                        home_score=(i + b) % 4,
                        away_score=b % 3,
                    )
                    for i in range(4)
                ]
            )
            if b % 8 == 7:
                store.settle()
        acknowledged[k] = ids
        store.close()
    except BaseException as error:  # reported by the test
        errors.append((k, error))


def test_concurrent_writers_on_a_new_database_all_land_once_and_settle_idempotently(postgres_url):
    url = new_database(postgres_url)
    opened, acknowledged, errors = threading.Barrier(WRITERS), {}, []
    threads = [
        threading.Thread(target=_writer, args=(url, k, opened, acknowledged, errors)) for k in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    expected = {k: sum(1 + (k + b) % 4 for b in range(BATCHES)) for k in range(WRITERS)}
    assert {k: len(ids) for k, ids in acknowledged.items()} == expected

    store = PredictionStore(url)
    table = store.predictions()
    every = [i for ids in acknowledged.values() for i in ids]
    assert len(every) == len(set(every)) and sorted(table["id"]) == sorted(every)
    assert table.groupby("model_name").size().to_dict() == {f"w{k}": n for k, n in expected.items()}
    # one feature set for all writers, one output per distinct (features, detail)
    assert count(store, "feature_sets") == 1 and count(store, "forecast_outputs") == BATCHES
    assert table["detail"].map(lambda d: d["batch"]).between(0, BATCHES - 1).all()

    first = store.settle()
    total = len(table)
    assert first["settled"] + first["resettled"] + first["unchanged"] + first["pending"] == total
    settled = store.predictions(settled=True)
    assert settled["id"].is_unique and settled["rps"].notna().all()
    assert store.settle() == {
        "settled": 0,
        "resettled": 0,
        "unchanged": len(settled),
        "pending": total - len(settled),
    }
    with store.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM settlements s LEFT JOIN predictions p "
                "ON p.id = s.prediction_id WHERE p.id IS NULL"
            )
        ).scalar()
    assert orphans == 0
    store.close()


def test_concurrent_settles_score_each_prediction_once(store):
    store.record_predictions([prediction(home_team=TEAMS[i], away_team=TEAMS[i + 1]) for i in range(10)])
    store.record_results([result(home_team=TEAMS[i], away_team=TEAMS[i + 1]) for i in range(10)])
    outcomes, start = [], threading.Barrier(4)

    def settle():
        start.wait()
        outcomes.append(PredictionStore(store.url).settle())

    threads = [threading.Thread(target=settle) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o["settled"] for o in outcomes) == [0, 0, 0, 10]
    assert count(store, "settlements") == 10
