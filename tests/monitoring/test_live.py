"""The monitor's live coverage: the latest games' halftime intervals against their nominal
coverage, alerting when they hold too few."""

from __future__ import annotations

import pandas as pd

from scoreline.monitoring.live import live_alerts, live_coverage
from scoreline.monitoring.policy import MonitoringPolicy


def scores(covered: list[bool], nominal: float = 0.95) -> pd.DataFrame:
    n = len(covered)
    return pd.DataFrame(
        {
            "halftime": [1.0] * n,
            "actual_halftime": [2.0] * n,
            "halftime_error": [-1.0] * n,
            "halftime_coverage": [nominal] * n,
            "covered": covered,
        }
    )


def test_coverage_is_judged_on_the_latest_window_of_games():
    # 60 old games all held, the latest 40 only half
    frame = scores([True] * 60 + [True, False] * 20)
    policy = MonitoringPolicy(live_coverage_window=40, live_min_games=30)
    coverage = live_coverage(frame, policy.live_coverage_window)
    assert coverage == {"0.95": {"n": 40, "nominal": 0.95, "coverage": 0.5, "mae": 1.0}}
    (alert,) = live_alerts("NBA", coverage, policy)
    assert alert.startswith("ALERT: NBA live halftime 95% intervals held 50.0% of the last 40 games")
    # the whole history: 80 % held, still 15 points under 95 %
    assert live_alerts("NBA", live_coverage(frame, 100), policy)


def test_no_alert_within_ten_points_or_on_too_few_games():
    policy = MonitoringPolicy(live_min_games=30)
    assert live_alerts("NBA", live_coverage(scores([True] * 86 + [False] * 14), 100), policy) == []  # 86 %
    assert live_alerts("NBA", live_coverage(scores([False] * 20), 100), policy) == []  # 20 games
    assert live_coverage(scores([]), 100) == {}
