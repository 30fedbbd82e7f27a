"""The promote step: choose a candidate, gate it, register it, write its card, move the alias.

Every evaluated candidate becomes a registered version (tag ``gate=passed|failed`` with the gate
table), so the registry is the audit trail; only a passing one becomes ``champion``. Reading the
champion, gating against it, registering and moving the aliases happen under the competition's
promotion lock: a concurrent promotion is judged against the champion this one leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from scoreline.config import Settings, competition
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY
from scoreline.promotion import candidates
from scoreline.promotion.card import latest_staking_verdicts, model_card
from scoreline.promotion.gate import Champion, GateResult, evaluate
from scoreline.promotion.policy import Policy, PolicyError, load_policy
from scoreline.promotion.registry import (
    PREVIOUS,
    champion_version,
    promotion_lock,
    register_model,
    registered_model_name,
    registry_client,
    set_champion,
)
from scoreline.tracking.experiments import step_run
from scoreline.tracking.packaging import example_fixtures


@dataclass(frozen=True)
class PromotionResult:
    competition: str
    registered_model: str
    version: str  # the version registered for the candidate
    model_name: str
    gate: GateResult
    promoted: bool
    champion: str | None  # versions the aliases name afterwards
    previous: str | None
    run_id: str  # the promote run holding the card and the gate table
    backtest_run_id: str
    train_run_id: str
    card: str
    #: the champion's version (and model) when the candidate was judged; None: there was none
    champion_before: str | None = None
    champion_before_model: str | None = None

    def to_dict(self) -> dict:
        return {
            "competition": self.competition,
            "registered_model": self.registered_model,
            "version": self.version,
            "model_name": self.model_name,
            "promoted": self.promoted,
            "champion": self.champion,
            "previous": self.previous,
            "run_id": self.run_id,
            "backtest_run_id": self.backtest_run_id,
            "train_run_id": self.train_run_id,
            "champion_before": self.champion_before,
            "champion_before_model": self.champion_before_model,
            "gate": self.gate.to_dict(),
        }


def find_policy(settings: Settings) -> Path:
    """``policy.yaml`` of the registry folder, else of the workspace's ``registry/`` (a
    registry folder moved elsewhere keeps the workspace's policy)."""
    for path in (settings.registry_path / "policy.yaml", settings.home / "registry" / "policy.yaml"):
        if path.is_file():
            return path
    raise PolicyError(f"no promotion policy: expected {settings.registry_path / 'policy.yaml'}")


def _champion(
    client: mlflow.MlflowClient, current: ModelVersion | None, candidate: candidates.Candidate
) -> Champion | None:
    if current is None:
        return None
    model = current.tags.get("model_name", "unknown")
    same = False
    if model == candidate.model_name:
        try:
            run = client.get_run(current.tags.get("train_run_id") or str(current.run_id))
            same = {
                k: v for k, v in run.data.params.items() if k.startswith("model.")
            } == candidate.hyper_parameters
        except MlflowException:  # the champion's train run was deleted: not provably the same
            same = False
    return Champion(str(current.version), model, same)


def check_loads(
    client: mlflow.MlflowClient,
    candidate: candidates.Candidate,
) -> tuple[str | None, dict[str, str]]:
    """(why the logged model fails to load and forecast or None, its training history summary).

    Loads what the service would load and forecasts fixtures built from its own history."""
    try:
        location = client.get_logged_model(candidate.model_uri.removeprefix("models:/")).artifact_location
        model = mlflow.pyfunc.load_model(location)
        history = model.unwrap_python_model().history
        forecast = model.predict(example_fixtures(history)).to_numpy(dtype=float)
        if not (np.isfinite(forecast).all() and np.allclose(forecast.sum(axis=1), 1.0, atol=1e-6)):
            return f"forecasts are not probabilities: {forecast.tolist()}", {}
    except Exception as err:  # any failure here is a model the service could not serve
        return f"{type(err).__name__}: {err}", {}
    return None, {
        "rows": str(len(history)),
        "first_date": str(history["date"].min().date()),
        "last_date": str(history["date"].max().date()),
    }


def _version_tags(
    code: str, candidate: candidates.Candidate, backtest: candidates.Backtest, gate: GateResult, run_id: str
) -> dict[str, str]:
    train = candidate.train_run.data.tags
    window = backtest.window()
    return {
        "model_name": candidate.model_name,
        "competition": code,
        **{f"backtest.{k}": repr(v) for k, v in backtest.scores(candidate.model_name).items()},
        **{f"market.{k}": repr(v) for k, v in backtest.scores(backtest.reference).items()},
        "market_reference": backtest.reference,
        "data_content_hash": train.get("data_content_hash", ""),
        "data_snapshot": train.get("data_snapshot", ""),
        "git_commit": train.get("git_commit", "unknown"),
        "backtest_run_id": backtest.run_id,
        "train_run_id": candidate.train_run.info.run_id,
        "backtest_first_season": window["first_season"],
        "backtest_last_season": window["last_season"],
        "backtest_matches": window["matches"],
        "gate": "passed" if gate.passed else "failed",
        "gate_table": gate.to_json(),
        "promote_run_id": run_id,
        "model_card": f"runs:/{run_id}/model_card.md",
        # MLflow's SQL store leaves a version's user empty: say which job made it
        "created_by": f"scoreline promote (run {run_id})",
    }


def _log_gate(gate: GateResult, card: str) -> None:
    metrics = {"gate_passed": float(gate.passed)}
    for row in gate.rows:
        key = f"gate.{row.rule}" + (f".{row.metric}" if row.metric else "")
        metrics[f"{key}.passed"] = float(row.passed)
        if row.value is not None:
            metrics[f"{key}.value"] = row.value
        if row.margin is not None:
            metrics[f"{key}.margin"] = row.margin
    mlflow.log_metrics(metrics)
    mlflow.log_table(gate.table(), "gate_table.json")
    mlflow.log_text(gate.to_text(), "gate_table.txt")
    mlflow.log_text(card, "model_card.md")


def promote(
    settings: Settings,
    code: str,
    model: str | None = None,
    backtest_run_id: str | None = None,
    parent_run_id: str = "",
    policy: Policy | None = None,
) -> PromotionResult:
    """Gate the best eligible candidate of a backtest (or ``model``) and promote it if it passes.

    The backtest is ``backtest_run_id``, else the latest FINISHED backtest of ``code`` (of the
    pipeline run ``parent_run_id`` when given). A failing gate is a result, not an error: the
    version is registered with ``gate=failed`` and the aliases are untouched. Raises
    :class:`~scoreline.promotion.candidates.CandidateError` or
    :class:`~scoreline.promotion.policy.PolicyError` when there is nothing valid to judge.
    """
    comp = competition(code)
    rules = (policy or load_policy(find_policy(settings))).rules(code)
    client = registry_client(settings)
    backtest = candidates.find_backtest(client, code, backtest_run_id, parent_run_id)
    trained = candidates.trained_models(client, code, backtest, parent_run_id)
    candidate = candidates.choose(client, code, rules, backtest, trained, model)
    predictions = candidates.load_predictions(client, backtest)
    load_error, training = check_loads(client, candidate)
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    name = registered_model_name(code)

    with (
        step_run(parent_run_id, "promote", code, settings, detail=candidate.model_name) as run,
        promotion_lock(settings, code),
    ):
        run_id = run.info.run_id
        current = champion_version(settings, code)
        champion = _champion(client, current, candidate)
        gate = evaluate(
            rules,
            candidate.model_name,
            backtest.scores(candidate.model_name),
            predictions,
            outcomes,
            champion,
            backtest.run_id,
            load_error,
        )
        mlflow.log_params(
            {
                "candidate": candidate.model_name,
                "backtest_run_id": backtest.run_id,
                "train_run_id": candidate.train_run.info.run_id,
                "champion_before": champion.version if champion else "none",
            }
        )
        failed = ", ".join(f"{r.rule} {r.metric}".strip() for r in gate.failures)
        summary = (
            f"{candidate.model_name} on data snapshot "
            f"{candidate.train_run.data.tags.get('data_snapshot', '?')}; gate "
            f"{'passed' if gate.passed else 'failed: ' + failed}. "
            f"Model card: runs:/{run_id}/model_card.md"
        )
        version = register_model(
            settings,
            code,
            candidate.model_uri,
            _version_tags(code, candidate, backtest, gate, run_id),
            summary,
        )
        number = str(version.version)
        card = model_card(
            code,
            number,
            candidate,
            backtest,
            gate,
            (champion.version, champion.model_name) if champion else None,
            training,
            latest_staking_verdicts(settings, code),
        )
        _log_gate(gate, card)
        mlflow.set_tags(
            {
                "candidate": candidate.model_name,
                "gate": "passed" if gate.passed else "failed",
                "registered_model": name,
                "registered_version": number,
            }
        )
        if gate.passed:
            set_champion(
                settings,
                code,
                number,
                f"gate passed: {candidate.model_name} (promote run {run_id}, backtest run {backtest.run_id})",
            )
        after = champion_version(settings, code)
        previous = champion_version(settings, code, PREVIOUS)
    return PromotionResult(
        code,
        name,
        number,
        candidate.model_name,
        gate,
        gate.passed,
        str(after.version) if after else None,
        str(previous.version) if previous else None,
        run_id,
        backtest.run_id,
        candidate.train_run.info.run_id,
        card,
        champion.version if champion else None,
        champion.model_name if champion else None,
    )
