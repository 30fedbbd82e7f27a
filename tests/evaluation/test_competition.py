"""Backtests on the real data: no leakage, finite metrics for every model, season and competition."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from scoreline.config import COMPETITIONS, competition
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.evaluation.competition import backtest_competition
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY

pytestmark = pytest.mark.realdata


def predictions_for(matches: pd.DataFrame, code: str, config: WalkForward) -> pd.DataFrame:
    comp = competition(code)
    data = matches.join(competition_features(matches, comp))
    outcomes = OUTCOMES_3WAY if comp.outcomes == 3 else OUTCOMES_2WAY
    return walk_forward(data, catalog.select(comp, None), config, outcomes).predictions


@pytest.mark.parametrize("code, first, day", [("E0", 2018, "2021-12-26"), ("NFL", 2018, "2021-11-14")])
def test_perturbing_a_date_and_everything_after_it_leaves_that_dates_predictions(
    real_ingest, code, first, day
):
    """Three seasons of history, then the weeks around ``day`` only: the leak it guards (features
    or fits reading a later result) shows on ``day`` itself, so later windows add time, not power."""
    _, settings = real_ingest
    matches = MatchStore(settings.store_dir).results(code)
    matches = matches[
        matches["season"].between(first, first + 3)
        & (matches["date"] < pd.Timestamp(day) + pd.Timedelta(days=22))
    ].reset_index(drop=True)
    # the first window starts two weeks before ``day``
    warmup = (pd.Timestamp(day) - pd.Timedelta(days=14) - matches["date"].min()).days
    config = WalkForward(from_season=first + 3, warmup_days=warmup, train_days=3 * 365)
    before = predictions_for(matches, code, config)

    rng = np.random.default_rng(7)
    later = matches["date"] >= pd.Timestamp(day)
    perturbed = matches.copy()
    for col in ("home_score", "away_score"):
        perturbed.loc[later, col] = rng.integers(0, 40 if code == "NFL" else 6, later.sum())
    for col in ("home_shots", "away_shots", "home_shots_on_target", "away_shots_on_target"):
        perturbed.loc[later, col] = rng.integers(0, 20, later.sum())
    after = predictions_for(perturbed, code, config)

    on_day = before["date"] == pd.Timestamp(day)
    assert on_day.sum() >= 3
    probability_columns = [
        c
        for c in before.columns
        if c.endswith(("_home", "_draw", "_away")) and c not in ("home_team", "away_team")
    ]
    pd.testing.assert_frame_equal(
        before.loc[on_day, probability_columns], after.loc[on_day, probability_columns]
    )
    # and the perturbation did reach later predictions, so the test can fail
    assert not before.loc[~on_day & (before["date"] > pd.Timestamp(day)), probability_columns].equals(
        after.loc[~on_day & (after["date"] > pd.Timestamp(day)), probability_columns]
    )


@pytest.mark.parametrize("code", list(COMPETITIONS))
def test_every_model_has_finite_metrics_in_every_season(real_ingest, code, tmp_path):
    _, settings = real_ingest
    last = int(MatchStore(settings.store_dir).results(code)["season"].max())
    # two seasons, refits every other month on two years of history (not all of it: the cost,
    # not the power, grows with the history and the refits; the full run is benchmarks/backtest.py)
    config = WalkForward(from_season=last - 1, window="month", refit_every=2, train_days=2 * 365)
    report = backtest_competition(settings, code, None, config, out_dir=tmp_path, cached=False)
    overall = report.scores.overall
    assert set(overall.index) == set(catalog.select(competition(code), None))
    assert np.isfinite(overall[["rps", "log_loss", "brier", "accuracy", "ece"]].to_numpy()).all()
    by_season = report.scores.by_season
    assert set(by_season.index.get_level_values("season")) == {last - 1, last}
    assert np.isfinite(by_season[["rps", "log_loss", "brier"]].to_numpy()).all()
    assert (tmp_path / "reliability.png").stat().st_size > 10_000
    if code == "E0":  # football prices: the betting simulation is part of every backtest
        assert {"n_bets", "pnl", "yield", "mean_clv"} <= set(report.betting.columns)
        assert (report.betting["n_bets"] > 0).all() and (tmp_path / "bankroll.png").is_file()


def test_backtest_command_json(real_ingest, monkeypatch):
    _, settings = real_ingest
    monkeypatch.setenv("SCORELINE_HOME", str(settings.home))
    from scoreline.cli import main

    result = CliRunner().invoke(
        main,
        [
            "backtest",
            "--competition",
            "CFB",
            "--models",
            "elo",
            "--from-season",
            "2024",
            "--window",
            "month",
            "--engine",
            "serial",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout, parse_constant=pytest.fail)  # strict: no NaN
    models = {row["model"] for row in payload["overall"]}
    assert models == {"elo", "market_spread"}
    assert all(
        np.isfinite(row[k]) for row in payload["overall"] for k in ("rps", "log_loss", "brier", "accuracy")
    )
    bad = CliRunner().invoke(main, ["backtest", "--competition", "CFB", "--models", "nope"])
    assert bad.exit_code == 2 and "unknown model(s) nope for CFB" in bad.output
