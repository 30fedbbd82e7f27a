"""Team ratings as point-in-time match features: Elo and pi-ratings.

Both functions take the canonical match table (:mod:`scoreline.data.schema`; rows in any order)
and return, for every row, the ratings *before* that match, aligned to the input index.

Point-in-time rule: a match sees only the results of matches on *earlier calendar dates*. Matches
are processed date by date; all of a date's features are read from the state left by earlier
dates, and only then are that date's results applied. Two matches on the same date therefore never
see each other (if a team plays twice on one date, both updates are computed from its rating at
the start of the day and added). Rows without a score (fixtures) get features but change nothing,
so played matches and upcoming fixtures can be passed together.

Each pass is one chronological loop over plain Python floats with integer team codes (faster
than per-element numpy indexing); 74,000 matches take a fraction of a second.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "EloParams",
    "EloResult",
    "PiResult",
    "elo_expected",
    "elo_ratings",
    "pi_expected_gd",
    "pi_ratings",
]

#: pi-ratings' base and scale (Constantinou & Fenton 2013: b = 10, c = 3); the same c scales
#: the error-diminishing function psi(e) = c * log10(1 + e)
_PI_BASE = 10.0
_PI_SCALE = 3.0


# --------------------------------------------------------------------------------------------
# Elo


@dataclass(frozen=True)
class EloParams:
    """Elo hyper-parameters. Ratings and ``home_advantage`` are in Elo points (400 = 10:1 odds).

    Attributes
    ----------
    k : update size per match, Elo points per unit of (result - expected score).
    home_advantage : points added to the home side's rating in the expected score (and the
        margin-of-victory correction); none at neutral venues.
    initial : rating of every team in the first season of the data.
    mov : scale each update by FiveThirtyEight's margin-of-victory multiplier
        ``ln(max(|margin|, 1) + 1) * 2.2 / (0.001 * winner_elo_diff + 2.2)``, where the winner's
        Elo difference includes home advantage. The same formula serves every sport (one goal or
        one point counts as margin 1); a draw counts as margin 1 with no autocorrelation term, i.e.
        multiplier ln 2, the same as a one-goal win between equal sides. (538 weights NFL ties by
        2.2 ln 2; football draws are too common for that quirk.) The multiplier is about 0.7 for a
        one-goal football result, 1.1 for two goals, 1.4 for three, so football needs a larger
        ``k`` with ``mov`` on than off.
    season_regression : fraction of the way every known team's rating is pulled towards the mean
        rating of the teams that played in the season just ended, at the first date of a new
        ``season`` (538: 1/3 NFL, 1/4 NBA). 0 disables it.
    new_team_rating : rating of a team first seen *after* the first season of the data (a
        promoted or expansion team); None uses ``initial``. Teams of the first season always start
        at ``initial``; needs ``season``. A promoted football team is weaker than the league
        average: a good value is about the mean final rating of the relegated teams in earlier
        seasons (about 1420 for the Premier League 2005-2021 with the default parameters).
    """

    k: float = 20.0
    home_advantage: float = 60.0
    initial: float = 1500.0
    mov: bool = True
    season_regression: float = 0.0
    new_team_rating: float | None = None

    def __post_init__(self) -> None:
        if not self.k > 0:
            raise ValueError(f"k must be positive, got {self.k}")
        if not 0.0 <= self.season_regression <= 1.0:
            raise ValueError(f"season_regression must be in [0, 1], got {self.season_regression}")


@dataclass(frozen=True)
class EloResult:
    """Pre-match Elo features and the state after the last match.

    Attributes
    ----------
    features : indexed like the input matches; ``elo_home``, ``elo_away`` (pre-match ratings,
        Elo points, no home advantage added), ``elo_home_expected`` (expected score of the home
        side in [0, 1], home advantage included unless neutral).
    ratings : team -> rating after every match (and season regression) has been applied.
    last_season : season of the latest date processed (None if unknown). ``ratings`` do not yet
        include the regression a later season would bring: to rate next season's fixtures, pass
        them (scores null) together with the played matches instead.
    """

    features: pd.DataFrame
    ratings: dict[str, float] = field(default_factory=dict)
    last_season: int | None = None


def elo_expected(rating_home, rating_away, home_advantage: float = 60.0, neutral=False) -> np.ndarray:
    """Expected score of the home side, ``1 / (1 + 10 ** (-(home + adv - away) / 400))``.

    Vectorised over array-likes of ratings (Elo points); ``neutral`` (bool or boolean array)
    removes the home advantage. Use with :attr:`EloResult.ratings` to rate fixtures.
    """
    advantage = np.where(np.asarray(neutral, dtype=bool), 0.0, home_advantage)
    diff = np.asarray(rating_home, dtype=float) + advantage - np.asarray(rating_away, dtype=float)
    return 1.0 / (1.0 + 10.0 ** (-diff / 400.0))


def elo_ratings(matches: pd.DataFrame, params: EloParams = EloParams()) -> EloResult:
    """One chronological Elo pass over ``matches``; pre-match features are point-in-time.

    Reads ``date``, ``home_team``, ``away_team``, ``home_score``, ``away_score`` and, when
    present, ``season`` (season regression, new teams) and ``neutral``.
    """
    s = _Schedule.of(matches)
    n_teams = len(s.teams)
    rating = [0.0] * n_teams
    seen = [False] * n_teams
    active: set[int] = set()  # teams with a result in the current season
    out_home, out_away, out_expected = [0.0] * s.n, [0.0] * s.n, [0.0] * s.n
    k, adv, mov = params.k, params.home_advantage, params.mov
    first_season = next((d for d in (s.day_season(*day) for day in s.days) if d is not None), None)
    current_season = first_season
    pending_team: list[int] = []
    pending_delta: list[float] = []

    for start, stop in s.days:
        day_season = s.day_season(start, stop)
        if day_season is not None and current_season is not None and day_season > current_season:
            if params.season_regression and active:
                mean = sum(rating[t] for t in active) / len(active)
                pull = params.season_regression
                for t in range(n_teams):
                    if seen[t]:
                        rating[t] += pull * (mean - rating[t])
            active = set()
        if day_season is not None and (current_season is None or day_season > current_season):
            current_season = day_season
        newcomer = (
            params.initial
            if params.new_team_rating is None or current_season == first_season
            else params.new_team_rating
        )

        for i in range(start, stop):
            h, a = s.home[i], s.away[i]
            if not seen[h]:
                seen[h], rating[h] = True, newcomer
            if not seen[a]:
                seen[a], rating[a] = True, newcomer
            diff = rating[h] - rating[a] + (0.0 if s.neutral[i] else adv)
            expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
            out_home[i], out_away[i], out_expected[i] = rating[h], rating[a], expected
            if not s.played[i]:
                continue
            active.add(h)
            active.add(a)
            margin = s.home_score[i] - s.away_score[i]
            actual = 1.0 if margin > 0 else 0.0 if margin < 0 else 0.5
            multiplier = 1.0
            if mov:
                winner_diff = diff if margin > 0 else -diff if margin < 0 else 0.0
                multiplier = math.log(max(abs(margin), 1) + 1.0) * 2.2 / (0.001 * winner_diff + 2.2)
            delta = k * multiplier * (actual - expected)
            pending_team += (h, a)
            pending_delta += (delta, -delta)

        for t, d in zip(pending_team, pending_delta):
            rating[t] += d
        pending_team.clear()
        pending_delta.clear()

    features = s.frame({"elo_home": out_home, "elo_away": out_away, "elo_home_expected": out_expected})
    ratings = {s.teams[t]: rating[t] for t in range(n_teams)}
    return EloResult(features, ratings, current_season)


# --------------------------------------------------------------------------------------------
# Pi-ratings


@dataclass(frozen=True)
class PiResult:
    """Pre-match pi-rating features and the state after the last match.

    Attributes
    ----------
    features : indexed like the input matches; ``pi_home`` (home team's *home* rating before the
        match), ``pi_away`` (away team's *away* rating before the match), ``pi_expected_gd``
        (expected goal difference, home minus away, in goals).
    ratings : team -> (home rating, away rating) after the last match.
    """

    features: pd.DataFrame
    ratings: dict[str, tuple[float, float]] = field(default_factory=dict)


def pi_expected_gd(home_rating, away_rating) -> np.ndarray:
    """Expected goal difference (goals, home minus away) from the home side's home rating and
    the away side's away rating: ``g(home) - g(away)`` with ``g(r) = sign(r) (10 ** (|r|/3) - 1)``.
    Vectorised; use with :attr:`PiResult.ratings` to rate fixtures."""

    def goals(r):
        r = np.asarray(r, dtype=float)
        return np.sign(r) * (_PI_BASE ** (np.abs(r) / _PI_SCALE) - 1.0)

    return goals(home_rating) - goals(away_rating)


def pi_ratings(matches: pd.DataFrame, lambda_: float = 0.035, gamma: float = 0.7) -> PiResult:
    """One chronological pi-rating pass (Constantinou & Fenton 2013); features are point-in-time.

    Every team has a home and an away rating, starting at 0. After a match with goal
    difference ``g`` (home minus away) and expected ``g_hat``, the error ``e = |g - g_hat|`` is
    diminished to ``psi = 3 log10(1 + e)``; the home team's home rating moves by ``lambda_ * psi``
    towards the result and its away rating by ``gamma`` times that move; the away team's away
    rating and then home rating likewise in the opposite direction. As in the paper, ``neutral``
    is ignored: the listed home team uses its home rating.

    penaltyblog's ``PiRatingSystem`` is a different, linear variant (expected difference is the
    raw rating difference, error diminished as ``e / (1 + k|e|)``, cross-update a separate rate).
    """
    s = _Schedule.of(matches)
    n_teams = len(s.teams)
    home_r = [0.0] * n_teams
    away_r = [0.0] * n_teams
    out_home, out_away, out_gd = [0.0] * s.n, [0.0] * s.n, [0.0] * s.n
    base, scale = _PI_BASE, _PI_SCALE
    pending: list[tuple[int, int, float]] = []  # (home team, away team, signed home move)

    for start, stop in s.days:
        for i in range(start, stop):
            h, a = s.home[i], s.away[i]
            rh, ra = home_r[h], away_r[a]
            gh = base ** (rh / scale) - 1.0 if rh >= 0 else 1.0 - base ** (-rh / scale)
            ga = base ** (ra / scale) - 1.0 if ra >= 0 else 1.0 - base ** (-ra / scale)
            expected = gh - ga
            out_home[i], out_away[i], out_gd[i] = rh, ra, expected
            if not s.played[i]:
                continue
            observed = s.home_score[i] - s.away_score[i]
            psi = scale * math.log10(1.0 + abs(observed - expected))
            # home side moves up when it beat expectation; the away side moves the other way
            pending.append((h, a, lambda_ * psi if observed > expected else -lambda_ * psi))

        for h, a, move in pending:
            home_r[h] += move
            away_r[h] += gamma * move
            away_r[a] -= move
            home_r[a] -= gamma * move
        pending.clear()

    features = s.frame({"pi_home": out_home, "pi_away": out_away, "pi_expected_gd": out_gd})
    ratings = {s.teams[t]: (home_r[t], away_r[t]) for t in range(n_teams)}
    return PiResult(features, ratings)


# --------------------------------------------------------------------------------------------
# The chronological schedule both passes walk


@dataclass(frozen=True)
class _Schedule:
    """Matches sorted by date (stable), as plain lists, with integer team codes and day blocks.

    ``days`` are ``(start, stop)`` position ranges of equal dates in sorted order; ``order`` maps
    sorted position -> input position.
    """

    index: pd.Index
    order: np.ndarray
    teams: list[str]
    home: list[int]
    away: list[int]
    home_score: list[int]
    away_score: list[int]
    played: list[bool]
    neutral: list[bool]
    season: list  # int, or None / pd.NA where unknown
    days: list[tuple[int, int]]

    @property
    def n(self) -> int:
        return len(self.order)

    @classmethod
    def of(cls, matches: pd.DataFrame) -> _Schedule:
        missing = {"date", "home_team", "away_team", "home_score", "away_score"} - set(matches)
        if missing:
            raise ValueError(f"matches lack column(s) {sorted(missing)}")
        dates = matches["date"]
        if not pd.api.types.is_datetime64_dtype(dates):
            dates = pd.to_datetime(dates)
        dates = dates.dt.normalize()
        if dates.isna().any():
            raise ValueError(f"{int(dates.isna().sum())} match(es) have no date")
        order = np.argsort(dates.to_numpy(), kind="stable")
        codes, teams = pd.factorize(
            pd.concat([matches["home_team"], matches["away_team"]], ignore_index=True).astype(str)
        )
        n = len(matches)
        home_codes, away_codes = codes[:n][order], codes[n:][order]
        hs = pd.to_numeric(matches["home_score"]).to_numpy(dtype=float, na_value=np.nan)[order]
        as_ = pd.to_numeric(matches["away_score"]).to_numpy(dtype=float, na_value=np.nan)[order]
        played = ~(np.isnan(hs) | np.isnan(as_))
        if "neutral" in matches:
            neutral = matches["neutral"].astype("boolean").fillna(False).to_numpy(dtype=bool)[order]
        else:
            neutral = np.zeros(n, dtype=bool)
        if "season" in matches:
            numeric = pd.to_numeric(matches["season"]).to_numpy(dtype=float, na_value=np.nan)
            season = pd.array(numeric[order]).astype("Int64").tolist()  # <NA> where unknown
        else:
            season = [None] * n
        sorted_dates = dates.to_numpy()[order]
        breaks = np.flatnonzero(sorted_dates[1:] != sorted_dates[:-1]) + 1
        bounds = np.concatenate([[0], breaks, [n]]).tolist() if n else [0]
        return cls(
            index=matches.index,
            order=order,
            teams=[str(t) for t in teams],
            home=home_codes.tolist(),
            away=away_codes.tolist(),
            home_score=np.where(played, hs, 0).astype(np.int64).tolist(),
            away_score=np.where(played, as_, 0).astype(np.int64).tolist(),
            played=played.tolist(),
            neutral=neutral.tolist(),
            season=season,
            days=list(itertools.pairwise(bounds)),
        )

    def day_season(self, start: int, stop: int) -> int | None:
        """The latest season among the matches of one day (None if none is known)."""
        known = [x for x in self.season[start:stop] if x is not pd.NA and x is not None]
        return int(max(known)) if known else None

    def frame(self, columns: dict[str, list[float]]) -> pd.DataFrame:
        """Columns computed in sorted order, put back in input order under the input index."""
        out = {}
        for name, values in columns.items():
            aligned = np.empty(self.n, dtype=float)
            aligned[self.order] = values
            out[name] = aligned
        return pd.DataFrame(out, index=self.index)
