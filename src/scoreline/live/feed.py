"""Score feeds: what a live provider sends (one :class:`ScoreEvent` per score change) and the
replay of a real night from the ``nba_pbp/`` timelines as such a feed.

A provider adapter implements :class:`Feed` (``competition`` and ``events()``, a blocking
iterator that yields each event when it happens); the loop (:mod:`scoreline.live.loop`) takes any
feed. :class:`ReplayFeed` plays a night's scoring events in game-clock order, accelerated: the
timelines carry no tip-off times, so every game of the night tips off at the start of the replay
and an event ``elapsed_s`` game seconds in is published ``elapsed_s / speed`` seconds after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

__all__ = ["PBP_TEAMS", "Feed", "ReplayFeed", "ScoreEvent", "night_events", "season_events"]

#: play-by-play team codes that the ``nba/`` lines (and so the match store) spell differently
PBP_TEAMS = {"GSW": "GS", "NOP": "NO", "NYK": "NY", "SAS": "SA", "UTA": "UTAH", "WAS": "WSH"}


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
    (``speed=0``: as fast as the loop takes them). ``events`` is :func:`night_events`'s frame."""

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


def _season_label(season: int) -> str:
    return f"{season}_{(season + 1) % 100:02d}"


def _timeline(folder: Path, season: int, game_ids: set[str]) -> pd.DataFrame:
    """The consistent scoring events of ``game_ids`` in ``season`` (both season types)."""
    frames = []
    for kind in ("regular", "playoffs"):
        path = folder / "score_timeline" / f"nba_score_timeline_{_season_label(season)}_{kind}.csv.gz"
        if not path.exists():
            continue
        with gzip.open(path, "rt") as handle:
            frame = pd.read_csv(handle, dtype={"game_id": str, "clock": str})
        frames.append(frame[frame["game_id"].isin(game_ids) & frame["consistent"]])
    if not frames:
        raise FileNotFoundError(f"no score timelines of season {season} in {folder / 'score_timeline'}")
    return pd.concat(frames, ignore_index=True)


def _games(source: Path) -> pd.DataFrame:
    folder = source / "nba_pbp"
    path = folder / "games.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the live replay needs the nba_pbp/ timelines")
    games = pd.read_csv(path, dtype={"game_id": str})
    games = games[games["quality_ok"].astype(bool)].copy()
    games["date"] = pd.to_datetime(games["date"]).dt.date
    games["season_start"] = games["season"].str[:4].astype(int)
    for side in ("home", "away"):
        games[f"{side}_team"] = games[f"{side}_abbr"].replace(PBP_TEAMS)
    return games


def _events(source: Path, games: pd.DataFrame, lines: pd.DataFrame | None) -> pd.DataFrame:
    """``games``' scoring events with the game's teams, date and pre-game lines."""
    frames = [
        _timeline(source / "nba_pbp", season, set(of_season["game_id"]))
        for season, of_season in games.groupby("season_start")
    ]
    events = pd.concat(frames, ignore_index=True).rename(columns={"row_order": "seq"})
    keys = games[["game_id", "date", "home_team", "away_team"]]
    if lines is not None and len(lines):
        keys = keys.merge(
            lines[["date", "home_team", "away_team", "spread", "total"]],
            how="left",
            on=["date", "home_team", "away_team"],
        )
    else:
        keys = keys.assign(spread=math.nan, total=math.nan)
    events = events.merge(keys, on="game_id", how="inner")
    return events.sort_values(["game_id", "seq"], ignore_index=True)


def night_events(source: Path, date: dt.date, lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every consistent scoring event of the games played on ``date`` (``quality_ok`` games
    only), with ``lines`` (``date, home_team, away_team, spread, total``: the match store's
    NBA rows) joined on date and teams. ValueError when no game was played that day."""
    games = _games(source)
    of_night = games[games["date"] == date]
    if of_night.empty:
        raise ValueError(f"no NBA game on {date} in {source / 'nba_pbp' / 'games.csv'}")
    return _events(source, of_night, lines)


def season_events(source: Path, season: int, lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every consistent scoring event of a season (start year), regular season and playoffs."""
    games = _games(source)
    of_season = games[games["season_start"] == season]
    if of_season.empty:
        raise ValueError(f"no NBA game of season {season} in {source / 'nba_pbp' / 'games.csv'}")
    return _events(source, of_season, lines)
