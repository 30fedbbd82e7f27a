"""The half-time model: the second-half spread's sign is recovered where it can be, and on real
NBA games (train < 2021-22, test 2021-22 on) it beats the half-time baseline with intervals
that cover near their nominal rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr

from scoreline.data.store import MatchStore
from scoreline.models.conformal import coverage_table
from scoreline.models.halftime import H2LineMap, HalftimeModel, halftime_baseline, halftime_features


def simulated_halftimes(seed: int = 5, n: int = 4000) -> tuple[pd.DataFrame, np.ndarray]:
    """Games whose posted second-half line is 0.6 * pre-game margin - 0.3 * half-time margin
    (rounded to half points, sign dropped); returns the frame and the true signed line."""
    rng = np.random.default_rng(seed)
    spread = np.round(rng.normal(-2, 6, n) * 2) / 2
    home_ht = rng.integers(40, 70, n)
    away_ht = np.clip(home_ht + np.round(spread / 2 + rng.normal(0, 8, n)).astype(int), 30, 80)
    signed = np.round((0.6 * -spread - 0.3 * (home_ht - away_ht) + rng.normal(0, 0.5, n)) * 2) / 2
    frame = pd.DataFrame(
        {
            "date": pd.Timestamp("2015-01-01") + pd.to_timedelta(np.arange(n) // 8, unit="D"),
            "home_ht_score": home_ht,
            "away_ht_score": away_ht,
            "spread_home": spread,
            "total_line": 210.0,
            "h2_spread_unsigned": np.abs(signed),
            "h2_total_line": 105.0,
        }
    )
    return frame, signed


def test_second_half_spread_sign_is_recovered_where_decided():
    frame, truth = simulated_halftimes()
    line_map = H2LineMap.fit(frame)
    a, b, _ = line_map.spread_coef
    assert a == pytest.approx(0.6, abs=0.05) and b == pytest.approx(-0.3, abs=0.05)
    signed, known = line_map.signed_h2_spread(frame)
    assert known.mean() > 0.8
    assert np.mean(signed[known] == truth[known]) > 0.99
    assert np.isnan(signed[~known]).all()
    news = halftime_features(frame, line_map)["h2_spread_news"]
    assert (news[~known] == 0).all()  # an undecided sign carries no news


def test_baseline_adds_half_the_pregame_expectation():
    frame = pd.DataFrame(
        {"home_ht_score": [50], "away_ht_score": [45], "spread_home": [-6.0], "total_line": [220.0]}
    )
    margin, total = halftime_baseline(frame)
    assert margin[0] == 8.0 and total[0] == 205.0


@pytest.mark.realdata
def test_beats_baseline_on_real_nba_with_calibrated_intervals(real_ingest):
    _, settings = real_ingest
    nba = MatchStore(settings.store_dir).results("NBA")
    train, test = nba.loc[nba["season"] < 2021], nba.loc[nba["season"] >= 2021]
    forecast = HalftimeModel().fit(train).predict_final(test)
    base_margin, base_total = halftime_baseline(test)
    margin = (test["home_score"] - test["away_score"]).to_numpy(float)
    total = (test["home_score"] + test["away_score"]).to_numpy(float)
    ok = np.isfinite(base_margin) & np.isfinite(forecast.margin)
    assert ok.sum() > 3900

    def mae(y, yhat):
        return float(np.mean(np.abs(y - yhat)[ok]))

    # measured: margin 8.33 vs 8.67, total 10.24 vs 10.41 (3,960 games)
    assert mae(margin, forecast.margin) < mae(margin, base_margin) - 0.2
    assert mae(total, forecast.total) < mae(total, base_total) - 0.08
    home_win = (margin > 0)[ok]
    brier = np.mean((forecast.home_win()[ok] - home_win) ** 2)
    base_brier = np.mean((ndtr(base_margin / forecast.margin_sd)[ok] - home_win) ** 2)
    assert brier < base_brier - 0.003  # measured 0.165 vs 0.169

    for target, y in (("margin", margin), ("total", total)):
        prefix = f"{target}_"
        intervals = forecast.intervals.filter(like=prefix).rename(columns=lambda c, n=len(prefix): c[n:])
        table = coverage_table(intervals.assign(y=y).loc[ok], (0.8, 0.95))
        assert abs(table.loc[0.8, "coverage"] - 0.8) < 0.03, (target, table)
        assert abs(table.loc[0.95, "coverage"] - 0.95) < 0.02, (target, table)
