"""The replayed feed: a real night's events, in game-clock order, paced by the speed."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from scoreline.live.feed import ReplayFeed, ScoreEvent, night_events

pytestmark = pytest.mark.realdata


def test_a_night_has_every_game_and_scores_that_never_go_back(night, real_data):
    games = pd.read_csv(real_data / "nba_pbp" / "games.csv", dtype={"game_id": str})
    of_night = games[games["date"] == "2022-11-25"]
    assert set(night["game_id"]) == set(of_night["game_id"]) and len(of_night) == 14
    for game_id, events in night.groupby("game_id"):
        assert events["seq"].is_monotonic_increasing
        assert events["home_score"].is_monotonic_increasing and events["away_score"].is_monotonic_increasing
        final = of_night.set_index("game_id").loc[game_id]
        assert (events["home_score"].iloc[-1], events["away_score"].iloc[-1]) == (
            final["clean_final_home"],
            final["clean_final_away"],
        )
    # team codes as the nba/ lines spell them (the match store's names), lines joined
    assert {"GS", "NY", "SA", "UTAH", "WSH", "NO"} <= set(night["home_team"]) | set(night["away_team"])
    assert night["spread"].notna().all() and night["total"].notna().all()


def test_no_game_that_night_is_a_clear_error(ingame_tables):
    with pytest.raises(ValueError, match="no NBA game with pre-game lines on 2022-07-04"):
        night_events(ingame_tables, dt.date(2022, 7, 4))


def test_the_feed_plays_in_game_clock_order_at_speed(night):
    now = [0.0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    feed = ReplayFeed(night, speed=60, clock=lambda: now[0], sleep=sleep)
    events = list(feed.events())
    assert len(events) == len(night)
    elapsed = [e.elapsed_s for e in events]
    assert elapsed == sorted(elapsed)
    # each event published when its game second comes round, 60 times faster
    assert now[0] == pytest.approx(max(elapsed) / 60)
    assert sum(e.final for e in events) == 14
    last = {e.game_id: e.seq for e in events}
    assert all(e.final == (e.seq == last[e.game_id]) for e in events)


def test_an_event_survives_the_bus_as_text():
    event = ScoreEvent(
        "NBA", "0022200272", 4, dt.date(2022, 11, 25), "CHA", "MIN", 1, "11:24", 36.0, 3, 0, -2.5
    )
    back = ScoreEvent.from_message({k.encode(): v.encode() for k, v in event.to_message().items()})
    assert back.spread == -2.5 and math.isnan(back.total)
    assert dataclass_without_nan(back) == dataclass_without_nan(event)
    with pytest.raises(ValueError, match=r"0022200272#4: home_score: cannot read .three."):
        ScoreEvent.from_message({**event.to_message(), "home_score": "three"})


def dataclass_without_nan(event: ScoreEvent) -> dict:
    return {k: v for k, v in event.to_message().items() if v != "nan"}
