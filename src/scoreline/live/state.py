"""What an in-game model may know at a score change: the game's state built from that event
and the ones before it only (point in time by construction: a tracker never sees an event
before the feed sends it).

A state row (:data:`STATE_COLUMNS`): ``elapsed_s`` (game seconds), ``seconds_left`` (to the end
of regulation, 0 in overtime), ``period``, ``home_score``, ``away_score``, ``margin`` (home minus
away), ``spread`` and ``total`` (pre-game lines; NaN when unknown), ``lead_changes`` so far and
``run`` (points of the current unanswered run: positive for the home side). The 18-minute
pattern (home-minus-away margin at the end of each of the first 18 game minutes) is complete
once an event after minute 18 has arrived; until then it is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scoreline.live.feed import ScoreEvent

__all__ = ["PATTERN_MINUTES", "REGULATION_S", "STATE_COLUMNS", "GameState", "GameTracker"]

#: game seconds of regulation (four 12-minute quarters)
REGULATION_S = 2880.0
#: the halftime forecast's input: the margin at the end of each of the first 18 minutes
PATTERN_MINUTES = 18
STATE_COLUMNS = (
    "elapsed_s",
    "seconds_left",
    "period",
    "home_score",
    "away_score",
    "margin",
    "spread",
    "total",
    "lead_changes",
    "run",
)


@dataclass
class GameState:
    """One game's running state (see the module docstring)."""

    home_score: int = 0
    away_score: int = 0
    elapsed_s: float = 0.0
    period: int = 1
    lead_changes: int = 0
    run: int = 0
    #: +1 home, -1 away: who led last (0 before anyone has)
    leader: int = 0
    #: margin at the end of each completed game minute, from minute 1
    minute_margins: list[int] = field(default_factory=list)
    last_seq: int = -1

    @property
    def margin(self) -> int:
        return self.home_score - self.away_score

    def pattern(self) -> np.ndarray | None:
        """The 18-minute margin pattern, once minute 18 is over (else None)."""
        if len(self.minute_margins) < PATTERN_MINUTES:
            return None
        return np.asarray(self.minute_margins[:PATTERN_MINUTES], dtype=float)


class GameTracker:
    """Every game's state, updated event by event (in each game's feed order)."""

    def __init__(self) -> None:
        self.games: dict[str, GameState] = {}

    def update(self, event: ScoreEvent) -> GameState:
        """Apply ``event`` to its game (an event at or before the game's last one is ignored:
        a re-delivered event changes nothing) and return the game's state."""
        state = self.games.setdefault(event.game_id, GameState())
        if event.seq <= state.last_seq:
            return state
        # minutes that ended before this event keep the score before it
        while (len(state.minute_margins) + 1) * 60 < event.elapsed_s:
            state.minute_margins.append(state.margin)
        home_points = event.home_score - state.home_score
        away_points = event.away_score - state.away_score
        state.home_score, state.away_score = event.home_score, event.away_score
        state.elapsed_s, state.period, state.last_seq = event.elapsed_s, event.period, event.seq
        leader = (state.margin > 0) - (state.margin < 0)
        if leader:
            state.lead_changes += state.leader not in (0, leader)
            state.leader = leader
        net = home_points - away_points
        state.run = state.run + net if net * state.run > 0 else net or state.run
        return state

    @staticmethod
    def row(state: GameState, event: ScoreEvent) -> tuple:
        """The state as a :data:`STATE_COLUMNS` row."""
        return (
            state.elapsed_s,
            max(REGULATION_S - state.elapsed_s, 0.0),
            state.period,
            state.home_score,
            state.away_score,
            state.margin,
            event.spread,
            event.total,
            state.lead_changes,
            state.run,
        )
