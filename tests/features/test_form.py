"""Rolling form: hand-computed values, a brute-force reference, and the point-in-time rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoreline.data import schema
from scoreline.features.form import rolling_form

NA = None
# date, home, away, home goals, away goals, home shots, away shots
LEAGUE = [
    ("2024-01-01", "A", "B", 2, 0, 10, 4),  # m0: same date as m1
    ("2024-01-01", "C", "D", 1, 1, NA, NA),  # m1
    ("2024-01-05", "B", "C", 1, 3, NA, NA),  # m2
    ("2024-01-05", "D", "A", 0, 1, 6, 9),  # m3
    ("2024-01-12", "A", "C", 2, 1, NA, NA),  # m4
    ("2024-01-12", "B", "D", 2, 2, NA, NA),  # m5
    ("2024-01-20", "B", "A", 0, 2, NA, NA),  # m6: A plays twice on 01-20 ...
    ("2024-01-20", "C", "A", 0, 3, NA, NA),  # m7: ... and neither match sees the other
]


def league(rows=LEAGUE, competition="E0") -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=["date", "home_team", "away_team", "home_score", "away_score", "home_shots", "away_shots"],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    frame["competition"] = competition
    for side in ("home", "away"):
        frame[f"{side}_shots"] = pd.to_numeric(frame[f"{side}_shots"]).astype("Int64")
    frame["home_shots_on_target"] = frame["home_shots"] // 2
    frame["away_shots_on_target"] = frame["away_shots"] // 2
    # an index that is neither sorted nor 0..n-1: output must follow it
    frame.index = [10 * i + 7 for i in range(len(frame))][::-1]
    return schema.conform(frame)


def test_columns_and_alignment():
    matches = league()
    form = rolling_form(matches, windows=(2, 5))
    assert form.index.equals(matches.index)
    for side in ("home", "away"):
        for n in (2, 5):
            for stat in ("points", "gf", "ga", "shots", "sot", "venue_points", "venue_gd"):
                assert f"form_{side}_{stat}_{n}" in form
        assert {f"form_{side}_n", f"rest_{side}"} <= set(form.columns)
    assert {"h2h_n", "h2h_home_gd"} <= set(form.columns)


def test_first_matches_have_no_history():
    form = rolling_form(league(), windows=(2,)).iloc[:2]
    assert form.drop(columns=["form_home_n", "form_away_n", "h2h_n"]).isna().all().all()
    assert (form[["form_home_n", "form_away_n", "h2h_n"]] == 0).all().all()


def test_hand_computed_values():
    form = rolling_form(league(), windows=(2, 5))
    row = {i: form.iloc[i] for i in range(len(LEAGUE))}

    # m2, B v C: B lost 0-2 away in m0; C drew 1-1 at home in m1
    assert row[2]["form_home_points_2"] == 0 and row[2]["form_away_points_2"] == 1
    assert row[2]["form_home_gf_2"] == 0 and row[2]["form_home_ga_2"] == 2
    assert row[2]["form_home_shots_2"] == 4 and row[2]["form_home_sot_2"] == 2
    assert np.isnan(row[2]["form_away_shots_2"])  # C's only match has no shots
    assert np.isnan(row[2]["form_home_venue_points_2"])  # B has not played at home yet
    assert np.isnan(row[2]["form_away_venue_points_2"])  # C has not played away yet
    assert row[2]["rest_home"] == 4 and row[2]["rest_away"] == 4

    # m4, A v C: A won m0 (2-0 home) and m3 (1-0 away); C drew m1, won m2 3-1 away
    assert row[4]["form_home_points_2"] == 3 and row[4]["form_home_gf_2"] == 1.5
    assert row[4]["form_home_ga_2"] == 0 and row[4]["form_home_shots_2"] == 9.5
    assert row[4]["form_away_points_2"] == 2 and row[4]["form_away_gf_2"] == 2
    assert row[4]["form_home_venue_points_2"] == 3 and row[4]["form_home_venue_gd_2"] == 2
    assert row[4]["form_away_venue_points_2"] == 3 and row[4]["form_away_venue_gd_2"] == 2
    assert row[4]["rest_home"] == 7 and row[4]["h2h_n"] == 0

    # m6, B v A on 01-20: B's m0 L, m2 L 1-3 (home), m5 D 2-2 (home); A's m0, m3, m4 all won
    assert row[6]["form_home_points_2"] == 0.5
    assert row[6]["form_home_gf_2"] == 1.5 and row[6]["form_home_ga_2"] == 2.5
    assert row[6]["form_home_points_5"] == pytest.approx(1 / 3)
    assert row[6]["form_home_ga_5"] == pytest.approx(7 / 3)
    assert row[6]["form_home_venue_points_2"] == 0.5 and row[6]["form_home_venue_gd_2"] == -1
    assert row[6]["form_away_points_2"] == 3 and row[6]["form_away_ga_2"] == 0.5
    assert row[6]["form_away_gf_5"] == pytest.approx(5 / 3)
    assert row[6]["form_away_venue_points_2"] == 3 and row[6]["form_away_venue_gd_2"] == 1
    assert row[6]["form_home_n"] == 3 and row[6]["form_away_n"] == 3
    assert row[6]["rest_home"] == 8 and row[6]["rest_away"] == 8
    # one previous meeting, m0: A won 2-0 at home; B is at home now
    assert row[6]["h2h_n"] == 1 and row[6]["h2h_home_gd"] == -2


def test_a_team_playing_twice_on_one_date_sees_neither_result():
    form = rolling_form(league(), windows=(2, 5))
    m6, m7 = form.iloc[6], form.iloc[7]
    away = [c for c in form.columns if c.startswith(("form_away", "rest_away"))]
    pd.testing.assert_series_equal(m6[away], m7[away], check_names=False)
    assert m7["rest_away"] == 8  # not 0: the other 01-20 match does not count
    # m7, C v A: one previous meeting (m4, A won 2-1 at home)
    assert m7["h2h_n"] == 1 and m7["h2h_home_gd"] == -1
    assert m7["form_home_points_2"] == 1.5 and m7["form_home_venue_points_2"] == 1


def test_two_way_sports_score_wins_as_one_point():
    nba = league(competition="NBA")
    form = rolling_form(nba, windows=(2,))
    assert form.iloc[4]["form_home_points_2"] == 1  # A won both
    assert form.iloc[2]["form_away_points_2"] == 0.5  # C's draw, were there one
    assert form.iloc[6]["form_home_points_2"] == 0.25


def test_teams_are_keyed_by_competition():
    both = pd.concat([league(competition="E0"), league(competition="D1")])
    both.index = range(len(both))
    form = rolling_form(both, windows=(2,))
    half = len(LEAGUE)
    pd.testing.assert_frame_equal(
        form.iloc[:half].reset_index(drop=True), form.iloc[half:].reset_index(drop=True)
    )


def random_league(seed: int, n_teams: int = 8, n_dates: int = 40) -> pd.DataFrame:
    """Random fixtures, several per date, with some teams playing twice on a date."""
    rng = np.random.default_rng(seed)
    teams = [f"T{i}" for i in range(n_teams)]
    rows = []
    for day in pd.date_range("2020-01-01", periods=n_dates, freq="3D"):
        for _ in range(rng.integers(1, 6)):
            home, away = rng.choice(teams, 2, replace=False)
            shots = (rng.integers(0, 20), rng.integers(0, 20)) if rng.random() < 0.8 else (NA, NA)
            rows.append((day, home, away, rng.poisson(1.4), rng.poisson(1.1), *shots))
    frame = league(rows)
    return frame.sample(frac=1, random_state=seed)  # input order must not matter


def reference_form(matches: pd.DataFrame, n: int) -> pd.DataFrame:
    """Brute force, one match at a time: the team's last n matches on earlier dates."""
    ordered = matches.assign(_pos=np.arange(len(matches))).sort_values(["date", "_pos"])
    out = {}
    for idx, match in ordered.iterrows():
        earlier = ordered[ordered["date"] < match["date"]]
        values = {}
        for side in ("home", "away"):
            team = match[f"{side}_team"]
            played = earlier[(earlier["home_team"] == team) | (earlier["away_team"] == team)]
            is_home = played["home_team"] == team
            gf = np.where(is_home, played["home_score"], played["away_score"]).astype(float)
            ga = np.where(is_home, played["away_score"], played["home_score"]).astype(float)
            shots = np.where(is_home, played["home_shots"].astype(float), played["away_shots"].astype(float))
            points = np.select([gf > ga, gf == ga], [3.0, 1.0], 0.0)
            last = slice(-n, None)
            values[f"form_{side}_points_{n}"] = points[last].mean() if len(played) else np.nan
            values[f"form_{side}_gf_{n}"] = gf[last].mean() if len(played) else np.nan
            values[f"form_{side}_ga_{n}"] = ga[last].mean() if len(played) else np.nan
            recent_shots = shots[last]
            recent_shots = recent_shots[~np.isnan(recent_shots)]
            values[f"form_{side}_shots_{n}"] = recent_shots.mean() if len(recent_shots) else np.nan
            venue = is_home.to_numpy() if side == "home" else ~is_home.to_numpy()
            gd = (gf - ga)[venue][last]
            values[f"form_{side}_venue_gd_{n}"] = gd.mean() if len(gd) else np.nan
            values[f"rest_{side}"] = (match["date"] - played["date"].max()).days if len(played) else np.nan
        pair = earlier[
            ((earlier["home_team"] == match["home_team"]) & (earlier["away_team"] == match["away_team"]))
            | ((earlier["home_team"] == match["away_team"]) & (earlier["away_team"] == match["home_team"]))
        ]
        gd = np.where(pair["home_team"] == match["home_team"], 1, -1) * (
            pair["home_score"].astype(float) - pair["away_score"].astype(float)
        )
        values["h2h_n"] = float(len(pair))
        values["h2h_home_gd"] = gd[-5:].mean() if len(pair) else np.nan
        out[idx] = values
    return pd.DataFrame.from_dict(out, orient="index").loc[matches.index]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_reference(seed):
    matches = random_league(seed)
    expected = reference_form(matches, n=3)
    got = rolling_form(matches, windows=(3,))[expected.columns]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_no_leakage_from_the_match_date_onwards(seed):
    matches = random_league(seed)
    cutoff = matches["date"].sort_values().iloc[len(matches) // 2]
    later = matches["date"] >= cutoff
    rng = np.random.default_rng(seed)
    perturbed = matches.copy()
    for column in (
        "home_score",
        "away_score",
        "home_shots",
        "away_shots",
        "home_shots_on_target",
        "away_shots_on_target",
    ):
        perturbed.loc[later, column] = rng.integers(0, 30, int(later.sum()))
    on_cutoff = matches["date"] == cutoff
    before = rolling_form(matches)[on_cutoff]
    after = rolling_form(perturbed)[on_cutoff]
    pd.testing.assert_frame_equal(before, after)
    # and the perturbation did reach later matches, so the test can fail
    after_cutoff = later & ~on_cutoff
    assert not rolling_form(matches)[after_cutoff].equals(rolling_form(perturbed)[after_cutoff])


def test_fixtures_without_results_count_for_rest_only():
    matches = league()
    matches.loc[matches.index[4], ["home_score", "away_score"]] = pd.NA  # m4 not played yet
    form = rolling_form(matches, windows=(5,))
    m6 = form.iloc[6]
    assert m6["form_away_n"] == 2 and m6["form_away_gf_5"] == 1.5  # A: m0 and m3 only
    assert m6["rest_away"] == 8  # m4 still dates A's previous match


def test_fifty_thousand_matches_in_a_couple_of_seconds():
    import time

    rng = np.random.default_rng(0)
    n = 50_000
    teams = np.array([f"T{i}" for i in range(400)])
    days = pd.to_timedelta(np.sort(rng.integers(0, 9000, n)), "D")
    frame = pd.DataFrame(
        {
            "date": pd.Timestamp("2000-01-01") + days,
            "competition": rng.choice(["E0", "D1", "NBA"], n),
            "home_team": rng.choice(teams, n),
            "away_team": rng.choice(teams, n),
            "home_score": rng.poisson(1.4, n),
            "away_score": rng.poisson(1.1, n),
            "home_shots": rng.integers(0, 25, n),
            "away_shots": rng.integers(0, 25, n),
        }
    )
    matches = schema.conform(frame)
    start = time.perf_counter()
    form = rolling_form(matches)
    assert time.perf_counter() - start < 2.0
    assert len(form) == n


@pytest.fixture(scope="module")
def e0_nba(real_data, tmp_path_factory):
    from scoreline.config import Settings
    from scoreline.data.ingest import ingest
    from scoreline.data.store import MatchStore

    settings = Settings(home=tmp_path_factory.mktemp("workspace"))
    ingest(settings, str(real_data), ["E0", "NBA"], pd.Timestamp("2026-11-23"))
    return MatchStore(settings.store_dir).results()


@pytest.mark.realdata
def test_real_data_no_leakage_and_sane_values(e0_nba):
    matches = e0_nba
    form = rolling_form(matches)
    e0 = (matches["competition"] == "E0").to_numpy()
    with_history = (form["form_home_n"] == 20).to_numpy()
    football = form[e0 & with_history]
    assert football["form_home_points_20"].between(0, 3).all()
    finite = football[["form_home_gf_20", "form_home_shots_20", "rest_home"]].to_numpy()
    assert np.isfinite(finite).all()
    # home advantage shows up in the venue split
    venue = football[["form_home_venue_points_20", "form_away_venue_points_20"]].mean()
    assert venue.iloc[0] > venue.iloc[1]
    nba = form[~e0 & with_history]
    assert nba["form_home_points_20"].between(0, 1).all() and nba["form_home_shots_20"].isna().all()
    assert nba["form_home_gf_20"].between(80, 140).all()

    cutoff = pd.Timestamp("2019-01-19")  # a Saturday with E0 and NBA matches
    on_cutoff = (matches["date"] == cutoff).to_numpy()
    assert on_cutoff[e0].any() and on_cutoff[~e0].any()
    perturbed = matches.copy()
    later = matches["date"] >= cutoff
    perturbed.loc[later, ["home_score", "away_score"]] = 0
    pd.testing.assert_frame_equal(form[on_cutoff], rolling_form(perturbed)[on_cutoff])
