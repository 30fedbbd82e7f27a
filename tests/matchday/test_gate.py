"""The matchday's fixture prices come from the price files, parsed once per replay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from csvs import write_season
from scoreline.config import Settings
from scoreline.data.prices import PriceFileCache
from scoreline.matchday.gate import fixture_price_frame


def test_fixture_prices_read_through_the_cache_parse_each_file_once(tmp_path):
    source = tmp_path / "source"
    write_season(source)
    settings = Settings(home=tmp_path / "ws", data_source=str(source))
    cache = PriceFileCache()
    for day, home, away in (("2022-08-12", "Arsenal", "Chelsea"), ("2022-08-14", "Leeds", "Wolves")):
        window = pd.DataFrame(
            {"date": [pd.Timestamp(day)], "home_team": [home], "away_team": [away], "season": [2022]}
        )
        frame = fixture_price_frame(settings, window, "E0", cache)
        assert np.isfinite(frame.prices_of("b365")).all()  # the file's prices reached the frame
    assert cache.reads == 1
