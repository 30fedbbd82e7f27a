"""College football (FBS) games and bookmaker lines from CollegeFootballData.com dumps.

``cfb/games_{YYYY}.csv`` holds one row per game; ``cfb/lines_{YYYY}.csv`` one row per game and
provider. Providers disagree and have gaps, so each game keeps one consensus line: the median
spread and total across providers. Line rows whose game is not in the games file (FCS-vs-FCS
games) are dropped. FCS opponents stay in the table, flagged by ``home_fcs``/``away_fcs`` from
their conference that season. Kick-offs are UTC; ``date`` is the US Eastern calendar date.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from scoreline.data.adapters import FileRead, display_name
from scoreline.data.parsing import (
    RowProblems,
    numeric_block,
    parse_bool,
    read_text_csv,
)

GAMES_FILE = re.compile(r"^games_(?P<season>\d{4})\.csv$")
FBS_CONFERENCES = frozenset(
    {
        "ACC",
        "American Athletic",
        "Big 12",
        "Big Ten",
        "Conference USA",
        "FBS Independents",
        "Mid-American",
        "Mountain West",
        "Pac-12",
        "SEC",
        "Sun Belt",
    }
)
REQUIRED = [
    "id",
    "season",
    "week",
    "season_type",
    "start_date",
    "neutral_site",
    "home_team",
    "away_team",
    "home_points",
    "away_points",
    "home_conference",
    "away_conference",
]
LINE_REQUIRED = ["game_id", "provider", "spread", "over_under"]


def discover(root: Path) -> list[Path]:
    folder = root / "cfb"
    return (
        sorted(p for p in folder.glob("games_*.csv") if GAMES_FILE.match(p.name)) if folder.is_dir() else []
    )


def consensus_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Median spread and total per game across providers, with the number of providers."""
    spread = pd.to_numeric(lines["spread"], errors="coerce")
    total = pd.to_numeric(lines["over_under"], errors="coerce")
    frame = pd.DataFrame({"game_id": lines["game_id"].str.strip(), "spread": spread, "total": total})
    grouped = frame.groupby("game_id")
    return pd.DataFrame(
        {
            "spread_home": grouped["spread"].median(),
            "total_line": grouped["total"].median(),
            "n_line_providers": grouped["spread"].count(),
        }
    )


def read(path: Path, root: Path) -> FileRead:
    display = display_name(path, root)
    raw = read_text_csv(path, display=display, required=REQUIRED)
    problems = RowProblems(raw.index)
    notes: list[str] = []

    text = raw["start_date"].astype("string").str.strip()
    kickoff_utc = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    problems.add(
        (text.notna() & kickoff_utc.isna()) | text.isna(), "start_date: unparseable (" + text.fillna("") + ")"
    )
    local_date = kickoff_utc.dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize()

    ints = numeric_block(
        raw,
        {
            "season": ["season"],
            "week": ["week"],
            "home_score": ["home_points"],
            "away_score": ["away_points"],
        },
        problems,
        integer=True,
    )
    neutral = parse_bool(raw["neutral_site"])
    problems.add(neutral.bad, "neutral_site: not True/False")

    game_id = raw["id"].astype("string").str.strip()
    out = pd.DataFrame(
        {
            "competition": "CFB",
            "season": ints["season"],
            "date": local_date,
            "kickoff_utc": kickoff_utc,
            "week": ints["week"],
            "playoff": raw["season_type"].str.strip().str.lower() == "postseason",
            "neutral": neutral.values,
            "home_team": raw["home_team"].astype("string").str.strip(),
            "away_team": raw["away_team"].astype("string").str.strip(),
            "home_score": ints["home_score"],
            "away_score": ints["away_score"],
            "home_fcs": ~raw["home_conference"].isin(FBS_CONFERENCES),
            "away_fcs": ~raw["away_conference"].isin(FBS_CONFERENCES),
            "source_file": display,
            "source_line": raw["_line"],
        }
    )

    season = path.stem.removeprefix("games_")  # the name matched GAMES_FILE to get here
    lines_path = path.with_name(f"lines_{season}.csv")
    if lines_path.is_file():
        lines = read_text_csv(lines_path, display=display_name(lines_path, root), required=LINE_REQUIRED)
        orphans = ~lines["game_id"].str.strip().isin(set(game_id.dropna()))
        if orphans.any():
            notes.append(f"{lines_path.name}: {int(orphans.sum())} line rows without a game dropped")
        consensus = consensus_lines(lines.loc[~orphans])
        out = out.join(consensus, on=game_id.rename("game_id"))
    else:
        notes.append(f"{lines_path.name} not found: games read without lines")
    out["problems"] = problems.joined()
    return FileRead(display, out, tuple(notes))
