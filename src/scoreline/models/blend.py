"""An equal-weight average of several models' probabilities.

No weights are learned, so the blend cannot overfit the evaluation period; it is the fixed
baseline the learned stack has to beat. Members must share one outcome order.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd

from scoreline.models.base import MatchModel, clone


class Blend(MatchModel):
    """Mean of ``members``' ``predict_proba``; members are cloned and fitted on the same rows."""

    def __init__(self, members: tuple[MatchModel, ...] = ()):
        self.members = members

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.members[0].outcomes

    def fit(self, matches: pd.DataFrame) -> Self:
        if not self.members:
            raise ValueError("Blend needs at least one member model")
        if len({m.outcomes for m in self.members}) != 1:
            raise ValueError("Blend members must share one outcome order")
        self.fitted_ = [clone(m).fit(matches) for m in self.members]
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        return self.combine([m.predict_proba(fixtures) for m in self.fitted_])

    @staticmethod
    def combine(probabilities: list[np.ndarray]) -> np.ndarray:
        """The blend of its members' probabilities (a walk-forward that has walked the members
        already combines their predictions instead of fitting them again)."""
        return np.mean(probabilities, axis=0)
