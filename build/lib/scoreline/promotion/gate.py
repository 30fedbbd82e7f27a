"""The promotion gate: a candidate's backtest figures against the policy's rules, row by row.

Pure functions over the backtest's metrics and per-match predictions; no registry access. Each
rule gives one :class:`GateRow` whose ``margin`` says by how much it passed (positive) or failed
(negative), in the metric's own units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from scoreline.evaluation import metrics as scoring
from scoreline.evaluation.report import per_match_losses
from scoreline.promotion.policy import Improvement, Metric, Rules


@dataclass(frozen=True)
class GateRow:
    rule: str  # eligible | threshold | improvement | loads
    metric: str  # the metric judged ("" for eligibility and loading)
    value: float | None  # the candidate's figure (improvement: candidate minus champion)
    comparison: str  # what it had to satisfy, e.g. "< 1.05"
    margin: float | None  # signed: > 0 passed by that much, <= 0 failed by that much
    passed: bool
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    model: str
    rows: tuple[GateRow, ...]

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def failures(self) -> list[GateRow]:
        return [row for row in self.rows if not row.passed]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(row) for row in self.rows], columns=list(GateRow.__dataclass_fields__))

    def to_dict(self) -> dict:
        return {"model": self.model, "passed": self.passed, "rows": [asdict(row) for row in self.rows]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    def to_text(self) -> str:
        """A fixed-width table for terminals and logs (margin > 0: passed by that much)."""
        frame = self.table()
        for column in ("value", "margin"):
            frame[column] = [_fmt(v) for v in frame[column]]
        frame["passed"] = frame["passed"].map({True: "PASS", False: "FAIL"})
        return frame.rename(columns={"passed": "result"}).to_string(index=False)


def _fmt(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:+.4f}"


@dataclass(frozen=True)
class Champion:
    """The version in service, as far as the gate needs it."""

    version: str
    model_name: str
    #: same model name and hyper-parameters as the candidate: the champion's spec retrained
    same_spec: bool


def eligibility_row(rules: Rules, model: str) -> GateRow:
    allowed = rules.eligible_models.allows(model)
    patterns = ", ".join(rules.eligible_models.exclude) or "none"
    return GateRow(
        "eligible",
        "",
        None,
        f"not in {patterns}",
        None,
        allowed,
        ""
        if allowed
        else f"{model} is excluded by eligible_models (needs prices the service does not receive)",
    )


def threshold_rows(rules: Rules, scores: dict[str, float]) -> list[GateRow]:
    """One row per absolute threshold; ``scores``: the candidate's backtest metrics by name."""
    rows = []
    for metric, bound in rules.thresholds.items():
        value = scores.get(metric.value)
        if value is None or not np.isfinite(value):
            rows.append(
                GateRow(
                    "threshold",
                    metric.value,
                    None,
                    str(bound),
                    None,
                    False,
                    f"{metric.value} missing from the backtest",
                )
            )
            continue
        margin = bound.margin(value)
        rows.append(GateRow("threshold", metric.value, value, str(bound), margin, margin > 0))
    return rows


def paired_losses(
    predictions: pd.DataFrame, outcomes: tuple[str, ...], a: str, b: str, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Per-match ``metric`` of models ``a`` and ``b`` on the matches both forecast (with a
    scorable outcome), in the order of ``predictions``."""
    outcome = predictions["outcome"].to_numpy(dtype=int)
    probs = {m: predictions[[f"{m}_{o}" for o in outcomes]].to_numpy(dtype=float) for m in (a, b)}
    mask = (outcome >= 0) & np.isfinite(probs[a]).all(axis=1) & np.isfinite(probs[b]).all(axis=1)
    losses = [
        per_match_losses(p[mask] / p[mask].sum(axis=1, keepdims=True), outcome[mask]) for p in probs.values()
    ]
    return losses[0][metric.value], losses[1][metric.value]


def improvement_row(
    rule: Improvement,
    predictions: pd.DataFrame,
    outcomes: tuple[str, ...],
    candidate: str,
    champion: Champion | None,
    backtest_run_id: str,
) -> GateRow:
    """The candidate against the champion's model on the same backtest matches."""
    metric = rule.metric.value
    if champion is None:
        return GateRow("improvement", metric, None, "over the champion", None, True, "no champion")
    against = f"champion v{champion.version} ({champion.model_name})"
    if champion.same_spec:
        return GateRow(
            "improvement",
            metric,
            None,
            f"refresh of {against}",
            None,
            True,
            "refresh: the champion's model and hyper-parameters retrained on newer data",
        )
    if not all(f"{champion.model_name}_{o}" in predictions for o in outcomes):
        return GateRow(
            "improvement",
            metric,
            None,
            f"better than {against}",
            None,
            False,
            f"champion model {champion.model_name} not evaluated in backtest run "
            f"{backtest_run_id}: rerun the backtest with --models "
            f"{champion.model_name},{candidate}",
        )
    mine, theirs = paired_losses(predictions, outcomes, candidate, champion.model_name, rule.metric)
    if len(mine) < 2:
        return GateRow(
            "improvement",
            metric,
            None,
            f"better than {against}",
            None,
            False,
            f"fewer than 2 matches forecast by both {candidate} and {champion.model_name}",
        )
    difference = float(np.mean(mine - theirs))
    if rule.mode == "delta":
        margin = -difference - rule.min_delta
        return GateRow(
            "improvement",
            metric,
            difference,
            f"<= -{rule.min_delta:g} vs {against}",
            margin,
            margin >= 0,
            f"{len(mine)} matches",
        )
    diff = scoring.bootstrap_difference(mine, theirs, n_boot=rule.n_boot)
    return GateRow(
        "improvement",
        metric,
        difference,
        f"95% upper < 0 vs {against}",
        -diff.upper,
        diff.upper < 0,
        f"{len(mine)} matches, 95% CI [{diff.lower:+.4f}, {diff.upper:+.4f}]",
    )


def evaluate(
    rules: Rules,
    model: str,
    scores: dict[str, float],
    predictions: pd.DataFrame,
    outcomes: tuple[str, ...],
    champion: Champion | None,
    backtest_run_id: str,
    load_error: str | None = None,
) -> GateResult:
    """Every rule of ``rules`` for candidate ``model``.

    ``scores``: its backtest metrics (``rps``, ``log_loss``, ...); ``predictions``: the
    backtest's per-match probabilities (``{model}_{outcome}`` columns and ``outcome``);
    ``load_error``: why the logged model failed to load and forecast, if it did.
    """
    rows = [
        eligibility_row(rules, model),
        GateRow(
            "loads", "", None, "loads and forecasts fixtures", None, load_error is None, load_error or ""
        ),
        *threshold_rows(rules, scores),
        improvement_row(rules.improvement, predictions, outcomes, model, champion, backtest_run_id),
    ]
    return GateResult(model, tuple(rows))
