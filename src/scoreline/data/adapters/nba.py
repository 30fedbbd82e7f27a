"""NBA games with closing spread, total and moneylines (``nba/*.csv``).

Team codes are lower-case current-franchise codes (``bkn`` also for the New Jersey Nets); they are
upper-cased. ``season`` in the file is the year the season ends and becomes the start year. The
spread is given by the favourite (``whos_favored``) and becomes the home side's line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoreline.data.adapters import FileRead, display_name
from scoreline.data.parsing import RowProblems, numeric_block, parse_bool, parse_dates, read_text_csv

REQUIRED = [
    "season",
    "date",
    "playoffs",
    "away",
    "home",
    "score_away",
    "score_home",
    "whos_favored",
    "spread",
    "total",
    "moneyline_away",
    "moneyline_home",
]
QUARTERS = [f"q{q}_{side}" for q in (1, 2) for side in ("home", "away")]


def discover(root: Path) -> list[Path]:
    folder = root / "nba"
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def read(path: Path, root: Path) -> FileRead:
    display = display_name(path, root)
    raw = read_text_csv(path, display=display, required=REQUIRED)
    problems = RowProblems(raw.index)

    dates = parse_dates(
        raw["date"], {r"\d{1,2}/\d{1,2}/\d{2}": "%m/%d/%y", r"\d{1,2}/\d{1,2}/\d{4}": "%m/%d/%Y"}
    )
    problems.add(
        dates.bad | raw["date"].isna(), "date: unparseable (" + raw["date"].astype("string").fillna("") + ")"
    )
    ints = numeric_block(
        raw,
        {
            "season_end": ["season"],
            "home_score": ["score_home"],
            "away_score": ["score_away"],
            **{q: [q] for q in QUARTERS if q in raw},
        },
        problems,
        integer=True,
    )
    lines = numeric_block(
        raw,
        {
            "spread": ["spread"],
            "total_line": ["total"],
            "moneyline_home": ["moneyline_home"],
            "moneyline_away": ["moneyline_away"],
            "h2_spread_unsigned": ["h2_spread"],
            "h2_total_line": ["h2_total"],
        },
        problems,
        integer=False,
    )
    favoured = raw["whos_favored"].astype("string").str.strip().str.lower()
    problems.add(
        lines["spread"].notna() & ~favoured.isin(["home", "away"]).fillna(False),
        "whos_favored: not home/away (" + favoured.fillna("") + ")",
    )
    spread_home = (-lines["spread"]).where(favoured == "home", lines["spread"].where(favoured == "away"))
    playoff = parse_bool(raw["playoffs"])
    problems.add(playoff.bad, "playoffs: not TRUE/FALSE")

    out = pd.DataFrame(
        {
            "competition": "NBA",
            "season": ints["season_end"] - 1,
            "date": dates.values,
            "playoff": playoff.values,
            "neutral": False,  # the file does not mark neutral-site games (e.g. the 2020 bubble)
            "home_team": raw["home"].astype("string").str.strip().str.upper(),
            "away_team": raw["away"].astype("string").str.strip().str.upper(),
            "home_score": ints["home_score"],
            "away_score": ints["away_score"],
            "spread_home": spread_home,
            **{
                k: lines[k]
                for k in (
                    "total_line",
                    "moneyline_home",
                    "moneyline_away",
                    "h2_spread_unsigned",
                    "h2_total_line",
                )
            },
            "source_file": display,
            "source_line": raw["_line"],
        }
    )
    if all(q in ints for q in QUARTERS):
        out["home_ht_score"] = ints["q1_home"] + ints["q2_home"]
        out["away_ht_score"] = ints["q1_away"] + ints["q2_away"]
    out["problems"] = problems.joined()
    return FileRead(display, out)
