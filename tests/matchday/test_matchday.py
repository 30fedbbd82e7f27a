"""Matchday and settle on the real Premier League with an Elo champion: forecasts stored as the
service stores them, bets per policy, both steps idempotent (settle also after a corrected
result), bad input named by row with nothing written, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scoreline.cli import main
from scoreline.forecasts.forecaster import UnknownTeam
from scoreline.matchday import run_matchday, run_settle
from scoreline.matchday.book import BetBook
from scoreline.matchday.replay import snapshot_on
from scoreline.predictions import PredictionStore

pytestmark = pytest.mark.realdata

DAY = "2023-04-01"
KEY = ["date", "home_team", "away_team"]


def _fixtures(e0: pd.DataFrame, day: str = DAY, days: int = 7) -> pd.DataFrame:
    """The week's real matches as fixtures: no scores, no closing prices."""
    return snapshot_on(e0, pd.Timestamp(day), days).fixtures


def _stored(ws) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = PredictionStore(ws.prediction_store)
    try:
        return store.predictions("E0"), BetBook(store).bets("E0")
    finally:
        store.close()


def _pnl(bets: pd.DataFrame, e0: pd.DataFrame) -> np.ndarray:
    """Each bet's P/L from the real scores: stake * (price - 1) when the backed outcome happened."""
    real = bets[["date", "home_team", "away_team"]].merge(
        e0[["date", "home_team", "away_team", "home_score", "away_score"]].astype(
            {"home_team": object, "away_team": object}
        ),
        on=["date", "home_team", "away_team"],
        how="left",
        validate="many_to_one",  # strategies may back the same fixture
    )
    h, a = real["home_score"].to_numpy(int), real["away_score"].to_numpy(int)
    happened = np.where(h > a, "home", np.where(h == a, "draw", "away"))
    stake, price = bets["stake"].to_numpy(float), bets["price"].to_numpy(float)
    return np.where(bets["outcome"].to_numpy() == happened, stake * (price - 1), -stake)


def test_matchday_stores_what_the_service_stores_bets_per_policy_and_is_idempotent(ws, e0):
    fixtures = _fixtures(e0)
    n = len(fixtures)
    first = run_matchday(ws, "E0", DAY, 7, fixtures)

    assert first.fixtures == first.predicted == n == 16 and first.reused == 0
    predictions, bets = _stored(ws)
    assert len(predictions) == n and predictions["model_version"].eq(first.model_version).all()
    assert (predictions["model_name"] == "elo").all() and predictions["neutral"].eq(False).all()
    assert np.allclose(predictions[["prob_home", "prob_draw", "prob_away"]].sum(axis=1), 1.0)
    real = predictions.merge(fixtures, on=["date", "home_team", "away_team"], validate="one_to_one")
    assert np.allclose(real["price_home"], real["odds_b365_home"])  # the prices of the day
    assert all(isinstance(f, dict) and len(f) > 10 for f in predictions["features"])  # drift input
    assert {"expected_goals_home", "expected_goals_away", "top_scores"} <= set(predictions["detail"][0])

    # one bet per fixture and strategy; the gate's verdict decides which have money on them:
    # sharp_soft's CLV interval over 2019-2021 lies above zero, the Elo champion has no
    # walk-forward evidence (no backtest here) so model_edge bets on paper
    assert 0 < len(bets) == len(first.bets) and not bets.duplicated([*KEY, "strategy"]).any()
    assert first.gate["sharp_soft"]["staked"] and not first.gate["model_edge"]["staked"]
    assert first.gate["sharp_soft"]["seasons"] == [2019, 2020, 2021]
    paper = bets["paper"].astype(bool)
    assert set(bets.loc[~paper, "strategy"]) == {"sharp_soft"} and (bets["status"] == "open").all()
    summary = json.loads((first.folder / "summary.json").read_text())
    assert summary["gate"]["sharp_soft"]["staked"] and summary["bets"] == int((~paper).sum()) > 0
    # the money: quarter Kelly, per-bet and daily caps over the staked bets only
    staked = bets.loc[~paper]
    assert (staked["stake"] <= 0.02 * 100 + 1e-9).all() and staked["stake"].sum() <= 0.10 * 100 + 1e-9
    assert (staked["expected_value"] > 0).all() and (staked["price_source"] != "").all()
    # model_edge: the champion's value at the Bet365 price above the edge
    model = bets.loc[bets["strategy"] == "model_edge"]
    assert (
        len(model) > 0 and (model["expected_value"] > 0.03).all() and (model["price_source"] == "b365").all()
    )
    assert np.allclose(model["expected_value"], model["probability"] * model["price"] - 1)
    backed = predictions.set_index("id").loc[model["prediction_id"]]
    assert np.allclose(
        model["probability"], [row[f"prob_{o}"] for (_, row), o in zip(backed.iterrows(), model["outcome"])]
    )
    assert (first.folder / "bets.csv").is_file() and (first.folder / "forecasts.csv").is_file()

    again = run_matchday(ws, "E0", DAY, 7, fixtures)
    assert (again.predicted, again.reused, len(again.bets)) == (0, n, 0)
    predictions_after, bets_after = _stored(ws)
    assert len(predictions_after) == n
    pd.testing.assert_frame_equal(bets_after, bets)
    # the next day: only the fixture entering the window is new, nothing is bet twice
    later = run_matchday(ws, "E0", "2023-04-02", 7, _fixtures(e0, "2023-04-02"))
    assert later.reused == later.fixtures - later.predicted
    assert not set(zip(later.bets["home_team"], later.bets["away_team"], later.bets["strategy"])) & set(
        zip(bets["home_team"], bets["away_team"], bets["strategy"])
    )


def test_settle_is_idempotent_and_follows_a_corrected_result(ws, e0):
    run_matchday(ws, "E0", DAY, 7, _fixtures(e0))
    first = run_settle(ws, "E0")

    _, bets = _stored(ws)
    paper = bets["paper"].astype(bool)
    assert first.results_recorded == first.predictions["settled"] == 16
    assert first.bets_settled == len(bets) and (bets["status"] != "open").all()  # paper ones too
    assert bets["pnl"].to_numpy() == pytest.approx(_pnl(bets, e0))
    assert first.summary["pnl"] == pytest.approx(_pnl(bets.loc[~paper], e0).sum())  # money only
    assert first.summary["n_bets"] == int((~paper).sum()) > 0
    assert first.summary["roi"] == pytest.approx(first.summary["pnl"] / 100)
    assert first.by_strategy["model_edge"]["paper"] and not first.by_strategy["sharp_soft"]["paper"]
    assert first.by_strategy["model_edge"]["pnl"] == pytest.approx(
        _pnl(bets.loc[bets["strategy"] == "model_edge"], e0).sum()
    )
    assert np.isfinite(bets["clv"]).all()  # the store's results carry Pinnacle's close

    second = run_settle(ws, "E0")
    assert (second.results_recorded, second.bets_settled) == (0, 0)
    assert second.predictions == {"settled": 0, "resettled": 0, "unchanged": 16, "pending": 0}
    pd.testing.assert_frame_equal(_stored(ws)[1], bets)

    # a corrected score turns one staked bet around: only the bets on that fixture and its
    # prediction are re-settled
    bet = bets.loc[~paper].iloc[0]
    same_fixture = int((bets[KEY] == bet[KEY]).all(axis=1).sum())
    flipped = (0, 3) if bet["outcome"] == "home" else (3, 0)
    correction = pd.DataFrame(
        [
            {
                "date": bet["date"],
                "home_team": bet["home_team"],
                "away_team": bet["away_team"],
                "home_score": flipped[0],
                "away_score": flipped[1],
            }
        ]
    )
    corrected = run_settle(ws, "E0", correction)
    assert (corrected.results_recorded, corrected.bets_settled) == (1, same_fixture)
    assert corrected.predictions["resettled"] == 1
    after = _stored(ws)[1].set_index("id")
    won = bet["outcome"] == ("home" if flipped[0] > flipped[1] else "away")
    assert after.loc[bet["id"], "status"] == ("won" if won else "lost")
    assert after.loc[bet["id"], "pnl"] == pytest.approx(
        bet["stake"] * (bet["price"] - 1) if won else -bet["stake"]
    )
    assert after.loc[bet["id"], "clv"] == pytest.approx(bet["clv"])  # the close is kept
    assert corrected.summary["pnl"] == pytest.approx(
        first.summary["pnl"] - bet["pnl"] + after.loc[bet["id"], "pnl"]
    )
    assert run_settle(ws, "E0", correction).bets_settled == 0


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda f: f.assign(home_team=f["home_team"].where(f.index != 2, "Arsenl")),
            r"row 2: unknown home_team 'Arsenl'; did you mean 'Arsenal'",
        ),
        (lambda f: f.drop(columns=["date"]), r"fixtures: missing column\(s\) date"),
        (
            lambda f: f.assign(date=f["date"].astype(object).where(f.index != 1, "soon")),
            r"row 1: date 'soon' is not a date",
        ),
        (
            lambda f: f.assign(away_team=f["away_team"].where(f.index != 4, f["home_team"])),
            r"row 4: home_team and away_team are both",
        ),
        (
            lambda f: f.assign(competition=f["competition"].astype(object).where(f.index != 3, "D1")),
            r"row 3: competition 'D1' is not E0",
        ),
    ],
)
def test_bad_fixtures_name_the_row_and_write_nothing(ws, e0, edit, message):
    fixtures = edit(_fixtures(e0).reset_index(drop=True))
    with pytest.raises(ValueError, match=message) as err:
        run_matchday(ws, "E0", DAY, 7, fixtures)
    if "Arsenl" in message:
        assert isinstance(err.value, UnknownTeam) and err.value.row == 2
    predictions, bets = _stored(ws)
    assert predictions.empty and bets.empty


def test_bad_results_name_the_row_and_settle_nothing(ws, e0):
    run_matchday(ws, "E0", DAY, 7, _fixtures(e0))
    results = e0.loc[e0["date"] >= DAY].head(5).reset_index(drop=True)
    bad = results.astype({"home_score": object}).assign(
        home_score=lambda f: f["home_score"].where(f.index != 3, -1)
    )
    with pytest.raises(ValueError, match=r"row 3: home_score must be a whole number >= 0, got -1"):
        run_settle(ws, "E0", bad)
    with pytest.raises(ValueError, match=r"results: missing column\(s\) away_score"):
        run_settle(ws, "E0", results.drop(columns=["away_score"]))
    predictions, bets = _stored(ws)
    assert predictions["outcome"].isna().all() and (bets["status"] == "open").all()


def test_cli_matchday_and_settle(ws, e0):
    runner = CliRunner()
    out = runner.invoke(main, ["matchday", "--competition", "E0", "--date", DAY, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["fixtures"] == 0  # the real store has no E0 fixtures
    run_matchday(ws, "E0", DAY, 7, _fixtures(e0))
    out = runner.invoke(main, ["settle", "--competition", "E0", "--json"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    _, bets = _stored(ws)
    staked = bets.loc[~bets["paper"].astype(bool)]
    assert payload["n_bets"] == payload["n_settled"] == len(staked) > 0
    assert payload["pnl"] == pytest.approx(_pnl(staked, e0).sum())
    assert set(payload["by_strategy"]) == set(bets["strategy"])
    text = runner.invoke(main, ["settle", "--competition", "E0"])
    assert text.exit_code == 0 and "P/L" in text.output
    none = runner.invoke(main, ["matchday", "--competition", "D1", "--json"])
    assert none.exit_code == 2 and "D1 has no champion" in none.output
    bad = runner.invoke(main, ["matchday", "--competition", "E0", "--date", "tomorrow"])
    assert bad.exit_code == 2 and "date 'tomorrow' is not a date (YYYY-MM-DD)" in bad.output
