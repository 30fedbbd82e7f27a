from __future__ import annotations

import numpy as np
import pytest

from scoreline.models.scores import ScoreGrid

# rows = home goals 0..2, columns = away goals 0..2
P = np.array(
    [
        [0.10, 0.08, 0.02],
        [0.15, 0.12, 0.05],
        [0.20, 0.18, 0.10],
    ]
)
HOME, DRAW, AWAY = 0.53, 0.32, 0.15


@pytest.fixture
def grid() -> ScoreGrid:
    # the same match twice, once with home and away swapped (transposed), given unnormalised
    return ScoreGrid(np.stack([2 * P, P.T]))


def test_normalises_and_indexes(grid):
    assert len(grid) == 2 and grid.max_goals == 2
    np.testing.assert_allclose(grid[0], P)
    assert isinstance(grid[1:], ScoreGrid) and len(grid[1:]) == 1
    with pytest.raises(ValueError):
        ScoreGrid(np.ones((2, 3, 4)))


def test_home_draw_away(grid):
    np.testing.assert_allclose(grid.home_draw_away(), [[HOME, DRAW, AWAY], [AWAY, DRAW, HOME]])


def test_over_under(grid):
    np.testing.assert_allclose(grid.over_under(2.5), [[0.33, 0.67], [0.33, 0.67]])
    np.testing.assert_allclose(grid.over_under(0.5)[0], [0.90, 0.10])
    # total of exactly 2 (0.34) pushes on a whole line: over 0.33 v under 0.33
    np.testing.assert_allclose(grid.over_under(2.0)[0], [0.5, 0.5])


def test_both_teams_to_score(grid):
    np.testing.assert_allclose(grid.both_teams_to_score(), [0.45, 0.45])


def test_asian_handicap(grid):
    np.testing.assert_allclose(grid.asian_handicap(-0.5)[0], [HOME, DRAW + AWAY])
    np.testing.assert_allclose(grid.asian_handicap(+0.5)[0], [HOME + DRAW, AWAY])
    # draw no bet: draws refunded, so probabilities exclude the draw
    no_draw = HOME + AWAY
    np.testing.assert_allclose(grid.asian_handicap(0.0)[0], [HOME / no_draw, AWAY / no_draw])
    np.testing.assert_allclose(grid.asian_handicap(0.0)[1], [AWAY / no_draw, HOME / no_draw])
    # -1: home wins by 2+ (0.20), wins by exactly 1 (0.33) pushes, otherwise loses (0.47)
    np.testing.assert_allclose(grid.asian_handicap(-1.0)[0], [0.20 / 0.67, 0.47 / 0.67])
    # -0.25: half on 0 (win 0.53, lose 0.15), half on -0.5 (win 0.53, lose 0.47)
    np.testing.assert_allclose(grid.asian_handicap(-0.25)[0], [0.53 / 0.84, 0.31 / 0.84])
    with pytest.raises(ValueError):
        grid.asian_handicap(-0.3)


def test_exact_score_and_expected_goals(grid):
    np.testing.assert_allclose(grid.exact_score(2, 1), [0.18, 0.05])
    np.testing.assert_allclose(grid.exact_score(5, 0), [0.0, 0.0])
    np.testing.assert_allclose(grid.expected_goals(), [[1.28, 0.72], [0.72, 1.28]])


def test_most_likely(grid):
    top = grid.most_likely(2)
    assert [(h, a) for h, a, _ in top[0]] == [(2, 0), (2, 1)]
    assert [(h, a) for h, a, _ in top[1]] == [(0, 2), (1, 2)]
    assert top[0][0][2] == pytest.approx(0.20)


def test_sample_follows_the_grid():
    draws = ScoreGrid(np.repeat(P[None], 40_000, axis=0)).sample(np.random.default_rng(0))
    counts = np.zeros((3, 3))
    np.add.at(counts, (draws[:, 0], draws[:, 1]), 1)
    np.testing.assert_allclose(counts / len(draws), P, atol=0.01)
