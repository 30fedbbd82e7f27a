"""A real night's scoring events for the live tests: 2022-11-25, 14 games."""

from __future__ import annotations

import datetime as dt

import pytest

NIGHT = dt.date(2022, 11, 25)


@pytest.fixture(scope="session")
def night(real_data):
    """The night's events (no pre-game lines: the match store is not needed here)."""
    from scoreline.live.feed import night_events

    return night_events(real_data, NIGHT)
