"""The pyfunc model: a fitted :class:`~scoreline.models.base.MatchModel` with its feature state,
as an MLflow pyfunc that forecasts raw fixture rows.

A logged model carries the played matches it was trained on, so it forecasts fixtures (teams,
date) without the match store: each fixture is appended to that history and its point-in-time
features are computed on the combined table, exactly as the walk-forward backtest computes them
(cached per loaded model). It also carries a detail model for the forecasts
(:mod:`scoreline.tracking.detail`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from scoreline.config import competition as competition_of
from scoreline.data import schema
from scoreline.features.builder import competition_features
from scoreline.models.base import GoalModel, MatchModel, neutral_venue
from scoreline.models.baselines import MarketModel, SpreadMarket
from scoreline.models.conformal import RollingConformal
from scoreline.models.totals import TotalModel

__all__ = [
    "FIXTURE_COLUMNS",
    "HISTORY_COLUMNS",
    "PRE_CLOSING_PRICES",
    "FixtureFrame",
    "MatchModelPyfunc",
    "RowCache",
    "history_frame",
    "model_members",
    "reads_prices",
]

#: pre-closing 1X2 prices: the only prices the point-in-time features (and the pre-closing
#: market models) read; closing prices are a benchmark and are never packaged with a model
PRE_CLOSING_PRICES = tuple(c for c in schema.ODDS_1X2_COLUMNS if "close" not in c)


#: the canonical columns a model's feature state keeps: what ratings, form and market
#: features read (identity, result, venue, shots, pre-closing prices, FCS flags)
HISTORY_COLUMNS = (
    "match_id",
    "competition",
    "season",
    "date",
    "neutral",
    "home_team",
    "away_team",
    "home_score",
    "away_score",
    *schema.STAT_COLUMNS,
    *PRE_CLOSING_PRICES,
    "home_fcs",
    "away_fcs",
)


#: the columns a fixture row may carry into :meth:`MatchModelPyfunc.predict`; only
#: ``home_team``, ``away_team`` and ``date`` are required
FIXTURE_COLUMNS = (
    "home_team",
    "away_team",
    "date",
    "neutral",
    "season",
    "match_id",
    *PRE_CLOSING_PRICES,
    "home_fcs",
    "away_fcs",
)


REQUIRED_FIXTURE_COLUMNS = ("home_team", "away_team", "date")


#: a fixture this many days after the last played match opens a new season (when the caller
#: gives no ``season``): longer than any in-season break, shorter than any off-season
NEW_SEASON_GAP_DAYS = 60


#: distinct fixtures whose features a loaded model keeps in memory (about 1 kB each): some 25
#: dates of a league's pairings (the service keeps its forecasts in a cache of its own)
FEATURE_CACHE_ROWS = 10_000


def history_frame(matches: pd.DataFrame) -> pd.DataFrame:
    """Played matches reduced to :data:`HISTORY_COLUMNS`, canonical dtypes, date order."""
    played = matches.loc[matches["home_score"].notna() & matches["away_score"].notna()]
    frame = pd.DataFrame({c: _column(played, c) for c in HISTORY_COLUMNS})
    return frame.sort_values(["date", "match_id"]).reset_index(drop=True)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """``frame[name]`` in its canonical dtype; all-null when ``frame`` lacks it."""
    dtype = schema.COLUMNS[name]
    if name not in frame:
        return pd.Series(index=frame.index, dtype=dtype)
    values = frame[name]
    if dtype in ("Int64", "boolean", "string"):  # object columns from JSON: nulls as None
        values = values.astype("object").where(values.notna(), None)
    return values.astype(dtype)


def reads_prices(model: MatchModel) -> bool:
    """Whether ``model`` or a member of it reads pre-closing prices: a market model, or one on
    the ``mkt_*`` features (``features="market"``). Other models never see a fixture's prices."""
    return any(
        isinstance(m, (MarketModel, SpreadMarket)) or getattr(m, "features", None) == "market"
        for m in model_members(model)
    )


def model_members(model: MatchModel) -> list[Any]:
    """``model`` and every estimator nested in its parameters (stacks, blends)."""
    found, queue = [], [model]
    while queue:
        item = queue.pop()
        if isinstance(item, (list, tuple)):
            queue.extend(item)
        elif hasattr(item, "get_params"):
            found.append(item)
            queue.extend(
                v
                for v in item.get_params(deep=False).values()
                if hasattr(v, "get_params") or isinstance(v, (list, tuple))
            )
    return found


@dataclass(frozen=True)
class PointsDetail:
    """What a two-way sport's logged model says beyond win probabilities: expected points per
    side (``model``) and conformal radii for the home margin and the total, calibrated on the
    out-of-sample residuals of the most recent ``scoreline.tracking.detail.CONFORMAL_GAMES`` games."""

    model: TotalModel
    margin: RollingConformal
    total: RollingConformal


@dataclass(frozen=True)
class FixtureFrame:
    """Fixtures as the model reads them.

    ``rows``: one row per distinct fixture of the request, canonical columns
    (:data:`HISTORY_COLUMNS`) then the point-in-time feature columns (``feature_columns``);
    ``inverse``: request row ``i`` is ``rows.iloc[inverse[i]]``. Models are row-wise, so
    predicting the distinct rows and indexing with ``inverse`` is predicting every request row.
    """

    rows: pd.DataFrame
    feature_columns: list[str]
    inverse: np.ndarray

    def __len__(self) -> int:
        return len(self.inverse)

    def features(self) -> pd.DataFrame:
        """The feature table per request row (request order, index ``0..n-1``), float64."""
        values = self.rows[self.feature_columns].to_numpy(dtype=np.float64)[self.inverse]
        return pd.DataFrame(values, columns=self.feature_columns)


class _Block:
    """The features of one computation; row ``i`` of ``values`` holds ``columns``."""

    __slots__ = ("columns", "values")

    def __init__(self, columns: list[str], values: np.ndarray) -> None:
        self.columns, self.values = columns, values


class RowCache:
    """A bounded, thread-safe LRU map from a key (a fixture's) to a row of a shared block (one
    block per computation: features here, a forecaster's outputs in the service), so a block is
    freed once its last key is evicted."""

    def __init__(self, max_rows: int = FEATURE_CACHE_ROWS) -> None:
        self.max_rows = max_rows
        self._entries: OrderedDict[tuple, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, keys: list[tuple]) -> list[tuple[Any, int] | None]:
        with self._lock:
            found = [self._entries.get(key) for key in keys]
            for key, entry in zip(keys, found):
                if entry is not None:
                    self._entries.move_to_end(key)
        return found

    def put(self, keys: list[tuple], block: Any, rows: Iterable[int]) -> None:
        """Store ``keys[i]`` -> ``(block, rows[i])``, evicting the least recently used."""
        with self._lock:
            for key, row in zip(keys, rows):
                self._entries[key] = (block, int(row))
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_rows:
                self._entries.popitem(last=False)


def _gather(found: list[tuple[_Block, int]], index: pd.Index) -> pd.DataFrame:
    """The feature rows ``found`` as one table on ``index``; columns a block lacks are NaN."""
    groups: dict[int, tuple[_Block, list[int], list[int]]] = {}
    for row, (block, pos) in enumerate(found):
        group = groups.get(id(block))
        if group is None:
            group = groups[id(block)] = (block, [], [])
        group[1].append(row)
        group[2].append(pos)
    columns = list(dict.fromkeys(c for block, _, _ in groups.values() for c in block.columns))
    if len(groups) == 1:
        block, _, positions = next(iter(groups.values()))
        values = block.values[positions]
    else:
        where = {c: j for j, c in enumerate(columns)}
        values = np.full((len(found), len(columns)), np.nan)
        for block, rows, positions in groups.values():
            values[np.ix_(rows, [where[c] for c in block.columns])] = block.values[positions]
    return pd.DataFrame(values, index=index, columns=columns)


class MatchModelPyfunc(PythonModel):
    """A fitted :class:`MatchModel` with its competition and feature state, as an MLflow pyfunc.

    ``predict`` takes raw fixture rows (``home_team``, ``away_team``, ``date``; optionally
    ``neutral``, ``season``, ``match_id`` and pre-closing 1X2 prices) and returns one row per
    fixture, in input order, with columns ``prob_<outcome>`` in ``model.outcomes`` order
    (``prob_home, prob_draw, prob_away`` or ``prob_home, prob_away``), each row summing to 1.
    A fixture without ``season`` gets the season of the last played match, or the next one
    when it is more than :data:`NEW_SEASON_GAP_DAYS` after it.

    Each fixture is forecast from the model's history alone, independent of the other fixtures
    in the call: its features are those of the history plus that fixture (a team's two fixtures
    on different dates do not see each other's rest days). Fixtures sharing a date and season
    never affect each other's features, so features are computed once per (date, season) for
    every fixture of the call on it plus every ordered pair of the latest season's teams, and
    kept in a bounded in-memory LRU cache (:class:`RowCache`) keyed by date, teams,
    neutral, season and, only for a model that reads them (:func:`reads_prices`), the
    pre-closing prices; other models' features are computed without prices. Repeated or
    scheduled fixtures then cost a lookup. The cache is never pickled.

    ``detail``: what the service reports beyond probabilities, fitted at log time on the same
    history (None for models logged before it existed): a :class:`GoalModel` for football
    (score grids, expected goals), a :class:`PointsDetail` for two-way sports.
    """

    #: derived, per-process state: rebuilt after unpickling, never stored with the model
    _TRANSIENT = ("_cache", "reads_prices", "latest_teams")

    def __init__(
        self,
        competition: str,
        model: MatchModel,
        history: pd.DataFrame,
        detail: GoalModel | PointsDetail | None = None,
    ) -> None:
        self.competition = competition
        self.model = model
        self.history = history_frame(history)
        self.detail = detail
        self._cache = RowCache()

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("detail", None)  # pickled before details existed
        self._cache = RowCache()

    @property
    def columns(self) -> list[str]:
        return [f"prob_{o}" for o in self.model.outcomes]

    @cached_property
    def reads_prices(self) -> bool:
        return reads_prices(self.model)

    @cached_property
    def latest_teams(self) -> np.ndarray:
        """Sorted teams of the latest stored season (FCS opponents left out)."""
        if self.history.empty:
            return np.array([], dtype=object)
        last = self.history.loc[self.history["season"] == self.history["season"].max()]
        teams = [
            last.loc[~last[f"{side}_fcs"].fillna(False).to_numpy(bool), f"{side}_team"]
            for side in ("home", "away")
        ]
        return np.array(sorted(set(pd.concat(teams).astype(str))), dtype=object)

    def fixtures(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """``model_input`` as canonical unplayed rows of this competition."""
        missing = [c for c in REQUIRED_FIXTURE_COLUMNS if c not in model_input]
        if missing:
            raise ValueError(f"fixture rows need columns {missing}")
        given = model_input.reset_index(drop=True)
        date = _fixture_dates(given["date"])
        for side in ("home_team", "away_team"):
            blank = given[side].isna() | (given[side].astype(str).str.strip() == "")
            if blank.any():
                raise ValueError(f"fixture row(s) {np.flatnonzero(blank)[:10].tolist()} have no {side}")
        given = given.assign(date=date, competition=self.competition)
        out = self.history.iloc[:0].reindex(given.index)  # canonical dtypes, all null
        for c in HISTORY_COLUMNS:
            if c in given and c not in ("home_score", "away_score"):
                out[c] = _column(given, c)
        out["season"] = out["season"].fillna(self._season_of(date))
        if out["match_id"].isna().any():
            ids = schema.match_ids(out["competition"], date, out["home_team"], out["away_team"])
            out["match_id"] = out["match_id"].fillna(ids)
        return out

    def _season_of(self, date: pd.Series) -> pd.Series:
        if self.history.empty:
            return pd.Series(pd.NA, index=date.index, dtype="Int64")
        last = self.history.iloc[-1]
        gap = (date - last["date"]).dt.days
        return pd.Series(
            np.where(gap > NEW_SEASON_GAP_DAYS, last["season"] + 1, last["season"]), index=date.index
        ).astype("Int64")

    def frame(self, model_input: pd.DataFrame) -> FixtureFrame:
        """The distinct canonical rows of ``model_input`` with their features (cached)."""
        given = pd.DataFrame(model_input).reset_index(drop=True)
        missing = [c for c in REQUIRED_FIXTURE_COLUMNS if c not in given]
        if missing:
            raise ValueError(f"fixture rows need columns {missing}")
        given = given.assign(date=_fixture_dates(given["date"]))
        read = [c for c in HISTORY_COLUMNS if c in given and c not in ("home_score", "away_score")]
        if given.empty:
            codes = np.zeros(0, dtype=np.int64)
        else:
            codes = given.groupby(read, sort=False, dropna=False).ngroup().to_numpy(np.int64)
        first = np.unique(codes, return_index=True)[1]  # groups are numbered by first appearance
        fixtures = self.fixtures(given.iloc[first])
        if fixtures.empty:
            return FixtureFrame(fixtures, [], codes)
        features = self._features(fixtures)
        return FixtureFrame(fixtures.join(features), list(features.columns), codes)

    def probabilities(self, frame: FixtureFrame) -> np.ndarray:
        """``(len(frame), len(outcomes))`` outcome probabilities per request row."""
        if frame.rows.empty:
            return np.empty((len(frame), len(self.model.outcomes)))
        return np.asarray(self.model.predict_proba(frame.rows))[frame.inverse]

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        frame = self.frame(pd.DataFrame(model_input))
        return pd.DataFrame(self.probabilities(frame), columns=self.columns)

    # -- features --------------------------------------------------------------------------------
    def _feature_keys(self, rows: pd.DataFrame) -> list[tuple]:
        """Everything a fixture's features depend on: date, teams, neutral, season (-1 unknown)
        and, for a price-reading model, the pre-closing prices (-1.0 missing)."""
        parts = [
            rows["date"].to_numpy("datetime64[ns]").astype(np.int64).tolist(),
            rows["home_team"].astype(str).tolist(),
            rows["away_team"].astype(str).tolist(),
            neutral_venue(rows).tolist(),
            np.nan_to_num(rows["season"].to_numpy(np.float64, na_value=np.nan), nan=-1.0)
            .astype(np.int64)
            .tolist(),
        ]
        if self.reads_prices:
            prices = rows.reindex(columns=list(PRE_CLOSING_PRICES)).to_numpy(np.float64, na_value=np.nan)
            parts.extend(np.nan_to_num(prices, nan=-1.0).T.tolist())
        return list(zip(*parts))

    def _feature_input(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` reduced to what the feature key holds (the rest null), so equal keys always
        mean equal features."""
        keep = {"competition", "season", "date", "home_team", "away_team"}
        if self.reads_prices:
            keep |= set(PRE_CLOSING_PRICES)
        out = pd.DataFrame(
            {
                c: rows[c] if c in keep else _column(rows.iloc[:0], c).reindex(rows.index)
                for c in HISTORY_COLUMNS
            }
        )
        out["neutral"] = pd.array(neutral_venue(rows), dtype="boolean")
        return out

    def _pairs(self, date: pd.Timestamp, season) -> pd.DataFrame:
        """Every ordered pair of the latest season's teams on ``date`` (not neutral, no prices)."""
        teams = self.latest_teams
        home, away = np.repeat(teams, len(teams)), np.tile(teams, len(teams))
        distinct = home != away
        n = int(distinct.sum())
        given = pd.DataFrame(
            {
                "home_team": home[distinct],
                "away_team": away[distinct],
                "date": np.full(n, date, dtype="datetime64[ns]"),
                "season": [season] * n,
                "neutral": np.zeros(n, dtype=bool),
                "competition": self.competition,
            }
        )
        return pd.DataFrame({c: _column(given, c) for c in HISTORY_COLUMNS})

    def _features(self, fixtures: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time features of canonical ``fixtures``, from the cache or computed."""
        keys = self._feature_keys(fixtures)
        found: list[tuple[Any, int] | None] = self._cache.get(keys)
        missed = [i for i, entry in enumerate(found) if entry is None]
        if missed:
            inputs = self._feature_input(fixtures.iloc[missed])
            groups = inputs.groupby(["date", "season"], sort=False, dropna=False).indices
            comp = competition_of(self.competition)
            for (date, season), positions in groups.items():
                group = inputs.iloc[positions]
                pairs = self._pairs(date, season)
                combined = pd.concat([self.history, group, pairs], ignore_index=True)
                table = competition_features(combined, comp).iloc[len(self.history) :]
                block = _Block(list(table.columns), table.to_numpy(dtype=np.float64))
                self._cache.put(self._feature_keys(pairs), block, range(len(group), len(table)))
                self._cache.put([keys[missed[p]] for p in positions], block, range(len(positions)))
                for j, p in enumerate(positions):
                    found[missed[p]] = (block, j)
        return _gather(found, fixtures.index)  # type: ignore[arg-type]  # every entry is filled


def _fixture_dates(values: pd.Series) -> pd.Series:
    """Calendar dates (naive, midnight) of fixture rows; an unreadable or missing date is an
    error naming the rows."""
    try:
        date = pd.to_datetime(values)
    except (ValueError, TypeError) as error:
        raise ValueError(f"fixture dates must be dates (YYYY-MM-DD): {error}") from None
    if date.dt.tz is not None:
        date = date.dt.tz_localize(None)
    date = date.dt.normalize()
    if date.isna().any():
        raise ValueError(f"fixture row(s) {np.flatnonzero(date.isna())[:10].tolist()} have no date")
    return date
