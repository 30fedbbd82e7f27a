"""Time Scoreline's DixonColes.fit against penaltyblog 1.13.1's DixonColesGoalModel.

Data: three simulated 20-team double round-robin seasons (1,140 matches, an EPL-like training
window) with time-decay weights xi = 0.0018. Each fit is timed from the raw match table (both
sides include their own data preparation); the figure is the median of 20 fits.

    PYTHONPATH=src python benchmarks/dixon_coles_speed.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd
from penaltyblog.models import DixonColesGoalModel

from scoreline.models.dixon_coles import DixonColes, dixon_coles_grid, match_weights

XI, N_FITS = 0.0018, 20


def simulated_seasons(seed: int = 0, n_teams: int = 20, n_seasons: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    attack, defence = rng.normal(0, 0.3, (2, n_teams))
    h, a = (g.ravel() for g in np.meshgrid(np.arange(n_teams), np.arange(n_teams), indexing="ij"))
    h, a = np.tile(h[h != a], n_seasons), np.tile(a[h != a], n_seasons)
    season = np.repeat(np.arange(n_seasons), n_teams * (n_teams - 1))
    day = season * 365 + rng.integers(0, 280, len(h))  # August to May
    scores = dixon_coles_grid(
        np.exp(0.35 + attack[h] + defence[a]), np.exp(0.1 + attack[a] + defence[h]), -0.08
    ).sample(rng)
    names = np.array([f"Team {i:02d}" for i in range(n_teams)])
    return pd.DataFrame(
        {
            "date": pd.Timestamp("2021-08-01") + pd.to_timedelta(day, unit="D"),
            "home_team": pd.array(names[h], dtype="string"),
            "away_team": pd.array(names[a], dtype="string"),
            "neutral": pd.array(np.zeros(len(h), dtype=bool), dtype="boolean"),
            "home_score": pd.array(scores[:, 0], dtype="Int64"),
            "away_score": pd.array(scores[:, 1], dtype="Int64"),
        }
    )


def fit_penaltyblog(matches: pd.DataFrame, use_gradient: bool) -> DixonColesGoalModel:
    model = DixonColesGoalModel(
        matches["home_score"].to_numpy(dtype=int),
        matches["away_score"].to_numpy(dtype=int),
        matches["home_team"].to_numpy(dtype=str),
        matches["away_team"].to_numpy(dtype=str),
        weights=match_weights(matches["date"], XI),
    )
    model.fit(use_gradient=use_gradient)
    return model


def median_seconds(fit) -> float:
    times = []
    for _ in range(N_FITS):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    matches = simulated_seasons()
    fit_penaltyblog(matches, True)  # warm-up: imports, compiled extensions
    ours = median_seconds(lambda: DixonColes(xi=XI).fit(matches))
    theirs = median_seconds(lambda: fit_penaltyblog(matches, True))
    theirs_numeric = median_seconds(lambda: fit_penaltyblog(matches, False))
    print(f"matches: {len(matches)}, fits per model: {N_FITS}, xi: {XI}")
    print(f"scoreline DixonColes.fit                        median {ours * 1e3:8.1f} ms")
    print(
        f"penaltyblog DixonColesGoalModel.fit()           median {theirs * 1e3:8.1f} ms"
        f"  ratio {theirs / ours:6.1f}x"
    )
    print(
        f"penaltyblog ... .fit(use_gradient=False)        median {theirs_numeric * 1e3:8.1f} ms"
        f"  ratio {theirs_numeric / ours:6.1f}x"
    )


if __name__ == "__main__":
    main()
