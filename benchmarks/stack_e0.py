"""E0 walk-forward from 2012: gradient-boosted trees and learned stacks next to the market.

    SCORELINE_TEST_DATA=../shared/data python benchmarks/stack_e0.py [data folder]

Data are built exactly as :mod:`scoreline.evaluation.competition` builds them
(``matches.join(competition_features(matches, comp))``). Walk-forward: weekly windows, models
refitted every 4th window on the previous 4 years (a stack refit fits each member ``n_folds``
times, so refitting it weekly would take about four times as long; the members' point-in-time
features still update every match). Dixon-Coles' time decay is tuned on seasons before 2012
only (``tune_on_past``); nothing is tuned on the evaluated seasons.

Market features and the ``market_pinnacle`` member are PRE-CLOSING prices, quoted before
kick-off; ``market_pinnacle_close`` is only the reference row. Prints the score table (every
model on the same matches), per-season RPS, differences to the closing line with bootstrap CIs,
fit seconds per model and wall time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.models.base import OUTCOMES_3WAY
from scoreline.evaluation.competition import tune_on_past
from scoreline.evaluation.report import score
from scoreline.features.builder import competition_features
from scoreline.features.market import DevigMethod
from scoreline.models.base import MatchModel
from scoreline.models.baselines import MarketModel
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.gbdt import GradientBoostingModel
from scoreline.models.ratings import RatingModel
from scoreline.models.stack import StackedModel

CONFIG = WalkForward(from_season=2012, window="week", refit_every=4, train_days=4 * 365)
REFERENCE = "market_pinnacle_close"


def e0_data(source: str, home: Path) -> pd.DataFrame:
    settings = Settings(home=home)
    ingest(settings, source)
    matches = MatchStore(settings.store_dir).results("E0")
    return matches.join(competition_features(matches, competition("E0")))


def e0_models(data: pd.DataFrame) -> dict[str, MatchModel]:
    dixon_coles = DixonColes()
    tuned = tune_on_past(data, {"dixon_coles": dixon_coles}, CONFIG)  # seasons < 2012 only
    print(f"tuned on seasons before {CONFIG.from_season}: {tuned}")
    elo = RatingModel("elo_home_expected", transform="logit")
    pi = RatingModel("pi_expected_gd", transform=None)
    lgbm_results = GradientBoostingModel("lightgbm", features="results")
    lgbm_market = GradientBoostingModel("lightgbm", features="market")
    pinnacle = MarketModel("pinnacle", DevigMethod.MULTIPLICATIVE)  # pre-closing prices
    results_members = (elo, pi, dixon_coles, lgbm_results)
    return {
        "lgbm_results": lgbm_results,
        "lgbm_market": lgbm_market,
        "xgb_market": GradientBoostingModel("xgboost", features="market"),
        "stack_results": StackedModel(results_members, meta="pooled"),
        "stack_market": StackedModel(results_members + (lgbm_market, pinnacle), meta="pooled"),
        "stack_results_logistic": StackedModel(results_members, meta="logistic"),
        "stack_market_logistic": StackedModel(results_members + (lgbm_market, pinnacle),
                                              meta="logistic"),
        "market_pinnacle_close": MarketModel("pinnacle_close", DevigMethod.MULTIPLICATIVE),
        "market_pinnacle": pinnacle,
        "market_b365": MarketModel("b365", DevigMethod.MULTIPLICATIVE),
    }


def main(source: str) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        data = e0_data(source, Path(home))
    models = e0_models(data)
    result = walk_forward(data, models, CONFIG, OUTCOMES_3WAY)
    scores = score(result, REFERENCE)
    wall = time.perf_counter() - started
    pd.set_option("display.width", 200)
    print(f"\nE0 {CONFIG}: {result.n_refits} refits, "
          f"{len(result.predictions)} matches predicted")
    print(scores.overall[["n", "rps", "log_loss", "brier", "accuracy", "ece"]].round(4).to_string())
    print("\nRPS by season")
    print(scores.by_season["rps"].unstack().round(4).to_string())
    print(f"\nminus {REFERENCE} (negative = better), 95 % paired-bootstrap CI")
    print(scores.versus[["rps_diff", "rps_lower", "rps_upper"]].round(4).to_string())
    print("\nfit seconds:", {k: round(v) for k, v in result.fit_seconds.items()})
    print(f"wall time: {wall:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SCORELINE_TEST_DATA", "../shared/data"))
