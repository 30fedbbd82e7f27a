"""What a forecast answer holds: the model's outputs for distinct fixtures (probabilities, the
detail's numbers, the likeliest score lines, the features), and :class:`Forecasts`, the answers
to request rows built from them, column-wise, with JSON-ready records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import repeat

import numpy as np

__all__ = [
    "LEVELS",
    "TOP_SCORES",
    "Forecasts",
    "ModelOutputs",
    "finite_or_none",
    "likeliest_scores",
    "top_scores",
]

#: how many of the likeliest score lines a football forecast lists
TOP_SCORES = 5


#: coverage levels of the margin and total intervals
LEVELS = (0.8, 0.95)


class ModelOutputs:
    """What a model says about distinct fixtures, a row each: probabilities ``(m, outcomes)``,
    the detail's numbers ``(m, d)`` (NaN: none) named by the first ``d`` of ``detail_names``,
    for football the likeliest scores (home goals, away goals, probabilities, each ``(m, k)``;
    None without a goal model) and the features ``(m, len(feature_names))``. Kept as arrays: a
    cached fixture costs about a kilobyte, most of it its features."""

    __slots__ = ("detail_names", "feature_names", "features", "numbers", "probs", "scores")

    def __init__(
        self,
        probs: np.ndarray,
        detail_names: tuple[str, ...],
        numbers: np.ndarray,
        scores: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
        features: np.ndarray,
        feature_names: tuple[str, ...],
    ) -> None:
        self.probs, self.detail_names, self.numbers, self.scores = probs, detail_names, numbers, scores
        self.features, self.feature_names = features, feature_names

    def detail(self, rows: list[int]) -> list[dict]:
        """The detail of ``rows`` as JSON-ready dicts, in answer order."""
        names = self.detail_names
        out = [dict(zip(names, values)) for values in finite_or_none(self.numbers[rows])]
        if "top_scores" in names:
            if self.scores is None:
                for detail in out:
                    detail["top_scores"] = None
            else:
                home, away, chance = (part[rows].tolist() for part in self.scores)
                for detail, hs, as_, ps in zip(out, home, away, chance):
                    detail["top_scores"] = [
                        {"home": h, "away": a, "probability": p} for h, a, p in zip(hs, as_, ps)
                    ]
        return out


@dataclass(frozen=True, eq=False)
class Forecasts:
    """Forecasts of request rows, column-wise, in request order (see
    :meth:`Forecaster.forecast_rows`).

    ``probs`` and ``prices``: ``(n, len(outcomes))``; ``fixture``: row ``i``'s distinct fixture,
    whose ``detail`` (dict) and ``features`` (row of ``(u, len(feature_names))``) it shares with
    the other rows of that fixture.
    """

    competition: str
    model_name: str
    model_version: str
    outcomes: tuple[str, ...]
    home: list[str]
    away: list[str]
    dates: list[dt.date]
    neutral: list[bool]
    probs: np.ndarray
    prices: np.ndarray
    fixture: np.ndarray
    detail: list[dict]
    features: np.ndarray
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.home)

    def records(self) -> list[dict]:
        """JSON-ready answers, as :meth:`Forecaster.forecast_records` gives them (dates as
        ``YYYY-MM-DD``; NaN and infinities as None); the detail's values are shared objects."""
        n = len(self)
        with np.errstate(divide="ignore", invalid="ignore"):
            fair = 1.0 / self.probs
            edge = self.probs * self.prices - 1.0
        days = {day: day.isoformat() for day in set(self.dates)}
        names = ["competition", "model_name", "model_version", "home_team", "away_team", "date", "neutral"]
        columns = [
            repeat(self.competition, n),
            repeat(self.model_name, n),
            repeat(self.model_version, n),
            self.home,
            self.away,
            [days[day] for day in self.dates],
            self.neutral,
        ]
        k = len(self.outcomes)
        names += [f"prob_{o}" for o in self.outcomes] + [f"fair_odds_{o}" for o in self.outcomes]
        names += [f"{kind}_{o}" for o in self.outcomes for kind in ("price", "edge")]
        priced = np.empty((n, 2 * k))
        priced[:, 0::2], priced[:, 1::2] = self.prices, edge
        columns += self.probs.T.tolist() + finite_or_none(np.hstack([fair, priced]).T)
        records = [dict(zip(names, values)) for values in zip(*columns)]
        detail = self.detail
        for record, fixture in zip(records, self.fixture.tolist()):
            record.update(detail[fixture])
        return records


def finite_or_none(values: np.ndarray) -> list:
    """``values.tolist()`` with NaN and infinities as None."""
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def top_scores(probabilities: np.ndarray, k: int = TOP_SCORES) -> list[list[dict]]:
    """Per ``(G, G)`` score matrix of an ``(n, G, G)`` batch, the ``k`` likeliest scores as
    ``{"home", "away", "probability"}``, likeliest first."""
    home, away, values = (part.tolist() for part in likeliest_scores(probabilities, k))
    return [
        [{"home": h, "away": a, "probability": p} for h, a, p in zip(hs, as_, ps)]
        for hs, as_, ps in zip(home, away, values)
    ]


def likeliest_scores(
    probabilities: np.ndarray, k: int = TOP_SCORES
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Home goals, away goals (int16) and probabilities, each ``(n, k)``, of the ``k``
    likeliest cells of each ``(G, G)`` score matrix, likeliest first."""
    n, g, _ = probabilities.shape
    flat = probabilities.reshape(n, g * g)
    k = min(k, g * g)
    cells = np.argpartition(-flat, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(flat, cells, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    cells = np.take_along_axis(cells, order, axis=1)
    home, away = (part.astype(np.int16) for part in np.divmod(cells, g))
    return home, away, np.take_along_axis(values, order, axis=1)
