"""Reference forecasters: base rates and the bookmakers' market.

The market rows are the anchor every model is reported against. They read prices from the
fixture rows themselves, so they "predict" only matches with prices: rows without prices are
NaN, and evaluation compares models on the matches every forecaster covers.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.special import ndtr

from scoreline.features.market import DevigMethod, implied_probabilities
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel, outcome_index


class BaseRates(MatchModel):
    """The share of home wins / draws / away wins over the last ``history_days`` of training."""

    def __init__(self, two_way: bool = False, history_days: int = 5 * 365):
        self.two_way = two_way
        self.history_days = history_days

    @property
    def outcomes(self) -> tuple[str, ...]:
        return OUTCOMES_2WAY if self.two_way else OUTCOMES_3WAY

    def fit(self, matches: pd.DataFrame) -> Self:
        recent = matches.loc[matches["date"] >= matches["date"].max() - pd.Timedelta(days=self.history_days)]
        outcome = outcome_index(recent, self.two_way)
        counts = np.bincount(outcome[outcome >= 0], minlength=len(self.outcomes)).astype(float)
        self.rates_ = (counts + 1.0) / (counts.sum() + len(counts))  # Laplace: never exactly 0
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        return np.tile(self.rates_, (len(fixtures), 1))


class MarketModel(MatchModel):
    """De-vigged 1X2 prices of one source (``b365``, ``pinnacle``, ``avg``, ``pinnacle_close``...).

    A ``_close`` source is the closing-line benchmark: it is never a pre-kick-off forecast.
    ``fallback``: sources read, in order, on rows where ``source`` has no usable price. Pinnacle's
    pre-closing prices start in 2012/13; ``MarketModel("pinnacle", fallback=("avg", "b365"))`` is
    the same forecast wherever Pinnacle is priced and the market average before, so a stack has
    years of out-of-fold evidence about the sharp price instead of none. Fallbacks must keep the
    source's timing: a closing fallback for a pre-closing source is refused.
    """

    outcomes = OUTCOMES_3WAY

    def __init__(
        self,
        source: str = "pinnacle_close",
        method: DevigMethod = DevigMethod.MULTIPLICATIVE,
        fallback: tuple[str, ...] = (),
    ):
        self.source = source
        self.method = method
        self.fallback = fallback

    def fit(self, matches: pd.DataFrame) -> Self:
        closing = "close" in self.source
        mixed = [s for s in self.fallback if ("close" in s) != closing]
        if mixed:
            raise ValueError(
                f"fallback {mixed} for {self.source!r}: fallbacks must be "
                f"{'closing' if closing else 'pre-closing'} prices like the source"
            )
        self.columns_ = [[f"odds_{s}_{o}" for o in self.outcomes] for s in (self.source, *self.fallback)]
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        out = np.full((len(fixtures), len(self.outcomes)), np.nan)
        for columns in self.columns_:
            todo = np.isnan(out).any(axis=1)
            if not todo.any():
                break
            odds = fixtures.reindex(columns=columns).to_numpy(dtype=float)[todo]
            out[todo] = implied_probabilities(odds, self.method).probabilities
        return out


class SpreadMarket(MatchModel):
    """Home-win probability from the closing point spread: margin ~ Normal(-spread_home, sd).

    ``sd`` is estimated on the training matches only (the spread's own residual spread), so
    the benchmark is as honest as the models it is compared with.
    """

    outcomes = OUTCOMES_2WAY

    def __init__(self, history_days: int = 5 * 365):
        self.history_days = history_days

    def fit(self, matches: pd.DataFrame) -> Self:
        recent = matches.loc[matches["date"] >= matches["date"].max() - pd.Timedelta(days=self.history_days)]
        margin = (recent["home_score"] - recent["away_score"]).to_numpy(dtype=float)
        residual = margin + recent["spread_home"].to_numpy(dtype=float)
        residual = residual[np.isfinite(residual)]
        if len(residual) < 30:
            raise ValueError(f"SpreadMarket needs >= 30 training matches with a spread, got {len(residual)}")
        self.sd_ = float(np.sqrt(np.mean(residual**2)))
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        p_home = ndtr(-fixtures["spread_home"].to_numpy(dtype=float) / self.sd_)
        return np.column_stack([p_home, 1.0 - p_home])
