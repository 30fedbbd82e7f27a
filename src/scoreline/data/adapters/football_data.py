"""football-data.co.uk season files (``soccer/{DIV}_{YYZZ}.csv``) and ``fixtures.csv``.

The column set changes between seasons (57-120 columns), so every canonical column lists its
source names in priority order and columns are selected by name, never by position.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from scoreline.config import COMPETITIONS, Sport
from scoreline.data.adapters import FileRead, display_name
from scoreline.data.parsing import RowProblems, numeric_block, parse_dates, read_text_csv

SEASON_FILE = re.compile(r"^(?P<division>[A-Z]+\d)_(?P<season>\d{4})\.csv$")
FIXTURES_FILE = "fixtures.csv"
DATE_FORMATS = {
    r"\d{1,2}/\d{1,2}/\d{4}": "%d/%m/%Y",
    r"\d{1,2}/\d{1,2}/\d{2}": "%d/%m/%y",
}

SCORES = {
    "home_score": ["FTHG", "HG"],
    "away_score": ["FTAG", "AG"],
    "home_ht_score": ["HTHG"],
    "away_ht_score": ["HTAG"],
    "home_shots": ["HS"],
    "away_shots": ["AS"],
    "home_shots_on_target": ["HST"],
    "away_shots_on_target": ["AST"],
}

# canonical market -> source column prefix(es), newest layout first
_1X2_SOURCES = {
    "b365": ["B365"],
    "b365_close": ["B365C"],
    "pinnacle": ["PS"],
    "pinnacle_close": ["PSC"],
    "avg": ["Avg", "BbAv"],
    "avg_close": ["AvgC"],
    "max": ["Max", "BbMx"],
}
_OU_SOURCES = {"b365": ["B365"], "avg": ["Avg", "BbAv"], "avg_close": ["AvgC"], "pinnacle_close": ["PC"]}
PRICES = {
    **{
        f"odds_{m}_{name}": [p + letter for p in prefixes]
        for m, prefixes in _1X2_SOURCES.items()
        for name, letter in (("home", "H"), ("draw", "D"), ("away", "A"))
    },
    **{
        f"odds_{m}_{name}25": [p + sign + "2.5" for p in prefixes]
        for m, prefixes in _OU_SOURCES.items()
        for name, sign in (("over", ">"), ("under", "<"))
    },
}

FOOTBALL_CODES = frozenset(c.code for c in COMPETITIONS.values() if c.sport is Sport.FOOTBALL)


def season_code(season: int) -> str:
    """football-data.co.uk's season code: 2022 -> ``2223``."""
    return f"{season % 100:02d}{(season + 1) % 100:02d}"


def season_from_code(code: str) -> int:
    start = int(code[:2])
    return (1900 if start >= 90 else 2000) + start


def season_of_date(date: pd.Series) -> pd.Series:
    """A European season starts in July: a match in 2023-03 belongs to season 2022."""
    year = date.dt.year
    return (year - (date.dt.month < 7)).astype("Int64")


def discover(root: Path) -> list[Path]:
    folder = root / "soccer"
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.glob("*.csv") if SEASON_FILE.match(p.name))
    fixtures = folder / FIXTURES_FILE
    return files + ([fixtures] if fixtures.is_file() else [])


def read(path: Path, root: Path) -> FileRead:
    """Canonical rows from a season file or a (multi-division) fixtures file."""
    display = display_name(path, root)
    season_match = SEASON_FILE.match(path.name)
    required = ["Date", "HomeTeam", "AwayTeam"] + (["FTHG", "FTAG"] if season_match else ["Div"])
    raw = read_text_csv(path, display=display, required=required)
    problems = RowProblems(raw.index)

    if season_match is None:  # a fixtures file, where Div is required
        division = raw["Div"].astype("string").str.strip()
    else:
        file_division = season_match["division"]
        if "Div" not in raw:
            division = pd.Series(file_division, index=raw.index, dtype="string")
        else:
            division = raw["Div"].astype("string").str.strip()
            problems.add(
                division.notna() & (division != file_division),
                "Div: " + division.fillna("") + f" does not match the file's {file_division}",
            )
            division = division.fillna(file_division)
    problems.add(division.isna(), "Div: missing")
    problems.add(
        division.notna() & ~division.isin(FOOTBALL_CODES), "unknown competition " + division.fillna("")
    )

    dates = parse_dates(raw["Date"], DATE_FORMATS)
    problems.add(dates.bad, "Date: unparseable (" + raw["Date"].astype("string") + ")")
    problems.add(raw["Date"].isna(), "Date: missing")

    out = pd.DataFrame(
        {
            "competition": division,
            "date": dates.values,
            "home_team": raw["HomeTeam"].astype("string").str.strip(),
            "away_team": raw["AwayTeam"].astype("string").str.strip(),
            "neutral": False,
            "playoff": False,
            "source_file": display,
            "source_line": raw["_line"],
        }
    )
    if season_match:
        season = season_from_code(season_match["season"])
        out["season"] = season
        # A date outside July..August of the next year is a mis-typed date, not a real match
        # (2019/20 ran into August 2020 after the COVID-19 break).
        outside = dates.values.notna() & (
            (dates.values < pd.Timestamp(season, 7, 1)) | (dates.values > pd.Timestamp(season + 1, 8, 31))
        )
        problems.add(
            outside, f"Date: outside season {season}/{season + 1} (" + raw["Date"].astype("string") + ")"
        )
    else:
        out["season"] = season_of_date(dates.values)

    for name, values in numeric_block(raw, SCORES, problems, integer=True).items():
        out[name] = values
    for name, values in numeric_block(raw, PRICES, problems, integer=False).items():
        out[name] = values

    result = raw["FTR"].astype("string").str.strip() if "FTR" in raw else None
    if result is not None and "home_score" in out:
        implied = pd.Series(pd.NA, index=raw.index, dtype="string")
        implied[out["home_score"] > out["away_score"]] = "H"
        implied[out["home_score"] == out["away_score"]] = "D"
        implied[out["home_score"] < out["away_score"]] = "A"
        problems.add(
            result.notna() & implied.notna() & (result != implied),
            "FTR: " + result.fillna("") + " contradicts the score",
        )
    out["problems"] = problems.joined()
    return FileRead(display, out)
