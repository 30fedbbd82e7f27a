"""Live forecasts through the real service: a real night (2022-11-25, 14 games) replayed into
the service's prediction store reaches SSE subscribers once and in order across a reconnect;
``POST /live/predict`` answers the 18-value shape; half-time results feed the coverage and error
metrics; every Grafana panel's metric is in ``/metrics``; the match centre's live panel shows
exactly what the stream sent."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import cloudpickle
import httpx
import pandas as pd
import pytest

import ingame
from ingame import BrownianModel

from .conftest import API_KEY, RunningService, service_env

pytestmark = pytest.mark.realdata

ROOT = Path(__file__).resolve().parents[2]
NIGHT = dt.date(2022, 11, 25)
SPEED = 400.0  # the night's 48 game minutes in about 7 s


@pytest.fixture(scope="module")
def live_champions(real_ingest, tmp_path_factory):
    """A workspace whose BentoML store holds an NBA pre-game champion (Elo, trained on the real
    data) and the tests' in-game model."""
    import mlflow

    from scoreline.promotion import register_model, set_champion
    from scoreline.serving.package import export_champions, export_ingame_model
    from scoreline.tracking import train_and_log

    _, ingested = real_ingest
    folder = tmp_path_factory.mktemp("live-champions")
    settings = ingested.model_copy(
        update={"registry_dir": folder / "registry", "bentoml_dir": folder / "bentoml"}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("BENTOML_HOME", raising=False)
        try:
            logged = train_and_log(settings, "NBA", "elo")
            version = register_model(settings, "NBA", logged["model_uri"], {"model_name": "elo"})
            set_champion(settings, "NBA", version.version, "live tests")
        finally:
            mlflow.set_tracking_uri(None)
        export_champions(settings, ["NBA"])
        cloudpickle.register_pickle_by_value(ingame)  # the service process has no tests/ to import
        export_ingame_model(settings, "NBA", BrownianModel(version="7"))
    return settings


@pytest.fixture(scope="module")
def live_service(live_champions, tmp_path_factory):
    folder = tmp_path_factory.mktemp("live-service")
    running = RunningService(folder, service_env(folder, live_champions.bentoml_home))
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ingame_tables(real_ingest):
    from scoreline.data.ingame import load_ingame
    from scoreline.data.store import MatchStore

    return load_ingame(MatchStore(real_ingest[1].store_dir))


@pytest.fixture(scope="module")
def night(ingame_tables):
    from scoreline.live.feed import night_events

    return night_events(ingame_tables, NIGHT)


def replay(service: RunningService, night: pd.DataFrame, speed: float = SPEED) -> None:
    """The live loop in this process, writing to the service's prediction store."""
    from scoreline.live.bus import MemoryBus
    from scoreline.live.feed import ReplayFeed
    from scoreline.live.loop import Predictor, run_replay
    from scoreline.predictions.store import PredictionStore

    store = PredictionStore(service.store_url)
    bus = MemoryBus()
    try:
        figures = run_replay(
            ReplayFeed(night, speed=speed), bus, Predictor(BrownianModel(), store, bus), len(night)
        )
    finally:
        store.close()
    assert figures.forecasts == len(night)


class Subscriber:
    """An SSE client of ``/live/stream`` (a thread) that keeps every event it gets; ``drop_after``
    events into its first connection it disconnects and reconnects with Last-Event-ID."""

    def __init__(
        self, url: str, expected: int, drop_after: int | None = None, last_event_id: int | None = None
    ):
        self.url, self.expected, self.drop_after = url, expected, drop_after
        self.events: list[dict] = []
        self.connections = 0
        self.last_id = last_event_id
        self.ready = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while len(self.events) < self.expected:
            headers = {} if self.last_id is None else {"Last-Event-ID": str(self.last_id)}
            self.connections += 1
            with httpx.stream(
                "GET", self.url, params={"competition": "NBA"}, headers=headers, timeout=60
            ) as answer:
                assert answer.status_code == 200 and answer.headers["content-type"].startswith(
                    "text/event-stream"
                )
                self.ready.set()
                event: dict = {}
                for line in answer.iter_lines():
                    if line.startswith("id: "):
                        event["id"] = int(line[4:])
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "" and "data" in event:
                        self.events.append(event["data"])
                        self.last_id = event["id"]
                        event = {}
                        if self.connections == 1 and len(self.events) == self.drop_after:
                            break  # the client drops the connection mid-night
                        if len(self.events) >= self.expected:
                            break
        self.done.set()


def test_a_replayed_night_reaches_subscribers_once_in_order_across_a_reconnect(live_service, night):
    from scoreline.predictions.store import PredictionStore

    start = PredictionStore(live_service.store_url).last_live_id()
    steady = Subscriber(f"{live_service.url}/live/stream", len(night), last_event_id=start)
    dropping = Subscriber(f"{live_service.url}/live/stream", len(night), drop_after=400, last_event_id=start)
    assert steady.ready.wait(30) and dropping.ready.wait(30)
    replay(live_service, night)
    assert steady.done.wait(60) and dropping.done.wait(60)
    assert dropping.connections == 2
    from scoreline.live.feed import ReplayFeed

    expected = [(e.game_id, e.seq) for e in ReplayFeed(night, speed=0).events()]
    for subscriber in (steady, dropping):
        got = [(e["game_id"], e["seq"]) for e in subscriber.events]
        assert got == expected  # every event's forecast, once, in the feed's order
        ids = [e["id"] for e in subscriber.events]
        assert ids == sorted(set(ids))
    # a new subscriber without Last-Event-ID gets tonight's forecasts from the store
    late = Subscriber(f"{live_service.url}/live/stream", len(night))
    assert late.done.wait(60)
    assert [(e["game_id"], e["seq"]) for e in late.events][-len(night) :] == expected

    metrics = httpx.get(f"{live_service.url}/metrics").text
    assert metric(metrics, 'scoreline_live_forecasts_total{competition="NBA"}') >= len(night)
    assert metric(metrics, 'scoreline_live_latency_seconds_count{competition="NBA"}') >= len(night)
    assert metric(metrics, 'scoreline_live_active_games{competition="NBA"}') == 0  # all final


def metric(text: str, series: str) -> float:
    """The value of one series in Prometheus's text format."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} is not in /metrics")


def test_live_predict_answers_the_18_value_shape(live_service):
    pattern = [0, 2, 2, 4, 1, -1, 0, 3, 5, 5, 7, 6, 8, 10, 9, 11, 12, 12]
    url = f"{live_service.url}/live/predict"
    answer = httpx.post(url, json={"pattern": pattern, "spread": -4.0, "game_id": "x"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = BrownianModel().halftime(pattern, -4.0)
    assert body["halftime_differential"] == pytest.approx(expected.forecast)
    assert (body["lower"], body["upper"]) == pytest.approx((expected.lower, expected.upper))
    assert body["coverage_probability"] == 0.8 and body["explanation"] == expected.explanation
    assert [i["level"] for i in body["intervals"]] == [0.8, 0.95]
    assert (body["model_name"], body["model_version"], body["game_id"]) == ("brownian_test", "7", "x")
    made = dt.datetime.fromisoformat(body["timestamp"])
    assert abs((dt.datetime.now(dt.UTC) - made).total_seconds()) < 60
    short = httpx.post(url, json={"pattern": pattern[:17], "spread": -4.0})
    assert short.status_code == 400 and "pattern" in short.text
    no_spread = httpx.post(url, json={"pattern": pattern})
    assert no_spread.status_code == 400 and "spread" in no_spread.text
    other = httpx.post(url, json={"competition": "E0", "pattern": pattern, "spread": 1.0})
    assert other.status_code == 404 and "no in-game champion serves E0" in other.text


def test_half_time_results_score_the_live_forecasts_in_the_metrics(
    live_champions, live_service, night, real_data
):
    from scoreline.predictions.store import PredictionStore

    store = PredictionStore(live_service.store_url)
    if store.live_forecasts("NBA", 0, 1) == []:
        replay(live_service, night, speed=0)
    games = pd.read_csv(real_data / "nba_pbp" / "games.csv", dtype={"game_id": str})
    games = games[games["game_id"].isin(set(night["game_id"]))]
    teams = night.drop_duplicates("game_id").set_index("game_id")
    results = [
        {
            "competition": "NBA",
            "date": NIGHT.isoformat(),
            "home_team": teams.loc[g.game_id, "home_team"],
            "away_team": teams.loc[g.game_id, "away_team"],
            "home_score": int(g.clean_final_home),
            "away_score": int(g.clean_final_away),
            "home_half": int(g.half_home),
            "away_half": int(g.half_away),
        }
        for g in games.itertuples()
    ]
    answer = httpx.post(
        f"{live_service.url}/results", json={"results": results}, headers={"X-API-Key": API_KEY}
    )
    assert answer.status_code == 200, answer.text
    scores = store.live_scores("NBA")
    assert len(scores) == 14 and scores["actual_halftime"].notna().all()
    metrics = httpx.get(f"{live_service.url}/metrics").text
    covered = metric(metrics, 'scoreline_live_coverage{competition="NBA",nominal="0.8"}')
    assert covered == pytest.approx(scores["covered"].mean())
    assert metric(metrics, 'scoreline_live_halftime_error_points_count{competition="NBA"}') == 14
    within_5 = (scores["halftime_error"].abs() <= 5).sum()
    assert (
        metric(metrics, 'scoreline_live_halftime_error_points_bucket{competition="NBA",le="5.0"}') == within_5
    )

    # `scoreline monitor` judges the same rolling coverage, and raises the same alert
    import mlflow

    from scoreline.monitoring.monitor import monitor
    from scoreline.monitoring.policy import MonitoringPolicy

    settings = live_champions.model_copy(update={"prediction_store_url": live_service.store_url})
    strict = MonitoringPolicy(live_min_games=14, live_coverage_below_nominal_max=max(0.8 - covered - 0.01, 0))
    summary = monitor(settings, "NBA", days=1, policy=strict).summary
    assert summary["quality"]["ingame_coverage"]["0.8"]["coverage"] == pytest.approx(covered)
    assert summary["quality"]["ingame_coverage"]["0.8"]["n"] == 14
    assert [a for a in summary["alerts"] if a.startswith("ALERT: NBA live halftime 80% intervals held")]
    lenient = MonitoringPolicy(live_min_games=14, live_coverage_below_nominal_max=1.0)
    assert not [a for a in monitor(settings, "NBA", days=1, policy=lenient).alerts if "live halftime" in a]
    mlflow.set_tracking_uri(None)


def test_every_dashboard_panel_reads_a_metric_the_service_exports(live_service):
    # a service that has answered each kind of request (labelled series appear with their first)
    fixture = {"competition": "NBA", "home_team": "BOS", "away_team": "SAC"}
    assert httpx.post(f"{live_service.url}/predict", json=fixture).status_code == 200
    pattern = {"pattern": [0] * 18, "spread": -2.5}
    assert httpx.post(f"{live_service.url}/live/predict", json=pattern).status_code == 200
    metrics = httpx.get(f"{live_service.url}/metrics").text
    exported = {
        re.split(r"[{ ]", line, maxsplit=1)[0] for line in metrics.splitlines() if line and line[0] != "#"
    }
    dashboards = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        panels = json.loads(path.read_text())["panels"]
        assert panels, path
        for panel in panels:
            exprs = [target["expr"] for target in panel.get("targets", [])]
            assert exprs, f"{path.name}: panel {panel['title']!r} has no query"
            for expr in exprs:
                names = set(re.findall(r"\b((?:scoreline|bentoml)_[a-z_]+)\b", expr))
                assert names, f"{panel['title']!r}: no service metric in {expr}"
                missing = names - exported
                assert not missing, f"{path.name}: panel {panel['title']!r} reads {missing}, not in /metrics"


def shown_explanation(text: str) -> str:
    """What the page shows of the test model's explanation (its fields, numbers as JavaScript
    prints them)."""
    fields = json.loads(text)
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())


def test_the_live_panel_shows_what_the_stream_sent(live_service, ingame_tables, browser, tmp_path):
    from scoreline.live.feed import night_events
    from scoreline.predictions.store import PredictionStore

    night = night_events(ingame_tables, NIGHT + dt.timedelta(days=1))  # not yet replayed here
    games = sorted(set(night["game_id"]))

    start = PredictionStore(live_service.store_url).last_live_id()
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    elsewhere, errors = [], []

    def only_the_service(route):
        if urlsplit(route.request.url).netloc == urlsplit(live_service.url).netloc:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_service)
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(f"{live_service.url}/ui/")
    tab.wait_for_function(
        "document.getElementById('live-status').textContent !== 'connecting…'", timeout=30_000
    )
    stream = Subscriber(f"{live_service.url}/live/stream", len(night), last_event_id=start)
    assert stream.ready.wait(30)
    replay_thread = threading.Thread(target=replay, args=(live_service, night))
    replay_thread.start()
    # mid-night: the page follows the stream as events arrive
    tab.wait_for_function(
        "games => games.every(g => document.querySelector(`.live-game[data-game='${g}']`))",
        arg=games,
        timeout=60_000,
    )
    # SCORELINE_TEST_SCREENSHOTS=<folder> keeps pictures of the panel to look at
    screens = Path(os.environ.get("SCORELINE_TEST_SCREENSHOTS", tmp_path))
    if screens != tmp_path:
        screens.mkdir(parents=True, exist_ok=True)
        tab.wait_for_function(
            "[...document.querySelectorAll('.live-half')].some(e => e.textContent.startsWith('HT'))"
        )
        tab.screenshot(path=str(screens / "live-panel-mid-night.png"), full_page=True)
    replay_thread.join(120)
    assert stream.done.wait(60)
    last = {e["game_id"]: e for e in stream.events}
    counts = pd.Series([e["game_id"] for e in stream.events]).value_counts()
    tab.wait_for_function(
        "ids => ids.every(([g, id]) => "
        "document.querySelector(`.live-game[data-game='${g}']`)?.dataset.lastId === String(id))",
        arg=[[g, e["id"]] for g, e in last.items()],
        timeout=60_000,
    )
    tab.screenshot(path=str(screens / "live-panel-final.png"), full_page=True)
    for game_id, f in last.items():
        card = tab.locator(f".live-game[data-game='{game_id}']")
        first_half = next(
            (e for e in stream.events if e["game_id"] == game_id and e["halftime"] is not None), None
        )
        assert card.locator(".live-teams").text_content() == f"{f['away_team']} @ {f['home_team']}"
        assert card.locator(".live-score").text_content() == f"{f['away_score']}\N{EN DASH}{f['home_score']}"
        assert card.locator(".live-clock").text_content() == "Final"
        win = re.fullmatch(rf"{f['home_team']} win ([\d.]+)%", card.locator(".live-win").text_content())
        assert win and abs(float(win.group(1)) - 100 * f["win_prob"]) <= 0.05 + 1e-9  # to the shown 0.1
        assert first_half is not None and f["halftime"] == first_half["halftime"]
        half = re.fullmatch(
            r"HT ([+-][\d.]+) \(([+-][\d.]+) to ([+-][\d.]+), (\d+)%\)",
            card.locator(".live-half").text_content(),
        )
        assert half, card.locator(".live-half").text_content()
        shown = [float(v) for v in half.groups()[:3]]
        for value, exact in zip(shown, (f["halftime"], f["halftime_low"], f["halftime_high"])):
            assert abs(value - exact) <= 0.05 + 1e-9
        assert int(half.group(4)) == round(100 * f["halftime_coverage"])
        assert card.locator(".live-explanation").text_content() == shown_explanation(f["explanation"])
        assert int(card.get_attribute("data-points")) >= counts[game_id]  # the whole line is drawn
    context.close()
    assert not elsewhere, f"the page fetched from outside the service: {elsewhere}"
    assert not errors, f"script errors: {errors}"
