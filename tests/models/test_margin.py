"""The margin model recovers simulated team strengths and pools FCS opponents."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoreline.models.margin import FCS_TEAM, MarginModel


def simulated_season(seed: int = 1, n_games: int = 3000, sd: float = 12.0):
    rng = np.random.default_rng(seed)
    strength = pd.Series(rng.normal(0, 6, 20), index=[f"T{i}" for i in range(20)])
    strength -= strength.mean()
    home = rng.choice(strength.index, n_games)
    away = np.array([rng.choice(strength.index.drop(h)) for h in home])
    neutral = rng.random(n_games) < 0.1
    margin = (
        3.0 * ~neutral + strength[home].to_numpy() - strength[away].to_numpy() + rng.normal(0, sd, n_games)
    )
    base = np.round(rng.normal(100, 5, n_games))
    frame = pd.DataFrame(
        {
            "date": pd.Timestamp("2022-01-01"),
            "home_team": home,
            "away_team": away,
            "neutral": neutral,
            "home_score": base + np.round(margin),
            "away_score": base,
        }
    )
    return frame, strength


def test_recovers_strengths_home_edge_and_spread():
    matches, truth = simulated_season()
    model = MarginModel(alpha=0.1).fit(matches)
    assert np.abs(model.strength_.reindex(truth.index) - truth).max() < 1.5
    assert abs(model.home_edge_ - 3.0) < 1.0
    assert abs(model.sd_ - 12.0) < 0.8
    proba = model.predict_proba(matches.head(5))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    low, high = model.predict_margin(matches).interval(0.8)
    margin = (matches["home_score"] - matches["away_score"]).to_numpy()
    assert 0.77 < np.mean((margin >= low) & (margin <= high)) < 0.83


def test_fcs_opponents_are_pooled_into_one_team():
    matches, _ = simulated_season(n_games=600)
    matches["home_fcs"] = False
    matches["away_fcs"] = False
    fcs = pd.DataFrame(
        {
            "date": pd.Timestamp("2022-01-01"),
            "home_team": "T0",
            "away_team": [f"Tiny {i}" for i in range(30)],
            "neutral": False,
            "home_score": 45,
            "away_score": 7,
            "home_fcs": False,
            "away_fcs": True,
        }
    )
    model = MarginModel().fit(pd.concat([matches, fcs], ignore_index=True))
    assert FCS_TEAM in model.teams_ and "Tiny 3" not in model.teams_
    unseen = pd.DataFrame(
        {
            "home_team": ["T1"],
            "away_team": ["Never Seen"],
            "neutral": [False],
            "home_fcs": [False],
            "away_fcs": [True],
        }
    )
    assert model.predict_margin(unseen).mean[0] > 20  # an unseen FCS side is rated as FCS, not average
