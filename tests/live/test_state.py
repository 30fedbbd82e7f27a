"""Game states are point in time: what the model sees at an event comes from that event and
the ones before it only, and the 18-minute pattern is the real score by minute."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from scoreline.live.feed import ReplayFeed
from scoreline.live.state import PATTERN_MINUTES, GameTracker

pytestmark = pytest.mark.realdata


def _states(events) -> list[tuple]:
    tracker = GameTracker()
    rows = []
    for event in events:
        state = tracker.update(event)
        pattern = state.pattern()
        rows.append((*GameTracker.row(state, event), None if pattern is None else tuple(pattern)))
    return rows


def test_no_state_sees_a_later_event(night):
    """Leakage: the state at every event equals the state built from the feed cut right after
    it, whatever follows."""
    events = list(ReplayFeed(night, speed=0).events())
    full = _states(events)
    for cut in range(0, len(events), 97):
        assert _states(events[: cut + 1])[-1] == full[cut], f"event {cut} saw the future"


def test_the_pattern_is_the_score_at_the_end_of_each_minute(night, real_data):
    path = real_data / "nba_pbp" / "score_by_minute" / "nba_score_by_minute_2022_23_regular.csv.gz"
    with gzip.open(path, "rt") as handle:
        minutes = pd.read_csv(handle, dtype={"game_id": str})
    minutes = minutes[minutes["game_id"].isin(set(night["game_id"])) & (minutes["minute"] <= PATTERN_MINUTES)]
    expected = {
        game_id: (
            frame.sort_values("minute")["home_score"] - frame.sort_values("minute")["away_score"]
        ).to_numpy()
        for game_id, frame in minutes.groupby("game_id")
    }
    tracker = GameTracker()
    patterns: dict[str, np.ndarray] = {}
    for event in ReplayFeed(night, speed=0).events():
        state = tracker.update(event)
        if state.pattern() is not None and event.game_id not in patterns:
            assert event.elapsed_s > 60 * PATTERN_MINUTES  # complete only once minute 18 is over
            patterns[event.game_id] = state.pattern()
    assert set(patterns) == set(expected)
    for game_id, pattern in patterns.items():
        np.testing.assert_array_equal(pattern, expected[game_id], err_msg=game_id)


def test_a_redelivered_event_changes_nothing(night):
    events = list(ReplayFeed(night, speed=0).events())
    tracker = GameTracker()
    for event in events[:50]:
        tracker.update(event)
    before = {
        g: (s.home_score, s.away_score, s.lead_changes, s.run, list(s.minute_margins))
        for g, s in tracker.games.items()
    }
    for event in events[40:50]:
        tracker.update(event)
    after = {
        g: (s.home_score, s.away_score, s.lead_changes, s.run, list(s.minute_margins))
        for g, s in tracker.games.items()
    }
    assert after == before
