"""A small in-game model for the tests only, behind the in-game contract
(:class:`scoreline.live.model.InGameModel`, what the registered
:class:`~scoreline.models.ingame.forecaster.InGameForecaster` honours): Stern's Brownian motion
with a fixed sigma, and the margin after 18 minutes plus the spread's pull for half-time."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from scoreline.models.ingame.forecaster import HalftimeAnswer, InGameForecast

#: standard deviation of a whole game's margin around the spread (points)
SIGMA = 12.0
REGULATION_S = 2880.0
LEVELS = (0.8, 0.95)


class BrownianModel:
    """Final margin ~ Normal(margin + drift * share of time left, SIGMA^2 * share left)."""

    model_name = "brownian_test"

    def __init__(self, version: str = "1", primary: float = 0.8) -> None:
        self.version = version
        self.primary = primary

    def start_game(self, spread_home: float, total_line: float | None = None) -> BrownianGame:
        if spread_home is None or not np.isfinite(spread_home):
            raise ValueError(f"spread_home: a finite number is required, got {spread_home!r}")
        return BrownianGame(self, float(spread_home))

    def halftime(self, pattern, spread_home: float, total_line: float | None = None) -> HalftimeAnswer:
        values = np.asarray(pattern, dtype=float)
        if values.shape != (18,):
            raise ValueError(f"pattern: expected 18 numbers, got {values.tolist()}")
        pull = -spread_home * 6 / 48
        centre = float(values[-1] + pull)
        sd = SIGMA * np.sqrt(6 / 48)
        intervals = {
            level: (centre - norm.ppf(0.5 + level / 2) * sd, centre + norm.ppf(0.5 + level / 2) * sd)
            for level in LEVELS
        }
        low, high = intervals[self.primary]
        explanation = {
            "model": self.model_name,
            "margin_18": float(values[-1]),
            "spread_pull": round(pull, 2),
        }
        return HalftimeAnswer(centre, low, high, self.primary, intervals, explanation)


class BrownianGame:
    """One game: the margin at the end of each minute so far, for the 18-minute pattern."""

    def __init__(self, model: BrownianModel, spread_home: float) -> None:
        self.model, self.spread = model, spread_home
        self.margin, self.minutes, self.answer = 0, [], None

    def update(self, elapsed_s: float, home_score: int, away_score: int) -> InGameForecast:
        while (len(self.minutes) + 1) * 60 < elapsed_s:  # minutes over before this event
            self.minutes.append(self.margin)
        self.margin = home_score - away_score
        if self.answer is None and len(self.minutes) >= 18:
            self.answer = self.model.halftime(self.minutes[:18], self.spread)
        left = max(REGULATION_S - elapsed_s, 0.0) / REGULATION_S
        mean = self.margin - self.spread * left
        sd = SIGMA * np.sqrt(left) + 0.5
        intervals = {
            level: (mean - norm.ppf(0.5 + level / 2) * sd, mean + norm.ppf(0.5 + level / 2) * sd)
            for level in LEVELS
        }
        return InGameForecast(
            elapsed_s, home_score, away_score, float(norm.cdf(mean / sd)), mean, intervals, self.answer
        )
