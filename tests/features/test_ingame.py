"""In-game features: no feature ever sees a later event, and the live tracker equals the batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.features.ingame import STATE_FEATURES, GameTracker, patterns, states


def _events(rows: list[tuple[float, int, int]], game: str = "g") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "game_id": game,
            "seq": range(len(rows)),
            "elapsed_s": [r[0] for r in rows],
            "home_score": [r[1] for r in rows],
            "away_score": [r[2] for r in rows],
        }
    )


GAME = pd.DataFrame({"game_id": ["g"], "spread_home": [-4.0], "total_line": [220.0]})


def test_runs_lead_changes_and_minutes_follow_the_score():
    events = _events([(10, 2, 0), (30, 2, 0), (50, 4, 0), (60, 4, 3), (70, 4, 5), (200, 4, 7), (400, 9, 7)])
    at = pd.DataFrame({"game_id": "g", "t": [50.0, 200.0, 400.0]})
    got = states(events, GAME, at)
    # the repeated score at 30 s continues the home run; the away side scores 7 unanswered
    assert got["run"].tolist() == [4.0, -7.0, 5.0]
    assert got["lead_changes"].tolist() == [0.0, 1.0, 2.0]
    assert got[["max_home_lead", "max_away_lead"]].values.tolist() == [[4, 0], [4, 3], [4, 3]]
    assert got["recent_change"].tolist() == [4.0, -3.0, 3.0]  # against 0, 0 and -1 five minutes before
    pattern = patterns(events, minutes=3)
    assert pattern.loc["g"].tolist() == [1.0, -1.0, -1.0]  # the 60 s event closes minute 1


@pytest.fixture(scope="module")
def night(ingame_slice):
    """Forty real games with their events."""
    games = ingame_slice.with_lines().head(40)
    events = ingame_slice.events.loc[ingame_slice.events["game_id"].isin(games["game_id"])]
    return games, events.sort_values(["game_id", "elapsed_s", "seq"]).reset_index(drop=True)


@pytest.mark.realdata
@pytest.mark.parametrize("cut", [300.0, 1080.0, 1441.0, 2700.0])
def test_no_feature_ever_sees_a_later_event(night, cut):
    """States at or before ``cut`` are identical whether the events after ``cut`` exist or not."""
    games, events = night
    grid = np.arange(15.0, cut + 1, 15.0)
    at = pd.DataFrame(
        {"game_id": np.repeat(games["game_id"].to_numpy(), len(grid)), "t": np.tile(grid, len(games))}
    )
    full = states(events, games, at)
    truncated = states(events.loc[events["elapsed_s"] <= cut], games, at)
    pd.testing.assert_frame_equal(full, truncated)
    if cut > 1080:
        before = patterns(events.loc[events["elapsed_s"] <= 1080.0])
        pd.testing.assert_frame_equal(patterns(events).loc[before.index], before)


@pytest.mark.realdata
def test_the_live_tracker_gives_the_batch_states_and_pattern(night):
    games, events = night
    lines = games.set_index("game_id")
    # the batch state at a second includes every event of that second: compare after the last
    last_of_second = ~events.duplicated(["game_id", "elapsed_s"], keep="last")
    batch = states(events, games, events[["game_id", "elapsed_s"]].rename(columns={"elapsed_s": "t"}))
    live, pattern = {}, {}
    for game_id, game in events.groupby("game_id"):
        tracker = GameTracker(lines.loc[game_id, "spread_home"], lines.loc[game_id, "total_line"])
        for event in game.itertuples():
            tracker.update(event.elapsed_s, event.home_score, event.away_score)
            live[event.Index] = tracker.vector()
        pattern[game_id] = tracker.pattern(18)
    live_frame = pd.DataFrame.from_dict(live, orient="index", columns=list(STATE_FEATURES))
    rows = events.index[last_of_second]
    np.testing.assert_allclose(live_frame.loc[rows].to_numpy(), batch.loc[rows].to_numpy())
    expected = patterns(events)
    for game_id, values in pattern.items():
        np.testing.assert_array_equal(values, expected.loc[game_id].to_numpy())
