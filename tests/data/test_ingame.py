"""The NBA in-game timelines: adapter, checks, the store's extra tables, and the real files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

from scoreline.data.ingame import load_ingame, minute_scores
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore

TODAY = pd.Timestamp("2024-01-01")
NBA_HEADER = (
    "season,date,regular,playoffs,away,home,score_away,score_home,q1_away,q2_away,q1_home,q2_home,"
    "whos_favored,spread,total,moneyline_away,moneyline_home,h2_spread,h2_total"
)
GAMES_HEADER = "game_id,date,home_abbr,away_abbr,season,season_type,final_home,final_away,quality_ok"
EVENTS_HEADER = "game_id,row_order,eventnum,period,clock,elapsed_s,home_score,away_score,consistent"


def _events(game: str, steps: list[tuple[int, int, int]], consistent: set[int] | None = None) -> list[str]:
    """Timeline rows of ``game``: (elapsed_s, home, away) per step, first quarter unless later."""
    rows = []
    for i, (elapsed, home, away) in enumerate(steps):
        period = min(elapsed // 720 + 1, 4) if elapsed < 2880 else 4
        left = period * 720 - elapsed
        ok = "False" if consistent is not None and i not in consistent else "True"
        rows.append(
            f"{game},{i},{i},{period},{left // 60:02d}:{left % 60:02d},{elapsed}.0,{home},{away},{ok}"
        )
    return rows


def write_source(root: Path, *, events: list[str] | None = None, games: list[str] | None = None) -> Path:
    """nba/ with three games on 2023-11-01 and nba_pbp/ with their timelines and minutes."""
    (root / "nba").mkdir(parents=True, exist_ok=True)
    (root / "nba" / "nba.csv").write_text(
        "\n".join(
            [
                NBA_HEADER,
                "2024,11/1/23,TRUE,FALSE,bos,ny,90,100,20,20,25,25,home,4.5,210.5,150,-170,2,105",
                "2024,11/1/23,TRUE,FALSE,lal,gs,101,99,25,25,25,25,away,2,220,-130,110,1,110",
                "2024,11/1/23,TRUE,FALSE,mia,sa,95,96,20,20,25,25,home,1,200,-115,-105,0,100",
            ]
        )
        + "\n"
    )
    folder = root / "nba_pbp"
    for sub in ("score_timeline", "score_by_minute"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "games.csv").write_text(
        "\n".join(
            [
                GAMES_HEADER,
                *(
                    games
                    or [
                        "0022300001,2023-11-01,NYK,BOS,2023-24,regular,100,90,True",
                        "0022300002,2023-11-01,GSW,LAL,2023-24,regular,99,101,True",
                        "0022300003,2023-11-01,SAS,MIA,2023-24,regular,96,95,False",
                    ]
                ),
            ]
        )
        + "\n"
    )
    if events is None:
        events = [
            *_events("0022300001", [(30, 2, 0), (100, 2, 3), (1500, 50, 40), (2870, 100, 90)]),
            *_events("0022300002", [(45, 0, 2), (70, 3, 2), (2000, 80, 85), (2800, 99, 101)]),
            *_events("0022300003", [(50, 2, 0), (2860, 96, 95)]),
        ]
    with gzip.open(folder / "score_timeline" / "nba_score_timeline_2023_24_regular.csv.gz", "wt") as out:
        out.write("\n".join([EVENTS_HEADER, *events]) + "\n")
    minutes = [
        "game_id,minute,home_score,away_score",
        "0022300001,1,2,0",
        "0022300001,2,2,3",
        "0022300002,2,3,2",
    ]
    with gzip.open(folder / "score_by_minute" / "nba_score_by_minute_2023_24_regular.csv.gz", "wt") as out:
        out.write("\n".join(minutes) + "\n")
    return root


def quarantined(report, file_part: str) -> pd.DataFrame:
    q = report.quarantine
    return q.loc[q["source_file"].str.contains(file_part, regex=False)]


def test_timelines_are_stored_with_their_pregame_lines_and_the_flagged_game_left_out(settings, tmp_path):
    report = ingest(settings, str(write_source(tmp_path / "src")), ["NBA"], TODAY)
    tables = load_ingame(MatchStore(settings.store_dir))
    games = tables.games.set_index("game_id")
    assert list(games.index) == ["0022300001", "0022300002"]  # 0022300003: quality_ok False
    knicks = games.loc["0022300001"]
    assert (knicks["home_team"], knicks["away_team"], knicks["spread_home"], knicks["total_line"]) == (
        "NY",
        "BOS",
        -4.5,
        210.5,
    )
    assert (knicks["home_ht_score"], knicks["away_ht_score"], knicks["moneyline_home"]) == (2, 3, -170)
    assert knicks["match_id"] in set(MatchStore(settings.store_dir).results("NBA")["match_id"])
    excluded = quarantined(report, "games.csv")
    assert excluded[["source_line", "action", "reason"]].values.tolist() == [
        [4, "game excluded", "quality_ok = False in games.csv"]
    ]
    assert len(tables.events) == 8 and report.ingame.summary()["games_excluded"] == 1


def test_a_bad_row_is_quarantined_with_file_line_and_reason(settings, tmp_path):
    events = _events("0022300001", [(30, 2, 0), (100, 2, 3), (1500, 50, 40), (2870, 100, 90)])
    events[1] = events[1].replace("10:20", "1x:20")  # the second event's clock (line 3)
    events += _events("0022300002", [(45, 0, 2), (2800, 99, 101)])
    report = ingest(settings, str(write_source(tmp_path / "src", events=events)), ["NBA"], TODAY)
    bad = quarantined(report, "score_timeline")
    assert bad["source_line"].tolist() == [3]
    assert bad["reason"].iloc[0] == "clock: not MM:SS (1x:20)"
    assert bad["source_file"].iloc[0] == "nba_pbp/score_timeline/nba_score_timeline_2023_24_regular.csv.gz"
    assert len(load_ingame(MatchStore(settings.store_dir)).events) == 5


def test_a_score_that_goes_backwards_after_cleaning_excludes_the_game(settings, tmp_path):
    events = _events("0022300001", [(30, 2, 0), (100, 2, 3), (200, 1, 3), (2870, 100, 90)])
    events += _events(
        "0022300002", [(45, 0, 2), (70, 3, 2), (80, 3, 1), (2800, 99, 101)], consistent={0, 1, 3}
    )
    report = ingest(settings, str(write_source(tmp_path / "src", events=events)), ["NBA"], TODAY)
    games = quarantined(report, "games.csv").set_index("source_line")
    assert games.loc[2, "reason"] == (
        "score goes backwards after cleaning (feed order) at "
        "nba_pbp/score_timeline/nba_score_timeline_2023_24_regular.csv.gz:4"
    )
    out_of_place = quarantined(report, "score_timeline")  # the feed's own flag: that row only
    assert out_of_place["source_line"].tolist() == [8] and "out of place" in out_of_place["reason"].iloc[0]
    assert list(load_ingame(MatchStore(settings.store_dir)).games["game_id"]) == ["0022300002"]


def test_a_final_that_disagrees_with_nba_is_reported(settings, tmp_path):
    events = _events("0022300001", [(30, 2, 0), (2870, 101, 90)])  # nba/ says 100-90
    events += _events("0022300002", [(45, 0, 2), (2800, 99, 101)])
    games = [
        "0022300001,2023-11-01,NYK,BOS,2023-24,regular,101,90,True",
        "0022300002,2023-11-01,GSW,LAL,2023-24,regular,99,101,True",
    ]
    report = ingest(settings, str(write_source(tmp_path / "src", events=events, games=games)), ["NBA"], TODAY)
    row = quarantined(report, "games.csv").iloc[0]
    assert row["reason"] == "timeline final 101-90 disagrees with nba/ 100-90 (nba/nba.csv:2)"
    assert (row["source_line"], row["home_team"], row["date"]) == (2, "NY", "2023-11-01")


def test_a_minute_row_that_disagrees_with_the_timeline_is_rejected(settings, tmp_path):
    source = write_source(tmp_path / "src")
    path = source / "nba_pbp" / "score_by_minute" / "nba_score_by_minute_2023_24_regular.csv.gz"
    with gzip.open(path, "wt") as out:
        out.write("game_id,minute,home_score,away_score\n0022300001,1,2,0\n0022300001,2,2,2\n")
    report = ingest(settings, str(source), ["NBA"], TODAY)
    bad = quarantined(report, "score_by_minute")
    assert bad[["source_line", "reason"]].values.tolist() == [
        [3, "score 2-2 at minute 2 disagrees with the timeline's 2-3"]
    ]


def test_minute_scores_take_the_last_event_at_or_before_each_minute():
    events = pd.DataFrame(
        {
            "game_id": ["g"] * 4,
            "seq": [1, 2, 3, 4],
            "elapsed_s": [30.0, 60.0, 60.0, 150.0],
            "home_score": [2, 2, 3, 3],
            "away_score": [0, 2, 2, 5],
        }
    )
    out = minute_scores(events, 3)
    assert out[["minute", "home_score", "away_score"]].values.tolist() == [[1, 3, 2], [2, 3, 2], [3, 3, 5]]


def test_extra_tables_ride_along_unchanged_and_count_in_the_snapshot_hash(settings, tmp_path):
    source = write_source(tmp_path / "src")
    first = ingest(settings, str(source), ["NBA"], TODAY)
    store = MatchStore(settings.store_dir)
    events_file = store.root / "snapshots" / first.snapshot / "ingame_events.parquet"
    again = ingest(settings, str(source), ["NBA"], TODAY)
    assert not again.changed and again.snapshot == first.snapshot

    from csvs import write_season  # a football-only ingest keeps the timelines (hard link)

    write_season(source)
    football = ingest(settings, str(source), ["E0"], TODAY)
    carried = store.root / "snapshots" / football.snapshot / "ingame_events.parquet"
    assert football.changed and os.path.samefile(carried, events_file)
    assert len(load_ingame(store).games) == 2

    events = _events("0022300001", [(30, 2, 0), (100, 2, 3), (1500, 50, 40), (2870, 100, 90)])
    events += _events("0022300002", [(45, 0, 2), (2800, 99, 101)])  # fewer events: a new hash
    changed = ingest(settings, str(write_source(source, events=events)), ["NBA"], TODAY)
    assert changed.changed and changed.snapshot != football.snapshot
    assert len(load_ingame(store).events) == 6


@pytest.mark.realdata
def test_real_timelines_of_a_season(real_data, tmp_path, settings):
    """2017-18 regular season: the flagged game with another game's scores is out, the nba/
    disagreements are reported, every kept game is monotone and joined to its lines."""
    source = tmp_path / "src"
    (source / "nba_pbp" / "score_timeline").mkdir(parents=True)
    (source / "nba_pbp" / "score_by_minute").mkdir(parents=True)
    (source / "nba").symlink_to(real_data / "nba")
    (source / "nba_pbp" / "games.csv").symlink_to(real_data / "nba_pbp" / "games.csv")
    for sub, stem in (("score_timeline", "nba_score_timeline"), ("score_by_minute", "nba_score_by_minute")):
        name = f"{stem}_2017_18_regular.csv.gz"
        (source / "nba_pbp" / sub / name).symlink_to(real_data / "nba_pbp" / sub / name)
    report = ingest(settings, str(source), ["NBA"], TODAY)
    q = report.quarantine
    reasons = q.loc[q["action"] == "game excluded"].set_index("source_line")["reason"]
    assert reasons[5132] == "quality_ok = False in games.csv"  # 0021700211
    assert reasons[4946].startswith("timeline final 103-124 disagrees with nba/ 120-128")
    out_of_place = q.loc[q["reason"].str.startswith("logged out of place")]
    assert len(out_of_place) > 0 and out_of_place["source_file"].str.endswith("2017_18_regular.csv.gz").all()

    tables = load_ingame(MatchStore(settings.store_dir))
    season = tables.games.loc[tables.games["season"] == 2017]
    assert len(season) == 1230 - 3 and season["spread_home"].notna().all()
    assert (q["action"] == "game excluded").sum() == 3  # games of seasons not read: one note
    assert any("no timeline" in note for note in report.notes)
    events = tables.events.sort_values(["game_id", "elapsed_s", "seq"])
    same = events["game_id"].eq(events["game_id"].shift())
    assert not (same & (events["home_score"].diff() < 0)).any()
    final = events.groupby("game_id").last()
    merged = season.set_index("game_id").join(final, rsuffix="_last")
    assert (merged["home_score"] == merged["home_score_last"]).all()
