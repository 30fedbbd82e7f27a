"""Small simulated leagues shared by the tests (canonical match-table columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def double_round_robin(n_teams: int) -> list[list[tuple[int, int]]]:
    """Rounds of (home, away) index pairs by the circle method; second half mirrors the first."""
    teams = list(range(n_teams))
    rounds = []
    for r in range(n_teams - 1):
        pairs = [(teams[i], teams[-1 - i]) for i in range(n_teams // 2)]
        rounds.append([(a, b) if r % 2 else (b, a) for a, b in pairs])
        teams = [teams[0], teams[-1], *teams[1:-1]]
    return rounds + [[(b, a) for a, b in rnd] for rnd in rounds]


def poisson_league(seasons, seed: int, strength_sd: float = 0.3, prices: bool = False) -> pd.DataFrame:
    """Eight teams, every pairing home and away each season, one match every 3 days; goals
    Poisson in the strength gap. ``prices`` adds constant Bet365 1X2 prices."""
    rng = np.random.default_rng(seed)
    teams = [f"T{i}" for i in range(8)]
    strength = dict(zip(teams, rng.normal(0, strength_sd, 8)))
    rows = []
    for season in seasons:
        day = pd.Timestamp(season, 8, 1)
        for home in teams:
            for away in teams:
                if home != away:
                    day += pd.Timedelta(days=3)
                    rows.append(
                        {
                            "date": day,
                            "season": season,
                            "home_team": home,
                            "away_team": away,
                            "home_score": rng.poisson(np.exp(0.3 + strength[home] - strength[away])),
                            "away_score": rng.poisson(np.exp(0.1 + strength[away] - strength[home])),
                        }
                    )
    frame = pd.DataFrame(rows)
    if prices:
        frame = frame.assign(odds_b365_home=2.1, odds_b365_draw=3.4, odds_b365_away=3.6)
    frame["match_id"] = [f"m{i}" for i in range(len(frame))]
    frame["competition"] = "E0"
    frame["neutral"] = False
    return frame
