"""Every bookmaker's price in the football-data.co.uk season files, as one long table.

The match store keeps a few canonical price columns per match; betting strategies need every
book: the best price a bettor can get among the books they hold, the consensus, the sharp book
against the soft ones. Which books a file carries changes by season (BbMx/BbAv to 2018/19,
Max/Avg from 2019/20, Pinnacle from 2012/13, closing prices of every book from 2019/20, IW and VC
gone from the newest files), so columns are recognised by name pattern and a file lacking a book
simply has no rows for it.

Long table columns (:data:`PRICE_COLUMNS`):

* ``match_id``: the store's id (:func:`scoreline.data.schema.match_ids`), so prices join results;
* ``book``: ``b365``, ``bw``, ``iw``, ``wh``, ``vc``, ``pinnacle``, ``lb``, ``sj``, ``gb``,
  ``bs``, ``sb`` (single bookmakers) or ``max`` / ``avg`` (the file's market summaries: Betbrain's
  BbMx/BbAv to 2018/19, Max/Avg after);
* ``market``: ``1x2`` (outcomes home/draw/away), ``ou25`` (over/under 2.5 goals: over/under),
  ``ah`` (Asian handicap: home/away, ``line`` = the home side's handicap);
* ``when``: ``pre`` (the pre-closing price, collected on Friday/Tuesday) or ``close``;
* ``line``: NaN for 1X2, 2.5 for over/under, the handicap for AH; ``price``: decimal odds > 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.data.adapters.football_data import (
    DATE_FORMATS,
    FIXTURES_FILE,
    SEASON_FILE,
    season_from_code,
    season_of_date,
)
from scoreline.data.parsing import parse_dates, read_text_csv
from scoreline.data.schema import MATCH_ID_COLUMNS, match_ids

#: file column prefix -> book name; Pinnacle is ``PS`` in 1X2 columns and ``P`` in O/U and AH
BOOKS = {
    "B365": "b365",
    "BW": "bw",
    "IW": "iw",
    "WH": "wh",
    "VC": "vc",
    "PS": "pinnacle",
    "P": "pinnacle",
    "LB": "lb",
    "SJ": "sj",
    "GB": "gb",
    "BS": "bs",
    "SB": "sb",
    "Max": "max",
    "BbMx": "max",
    "Avg": "avg",
    "BbAv": "avg",
}
#: the market summaries of the files: not prices one bookmaker offers
SUMMARIES = ("max", "avg")
#: the soft books most bettors can use (pre-closing prices of the five leagues)
SOFT_BOOKS = ("b365", "bw", "iw", "wh", "vc")
SHARP_BOOK = "pinnacle"
OUTCOMES = {"1x2": ("home", "draw", "away"), "ou25": ("over", "under"), "ah": ("home", "away")}
PRICE_COLUMNS = ("match_id", "book", "market", "outcome", "when", "line", "price")
MATCH_COLUMNS = MATCH_ID_COLUMNS

_BOOK = "|".join(sorted(BOOKS, key=len, reverse=True))
_PATTERNS = {
    "1x2": re.compile(rf"^(?P<book>{_BOOK})(?P<close>C?)(?P<outcome>[HDA])$"),
    "ou25": re.compile(rf"^(?P<book>{_BOOK})(?P<close>C?)(?P<outcome>[<>])2\.5$"),
    "ah": re.compile(rf"^(?P<book>{_BOOK})(?P<close>C?)AH(?P<outcome>[HA])$"),
}
_OUTCOME_CODES = {
    "1x2": {"H": "home", "D": "draw", "A": "away"},
    "ou25": {">": "over", "<": "under"},
    "ah": {"H": "home", "A": "away"},
}
#: Asian-handicap line columns (the home side's handicap), per timing, newest layout first
_AH_LINES = {"pre": ("AHh", "BbAHh"), "close": ("AHCh",)}


@dataclass(frozen=True)
class MarketPrices:
    """The matches of some season files and every price they carry.

    ``matches``: one row per match, :data:`MATCH_COLUMNS` (scores NaN for unplayed fixtures);
    ``prices``: the long table, :data:`PRICE_COLUMNS`, book/market/outcome/when categorical.
    """

    matches: pd.DataFrame
    prices: pd.DataFrame

    def only(self, match_ids: Iterable[str]) -> MarketPrices:
        keep = pd.Index(match_ids)
        return MarketPrices(
            self.matches.loc[self.matches["match_id"].isin(keep)].reset_index(drop=True),
            self.prices.loc[self.prices["match_id"].isin(keep)].reset_index(drop=True),
        )


def price_columns(columns: Iterable[str]) -> pd.DataFrame:
    """The price columns among a file's ``columns``: column, book, market, outcome, when.

    Unrecognised columns (results, statistics, Betbrain's counts, line columns) are left out.
    """
    rows = []
    for column in columns:
        for market, pattern in _PATTERNS.items():
            found = pattern.match(column)
            if found:
                rows.append(
                    (
                        column,
                        BOOKS[found["book"]],
                        market,
                        _OUTCOME_CODES[market][found["outcome"]],
                        "close" if found["close"] else "pre",
                    )
                )
                break
    return pd.DataFrame(rows, columns=["column", "book", "market", "outcome", "when"])


def read_prices(path: Path) -> MarketPrices:
    """Every price of one season file ``{DIV}_{YYZZ}.csv`` (or of football-data's
    ``fixtures.csv``, the coming matches of every division, its ``Div`` column naming each),
    melted to the long table.

    Rows without a parseable date or team names are dropped (they cannot be joined to a match);
    prices that are blank, not numbers or not above 1 are dropped; books the file lacks have no
    rows. Raises :class:`~scoreline.data.parsing.FileParseError` naming the file if it lacks
    Date/HomeTeam/AwayTeam (and Div for fixtures), and ``ValueError`` for another file name.
    """
    named = SEASON_FILE.match(path.name)
    if named is None and path.name != FIXTURES_FILE:
        raise ValueError(
            f"{path.name}: not a football-data season file ({{DIV}}_{{YYZZ}}.csv) or {FIXTURES_FILE}"
        )
    required = ["Date", "HomeTeam", "AwayTeam"] + ([] if named else ["Div"])
    raw = read_text_csv(path, display=path.name, required=required)
    dates = parse_dates(raw["Date"], DATE_FORMATS).values
    home = raw["HomeTeam"].astype("string").str.strip()
    away = raw["AwayTeam"].astype("string").str.strip()
    division = (
        pd.Series(named["division"], index=raw.index, dtype="string")
        if named
        else raw["Div"].astype("string").str.strip()
    )
    keep = dates.notna() & home.notna() & away.notna() & division.notna()
    raw, dates, home, away, division = raw.loc[keep], dates[keep], home[keep], away[keep], division[keep]
    ids = match_ids(division, dates, home, away)
    matches = pd.DataFrame(
        {
            "match_id": ids,
            "competition": division,
            "season": season_from_code(named["season"]) if named else season_of_date(dates),
            "date": dates,
            "home_team": home,
            "away_team": away,
            "home_score": _numbers(raw.get("FTHG"), len(raw)),
            "away_score": _numbers(raw.get("FTAG"), len(raw)),
        }
    ).drop_duplicates("match_id", keep="last")

    spec = price_columns(raw.columns)
    if spec.empty:
        return MarketPrices(matches.reset_index(drop=True), _empty_prices())
    values = raw[spec["column"].tolist()].apply(pd.to_numeric, errors="coerce")
    values.insert(0, "match_id", ids.to_numpy())
    for when, candidates in _AH_LINES.items():
        source = next((c for c in candidates if c in raw), None)
        values[f"_line_{when}"] = _numbers(raw.get(source), len(raw)) if source else np.nan
    long = values.melt(
        id_vars=["match_id", "_line_pre", "_line_close"], var_name="column", value_name="price"
    )
    long = long.loc[long["price"] > 1.0].merge(spec, on="column", how="left")
    long["line"] = np.select(
        [
            long["market"] == "ou25",
            (long["market"] == "ah") & (long["when"] == "pre"),
            long["market"] == "ah",
        ],
        [2.5, long["_line_pre"], long["_line_close"]],
        np.nan,
    )
    unlined_ah = (long["market"] == "ah") & long["line"].isna()  # a handicap price without its line
    long = long.loc[~unlined_ah, list(PRICE_COLUMNS)].drop_duplicates(
        ["match_id", "book", "market", "outcome", "when"], keep="last"
    )
    return MarketPrices(matches.reset_index(drop=True), typed(long.reset_index(drop=True)))


class PriceFileCache:
    """:func:`read_prices` of each file once, kept while the file's modification time and size
    stay the same (a rewritten file is read again).

    A day-by-day replay holds one for its whole run and passes it down: the matchday would
    otherwise parse the season's price files again on every simulated day. Not shared between
    callers; ``reads`` counts the files actually parsed.
    """

    def __init__(self) -> None:
        self._kept: dict[Path, tuple[tuple[int, int], MarketPrices]] = {}
        self.reads = 0

    def read(self, path: Path) -> MarketPrices:
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        kept = self._kept.get(path)
        if kept is None or kept[0] != key:
            kept = (key, read_prices(path))
            self._kept[path] = kept
            self.reads += 1
        return kept[1]


def load_prices(
    root: Path,
    codes: Sequence[str],
    from_season: int | None = None,
    to_season: int | None = None,
    cache: PriceFileCache | None = None,
) -> MarketPrices:
    """:func:`read_prices` of every season file of ``codes`` under ``root/soccer`` within the
    seasons (start years) given, and of the matches of ``codes`` in ``fixtures.csv`` that no
    season file lists yet, concatenated. ``cache``: read each file through it (default: parse
    every file)."""
    read = cache.read if cache is not None else read_prices
    files = []
    for path in sorted((root / "soccer").glob("*.csv")):
        named = SEASON_FILE.match(path.name)
        if named is None or named["division"] not in codes:
            continue
        season = season_from_code(named["season"])
        if (from_season is None or season >= from_season) and (to_season is None or season <= to_season):
            files.append(path)
    if not files:
        raise FileNotFoundError(f"no season files of {', '.join(codes)} under {root / 'soccer'}")
    reads = [read(path) for path in files]
    fixtures = root / "soccer" / FIXTURES_FILE
    if fixtures.is_file():  # the coming matches, listed nowhere else yet
        coming = read(fixtures)
        season = coming.matches["season"]
        ours = (
            coming.matches["competition"].isin(list(codes))
            & ~coming.matches["match_id"].isin(pd.concat([r.matches["match_id"] for r in reads]))
            & (season >= (from_season if from_season is not None else season.min()))
            & (season <= (to_season if to_season is not None else season.max()))
        )
        reads.append(coming.only(coming.matches.loc[ours, "match_id"]))
    return MarketPrices(
        pd.concat([r.matches for r in reads], ignore_index=True),
        typed(pd.concat([r.prices for r in reads], ignore_index=True)),
    )


def books_by_season(market: MarketPrices) -> pd.DataFrame:
    """Share of each competition-season's matches priced by each book, per market and timing.

    Index (competition, season, market, when, book); column ``share`` in [0, 1] (a match counts
    when the book has at least one outcome priced).
    """
    priced = market.prices[["match_id", "book", "market", "when"]].drop_duplicates()
    seasons = market.matches[["match_id", "competition", "season"]]
    counts = (
        priced.merge(seasons, on="match_id")
        .groupby(["competition", "season", "market", "when", "book"], observed=True)
        .size()
    )
    totals = seasons.groupby(["competition", "season"]).size()
    share = counts / totals.reindex(counts.index.droplevel(["market", "when", "book"])).to_numpy()
    return share.rename("share").to_frame()


def overrounds(prices: pd.DataFrame) -> pd.DataFrame:
    """Booksum (sum of 1/price over the outcomes; 1.05 = a 5 % margin) of each book's complete
    markets: columns match_id, book, market, when, line, overround. A market missing an outcome
    is left out."""
    keys = ["match_id", "book", "market", "when", "line"]
    frame = prices.assign(inverse=1.0 / prices["price"])
    grouped = frame.groupby(keys, observed=True, dropna=False).agg(
        overround=("inverse", "sum"), n=("inverse", "size")
    )
    grouped = grouped.reset_index()
    complete = grouped["n"] == grouped["market"].astype(str).map({m: len(o) for m, o in OUTCOMES.items()})
    return grouped.loc[complete, [*keys, "overround"]].reset_index(drop=True)


def best_prices(
    prices: pd.DataFrame, books: Sequence[str], market: str = "1x2", when: str = "pre"
) -> pd.DataFrame:
    """The best (highest) price of each outcome among ``books``: columns match_id, outcome,
    line, price, book (the first book in ``books`` order among those offering it)."""
    frame = _select(prices, books, market, when)
    rank = frame["book"].astype(str).map({b: i for i, b in enumerate(books)})
    frame = frame.assign(_rank=rank).sort_values(["price", "_rank"], ascending=[False, True], kind="stable")
    best = frame.drop_duplicates(["match_id", "outcome", "line"], keep="first")
    return best[["match_id", "outcome", "line", "price", "book"]].reset_index(drop=True)


def consensus_prices(
    prices: pd.DataFrame, books: Sequence[str], market: str = "1x2", when: str = "pre"
) -> pd.DataFrame:
    """The consensus of ``books``: the mean implied probability (1/price) of each outcome over
    the books offering it, as a price; columns match_id, outcome, line, price, n_books."""
    frame = _select(prices, books, market, when)
    out = (
        frame.assign(inverse=1.0 / frame["price"])
        .groupby(["match_id", "outcome", "line"], observed=True, dropna=False)
        .agg(inverse=("inverse", "mean"), n_books=("inverse", "size"))
        .reset_index()
    )
    out["price"] = 1.0 / out.pop("inverse")
    return out[["match_id", "outcome", "line", "price", "n_books"]]


def price_matrix(
    prices: pd.DataFrame, match_ids: Sequence[str] | pd.Index, market: str = "1x2"
) -> np.ndarray:
    """(n, k) prices of one book, market and timing (``prices`` already filtered to them, e.g.
    a :func:`best_prices` result) aligned to ``match_ids``, outcomes in :data:`OUTCOMES` order;
    NaN where missing."""
    outcomes = list(OUTCOMES[market])
    wide = prices.pivot_table(
        index="match_id", columns="outcome", values="price", aggfunc="first", observed=True
    )
    return wide.reindex(index=pd.Index(match_ids), columns=outcomes).to_numpy(dtype=float)


def book_matrix(
    prices: pd.DataFrame, match_ids: Sequence[str] | pd.Index, book: str, when: str, market: str = "1x2"
) -> np.ndarray:
    """:func:`price_matrix` of one ``book`` at ``when`` (a summary such as ``max`` included)."""
    return price_matrix(_select(prices, [book], market, when), match_ids, market)


def _select(prices: pd.DataFrame, books: Sequence[str], market: str, when: str) -> pd.DataFrame:
    if market not in OUTCOMES:
        raise ValueError(f"unknown market {market!r}; one of {', '.join(OUTCOMES)}")
    if when not in ("pre", "close"):
        raise ValueError(f"when must be 'pre' or 'close', not {when!r}")
    mask = prices["book"].isin(list(books)) & (prices["market"] == market) & (prices["when"] == when)
    return prices.loc[mask]


def _numbers(raw: pd.Series | None, n: int) -> np.ndarray:
    if raw is None:
        return np.full(n, np.nan)
    return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)


def typed(long: pd.DataFrame) -> pd.DataFrame:
    """A long price table in its stored types (categories for the repeated labels)."""
    return long.astype(
        {
            "match_id": "string",
            "book": "category",
            "market": "category",
            "outcome": "category",
            "when": "category",
            "line": "float64",
            "price": "float64",
        }
    )


def _empty_prices() -> pd.DataFrame:
    return typed(pd.DataFrame({c: pd.Series(dtype=object) for c in PRICE_COLUMNS}))
