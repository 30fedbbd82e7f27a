"""Betting strategies on American sports' lines: moneylines where the files list them (NBA),
against-the-spread (ATS) bets where only spreads exist (college football, NFL).

What each competition's files allow (:mod:`scoreline.data.prices_american`), and so which
strategies run:

* ``model_edge`` everywhere: a backtest model's walk-forward home-win probability against the
  NBA moneyline, or turned into a cover probability for a spread bet (below) where a game has
  no moneyline (college football, NFL, NBA 2023-24 and half of 2022-23);
* ``consensus`` where several books quote the same game (college football): line shopping, the
  best line among the bookmakers against their median line;
* ``sharp_soft`` nowhere: no file has a sharp book beside soft ones (it is skipped, saying so).

Spread bets. The files quote no price for a spread, so every ATS bet is priced at
``SpreadPricing.price`` (American, -110 by default: the usual two-sided market) and that
assumption is reported. A bet on the home side at line ``L`` (home-side handicap, negative =
home favoured) wins when ``margin + L > 0``, is a push (stake back) at ``0`` and loses otherwise;
the away side at the same line wins when ``margin + L < 0``. A line ``C`` is read as a normal
forecast of the margin, mean ``-C`` and standard deviation ``sd``, so the home side at ``L``
covers with probability ``Phi((L - C) / sd)``; a model with home-win probability ``p`` has mean
margin ``sd * Phi^-1(p)``. ``sd`` is walk-forward: the root mean square of ``margin + C`` (the
closing median line) over the competition's earlier seasons, the policy's prior for the first.

The lines taken are a game's opening lines where any book has one (never mixed with another
book's later snapshot, which would carry later information), else every book's only line.
Closing-line value needs a later line of the same game: a spread bet taken at an opening line
has ``clv_spread = Phi(+-(L - C_close) / sd) * price - 1`` against the median
closing line of the bookmakers; a moneyline bet taken before a listed close has the football
CLV (``price * q_close - 1``, close de-vigged multiplicatively and by Shin). A bet taken at the
only line a file has (every NFL and NBA bet) has no CLV: NaN, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy.stats import norm

from scoreline.data.prices import MarketPrices
from scoreline.data.prices_american import AMERICAN_CODES, LINE_SUMMARIES, LISTED, american_to_decimal
from scoreline.evaluation.betting import value_bets
from scoreline.evaluation.strategies import CLOSING_METHODS
from scoreline.evaluation.strategies_backtest import closing_line_value
from scoreline.features.market import implied_probabilities

_STRICT = ConfigDict(frozen=True, extra="forbid")
SIDES = ("home", "away")


class SpreadPricing(BaseModel):
    """How a spread bet is priced and turned into probabilities."""

    model_config = _STRICT
    #: American odds every spread bet is settled at (the files quote none)
    price: float = Field(default=-110.0)
    #: sd (points) of the margin around the line before any earlier season measures it
    #: (NFL: measured 2000-2023; NBA: the usual 12; CFB: fitted on 2020-2024, so in-sample)
    prior_sd: dict[str, float] = {"NFL": 13.45, "NBA": 12.0, "CFB": 15.1}
    #: a book's line further than this (points) from the game's median line is a data slip
    #: (CFBD has sign errors) or a stale quote nobody could bet, not an offer
    max_off_median: float = Field(default=5.0, gt=0)

    @field_validator("price")
    @classmethod
    def _american(cls, value: float) -> float:
        if not abs(value) >= 100:
            raise ValueError(f"price {value} is not an American price (<= -100 or >= +100)")
        return value

    @field_validator("prior_sd")
    @classmethod
    def _every_code(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [c for c in AMERICAN_CODES if c not in value]
        if missing or any(not sd > 0 for sd in value.values()):
            raise ValueError(f"prior_sd needs a positive sd for each of {', '.join(AMERICAN_CODES)}")
        return value

    @property
    def decimal(self) -> float:
        return float(american_to_decimal(np.array([self.price]))[0])


class LineModelEdge(BaseModel):
    """The model's value at the moneyline where there is one, else against the spread."""

    model_config = _STRICT
    kind: Literal["model_edge"] = "model_edge"
    model: str = "results_blend"  # a backtest model name: ``{model}_{home|away}`` columns
    edge: float = Field(default=0.03, ge=0)


class LineShopping(BaseModel):
    """Consensus across books: the best line among ``books`` against their median line, taken
    when its cover probability under the median times the price beats 1 + ``min_ev``."""

    model_config = _STRICT
    kind: Literal["consensus"] = "consensus"
    #: the bookmakers a bettor holds (CFBD names; aggregates and media sites are never bet)
    books: tuple[str, ...] = ("bovada", "draftkings", "espn_bet", "caesars", "william_hill", "sugarhouse")
    min_ev: float = Field(default=0.0, ge=0)


class AmericanStrategies(BaseModel):
    """``betting.american`` in ``registry/policy.yaml``."""

    model_config = _STRICT
    spread: SpreadPricing = SpreadPricing()
    model_edge: LineModelEdge = LineModelEdge()
    consensus: LineShopping = LineShopping()


@dataclass(frozen=True)
class LineFrame:
    """One competition's games by date and their lines, row-aligned.

    ``matches``: match_id, competition, season, date, teams, scores, ``margin`` (home minus
    away, NaN unplayed) and ``outcome`` (0 home win, 1 away win, -1 no result or a tie).
    ``moneyline``: when (``pre``/``close``) -> (n, 2) decimal home/away prices of the listed
    book. ``lines``: when -> book -> (n,) home-side spread (NaN where the book has none).
    """

    matches: pd.DataFrame
    moneyline: dict[str, np.ndarray]
    lines: dict[str, dict[str, np.ndarray]]

    @classmethod
    def build(cls, market: MarketPrices) -> LineFrame:
        matches = market.matches.sort_values(["date", "match_id"], kind="stable").reset_index(drop=True)
        margin = matches["home_score"].to_numpy(float) - matches["away_score"].to_numpy(float)
        matches["margin"] = margin
        matches["outcome"] = np.where(margin > 0, 0, np.where(margin < 0, 1, -1))
        ids = pd.Index(matches["match_id"])
        prices = market.prices.astype(dict.fromkeys(("book", "market", "outcome", "when"), str))
        moneyline, lines = {}, {}
        money = prices.loc[prices["market"] == "moneyline"]
        for when, part in money.groupby("when"):
            wide = part.pivot_table(index="match_id", columns="outcome", values="price", aggfunc="first")
            moneyline[str(when)] = wide.reindex(index=ids, columns=list(SIDES)).to_numpy(float)
        spread = prices.loc[(prices["market"] == "spread") & (prices["outcome"] == "home")]
        for when, part in spread.groupby("when"):
            wide = part.pivot_table(index="match_id", columns="book", values="line", aggfunc="first")
            wide = wide.reindex(index=ids)
            lines[str(when)] = {str(b): wide[b].to_numpy(float) for b in wide.columns}
        return cls(matches, moneyline, lines)

    @property
    def books(self) -> tuple[str, ...]:
        """Every bookmaker quoting a line (aggregates and media sites left out)."""
        names = {b for by_book in self.lines.values() for b in by_book}
        return tuple(sorted(names - set(LINE_SUMMARIES)))

    def taken_lines(self, books: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(n, len(books)) the lines a bettor could take, and whether they are opening lines:
        a game's opening lines where any book has one (a later snapshot of another book would
        carry information from after the opening), else every book's only line."""
        n = len(self.matches)
        empty = np.full(n, np.nan)
        pre = np.column_stack([self.lines.get("pre", {}).get(b, empty) for b in books] or [empty])
        close = np.column_stack([self.lines.get("close", {}).get(b, empty) for b in books] or [empty])
        opening = np.isfinite(pre).any(axis=1)
        return np.where(opening[:, None], pre, close), np.repeat(opening[:, None], pre.shape[1], axis=1)

    def closing_line(self, books: tuple[str, ...]) -> np.ndarray:
        """(n,) median closing line of ``books`` (NaN where none closes)."""
        close = self.lines.get("close", {})
        return _median([close[b] for b in books if b in close], len(self.matches))

    def margin_sd(self, books: tuple[str, ...], prior: float) -> np.ndarray:
        """(n,) walk-forward sd of the margin around the closing line: root mean square of
        ``margin + line`` over the seasons before each game's (``prior`` for the first)."""
        residual = self.matches["margin"].to_numpy(float) + self.closing_line(books)
        season = self.matches["season"].to_numpy(float)
        out = np.full(len(season), prior)
        for s in np.unique(season[np.isfinite(season)]):
            before = (season < s) & np.isfinite(residual)
            if before.sum() >= 100:
                out[season == s] = float(np.sqrt(np.mean(residual[before] ** 2)))
        return out


def _median(columns: list[np.ndarray], n: int) -> np.ndarray:
    """Row median of ``columns`` over the finite values (NaN where none is)."""
    if not columns:
        return np.full(n, np.nan)
    return pd.DataFrame(np.column_stack(columns)).median(axis=1, skipna=True).to_numpy(float)


def cover_probability(line: np.ndarray, centre: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """(n, 2) probability that the home side at home-side ``line`` covers, and the away side at
    the same line, when the margin is normal with mean ``-centre`` (a line read as a forecast)
    and ``sd``."""
    home = norm.cdf((np.asarray(line, float) - np.asarray(centre, float)) / sd)
    return np.column_stack([home, 1.0 - home])


def model_margin_centre(p_home: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The line a model with home-win probability ``p_home`` implies: ``-sd * Phi^-1(p)``."""
    with np.errstate(all="ignore"):
        return -sd * norm.ppf(np.clip(p_home, 1e-6, 1 - 1e-6))


def ats_result(margin: np.ndarray, line: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(won, push) of spread bets: ``side`` 0 home, 1 away, at home-side ``line``."""
    cover = np.asarray(margin, float) + np.asarray(line, float)
    signed = np.where(np.asarray(side) == 0, cover, -cover)
    return signed > 0, signed == 0


def spread_clv(
    taken: np.ndarray, close: np.ndarray, side: np.ndarray, sd: np.ndarray, price: float
) -> np.ndarray:
    """``P(cover at the line taken | the closing line) * price - 1`` per bet; +0.05 = the bet was
    worth 5 % more than the same stake at the close's fair odds. NaN without a close."""
    p = cover_probability(taken, close, sd)
    return np.where(np.asarray(side) == 0, p[:, 0], p[:, 1]) * price - 1.0


def moneyline_clv(price: np.ndarray, close: np.ndarray, side: np.ndarray) -> dict[str, np.ndarray]:
    """CLV of moneyline bets at decimal ``price`` against the (n, 2) closing decimal prices,
    de-vigged by each of :data:`CLOSING_METHODS`: method -> ``price * q_close - 1``."""
    rows = np.arange(len(side))
    return {
        m.value: closing_line_value(price, implied_probabilities(close, m).probabilities[rows, side])
        for m in CLOSING_METHODS
    }


def _bets(frame: LineFrame, rows, side, probability, price, ev, won, push, book, line, clv) -> pd.DataFrame:
    matches = frame.matches.iloc[rows]
    return pd.DataFrame(
        {
            "match_id": matches["match_id"].to_numpy(),
            "competition": matches["competition"].to_numpy(),
            "season": matches["season"].to_numpy(),
            "date": matches["date"].to_numpy(),
            "outcome": np.asarray(SIDES, dtype=object)[side],
            "book": book,
            "line": line,
            "probability": probability,
            "price": price,
            "expected_value": ev,
            "won": won,
            "push": push,
            **{f"clv_{name}": values for name, values in clv.items()},
        }
    )


def moneyline_bets(frame: LineFrame, model: np.ndarray, edge: float) -> pd.DataFrame:
    """``model``'s (n, 2) home/away probabilities against the listed moneyline (the ``pre``
    price where the file has one, else the only one), value rule as in football."""
    close = frame.moneyline.get("close", np.full((len(frame.matches), 2), np.nan))
    pre = frame.moneyline.get("pre", np.full_like(close, np.nan))
    early = np.isfinite(pre).all(axis=1)
    prices = np.where(early[:, None], pre, close)
    usable = (frame.matches["outcome"].to_numpy() >= 0) & np.isfinite(model).all(axis=1)
    usable &= np.isfinite(prices).all(axis=1) & (prices > 1).all(axis=1)
    rows, side, ev = value_bets(model, prices, usable, edge)
    price = prices[rows, side]
    clv = moneyline_clv(price, close[rows], side)
    clv = {m: np.where(early[rows], v, np.nan) for m, v in clv.items()}  # at the close: nothing to beat
    won = frame.matches["outcome"].to_numpy()[rows] == side
    return _bets(
        frame, rows, side, model[rows, side], price, ev, won, np.zeros(len(rows), bool), LISTED, np.nan, clv
    )


def spread_bets(
    frame: LineFrame,
    believed_centre: np.ndarray,
    books: tuple[str, ...],
    sd: np.ndarray,
    pricing: SpreadPricing,
    edge: float,
) -> pd.DataFrame:
    """ATS bets at the best line among ``books`` (:meth:`LineFrame.taken_lines`, none further than
    ``pricing.max_off_median`` from their median) when the cover probability under
    ``believed_centre`` (the line one believes; NaN = no view) times the price beats
    1 + ``edge``; at most one side per game. CLV against the books' median close where the bet
    was taken at an opening line."""
    price = pricing.decimal
    lines, opening = frame.taken_lines(books)
    median = _median(list(lines.T), len(lines))
    lines = np.where(np.abs(lines - median[:, None]) <= pricing.max_off_median, lines, np.nan)
    filled = np.isfinite(lines)
    # the home side wants the largest home line, the away side the smallest
    best_home = np.where(filled, lines, -np.inf).argmax(axis=1)
    best_away = np.where(filled, lines, np.inf).argmin(axis=1)
    rows_all = np.arange(len(lines))
    home_line, away_line = lines[rows_all, best_home], lines[rows_all, best_away]
    p = np.column_stack(
        [
            cover_probability(home_line, believed_centre, sd)[:, 0],
            cover_probability(away_line, believed_centre, sd)[:, 1],
        ]
    )
    prices = np.full((len(lines), 2), price)
    margin = frame.matches["margin"].to_numpy(float)
    usable = np.isfinite(margin) & filled.any(axis=1) & np.isfinite(believed_centre) & np.isfinite(sd)
    rows, side, ev = value_bets(np.nan_to_num(p, nan=0.0), prices, usable, edge)
    which = np.where(side == 0, best_home[rows], best_away[rows])
    line = lines[rows, which]
    won, push = ats_result(margin[rows], line, side)
    close = frame.closing_line(books)[rows]
    clv = spread_clv(line, close, side, sd[rows], price)
    clv = np.where(opening[rows, which], clv, np.nan)  # a bet at the only line has no later one
    return _bets(
        frame,
        rows,
        side,
        p[rows, side],
        np.full(len(rows), price),
        ev,
        won,
        push,
        np.asarray(books, dtype=object)[which],
        line,
        {"spread": clv},
    )


def american_bets(
    strategies: AmericanStrategies, frame: LineFrame, code: str, model: np.ndarray | None
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Each strategy's settled bets on ``frame`` (one competition, ``code``) and why any other
    did not run. ``model``: (n, 2) walk-forward home/away probabilities aligned to
    ``frame.matches`` (None: no backtest)."""
    bets: dict[str, pd.DataFrame] = {}
    skipped = {"sharp_soft": f"no sharp book in the {code} files: nothing to de-vig against soft books"}
    spread = strategies.spread
    if set(frame.books) <= {LISTED}:  # one unnamed line per game
        books: tuple[str, ...] = (LISTED,)
        skipped["consensus"] = f"one listed line per {code} game: no books to shop among or average"
    else:
        books = tuple(b for b in strategies.consensus.books if b in frame.books)
        if len(books) < 2:
            skipped["consensus"] = (
                f"{len(books)} of the configured books quote {code} lines "
                f"(the files have {', '.join(frame.books)}): nothing to shop among"
            )
    if not books:
        skipped["model_edge"] = f"none of the configured books quote {code} lines"
        return bets, skipped
    sd = frame.margin_sd(books, spread.prior_sd[code])
    if "consensus" not in skipped:
        taken = frame.taken_lines(books)[0]
        median = _median(list(taken.T), len(taken))
        bets["consensus"] = spread_bets(frame, median, books, sd, spread, strategies.consensus.min_ev)
    rule = strategies.model_edge
    if model is None:
        skipped["model_edge"] = (
            f"no walk-forward probabilities of model {rule.model!r} "
            f"(`scoreline backtest --competition {code}`)"
        )
    else:
        centre = model_margin_centre(model[:, 0], sd)
        priced = np.zeros(len(frame.matches), bool)
        for prices in frame.moneyline.values():
            priced |= np.isfinite(prices).all(axis=1)
        # the moneyline where the file lists one, else against the spread (NBA 2023-24 has none)
        placed = [
            moneyline_bets(frame, model, rule.edge),
            spread_bets(frame, np.where(priced, np.nan, centre), books, sd, spread, rule.edge),
        ]
        kept = [p for p in placed if len(p)] or placed[-1:]
        bets["model_edge"] = (
            pd.concat(kept, ignore_index=True)
            .sort_values(["date", "match_id"], kind="stable")
            .reset_index(drop=True)
        )
    return bets, skipped
