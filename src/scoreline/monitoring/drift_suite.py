"""Evidently's drift report with a Tests tab that says what the monitoring run decided.

Evidently's ``DataDriftPreset`` marks every drifted feature a red FAIL, so a run whose verdict
is "no drift" (the share of drifted features under the policy's limit) read as failed. Here the
Tests tab holds one critical test that IS the verdict (share of drifted features <= limit, FAIL
= the alert) and one non-critical test per feature (WARNING = that feature drifted), while the
Metrics tab keeps the preset's drift table. Evidently (about 3 s to import) is imported by this
module only, which :func:`scoreline.monitoring.drift.data_drift` imports when it runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.container import MetricContainer
from evidently.legacy.calculations.stattests import get_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics import ValueDrift
from evidently.metrics.column_statistics import DriftedColumnsCount
from evidently.presets import DataDriftPreset
from evidently.tests.numerical_tests import (
    GreaterOrEqualMetricTest,
    LessOrEqualMetricTest,
    LessThanMetricTest,
)

__all__ = ["VerdictDrift", "column_tests", "run_drift_suite"]


def _finite(values: pd.Series) -> pd.Series:
    """The values Evidently's column drift compares (infinities and missing values dropped)."""
    return values.replace([-np.inf, np.inf], np.nan).dropna()


def column_tests(
    reference: pd.DataFrame, current: pd.DataFrame, method: str | None, threshold: float | None
) -> dict[str, dict[str, Any]]:
    """Per column, the stat test Evidently picks (``method``; its own choice by sample size when
    None), its threshold, and whether the score is a p-value (drift below the threshold) or a
    distance (drift at or above it), read off the test's own decision on these data."""
    found = {}
    for column in reference.columns:
        ref, cur = _finite(reference[column]), _finite(current[column])
        test = get_stattest(ref, cur, ColumnType.Numerical, method)
        result = test(ref, cur, ColumnType.Numerical, threshold)
        score, limit, drifted = (
            float(result.drift_score),
            float(result.actual_threshold),
            bool(result.drifted),
        )
        p_value = (not drifted) if score == limit else drifted == (score < limit)
        found[column] = {
            "method": test.name,
            "label": test.display_name,
            "threshold": limit,
            "p_value": p_value,
        }
    return found


class VerdictDrift(MetricContainer):
    """Drift of ``columns`` whose tests are the verdict (critical) and one warning per feature."""

    columns: list[str]
    drift_share: float
    per_column: dict[str, dict[str, Any]]

    def _methods(self) -> dict[str, Any]:
        return {
            "per_column_method": {c: t["method"] for c, t in self.per_column.items()},
            "per_column_threshold": {c: t["threshold"] for c, t in self.per_column.items()},
        }

    def generate_metrics(self, context: Any) -> list[Any]:
        verdict = LessOrEqualMetricTest(
            threshold=self.drift_share, alias=f"drift verdict (alert above {self.drift_share:.2f})"
        )
        metrics: list[Any] = [
            DriftedColumnsCount(
                columns=self.columns,
                drift_share=self.drift_share,
                tests=[],
                share_tests=[verdict],
                **self._methods(),
            )
        ]
        for column, test in self.per_column.items():
            # the feature passes when its score is on the no-drift side of the threshold
            kind = GreaterOrEqualMetricTest if test["p_value"] else LessThanMetricTest
            check = kind(threshold=test["threshold"], is_critical=False, alias=f"{column}, {test['label']}")
            metrics.append(
                ValueDrift(column=column, method=test["method"], threshold=test["threshold"], tests=[check])
            )
        return metrics

    def render(self, context: Any, child_widgets: Any = None) -> list[Any]:
        preset = DataDriftPreset(columns=self.columns, drift_share=self.drift_share, **self._methods())
        return preset.render(context, child_widgets)


def run_drift_suite(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    drift_share: float,
    method: str | None = None,
    threshold: float | None = None,
) -> tuple[Any, dict[str, dict[str, Any]], float]:
    """The Evidently snapshot, per feature ``{"score", "method", "threshold", "drifted"}``, and
    the share of drifted features (numeric frames with the same columns)."""
    tests = column_tests(reference, current, method, threshold)
    columns = list(reference.columns)
    definition = DataDefinition(numerical_columns=columns)
    snapshot = Report(
        [VerdictDrift(columns=columns, drift_share=drift_share, per_column=tests)], include_tests=True
    ).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    features: dict[str, dict[str, Any]] = {}
    share = float("nan")
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith(":ValueDrift"):
            features[config["column"]] = {"score": float(metric["value"])}
        elif config.get("type", "").endswith(":DriftedColumnsCount"):
            share = float(metric["value"]["share"])
    verdict = None
    for test in result["tests"]:
        params = test["metric_config"]["params"]
        if params.get("type", "").endswith(":ValueDrift") and params["column"] in features:
            features[params["column"]].update(
                method=params.get("method"),
                threshold=params.get("threshold"),
                drifted=test["status"] != "SUCCESS",
            )
        elif params.get("type", "").endswith(":DriftedColumnsCount"):
            verdict = test["status"]
    missing = [c for c in columns if "drifted" not in features.get(c, {})]
    if missing or verdict is None:
        raise RuntimeError(f"Evidently returned no drift test for {missing or 'the verdict'}")
    ours = sum(f["drifted"] for f in features.values()) / len(features)
    if abs(ours - share) > 1e-9 or (verdict == "SUCCESS") != (share <= drift_share):
        raise RuntimeError(
            f"Evidently's drift tests disagree: {ours:.3f} of features warned, "
            f"share {share:.3f}, verdict {verdict}"
        )
    return snapshot, features, share
