"""NBA in-game score timelines (``nba_pbp/``): the games table, every scoring event, and the
score at the end of each game minute.

Layout under the source root::

    nba_pbp/games.csv                                                      one row per game
    nba_pbp/score_timeline/nba_score_timeline_<YYYY_YY>_<regular|playoffs>.csv.gz   scoring events
    nba_pbp/score_by_minute/nba_score_by_minute_<YYYY_YY>_<regular|playoffs>.csv.gz  score per minute

:func:`read` returns each file's rows with typed columns and a ``problems`` column (the parse
problems of the row, "" if none); which columns depends on :func:`kind`. Team abbreviations are
mapped to the codes of the ``nba/`` adapter (``GSW`` -> ``GS``, ``UTA`` -> ``UTAH``, ...), so a
game joins its pre-game lines on date + home + away. Cross-file checks (unknown games, scores
that step back, finals against ``nba/``) are in :mod:`scoreline.data.ingame`.
"""

from __future__ import annotations

import warnings
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.data.adapters import FileRead, display_name
from scoreline.data.parsing import (
    FileParseError,
    RowProblems,
    numeric_block,
    parse_bool,
    parse_dates,
    read_text_csv,
    value_message,
)

FOLDER = "nba_pbp"
#: the feed's abbreviations that differ from the ``nba/`` adapter's (upper-cased) team codes
TEAM_CODES = {"GSW": "GS", "NOP": "NO", "NYK": "NY", "SAS": "SA", "UTA": "UTAH", "WAS": "WSH"}
KNOWN_TEAMS = frozenset(
    {
        "ATL", "BKN", "BOS", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GS", "HOU", "IND", "LAC",
        "LAL", "MEM", "MIA", "MIL", "MIN", "NO", "NY", "OKC", "ORL", "PHI", "PHX", "POR", "SAC",
        "SA", "TOR", "UTAH", "WSH",
    }
)  # fmt: skip
#: regulation periods last 720 s, overtimes 300 s
PERIOD_SECONDS, OVERTIME_SECONDS, REGULATION_PERIODS = 720, 300, 4
MAX_PERIOD = 10


class FileKind(StrEnum):
    GAMES = "games"
    EVENTS = "events"
    MINUTES = "minutes"


GAMES_REQUIRED = [
    "game_id",
    "date",
    "home_abbr",
    "away_abbr",
    "season",
    "season_type",
    "final_home",
    "final_away",
    "quality_ok",
]
EVENTS_REQUIRED = [
    "game_id",
    "row_order",
    "period",
    "clock",
    "elapsed_s",
    "home_score",
    "away_score",
    "consistent",
]
MINUTES_REQUIRED = ["game_id", "minute", "home_score", "away_score"]


def discover(root: Path) -> list[Path]:
    """``games.csv`` first, then the timeline and per-minute files (empty without the folder)."""
    folder = root / FOLDER
    if not folder.is_dir():
        return []
    games = [folder / "games.csv"] if (folder / "games.csv").is_file() else []
    return [
        *games,
        *sorted((folder / "score_timeline").glob("*.csv*")),
        *sorted((folder / "score_by_minute").glob("*.csv*")),
    ]


def kind(path: Path) -> FileKind:
    """Which table a file of the folder holds, from its place in the layout."""
    if path.name == "games.csv":
        return FileKind.GAMES
    if path.parent.name == "score_timeline":
        return FileKind.EVENTS
    if path.parent.name == "score_by_minute":
        return FileKind.MINUTES
    raise FileParseError(path.name, f"not a file of the {FOLDER}/ layout")


def read(path: Path, root: Path) -> FileRead:
    """The typed rows of one file; see :func:`kind` for which columns."""
    display = display_name(path, root)
    readers = {FileKind.GAMES: _games, FileKind.EVENTS: _events, FileKind.MINUTES: _minutes}
    return FileRead(display, readers[kind(path)](path, display))


def _game_ids(raw: pd.Series, problems: RowProblems) -> pd.Series:
    ids = raw.astype("string[pyarrow]").str.strip()
    problems.add(~ids.str.fullmatch(r"\d{10}").fillna(False), value_message("game_id: not 10 digits", ids))
    return ids.astype("string")


def _team(raw: pd.Series, column: str, problems: RowProblems) -> pd.Series:
    text = raw.astype("string").str.strip().str.upper()
    code = text.replace(TEAM_CODES)
    problems.add(~code.isin(KNOWN_TEAMS).fillna(False), value_message(f"{column}: unknown team", text))
    return code


def _games(path: Path, display: str) -> pd.DataFrame:
    raw = read_text_csv(path, display=display, required=GAMES_REQUIRED)
    problems = RowProblems(raw.index)
    game_id = _game_ids(raw["game_id"], problems)
    dates = parse_dates(raw["date"], {r"\d{4}-\d{2}-\d{2}": "%Y-%m-%d"})
    problems.add(
        dates.bad | raw["date"].isna(),
        value_message("date: unparseable", raw["date"].astype("string")),
    )
    season = raw["season"].astype("string").str.strip()
    start = pd.to_numeric(season.str.extract(r"^(\d{4})-\d{2}$")[0], errors="coerce")
    problems.add(start.isna(), value_message("season: not YYYY-YY", season))
    season_type = raw["season_type"].astype("string").str.strip().str.lower()
    problems.add(
        ~season_type.isin(["regular", "playoffs"]).fillna(False),
        value_message("season_type: not regular/playoffs", season_type),
    )
    finals = numeric_block(
        raw, {"feed_home_score": ["final_home"], "feed_away_score": ["final_away"]}, problems, integer=True
    )
    quality = parse_bool(raw["quality_ok"])
    problems.add(quality.bad | raw["quality_ok"].isna(), "quality_ok: not True/False")
    out = pd.DataFrame(
        {
            "game_id": game_id,
            "season": start.astype("Int64"),
            "date": dates.values,
            "playoff": (season_type == "playoffs").astype("boolean"),
            "home_team": _team(raw["home_abbr"], "home_abbr", problems),
            "away_team": _team(raw["away_abbr"], "away_abbr", problems),
            "feed_home_score": finals["feed_home_score"].astype("Int64"),
            "feed_away_score": finals["feed_away_score"].astype("Int64"),
            "quality_ok": quality.values,
            "source_file": display,
            "source_line": raw["_line"].astype("Int64"),
        }
    )
    out["problems"] = problems.joined()
    return out


def period_start(period: np.ndarray) -> np.ndarray:
    """Game seconds elapsed when ``period`` (1-based) starts: 720 s quarters, 300 s overtimes."""
    period = np.asarray(period, dtype=float)
    regulation = np.minimum(period - 1, REGULATION_PERIODS) * PERIOD_SECONDS
    return regulation + np.maximum(period - 1 - REGULATION_PERIODS, 0) * OVERTIME_SECONDS


def period_length(period: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(period) <= REGULATION_PERIODS, PERIOD_SECONDS, OVERTIME_SECONDS)


def _numbers(
    path: Path, display: str, required: list[str], integers: list[str], floats: list[str]
) -> tuple[pd.DataFrame, RowProblems]:
    """The ``required`` columns with ``integers`` / ``floats`` parsed (floats, NaN where bad
    or missing) and the rest as text, plus ``_line``; and the rows' problems so far.

    A clean file (the usual case: 1.7 M timeline rows) is read by pandas' typed parser, about
    ten times faster than text; a file with any blank or unparseable number is read again as
    text, which names every bad value with its line.
    """
    dtypes = {**dict.fromkeys(integers, "int64"), **dict.fromkeys(floats, "float64")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path,
                dtype={c: dtypes.get(c, str) for c in required},
                keep_default_na=False,
                na_values=[""],
                index_col=False,
                skip_blank_lines=False,
                encoding="utf-8-sig",
            )
        clean = set(required) <= set(frame.columns) and not frame[floats].isna().any().any()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning):
        clean = False
    if clean:
        frame = frame[required].assign(**{c: frame[c].astype(float) for c in integers})
        frame["_line"] = np.arange(2, len(frame) + 2)
        return frame, RowProblems(frame.index)
    raw = read_text_csv(path, display=display, required=required)
    problems = RowProblems(raw.index)
    parsed = {
        **numeric_block(raw, {c: [c] for c in integers}, problems, integer=True),
        **numeric_block(raw, {c: [c] for c in floats}, problems, integer=False),
    }
    for column in (*integers, *floats):
        problems.add(raw[column].isna(), f"{column}: missing")
    return raw.assign(**parsed), problems


def _events(path: Path, display: str) -> pd.DataFrame:
    raw, problems = _numbers(
        path, display, EVENTS_REQUIRED, ["row_order", "period", "home_score", "away_score"], ["elapsed_s"]
    )
    for column in ("home_score", "away_score"):
        problems.add(raw[column] < 0, value_message(f"{column}: negative", raw[column]))
    period, elapsed = raw["period"], raw["elapsed_s"]
    problems.add(
        (period < 1) | (period > MAX_PERIOD),
        value_message("period: outside 1-10", raw["period"].astype("string")),
    )
    clock = raw["clock"].astype("string[pyarrow]").str.strip()  # Arrow: vectorised string kernels
    mm_ss = clock.str.fullmatch(r"\d{1,2}:\d{2}").fillna(False).astype(bool)
    minutes = clock.str.slice(0, -3).where(mm_ss).astype("int64[pyarrow]").astype("float64")
    left = minutes * 60 + clock.str.slice(-2).where(mm_ss).astype("int64[pyarrow]").astype("float64")
    problems.add(left.isna(), value_message("clock: not MM:SS", clock))
    length = period_length(period.fillna(1).to_numpy())
    problems.add(left > length, value_message("clock: longer than the period", clock))
    expected = period_start(period.to_numpy()) + length - left.to_numpy()
    disagree = (
        np.isfinite(expected) & elapsed.notna().to_numpy() & (np.abs(expected - elapsed.to_numpy()) > 0.5)
    )
    problems.add(
        disagree,
        lambda: (
            "elapsed_s: "
            + raw["elapsed_s"].astype("string").fillna("")
            + " disagrees with period "
            + raw["period"].astype("string").fillna("")
            + " clock "
            + clock.fillna("")
        ),
    )
    consistent = parse_bool(raw["consistent"])
    problems.add(consistent.bad | raw["consistent"].isna(), "consistent: not True/False")
    out = pd.DataFrame(
        {
            "game_id": _game_ids(raw["game_id"], problems),
            "seq": raw["row_order"].astype("Int64"),
            "period": period.astype("Int64"),
            "clock": clock.astype("string"),
            "elapsed_s": elapsed,
            "home_score": raw["home_score"].astype("Int64"),
            "away_score": raw["away_score"].astype("Int64"),
            "consistent": consistent.values,
            "source_file": display,
            "source_line": raw["_line"].astype("Int64"),
        }
    )
    out["problems"] = problems.joined()
    return out


def _minutes(path: Path, display: str) -> pd.DataFrame:
    raw, problems = _numbers(path, display, MINUTES_REQUIRED, ["minute", "home_score", "away_score"], [])
    problems.add(raw["minute"] < 1, value_message("minute: below 1", raw["minute"].astype("string")))
    out = pd.DataFrame(
        {
            "game_id": _game_ids(raw["game_id"], problems),
            **{c: raw[c].astype("Int64") for c in ("minute", "home_score", "away_score")},
            "source_file": display,
            "source_line": raw["_line"].astype("Int64"),
        }
    )
    out["problems"] = problems.joined()
    return out
