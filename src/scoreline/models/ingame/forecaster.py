"""The in-game forecaster: a fitted state model and pattern model answering a live game.

This is what the registered in-game champion holds (:class:`scoreline.tracking.ingame.InGamePyfunc`
wraps it for MLflow). Two ways in:

* ``forecaster.halftime(pattern, spread_home, total_line=None)`` answers the live API's request
  shape: an 18-value pattern (home-minus-away differential at the end of game minutes 1..18) ->
  :class:`HalftimeAnswer` (forecast, ``lower``/``upper`` of the primary interval and its
  ``coverage_probability``, every level's interval, an explanation naming the matched games).
* ``game = forecaster.start_game(spread_home, total_line)``, then for every scoring event of the
  feed, in clock order, ``game.update(elapsed_s, home_score, away_score)`` ->
  :class:`InGameForecast` (P(home win), final margin with its intervals, and the half-time
  answer once minute 18 is over: from the first event after 18:00 of game time on). Each update
  costs one row through the fitted models (about a millisecond); the game's features are kept
  incrementally (:class:`~scoreline.features.ingame.GameTracker`), so nothing after an event is
  ever seen.

:meth:`InGameForecaster.forecast_events` is the batch form (a frame of events of many games) and
gives exactly what the live path gives event by event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scoreline.features.ingame import GameTracker, pattern_columns
from scoreline.models.conformal import interval_columns
from scoreline.models.ingame.patterns import MINUTES, PatternModel
from scoreline.models.ingame.states import StateModel

__all__ = ["HalftimeAnswer", "InGameForecast", "InGameForecaster", "LiveGame"]

#: the seconds after which the 18-minute pattern is complete
PATTERN_END_S = MINUTES * 60.0


@dataclass(frozen=True)
class HalftimeAnswer:
    """The answer to one 18-value request (points, home minus away at half-time).

    ``lower``/``upper``: the interval at ``coverage_probability`` (the forecaster's primary
    level); ``intervals``: level -> (lower, upper) for every level.
    """

    forecast: float
    lower: float
    upper: float
    coverage_probability: float
    intervals: dict[float, tuple[float, float]]
    explanation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "forecast": self.forecast,
            "lower": self.lower,
            "upper": self.upper,
            "coverage_probability": self.coverage_probability,
            "intervals": [{"level": k, "lower": lo, "upper": hi} for k, (lo, hi) in self.intervals.items()],
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class InGameForecast:
    """The forecast after one scoring event: ``elapsed_s`` (game seconds), the score, P(home
    win), the final home margin and its intervals (level -> (lower, upper)), and the half-time
    answer (None before minute 18 is over)."""

    elapsed_s: float
    home_score: int
    away_score: int
    p_home_win: float
    margin: float
    margin_intervals: dict[float, tuple[float, float]]
    halftime: HalftimeAnswer | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "elapsed_s": self.elapsed_s,
            "home_score": self.home_score,
            "away_score": self.away_score,
            "p_home_win": self.p_home_win,
            "margin": self.margin,
            "margin_intervals": [
                {"level": k, "lower": lo, "upper": hi} for k, (lo, hi) in self.margin_intervals.items()
            ],
            "halftime": self.halftime.to_dict() if self.halftime is not None else None,
        }


@dataclass
class InGameForecaster:
    """A fitted :class:`StateModel` and :class:`PatternModel` (see the module docstring).

    ``primary_level``: the interval reported as ``lower``/``upper`` of a half-time answer.
    ``trained_through``: the last season (start year) in the training data.
    """

    state_model: StateModel
    pattern_model: PatternModel
    primary_level: float = 0.95
    trained_through: int | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary_level not in self.pattern_model.levels:
            raise ValueError(f"primary_level {self.primary_level} is not one of {self.pattern_model.levels}")

    def halftime_rows(self, rows: pd.DataFrame, explain: bool = True) -> list[HalftimeAnswer]:
        """Answers for pattern rows (``diff_1`` .. ``diff_18``, ``spread_home``, ``total_line``)."""
        result = self.pattern_model.predict(rows, explain=explain)
        answers = []
        for i in range(len(rows)):
            intervals = {}
            for level in result.levels:
                lower, upper = interval_columns(level)
                intervals[level] = (
                    float(result.intervals[lower].iloc[i]),
                    float(result.intervals[upper].iloc[i]),
                )
            low, high = intervals[self.primary_level]
            answers.append(
                HalftimeAnswer(
                    float(result.forecast[i]),
                    low,
                    high,
                    self.primary_level,
                    intervals,
                    result.explanations[i] if explain else {},
                )
            )
        return answers

    def halftime(
        self, pattern: list[float] | np.ndarray, spread_home: float, total_line: float | None = None
    ) -> HalftimeAnswer:
        """The answer to one request: 18 differentials (minutes 1..18), the pre-game spread
        (home perspective, < 0 = home favoured) and optionally the total."""
        values = np.asarray(pattern, dtype=float)
        if values.shape != (MINUTES,) or not np.isfinite(values).all():
            raise ValueError(f"pattern: expected {MINUTES} finite numbers, got {values.tolist()}")
        if spread_home is None or not np.isfinite(float(spread_home)):
            raise ValueError(f"spread_home: a finite number is required, got {spread_home!r}")
        row = pd.DataFrame([values], columns=pattern_columns(MINUTES)).assign(
            spread_home=float(spread_home), total_line=np.nan if total_line is None else float(total_line)
        )
        return self.halftime_rows(row)[0]

    def start_game(self, spread_home: float, total_line: float | None = None) -> LiveGame:
        """A live game to feed scoring events to (see :class:`LiveGame`)."""
        if spread_home is None or not np.isfinite(float(spread_home)):
            raise ValueError(f"spread_home: a finite number is required, got {spread_home!r}")
        total = (
            self.state_model.total_fill_ if total_line is None or not np.isfinite(total_line) else total_line
        )
        return LiveGame(self, GameTracker(float(spread_home), float(total)))

    def forecast_states(self, states: pd.DataFrame) -> pd.DataFrame:
        """``p_home_win``, ``margin`` and ``lower_80`` ... for game-state rows."""
        margin = self.state_model.predict_margin(states)
        return margin.intervals.assign(
            p_home_win=self.state_model.predict_proba(states)[:, 0], margin=margin.mean
        )

    def forecast_events(self, events: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
        """Forecasts after every event of ``events`` (``game_id, seq, elapsed_s, home_score,
        away_score``), aligned to its index; ``games`` gives ``spread_home``/``total_line``.

        Replays each game through :class:`LiveGame` in clock order, so it is the live path.
        """
        lines = games.drop_duplicates("game_id").set_index("game_id")
        ordered = events.sort_values(["game_id", "elapsed_s", "seq"], kind="stable")
        rows: list[dict[str, Any]] = []
        for game_id, game_events in ordered.groupby("game_id", sort=False):
            line = lines.loc[game_id]
            live = self.start_game(line["spread_home"], line["total_line"])
            for event in game_events.itertuples():
                forecast = live.update(event.elapsed_s, event.home_score, event.away_score)
                rows.append({"index": event.Index, **_flat(forecast)})
        return pd.DataFrame(rows).set_index("index").reindex(events.index)


def _flat(forecast: InGameForecast) -> dict[str, Any]:
    out: dict[str, Any] = {"p_home_win": forecast.p_home_win, "margin": forecast.margin}
    for level, (lower, upper) in forecast.margin_intervals.items():
        low, high = interval_columns(level)
        out[f"margin_{low}"], out[f"margin_{high}"] = lower, upper
    half = forecast.halftime
    out["halftime"] = half.forecast if half is not None else np.nan
    if half is not None:
        for level, bounds in sorted(half.intervals.items()):
            low, high = interval_columns(level)
            out[f"halftime_{low}"], out[f"halftime_{high}"] = bounds
    return out


@dataclass
class LiveGame:
    """One game in progress: feed it scoring events in clock order with :meth:`update`."""

    forecaster: InGameForecaster
    tracker: GameTracker
    halftime: HalftimeAnswer | None = None

    def update(self, elapsed_s: float, home_score: int, away_score: int) -> InGameForecast:
        """Apply a scoring event (game second, score after it) and forecast from the new state."""
        self.tracker.update(float(elapsed_s), float(home_score), float(away_score))
        if self.halftime is None and elapsed_s > PATTERN_END_S:
            pattern = self.tracker.pattern(MINUTES)
            if pattern is not None:
                self.halftime = self.forecaster.halftime(
                    pattern, self.tracker.spread_home, self.tracker.total_line
                )
        model = self.forecaster.state_model
        p_home, margin, radius = model.predict_row(self.tracker.vector())
        intervals = {
            level: (margin - float(r), margin + float(r))
            for level, r in zip(model.levels, radius, strict=True)
        }
        return InGameForecast(
            float(elapsed_s), int(home_score), int(away_score), p_home, margin, intervals, self.halftime
        )
