"""MLflow tracking: experiment naming, one run per pipeline step, and pyfunc packaging of models.

Experiments are named per competition (``E0``, ``NFL``; ``scoreline`` for steps that span
competitions, such as ingest) and always created with an absolute artifact location under
``registry/artifacts/<experiment>``, so where a process happens to run never decides where
artifacts land. A pipeline step executed in another process (a papermill kernel) joins its
pipeline's run only through the parent run id it is given: :func:`step_run` tags its run with
``mlflow.parentRunId``.

A logged model (:class:`MatchModelPyfunc`) carries its feature state, the played matches it was
trained on, so it forecasts raw fixture rows (teams, date) without the match store: each fixture
is appended to that history and its point-in-time features are computed on the combined table,
exactly as the walk-forward backtest computes them (cached per loaded model). It also carries a
detail model for the prediction service: score grids for football, expected points with
conformal margin and total intervals for two-way sports.
"""

from __future__ import annotations

import json
import subprocess
import threading
import warnings
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoreline.config import Competition, Settings, Sport, competition as competition_of
from scoreline.data import schema
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import cut_offs
from scoreline.features.builder import competition_features
from scoreline.models.base import GoalModel, MatchModel, neutral_venue
from scoreline.models.baselines import MarketModel, SpreadMarket
from scoreline.models.conformal import RollingConformal
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.totals import TotalModel

__all__ = [
    "DEFAULT_EXPERIMENT", "FIXTURE_COLUMNS", "HISTORY_COLUMNS", "FixtureFrame", "RowCache",
    "MatchModelPyfunc", "PointsDetail", "example_fixtures", "experiment_id", "fit_detail",
    "fit_points_detail", "git_commit", "log_backtest", "log_data_snapshot", "log_model",
    "model_requirements", "reads_prices", "step_run", "train_and_log",
]

#: experiment of steps that are not about one competition (ingest, pipeline parents)
DEFAULT_EXPERIMENT = "scoreline"

#: pre-closing 1X2 prices: the only prices the point-in-time features (and the pre-closing
#: market models) read; closing prices are a benchmark and are never packaged with a model
PRE_CLOSING_PRICES = tuple(
    c for c in schema.ODDS_1X2_COLUMNS if "close" not in c
)
#: the canonical columns a model's feature state keeps: what ratings, form and market
#: features read (identity, result, venue, shots, pre-closing prices, FCS flags)
HISTORY_COLUMNS = (
    "match_id", "competition", "season", "date", "neutral", "home_team", "away_team",
    "home_score", "away_score", *schema.STAT_COLUMNS, *PRE_CLOSING_PRICES, "home_fcs", "away_fcs",
)
#: the columns a fixture row may carry into :meth:`MatchModelPyfunc.predict`; only
#: ``home_team``, ``away_team`` and ``date`` are required
FIXTURE_COLUMNS = ("home_team", "away_team", "date", "neutral", "season", "match_id",
                   *PRE_CLOSING_PRICES, "home_fcs", "away_fcs")
REQUIRED_FIXTURE_COLUMNS = ("home_team", "away_team", "date")
#: a fixture this many days after the last played match opens a new season (when the caller
#: gives no ``season``): longer than any in-season break, shorter than any off-season
NEW_SEASON_GAP_DAYS = 60

#: packages the pyfunc needs at load time (scoreline itself travels as code)
MODEL_PACKAGES = ("mlflow", "cloudpickle", "pandas", "numpy", "scipy", "scikit-learn",
                  "statsmodels", "lightgbm", "xgboost", "pydantic", "pydantic-settings", "psutil")


# --------------------------------------------------------------------------- experiments, runs

def _prepare_store(settings: Settings) -> str:
    """The tracking URI in force; a SQLite store's folder is created (SQLite will not)."""
    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return uri


def experiment_id(name: str, settings: Settings) -> str:
    """Id of experiment ``name``, created with its artifacts under ``registry/artifacts/<name>``
    (behind a tracking server: the server's artifact root).

    An experiment that already exists keeps the location it was created with (MLflow cannot
    move it).
    """
    client = mlflow.MlflowClient(tracking_uri=_prepare_store(settings))
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=settings.artifact_location(name))
    except MlflowException:  # created meanwhile by a concurrent step
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def git_commit(folder: Path) -> str | None:
    """The checked-out commit of the repository holding ``folder`` (None outside a repository)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@contextmanager
def step_run(parent_run_id: str, step: str, competition: str | None,
             settings: Settings) -> Iterator[mlflow.ActiveRun]:
    """A run for one pipeline step in experiment ``competition`` (or ``scoreline``).

    ``parent_run_id`` (empty for a step run on its own) becomes the ``mlflow.parentRunId`` tag:
    the only way a step executed in another process nests under its pipeline's run. The run
    ends FINISHED, or FAILED when the body raises. Setting the tracking URI also exports it as
    ``MLFLOW_TRACKING_URI`` (MLflow does), so processes started afterwards use the same store.
    """
    mlflow.set_tracking_uri(_prepare_store(settings))
    experiment = experiment_id(competition or DEFAULT_EXPERIMENT, settings)
    commit = git_commit(settings.home)
    tags = {"step": step, "git_commit": commit or "unknown"}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    if competition:
        tags["competition"] = competition
    if parent_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = parent_run_id
    name = f"{step}-{competition}" if competition else step
    run = mlflow.start_run(experiment_id=experiment, run_name=name, tags=tags,
                           nested=mlflow.active_run() is not None)
    try:
        yield run
    except BaseException:
        mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


# --------------------------------------------------------------------------- logging helpers

def log_data_snapshot(store: MatchStore, competition: str | None = None) -> dict[str, Any]:
    """Log the store snapshot in force (name, content hash, rows per table) on the active run.

    With ``competition``, also its played and upcoming row counts. Returns what was logged.
    """
    manifest = store.manifest()
    if not manifest:
        raise ValueError(f"the match store at {store.root} is empty: run the ingest first")
    logged: dict[str, Any] = {
        "data_snapshot": manifest["snapshot"],
        "data_content_hash": manifest["content_hash"],
        **{f"data_rows_{table}": n for table, n in manifest["rows"].items()},
    }
    if competition:
        logged[f"data_rows_{competition}_results"] = len(store.results(competition))
        logged[f"data_rows_{competition}_fixtures"] = len(store.fixtures(competition))
    mlflow.log_params(logged)
    mlflow.set_tags({"data_snapshot": manifest["snapshot"],
                     "data_content_hash": manifest["content_hash"]})
    return logged


def log_backtest(report) -> dict[str, float]:
    """Log a :class:`~scoreline.evaluation.competition.BacktestReport` on the active run.

    Metrics: ``{model}.rps|log_loss|brier|accuracy|ece`` for every row of the overall table
    (market rows included) and ``{model}.rps_minus_reference`` (and ``log_loss_``/``brier_``)
    with ``_lower``/``_upper`` 95 % bootstrap bounds. Artifacts under ``backtest/``: the report
    folder's scores.json, by_season.csv, reliability.png, bankroll.png, predictions.parquet.
    Returns the metrics.
    """
    scores = report.scores
    metrics: dict[str, float] = {}
    for model, row in scores.overall.iterrows():
        for name in ("rps", "log_loss", "brier", "accuracy", "ece"):
            if name in row:
                metrics[f"{model}.{name}"] = float(row[name])
    for model, row in scores.versus.iterrows():
        for name in ("rps", "log_loss", "brier"):
            base = f"{model}.{name}_minus_reference"
            metrics[base] = float(row[f"{name}_diff"])
            metrics[f"{base}_lower"] = float(row[f"{name}_lower"])
            metrics[f"{base}_upper"] = float(row[f"{name}_upper"])
    mlflow.log_metrics(metrics)
    predictions = report.result.predictions
    mlflow.log_params({
        "competition": report.competition,
        "reference": scores.reference,
        "models": ",".join(report.result.models),
        "matches": len(predictions),
        "refits": report.result.n_refits,
        "first_season": int(predictions["season"].min()),
        "last_season": int(predictions["season"].max()),
        "tuned": json.dumps(report.tuned, sort_keys=True),
    })
    for file in ("scores.json", "by_season.csv", "reliability.png", "bankroll.png",
                 "predictions.parquet"):
        if (report.folder / file).is_file():
            mlflow.log_artifact(str(report.folder / file), artifact_path="backtest")
    return metrics


# --------------------------------------------------------------------------- the pyfunc model

#: distinct fixtures whose features a loaded model keeps in memory (about 1 kB each): some 25
#: dates of a league's pairings (the service keeps its forecasts in a cache of its own)
FEATURE_CACHE_ROWS = 10_000
#: TotalModel half-life (days) of the points detail: NBA scoring drifts within a season
#: (benchmarks/intervals.py chose 60 days on the 2017-18..2019-20 seasons); 365 elsewhere
POINTS_HALF_LIFE = {"NBA": 60.0}
#: most recent games whose out-of-sample residuals calibrate the margin and total intervals
CONFORMAL_GAMES = 1000


def _history(matches: pd.DataFrame) -> pd.DataFrame:
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
    return any(isinstance(m, (MarketModel, SpreadMarket)) or getattr(m, "features", None) == "market"
               for m in _members(model))


@dataclass(frozen=True)
class PointsDetail:
    """What a two-way sport's logged model says beyond win probabilities: expected points per
    side (``model``) and conformal radii for the home margin and the total, calibrated on the
    out-of-sample residuals of the most recent :data:`CONFORMAL_GAMES` games."""

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


class MatchModelPyfunc(mlflow.pyfunc.PythonModel):
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

    def __init__(self, competition: str, model: MatchModel, history: pd.DataFrame,
                 detail: GoalModel | PointsDetail | None = None) -> None:
        self.competition = competition
        self.model = model
        self.history = _history(history)
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
        teams = [last.loc[~last[f"{side}_fcs"].fillna(False).to_numpy(bool), f"{side}_team"]
                 for side in ("home", "away")]
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
                raise ValueError(f"fixture row(s) {np.flatnonzero(blank)[:10].tolist()} "
                                 f"have no {side}")
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
        return pd.Series(np.where(gap > NEW_SEASON_GAP_DAYS, last["season"] + 1, last["season"]),
                         index=date.index).astype("Int64")

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
            .astype(np.int64).tolist(),
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
        out = pd.DataFrame({c: rows[c] if c in keep else _column(rows.iloc[:0], c).reindex(rows.index)
                            for c in HISTORY_COLUMNS})
        out["neutral"] = pd.array(neutral_venue(rows), dtype="boolean")
        return out

    def _pairs(self, date: pd.Timestamp, season) -> pd.DataFrame:
        """Every ordered pair of the latest season's teams on ``date`` (not neutral, no prices)."""
        teams = self.latest_teams
        home, away = np.repeat(teams, len(teams)), np.tile(teams, len(teams))
        distinct = home != away
        n = int(distinct.sum())
        given = pd.DataFrame({
            "home_team": home[distinct], "away_team": away[distinct],
            "date": np.full(n, date, dtype="datetime64[ns]"), "season": [season] * n,
            "neutral": np.zeros(n, dtype=bool), "competition": self.competition,
        })
        return pd.DataFrame({c: _column(given, c) for c in HISTORY_COLUMNS})

    def _features(self, fixtures: pd.DataFrame) -> pd.DataFrame:
        """Point-in-time features of canonical ``fixtures``, from the cache or computed."""
        keys = self._feature_keys(fixtures)
        found = self._cache.get(keys)
        missed = [i for i, entry in enumerate(found) if entry is None]
        if missed:
            inputs = self._feature_input(fixtures.iloc[missed])
            groups = inputs.groupby(["date", "season"], sort=False, dropna=False).indices
            comp = competition_of(self.competition)
            for (date, season), positions in groups.items():
                group = inputs.iloc[positions]
                pairs = self._pairs(date, season)
                combined = pd.concat([self.history, group, pairs], ignore_index=True)
                table = competition_features(combined, comp).iloc[len(self.history):]
                block = _Block(list(table.columns), table.to_numpy(dtype=np.float64))
                self._cache.put(self._feature_keys(pairs), block, range(len(group), len(table)))
                self._cache.put([keys[missed[p]] for p in positions], block, range(len(positions)))
                for j, p in enumerate(positions):
                    found[missed[p]] = (block, j)
        return _gather(found, fixtures.index)


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


def fit_points_detail(history: pd.DataFrame, code: str) -> PointsDetail:
    """The points detail of a two-way competition: a :class:`TotalModel` fitted on ``history``
    and conformal calibrators holding the residuals of the latest :data:`CONFORMAL_GAMES` games.

    The residuals are out of sample, walking forward: every week of those games is predicted by
    a TotalModel fitted on the games before it (within the training span), as in
    ``benchmarks/intervals.py``. Training span: 8 years, or 12 half-lives where that is shorter
    (older games weigh under 1/4000).
    """
    data = _history(history)
    if data.empty:
        raise ValueError(f"no played {code} matches to fit the points model on")
    half_life = POINTS_HALF_LIFE.get(code, 365.0)
    span = pd.Timedelta(days=min(8 * 365, 12 * half_life))
    dates = data["date"]
    margin = RollingConformal(window=CONFORMAL_GAMES)
    total = RollingConformal(window=CONFORMAL_GAMES)
    start = max(dates.iloc[max(len(data) - CONFORMAL_GAMES, 0)], dates.iloc[0] + pd.Timedelta(days=35))
    for cut, end in cut_offs(dates.loc[dates >= start], start, "week"):
        train = data.loc[(dates < cut) & (dates >= cut - span)]
        test = data.loc[(dates >= cut) & (dates < end)]
        points = TotalModel(half_life_days=half_life).fit(train).predict_points(test)
        home, away = (test[c].to_numpy(np.float64) for c in ("home_score", "away_score"))
        margin.update(home - away, points.margin)
        total.update(home + away, points.total)
    final = TotalModel(half_life_days=half_life).fit(data.loc[dates >= dates.iloc[-1] - span])
    return PointsDetail(final, margin, total)


def fit_detail(model: MatchModel, code: str, history: pd.DataFrame,
               settings: Settings) -> GoalModel | PointsDetail:
    """The detail model logged beside ``model`` (see :class:`MatchModelPyfunc`): for football
    ``model`` itself if it is a goal model, else a Dixon-Coles fitted on ``history`` with any
    tuned parameters (``scoreline tune``); for two-way sports :func:`fit_points_detail`."""
    if competition_of(code).sport is not Sport.FOOTBALL:
        return fit_points_detail(history, code)
    if isinstance(model, GoalModel):
        return model
    from scoreline.tuning import tuned_params  # imports optuna: only when a detail is fitted

    goals = DixonColes().set_params(**tuned_params(settings, code, "dixon_coles"))
    return goals.fit(_history(history))


def example_fixtures(history: pd.DataFrame, fixtures: pd.DataFrame | None = None,
                     n: int = 3) -> pd.DataFrame:
    """``n`` raw fixture rows (:data:`FIXTURE_COLUMNS` present in the data): the first stored
    upcoming fixtures, else the pairings of the last played date moved one week on (a stand-in
    when the store holds no fixtures)."""
    if fixtures is not None and len(fixtures):
        rows = fixtures.sort_values(["date", "match_id"]).head(n).reset_index(drop=True)
    else:
        played = history.sort_values(["date", "match_id"])
        rows = played.tail(n).reset_index(drop=True)
        rows["date"] = played["date"].max() + pd.Timedelta(days=7)
        rows["match_id"] = pd.NA
    rows = rows[[c for c in FIXTURE_COLUMNS if c in rows and c != "match_id"]]
    if "neutral" in rows:
        rows["neutral"] = rows["neutral"].astype("boolean").fillna(False).astype(bool)
    # a column null throughout (no FCS flags in football) would enter the signature untyped
    return rows.loc[:, rows.notna().any()]


def _fixture_signature(example: pd.DataFrame, output: pd.DataFrame) -> ModelSignature:
    """The inferred signature with only the team and date columns required.

    ``season`` is an optional integer column: a caller without seasons leaves it out (MLflow
    cannot pass an integer column with gaps, nor integers as doubles)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        inferred = infer_signature(example, output)
    inputs = Schema([ColSpec(spec.type, spec.name, required=spec.name in REQUIRED_FIXTURE_COLUMNS)
                     for spec in inferred.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def _lock_file(settings: Settings) -> Path | None:
    for candidate in (settings.home / "requirements.lock",
                      Path(__file__).resolve().parents[2] / "requirements.lock"):
        if candidate.is_file():
            return candidate
    return None


def model_requirements(settings: Settings, model: MatchModel | None = None) -> list[str]:
    """Pinned requirements of a logged model: :data:`MODEL_PACKAGES` (plus pymc for a Bayesian
    model) at the versions of ``requirements.lock``, else of the running environment."""
    packages = list(MODEL_PACKAGES)
    if model is not None and any("bayes" in type(m).__module__ for m in _members(model)):
        packages.append("pymc")
    pins: dict[str, str] = {}
    lock = _lock_file(settings)
    if lock is not None:
        for line in lock.read_text().splitlines():
            name, sep, version = line.strip().partition("==")
            if sep:
                pins[name.lower().replace("_", "-")] = version.split(";")[0].strip()
    requirements = []
    for package in packages:
        version = pins.get(package)
        if version is None:
            try:
                version = metadata.version(package)
            except metadata.PackageNotFoundError:
                requirements.append(package)
                continue
        requirements.append(f"{package}=={version}")
    return requirements


def _members(model: MatchModel) -> list[Any]:
    """``model`` and every estimator nested in its parameters (stacks, blends)."""
    found, queue = [], [model]
    while queue:
        item = queue.pop()
        if isinstance(item, (list, tuple)):
            queue.extend(item)
        elif hasattr(item, "get_params"):
            found.append(item)
            queue.extend(v for v in item.get_params(deep=False).values()
                         if hasattr(v, "get_params") or isinstance(v, (list, tuple)))
    return found


def log_model(model: MatchModel, name: str, competition: str, history: pd.DataFrame,
              settings: Settings, fixtures: pd.DataFrame | None = None,
              with_detail: bool = True) -> str:
    """Log fitted ``model`` with its feature state ``history`` as a pyfunc on the active run.

    ``with_detail``: also fit and bundle the service's detail model (:func:`fit_detail`, about
    a second). The signature and input example come from :func:`example_fixtures`
    (``fixtures``: the store's upcoming matches, if any); the ``scoreline`` source travels with
    the model, so it loads where the package is not installed. Returns the model URI.
    """
    detail = fit_detail(model, competition, history, settings) if with_detail else None
    wrapper = MatchModelPyfunc(competition, model, history, detail)
    example = example_fixtures(wrapper.history, fixtures)
    output = wrapper.predict(None, example)
    info = mlflow.pyfunc.log_model(
        name=name,
        python_model=wrapper,
        signature=_fixture_signature(example, output),
        input_example=example,
        pip_requirements=model_requirements(settings, model),
        code_paths=[str(Path(__file__).resolve().parent)],
    )
    return info.model_uri


def _flat_params(model: MatchModel) -> dict[str, str]:
    """Hyper-parameters as MLflow params: nested estimators by class name, values as text."""
    flat = {}
    for key, value in model.get_params(deep=True).items():
        text = type(value).__name__ if hasattr(value, "get_params") else repr(value)
        flat[f"model.{key}"] = text[:500]
    return flat


def train_and_log(settings: Settings, code: str, model_name: str, parent_run_id: str = "") -> dict:
    """Fit catalogue model ``model_name`` (with any ``scoreline tune`` parameters) on every
    stored result of ``code``, features joined, and log it as a pyfunc in a ``train`` run.

    Returns ``{"model_uri", "run_id", "model_name", "competition", "matches", "fit_seconds"}``.
    """
    import time

    from scoreline.models import catalog
    from scoreline.tuning import tuned_params

    comp: Competition = competition_of(code)
    store = MatchStore(settings.store_dir)
    matches = store.results(code)
    if matches.empty:
        raise ValueError(f"no stored results for {code}: run the ingest first")
    tuned = tuned_params(settings, code, model_name)
    models = catalog.models(comp)
    if model_name not in models:
        raise KeyError(f"unknown model {model_name!r} for {code}; available: {', '.join(models)}")
    model = catalog.with_tuned(models, {model_name: tuned})[model_name]
    history = _history(matches)
    with step_run(parent_run_id, "train", code, settings) as run:
        log_data_snapshot(store, code)
        mlflow.log_params({"model_name": model_name, "tuned": json.dumps(tuned, sort_keys=True),
                           **_flat_params(model)})
        started = time.perf_counter()
        model.fit(history.join(competition_features(history, comp)))
        seconds = time.perf_counter() - started
        mlflow.log_metrics({"fit_seconds": seconds, "train_matches": len(history)})
        uri = log_model(model, model_name, code, history, settings, store.fixtures(code))
    return {"model_uri": uri, "run_id": run.info.run_id, "model_name": model_name,
            "competition": code, "matches": len(history), "fit_seconds": round(seconds, 2)}
