"""Score-probability grids and the markets read from them.

A :class:`ScoreGrid` is a batch of ``n`` matrices, array shape ``(n, G, G)``, with
``[i, h, a]`` = P(home team scores ``h``, away team scores ``a``) in match ``i``. Goals run
0..G-1; the mass beyond is dropped and each matrix renormalised to sum to 1.

Two-way markets return ``(n, 2)`` arrays of *fair-price probabilities*: ``p`` such that ``1/p``
is the fair decimal price of that side. Where a line can push (whole lines: Asian handicap 0 or
-1, totals 2.0) the stake is refunded, so the pair is P(win) / (P(win) + P(lose)), i.e. the
probabilities with pushes excluded. Quarter lines (-0.25, 2.75) split the stake between the two
neighbouring lines; the pair is then mean win / (mean win + mean lose) over the two halves.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ScoreGrid"]


class ScoreGrid:
    """A batch of score-probability matrices, shape ``(n, G, G)``, indexed ``[match, home, away]``.

    A single ``(G, G)`` matrix is accepted as a batch of one. Each matrix is renormalised to
    sum to 1 unless ``normalize=False``.
    """

    __slots__ = ("probabilities",)

    def __init__(self, probabilities: np.ndarray, *, normalize: bool = True) -> None:
        p = np.array(probabilities, dtype=np.float64)
        if p.ndim == 2:
            p = p[None]
        if p.ndim != 3 or p.shape[1] != p.shape[2] or p.shape[1] < 1:
            raise ValueError(f"expected an (n, G, G) array, got shape {p.shape}")
        if (p < 0).any() or not np.isfinite(p).all():
            raise ValueError("score probabilities must be finite and non-negative")
        if normalize:
            p /= p.sum(axis=(1, 2), keepdims=True)
        p.setflags(write=False)
        self.probabilities: np.ndarray = p

    # -- container -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.probabilities.shape[0]

    def __getitem__(self, key: int | slice | np.ndarray) -> np.ndarray | ScoreGrid:
        """``grid[i]`` is match ``i``'s ``(G, G)`` matrix; a slice, mask or index array gives a
        ``ScoreGrid``."""
        if isinstance(key, (int, np.integer)):
            return self.probabilities[key]
        return ScoreGrid(self.probabilities[key], normalize=False)

    def __repr__(self) -> str:
        n, g, _ = self.probabilities.shape
        return f"ScoreGrid(n={n}, max_goals={g - 1})"

    @property
    def max_goals(self) -> int:
        """Largest goal count per side held in the grid (G - 1)."""
        return self.probabilities.shape[1] - 1

    # -- markets -------------------------------------------------------------------------------
    def home_draw_away(self) -> np.ndarray:
        """``(n, 3)``: P(home win), P(draw), P(away win)."""
        margin = self._margin()
        p = self.probabilities
        return np.stack([p[:, margin > 0].sum(1), p[:, margin == 0].sum(1), p[:, margin < 0].sum(1)], axis=1)

    def over_under(self, line: float = 2.5) -> np.ndarray:
        """``(n, 2)``: fair-price probabilities of [over, under] total goals ``line``."""
        return self._two_way(self._total(), line)

    def asian_handicap(self, line: float) -> np.ndarray:
        """``(n, 2)``: fair-price probabilities of [home, away] at home handicap ``line``.

        ``line`` is added to the home score: -0.5 is the home win, +0.5 home win or draw, 0 is
        draw-no-bet (draws refunded). Whole, half and quarter lines are accepted.
        """
        # the home side wins when margin + line > 0, i.e. margin > -line
        return self._two_way(self._margin(), -line)

    def both_teams_to_score(self) -> np.ndarray:
        """``(n,)``: P(both teams score at least once)."""
        return self.probabilities[:, 1:, 1:].sum(axis=(1, 2))

    def exact_score(self, home: int, away: int) -> np.ndarray:
        """``(n,)``: P(final score is ``home``-``away``); 0 beyond the grid."""
        if home < 0 or away < 0:
            raise ValueError("scores are non-negative")
        if max(home, away) > self.max_goals:
            return np.zeros(len(self))
        return self.probabilities[:, home, away].copy()

    def expected_goals(self) -> np.ndarray:
        """``(n, 2)``: expected [home, away] goals under the (truncated) grid."""
        goals = np.arange(self.max_goals + 1)
        p = self.probabilities
        return np.stack([p.sum(axis=2) @ goals, p.sum(axis=1) @ goals], axis=1)

    def most_likely(self, k: int = 3) -> list[list[tuple[int, int, float]]]:
        """Per match, the ``k`` likeliest scores as ``(home, away, probability)``, likeliest
        first."""
        flat = self.probabilities.reshape(len(self), -1)
        top = np.argsort(-flat, axis=1, kind="stable")[:, :k]
        g = self.max_goals + 1
        return [[(int(j // g), int(j % g), float(row[j])) for j in idx] for row, idx in zip(flat, top)]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """``(n, 2)`` int array: one simulated [home, away] score per match."""
        flat = self.probabilities.reshape(len(self), -1)
        cells = (flat.cumsum(axis=1) < rng.random((len(self), 1))).sum(axis=1)
        cells = np.minimum(cells, flat.shape[1] - 1)  # guards float round-off at the top end
        return np.stack(np.divmod(cells, self.max_goals + 1), axis=1)

    # -- internals -----------------------------------------------------------------------------
    def _margin(self) -> np.ndarray:
        goals = np.arange(self.max_goals + 1)
        return goals[:, None] - goals[None, :]

    def _total(self) -> np.ndarray:
        goals = np.arange(self.max_goals + 1)
        return goals[:, None] + goals[None, :]

    def _two_way(self, stat: np.ndarray, line: float) -> np.ndarray:
        """[P(stat > line), P(stat < line)] with pushes refunded and quarter lines split."""
        quarters = line * 4
        if not float(quarters).is_integer():
            raise ValueError(f"lines are multiples of 0.25, got {line}")
        halves = (line - 0.25, line + 0.25) if int(quarters) % 2 else (line,)
        p = self.probabilities
        win = sum(p[:, stat > part].sum(1) for part in halves)
        lose = sum(p[:, stat < part].sum(1) for part in halves)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([win, lose], axis=1) / (win + lose)[:, None]
