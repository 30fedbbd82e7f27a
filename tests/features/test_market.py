import numpy as np
import penaltyblog as pb
import pytest

from scoreline.features.market import (
    DevigMethod,
    ImpliedProbabilities,
    implied_probabilities,
    overround,
    spread_win_probability,
)


def realistic_1x2_odds(n: int, seed: int) -> np.ndarray:
    """Decimal home/draw/away odds rounded to 2 dp, booksums between about 1.02 and 1.12."""
    rng = np.random.default_rng(seed)
    home = rng.uniform(0.12, 0.80, n)
    draw = np.clip(0.30 - 0.3 * np.abs(home - 0.4), 0.12, 0.30)
    probs = np.column_stack([home, draw, np.maximum(1 - home - draw, 0.04)])
    probs /= probs.sum(axis=1, keepdims=True)
    return np.round(1 / (probs * rng.uniform(1.02, 1.12, (n, 1))), 2)


PB_PARAMETER = {DevigMethod.POWER: "k", DevigMethod.SHIN: "z", DevigMethod.ODDS_RATIO: "c"}


@pytest.mark.parametrize("method", list(DevigMethod))
def test_matches_penaltyblog(method):
    odds = realistic_1x2_odds(300, seed=0)
    ours = implied_probabilities(odds, method)
    # penaltyblog is per row; our enum values are its method names.
    theirs = [pb.implied.calculate_implied(row.tolist(), method=method.value) for row in odds]
    expected = [t.probabilities for t in theirs]
    np.testing.assert_allclose(ours.probabilities, expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.overround - 1, [t.margin for t in theirs], atol=1e-12)
    if method in PB_PARAMETER:
        expected = [t.method_params[PB_PARAMETER[method]] for t in theirs]
        np.testing.assert_allclose(ours.extra, expected, atol=1e-6, rtol=0)
    else:
        assert ours.extra is None


def test_multiplicative_hand_computed():
    result = implied_probabilities(np.array([[1.9, 1.9], [2.0, 4.0]]), DevigMethod.MULTIPLICATIVE)
    assert isinstance(result, ImpliedProbabilities)
    assert result.method is DevigMethod.MULTIPLICATIVE
    np.testing.assert_allclose(result.probabilities, [[0.5, 0.5], [2 / 3, 1 / 3]])
    np.testing.assert_allclose(result.overround, [2 / 1.9, 0.75])


@pytest.mark.parametrize("method", [DevigMethod.POWER, DevigMethod.SHIN, DevigMethod.ODDS_RATIO])
def test_fair_book_is_left_alone(method):
    # Booksum exactly 1: power exponent 1, Shin z 0, odds ratio 1, probabilities 1/odds.
    result = implied_probabilities(np.array([[2.0, 4.0, 4.0]]), method)
    np.testing.assert_allclose(result.probabilities, [[0.5, 0.25, 0.25]], atol=1e-12)
    identity = 0.0 if method is DevigMethod.SHIN else 1.0
    np.testing.assert_allclose(result.extra, [identity], atol=1e-12)


@pytest.mark.parametrize("method", list(DevigMethod))
def test_rows_sum_to_one(method):
    probs = implied_probabilities(realistic_1x2_odds(2_000, seed=1), method).probabilities
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    assert np.all((probs > 0) & (probs < 1))


@pytest.mark.parametrize("method", [DevigMethod.POWER, DevigMethod.SHIN, DevigMethod.ODDS_RATIO])
def test_favourite_longshot_bias_shifts_margin_onto_longshots(method):
    # Power and Shin take more margin off the long shot than multiplicative does.
    odds = np.array([[1.40, 4.50, 8.00]])
    flat = implied_probabilities(odds, DevigMethod.MULTIPLICATIVE).probabilities[0]
    shifted = implied_probabilities(odds, method).probabilities[0]
    assert shifted[0] > flat[0]
    assert shifted[2] < flat[2]


@pytest.mark.parametrize("method", list(DevigMethod))
def test_unusable_rows_give_nan_without_raising(method):
    odds = np.array([[2.0, 3.5, 4.0], [np.nan, 3.5, 4.0], [1.0, 3.5, 4.0], [0.0, 3.5, 4.0], [2.1, 3.4, 3.9]])
    result = implied_probabilities(odds, method)
    bad = [False, True, True, True, False]
    assert np.isnan(result.probabilities[bad]).all()
    assert np.isnan(result.overround[bad]).all()
    assert np.isfinite(result.probabilities[~np.array(bad)]).all()
    clean = implied_probabilities(odds[[0, 4]], method).probabilities
    np.testing.assert_allclose(result.probabilities[[0, 4]], clean)
    if result.extra is not None:
        assert np.isnan(result.extra[bad]).all()


def test_additive_takes_the_same_margin_off_every_outcome():
    result = implied_probabilities(np.array([[2.0, 4.0, 4.0 / 1.3]]), DevigMethod.ADDITIVE)
    np.testing.assert_allclose(result.probabilities, [[0.475, 0.225, 0.3]])  # 0.025 off each


def test_shin_handles_an_underround_book():
    # Best prices across books can sum below 1; Shin's z goes negative instead of failing.
    result = implied_probabilities(np.array([[2.1, 2.1]]), DevigMethod.SHIN)
    np.testing.assert_allclose(result.probabilities, [[0.5, 0.5]])
    assert result.extra[0] < 0


@pytest.mark.parametrize("odds", [np.array([2.0, 3.0, 4.0]), np.array([[2.0], [3.0]])])
def test_odds_must_be_a_matrix(odds):
    with pytest.raises(ValueError, match=r"shape \(n, k\)"):
        implied_probabilities(odds, DevigMethod.MULTIPLICATIVE)


def test_overround_is_booksum():
    odds = np.array([[1.9, 1.9], [2.0, 2.0], [np.nan, 2.0]])
    np.testing.assert_allclose(overround(odds), [2 / 1.9, 1.0, np.nan])


def test_spread_win_probability():
    # Home favoured by 3 with sd 13.5: P(N(3, 13.5) > 0) = Phi(3 / 13.5) = 0.58793.
    spreads = np.array([-3.0, 0.0, 3.0, -7.0, np.nan])
    p = spread_win_probability(spreads, 13.5)
    np.testing.assert_allclose(p[:3], [0.587929, 0.5, 1 - 0.587929], atol=1e-6)
    assert p[3] > p[0]
    assert np.isnan(p[4])
    # sd broadcasts per match: a 3-point favourite with sd 3 wins with Phi(1) = 0.841345.
    p = spread_win_probability(np.array([-3.0, -3.0]), np.array([13.5, 3.0]))
    np.testing.assert_allclose(p, [0.587929, 0.841345], atol=1e-6)


def test_spread_sd_must_be_positive():
    with pytest.raises(ValueError, match="sd"):
        spread_win_probability(np.array([-3.0]), 0.0)
