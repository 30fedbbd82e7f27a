"""Recent form: trailing means of each team's results, rest days and head-to-head record.

Point-in-time: a match's features use only matches on EARLIER calendar dates. Matches on the same
``date`` never see each other's results, even when one team plays twice that day. Teams are keyed
by (competition, team), so a name shared by two competitions is two teams.

Every statistic is a trailing mean over the team's last ``n`` matches before the match date
(fewer when fewer exist; NaN with none), across season boundaries (``rest_*`` shows the gap).
Matches without a result (fixtures) count towards rest days but add nothing to the means.
Neutral-venue matches count by the side they are listed on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scoreline.config import COMPETITIONS

#: per-team statistics averaged over each window, in column order
STATS = ("points", "gf", "ga", "shots", "sot")
#: head-to-head goal difference is averaged over at most this many previous meetings
H2H_WINDOW = 5
#: (win, draw) points where the competition has 2 outcomes (win/loss sports); losses score 0
TWO_WAY_POINTS = (1.0, 0.5)
FOOTBALL_POINTS = (3.0, 1.0)


def rolling_form(matches: pd.DataFrame, windows: Sequence[int] = (5, 10, 20)) -> pd.DataFrame:
    """Trailing form of both sides of every match, aligned to ``matches.index``.

    Columns, for side ``s`` in (home, away) and window ``n`` (matches, not days):

    * ``form_{s}_points_{n}``: mean points per match (football 3/1/0; two-outcome sports
      win 1, draw 0.5, loss 0, by ``competition`` in :data:`scoreline.config.COMPETITIONS`;
      football points when there is no ``competition`` column).
    * ``form_{s}_gf_{n}``, ``form_{s}_ga_{n}``: mean goals (points) scored and conceded.
    * ``form_{s}_shots_{n}``, ``form_{s}_sot_{n}``: mean shots and shots on target for the team,
      over the matches that have them (NaN where the source has no shots).
    * ``form_{s}_venue_points_{n}``, ``form_{s}_venue_gd_{n}``: the same for the home side's
      previous home matches only, and the away side's previous away matches only (goal
      difference from the team's own perspective).
    * ``form_{s}_n``: matches with a result inside the longest window.
    * ``rest_{s}``: days since the team's previous match (NaN for its first).
    * ``h2h_n``: previous meetings of the two teams with a result, either venue.
    * ``h2h_home_gd``: mean goal difference, from this match's home side, over the last
      :data:`H2H_WINDOW` meetings (NaN if none).
    """
    windows = sorted({int(n) for n in windows})
    if not windows or windows[0] < 1:
        raise ValueError(f"windows must be positive match counts, got {windows}")
    n_matches = len(matches)
    long = _team_matches(matches)
    team_order = _Trailing(long["team"], long["date"], long["row"])
    venue_order = _Trailing(long["team"] * 2 + long["is_away"], long["date"], long["row"])
    stats = np.column_stack([long[name] for name in STATS])
    venue_stats = np.column_stack([long["points"], long["gf"] - long["ga"]])

    by_team: dict[str, np.ndarray] = {}  # long-table columns: home sides first, then away
    for n in windows:
        means, _ = team_order.means(stats, n)
        by_team.update({f"{name}_{n}": means[:, j] for j, name in enumerate(STATS)})
        venue_means, _ = venue_order.means(venue_stats, n)
        by_team[f"venue_points_{n}"], by_team[f"venue_gd_{n}"] = venue_means.T
    by_team["n"] = team_order.means(stats[:, :1], windows[-1])[1][:, 0]
    rest = team_order.days_since_previous()

    sides = {"home": slice(0, n_matches), "away": slice(n_matches, None)}
    out = {
        f"form_{side}_{key}": values[rows] for side, rows in sides.items() for key, values in by_team.items()
    }
    out.update({f"rest_{side}": rest[rows] for side, rows in sides.items()})
    out.update(_head_to_head(matches, long))
    return pd.DataFrame(out, index=matches.index)


class _Trailing:
    """Trailing sums over rows grouped by ``group`` and ordered by date.

    A row's window is the group's last ``n`` rows dated strictly before the row's date: rows are
    sorted by (group, date, ``tiebreak``) and every row is cut at the first row of its
    (group, date) block, so same-day rows of one group never enter each other's windows.
    ``tiebreak`` (the match's row position) only decides which of two same-day matches falls
    inside a window that ends between them.
    """

    def __init__(self, group: np.ndarray, date: np.ndarray, tiebreak: np.ndarray):
        self.order = np.lexsort((tiebreak, date, group))
        group, date = group[self.order], date[self.order]
        new_group = np.r_[True, group[1:] != group[:-1]]
        new_day = new_group | np.r_[True, date[1:] != date[:-1]]
        rows = np.arange(len(group))
        self.group_start = np.maximum.accumulate(np.where(new_group, rows, 0))
        self.cut = np.maximum.accumulate(np.where(new_day, rows, 0))
        self.date = date

    def means(self, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-column mean and count of non-NaN ``values`` (rows, k) in each row's window,
        both returned in the caller's row order (NaN mean where the count is 0)."""
        values = values[self.order]
        present = ~np.isnan(values)
        sums = _cumsum_from_zero(np.where(present, values, 0.0))
        counts = _cumsum_from_zero(present.astype(float))
        start = np.maximum(self.group_start, self.cut - n)
        total = sums[self.cut] - sums[start]
        count = counts[self.cut] - counts[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / count, np.nan)
        return self._unsort(mean), self._unsort(count)

    def days_since_previous(self) -> np.ndarray:
        """Days from the group's latest earlier date to the row's date (NaN if none)."""
        has_previous = self.cut > self.group_start
        previous = self.date[np.maximum(self.cut - 1, 0)]
        days = (self.date - previous) / np.timedelta64(1, "D")
        return self._unsort(np.where(has_previous, days, np.nan))

    def _unsort(self, sorted_values: np.ndarray) -> np.ndarray:
        out = np.empty_like(sorted_values)
        out[self.order] = sorted_values
        return out


def _cumsum_from_zero(values: np.ndarray) -> np.ndarray:
    """Cumulative sums with a leading zero row: ``result[i]`` is the sum of rows before ``i``.

    Inputs are small integers (goals, shots, points in halves), so float64 sums stay exact.
    """
    values = values.reshape(len(values), -1)
    return np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])


def _team_matches(matches: pd.DataFrame) -> dict[str, np.ndarray]:
    """The long team-match table: rows 0..n-1 are home sides, n..2n-1 away sides, as arrays."""
    competition = (
        matches["competition"].astype("string").fillna("")
        if "competition" in matches
        else pd.Series("", index=matches.index)
    )
    home_key = competition + "|" + matches["home_team"].astype("string")
    away_key = competition + "|" + matches["away_team"].astype("string")
    codes, _ = pd.factorize(pd.concat([home_key, away_key], ignore_index=True))

    date = pd.to_datetime(matches["date"]).to_numpy(dtype="datetime64[ns]")
    home_score, away_score = _float(matches, "home_score"), _float(matches, "away_score")
    win, draw = _points_per_result(competition)
    home_points = np.select([home_score > away_score, home_score == away_score], [win, draw], 0.0)
    away_points = np.select([away_score > home_score, home_score == away_score], [win, draw], 0.0)
    unplayed = np.isnan(home_score) | np.isnan(away_score)
    home_points[unplayed] = away_points[unplayed] = np.nan
    return {
        "team": codes.astype(np.int64),
        "row": np.r_[np.arange(len(matches)), np.arange(len(matches))],
        "is_away": np.r_[np.zeros(len(matches), np.int64), np.ones(len(matches), np.int64)],
        "date": np.r_[date, date],
        "points": np.r_[home_points, away_points],
        "gf": np.r_[home_score, away_score],
        "ga": np.r_[away_score, home_score],
        "shots": np.r_[_float(matches, "home_shots"), _float(matches, "away_shots")],
        "sot": np.r_[_float(matches, "home_shots_on_target"), _float(matches, "away_shots_on_target")],
    }


def _points_per_result(competition: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per-match (win, draw) points: two-outcome competitions use :data:`TWO_WAY_POINTS`."""
    two_way = {c.code for c in COMPETITIONS.values() if c.outcomes == 2}
    is_two_way = competition.isin(two_way).to_numpy(dtype=bool)
    win = np.where(is_two_way, TWO_WAY_POINTS[0], FOOTBALL_POINTS[0])
    draw = np.where(is_two_way, TWO_WAY_POINTS[1], FOOTBALL_POINTS[1])
    return win, draw


def _float(matches: pd.DataFrame, column: str) -> np.ndarray:
    if column not in matches:
        return np.full(len(matches), np.nan)
    return pd.to_numeric(matches[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _head_to_head(matches: pd.DataFrame, long: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``h2h_n`` and ``h2h_home_gd`` over previous meetings of the pair on earlier dates."""
    n = len(matches)
    home, away = long["team"][:n], long["team"][n:]
    low = np.minimum(home, away)
    pair = low * (long["team"].max(initial=0) + 1) + np.maximum(home, away)
    # goal difference from the pair's lower-coded team, so it is comparable across venues
    gd_home = long["gf"][:n] - long["ga"][:n]
    gd_low = np.where(home == low, gd_home, -gd_home)
    meetings = _Trailing(pair, long["date"][:n], long["row"][:n])
    mean_low, _ = meetings.means(gd_low[:, None], H2H_WINDOW)
    _, n_previous = meetings.means(gd_low[:, None], max(n, 1))
    return {
        "h2h_n": n_previous[:, 0],
        "h2h_home_gd": np.where(home == low, mean_low[:, 0], -mean_low[:, 0]),
    }
