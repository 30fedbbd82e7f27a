"""Logging a fitted model as a pyfunc on the active run: pinned requirements, a signature with
only the team and date columns required, and an input example of raw fixture rows."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

import scoreline
from scoreline.config import Settings
from scoreline.models.base import MatchModel
from scoreline.tracking.detail import fit_detail
from scoreline.tracking.pyfunc import (
    FIXTURE_COLUMNS,
    REQUIRED_FIXTURE_COLUMNS,
    MatchModelPyfunc,
    model_members,
)

__all__ = ["MODEL_PACKAGES", "example_fixtures", "log_model", "model_requirements", "pyfunc_logging_quiet"]

#: the ``scoreline`` package folder, which travels with every logged model as code
PACKAGE_FOLDER = Path(scoreline.__file__).resolve().parent

#: packages the pyfunc needs at load time (scoreline itself travels as code)
MODEL_PACKAGES = (
    "mlflow",
    "cloudpickle",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
    "statsmodels",
    "lightgbm",
    "xgboost",
    "pydantic",
    "pydantic-settings",
    "psutil",
)


def example_fixtures(history: pd.DataFrame, fixtures: pd.DataFrame | None = None, n: int = 3) -> pd.DataFrame:
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
    inputs = Schema(
        [
            ColSpec(spec.type, spec.name, required=spec.name in REQUIRED_FIXTURE_COLUMNS)
            for spec in inferred.inputs.inputs
        ]
    )
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def _lock_file(settings: Settings) -> Path | None:
    for candidate in (settings.home / "requirements.lock", PACKAGE_FOLDER.parents[1] / "requirements.lock"):
        if candidate.is_file():
            return candidate
    return None


def model_requirements(settings: Settings, model: MatchModel | None = None) -> list[str]:
    """Pinned requirements of a logged model: :data:`MODEL_PACKAGES` (plus pymc for a Bayesian
    model) at the versions of ``requirements.lock``, else of the running environment."""
    packages = list(MODEL_PACKAGES)
    if model is not None and any("bayes" in type(m).__module__ for m in model_members(model)):
        packages.append("pymc")
    pins: dict[str, str] = {}
    lock = _lock_file(settings)
    if lock is not None:
        for line in lock.read_text().splitlines():
            name, sep, pinned = line.strip().partition("==")
            if sep:
                pins[name.lower().replace("_", "-")] = pinned.split(";")[0].strip()
    requirements = []
    for package in packages:
        version: str | None = pins.get(package)
        if version is None:
            try:
                version = metadata.version(package)
            except metadata.PackageNotFoundError:
                requirements.append(package)
                continue
        requirements.append(f"{package}=={version}")
    return requirements


@contextmanager
def pyfunc_logging_quiet() -> Iterator[None]:
    """MLflow's pyfunc logger at ERROR while a model is logged: its CloudPickle warning (we
    pickle the wrapper on purpose: it carries the fitted model and its history) and its
    "Validating input example" INFO line repeat in every train step's output."""
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def log_model(
    model: MatchModel,
    name: str,
    competition: str,
    history: pd.DataFrame,
    settings: Settings,
    fixtures: pd.DataFrame | None = None,
    with_detail: bool = True,
) -> str:
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
    with pyfunc_logging_quiet():
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=wrapper,
            signature=_fixture_signature(example, output),
            input_example=example,
            pip_requirements=model_requirements(settings, model),
            code_paths=[str(PACKAGE_FOLDER)],
        )
    return info.model_uri
