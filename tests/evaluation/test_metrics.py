import math

import numpy as np
import pytest

from scoreline.evaluation.metrics import (
    BootstrapDifference,
    accuracy,
    binary_brier,
    bootstrap_difference,
    brier,
    calibration_slope_intercept,
    expected_calibration_error,
    log_loss,
    reliability_table,
    rps,
    summarise,
)

HOME, DRAW, AWAY = 0, 1, 2
PROBS = np.array([[1.0, 0.0, 0.0], [0.5, 0.3, 0.2], [0.2, 0.5, 0.3]])
OUTCOME = np.array([HOME, AWAY, DRAW])


def test_rps_hand_computed():
    # [0.2,0.5,0.3] on a draw: cumulative gaps 0.2 and 0.7 - 1 = -0.3
    np.testing.assert_allclose(rps(PROBS, OUTCOME), [0.0, (0.5**2 + 0.8**2) / 2, (0.04 + 0.09) / 2])


def test_rps_rewards_near_misses_by_order():
    # Same probability on the observed away win, but the miss sits on the draw vs the home win.
    near, far = rps(np.array([[0.0, 0.6, 0.4], [0.6, 0.0, 0.4]]), np.array([AWAY, AWAY]))
    assert near < far


def test_rps_two_way_is_binary_brier():
    p = np.array([0.7, 0.2])
    two_way = np.column_stack([p, 1 - p])
    np.testing.assert_allclose(rps(two_way, np.array([0, 1])), [0.09, 0.04])
    np.testing.assert_allclose(rps(two_way, np.array([0, 1])), binary_brier(p, np.array([1, 0])))


def test_log_loss_is_natural_log_and_clipped():
    np.testing.assert_allclose(log_loss(PROBS, OUTCOME), [0.0, -math.log(0.2), -math.log(0.5)])
    assert log_loss(np.array([[1.0, 0.0]]), np.array([1]))[0] == pytest.approx(-math.log(1e-15))


def test_brier_sums_over_classes():
    np.testing.assert_allclose(brier(PROBS, OUTCOME), [0.0, 0.25 + 0.09 + 0.64, 0.04 + 0.25 + 0.09])


def test_brier_of_base_rates_is_about_064():
    base = np.array([0.45, 0.27, 0.28])
    outcome = np.repeat([HOME, DRAW, AWAY], [45, 27, 28])
    assert brier(np.tile(base, (100, 1)), outcome).mean() == pytest.approx(1 - (base**2).sum())
    assert brier(np.tile(base, (100, 1)), outcome).mean() == pytest.approx(0.646, abs=1e-3)


def test_binary_brier_is_half_the_two_way_brier():
    p, y = np.array([0.8, 0.3, 0.5]), np.array([1, 1, 0])
    np.testing.assert_allclose(binary_brier(p, y), [0.04, 0.49, 0.25])
    np.testing.assert_allclose(brier(np.column_stack([p, 1 - p]), 1 - y), 2 * binary_brier(p, y))


def test_accuracy_takes_argmax():
    np.testing.assert_array_equal(accuracy(PROBS, OUTCOME), [1.0, 0.0, 1.0])


def test_summarise_means():
    summary = summarise(PROBS, OUTCOME)
    assert summary["rps"] == pytest.approx(rps(PROBS, OUTCOME).mean())
    assert summary["log_loss"] == pytest.approx((-math.log(0.2) - math.log(0.5)) / 3)
    assert summary["brier"] == pytest.approx((0.98 + 0.38) / 3)
    assert summary["accuracy"] == pytest.approx(2 / 3)
    assert summary["n"] == 3


@pytest.mark.parametrize(
    ("probs", "outcome", "message"),
    [
        (PROBS, np.array([0, 1]), "shape"),
        (PROBS[0], np.array([0]), "shape"),
        (np.array([[0.5, 0.3, 0.3]]), np.array([0]), "sum to 1"),
        (np.array([[0.5, 0.5 + 2e-6, -2e-6]]), np.array([0]), r"\[0, 1\]"),
        (np.array([[0.5, 0.5, np.nan]]), np.array([0]), r"\[0, 1\]"),
        (PROBS, np.array([0, 1, 3]), "out of range"),
        (PROBS, np.array([0, -1, 2]), "out of range"),
        (PROBS, np.array([0.0, 1.0, 2.0]), "integer"),
    ],
)
@pytest.mark.parametrize("score", [rps, log_loss, brier, accuracy])
def test_invalid_forecasts_raise(score, probs, outcome, message):
    with pytest.raises(ValueError, match=message):
        score(probs, outcome)


def test_sum_tolerance_is_1e6():
    rps(np.array([[0.5, 0.3, 0.2 + 5e-7]]), np.array([0]))
    with pytest.raises(ValueError, match="sum to 1"):
        rps(np.array([[0.5, 0.3, 0.2 + 5e-6]]), np.array([0]))


def _calibrated_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, n)
    return p, (rng.uniform(size=n) < p).astype(int)


def test_ece_near_zero_when_calibrated_and_large_when_not():
    p, y = _calibrated_sample(200_000, seed=1)
    assert expected_calibration_error(p, y) < 0.01
    assert expected_calibration_error(np.clip(p + 0.1, 0, 1), y) > 0.08


def test_ece_hand_computed():
    # bin 0: p 0.05, 0.05 with y 0, 1 -> gap 0.45; bin 9: p 0.95, 1.0 with y 1, 1 -> gap 0.025
    p, y = np.array([0.05, 0.05, 0.95, 1.0]), np.array([0, 1, 1, 1])
    assert expected_calibration_error(p, y) == pytest.approx((2 * 0.45 + 2 * 0.025) / 4)


def test_reliability_table_bins():
    p, y = np.array([0.05, 0.05, 0.95, 1.0]), np.array([0, 1, 1, 1])
    table = reliability_table(p, y, n_bins=10)
    assert list(table.columns) == ["bin", "mean_predicted", "observed_rate", "count"]
    assert table["bin"].tolist() == [0, 9]  # p = 1.0 falls in the last bin; empty bins dropped
    np.testing.assert_allclose(table["mean_predicted"], [0.05, 0.975])
    np.testing.assert_allclose(table["observed_rate"], [0.5, 1.0])
    assert table["count"].tolist() == [2, 2]


def test_calibration_slope_intercept_identity_when_calibrated():
    p, y = _calibrated_sample(100_000, seed=2)
    slope, intercept = calibration_slope_intercept(p, y)
    assert slope == pytest.approx(1.0, abs=0.03)
    assert intercept == pytest.approx(0.0, abs=0.03)


def test_calibration_slope_recovers_overconfidence():
    # True logit is half the forecast logit: the forecasts are twice as extreme as they should be.
    rng = np.random.default_rng(3)
    z = rng.normal(0.3, 1.5, 100_000)
    y = (rng.uniform(size=z.size) < 1 / (1 + np.exp(-(0.5 * z - 0.2)))).astype(int)
    slope, intercept = calibration_slope_intercept(1 / (1 + np.exp(-z)), y)
    assert slope == pytest.approx(0.5, abs=0.03)
    assert intercept == pytest.approx(-0.2, abs=0.03)


def test_calibration_needs_both_classes():
    with pytest.raises(ValueError, match="both 0 and 1"):
        calibration_slope_intercept(np.array([0.2, 0.7]), np.array([1, 1]))


@pytest.mark.parametrize(
    ("p", "y", "message"),
    [
        (np.array([0.2, 0.7]), np.array([1]), "equal length"),
        (np.array([0.2, 1.7]), np.array([0, 1]), r"\[0, 1\]"),
        (np.array([0.2, 0.7]), np.array([0, 2]), "binary"),
    ],
)
@pytest.mark.parametrize("score", [binary_brier, expected_calibration_error, reliability_table])
def test_invalid_binary_inputs_raise(score, p, y, message):
    with pytest.raises(ValueError, match=message):
        score(p, y)


def test_bootstrap_ci_contains_true_difference():
    rng = np.random.default_rng(4)
    common = rng.gamma(2.0, 0.1, 5_000)  # shared match difficulty: the reason to pair
    loss_a = common + rng.normal(0.01, 0.02, common.size)
    result = bootstrap_difference(loss_a, common, n_boot=1000)
    assert isinstance(result, BootstrapDifference)
    assert result.n == 5_000
    assert result.lower < 0.01 < result.upper
    assert result.lower > 0  # pairing removes the shared noise, so 0.01 is clearly resolved
    assert result.lower < result.mean_difference < result.upper


def test_bootstrap_coverage_is_near_95_percent():
    rng = np.random.default_rng(5)
    hits = 0
    for seed in range(200):
        d = rng.normal(0.05, 1.0, 400)
        r = bootstrap_difference(d, np.zeros_like(d), n_boot=400, seed=seed)
        hits += r.lower < 0.05 < r.upper
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_is_reproducible_by_seed():
    d = np.random.default_rng(6).normal(size=300)
    zero = np.zeros_like(d)
    assert bootstrap_difference(d, zero, seed=1) == bootstrap_difference(d, zero, seed=1)
    assert bootstrap_difference(d, zero, seed=1) != bootstrap_difference(d, zero, seed=2)


def test_block_bootstrap_widens_interval_for_autocorrelated_losses():
    rng = np.random.default_rng(7)
    d = np.empty(4_000)
    d[0] = 0.0
    for t in range(1, d.size):  # AR(1) with rho = 0.9: iid resampling understates the spread
        d[t] = 0.9 * d[t - 1] + rng.normal()
    zero = np.zeros_like(d)
    iid = bootstrap_difference(d, zero, n_boot=500)
    blocked = bootstrap_difference(d, zero, n_boot=500, block=100)
    assert (blocked.upper - blocked.lower) > 2.5 * (iid.upper - iid.lower)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "message"),
    [
        (np.ones(5), np.ones(4), {}, "equal length"),
        (np.ones(1), np.ones(1), {}, "at least 2"),
        (np.array([1.0, np.nan]), np.ones(2), {}, "finite"),
        (np.ones(5), np.ones(5), {"block": 6}, "block"),
        (np.ones(5), np.ones(5), {"block": 0}, "block"),
    ],
)
def test_bootstrap_invalid_inputs_raise(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_difference(a, b, **kwargs)
