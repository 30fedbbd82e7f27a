"""A real night's scoring events for the live tests: 2022-11-25, 14 games, from the match store's
in-game tables (the session's ingest of the real data)."""

from __future__ import annotations

import datetime as dt

import pytest

NIGHT = dt.date(2022, 11, 25)


@pytest.fixture(scope="session")
def ingame_tables(real_ingest):
    from scoreline.data.ingame import load_ingame
    from scoreline.data.store import MatchStore

    _, settings = real_ingest
    return load_ingame(MatchStore(settings.store_dir))


@pytest.fixture(scope="session")
def night(ingame_tables):
    from scoreline.live.feed import night_events

    return night_events(ingame_tables, NIGHT)
