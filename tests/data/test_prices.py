"""Every book's prices as a long table, from whatever columns a season file has."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csvs import HEADER, ROWS, write_season
from scoreline.data import prices
from scoreline.data.adapters import football_data
from scoreline.data.validation import validate

NEW_HEADER = (
    "Div,Date,Time,HomeTeam,AwayTeam,FTHG,FTAG,FTR,B365H,B365D,B365A,BWH,BWD,BWA,PSH,PSD,PSA,"
    "MaxH,MaxD,MaxA,AvgH,AvgD,AvgA,B365>2.5,B365<2.5,P>2.5,P<2.5,AHh,B365AHH,B365AHA,"
    "B365CH,B365CD,B365CA,PSCH,PSCD,PSCA,AHCh,PCAHH,PCAHA"
)
NEW_ROW = (
    "E0,05/08/2022,20:00,Crystal Palace,Arsenal,0,2,A,4.2,3.6,1.85,4.33,3.5,1.87,4.5,3.65,1.89,"
    "4.6,3.78,1.95,4.39,3.59,1.88,2.1,1.72,2.14,1.78,0.5,2.04,1.89,"
    "4.5,3.6,1.8,4.58,3.63,1.88,0.75,1.95,1.95"
)


def test_new_layout_every_book_market_and_timing(tmp_path):
    read = prices.read_prices(write_season(tmp_path, header=NEW_HEADER, rows=[NEW_ROW]))
    table = read.prices.astype(dict.fromkeys(("book", "market", "outcome", "when"), str))
    assert list(table.columns) == list(prices.PRICE_COLUMNS)
    assert read.matches.loc[0, "home_score"] == 0 and read.matches.loc[0, "season"] == 2022

    def price(book, market, outcome, when):
        hit = table.query("book == @book & market == @market & outcome == @outcome & when == @when")
        assert len(hit) == 1, (book, market, outcome, when)
        return hit.iloc[0]

    assert price("b365", "1x2", "home", "pre")["price"] == 4.2
    assert price("bw", "1x2", "away", "pre")["price"] == 1.87
    assert price("pinnacle", "1x2", "draw", "pre")["price"] == 3.65
    assert price("pinnacle", "1x2", "away", "close")["price"] == 1.88
    assert price("b365", "1x2", "home", "close")["price"] == 4.5
    assert price("max", "1x2", "draw", "pre")["price"] == 3.78
    assert price("avg", "1x2", "home", "pre")["price"] == 4.39
    over = price("pinnacle", "ou25", "over", "pre")
    assert (over["price"], over["line"]) == (2.14, 2.5)
    assert price("b365", "ou25", "under", "pre")["price"] == 1.72
    ah_pre = price("b365", "ah", "home", "pre")
    assert (ah_pre["price"], ah_pre["line"]) == (2.04, 0.5)
    ah_close = price("pinnacle", "ah", "away", "close")
    assert (ah_close["price"], ah_close["line"]) == (1.95, 0.75)
    assert np.isnan(price("b365", "1x2", "home", "pre")["line"])
    assert len(table) == 3 * (5 + 2) + 2 * 2 + 2 * 2  # 1X2: 5 books pre, 2 close; O/U; AH


def test_a_file_with_missing_books_still_loads(tmp_path):
    # an old layout with only Bet365 and Betbrain's summaries: no Pinnacle, no closing prices
    path = write_season(
        tmp_path,
        "E0_0506.csv",
        header="Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,B365H,B365D,B365A,BbMxH,BbMxD,BbMxA,BbAvH,BbAvD,BbAvA",
        rows=[
            "E0,13/08/05,Aston Villa,Bolton,2,2,2.4,3.2,3.0,2.6,3.4,3.2,2.4,3.2,3.0",
            "E0,13/08/05,Everton,Man United,0,2,,,,4.5,3.6,1.9,4.2,3.4,1.8",
        ],
    )
    read = prices.read_prices(path)
    assert len(read.matches) == 2
    books = read.prices.groupby("book", observed=True).size().to_dict()
    assert books == {"b365": 3, "max": 6, "avg": 6}  # blank Bet365 prices of match 2 dropped
    assert set(read.prices["when"].astype(str)) == {"pre"}
    share = prices.books_by_season(read)["share"]
    assert share.loc[("E0", 2005, "1x2", "pre", "b365")] == 0.5
    assert share.loc[("E0", 2005, "1x2", "pre", "max")] == 1.0
    assert prices.book_matrix(read.prices, read.matches["match_id"], "pinnacle", "pre").shape == (2, 3)
    assert np.isnan(prices.book_matrix(read.prices, read.matches["match_id"], "pinnacle", "pre")).all()


def test_match_ids_join_the_store(tmp_path):
    path = write_season(tmp_path, header=HEADER, rows=ROWS)
    read = prices.read_prices(path)
    kept = validate(football_data.read(path, tmp_path).frame, pd.Timestamp("2024-01-01")).kept
    assert list(read.matches["match_id"]) == list(kept["match_id"])
    store = kept.set_index("match_id")
    close = prices.book_matrix(read.prices, store.index, "pinnacle", "close")
    expected = store[[f"odds_pinnacle_close_{o}" for o in ("home", "draw", "away")]].to_numpy(float)
    np.testing.assert_array_equal(close, expected)


def test_overround_best_and_consensus(tmp_path):
    read = prices.read_prices(write_season(tmp_path, header=NEW_HEADER, rows=[NEW_ROW]))
    booksums = prices.overrounds(read.prices).set_index(["book", "market", "when"])["overround"]
    assert booksums[("b365", "1x2", "pre")] == pytest.approx(1 / 4.2 + 1 / 3.6 + 1 / 1.85)
    assert booksums[("b365", "ah", "pre")] == pytest.approx(1 / 2.04 + 1 / 1.89)
    assert ("b365", "ou25", "close") not in booksums.index

    best = prices.best_prices(read.prices, ["b365", "bw", "pinnacle"]).set_index("outcome")
    assert best.loc["home", "price"] == 4.5 and best.loc["home", "book"] == "pinnacle"
    assert best.loc["away", "price"] == 1.89
    soft = prices.best_prices(read.prices, ["b365", "bw"]).set_index("outcome")
    assert soft.loc["home", "book"] == "bw" and soft.loc["draw", "book"] == "b365"  # 3.6 > 3.5

    consensus = prices.consensus_prices(read.prices, ["b365", "bw"]).set_index("outcome")
    assert consensus.loc["home", "price"] == pytest.approx(2 / (1 / 4.2 + 1 / 4.33))
    assert consensus.loc["home", "n_books"] == 2


def test_unknown_market_is_named(tmp_path):
    read = prices.read_prices(write_season(tmp_path))
    with pytest.raises(ValueError, match="unknown market 'btts'"):
        prices.best_prices(read.prices, ["b365"], market="btts")


def test_real_five_leagues_books_per_season(real_data):
    market = prices.load_prices(real_data, ["E0", "D1"], from_season=2018, to_season=2019)
    share = prices.books_by_season(market)["share"]
    # Betbrain's summaries to 2018/19, Max/Avg after: one "max" book either way
    assert share.loc[("E0", 2018, "1x2", "pre", "max")] == 1.0
    assert share.loc[("E0", 2019, "1x2", "pre", "max")] == 1.0
    # closing prices of the soft books only from 2019/20; Pinnacle's close throughout
    assert ("E0", 2018, "1x2", "close", "b365") not in share.index
    assert share.loc[("E0", 2019, "1x2", "close", "b365")] == 1.0
    assert share.loc[("E0", 2018, "1x2", "close", "pinnacle")] == 1.0
    assert len(market.matches) == 2 * 380 + 2 * 306


def test_fixtures_file_adds_the_coming_matches_of_the_wanted_divisions(tmp_path):
    write_season(tmp_path, header=HEADER, rows=ROWS)
    (tmp_path / "soccer" / "fixtures.csv").write_text(
        "Div,Date,Time,HomeTeam,AwayTeam,B365H,B365D,B365A,BWH,BWD,BWA,PSH,PSD,PSA\n"
        "E0,20/08/2022,15:00,Arsenal,Fulham,1.5,4.2,6.5,1.52,4.1,6.2,1.53,4.3,6.9\n"
        "D1,20/08/2022,15:00,Bayern Munich,Bochum,1.1,11,21,1.1,10,20,1.11,12,25\n"
        "E0,12/08/2022,20:00,Arsenal,Chelsea,2.2,3.4,3.5,,,,,,\n"  # already in the season file
    )
    market = prices.load_prices(tmp_path, ["E0"])
    assert len(market.matches) == 4  # three played, one coming
    coming = market.matches.loc[market.matches["home_score"].isna()].iloc[0]
    assert (coming["home_team"], coming["away_team"], coming["season"]) == ("Arsenal", "Fulham", 2022)
    bw = prices.book_matrix(market.prices, [coming["match_id"]], "bw", "pre")
    np.testing.assert_array_equal(bw, [[1.52, 4.1, 6.2]])
    played = market.matches.loc[
        market.matches["home_team"].eq("Arsenal") & market.matches["home_score"].notna()
    ]
    assert prices.book_matrix(market.prices, played["match_id"], "b365", "pre")[0, 0] == 2.10  # the file's


def test_the_cache_parses_a_file_once_until_it_changes(tmp_path):
    write_season(tmp_path)
    cache = prices.PriceFileCache()
    first = prices.load_prices(tmp_path, ["E0"], cache=cache)
    again = prices.load_prices(tmp_path, ["E0"], cache=cache)
    assert cache.reads == 1
    pd.testing.assert_frame_equal(first.prices, again.prices)
    write_season(tmp_path, rows=ROWS[:2])  # rewritten: a different size
    assert len(prices.load_prices(tmp_path, ["E0"], cache=cache).matches) == 2
    assert cache.reads == 2
