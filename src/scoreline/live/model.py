"""What the live loop and ``POST /live/predict`` ask of an in-game champion: the contract of
:class:`scoreline.models.ingame.forecaster.InGameForecaster` (the registered champion's model).

* ``start_game(spread_home, total_line)`` -> a :class:`LiveGame` fed every scoring event in
  clock order (``update(elapsed_s, home_score, away_score)``), each answered with an
  :class:`~scoreline.models.ingame.forecaster.InGameForecast` from the game's point-in-time
  state (P(home win), the final margin with its intervals per level, and the halftime answer
  once minute 18 is over);
* ``halftime(pattern, spread_home, total_line)`` -> a
  :class:`~scoreline.models.ingame.forecaster.HalftimeAnswer` for an 18-value pattern.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from scoreline.models.ingame.forecaster import HalftimeAnswer, InGameForecast

__all__ = ["HalftimeAnswer", "InGameForecast", "InGameModel", "LiveGame"]


class LiveGame(Protocol):
    """One game in progress."""

    def update(self, elapsed_s: float, home_score: int, away_score: int) -> InGameForecast: ...


class InGameModel(Protocol):
    """An in-game champion (``model_name`` and ``version`` name it in stored forecasts)."""

    model_name: str
    version: str

    def start_game(self, spread_home: float, total_line: float | None = None) -> LiveGame: ...

    def halftime(
        self, pattern: list[float] | np.ndarray, spread_home: float, total_line: float | None = None
    ) -> HalftimeAnswer: ...
