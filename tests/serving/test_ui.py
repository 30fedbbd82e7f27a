"""The match-centre page in headless Chromium (Debian's, driven by Playwright) against the real
service: what it renders must be what the API answers, to the displayed precision."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.realdata

TODAY = dt.datetime.now(dt.UTC).date()
#: the page's forecasts: inside the upcoming list's default 7 days
MATCH_DAY = TODAY + dt.timedelta(days=2)


@pytest.fixture
def page(browser, service):
    """A fresh page on the match centre; any request beyond the service, and any script error,
    fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    elsewhere, errors = [], []

    def only_the_service(route):
        if urlsplit(route.request.url).netloc == urlsplit(service.url).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_service)
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{service.url}/ui/")
    settle(tab)
    yield tab
    context.close()
    assert not elsewhere, f"the page fetched from outside the service: {elsewhere}"
    assert not errors, f"script errors: {errors}"


def settle(tab) -> None:
    """Wait until the page has shown everything it asked the service for."""
    tab.wait_for_selector('body[data-pending="0"]', state="attached", timeout=30_000)


def choose(
    tab, code: str, home: str, away: str, prices: dict[str, float] | None = None, date: dt.date = MATCH_DAY
) -> None:
    prices = prices or {}
    if tab.input_value("#competition") != code:
        tab.select_option("#competition", code)
        settle(tab)
    tab.select_option("#home-team", home)
    tab.select_option("#away-team", away)
    tab.fill("#date", date.isoformat())
    for outcome in ("home", "draw", "away"):
        if outcome in prices or tab.is_visible(f"#price-{outcome}"):
            tab.fill(f"#price-{outcome}", str(prices.get(outcome, "")))


def submit(tab) -> dict:
    """Press Predict; the answer the page received."""
    with tab.expect_response(lambda r: r.url.endswith("/predict")) as answered:
        tab.click("#predict")
    settle(tab)
    return answered.value.json() if answered.value.ok else {}


def assert_shows(text: str, value: float, decimals: int, scale: float = 1.0, suffix: str = "") -> None:
    """``text`` is ``value * scale`` with ``decimals`` decimals (any correct rounding)."""
    assert text.endswith(suffix), text
    number = text[: len(text) - len(suffix)] if suffix else text
    assert re.fullmatch(rf"[+-]?\d+\.\d{{{decimals}}}", number), (
        f"{text!r} is not shown to {decimals} decimals"
    )
    assert abs(float(number) - value * scale) <= 0.5 * 10**-decimals + 1e-9, (text, value)


def api_answer(client, tab_answer: dict, **fixture) -> dict:
    """The API's own answer for the fixture, checked equal to what the page received."""
    answer = client.post("/predict", json=fixture)
    assert answer.status_code == 200, answer.text
    expected = answer.json()
    assert {k: v for k, v in tab_answer.items() if k != "prediction_id"} == {
        k: v for k, v in expected.items() if k != "prediction_id"
    }
    return expected


# --------------------------------------------------------------------------- routes


def test_the_page_needs_nothing_from_outside_and_home_stays_the_api_docs(client):
    home = client.get("/")
    assert home.status_code == 200 and "swagger" in home.text.lower()
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
    page = client.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        assert f'"{asset}"' in page.text
        served = client.get(f"/ui/{asset}")
        assert served.status_code == 200 and kind in served.headers["content-type"]
        # the only absolute URL is the SVG namespace, which is never fetched
        assert set(re.findall(r"https?://[^\s\"'`)]+", served.text)) <= {"http://www.w3.org/2000/svg"}
    assert client.get("/ui/missing.js").status_code == 404
    spec = client.get("/docs.json").json()
    assert {"/upcoming", "/monitoring"} <= set(spec["paths"]) and "/ui" not in spec["paths"]


def test_upcoming_and_monitoring_refuse_bad_parameters(client):
    for path, params, field in (
        ("/upcoming", {"competition": "XX"}, "competition"),
        ("/upcoming", {"competition": "E0", "days": -1}, "days"),
        ("/upcoming", {"competition": "E0", "days": "soon"}, "days"),
        ("/monitoring", {}, "competition"),
    ):
        answer = client.get(path, params=params)
        assert answer.status_code == 422, answer.text
        assert field in json.dumps(answer.json()["detail"])


# --------------------------------------------------------------------------- forecasts


def test_football_forecast_shows_the_apis_numbers(page, client, teams):
    home, away = teams["E0"][:2]
    prices = {"home": 2.1, "draw": 3.4, "away": 3.9}
    choose(page, "E0", home, away, prices)
    shown = submit(page)
    api = api_answer(
        client,
        shown,
        competition="E0",
        home_team=home,
        away_team=away,
        date=MATCH_DAY.isoformat(),
        neutral=False,
        prices=prices,
    )

    assert page.inner_text("#result-title").startswith(f"{home} v {away}, {MATCH_DAY}")
    assert f"model dixon_coles v{api['model_version']}" in page.inner_text("#result-model")
    for outcome in ("home", "draw", "away"):
        row = f'#outcomes tr[data-outcome="{outcome}"]'
        assert_shows(page.inner_text(f"{row} .prob"), api[f"prob_{outcome}"], 1, 100, "%")
        assert_shows(page.inner_text(f"{row} .fair-odds"), api[f"fair_odds_{outcome}"], 2)
        assert_shows(page.inner_text(f"{row} .price"), prices[outcome], 2)
        assert_shows(page.inner_text(f"{row} .edge"), api[f"edge_{outcome}"], 1, 100, "%")
        bar = f'#chart g[data-outcome="{outcome}"]'
        assert_shows(page.text_content(f"{bar} .bar-value"), api[f"prob_{outcome}"], 1, 100, "%")
        width = float(page.get_attribute(f"{bar} rect", "width"))
        assert width == pytest.approx(260 * api[f"prob_{outcome}"], rel=1e-6)
    assert_shows(page.inner_text("#xg-home"), api["expected_goals_home"], 2)
    assert_shows(page.inner_text("#xg-away"), api["expected_goals_away"], 2)
    scores = page.locator("#top-scores li").all_inner_texts()
    assert len(scores) == len(api["top_scores"]) == 5
    for text, score in zip(scores, api["top_scores"]):
        label, chance = text.split(": ")
        assert label == f"{score['home']}-{score['away']}"
        assert_shows(chance, score["probability"], 1, 100, "%")
    assert page.is_hidden("#twoway-detail") and page.is_hidden("#error")


def test_two_way_forecast_shows_margin_and_total_intervals(page, client, teams):
    home, away = teams["NFL"][:2]
    choose(page, "NFL", home, away, {"home": 1.8})
    assert page.is_hidden("#price-draw")
    shown = submit(page)
    api = api_answer(
        client,
        shown,
        competition="NFL",
        home_team=home,
        away_team=away,
        date=MATCH_DAY.isoformat(),
        neutral=False,
        prices={"home": 1.8},
    )

    assert page.locator("#outcomes tbody tr").count() == 2
    for outcome in ("home", "away"):
        assert_shows(
            page.inner_text(f'#outcomes tr[data-outcome="{outcome}"] .prob'),
            api[f"prob_{outcome}"],
            1,
            100,
            "%",
        )
    assert page.inner_text('#outcomes tr[data-outcome="away"] .edge') == "\u2013"  # en dash: no price
    for target in ("margin", "total"):
        row = f'#intervals tr[data-target="{target}"]'
        assert_shows(page.inner_text(f"{row} .expected"), api[target], 1)
        for level in ("80", "95"):
            low, high = page.inner_text(f"{row} .interval-{level}").split(" to ")
            assert_shows(low, api[f"{target}_lower_{level}"], 1)
            assert_shows(high, api[f"{target}_upper_{level}"], 1)
    assert page.is_hidden("#football-detail")


def test_the_same_team_twice_shows_the_apis_message(page, client, teams):
    home = teams["E0"][0]
    choose(page, "E0", home, teams["E0"][1])
    submit(page)
    assert page.is_visible("#result")
    page.select_option("#away-team", home)
    assert submit(page) == {}
    refused = client.post(
        "/predict",
        json={"competition": "E0", "home_team": home, "away_team": home, "date": MATCH_DAY.isoformat()},
    )
    assert refused.status_code == 422
    shown = page.inner_text("#error")
    assert shown.startswith("422") and refused.json()["error"] in shown
    assert page.is_hidden("#result")


# --------------------------------------------------------------------------- upcoming, monitoring


def test_the_latest_readable_monitoring_summary_counts(tmp_path):
    from scoreline.monitoring.summaries import latest_monitoring_summary
    from scoreline.serving.matchcentre import monitoring_status

    assert latest_monitoring_summary(tmp_path / "none") is None
    assert monitoring_status("E0", None)["has_run"] is False
    for name, content in (
        ("20261120T100000Z", {"n": 1}),
        ("20261120T100000Z-2", {"n": 2}),
        ("20261120T100000Z-10", {"n": 10}),
        ("20261120T100001Z", "{broken"),
        ("notes", {"n": 99}),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(
            content if isinstance(content, str) else json.dumps(content)
        )
    assert latest_monitoring_summary(tmp_path) == {"n": 10}


def summary(at: dt.datetime, alerts: list[str], drifted: int) -> dict:
    """A monitoring summary as ``scoreline monitor`` writes it."""
    features = {
        f"form_{i}": {"score": 0.5, "method": "K-S p_value", "threshold": 0.05, "drifted": i < drifted}
        for i in range(20)
    }
    return {
        "competition": "E0",
        "at": at.isoformat(timespec="seconds"),
        "timestamp": at.timestamp(),
        "ok": not alerts,
        "alerts": alerts,
        "notes": ["quality judged on few matches"],
        "drift": {
            "share": drifted / 20,
            "features": features,
            "drifted": [n for n, f in features.items() if f["drifted"]],
            "reference_rows": 760,
            "current_rows": 40,
            "notes": [],
        },
        "quality": {
            "live": {
                "n": 33,
                "rps": 0.2012,
                "log_loss": 1.0124,
                "brier": 0.5934,
                "accuracy": 0.4848,
                "ece": float("nan"),
            },
            "backtest": {"log_loss": 0.98},
        },
        "champion": {"version": "1", "model_name": "dixon_coles"},
        "window": {"since": (at - dt.timedelta(days=28)).isoformat(), "predictions": 40, "settled": 33},
    }


def test_upcoming_fixtures_and_monitoring_show_what_is_stored(page, client, service, teams):
    from scoreline.predictions import PredictionStore

    page.select_option("#competition", "E0")
    settle(page)
    assert page.inner_text("#monitoring .status") == "no run"
    assert "no monitoring run yet for E0" in page.inner_text("#monitoring")
    assert client.get("/monitoring", params={"competition": "E0"}).json()["has_run"] is False

    # forecasts as the matchday pipeline stores them
    names = teams["E0"][2:14]
    pair = lambda i: (names[2 * i], names[2 * i + 1])  # noqa: E731
    day = lambda n: TODAY + dt.timedelta(days=n)  # noqa: E731

    def row(i: int, when: dt.date, probs: tuple, code: str = "E0", version: str = "7") -> dict:
        home, away = pair(i)
        return {
            "competition": code,
            "model_name": "dixon_coles",
            "model_version": version,
            "date": when,
            "home_team": home,
            "away_team": away,
            "prob_home": probs[0],
            "prob_draw": probs[1],
            "prob_away": probs[2],
        }

    store = PredictionStore(service.store_url)
    try:
        store.record_predictions(
            [
                row(0, day(1), (0.5, 0.3, 0.2)),
                row(1, day(3), (0.25, 0.25, 0.5)),
                row(1, day(3), (0.4, 0.35, 0.25), version="8"),  # a later forecast of the same fixture
                row(2, day(-1), (0.3, 0.3, 0.4)),  # yesterday: not upcoming
                row(3, day(20), (0.6, 0.2, 0.2)),  # beyond the next 7 days
                row(4, day(0), (0.45, 0.3, 0.25)),  # played today: has a result
            ]
        )
        home, away = pair(4)
        store.record_results(
            [
                {
                    "competition": "E0",
                    "date": day(0),
                    "home_team": home,
                    "away_team": away,
                    "home_score": 1,
                    "away_score": 0,
                }
            ]
        )
    finally:
        store.close()

    folder = service.folder / "reports" / "monitoring" / "E0"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for at, alerts, drifted in (
        (now - dt.timedelta(days=7), [], 1),
        (now - dt.timedelta(hours=1), ["ALERT: E0 live log_loss 1.0124"], 3),
    ):
        run = folder / at.strftime("%Y%m%dT%H%M%SZ")
        run.mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(summary(at, alerts, drifted)))
    caught = folder / now.strftime("%Y%m%dT%H%M%SZ")  # a run still writing its summary
    caught.mkdir()
    (caught / "summary.json").write_text('{"competition": "E0", "at": ')

    page.reload()
    settle(page)
    asked = (teams["E0"][14], teams["E0"][15])
    choose(page, "E0", *asked, {"home": 2.0, "draw": 3.5, "away": 4.0}, date=day(4))
    assert submit(page)["prediction_id"]  # the page's what-if forecast is logged, yet it is no fixture

    listed = client.get("/upcoming", params={"competition": "E0"}).json()
    assert (listed["start"], listed["end"]) == (str(TODAY), str(day(7)))
    fixtures = [(p["date"], p["home_team"], p["away_team"]) for p in listed["predictions"]]
    assert (str(day(1)), *pair(0)) in fixtures and (str(day(3)), *pair(1)) in fixtures
    assert (str(day(4)), *asked) not in fixtures
    assert not {pair(2), pair(3), pair(4)} & {f[1:] for f in fixtures}
    assert len(fixtures) == len(set(fixtures)) and fixtures == sorted(fixtures)
    later = next(p for p in listed["predictions"] if (p["home_team"], p["away_team"]) == pair(1))
    assert later["model_version"] == "8" and later["fair_odds_away"] == pytest.approx(4.0)
    assert later["created_at"].endswith(("+00:00", "Z")), "created_at names its offset (RFC 3339)"

    rows = page.locator("#upcoming tbody tr")
    assert rows.count() == len(listed["predictions"])
    for i, p in enumerate(listed["predictions"]):
        cells = rows.nth(i)
        assert cells.locator(".date").inner_text() == p["date"]
        assert cells.locator(".fixture").inner_text() == f"{p['home_team']} v {p['away_team']}"
        assert cells.locator(".model").inner_text() == f"{p['model_name']} v{p['model_version']}"
        for text, outcome in zip(cells.locator(".probs").inner_text().split(" / "), ("home", "draw", "away")):
            assert_shows(text, p[f"prob_{outcome}"], 1, 100, "%")
        for text, outcome in zip(
            cells.locator(".fair-odds").inner_text().split(" / "), ("home", "draw", "away")
        ):
            assert_shows(text, p[f"fair_odds_{outcome}"], 2)
    page.select_option("#days", "30")
    settle(page)
    assert f"{pair(3)[0]} v {pair(3)[1]}" in page.inner_text("#upcoming")

    status = client.get("/monitoring", params={"competition": "E0"}).json()
    assert status["has_run"] and status["at"].startswith(
        (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    )
    assert status["alerts"] == ["ALERT: E0 live log_loss 1.0124"] and status["ok"] is False
    assert status["drift_share"] == pytest.approx(0.15) and status["compared_features"] == 20
    assert status["live"] == {"n": 33, "rps": 0.2012, "log_loss": 1.0124, "brier": 0.5934, "accuracy": 0.4848}
    panel = page.inner_text("#monitoring")
    assert page.inner_text("#monitoring .status") == "1 ALERT"
    assert "ALERT: E0 live log_loss 1.0124" in panel and "champion v1" in panel
    assert page.inner_text('#monitoring-facts tr[data-key="drift_share"] td') == "15.0% (3 of 20 features)"
    # each live score beside the champion's backtest score it is judged against
    assert status["backtest"] == {"log_loss": 0.98}
    scores = page.locator('#monitoring-facts tr[data-key="live_log_loss"] td')
    assert [scores.nth(0).inner_text(), scores.nth(1).inner_text()] == ["1.0124", "0.9800"]
    assert page.locator('#monitoring-facts tr[data-key="live_rps"] td').nth(1).inner_text() == "-"
    assert "Last run " + (now - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M UTC") in panel
    assert page.locator('#monitoring-facts tr[data-key="live_ece"]').count() == 0

    shot = service.folder / "reports" / "ui" / "match-centre.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.select_option("#days", "7")
    settle(page)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    shutil.copyfile(shot, "/tmp/match-centre.png")


# --------------------------------------------------------------------------- a quant's first look


def test_home_describes_the_service_links_the_match_centre_and_fetches_nothing_outside(client):
    home = client.get("/")
    assert home.status_code == 200 and 'href="/ui/"' in home.text
    assert "googletagmanager" not in home.text and "Scoreline prediction service" in home.text
    assert client.get("/docs.json").json()["info"]["version"] not in ("None", "")
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_teams_are_grouped_by_season_and_an_error_is_shown_once(page, client, teams):
    listed = client.get("/teams", params={"competition": "E0"}).json()
    assert 0 < listed["current"] < len(listed["teams"])  # relegated clubs exist in the history
    groups = page.eval_on_selector_all(
        "#home-team optgroup", "gs => gs.map(g => [g.label, g.children.length])"
    )
    assert groups == [
        [f"This season ({listed['current']})", listed["current"]],
        [
            f"Earlier seasons ({len(listed['teams']) - listed['current']})",
            len(listed["teams"]) - listed["current"],
        ],
    ]
    choose(page, "E0", teams["E0"][0], teams["E0"][0])
    submit(page)
    error = page.inner_text("#error")
    assert error.count("a fixture needs two teams") == 1, error


def test_a_forecast_long_after_the_data_is_flagged_stale(page, teams):
    choose(page, "E0", *teams["E0"][:2])
    answer = submit(page)
    assert answer["days_after_history"] > 120 and answer["history_ends"] < str(TODAY)
    assert page.is_visible("#stale") and answer["history_ends"] in page.inner_text("#stale")
    # the prices fieldset stays inside its panel
    panel, fieldset = (
        page.eval_on_selector(s, "e => e.getBoundingClientRect().right")
        for s in ("#predict-panel", "fieldset")
    )
    assert fieldset <= panel
