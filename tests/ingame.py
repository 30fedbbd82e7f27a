"""A small in-game model for the tests only, behind the in-game contract
(:class:`scoreline.live.model.InGameModel`): Stern's Brownian motion with a fixed sigma. The
real champion comes from the registry (issue 16, part A)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from scoreline.live.model import HalftimeForecast
from scoreline.live.state import REGULATION_S

#: standard deviation of a whole game's margin around the spread (points)
SIGMA = 12.0


class BrownianModel:
    """Final margin ~ Normal(margin + drift * time left, SIGMA^2 * share of time left)."""

    model_name = "brownian_test"

    def __init__(self, version: str = "1", coverage: float = 0.8) -> None:
        self.version = version
        self.coverage = coverage

    def predict_states(self, states: pd.DataFrame) -> pd.DataFrame:
        left = states["seconds_left"].to_numpy(float) / REGULATION_S
        drift = -states["spread"].fillna(0.0).to_numpy(float)
        mean = states["margin"].to_numpy(float) + drift * left
        sd = SIGMA * np.sqrt(left) + 0.5
        z = norm.ppf(0.5 + self.coverage / 2)
        return pd.DataFrame(
            {
                "win_prob": norm.cdf(mean / sd),
                "margin": mean,
                "margin_low": mean - z * sd,
                "margin_high": mean + z * sd,
            }
        )

    def predict_halftime(self, patterns: np.ndarray, spreads: np.ndarray) -> list[HalftimeForecast]:
        share = 6 / 48
        drift = -np.nan_to_num(spreads) * share
        sd = SIGMA * np.sqrt(share)
        z = norm.ppf(0.5 + self.coverage / 2)
        out = []
        for pattern, pull in zip(patterns, drift):
            centre = float(pattern[-1] + pull)
            out.append(
                HalftimeForecast(
                    centre,
                    centre - z * sd,
                    centre + z * sd,
                    self.coverage,
                    f"margin {pattern[-1]:+.0f} after 18 minutes, spread pull {pull:+.1f}",
                )
            )
        return out
