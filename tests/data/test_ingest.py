"""Ingest end to end: idempotency, appends, fixtures, crash safety, and the real data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from csvs import ROWS, write_season
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore

TODAY = pd.Timestamp("2024-01-01")


def test_rerun_adds_nothing_and_new_seasons_append(settings, tmp_path):
    source = tmp_path / "src"
    write_season(source, "E0_2122.csv", rows=[r.replace("/22,", "/21,") for r in ROWS])
    first = ingest(settings, str(source), ["E0"], TODAY)
    again = ingest(settings, str(source), ["E0"], TODAY)
    assert first.changed and not again.changed and again.snapshot == first.snapshot
    write_season(source, "E0_2223.csv")
    third = ingest(settings, str(source), ["E0"], TODAY)
    results = MatchStore(settings.store_dir).results("E0")
    assert third.changed and len(results) == 6 and results["match_id"].is_unique


def test_a_bad_file_mid_run_leaves_the_store_exactly_as_it_was(settings, tmp_path):
    source = tmp_path / "src"
    write_season(source, "E0_2122.csv", rows=[r.replace("/22,", "/21,") for r in ROWS])
    ingest(settings, str(source), ["E0"], TODAY)
    before = {p: p.read_bytes() for p in settings.store_dir.rglob("*") if p.is_file()}
    write_season(source, "E0_2223.csv")
    write_season(source, "E0_2324.csv").write_text("Div,Date,HomeTeam\nE0,1/1/24,X\n")
    from scoreline.data.parsing import FileParseError

    with pytest.raises(FileParseError, match=r"soccer/E0_2324\.csv: missing required column"):
        ingest(settings, str(source), ["E0"], TODAY)
    after = {p: p.read_bytes() for p in settings.store_dir.rglob("*") if p.is_file()}
    assert after == before


def test_fixtures_are_kept_apart_until_their_result_arrives(settings, tmp_path):
    source = tmp_path / "src"
    write_season(
        source, "E0_2324.csv", rows=["E0,20/12/23,Arsenal,Chelsea,1,0,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6"]
    )
    fixtures = source / "soccer" / "fixtures.csv"
    fixtures.write_text(
        "Div,Date,HomeTeam,AwayTeam,B365H,B365D,B365A\nE0,06/01/2024,Everton,Fulham,2.4,3.2,3.1\n"
    )
    ingest(settings, str(source), ["E0"], TODAY)
    store = MatchStore(settings.store_dir)
    assert len(store.results("E0")) == 1 and store.fixtures("E0")["home_team"].tolist() == ["Everton"]

    fixtures.unlink()
    write_season(
        source,
        "E0_2324.csv",
        rows=[
            "E0,20/12/23,Arsenal,Chelsea,1,0,H,1,1,2.1,3.4,3.6,2.1,3.4,3.6",
            "E0,06/01/24,Everton,Fulham,0,2,A,1,1,2.4,3.2,3.1,2.4,3.2,3.1",
        ],
    )
    ingest(settings, str(source), ["E0"], pd.Timestamp("2024-01-07"))
    assert len(store.results("E0")) == 2 and store.fixtures("E0").empty


def _source_rows(path: Path) -> int:
    """Non-blank data lines of a CSV, counted without pandas."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()[1:]
    return sum(1 for line in lines if line.replace(",", "").strip())


@pytest.mark.realdata
def test_real_data_every_source_row_is_kept_or_quarantined_with_a_reason(real_ingest, real_data):
    report, _ = real_ingest
    files = report.files.set_index("file")
    assert len(files) == 94 + 1 + 1 + 5
    for name, row in files.iterrows():
        assert row["rows"] == _source_rows(real_data / name), name
        assert row["results"] + row["fixtures"] + row["quarantined"] == row["rows"], name
    assert report.quarantine["reason"].str.len().gt(0).all()
    # all 34,139 football rows are good data; the few bad American rows are real data errors
    totals = report.by_competition()
    assert totals.loc[["E0", "D1", "SP1", "I1", "F1"], "rows"].sum() == 34139
    assert totals.loc[["E0", "D1", "SP1", "I1", "F1"], "quarantined"].sum() == 0
    assert totals.loc["CFB", "quarantined"] == 1  # App State - Liberty 2024, cancelled
    assert totals.loc["D1", "prices_removed"] == 1  # a closing over 2.5 price of 0.42
    assert set(report.quarantine["action"]) == {"row rejected", "prices removed, row kept"}


@pytest.mark.realdata
def test_real_data_known_facts(real_ingest):
    _, settings = real_ingest
    results = MatchStore(settings.store_dir).results()
    e0 = results[results["competition"] == "E0"]
    assert e0.groupby("season").size().eq(380).all() and e0["season"].nunique() == 18
    assert e0["home_team"].nunique() == 42  # distinct clubs 2005/06 - 2022/23
    assert results[results["competition"] == "D1"].groupby("season").size().eq(306).all()
    assert len(results[(results["competition"] == "F1") & (results["season"] == 2019)]) == 279

    nfl = results[results["competition"] == "NFL"]
    assert nfl[nfl["season"] >= 2002]["home_team"].nunique() == 32  # relocations are one franchise
    assert set(nfl[nfl["season"] == 2005]["home_team"]) >= {"LAC", "LAR", "OAK", "TEN", "WAS"}
    bowl = nfl[nfl["date"] == pd.Timestamp("2024-02-11")].iloc[0]  # KC (home) v SF, SF -2
    assert (bowl["home_team"], bowl["away_team"], bowl["spread_home"], bool(bowl["neutral"])) == (
        "KC",
        "SF",
        2.0,
        True,
    )
    assert bool(bowl["playoff"]) and bowl["total_line"] == 47

    nba = results[results["competition"] == "NBA"]
    opener = nba[(nba["date"] == pd.Timestamp("2007-10-30")) & (nba["home_team"] == "SA")].iloc[0]
    assert (opener["season"], opener["away_team"], opener["spread_home"]) == (2007, "POR", -13.0)
    assert (opener["home_ht_score"], opener["away_ht_score"]) == (59, 49)
    assert opener["moneyline_home"] == -1400

    cfb = results[results["competition"] == "CFB"]
    game = cfb[(cfb["home_team"] == "New Mexico") & (cfb["away_team"] == "Montana State")].iloc[0]
    assert bool(game["away_fcs"]) and not bool(game["home_fcs"])
    assert game["date"] == pd.Timestamp("2024-08-24")
    assert game["kickoff_utc"] == pd.Timestamp("2024-08-24T20:00:00Z")
    assert cfb.groupby("season").size().to_dict() == {2020: 568, 2021: 887, 2022: 896, 2023: 910, 2024: 919}


@pytest.mark.realdata
def test_real_data_cfb_consensus_line_is_the_median_across_providers(real_ingest, real_data):
    _, settings = real_ingest
    lines = pd.read_csv(real_data / "cfb" / "lines_2024.csv")
    games = pd.read_csv(real_data / "cfb" / "games_2024.csv")
    game = games[(games["home_team"] == "Pittsburgh") & (games["away_team"] == "California")].iloc[0]
    expected = lines.loc[lines["game_id"] == game["id"], "spread"].median()
    cfb = MatchStore(settings.store_dir).results("CFB")
    row = cfb[(cfb["home_team"] == "Pittsburgh") & (cfb["away_team"] == "California")].iloc[0]
    assert row["spread_home"] == expected and row["n_line_providers"] >= 2


@pytest.mark.realdata
def test_real_data_reingest_is_idempotent(real_ingest, real_data):
    report, settings = real_ingest
    again = ingest(settings, str(real_data), None, pd.Timestamp("2026-11-23"))
    assert not again.changed and again.snapshot == report.snapshot
