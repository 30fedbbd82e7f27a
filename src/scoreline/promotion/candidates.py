"""Which model a promotion judges: the backtest run, the matching train runs, the best candidate.

A candidate is a model with a FINISHED ``train`` run (a logged pyfunc) on the same data snapshot
(``data_content_hash`` tag) as the ``backtest`` run whose figures judge it. Reads MLflow only.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoreline.config import competition
from scoreline.models import catalog
from scoreline.promotion.policy import Metric, Rules

METRICS = tuple(m.value for m in Metric)


class CandidateError(ValueError):
    """No backtest or candidate to promote; the message says what to run."""


@dataclass(frozen=True)
class Backtest:
    run: Run
    models: list[str]  # every model the backtest scored, market benchmarks included
    reference: str  # the market the backtest compares with

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def data_hash(self) -> str:
        return self.run.data.tags.get("data_content_hash", "")

    def scores(self, model: str) -> dict[str, float]:
        """``model``'s overall backtest metrics (common matches of every model): ``rps/<model>``,
        or ``<model>.rps`` as backtests logged them before metrics were grouped."""
        logged = self.run.data.metrics
        found = {m: logged.get(f"{m}/{model}", logged.get(f"{model}.{m}")) for m in METRICS}
        return {m: v for m, v in found.items() if v is not None}

    def window(self) -> dict[str, str]:
        params = self.run.data.params
        return {k: params.get(k, "") for k in ("first_season", "last_season", "matches")}


@dataclass(frozen=True)
class Candidate:
    model_name: str
    train_run: Run
    model_uri: str  # models:/<logged model id>

    @property
    def hyper_parameters(self) -> dict[str, str]:
        return {k: v for k, v in self.train_run.data.params.items() if k.startswith("model.")}


def _experiments(client: mlflow.MlflowClient, code: str) -> list[str]:
    """Where ``code``'s runs live: its own experiment (runs started on their own) and every
    pipeline's (steps nest under their pipeline's run there)."""
    found = [
        e.experiment_id
        for e in client.search_experiments()
        if e.name == code or e.name.startswith("pipeline-")
    ]
    if not found:
        raise CandidateError(
            f"no MLflow experiment {code!r}: run the weekly_training pipeline "
            "(train and backtest steps) first"
        )
    return found


def _latest(
    client: mlflow.MlflowClient, experiments: list[str], filters: str, parent_run_id: str
) -> list[Run]:
    """FINISHED runs matching ``filters``, those under ``parent_run_id`` first, newest first."""
    runs = client.search_runs(
        experiments,
        f"{filters} and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=500,
    )
    return sorted(
        runs, key=lambda r: r.data.tags.get(MLFLOW_PARENT_RUN_ID) != parent_run_id if parent_run_id else False
    )


def find_backtest(
    client: mlflow.MlflowClient, code: str, run_id: str | None = None, parent_run_id: str = ""
) -> Backtest:
    """The backtest run ``run_id``, else the latest FINISHED one of ``code`` (of the pipeline
    run ``parent_run_id`` when it has one: its step may have been skipped as unchanged)."""
    if run_id:
        try:
            run = client.get_run(run_id)
        except MlflowException:
            raise CandidateError(f"no run {run_id!r} in the tracking store") from None
        tags = run.data.tags
        if tags.get("step") != "backtest" or tags.get("competition") != code:
            raise CandidateError(
                f"run {run_id} is not a backtest run of {code} (step="
                f"{tags.get('step')!r}, competition={tags.get('competition')!r})"
            )
        if run.info.status != "FINISHED":
            raise CandidateError(f"backtest run {run_id} is {run.info.status}, not FINISHED")
    else:
        runs = _latest(
            client,
            _experiments(client, code),
            f"tags.step = 'backtest' and tags.competition = '{code}'",
            parent_run_id,
        )
        if not runs:
            raise CandidateError(
                f"no FINISHED backtest run for {code}: run the backtest step "
                "(notebooks/backtest.ipynb or the weekly_training pipeline)"
            )
        run = runs[0]
    params = run.data.params
    if not run.data.tags.get("data_content_hash"):
        raise CandidateError(
            f"backtest run {run.info.run_id} has no data_content_hash tag: it "
            "cannot be matched with train runs (log it with log_data_snapshot)"
        )
    models = [m for m in params.get("models", "").split(",") if m]
    return Backtest(run, models, params.get("reference", catalog.reference(competition(code))))


def trained_models(
    client: mlflow.MlflowClient, code: str, backtest: Backtest, parent_run_id: str = ""
) -> dict[str, Run]:
    """Newest FINISHED train run per model on the backtest's data snapshot."""
    runs = _latest(
        client,
        _experiments(client, code),
        f"tags.step = 'train' and tags.competition = '{code}' "
        f"and tags.data_content_hash = '{backtest.data_hash}'",
        parent_run_id,
    )
    found: dict[str, Run] = {}
    for run in runs:
        found.setdefault(run.data.params.get("model_name", ""), run)
    found.pop("", None)
    return found


def logged_model_uri(client: mlflow.MlflowClient, run: Run) -> str:
    """``models:/<id>`` of the model a train run logged."""
    outputs = client.get_run(run.info.run_id).outputs
    ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
    if not ids:
        raise CandidateError(f"train run {run.info.run_id} logged no model")
    return f"models:/{ids[-1]}"


def choose(
    client: mlflow.MlflowClient,
    code: str,
    rules: Rules,
    backtest: Backtest,
    trained: dict[str, Run],
    model: str | None = None,
) -> Candidate:
    """``model`` if given, else the eligible trained model with the best primary metric in the
    backtest. A forced ``model`` must be in the backtest and trained; eligibility is then left
    to the gate (it fails there, and the audit trail shows why)."""
    benchmarks = set(catalog.benchmarks(competition(code)))
    if model is not None:
        if model not in backtest.models:
            raise CandidateError(
                f"model {model!r} is not in backtest run {backtest.run_id} "
                f"(models: {', '.join(backtest.models)})"
            )
        if model not in trained:
            raise CandidateError(
                f"model {model!r} has no FINISHED train run on data snapshot "
                f"{backtest.data_hash[:12]} (trained: {', '.join(trained) or 'none'})"
            )
        return Candidate(model, trained[model], logged_model_uri(client, trained[model]))
    primary = rules.primary_metric
    ranked = []
    for name in backtest.models:
        value = backtest.scores(name).get(primary.value, np.nan)
        if (
            name in trained
            and name not in benchmarks
            and rules.eligible_models.allows(name)
            and np.isfinite(value)
        ):
            ranked.append((value if primary.lower_is_better else -value, name))
    if not ranked:
        raise CandidateError(
            f"no candidate in backtest run {backtest.run_id}: its models "
            f"({', '.join(backtest.models)}) and the models trained on the same data snapshot "
            f"({', '.join(trained) or 'none'}) share no eligible model"
        )
    name = min(ranked)[1]
    return Candidate(name, trained[name], logged_model_uri(client, trained[name]))


def load_predictions(client: mlflow.MlflowClient, backtest: Backtest) -> pd.DataFrame:
    """The backtest's per-match predictions (``backtest/predictions.parquet``)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(backtest.run_id, "backtest/predictions.parquet", folder)
        except (MlflowException, OSError) as err:
            raise CandidateError(
                f"backtest run {backtest.run_id} has no backtest/predictions.parquet artifact: {err}"
            ) from None
        return pd.read_parquet(Path(path))
