"""The matchday's fixture prices over a season's days, parsed per day against once (side by side).

    python benchmarks/matchday_prices.py [../shared/data] [E0] [2022]

A replay calls the matchday on every day with news (193 days for E0 2022/23); each call reads
every book's pre-closing prices of the next 7 days' fixtures from the season's price files.
Without a cache each call parses the files again; with one (:class:`PriceFileCache`, what the
replay passes down) they are parsed once. Prints both wall times, their ratio and that the
frames are identical.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings
from scoreline.data.prices import PriceFileCache, read_prices
from scoreline.matchday.gate import fixture_price_frame

ROOT = Path(__file__).resolve().parents[1]


def main(source: str, code: str, season: int) -> None:
    path = Path(source) / "soccer" / f"{code}_{season % 100:02d}{(season + 1) % 100:02d}.csv"
    matches = read_prices(path).matches.sort_values("date")
    days = pd.date_range(matches["date"].min(), matches["date"].max(), freq="D")
    windows = [
        matches.loc[(matches["date"] >= d) & (matches["date"] < d + pd.Timedelta(days=7))] for d in days
    ]
    windows = [w.drop(columns=["home_score", "away_score"]) for w in windows if len(w)]
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), data_source=source)
        timings, frames = {}, {}
        for label, cache in (("parsed every day", None), ("parsed once", PriceFileCache())):
            started = time.perf_counter()
            frames[label] = [fixture_price_frame(settings, w, code, cache) for w in windows]
            timings[label] = time.perf_counter() - started
    same = all(
        np.array_equal(a.prices_of(b), c.prices_of(b), equal_nan=True)
        for a, c in zip(*frames.values())
        for b in a.pre
    )
    print(f"{code} {season}/{(season + 1) % 100:02d}: {len(windows)} matchday windows of 7 days")
    for label, seconds in timings.items():
        print(f"  {label:<17} {seconds:6.1f} s ({1000 * seconds / len(windows):.0f} ms per day)")
    first, second = timings.values()
    print(f"  ratio {first / second:.1f}x; identical prices: {same}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0] if args else str(ROOT.parent / "shared" / "data"),
        args[1] if len(args) > 1 else "E0",
        int(args[2]) if len(args) > 2 else 2022,
    )
