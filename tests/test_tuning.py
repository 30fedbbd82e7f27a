"""Optuna tuning: validation span before the evaluation, SQLite study, parameters picked up."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from leagues import poisson_league
from scoreline.config import competition
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.tuned import tuned_params
from scoreline.tuning import tune


@pytest.fixture(autouse=True)
def _forget_tracking_uri():
    yield
    mlflow.set_tracking_uri(None)  # tune's run set it (and exported MLFLOW_TRACKING_URI)


def simulated(seasons=range(2008, 2013), seed=0) -> pd.DataFrame:
    return poisson_league(seasons, seed)


def test_tune_never_sees_the_evaluation_seasons_and_writes_parameters(settings):
    data = simulated()
    poisoned = data.copy()
    later = poisoned["season"] >= 2012
    poisoned.loc[later, ["home_score", "away_score"]] = 9  # evaluation seasons: nonsense
    first = tune(
        settings, competition("E0"), "dixon_coles", DixonColes(), data, 2012, n_trials=3, validation_seasons=2
    )
    second = tune(
        settings,
        competition("E0"),
        "dixon_coles_poisoned",
        DixonColes(),
        poisoned,
        2012,
        n_trials=3,
        validation_seasons=2,
    )
    assert first.best_value == pytest.approx(second.best_value)  # evaluation data never used
    assert set(tuned_params(settings, "E0", "dixon_coles")) == {"xi", "l2"}
    again = tune(
        settings, competition("E0"), "dixon_coles", DixonColes(), data, 2012, n_trials=2, validation_seasons=2
    )
    assert again.n_trials == 5  # the SQLite study is continued, not restarted
    assert (settings.registry_path / "optuna.db").is_file()
    saved = json.loads(first.path.read_text())
    assert saved["validation_seasons"] == [2010, 2011]


def test_untunable_model_is_a_clear_error(settings):
    from scoreline.models.baselines import BaseRates

    with pytest.raises(KeyError, match="has no search space"):
        tune(settings, competition("E0"), "base_rates", BaseRates(), simulated(), 2012, n_trials=1)
