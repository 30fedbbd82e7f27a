"""NFL scores and closing lines from spreadspoke (``nfl/spreadspoke_scores.csv``).

Teams are mapped to franchise ids through ``nfl/nfl_teams.csv`` so relocations (San Diego ->
Los Angeles Chargers, Oakland -> Las Vegas Raiders, ...) are one team. The favourite's spread is
turned into the home side's line (negative = home favoured).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoreline.data.adapters import FileRead, display_name
from scoreline.data.parsing import (
    FileParseError,
    RowProblems,
    numeric_block,
    parse_bool,
    parse_dates,
    read_text_csv,
)

SCORES_FILE = "nfl/spreadspoke_scores.csv"
TEAMS_FILE = "nfl/nfl_teams.csv"
#: names and favourite codes the shipped nfl_teams.csv predates (renames since 2020)
NAME_ALIASES = {
    "Las Vegas Raiders": "OAK",
    "Washington Football Team": "WAS",
    "Washington Commanders": "WAS",
}
FAVOURITE_ALIASES = {"LVR": "OAK", "LV": "OAK"}
REQUIRED = [
    "schedule_date",
    "schedule_season",
    "schedule_week",
    "schedule_playoff",
    "team_home",
    "score_home",
    "score_away",
    "team_away",
    "team_favorite_id",
    "spread_favorite",
    "over_under_line",
    "stadium_neutral",
]


def discover(root: Path) -> list[Path]:
    path = root / SCORES_FILE
    return [path] if path.is_file() else []


def franchise_ids(root: Path) -> dict[str, str]:
    """Full team name (any historical name) -> franchise id, e.g. ``San Diego Chargers`` -> LAC."""
    path = root / TEAMS_FILE
    if not path.is_file():
        raise FileParseError(TEAMS_FILE, "not found next to the scores file (needed to map teams)")
    teams = read_text_csv(path, display=TEAMS_FILE, required=["team_name", "team_id"])
    return {**dict(zip(teams["team_name"].str.strip(), teams["team_id"].str.strip())), **NAME_ALIASES}


def read(path: Path, root: Path) -> FileRead:
    display = display_name(path, root)
    raw = read_text_csv(path, display=display, required=REQUIRED)
    ids = franchise_ids(root)
    problems = RowProblems(raw.index)

    dates = parse_dates(raw["schedule_date"], {r"\d{1,2}/\d{1,2}/\d{4}": "%m/%d/%Y"})
    problems.add(
        dates.bad | raw["schedule_date"].isna(),
        "schedule_date: unparseable (" + raw["schedule_date"].astype("string").fillna("") + ")",
    )

    teams = {}
    for side in ("home", "away"):
        name = raw[f"team_{side}"].astype("string").str.strip()
        teams[side] = name.map(ids).astype("string")
        problems.add(
            teams[side].isna(), f"team_{side}: unknown team (" + name.fillna("") + f") not in {TEAMS_FILE}"
        )

    numbers = numeric_block(
        raw,
        {"home_score": ["score_home"], "away_score": ["score_away"], "season": ["schedule_season"]},
        problems,
        integer=True,
    )
    lines = numeric_block(
        raw,
        {"spread_favorite": ["spread_favorite"], "total_line": ["over_under_line"]},
        problems,
        integer=False,
    )

    favourite = raw["team_favorite_id"].astype("string").str.strip().replace(FAVOURITE_ALIASES)
    spread = lines["spread_favorite"]  # negative: points the favourite gives
    pick = favourite == "PICK"
    home_fav = favourite == teams["home"]
    away_fav = favourite == teams["away"]
    spread_home = spread.where(home_fav, -spread.where(away_fav)).where(~pick.fillna(False), 0.0)
    problems.add(
        favourite.notna() & ~(pick | home_fav | away_fav).fillna(False),
        "team_favorite_id: " + favourite.fillna("") + " is neither team",
    )

    neutral, playoff = parse_bool(raw["stadium_neutral"]), parse_bool(raw["schedule_playoff"])
    problems.add(neutral.bad, "stadium_neutral: not TRUE/FALSE")
    problems.add(playoff.bad, "schedule_playoff: not TRUE/FALSE")

    week = pd.to_numeric(raw["schedule_week"], errors="coerce")  # playoff rounds are names
    out = pd.DataFrame(
        {
            "competition": "NFL",
            "season": numbers["season"],
            "date": dates.values,
            "week": week.where(week == week.round()),
            "playoff": playoff.values,
            "neutral": neutral.values,
            "home_team": teams["home"],
            "away_team": teams["away"],
            "home_score": numbers["home_score"],
            "away_score": numbers["away_score"],
            "spread_home": spread_home,
            "total_line": lines["total_line"],
            "source_file": display,
            "source_line": raw["_line"],
        }
    )
    out["problems"] = problems.joined()
    return FileRead(display, out)
