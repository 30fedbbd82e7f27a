"""Latency of service forecasts (:class:`scoreline.forecasts.forecaster.Forecaster`) per champion.

    python benchmarks/forecast_speed.py ../shared/data

Fits elo and dixon_coles (E0), elo (NBA, CFB) on every stored result with their service detail
(as ``log_model`` bundles it), then times: one fixture on a cold cache (a freshly unpickled
model, as after loading), the same fixture again, another pairing of that date (cached with the
first), and batches of 10,000 and 100,000 random pairings of the latest season's teams over
three dates, warm (``forecast`` and JSON-ready ``forecast_records``). Warm figures are the best
of five calls.
"""

from __future__ import annotations

import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.features.builder import competition_features
from scoreline.forecasts.forecaster import Forecaster
from scoreline.models import catalog
from scoreline.tracking import MatchModelPyfunc, fit_detail
from scoreline.tracking.pyfunc import history_frame

CHAMPIONS = (("E0", "elo"), ("E0", "dixon_coles"), ("NBA", "elo"), ("CFB", "elo"))
REPEATS = 5


def seconds(call, repeats: int = REPEATS) -> float:
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def random_fixtures(teams: list[str], n: int, first: pd.Timestamp, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    home = rng.integers(0, len(teams), n)
    away = (home + rng.integers(1, len(teams), n)) % len(teams)
    dates = first + pd.to_timedelta(7 * rng.integers(0, 3, n), unit="D")
    return pd.DataFrame(
        {
            "home_team": np.asarray(teams)[home],
            "away_team": np.asarray(teams)[away],
            "date": dates.strftime("%Y-%m-%d"),
            "price_home": 2.0,
        }
    )


def main(source: str) -> None:
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        ingest(settings, source, sorted({code for code, _ in CHAMPIONS}))
        store = MatchStore(settings.store_dir)
        print(
            f"{'model':<16} {'cold 1':>8} {'warm 1':>8} {'new pair':>9} "
            f"{'10k':>8} {'10k rec':>8} {'100k':>8} {'100k rec':>9}  (ms; distinct rows in 10k)"
        )
        for code, name in CHAMPIONS:
            comp = competition(code)
            history = history_frame(store.results(code))
            model = catalog.models(comp)[name].fit(history.join(competition_features(history, comp)))
            wrapper = MatchModelPyfunc(code, model, history, fit_detail(model, code, history, settings))
            blob = pickle.dumps(wrapper)
            cold = Forecaster(pickle.loads(blob), model_name=name, version="1", competition=code)
            teams = list(cold.pyfunc.latest_teams)
            first = history["date"].max() + pd.Timedelta(days=14)
            one = random_fixtures(teams, 1, first)
            started = time.perf_counter()
            cold.forecast(one)
            cold_ms = time.perf_counter() - started
            warm_ms = seconds(lambda: cold.forecast(one))
            other = one.assign(away_team=next(t for t in teams if t not in one.iloc[0].tolist()))
            started = time.perf_counter()
            cold.forecast(other)
            pair_ms = time.perf_counter() - started
            batch = random_fixtures(teams, 10_000, first, seed=1)
            large = random_fixtures(teams, 100_000, first, seed=2)
            cold.forecast(large)  # warms every date
            figures = [
                seconds(lambda: cold.forecast(batch)),
                seconds(lambda: cold.forecast_records(batch)),
                seconds(lambda: cold.forecast(large), 3),
                seconds(lambda: cold.forecast_records(large), 3),
            ]
            distinct = len(cold.pyfunc.frame(batch).rows)
            print(
                f"{code + ' ' + name:<16} {cold_ms * 1e3:8.0f} {warm_ms * 1e3:8.1f} {pair_ms * 1e3:9.1f} "
                + " ".join(f"{f * 1e3:8.0f}" for f in figures[:3])
                + f" {figures[3] * 1e3:9.0f}"
                + f"  ({distinct}; model pickle {len(blob) / 2**20:.1f} MB)"
            )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
