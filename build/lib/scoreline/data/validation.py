"""Row-level validation of canonical matches with a pandera schema, and the quarantine it feeds.

pandera was chosen over pydantic for this boundary because it validates a whole data frame
vectorised and, with ``lazy=True``, reports *every* failing row with its index and the check it
failed: exactly what a quarantine table needs. The schema is also the written contract of the
match store. Rows failing any check are moved to the quarantine with one reason per problem;
nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from scoreline.config import COMPETITIONS
from scoreline.data import schema

ODDS_COLUMNS = list(schema.ODDS_1X2_COLUMNS) + list(schema.ODDS_OU_COLUMNS)
#: one bookmaker's (or the market average's) 1X2 prices; best-of-market maxima are excluded
#: from the overround check because their booksum is legitimately below 1
TRIPLES = {
    m: [f"odds_{m}_{o}" for o in ("home", "draw", "away")] for m in schema.FOOTBALL_MARKETS if m != "max"
}
#: how long a match may stay without a result before it is treated as cancelled/abandoned
RESULT_GRACE = pd.Timedelta(days=3)


def _limits(frame: pd.DataFrame, attr: str) -> pd.Series:
    known = {c.code: getattr(c, attr) for c in COMPETITIONS.values()}
    return frame["competition"].map(known)


def _score_in_range(frame: pd.DataFrame) -> pd.Series:
    top = _limits(frame, "max_score").astype(float)
    ok = pd.Series(True, index=frame.index)
    for col in ("home_score", "away_score"):
        value = frame[col].astype("Float64")
        ok &= (value.isna() | (value <= top)).fillna(True).astype(bool)
    return ok


def _both_or_neither_score(frame: pd.DataFrame) -> pd.Series:
    return frame["home_score"].isna() == frame["away_score"].isna()


def _booksum_ok(frame: pd.DataFrame, booksum: pd.Series) -> pd.Series:
    """Booksum (sum of implied probabilities) within the competition's sane range, or absent."""
    bounds = _limits(frame, "overround_range")
    low = bounds.map(lambda r: r[0] if isinstance(r, tuple) else np.nan)
    high = bounds.map(lambda r: r[1] if isinstance(r, tuple) else np.nan)
    return booksum.isna() | ((booksum >= low) & (booksum <= high))


def _overround_ok(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    return _booksum_ok(frame, (1.0 / frame[columns]).sum(axis=1, min_count=len(columns)))


def _american_to_probability(line: pd.Series) -> pd.Series:
    return pd.Series(np.where(line < 0, -line / (100.0 - line), 100.0 / (line + 100.0)), index=line.index)


def _moneyline_overround_ok(frame: pd.DataFrame) -> pd.Series:
    home, away = frame["moneyline_home"], frame["moneyline_away"]
    return _booksum_ok(frame, _american_to_probability(home) + _american_to_probability(away))


def match_schema(today: pd.Timestamp) -> pa.DataFrameSchema:
    """The pandera schema of a stored match's identity and result; ``today`` bounds dates.

    A row failing it is rejected whole.
    """
    frame_checks = [
        pa.Check(
            lambda f: f["home_team"] != f["away_team"],
            element_wise=False,
            error="same team twice (home_team == away_team)",
        ),
        pa.Check(_both_or_neither_score, error="only one of home_score/away_score present"),
        pa.Check(_score_in_range, error="score above the competition's plausible maximum"),
        pa.Check(
            lambda f: ~(f["home_score"].notna() & (f["date"] > today)).astype(bool),
            error=f"result dated in the future (after {today.date()})",
        ),
        pa.Check(
            lambda f: ~(f["home_score"].isna() & (f["date"] < today - RESULT_GRACE)).astype(bool),
            error="no result for a past match (cancelled or postponed)",
        ),
    ]
    columns = {
        "match_id": pa.Column("string", nullable=False),
        "competition": pa.Column("string", pa.Check.isin(list(COMPETITIONS)), nullable=False),
        "season": pa.Column("Int64", pa.Check.in_range(1900, 2100), nullable=False),
        "date": pa.Column("datetime64[ns]", nullable=False),
        "home_team": pa.Column("string", pa.Check.str_length(min_value=1), nullable=False),
        "away_team": pa.Column("string", pa.Check.str_length(min_value=1), nullable=False),
        "home_score": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        "away_score": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        "home_ht_score": pa.Column("Int64", pa.Check.ge(0), nullable=True),
        "away_ht_score": pa.Column("Int64", pa.Check.ge(0), nullable=True),
    }
    return pa.DataFrameSchema(
        columns, checks=frame_checks, strict=False, coerce=False, name="canonical match table"
    )


def price_schemas() -> dict[tuple[str, ...], pa.DataFrameSchema]:
    """One schema per market (a set of prices quoted together).

    A market failing its schema is removed from the row (set to null) while the match, whose
    result is sound, is kept: one bad closing over/under price should not erase a result from
    every rating history. The removal is still reported in the quarantine table.
    """
    odds = pa.Check.gt(1.0, error="decimal odds must be > 1.0")
    groups: dict[tuple[str, ...], pa.DataFrameSchema] = {}
    for market, cols in TRIPLES.items():
        groups[tuple(cols)] = pa.DataFrameSchema(
            {c: pa.Column("float64", odds, nullable=True) for c in cols},
            checks=[
                pa.Check(
                    lambda f, cols=cols: _overround_ok(f, cols),
                    error=f"1X2 overround of {market} prices outside the sane range",
                )
            ],
        )
    for cols in (
        [f"odds_max_{o}" for o in ("home", "draw", "away")],
        *([f"odds_{m}_over25", f"odds_{m}_under25"] for m in ("b365", "avg", "avg_close", "pinnacle_close")),
    ):
        groups[tuple(cols)] = pa.DataFrameSchema({c: pa.Column("float64", odds, nullable=True) for c in cols})
    groups[("moneyline_home", "moneyline_away")] = pa.DataFrameSchema(
        checks=[
            pa.Check(_moneyline_overround_ok, error="moneyline overround outside the sane range"),
            pa.Check(
                lambda f: (
                    (f["moneyline_home"].isna() | (f["moneyline_home"].abs() >= 100))
                    & (f["moneyline_away"].isna() | (f["moneyline_away"].abs() >= 100))
                ),
                error="moneyline must be <= -100 or >= +100 (American odds)",
            ),
        ]
    )
    groups[("total_line",)] = pa.DataFrameSchema(
        {"total_line": pa.Column("float64", pa.Check.gt(0), nullable=True)}
    )
    return groups


@dataclass(frozen=True)
class Validated:
    kept: pd.DataFrame  # canonical columns, every row passed (bad markets removed)
    quarantine: pd.DataFrame  # schema.QUARANTINE_COLUMNS: rejected rows and removed markets


def _failure_reasons(frame: pd.DataFrame, checked: pa.DataFrameSchema) -> pd.Series:
    """Reason text per failing row index (rows absent from the result passed)."""
    try:
        checked.validate(frame, lazy=True)
        return pd.Series(dtype="string")
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    cases = cases[cases["index"].notna()].copy()
    frame_level = cases["schema_context"].astype(str) == "DataFrameSchema"
    column = cases["column"].fillna("").astype(str)
    check = cases["check"].astype(str)
    # column checks read "odds_b365_home: 0.0 fails greater_than(1.0)"; frame-level checks
    # carry their message as the check's name
    text = np.where(frame_level, check, column + ": " + cases["failure_case"].astype(str) + " fails " + check)
    reasons = pd.Series(text, index=cases["index"].astype(int).to_numpy())
    return reasons.groupby(level=0).agg(lambda s: "; ".join(dict.fromkeys(s))).astype("string")


def _append(reasons: pd.Series, extra: pd.Series) -> pd.Series:
    extra = extra.reindex(reasons.index).astype("string").fillna("")
    sep = np.where((reasons != "") & (extra != ""), "; ", "")
    return (reasons + sep + extra).astype("string")


def validate(rows: pd.DataFrame, today: pd.Timestamp | None = None) -> Validated:
    """Split adapter rows (canonical columns + ``problems``) into kept rows and quarantine.

    Duplicates keep their first occurrence; later copies are quarantined naming the first.
    """
    today = (today or pd.Timestamp.now()).normalize()
    problems = (
        rows["problems"].astype("string").fillna("")
        if "problems" in rows
        else pd.Series("", index=rows.index, dtype="string")
    )
    frame = schema.conform(rows).reset_index(drop=True)
    frame["match_id"] = schema.match_ids(
        frame["competition"], frame["date"], frame["home_team"], frame["away_team"]
    )

    rejected = _append(problems.reset_index(drop=True), _failure_reasons(frame, match_schema(today)))
    ok = rejected == ""
    first = frame.loc[ok].drop_duplicates("match_id")
    dupes = ok & ~frame.index.isin(first.index)
    if dupes.any():
        where = first.set_index("match_id")
        where = where["source_file"] + ":" + where["source_line"].astype("string")
        rejected[dupes] = "duplicate of " + frame.loc[dupes, "match_id"].map(where).astype("string")

    removed = pd.Series("", index=frame.index, dtype="string")
    for columns, market in price_schemas().items():
        failures = _failure_reasons(frame, market)
        if len(failures):
            frame.loc[failures.index, list(columns)] = np.nan
            removed = _append(removed, failures)

    bad = rejected != ""
    noted = bad | (removed != "")
    quarantine = pd.DataFrame(
        {
            "competition": frame.loc[noted, "competition"],
            "source_file": frame.loc[noted, "source_file"],
            "source_line": frame.loc[noted, "source_line"],
            "action": np.where(bad[noted], "row rejected", "prices removed, row kept"),
            "reason": _append(rejected, removed)[noted],
            "date": frame.loc[noted, "date"].dt.strftime("%Y-%m-%d"),
            "home_team": frame.loc[noted, "home_team"],
            "away_team": frame.loc[noted, "away_team"],
            "home_score": frame.loc[noted, "home_score"].astype("string"),
            "away_score": frame.loc[noted, "away_score"].astype("string"),
        }
    ).astype(schema.QUARANTINE_COLUMNS)
    return Validated(frame.loc[~bad].reset_index(drop=True), quarantine.reset_index(drop=True))
