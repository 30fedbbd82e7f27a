"""Live quality, alerts and gauges on hand-made settled predictions (two-way intervals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.monitoring.alerts import alerts
from scoreline.monitoring.gauges import gauge_text, write_gauges
from scoreline.monitoring.policy import MonitoringPolicy
from scoreline.monitoring.quality import backtest_figures, live_quality


def _nfl(n: int = 100, radius_80: float = 10.0) -> pd.DataFrame:
    """NFL predictions settled: home wins 24-21 in every match but one 24-24 tie; margins
    forecast at 0 +- radius_80 (80 %) and +- 20 (95 %), totals in [46, 50] (80 %)."""
    home = np.full(n, 24)
    away = np.full(n, 21)
    away[0] = 24  # a tie: no win-probability score, still a margin
    detail = [
        {
            "margin_lower_80": -radius_80,
            "margin_upper_80": radius_80,
            "margin_lower_95": -20.0,
            "margin_upper_95": 20.0,
            "total_lower_80": 46.0,
            "total_upper_80": 50.0,
        }
        for _ in range(n)
    ]
    outcome = np.where(home > away, "home", "tie")
    return pd.DataFrame(
        {
            "prob_home": 0.6,
            "prob_draw": None,
            "prob_away": 0.4,
            "outcome": outcome,
            "home_score": home,
            "away_score": away,
            "detail": detail,
        }
    )


def test_two_way_live_scores_and_interval_coverage():
    live = live_quality(_nfl(), "NFL")
    assert live["n"] == 99  # the tie is not scored
    assert live["brier"] == pytest.approx(0.16) and live["accuracy"] == 1.0
    assert live["coverage"]["margin_80"] == {"level": 0.8, "coverage": 1.0, "n": 100}
    assert live["coverage"]["total_80"]["coverage"] == pytest.approx(0.01)  # only the tie's 48
    narrow = live_quality(_nfl(radius_80=2.0), "NFL")["coverage"]["margin_80"]
    assert narrow["coverage"] == pytest.approx(0.01)  # only the tie (margin 0) is inside +-2


def test_alerts_name_the_breached_thresholds_and_gauges_are_well_formed(tmp_path):
    policy = MonitoringPolicy(min_settled=50)
    live = live_quality(_nfl(radius_80=2.0), "NFL")
    found = alerts("NFL", None, live, {"brier": 0.10, "log_loss": 0.60}, policy)
    assert any("live brier 0.1600" in a and "max 0.03" in a for a in found)
    assert any(a.startswith("ALERT: NFL margin 80% interval covers 1.0%") for a in found)
    assert not any("log_loss" in a for a in found)  # 0.51 is better than 0.60
    assert alerts("NFL", None, live, {"brier": 0.10}, MonitoringPolicy(min_settled=500)) == []
    summary = {
        "competition": "NFL",
        "timestamp": 1.7e9,
        "alerts": found,
        "drift": None,
        "quality": {"live": live, "backtest": {"brier": 0.1}},
    }
    text = gauge_text(summary)
    assert 'scoreline_monitor_alerts{competition="NFL"} ' + repr(float(len(found))) in text
    assert 'scoreline_monitor_interval_coverage{competition="NFL",interval="margin_80"} 0.01' in text
    assert 'scoreline_monitor_drift_share{competition="NFL"} NaN' in text
    for line in text.splitlines():
        assert line.startswith("# ") or len(line.rsplit(" ", 1)) == 2
    path = write_gauges(tmp_path / "g" / "scoreline_monitor.prom", text)
    assert path.read_text() == text and [p.name for p in path.parent.iterdir()] == [path.name]


def test_backtest_figures_read_promotion_tags():
    tags = {
        "backtest.log_loss": "np.float64(0.9712)",
        "backtest.brier": "0.58",
        "backtest.n": "4180",
        "market.log_loss": "0.95",
        "backtest.bad": "n/a",
        "backtest.ece": "nan",
    }
    assert backtest_figures(tags) == {"log_loss": 0.9712, "brier": 0.58, "n": 4180.0}
