"""The canonical match table: one row per match, whatever the sport or source.

Adapters produce these columns (missing ones are added as nulls by :func:`conform`); the
validator checks them; the store keeps them; features and models read only these names.

Conventions
-----------
* ``season`` is the year the season starts (2022 = 2022/23 football, 2022-23 NBA, 2022 NFL/CFB).
* ``date`` is the local calendar date of the match (naive, midnight); ``kickoff_utc`` the kick-off
  instant where the source has one.
* Football prices are decimal odds; ``*_close_*`` columns are closing prices (a benchmark, never a
  pre-kick-off feature). American-sport lines are from the home side: ``spread_home`` < 0 means the
  home team is favoured by that many points; moneylines are American odds.
* ``source_file`` / ``source_line`` point at the physical line of the source CSV (header = line 1).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

#: a match's identity and result: what every per-match table (prices, backtest predictions) keeps
MATCH_ID_COLUMNS = (
    "match_id",
    "competition",
    "season",
    "date",
    "home_team",
    "away_team",
    "home_score",
    "away_score",
)

#: identification, result and provenance columns, with their pandas dtypes
CORE_COLUMNS: dict[str, str] = {
    "match_id": "string",
    "competition": "string",
    "season": "Int64",
    "date": "datetime64[ns]",
    "kickoff_utc": "datetime64[ns, UTC]",
    "week": "Int64",
    "playoff": "boolean",
    "neutral": "boolean",
    "home_team": "string",
    "away_team": "string",
    "home_score": "Int64",
    "away_score": "Int64",
    "home_ht_score": "Int64",
    "away_ht_score": "Int64",
    "source_file": "string",
    "source_line": "Int64",
}

#: match statistics (football-data.co.uk), used by form features where present
STAT_COLUMNS: dict[str, str] = {
    "home_shots": "Int64",
    "away_shots": "Int64",
    "home_shots_on_target": "Int64",
    "away_shots_on_target": "Int64",
}

#: football markets: decimal prices, H/D/A and over/under 2.5 goals
FOOTBALL_MARKETS = ("b365", "b365_close", "pinnacle", "pinnacle_close", "avg", "avg_close", "max")
ODDS_1X2_COLUMNS: dict[str, str] = {
    f"odds_{m}_{o}": "float64" for m in FOOTBALL_MARKETS for o in ("home", "draw", "away")
}
ODDS_OU_COLUMNS: dict[str, str] = {
    f"odds_{m}_{side}25": "float64"
    for m in ("b365", "avg", "avg_close", "pinnacle_close")
    for side in ("over", "under")
}

#: American-sport lines (home perspective) and competition-specific extras
LINE_COLUMNS: dict[str, str] = {
    "spread_home": "float64",
    "total_line": "float64",
    "moneyline_home": "float64",
    "moneyline_away": "float64",
    "h2_spread_unsigned": "float64",
    "h2_total_line": "float64",
    "home_fcs": "boolean",
    "away_fcs": "boolean",
    "n_line_providers": "Int64",
}

COLUMNS: dict[str, str] = {
    **CORE_COLUMNS,
    **STAT_COLUMNS,
    **ODDS_1X2_COLUMNS,
    **ODDS_OU_COLUMNS,
    **LINE_COLUMNS,
}

#: the quarantine table: where every rejected source row ends up, and why
QUARANTINE_COLUMNS: dict[str, str] = {
    "competition": "string",
    "source_file": "string",
    "source_line": "Int64",
    "action": "string",  # "row rejected" or "prices removed, row kept"
    "reason": "string",
    "date": "string",
    "home_team": "string",
    "away_team": "string",
    "home_score": "string",
    "away_score": "string",
}


def match_ids(competition: pd.Series, date: pd.Series, home: pd.Series, away: pd.Series) -> pd.Series:
    """Stable match ids: a short hash of competition, calendar date and the two teams.

    The same match read from any copy of the source (a re-download, a corrected file) gets the
    same id, which is what makes ingest idempotent.
    """
    day = pd.to_datetime(date).dt.strftime("%Y-%m-%d").fillna("NaT")
    keys = competition.astype(str) + "|" + day + "|" + home.astype(str) + "|" + away.astype(str)
    ids = [hashlib.blake2b(k.encode(), digest_size=8).hexdigest() for k in keys]
    return pd.Series(ids, index=competition.index, dtype="string")


def conform(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order and with canonical dtypes.

    Missing columns are added as nulls; columns outside the schema are dropped.
    """
    out = pd.DataFrame(index=frame.index)
    for name, dtype in COLUMNS.items():
        if name in frame:
            col = frame[name]
            if dtype == "Int64" and not pd.api.types.is_integer_dtype(col):
                # float-typed integers ("2.0") are fine; fractional values become null here
                # and are caught by the validator through the raw column it keeps.
                numeric = pd.to_numeric(col, errors="coerce")
                col = numeric.where(numeric == np.round(numeric))
            out[name] = col.astype(dtype)
        else:
            out[name] = (
                pd.Series(pd.NA, index=frame.index, dtype=dtype)
                if dtype != "float64"
                else pd.Series(np.nan, index=frame.index, dtype="float64")
            )
    return out


def empty_matches() -> pd.DataFrame:
    return conform(pd.DataFrame())


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in QUARANTINE_COLUMNS.items()})
