"""MLflow tracking: experiment naming, one run per pipeline step, and pyfunc packaging of models.

Experiments are named per competition (``E0``, ``NFL``; ``scoreline`` for steps that span
competitions, such as ingest) and always created with an absolute artifact location under
``registry/artifacts/<experiment>``, so where a process happens to run never decides where
artifacts land. A pipeline step executed in another process (a papermill kernel) joins its
pipeline's run only through the parent run id it is given: :func:`step_run` tags its run with
``mlflow.parentRunId``.

A logged model (:class:`MatchModelPyfunc`) carries its feature state, the played matches it was
trained on, so it forecasts raw fixture rows (teams, date) without the match store: the fixtures
are appended to that history and the point-in-time features are computed on the combined table,
exactly as the walk-forward backtest computes them.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoreline.config import Competition, Settings, competition as competition_of
from scoreline.data import schema
from scoreline.data.store import MatchStore
from scoreline.features.builder import competition_features
from scoreline.models.base import MatchModel

__all__ = [
    "DEFAULT_EXPERIMENT", "FIXTURE_COLUMNS", "HISTORY_COLUMNS", "MatchModelPyfunc",
    "example_fixtures", "experiment_id", "git_commit", "log_backtest", "log_data_snapshot",
    "log_model", "model_requirements", "step_run", "train_and_log",
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
    """Id of experiment ``name``, created with its artifacts under ``registry/artifacts/<name>``.

    An experiment that already exists keeps the location it was created with (MLflow cannot
    move it).
    """
    client = mlflow.MlflowClient(tracking_uri=_prepare_store(settings))
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (settings.registry_path / "artifacts" / name).resolve()
    try:
        return client.create_experiment(name, artifact_location=location.as_uri())
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


class MatchModelPyfunc(mlflow.pyfunc.PythonModel):
    """A fitted :class:`MatchModel` with its competition and feature state, as an MLflow pyfunc.

    ``predict`` takes raw fixture rows (``home_team``, ``away_team``, ``date``; optionally
    ``neutral``, ``season``, ``match_id`` and pre-closing 1X2 prices) and returns one row per
    fixture, in input order, with columns ``prob_<outcome>`` in ``model.outcomes`` order
    (``prob_home, prob_draw, prob_away`` or ``prob_home, prob_away``), each row summing to 1.
    A fixture without ``season`` gets the season of the last played match, or the next one
    when it is more than :data:`NEW_SEASON_GAP_DAYS` after it.
    """

    def __init__(self, competition: str, model: MatchModel, history: pd.DataFrame) -> None:
        self.competition = competition
        self.model = model
        self.history = _history(history)

    @property
    def columns(self) -> list[str]:
        return [f"prob_{o}" for o in self.model.outcomes]

    def fixtures(self, model_input: pd.DataFrame) -> pd.DataFrame:
        """``model_input`` as canonical unplayed rows of this competition."""
        missing = [c for c in REQUIRED_FIXTURE_COLUMNS if c not in model_input]
        if missing:
            raise ValueError(f"fixture rows need columns {missing}")
        given = model_input.reset_index(drop=True)
        date = pd.to_datetime(given["date"])
        if date.dt.tz is not None:
            date = date.dt.tz_localize(None)
        date = date.dt.normalize()
        if date.isna().any():
            raise ValueError(f"{int(date.isna().sum())} fixture row(s) have no date")
        given = given.assign(date=date, competition=self.competition)
        given = given.drop(columns=["home_score", "away_score"], errors="ignore")
        out = pd.DataFrame({c: _column(given, c) for c in HISTORY_COLUMNS})
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

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        fixtures = self.fixtures(pd.DataFrame(model_input))
        combined = pd.concat([self.history, fixtures], ignore_index=True)
        features = competition_features(combined, competition_of(self.competition))
        rows = combined.join(features).iloc[len(self.history):]
        probabilities = self.model.predict_proba(rows)
        return pd.DataFrame(probabilities, columns=self.columns)


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
              settings: Settings, fixtures: pd.DataFrame | None = None) -> str:
    """Log fitted ``model`` with its feature state ``history`` as a pyfunc on the active run.

    The signature and input example come from :func:`example_fixtures` (``fixtures``: the
    store's upcoming matches, if any); the ``scoreline`` source travels with the model, so it
    loads where the package is not installed. Returns the model URI.
    """
    wrapper = MatchModelPyfunc(competition, model, history)
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
