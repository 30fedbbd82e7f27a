"""American lines in the long price table, from small files laid out like shared/data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.data import prices_american
from scoreline.data.prices import PRICE_COLUMNS

NBA = (
    "season,date,regular,playoffs,away,home,score_away,score_home,whos_favored,spread,total,"
    "moneyline_away,moneyline_home,h2_spread,h2_total\n"
    "2023,not a date,TRUE,FALSE,lal,den,90,95,home,3,210,130,-150,1,100\n"
    "2023,10/24/22,TRUE,FALSE,bos,gs,100,110,home,4.5,220,150,-170,2,110\n"
    "2023,10/25/22,TRUE,FALSE,ny,mia,101,99,away,2,215,-120,,1,108\n"
)
GAMES = (
    "id,season,week,season_type,start_date,neutral_site,home_team,away_team,home_points,"
    "away_points,home_conference,away_conference,venue\n"
    "1,2023,1,regular,2023-09-02T18:00:00Z,False,Alabama,Texas,31,24,SEC,Big 12,Bryant\n"
)
LINES = (
    "game_id,home_team,away_team,provider,spread,over_under,formatted_spread,spread_open,"
    "over_under_open,last_updated\n"
    "1,Alabama,Texas,Bovada,-7,50,Alabama -7,-6.5,49,2023-09-02T17:00:00Z\n"
    "1,Alabama,Texas,Caesars Sportsbook (Colorado),-7.5,50,Alabama -7.5,,,2023-09-02T17:00:00Z\n"
    "1,Alabama,Texas,consensus,-7,50,Alabama -7,,,2023-09-02T17:00:00Z\n"
    "99,X,Y,Bovada,-3,40,X -3,,,2023-09-02T17:00:00Z\n"
)


def test_nba_moneylines_become_decimal_prices_and_the_spread_the_home_line(tmp_path):
    (tmp_path / "nba").mkdir()
    (tmp_path / "nba" / "nba_2023.csv").write_text(NBA)
    market = prices_american.load_american_prices(tmp_path, "NBA")
    assert list(market.prices.columns) == list(PRICE_COLUMNS)
    assert market.matches["season"].tolist() == [2022, 2022]
    table = market.prices.astype(dict.fromkeys(("book", "market", "outcome", "when"), str))
    first = market.matches.loc[market.matches["home_team"] == "GS", "match_id"].iloc[0]
    money = table.loc[(table["match_id"] == first) & (table["market"] == "moneyline")].set_index("outcome")
    assert money.loc["home", "price"] == pytest.approx(1 + 100 / 170)
    assert money.loc["away", "price"] == pytest.approx(2.5)
    assert set(money["when"]) == {"close"} and set(money["book"]) == {"listed"}
    lines = table.loc[(table["match_id"] == first) & (table["market"] == "spread")]
    assert lines["line"].tolist() == [-4.5, -4.5] and lines["price"].isna().all()
    # a row without a date cannot be joined and shifts no other game's prices; a blank
    # moneyline leaves that side unpriced, not the game unread
    second = table.loc[table["match_id"] != first]
    assert second.query("market == 'moneyline'")["outcome"].tolist() == ["away"]
    assert second.query("market == 'spread'")["line"].tolist() == [2.0, 2.0]


def test_cfb_lines_per_book_opening_and_close_with_orphans_dropped(tmp_path):
    (tmp_path / "cfb").mkdir()
    (tmp_path / "cfb" / "games_2023.csv").write_text(GAMES)
    (tmp_path / "cfb" / "lines_2023.csv").write_text(LINES)
    market = prices_american.load_american_prices(tmp_path, "CFB")
    assert len(market.matches) == 1
    table = market.prices.astype(dict.fromkeys(("book", "market", "outcome", "when"), str))
    home = table.loc[table["outcome"] == "home"].set_index(["book", "when"])["line"]
    assert home.to_dict() == {
        ("bovada", "pre"): -6.5,
        ("bovada", "close"): -7.0,
        ("caesars", "close"): -7.5,
        ("consensus", "close"): -7.0,
    }
    assert set(table["match_id"]) == set(market.matches["match_id"])  # game 99 is not in games


def test_provider_names_and_unknown_codes(tmp_path):
    names = pd.Series(["ESPN Bet", "William Hill (New Jersey)", "Caesars Sportsbook (Colorado)", "Bovada"])
    assert prices_american.provider_book(names).tolist() == ["espn_bet", "william_hill", "caesars", "bovada"]
    assert np.isnan(prices_american.american_to_decimal(np.array([50.0]))[0])
    with pytest.raises(ValueError, match="E0"):
        prices_american.load_american_prices(tmp_path, "E0")


def test_american_to_decimal():
    moneyline = np.array([-150, 130, 100, -100, -110, np.nan, 50, -99.5])
    expected = [1 + 100 / 150, 2.30, 2.0, 2.0, 1 + 100 / 110, np.nan, np.nan, np.nan]
    np.testing.assert_allclose(prices_american.american_to_decimal(moneyline), expected)
    assert prices_american.american_to_decimal(-150) == pytest.approx(1.6667, abs=1e-4)
