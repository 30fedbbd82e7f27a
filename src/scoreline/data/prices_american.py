"""American sports' lines and prices in the long price table of :mod:`scoreline.data.prices`.

What the files hold, and so what a strategy can do with them:

* **NBA** (``nba/*.csv``): one moneyline pair and one spread per game, from one unnamed source
  (book ``listed``), read as the close (``when = "close"``, as the NBA adapter documents them).
  There is no earlier quote of the same game, so a bet at these prices has no closing-line value
  to measure.
* **College football** (``cfb/lines_{YYYY}.csv``): a spread per game and provider. ``spread``
  is a close-ish snapshot (``close``), ``spread_open`` the opening number (``pre``; blank before
  2021 and often after). Providers are bookmakers (``bovada``, ``draftkings``, ``espn_bet``,
  ``caesars``, ...) or, in :data:`LINE_SUMMARIES`, CFBD's own aggregate and media sites whose
  numbers nobody can bet. No provider is a sharp book, and no spread carries its price.
* **NFL** (``nfl/spreadspoke_scores.csv``): the closing spread only (book ``listed``).

Rows follow :data:`scoreline.data.prices.PRICE_COLUMNS`: market ``moneyline`` (outcomes home /
away, decimal ``price``, ``line`` NaN) or ``spread`` (outcomes home / away, ``line`` = the home
side's handicap, negative = home favoured, for both rows; ``price`` NaN: the files quote none).
Match ids and teams are the store's (each sport's adapter reads the games), so prices join the
backtests' predictions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.data.adapters import cfbd, nba, spreadspoke
from scoreline.data.parsing import read_text_csv
from scoreline.data.prices import MATCH_COLUMNS, PRICE_COLUMNS, MarketPrices, typed
from scoreline.data.schema import match_ids

#: markets of the American files and their outcomes, in column order
AMERICAN_OUTCOMES = {"moneyline": ("home", "away"), "spread": ("home", "away")}
#: the book name of a file that does not say whose line it lists
LISTED = "listed"
#: CFBD providers that are not bookmakers: its own aggregate and media sites' lines
LINE_SUMMARIES = ("consensus", "numberfire", "teamrankings")
AMERICAN_CODES = ("NBA", "CFB", "NFL")


def american_to_decimal(moneyline: np.ndarray) -> np.ndarray:
    """Decimal odds from American moneylines (-150 -> 1.6667, +130 -> 2.30, +/-100 -> 2.0).

    NaN, and values strictly between -100 and +100 (not valid moneylines), give NaN.
    """
    ml = np.asarray(moneyline, dtype=float)
    valid = np.abs(ml) >= 100  # False for NaN
    safe = np.where(valid, ml, 100.0)
    return np.where(valid, np.where(safe > 0, 1.0 + safe / 100.0, 1.0 + 100.0 / np.abs(safe)), np.nan)


def provider_book(provider: pd.Series) -> pd.Series:
    """A CFBD provider name as a book name: lower case, state and "Sportsbook" dropped, words
    joined by ``_`` (``Caesars Sportsbook (Colorado)`` -> ``caesars``, ``ESPN Bet`` ->
    ``espn_bet``, ``William Hill (New Jersey)`` -> ``william_hill``)."""
    text = provider.astype("string").str.lower().str.replace(r"\(.*?\)", "", regex=True)
    text = text.str.replace("sportsbook", "", regex=False).str.strip()
    return text.str.replace(r"[^a-z0-9]+", "_", regex=True).str.strip("_")


def nba_prices(root: Path) -> MarketPrices:
    """Every NBA game of ``root/nba/*.csv`` with its listed moneylines and spread."""
    games = pd.concat([nba.read(p, root).frame for p in nba.discover(root)], ignore_index=True)
    matches = _matches(games)
    games = games.loc[matches.index]  # the rows that became matches, in their order
    moneyline = american_to_decimal(games[["moneyline_home", "moneyline_away"]].to_numpy(float))
    rows = [
        _rows(matches["match_id"], LISTED, "moneyline", outcome, "close", np.nan, moneyline[:, j])
        for j, outcome in enumerate(AMERICAN_OUTCOMES["moneyline"])
    ]
    rows += _spread_rows(matches["match_id"], LISTED, "close", games["spread_home"])
    return MarketPrices(matches, _table(rows))


def nfl_prices(root: Path) -> MarketPrices:
    """Every NFL game of spreadspoke's scores file with its closing spread."""
    games = pd.concat(
        [spreadspoke.read(p, root).frame for p in spreadspoke.discover(root)], ignore_index=True
    )
    matches = _matches(games)
    spread = games.loc[matches.index, "spread_home"]  # the rows that became matches
    return MarketPrices(matches, _table(_spread_rows(matches["match_id"], LISTED, "close", spread)))


def cfb_prices(root: Path) -> MarketPrices:
    """Every college football game of ``root/cfb/games_{YYYY}.csv`` with each provider's
    opening (``pre``, where given) and close-ish (``close``) spread; line rows of games the games
    file lacks (FCS-vs-FCS) are dropped, as are a provider's repeated rows of one game."""
    matches, rows = [], []
    for path in cfbd.discover(root):
        games = cfbd.read(path, root).frame
        games = games.assign(
            game_id=read_text_csv(path, display=path.name, required=["id"])["id"].str.strip()
        )
        found = _matches(games)
        matches.append(found)
        lines_path = path.with_name(re.sub(r"^games_", "lines_", path.name))
        if not lines_path.is_file():
            continue
        lines = read_text_csv(
            lines_path, display=lines_path.name, required=[*cfbd.LINE_REQUIRED, "spread_open"]
        )
        ids = dict(zip(games.loc[found.index, "game_id"], found["match_id"]))
        lines = lines.assign(
            match_id=lines["game_id"].str.strip().map(ids), book=provider_book(lines["provider"])
        )
        lines = lines.loc[lines["match_id"].notna()].drop_duplicates(["match_id", "book"], keep="first")
        for when, column in (("pre", "spread_open"), ("close", "spread")):
            spread = pd.to_numeric(lines[column], errors="coerce")
            keep = spread.notna()
            rows += _spread_rows(lines.loc[keep, "match_id"], lines.loc[keep, "book"], when, spread[keep])
    return MarketPrices(pd.concat(matches, ignore_index=True), _table(rows))


READERS = {"NBA": nba_prices, "CFB": cfb_prices, "NFL": nfl_prices}


def load_american_prices(
    root: Path, code: str, from_season: int | None = None, to_season: int | None = None
) -> MarketPrices:
    """The ``code`` (:data:`AMERICAN_CODES`) games of ``root`` within the seasons (start years)
    given, with their lines and prices. Raises ``ValueError`` for another code and
    ``FileNotFoundError`` when the folder has none of its files."""
    if code not in READERS:
        raise ValueError(f"no American line files for {code!r}; one of {', '.join(AMERICAN_CODES)}")
    market = READERS[code](root) if _has_files(root, code) else None
    if market is None or market.matches.empty:
        raise FileNotFoundError(f"no {code} games under {root}")
    season = market.matches["season"]
    keep = season.between(
        from_season if from_season is not None else season.min(),
        to_season if to_season is not None else season.max(),
    )
    return market.only(market.matches.loc[keep, "match_id"])


def _has_files(root: Path, code: str) -> bool:
    module = {"NBA": nba, "CFB": cfbd, "NFL": spreadspoke}[code]
    return bool(module.discover(root))


def _matches(games: pd.DataFrame) -> pd.DataFrame:
    """The adapter rows that can be joined (a date, both teams and a season), as
    :data:`MATCH_COLUMNS`, keeping their index (so line columns can be aligned to them)."""
    joinable = games["date"].notna() & games["home_team"].notna() & games["away_team"].notna()
    games = games.loc[joinable & pd.to_numeric(games["season"], errors="coerce").notna()]
    out = games.assign(
        season=pd.to_numeric(games["season"]).astype(int),
        match_id=match_ids(games["competition"], games["date"], games["home_team"], games["away_team"]),
        home_score=pd.to_numeric(games["home_score"], errors="coerce").astype(float),
        away_score=pd.to_numeric(games["away_score"], errors="coerce").astype(float),
    )
    return out[list(MATCH_COLUMNS)].drop_duplicates("match_id", keep="last")


def _spread_rows(
    ids: pd.Series, book: str | pd.Series, when: str, spread_home: pd.Series
) -> list[pd.DataFrame]:
    """Home and away rows of each game's spread (``ids``, ``book`` and ``spread_home`` row-aligned);
    games without a spread have none."""
    line = pd.to_numeric(spread_home, errors="coerce").to_numpy(float)
    keep = np.isfinite(line)
    books = book.to_numpy(object)[keep] if isinstance(book, pd.Series) else book
    return [
        _rows(ids.to_numpy(object)[keep], books, "spread", outcome, when, line[keep], np.nan)
        for outcome in AMERICAN_OUTCOMES["spread"]
    ]


def _rows(ids, book, market: str, outcome: str, when: str, line, price) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "match_id": np.asarray(ids, dtype=object),
            "book": book,
            "market": market,
            "outcome": outcome,
            "when": when,
            "line": line,
            "price": price,
        }
    )
    # a moneyline row needs a price; a spread row needs a line
    return frame.loc[frame["price"] > 1.0] if market == "moneyline" else frame


def _table(rows: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=list(PRICE_COLUMNS))
    return typed(frame[list(PRICE_COLUMNS)]).reset_index(drop=True)
