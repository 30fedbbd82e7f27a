"""What the live loop and ``POST /live/predict`` ask of an in-game model: the contract an in-game
champion honours (:class:`InGameModel`) and the halftime forecast it returns.

Columns of :meth:`InGameModel.predict_states`' answer, one row per state in order:
``win_prob`` (home win, overtime included), ``margin`` (expected final home-minus-away margin),
``margin_low`` / ``margin_high`` (its interval at the model's nominal coverage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import pandas as pd

__all__ = ["STATE_FORECAST_COLUMNS", "HalftimeForecast", "InGameModel"]

STATE_FORECAST_COLUMNS = ("win_prob", "margin", "margin_low", "margin_high")


@dataclass(frozen=True)
class HalftimeForecast:
    """The home-minus-away margin at half-time forecast from the first 18 minutes: ``differential``
    with the interval ``lower``..``upper`` meant to hold it with probability ``coverage``, and an
    ``explanation`` a person can read (the matched past games, the spread's pull)."""

    differential: float
    lower: float
    upper: float
    coverage: float
    explanation: str

    def as_dict(self) -> dict:
        return asdict(self)


class InGameModel(Protocol):
    """An in-game champion: win probability and final margin at any game second, and the
    halftime margin from an 18-minute pattern."""

    model_name: str
    version: str

    def predict_states(self, states: pd.DataFrame) -> pd.DataFrame:
        """:data:`STATE_FORECAST_COLUMNS` for each row of ``states``
        (:data:`scoreline.live.state.STATE_COLUMNS`)."""
        ...

    def predict_halftime(self, patterns: np.ndarray, spreads: np.ndarray) -> list[HalftimeForecast]:
        """One forecast per row of ``patterns`` (n x 18 margins, minute 1 first) given each
        game's pre-game home spread (NaN when unknown)."""
        ...
