"""The prediction service over HTTP (a real ``bentoml serve`` of real champions, see conftest):
answer shapes, agreement between /predict, /predict_batch and the MLflow pyfunc, every kind of
bad input, API keys and rate limits, Prometheus metrics, schemathesis on the service's own
OpenAPI schema, no acknowledged write lost to a SIGKILL, and the bento build."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from scoreline.serving.limits import gcra, parse_api_keys

from .conftest import API_KEY, LIMIT, LIMITED_KEY, SERVED, RunningService, service_env

pytestmark = pytest.mark.realdata

FUTURE = "2026-12-05"  # after the stored history: a fixture to forecast
PAST = "2026-11-01"  # a fixture whose result gets recorded


def fixture(code: str, home: str, away: str, **extra) -> dict:
    return {"competition": code, "home_team": home, "away_team": away, "date": FUTURE, **extra}


def assert_same_answer(got: dict, expected: dict) -> None:
    """Equal answers but for the prediction id; numbers to 1e-12 (a batch sums in another
    order than a single fixture)."""
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key == "prediction_id":
            continue
        if key == "top_scores":
            assert [(s["home"], s["away"]) for s in got[key]] == [(s["home"], s["away"]) for s in value]
            np.testing.assert_allclose(
                [s["probability"] for s in got[key]], [s["probability"] for s in value], rtol=0, atol=1e-12
            )
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=1e-12), key
        else:
            assert got[key] == value, key


# --------------------------------------------------------------------------- pure pieces


def test_gcra_allows_a_burst_of_the_limit_then_one_per_interval():
    tat, allowed = 0.0, []
    for _ in range(4):
        decision, tat = gcra(tat, 100.0, 3)
        allowed.append((decision.allowed, decision.remaining))
    assert allowed == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert decision.retry_after_s == pytest.approx(20.0)
    later, _ = gcra(tat, 120.0, 3)  # one interval on, one request fits again
    assert later.allowed and later.remaining == 0


def test_api_keys_parse_limits_and_name_a_bad_entry_without_its_text():
    keys = parse_api_keys(["alpha", "beta:7"], default_limit=0)
    assert sorted(k.limit_per_minute for k in keys.values()) == [0, 7]
    with pytest.raises(ValueError, match="entry 2") as error:
        parse_api_keys(["alpha", "secret:many"], default_limit=0)
    assert "secret" not in str(error.value)


# --------------------------------------------------------------------------- answers


def test_service_is_live_ready_and_reports_its_models(service, client):
    for path in ("/healthz", "/livez", "/readyz"):
        assert client.get(path).status_code == 200
    models = {m["competition"]: m for m in client.get("/models").json()}
    assert set(models) == set(SERVED)
    for code, name in SERVED.items():
        assert models[code]["model_name"] == name and models[code]["model_version"] == "1"
        assert models[code]["registered_model"] == f"scoreline-{code}"
        assert models[code]["bento_model"].startswith(f"scoreline-{code.lower()}:")
    assert models["E0"]["outcomes"] == ["home", "draw", "away"]
    assert models["NFL"]["outcomes"] == ["home", "away"]
    print(f"\nstart-up to ready: {service.startup_seconds:.2f} s")
    assert service.startup_seconds < 60


def test_football_answer_has_probabilities_odds_edges_goals_and_scores(client, teams):
    home, away = teams["E0"][:2]
    prices = {"home": 2.1, "draw": 3.4, "away": 3.9}
    answer = client.post("/predict", json=fixture("E0", home, away, prices=prices))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    probs = np.array([got["prob_home"], got["prob_draw"], got["prob_away"]])
    assert np.all(probs > 0) and probs.sum() == pytest.approx(1.0, abs=1e-12)
    for outcome, prob in zip(("home", "draw", "away"), probs):
        assert got[f"fair_odds_{outcome}"] == pytest.approx(1 / prob, rel=1e-12)
        assert got[f"edge_{outcome}"] == pytest.approx(prob * prices[outcome] - 1, abs=1e-12)
    assert got["expected_goals_home"] > 0 and got["expected_goals_away"] > 0
    scores = got["top_scores"]
    assert len(scores) == 5
    chances = [s["probability"] for s in scores]
    assert chances == sorted(chances, reverse=True) and 0 < sum(chances) < 1
    assert got["model_name"] == "dixon_coles" and got["model_version"] == "1"
    assert (got["competition"], got["home_team"], got["away_team"], got["date"]) == ("E0", home, away, FUTURE)
    assert isinstance(got["prediction_id"], int)


def test_two_way_answer_has_win_probability_margin_total_and_intervals(client, teams):
    home, away = teams["NFL"][:2]
    answer = client.post("/predict", json=fixture("NFL", home, away, prices={"home": 1.8}))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert "prob_draw" not in got
    assert got["prob_home"] + got["prob_away"] == pytest.approx(1.0, abs=1e-12)
    assert got["edge_home"] == pytest.approx(got["prob_home"] * 1.8 - 1, abs=1e-12)
    assert got["edge_away"] is None
    for target in ("margin", "total"):
        bounds = [
            got[f"{target}_lower_95"],
            got[f"{target}_lower_80"],
            got[target],
            got[f"{target}_upper_80"],
            got[f"{target}_upper_95"],
        ]
        assert bounds == sorted(bounds) and bounds[0] < bounds[-1]
    assert got["total"] > 20 and got["model_name"] == "elo"


def test_predict_batch_and_pyfunc_agree_with_predict(client, teams, exported_champions):
    import mlflow

    from scoreline.promotion import registered_model_name, registry_client

    e0, nfl = teams["E0"][:4], teams["NFL"][:4]
    fixtures = [fixture("E0", h, a) for h, a in itertools.permutations(e0, 2)][:6]
    fixtures += [
        fixture("NFL", h, a, date="2026-12-06", neutral=True) for h, a in itertools.permutations(nfl, 2)
    ][:4]
    fixtures.insert(3, dict(fixtures[0]))  # an exact repeat, mid-batch
    fixtures[1]["prices"] = {"home": 2.5, "away": 3.0}
    single = [client.post("/predict", json=f) for f in fixtures]
    assert all(r.status_code == 200 for r in single), [r.text for r in single if r.status_code != 200]
    batch = client.post("/predict_batch", json={"fixtures": fixtures})
    assert batch.status_code == 200, batch.text
    answers = batch.json()["predictions"]
    assert len(answers) == len(fixtures)
    for got, expected in zip(answers, single):
        assert_same_answer(got, expected.json())
    ids = [a["prediction_id"] for a in answers]
    assert len(set(ids)) == len(ids)  # every row logged, repeats too

    client_ = registry_client(exported_champions)
    for code in SERVED:
        uri = client_.get_model_version_download_uri(registered_model_name(code), "1")
        pyfunc = mlflow.pyfunc.load_model(uri)
        rows = [f for f in fixtures if f["competition"] == code]
        expected = pyfunc.predict(
            pd.DataFrame(rows)[["home_team", "away_team", "date"]].assign(
                neutral=[bool(f.get("neutral")) for f in rows]
            )
        )
        got = pd.DataFrame([a for a in answers if a["competition"] == code])[list(expected.columns)]
        np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), rtol=0, atol=1e-12)


def test_predictions_are_logged_with_version_features_and_prices(service, client, teams):
    from scoreline.predictions import PredictionStore

    home, away = teams["E0"][2:4]
    got = client.post("/predict", json=fixture("E0", home, away, prices={"draw": 3.3})).json()
    store = PredictionStore(service.store_url)
    try:
        logged = store.predictions(competition="E0").set_index("id").loc[got["prediction_id"]]
    finally:
        store.close()
    assert (logged["home_team"], logged["away_team"], logged["model_version"]) == (home, away, "1")
    assert logged["prob_home"] == got["prob_home"] and logged["price_draw"] == 3.3
    assert np.isnan(logged["price_home"])
    assert logged["features"] and all(
        isinstance(v, (float, int, type(None))) for v in logged["features"].values()
    )


def test_a_batch_of_10000_fixtures_is_answered_in_order(client, teams):
    pairs = [("E0", h, a) for h, a in itertools.permutations(teams["E0"][:20], 2)]
    pairs += [("NFL", h, a) for h, a in itertools.permutations(teams["NFL"][:32], 2)]
    fixtures = [
        {"competition": c, "home_team": h, "away_team": a, "date": FUTURE}
        for c, h, a in itertools.islice(itertools.cycle(pairs), 10_000)
    ]
    assert (
        client.post("/predict_batch", json={"fixtures": fixtures[:5]}).status_code == 200
    )  # features of the date
    started = time.perf_counter()
    answer = client.post("/predict_batch", json={"fixtures": fixtures})
    seconds = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:500]
    got = answer.json()["predictions"]
    assert [(g["competition"], g["home_team"], g["away_team"]) for g in got] == [
        (f["competition"], f["home_team"], f["away_team"]) for f in fixtures
    ]
    totals = np.array([g["prob_home"] + (g.get("prob_draw") or 0) + g["prob_away"] for g in got])
    np.testing.assert_allclose(totals, 1.0, atol=1e-12)
    print(f"\n/predict_batch of 10,000 fixtures: {seconds * 1000:.0f} ms end to end")
    assert seconds < 10


# --------------------------------------------------------------------------- big batches, batch jobs


def worker_pids(service) -> set[int]:
    """The service's worker processes (the arbiter's children that serve HTTP)."""
    import psutil

    root = psutil.Process(service.process.pid)
    return {p.pid for p in root.children() if "_bentoml_impl.worker" in " ".join(p.cmdline())}


def batch(teams: list[str], n: int, **extra) -> list[dict]:
    pairs = itertools.cycle(itertools.permutations(teams[:20], 2))
    return [fixture("E0", h, a, **extra) for h, a in itertools.islice(pairs, n)]


def test_a_big_batch_is_answered_by_a_batch_process_a_small_one_by_the_worker(service, client, teams):
    import psutil

    from scoreline.config import Settings

    threshold = Settings().serve_batch_offload_rows  # the service's: its environment sets none
    workers = worker_pids(service)
    fixtures = batch(teams["E0"], threshold + 1)
    small = client.post("/predict_batch", json={"fixtures": fixtures[:5]})
    assert small.status_code == 200 and int(small.headers["x-forecast-process"]) in workers
    big = client.post("/predict_batch", json={"fixtures": fixtures})
    assert big.status_code == 200, big.text[:500]
    pid = int(big.headers["x-forecast-process"])
    assert pid not in workers and psutil.Process(pid).ppid() in workers  # a worker's own process
    got = big.json()["predictions"]
    assert len(got) == len(fixtures)
    for offloaded, inline in zip(got, small.json()["predictions"]):
        assert_same_answer(offloaded, inline)
    assert len({g["prediction_id"] for g in got}) == len(got)  # each one stored
    fixtures[threshold]["prices"] = {"home": 0.5}  # a bad row, found by the batch process
    refused = client.post("/predict_batch", json={"fixtures": fixtures})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(f"fixtures[{threshold}].prices.home:")


def test_a_batch_job_is_submitted_polled_and_its_answer_fetched(client, teams):
    fixtures = batch(teams["E0"], 2_000)
    submitted = client.post("/batch_jobs", json={"fixtures": fixtures})
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["status"] in ("queued", "running") and job["fixtures"] == 2_000
    assert submitted.headers["location"] == f"/batch_jobs/{job['job_id']}"
    seen, deadline = [job["status"]], time.monotonic() + 120
    while seen[-1] not in ("done", "failed") and time.monotonic() < deadline:
        early = client.get(f"/batch_jobs/{job['job_id']}/result")
        status = client.get(submitted.headers["location"]).json()["status"]
        if status in ("queued", "running"):
            assert early.status_code == 409 and "is " in early.json()["error"]
        seen.append(status)
        time.sleep(0.05)
    assert seen[-1] == "done", seen
    assert seen == sorted(seen, key=["queued", "running", "done"].index)
    final = client.get(f"/batch_jobs/{job['job_id']}").json()
    assert final["started_at"] and final["finished_at"] and final["result"].endswith("/result")
    result = client.get(final["result"])
    assert result.status_code == 200
    got = result.json()["predictions"]
    expected = client.post("/predict_batch", json={"fixtures": fixtures[:5]}).json()["predictions"]
    pairs = [(f["home_team"], f["away_team"]) for f in fixtures]
    assert [(g["home_team"], g["away_team"]) for g in got] == pairs
    for answer, inline in zip(got, expected):
        assert_same_answer(answer, inline)
    assert client.get(final["result"]).content == result.content  # fetched again, the same


def test_an_unknown_batch_job_is_404(client):
    for path in ("/batch_jobs/" + "0" * 32, "/batch_jobs/" + "0" * 32 + "/result", "/batch_jobs/nope"):
        answer = client.get(path)
        assert answer.status_code == 404 and "no batch job" in answer.json()["error"], path


def test_a_bad_batch_job_is_refused_naming_row_and_field_and_never_queued(service, client, teams):
    folder = Path(service.env["SCORELINE_HOME"]) / "registry" / "batch_jobs"
    before = set(folder.glob("*.json")) if folder.exists() else set()
    fixtures = batch(teams["E0"], 50)
    fixtures[7]["prices"] = {"home": 0.5}
    refused = client.post("/batch_jobs", json={"fixtures": fixtures})
    assert refused.status_code == 400 and refused.json()["error"].startswith("fixtures[7].prices.home:")
    fixtures[7] = fixture("E0", teams["E0"][0], "Totenham")
    refused = client.post("/batch_jobs", json={"fixtures": fixtures})
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("fixtures[7]: away_team: unknown team 'Totenham'")
    for broken in (b"{", b'{"fixtures": []}'):
        answer = client.post("/batch_jobs", content=broken, headers={"content-type": "application/json"})
        assert answer.status_code == 400, answer.text
    assert (set(folder.glob("*.json")) if folder.exists() else set()) == before


# --------------------------------------------------------------------------- bad input

BAD_PREDICTIONS = [
    # (body, status, text the error must contain)
    ({"competition": "E0", "home_team": "Arsnal", "away_team": "Chelsea"}, 422, "Arsenal"),
    ({"competition": "E0", "home_team": "Arsenal", "away_team": "Arsenal"}, 422, "both 'Arsenal'"),
    ({"competition": "E0", "home_team": "Arsenal", "away_team": " arsenal"}, 422, "both"),
    ({"competition": "XX", "home_team": "Arsenal", "away_team": "Chelsea"}, 400, "competition"),
    (
        {"competition": "D1", "home_team": "Bayern Munich", "away_team": "Dortmund"},
        422,
        "no champion serves D1",
    ),
    ({"competition": "E0", "home_team": "Arsenal"}, 400, "away_team"),
    (
        {"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "date": "2026-13-45"},
        400,
        "date",
    ),
    (
        {"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "date": "3000-01-01"},
        400,
        "date",
    ),
    (
        {"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "prices": {"home": 0}},
        400,
        "home",
    ),
    (
        {"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "prices": {"away": -2}},
        400,
        "away",
    ),
    (
        {"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "prices": {"home": "x"}},
        400,
        "home",
    ),
    ({"competition": "NFL", "home_team": "KC", "away_team": "BUF", "prices": {"draw": 3.0}}, 422, "no draw"),
    ({"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "colour": "red"}, 400, "colour"),
    ({"competition": "E0", "home_team": "", "away_team": "Chelsea"}, 400, "home_team"),
    ({"competition": "E0", "home_team": 7, "away_team": "Chelsea"}, 400, "home_team"),
    # the schema says what is refused: no null prices, a strict boolean, a date as ISO text
    ({"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "prices": None}, 400, "prices"),
    ({"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "neutral": "yes"}, 400, "neutral"),
    ({"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "date": 0}, 400, "ISO text"),
]


@pytest.mark.parametrize("body, status, text", BAD_PREDICTIONS)
def test_bad_fixtures_get_a_clear_4xx(client, body, status, text):
    answer = client.post("/predict", json=body)
    assert answer.status_code == status, answer.text
    assert text in answer.text


def test_a_nan_price_is_refused_as_not_finite(client):
    body = b'{"competition": "E0", "home_team": "Arsenal", "away_team": "Chelsea", "prices": {"home": NaN}}'
    answer = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and "finite number" in answer.text, answer.text


def test_the_schema_documents_what_the_service_answers(client, teams):
    spec = client.get("/docs.json").json()
    for path in ("/predict", "/predict_batch"):
        operation = spec["paths"][path]["post"]
        assert {"400", "422"} <= set(operation["responses"]) and operation["requestBody"]["required"]
    assert spec["components"]["schemas"]["InvalidArgument"]["properties"]["detail"]["type"] == "array"
    assert "400" in spec["paths"]["/results"]["post"]["responses"]
    variants = spec["components"]["schemas"]["FixtureIODescriptor"]["oneOf"]
    by_code = {v["properties"]["competition"]["enum"][0]: v for v in variants}
    assert set(by_code) == set(SERVED)  # only the served competitions, each with its teams
    assert set(teams["E0"]) <= set(by_code["E0"]["properties"]["home_team"]["enum"])
    assert client.get("/upcoming", params={"competition": "E0", "day": 3}).status_code == 422
    broken = client.post(
        "/results", content=b"{", headers={"content-type": "application/json", "X-API-Key": API_KEY}
    )
    body = broken.json()  # whichever of FastAPI's answers, the documented error shape
    assert broken.status_code in (400, 422) and isinstance(body["error"], str)
    assert isinstance(body.get("detail", []), list)
    groups = [tag["name"] for tag in spec["tags"]]
    assert groups == ["Forecasts", "Live", "Served", "Results and monitoring", "Infrastructure"]
    for path, item in spec["paths"].items():  # no "default" group, no nameless operation
        for method, operation in item.items():
            assert len(operation["tags"]) == 1 and operation["tags"][0] in groups, (method, path)
            assert operation.get("summary") or operation["tags"] == ["Infrastructure"], (method, path)


def test_unknown_team_names_the_team_and_the_closest_known_ones(client):
    got = client.post(
        "/predict", json={"competition": "E0", "home_team": "Arsenal", "away_team": "Man Utd"}
    ).json()
    assert "away_team" in got["error"] and "'Man Utd'" in got["error"]
    assert got["detail"][0]["field"] == "away_team"
    assert "Man United" in got["detail"][0]["suggestions"]


@pytest.mark.parametrize(
    "payload, content_type, status",
    [
        (b'{"competition": "E0",', "application/json", 400),
        (b"[1, 2, 3]", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"competition": "E0"}', "multipart/form-data", 415),
        (b"competition=E0", "application/x-www-form-urlencoded", 415),
        (b"\xff\xfe", "text/plain", 415),
    ],
)
def test_malformed_bodies_are_rejected_not_crashed_on(client, payload, content_type, status):
    for path in ("/predict", "/predict_batch"):
        answer = client.post(path, content=payload, headers={"content-type": content_type})
        assert answer.status_code == status, (path, answer.text)


def test_a_bad_row_of_a_batch_is_named_by_its_index(client, teams):
    home, away = teams["E0"][:2]
    fixtures = [fixture("E0", home, away) for _ in range(5)]
    fixtures[3] = fixture("E0", home, "Totenham")
    got = client.post("/predict_batch", json={"fixtures": fixtures})
    assert got.status_code == 422
    assert got.json()["error"].startswith("fixtures[3]: away_team: unknown team 'Totenham'")
    assert "Tottenham" in got.json()["detail"][0]["suggestions"]
    fixtures[3] = {**fixture("E0", home, away), "prices": {"home": 1.0}}
    assert client.post("/predict_batch", json={"fixtures": fixtures}).status_code == 400
    assert client.post("/predict_batch", json={"fixtures": []}).status_code == 400
    assert client.post("/predict_batch", json={"fixture": fixtures}).status_code == 400


def test_teams_of_an_unknown_or_unserved_competition(client, teams):
    assert "Arsenal" in teams["E0"] and "KC" in teams["NFL"]
    assert client.get("/teams", params={"competition": "XX"}).status_code == 422
    assert client.get("/teams").status_code == 422
    unserved = client.get("/teams", params={"competition": "NBA"})
    assert unserved.status_code == 404 and "NBA" in unserved.json()["error"]


# --------------------------------------------------------------------------- results, keys, limits


def result(home: str, away: str, date: str = PAST, home_score: int = 2, away_score: int = 1) -> dict:
    return {
        "competition": "E0",
        "home_team": home,
        "away_team": away,
        "date": date,
        "home_score": home_score,
        "away_score": away_score,
    }


def test_results_need_a_valid_api_key(client, teams):
    body = {"results": [result(*teams["E0"][:2])]}
    missing = client.post("/results", json=body)
    assert missing.status_code == 401 and "API key" in missing.json()["error"]
    assert "www-authenticate" in missing.headers
    assert client.post("/results", json=body, headers={"X-API-Key": "not-a-key"}).status_code == 403
    assert (
        client.post("/results", json=body, headers={"Authorization": "Bearer not-a-key"}).status_code == 403
    )
    # a wrong key is refused anywhere, not just on /results
    assert client.get("/models", headers={"X-API-Key": "not-a-key"}).status_code == 403


def test_results_settle_logged_predictions_once(service, client, teams):
    from scoreline.predictions import PredictionStore

    home, away = teams["E0"][4:6]
    predicted = client.post("/predict", json=fixture("E0", home, away, date=PAST)).json()
    key = {"Authorization": f"Bearer {API_KEY}"}
    first = client.post("/results", json={"results": [result(home, away)]}, headers=key)
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == 1 and first.json()["settled"]["settled"] >= 1
    again = client.post("/results", json={"results": [result(home, away)]}, headers=key)
    assert again.json()["recorded"] == 0 and again.json()["settled"]["settled"] == 0
    store = PredictionStore(service.store_url)
    try:
        settled = store.predictions(competition="E0", settled=True).set_index("id")
    finally:
        store.close()
    row = settled.loc[predicted["prediction_id"]]
    assert row["outcome"] == "home" and row["home_score"] == 2
    expected_rps = (
        (predicted["prob_home"] - 1) ** 2 + (predicted["prob_home"] + predicted["prob_draw"] - 1) ** 2
    ) / 2
    assert row["rps"] == pytest.approx(expected_rps, abs=1e-12)


@pytest.mark.parametrize(
    "change, text",
    [
        ({"date": "2099-01-01"}, "future"),
        ({"home_team": "Arsnal"}, "Arsenal"),
        ({"home_score": 16}, "home_score"),
        ({"home_score": -1}, "home_score"),
        ({"competition": "XX"}, "competition"),
    ],
)
def test_bad_results_are_refused_and_nothing_is_stored(service, client, teams, change, text):
    from scoreline.predictions import PredictionStore

    good = result(teams["E0"][6], teams["E0"][7], date="2026-10-01")
    body = {"results": [good, {**good, "date": "2026-10-02", **change}]}
    answer = client.post("/results", json=body, headers={"X-API-Key": API_KEY})
    assert answer.status_code == 422 and text in answer.text, answer.text
    store = PredictionStore(service.store_url)
    try:
        stored = store.results(competition="E0")
    finally:
        store.close()
    assert not (stored["date"] == pd.Timestamp("2026-10-01")).any()  # all or nothing


def test_rate_limited_key_gets_429_with_retry_after(client):
    key = {"X-API-Key": LIMITED_KEY}
    remaining = []
    for _ in range(LIMIT):
        answer = client.get("/models", headers=key)
        assert answer.status_code == 200
        assert answer.headers["x-ratelimit-limit"] == str(LIMIT)
        remaining.append(int(answer.headers["x-ratelimit-remaining"]))
    assert remaining == list(range(LIMIT - 1, -1, -1))
    refused = client.get("/models", headers=key)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60 // LIMIT
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert client.get("/healthz", headers=key).status_code == 200  # probes are never limited
    assert client.get("/models", headers={"X-API-Key": API_KEY}).status_code == 200  # another key


# --------------------------------------------------------------------------- metrics, schema


def test_metrics_parse_and_count_requests_predictions_and_versions(client, teams):
    from prometheus_client.parser import text_string_to_metric_families

    for _ in range(3):
        assert client.post("/predict", json=fixture("E0", *teams["E0"][:2])).status_code == 200
    batch = [fixture("NFL", *teams["NFL"][:2])] * 4
    assert client.post("/predict_batch", json={"fixtures": batch}).status_code == 200
    assert client.post("/predict", json={"competition": "XX"}).status_code == 400
    assert client.post("/predict", json=fixture("E0", "Nobody", "Arsenal")).status_code == 422
    text = client.get("/metrics").text
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def values(name: str, **labels) -> list[float]:
        return [
            s.value
            for s in samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    assert sum(values("scoreline_predictions_total", competition="E0", endpoint="/predict")) >= 3
    assert sum(values("scoreline_predictions_total", competition="NFL", endpoint="/predict_batch")) >= 4
    assert values("scoreline_model_info", competition="E0", model_name="dixon_coles", model_version="1") == [
        1.0
    ]
    assert values("scoreline_model_info", competition="NFL", model_name="elo", model_version="1") == [1.0]
    requests = [
        s for s in samples if s.name.endswith("_request_total") and s.labels.get("endpoint") == "/predict"
    ]
    assert {s.labels["http_response_code"] for s in requests} >= {"200", "400", "422"}
    buckets = [
        s
        for s in samples
        if s.name.endswith("_request_duration_seconds_bucket")
        and s.labels.get("endpoint") == "/predict_batch"
    ]
    assert buckets and max(s.value for s in buckets) >= 1


def test_schemathesis_finds_the_service_as_its_schema_says(service, tmp_path):
    """Every schemathesis check (response schemas, status codes, bad data refused, good data
    accepted but for the whole-request checks tests/serving/schemathesis.toml names), bounded
    to well under two minutes on two cores. The live stream never ends: not fuzzed."""
    st = Path(sys.executable).with_name("st")
    started = time.perf_counter()
    run = subprocess.run(
        [
            str(st),
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{service.url}/docs.json",
            "--checks",
            "all",
            "--exclude-path",
            "/live/stream",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "10",
            "--seed",
            "20261124",
            "--header",
            f"X-API-Key: {API_KEY}",
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=240,
    )
    summary = run.stdout[-3000:]
    assert run.returncode == 0, summary
    assert "Selected: 15/16" in run.stdout and "Tested: 15" in run.stdout
    assert " passed" in summary and "failure" not in summary.split("SUMMARY")[-1]
    assert time.perf_counter() - started < 120


# --------------------------------------------------------------------------- crash safety, bento


def test_sigkill_while_recording_results_loses_no_acknowledged_one(service, teams):
    from scoreline.predictions import PredictionStore

    pairs = list(itertools.permutations(teams["E0"][:20], 2))
    acknowledged: list[tuple] = []
    lock, stop = threading.Lock(), threading.Event()

    def record(worker: int) -> None:
        with httpx.Client(base_url=service.url, headers={"X-API-Key": API_KEY}, timeout=10) as http:
            for i in itertools.count():
                if stop.is_set():
                    return
                home, away = pairs[(worker * 97 + i) % len(pairs)]
                date = (dt.date(2000, 1, 1) + dt.timedelta(days=worker * 2000 + i)).isoformat()
                body = {"results": [result(home, away, date, i % 5, (i // 5) % 4)]}
                try:
                    answer = http.post("/results", json=body)
                except httpx.TransportError:
                    return
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append((date, home, away, i % 5, (i // 5) % 4))

    threads = [threading.Thread(target=record, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + 20
    while len(acknowledged) < 40 and time.perf_counter() < deadline:
        time.sleep(0.05)
    service.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(acknowledged) >= 40

    service.start()
    store = PredictionStore(service.store_url)
    try:
        stored = store.results(competition="E0")
    finally:
        store.close()
    kept = {
        (d.date().isoformat(), h, a): (hs, as_)
        for d, h, a, hs, as_ in stored[
            ["date", "home_team", "away_team", "home_score", "away_score"]
        ].itertuples(index=False)
    }
    lost = [a for a in acknowledged if kept.get(a[:3]) != a[3:]]
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged results lost: {lost[:5]}"
    with httpx.Client(base_url=service.url, timeout=30) as http:
        date, home, away, home_score, away_score = acknowledged[0]
        resent = http.post(
            "/results",
            json={"results": [result(home, away, date, home_score, away_score)]},
            headers={"X-API-Key": API_KEY},
        )
        assert resent.status_code == 200 and resent.json()["recorded"] == 0


def test_a_bento_carries_its_champions_and_serves_without_the_registry(exported_champions, tmp_path):
    from scoreline.serving.package import bento_model_name, build_bento

    tag = build_bento(exported_champions)
    built = {"BENTOML_HOME": str(exported_champions.bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
    archive = tmp_path / "scoreline.bento"
    for command, home in (
        (["export", tag, str(archive)], exported_champions.bentoml_home),
        (["import", str(archive)], tmp_path / "elsewhere"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "bentoml", *command],
            capture_output=True,
            text=True,
            env={**service_env(tmp_path, home), **built, "BENTOML_HOME": str(home)},
        )
        assert done.returncode == 0, done.stderr
    # a fresh BentoML home holding only the imported bento; no registry, no tracking store
    running = RunningService(tmp_path, service_env(tmp_path, tmp_path / "elsewhere"), target=tag)
    running.start()
    try:
        with httpx.Client(base_url=running.url, timeout=60) as http:
            models = {m["competition"]: m for m in http.get("/models").json()}
            answer = http.post("/predict", json=fixture("E0", "Arsenal", "Chelsea"))
    finally:
        running.stop()
    assert set(models) == set(SERVED)
    assert all(m["bento_model"].startswith(bento_model_name(c)) for c, m in models.items())
    assert answer.status_code == 200 and answer.json()["model_name"] == "dixon_coles"
