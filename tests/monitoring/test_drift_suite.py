"""The Evidently report's Tests tab agrees with the monitoring verdict: one critical test that is
the verdict's rule (share of drifted features <= limit), a warning (never a FAIL) per drifted
feature, for p-value tests (K-S) and distances (Wasserstein) alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.monitoring.drift import data_drift

SHIFTED = ["f0", "f1", "f2"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({f"f{i}": rng.normal(size=800) for i in range(10)})
    current = pd.DataFrame(
        {f"f{i}": rng.normal(loc=0.8 if f"f{i}" in SHIFTED else 0.0, size=300) for i in range(10)}
    )
    return reference, current


def _statuses(drift) -> list[tuple[str, str]]:
    return [
        (t["metric_config"]["params"]["type"].rsplit(":", 1)[-1], getattr(t["status"], "value", t["status"]))
        for t in drift.snapshot.dict()["tests"]
    ]


@pytest.mark.parametrize(("method", "threshold"), [(None, None), ("wasserstein", 0.3)])
def test_drifted_features_warn_and_the_verdict_passes_under_the_limit(frames, method, threshold):
    drift = data_drift(*frames, drift_share=0.4, method=method, threshold=threshold)
    assert drift.drifted == SHIFTED and drift.share == pytest.approx(0.3)
    statuses = _statuses(drift)
    assert statuses[0] == ("DriftedColumnsCount", "SUCCESS")  # the verdict comes first
    per_feature = [s for kind, s in statuses[1:] if kind == "ValueDrift"]
    assert per_feature.count("WARNING") == 3 and per_feature.count("SUCCESS") == 7
    assert "FAIL" not in {s for _, s in statuses}
    page = drift.snapshot.get_html_str(as_iframe=False)
    assert "drift verdict (alert above 0.40)" in page


def test_the_verdict_fails_only_above_the_limit(frames):
    at_limit = data_drift(*frames, drift_share=0.3)  # the monitor alerts when share > limit
    assert [s for _, s in _statuses(at_limit)].count("FAIL") == 0
    above = data_drift(*frames, drift_share=0.2)
    assert [s for _, s in _statuses(above)].count("FAIL") == 1
    assert _statuses(above)[0] == ("DriftedColumnsCount", "FAIL")
