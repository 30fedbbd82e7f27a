"""Betting strategies as named, typed policies, and the bets each would choose.

Every strategy reduces to the same three arrays per match (home/draw/away columns): the
probability it believes, the price it can take (the best among the books it may use) and the
edge it asks for; :func:`scoreline.evaluation.betting.value_bets` then picks at most one outcome
per match, the one with the largest expected value ``p * price - 1`` above the edge. Only
pre-closing prices (and walk-forward model probabilities) enter a choice; closing prices judge
it afterwards (:mod:`scoreline.evaluation.strategies_backtest`).

* ``model_edge``: today's rule: the model's probability against the best price of ``books``.
* ``sharp_soft``: the sharp book's pre-closing price de-vigged (``method``) is the fair
  probability; bet the best price among the soft ``books`` the bettor holds when EV > ``min_ev``.
* ``consensus``: Kaunitz, Zhong & Kreiner (2017): with ``p_avg`` = 1 / the market-average price,
  bet when the ``bet_at`` price exceeds ``1 / (p_avg - margin)``; the same bets are also priced
  at ``also_at`` books (the max column is not a price one person can get).
* ``model_market``: the model's probability pooled with the de-vigged sharp price in log space,
  ``p ∝ p_model ** weight * p_market ** (1 - weight)``, against the best price of ``books``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from scoreline.data.prices import BOOKS, OUTCOMES, SHARP_BOOK, SOFT_BOOKS, MarketPrices
from scoreline.evaluation.betting import value_bets
from scoreline.features.market import DevigMethod, implied_probabilities

_STRICT = ConfigDict(frozen=True, extra="forbid")
FOOTBALL = OUTCOMES["1x2"]
#: closing de-vig methods every bet's CLV is measured under (against the sharp close)
CLOSING_METHODS = (DevigMethod.MULTIPLICATIVE, DevigMethod.SHIN)


def _known_book(name: str) -> str:
    known = sorted(set(BOOKS.values()))
    if name not in known:
        raise ValueError(f"unknown book {name!r}; one of {', '.join(known)}")
    return name


#: a book name of :mod:`scoreline.data.prices` (a typo is an error naming it)
Book = Annotated[str, AfterValidator(_known_book)]


class ModelEdge(BaseModel):
    """Today's rule: bet the model's value at the best price of ``books``."""

    model_config = _STRICT
    kind: Literal["model_edge"] = "model_edge"
    model: str = "results_blend"  # a backtest model name: ``{model}_{home|draw|away}`` columns
    books: tuple[Book, ...] = ("b365",)
    edge: float = Field(default=0.03, ge=0)


class SharpSoft(BaseModel):
    """Fair = the sharp book de-vigged; bet the best soft price with EV above ``min_ev``."""

    model_config = _STRICT
    kind: Literal["sharp_soft"] = "sharp_soft"
    sharp: Book = SHARP_BOOK
    method: DevigMethod = DevigMethod.SHIN
    books: tuple[Book, ...] = SOFT_BOOKS
    min_ev: float = Field(default=0.0, ge=0)


class Consensus(BaseModel):
    """Kaunitz et al. (2017): the ``bet_at`` price above ``1 / (1/avg - margin)``."""

    model_config = _STRICT
    kind: Literal["consensus"] = "consensus"
    margin: float = Field(default=0.05, ge=0, lt=1)
    average: Book = "avg"
    bet_at: Book = "max"
    also_at: tuple[Book, ...] = ("b365",)


class ModelMarket(BaseModel):
    """The model pooled with the de-vigged sharp price (log-linear, model weight ``weight``)."""

    model_config = _STRICT
    kind: Literal["model_market"] = "model_market"
    model: str = "results_blend"
    weight: float = Field(default=0.3, ge=0, le=1)
    sharp: Book = SHARP_BOOK
    method: DevigMethod = DevigMethod.SHIN
    books: tuple[Book, ...] = SOFT_BOOKS
    edge: float = Field(default=0.02, ge=0)


Strategy = ModelEdge | SharpSoft | Consensus | ModelMarket


class Strategies(BaseModel):
    """``betting.strategies`` in ``registry/policy.yaml``: every strategy by name."""

    model_config = _STRICT
    model_edge: ModelEdge = ModelEdge()
    sharp_soft: SharpSoft = SharpSoft()
    consensus: Consensus = Consensus()
    model_market: ModelMarket = ModelMarket()

    def named(self) -> dict[str, Strategy]:
        return {name: getattr(self, name) for name in type(self).model_fields}


@dataclass(frozen=True)
class PriceFrame:
    """Pre-closing 1X2 prices of every book and the sharp close, aligned to ``matches``.

    ``matches``: one row per match sorted by date (match_id, competition, season, date, teams,
    scores) with ``outcome`` (0 home, 1 draw, 2 away, -1 no result); ``pre``: book -> (n, 3)
    pre-closing prices (NaN where the book has none); ``close``: the sharp book's (n, 3)
    closing prices.
    """

    matches: pd.DataFrame
    pre: dict[Book, np.ndarray]
    close: np.ndarray

    @classmethod
    def build(cls, market: MarketPrices, sharp: Book = SHARP_BOOK, *, sort: bool = True) -> PriceFrame:
        """The frame of ``market``'s matches, by date (``sort``) or in the order given."""
        matches = market.matches
        if sort:
            matches = matches.sort_values(["date", "competition", "match_id"], kind="stable")
        matches = matches.reset_index(drop=True)
        home, away = matches["home_score"].to_numpy(float), matches["away_score"].to_numpy(float)
        outcome = np.where(home > away, 0, np.where(home == away, 1, 2))
        matches["outcome"] = np.where(np.isfinite(home) & np.isfinite(away), outcome, -1)
        n = len(matches)
        one = market.prices.loc[market.prices["market"] == "1x2"]
        if one.empty:
            return cls(matches, {}, np.full((n, 3), np.nan))
        wide = one.pivot_table(
            index="match_id",
            columns=["when", "book", "outcome"],
            values="price",
            aggfunc="first",
            observed=True,
        ).reindex(matches["match_id"])
        timings = set(wide.columns.get_level_values("when"))
        pre = {
            str(book): wide["pre"][book].reindex(columns=list(FOOTBALL)).to_numpy(float)
            for book in (wide["pre"].columns.get_level_values("book").unique() if "pre" in timings else ())
        }
        close = (
            wide["close"][sharp].reindex(columns=list(FOOTBALL)).to_numpy(float)
            if "close" in timings and sharp in wide["close"].columns.get_level_values("book")
            else np.full((n, 3), np.nan)
        )
        return cls(matches, pre, close)

    def prices_of(self, book: Book) -> np.ndarray:
        """(n, 3) pre-closing prices of ``book``; all NaN when the files never carry it."""
        return self.pre.get(book, np.full((len(self.matches), 3), np.nan))

    def best(self, books: tuple[Book, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) best pre-closing price among ``books`` and the (n, 3) book offering it (the
        first in ``books`` order on ties; "" where none does)."""
        stack = np.stack([self.prices_of(b) for b in books])  # (books, n, 3)
        filled = np.where(np.isfinite(stack), stack, -np.inf)
        which = filled.argmax(axis=0)
        best = np.take_along_axis(filled, which[None], axis=0)[0]
        names = np.asarray(books, dtype=object)[which]
        missing = ~np.isfinite(best)
        return np.where(missing, np.nan, best), np.where(missing, "", names)

    def fair(self, book: Book, method: DevigMethod) -> np.ndarray:
        """(n, 3) de-vigged pre-closing probabilities of ``book``."""
        return implied_probabilities(self.prices_of(book), method).probabilities

    def fair_close(self, method: DevigMethod) -> np.ndarray:
        """(n, 3) de-vigged closing probabilities of the sharp book (CLV's yardstick)."""
        return implied_probabilities(self.close, method).probabilities


@dataclass(frozen=True)
class Selection:
    """The bets a strategy chooses: row of :attr:`PriceFrame.matches`, outcome column, the
    probability it believes, the price and book taken and the expected value."""

    rows: np.ndarray
    pick: np.ndarray
    probability: np.ndarray
    price: np.ndarray
    book: np.ndarray
    expected_value: np.ndarray

    def priced_at(self, frame: PriceFrame, book: Book) -> Selection:
        """The same bets at ``book``'s pre-closing price (bets it does not price are dropped),
        keeping the expected value they were chosen and sized by."""
        price = frame.prices_of(book)[self.rows, self.pick]
        keep = np.isfinite(price) & (price > 1)
        return Selection(
            self.rows[keep],
            self.pick[keep],
            self.probability[keep],
            price[keep],
            np.full(int(keep.sum()), book, dtype=object),
            self.expected_value[keep],
        )


def select(strategy: Strategy, frame: PriceFrame, model_probabilities: np.ndarray | None = None) -> Selection:
    """The bets ``strategy`` chooses over ``frame``'s matches. ``model_probabilities``: (n, 3)
    walk-forward probabilities aligned to ``frame.matches`` (NaN rows = no forecast), needed by
    ``model_edge`` and ``model_market``."""
    believed, prices, books, edge = strategy_inputs(strategy, frame, model_probabilities)
    observed = frame.matches["outcome"].to_numpy()
    usable = (
        (observed >= 0)
        & np.isfinite(believed).all(axis=1)
        & np.isfinite(prices).all(axis=1)
        & (prices > 1).all(axis=1)
    )
    rows, pick, ev = value_bets(believed, prices, usable, edge)
    return Selection(rows, pick, believed[rows, pick], prices[rows, pick], books[rows, pick], ev)


def strategy_inputs(
    strategy: Strategy, frame: PriceFrame, model: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """What ``strategy`` believes and can take on each match of ``frame``: (n, 3) probability,
    (n, 3) best price among its books, (n, 3) the book offering it, and its edge. The value rule
    (:func:`scoreline.evaluation.betting.value_bets`) turns these into bets."""
    if isinstance(strategy, SharpSoft):
        prices, books = frame.best(strategy.books)
        return frame.fair(strategy.sharp, strategy.method), prices, books, strategy.min_ev
    if isinstance(strategy, Consensus):
        with np.errstate(divide="ignore", invalid="ignore"):
            believed = 1.0 / frame.prices_of(strategy.average) - strategy.margin
        prices, books = frame.best((strategy.bet_at,))
        return np.where(believed > 0, believed, np.nan), prices, books, 0.0
    if model is None:
        raise ValueError(f"{strategy.kind} needs the model's walk-forward probabilities ({strategy.model})")
    if model.shape != (len(frame.matches), 3):
        raise ValueError(f"model probabilities have shape {model.shape}, expected ({len(frame.matches)}, 3)")
    prices, books = frame.best(strategy.books)
    if isinstance(strategy, ModelEdge):
        return model, prices, books, strategy.edge
    market = frame.fair(strategy.sharp, strategy.method)
    return pooled(model, market, strategy.weight), prices, books, strategy.edge


def pooled(model: np.ndarray, market: np.ndarray, weight: float) -> np.ndarray:
    """Log-linear pool ``p ∝ model ** weight * market ** (1 - weight)`` per row; NaN where
    either is missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log = weight * np.log(model) + (1.0 - weight) * np.log(market)
        # shifted by the row's largest term against overflow (rows without one stay NaN)
        top = np.where(np.isfinite(log), log, -np.inf).max(axis=1, initial=-np.inf, keepdims=True)
        pool = np.exp(log - np.where(np.isfinite(top), top, 0.0))
        return pool / pool.sum(axis=1, keepdims=True)


def model_matrix(
    predictions: pd.DataFrame, model: str, match_ids: pd.Series, outcomes: tuple[str, ...] = FOOTBALL
) -> np.ndarray:
    """(n, len(outcomes)) ``{model}_{outcome}`` probabilities of a backtest's ``predictions``
    aligned to ``match_ids`` (home, draw, away by default; home, away for two-way sports); NaN
    where the backtest has no forecast."""
    columns = [f"{model}_{o}" for o in outcomes]
    missing = [c for c in columns if c not in predictions]
    if missing:
        raise KeyError(f"the backtest predictions have no {model!r} forecasts (missing {', '.join(missing)})")
    frame = predictions.drop_duplicates("match_id").set_index("match_id")[columns]
    return frame.reindex(pd.Index(match_ids)).to_numpy(dtype=float)
