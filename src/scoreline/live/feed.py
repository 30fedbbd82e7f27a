"""Score feeds: what a live provider sends (one :class:`ScoreEvent` per score change) and the
replay of a real night from the match store's in-game tables (:mod:`scoreline.data.ingame`,
ingested from ``nba_pbp/``) as such a feed.

A provider adapter implements :class:`Feed` (``competition`` and ``events()``, a blocking
iterator that yields each event when it happens); the loop (:mod:`scoreline.live.loop`) takes any
feed. :class:`ReplayFeed` plays a night's scoring events in game-clock order, accelerated: the
timelines carry no tip-off times, so every game of the night tips off at the start of the replay
and an event ``elapsed_s`` game seconds in is published ``elapsed_s / speed`` seconds after it
(a season plays its nights one after another, each from the start of the replay: pace 0 for it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from scoreline.data.ingame import InGameTables

__all__ = ["Feed", "ReplayFeed", "ScoreEvent", "night_events", "replay_events", "season_events"]


@dataclass(frozen=True, slots=True)
class ScoreEvent:
    """One score change of a game in progress.

    ``seq`` orders a game's events (the feed's row order); ``elapsed_s`` is game seconds since
    tip-off (quarters 720 s, overtimes 300 s); ``clock`` is the period's clock (MM:SS left).
    ``spread`` (home line, negative = home favoured) and ``total`` are the pre-game closing lines
    (NaN when unknown). ``final`` marks the game's last event. ``emitted_at`` is when the feed
    published it (Unix seconds): the start of the event-to-subscriber latency.
    """

    competition: str
    game_id: str
    seq: int
    date: dt.date
    home_team: str
    away_team: str
    period: int
    clock: str
    elapsed_s: float
    home_score: int
    away_score: int
    spread: float = math.nan
    total: float = math.nan
    final: bool = False
    emitted_at: float = 0.0

    def to_message(self) -> dict[str, str]:
        """The event as flat text fields (what a Redis stream entry holds)."""
        return {f.name: _text(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_message(cls, fields: dict[Any, Any]) -> ScoreEvent:
        """The event from :meth:`to_message`'s fields (text or bytes); ValueError names the
        event and the field that is missing or malformed."""
        text = {_decoded(k): _decoded(v) for k, v in fields.items()}
        where = f"score event {text.get('game_id', '?')}#{text.get('seq', '?')}"
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in text:
                if f.name in _OPTIONAL:
                    continue
                raise ValueError(f"{where}: no {f.name}")
            try:
                values[f.name] = _PARSERS.get(f.name, str)(text[f.name])
            except ValueError:
                raise ValueError(f"{where}: {f.name}: cannot read {text[f.name]!r}") from None
        return cls(**values)


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def _decoded(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_PARSERS: dict[str, Any] = {
    "seq": int,
    "date": dt.date.fromisoformat,
    "period": int,
    "elapsed_s": float,
    "home_score": int,
    "away_score": int,
    "spread": float,
    "total": float,
    "final": _flag,
    "emitted_at": float,
}
_OPTIONAL = {"spread", "total", "final", "emitted_at"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class Feed(Protocol):
    """A live score feed: ``events()`` yields each score change as it happens (blocking)."""

    competition: str

    def events(self) -> Iterator[ScoreEvent]: ...


class ReplayFeed:
    """A recorded night played back as a live feed, ``speed`` times faster than the game clock
    (``speed=0``: as fast as the loop takes them). ``events`` is :func:`replay_events`' frame."""

    def __init__(
        self,
        events: pd.DataFrame,
        speed: float = 60.0,
        competition: str = "NBA",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0 (0 = as fast as possible), not {speed}")
        self.frame = events.sort_values(["date", "elapsed_s", "game_id", "seq"], kind="stable")
        self.speed = speed
        self.competition = competition
        self._clock, self._sleep = clock, sleep

    def __len__(self) -> int:
        return len(self.frame)

    def events(self) -> Iterator[ScoreEvent]:
        start = self._clock()
        last = self.frame.groupby("game_id")["seq"].transform("max")
        columns = [self.frame[c].tolist() for c in _EVENT_COLUMNS]
        for values, is_final in zip(zip(*columns), (self.frame["seq"] == last).tolist()):
            row = dict(zip(_EVENT_COLUMNS, values))
            if self.speed:
                wait = start + row["elapsed_s"] / self.speed - self._clock()
                if wait > 0:
                    self._sleep(wait)
            yield ScoreEvent(
                competition=self.competition,
                date=row["date"],
                final=is_final,
                emitted_at=time.time(),
                **{k: v for k, v in row.items() if k != "date"},
            )


_EVENT_COLUMNS = (
    "game_id",
    "seq",
    "date",
    "home_team",
    "away_team",
    "period",
    "clock",
    "elapsed_s",
    "home_score",
    "away_score",
    "spread",
    "total",
)


def replay_events(tables: InGameTables) -> pd.DataFrame:
    """The scoring events of ``tables``' games as a feed replays them: each with its game's
    date, teams and pre-game lines (``spread``, ``total``: NaN without a joined ``nba/`` game),
    in each game's feed order."""
    games = tables.games[["game_id", "date", "home_team", "away_team", "spread_home", "total_line"]].rename(
        columns={"spread_home": "spread", "total_line": "total"}
    )
    games = games.assign(
        date=pd.to_datetime(games["date"]).dt.date,
        home_team=games["home_team"].astype(object),
        away_team=games["away_team"].astype(object),
    )
    events = tables.events.astype(
        {"game_id": object, "seq": int, "period": int, "clock": object, "home_score": int, "away_score": int}
    )
    return events.merge(games.astype({"game_id": object}), on="game_id").sort_values(
        ["game_id", "seq"], ignore_index=True
    )


def night_events(tables: InGameTables, date: dt.date) -> pd.DataFrame:
    """Every kept scoring event of the games played on ``date`` that have a pre-game spread and
    total (the in-game model needs them); ValueError when there is none."""
    night = tables.on(pd.Timestamp(date))
    night = InGameTables(night.with_lines(), night.events)
    if night.games.empty:
        raise ValueError(f"no NBA game with pre-game lines on {date} in the match store's in-game tables")
    return replay_events(night)


def season_events(tables: InGameTables, season: int) -> pd.DataFrame:
    """Every kept scoring event of a season (start year), regular season and playoffs, of the
    games with pre-game lines."""
    games = tables.with_lines()
    games = games[games["season"] == season].reset_index(drop=True)
    if games.empty:
        raise ValueError(
            f"no NBA game with pre-game lines in season {season} in the match store's in-game tables"
        )
    return replay_events(InGameTables(games, tables.events[tables.events["game_id"].isin(games["game_id"])]))
