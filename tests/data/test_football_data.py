"""The football-data.co.uk adapter on small generated files, including corrupt ones."""

from __future__ import annotations

import pandas as pd
import pytest

from csvs import HEADER, ROWS, write_season
from scoreline.data.adapters import football_data
from scoreline.data.parsing import FileParseError
from scoreline.data.validation import validate

TODAY = pd.Timestamp("2024-01-01")


def read_valid(path):
    read = football_data.read(path, path.parents[1])
    return read, validate(read.frame, TODAY)


def test_bom_four_digit_dates_float_integers_and_blank_trailer(tmp_path):
    rows = [r.replace("/22,", "/2022,").replace(",2,1,H", ",2.0,1.0,H") for r in ROWS]
    path = write_season(tmp_path, rows=rows, bom=True, trailer=",,,,,,,,,,,,,,\n\n")
    read, checked = read_valid(path)
    assert read.rows == 3  # blank rows are not source rows
    assert len(checked.kept) == 3 and checked.quarantine.empty
    first = checked.kept.iloc[0]
    assert first["date"] == pd.Timestamp("2022-08-12")
    assert (first["home_score"], first["away_score"]) == (2, 1)
    assert first["season"] == 2022
    assert first["odds_b365_home"] == 2.10 and first["odds_pinnacle_close_away"] == 3.80
    assert first["source_file"] == "soccer/E0_2223.csv" and first["source_line"] == 2


def test_old_and_new_market_column_names_map_to_one_canonical_column(tmp_path):
    old = write_season(
        tmp_path,
        "E0_0506.csv",
        header="Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,BbAvH,BbAvD,BbAvA",
        rows=["E0,13/08/05,Aston Villa,Bolton,2,2,2.4,3.2,3.0"],
    )
    new = write_season(
        tmp_path,
        "E0_2223.csv",
        header="Div,Date,HomeTeam,AwayTeam,FTHG,FTAG,AvgH,AvgD,AvgA",
        rows=["E0,13/08/2022,Aston Villa,Bolton,2,2,2.5,3.3,3.0"],
    )
    assert read_valid(old)[1].kept["odds_avg_home"].iat[0] == 2.4
    assert read_valid(new)[1].kept["odds_avg_home"].iat[0] == 2.5


@pytest.mark.parametrize(
    "row, reason",
    [
        ("E0,32/08/22,Arsenal,Chelsea,2,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "Date: unparseable (32/08/22)"),
        (
            "E0,12/08/22,Arsenal,Chelsea,-1,1,A,1,1,2.1,3.4,3.6,2.1,3.4,3.6",
            "home_score: -1 fails greater_than_or_equal_to(0)",
        ),
        ("E0,12/08/22,Arsenal,Arsenal,2,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "same team twice"),
        ("E0,12/08/22,Arsenal,Chelsea,two,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "FTHG: not an integer (two)"),
        ("E0,12/08/22,Arsenal,Chelsea,2,1,A,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "FTR: A contradicts the score"),
        ("E0,12/08/19,Arsenal,Chelsea,2,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "Date: outside season 2022/2023"),
        (
            "E1,12/08/22,Arsenal,Chelsea,2,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6",
            "Div: E1 does not match the file's E0",
        ),
        ("E0,12/08/22,Arsenal,Chelsea,2,,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", "only one of home_score/away_score"),
        ("E0,12/08/22,Arsenal,Chelsea,2,1,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6", None),
    ],
)
def test_bad_rows_are_quarantined_with_a_reason_naming_the_field(tmp_path, row, reason):
    path = write_season(tmp_path, rows=[ROWS[1], row])
    _, checked = read_valid(path)
    if reason is None:
        assert checked.quarantine.empty
        return
    assert len(checked.kept) == 1 and len(checked.quarantine) == 1
    bad = checked.quarantine.iloc[0]
    assert reason in bad["reason"], bad["reason"]
    assert (bad["source_file"], bad["source_line"]) == ("soccer/E0_2223.csv", 3)


@pytest.mark.parametrize(
    "prices, reason",
    [
        ("0,3.4,3.6", "odds_b365_home: 0.0 fails decimal odds must be > 1.0"),
        ("1.5,1.5,1.5", "1X2 overround of b365 prices outside the sane range"),
    ],
)
def test_bad_prices_are_removed_and_reported_but_the_result_is_kept(tmp_path, prices, reason):
    path = write_season(tmp_path, rows=[f"E0,12/08/22,Arsenal,Chelsea,2,1,H,1,1,{prices},2.1,3.4,3.6"])
    _, checked = read_valid(path)
    assert len(checked.kept) == 1 and checked.kept["odds_b365_home"].isna().all()
    assert checked.kept["odds_pinnacle_close_home"].iat[0] == 2.1  # other markets untouched
    note = checked.quarantine.iloc[0]
    assert reason in note["reason"] and note["action"] == "prices removed, row kept"


def test_result_in_the_future_is_quarantined(tmp_path):
    path = write_season(tmp_path, rows=ROWS)
    read = football_data.read(path, tmp_path)
    checked = validate(read.frame, pd.Timestamp("2022-08-13"))
    assert checked.quarantine["reason"].str.contains("result dated in the future").sum() == 1


def test_truncated_file_quarantines_the_cut_row(tmp_path):
    path = write_season(tmp_path, rows=[*ROWS[:2], "E0,14/08/22,Leeds"])
    _, checked = read_valid(path)
    assert len(checked.kept) == 2
    reason = checked.quarantine["reason"].iat[0]
    assert "away_team" in reason and checked.quarantine["source_line"].iat[0] == 4


@pytest.mark.parametrize(
    "header, content, problem",
    [
        (
            None,
            "Div,Date,HomeTeam,FTHG,FTAG\nE0,12/08/22,Arsenal,2,1\n",
            "missing required column(s) AwayTeam",
        ),
        (None, "", "file is empty"),
        (None, 'Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nE0,"12/08/22,Arsenal,Chelsea,2,1\n', "not a valid CSV"),
        (
            None,
            "Div,Date,HomeTeam,AwayTeam,FTHG,FTAG\nE0,12/08/22,Arsenal,Chelsea,2,1,9,9,9\n",
            "not a valid CSV",
        ),
    ],
)
def test_unparseable_file_names_file_and_problem(tmp_path, header, content, problem):
    path = write_season(tmp_path, header=header or HEADER)
    if content is not None:
        path.write_text(content)
    with pytest.raises(FileParseError) as err:
        football_data.read(path, tmp_path)
    assert "soccer/E0_2223.csv" in str(err.value) and problem in str(err.value)


def test_fixtures_file_rows_take_their_competition_and_season_from_the_row(tmp_path):
    path = tmp_path / "soccer" / "fixtures.csv"
    path.parent.mkdir(parents=True)
    path.write_text(
        "Div,Date,Time,HomeTeam,AwayTeam,B365H,B365D,B365A\n"
        "E0,20/01/2024,15:00,Arsenal,Chelsea,2.1,3.4,3.6\n"
        "SC0,20/01/2024,15:00,Celtic,Rangers,1.8,3.6,4.2\n"
    )
    read = football_data.read(path, tmp_path)
    checked = validate(read.frame, TODAY)
    assert checked.kept["competition"].tolist() == ["E0"]
    assert checked.kept["season"].iat[0] == 2023 and pd.isna(checked.kept["home_score"].iat[0])
    assert "unknown competition SC0" in checked.quarantine["reason"].iat[0]
