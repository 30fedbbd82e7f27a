"""Football walk-forward from 2012, per league: every catalog model and the stacks by the market.

    nice -n 19 python benchmarks/stack_leagues.py [data folder] [E0 D1 SP1 I1 F1 ...]

Data are built exactly as :mod:`scoreline.evaluation.competition` builds them
(``matches.join(competition_features(matches, comp))``) in a throw-away store, and the models are
the catalog's (:func:`scoreline.models.catalog.select`: elo, pi, dixon_coles, results_blend, the
LightGBM/XGBoost results and market variants, ``stack`` over results members, ``stack_market``
adding LightGBM-market and pre-closing Pinnacle) plus ``stack_market_anchored`` (below).
Walk-forward: weekly windows, models refitted every 4th window on the previous 4 years (a stack
refit fits each member ``n_folds`` times, so refitting it weekly would take about four times as
long; the members' point-in-time features still update every match). Dixon-Coles' time decay is
tuned on seasons before 2012 only (``tune_on_past``); nothing is tuned on the evaluated seasons.

Market features and the ``market_pinnacle`` member are PRE-CLOSING prices, quoted before
kick-off; ``market_pinnacle_close`` is only the reference row. Prints, per league, the score table
(every model on the same matches), per-season RPS, differences to the closing line with paired
bootstrap CIs, fit seconds per model and wall time.

``stack_market_anchored`` tests one idea: the pooled meta-learner shrinks its weights towards
*Pinnacle alone* (weight 1, every other member 0) rather than towards equal weights, with a
prior about as strong as the out-of-fold rows' own information (``C=0.01``, chosen before any
run, not tuned), so members enter only as far as the out-of-fold rows pay for them. Measured
(RPS, 2012 to the last season): it ties or beats ``stack_market`` in all five leagues (E0
0.1949 vs 0.1957, D1 0.2005 vs 0.2012, SP1 0.1919 vs 0.1919, I1 0.1896 vs 0.1899, F1 0.2005 vs
0.2010) but never pre-closing Pinnacle alone (0.1943, 0.2000, 0.1915, 0.1895, 0.2000). About 15
minutes per league on a busy 2-core machine.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import log_softmax

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation.backtest import WalkForward, walk_forward
from scoreline.evaluation.competition import tune_on_past
from scoreline.evaluation.report import score
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import OUTCOMES_3WAY, MatchModel
from scoreline.models.baselines import MarketModel
from scoreline.models.stack import LogLinearPool, StackedModel

CONFIG = WalkForward(from_season=2012, window="week", refit_every=4, train_days=4 * 365)
MODELS = [
    "elo",
    "pi",
    "dixon_coles",
    "results_blend",
    "lightgbm",
    "xgboost",
    "lightgbm_market",
    "xgboost_market",
    "stack",
    "stack_market",
]


class AnchoredPool(LogLinearPool):
    """A :class:`LogLinearPool` whose weights are L2-shrunk towards ``prior`` (one weight per
    member) instead of towards equal weights."""

    def __init__(self, prior: np.ndarray, n_outcomes: int, C: float = 1.0):
        super().__init__(len(prior), n_outcomes, C)
        self.prior = prior

    def fit(self, z: np.ndarray, y: np.ndarray) -> AnchoredPool:
        logs = z.reshape(len(z), self.n_members, self.n_outcomes)
        strength = 1.0 / (self.C * len(z))
        onehot = np.eye(self.n_outcomes)[y]

        def objective(params):
            log_p = log_softmax(self._scores(params, z), axis=1)
            residual = np.exp(log_p) - onehot
            shift = params[: self.n_members] - self.prior
            loss = -np.mean(log_p[np.arange(len(y)), y]) + 0.5 * strength * np.sum(shift**2)
            grad_w = np.einsum("nk,nmk->m", residual, logs) / len(y) + strength * shift
            return loss, np.concatenate([grad_w, residual.mean(axis=0)[1:]])

        start = np.concatenate([self.prior, np.zeros(self.n_outcomes - 1)])
        self.params_ = minimize(objective, start, jac=True, method="L-BFGS-B").x
        self.classes_ = np.arange(self.n_outcomes)
        return self


class AnchoredStack(StackedModel):
    """Pooled stack shrunk towards the member at index ``anchor`` alone; equal weights while
    that member is inactive (too few priced out-of-fold rows)."""

    def __init__(self, members: tuple[MatchModel, ...] = (), anchor: int = -1, C: float = 0.01):
        super().__init__(members, meta="pooled", C=C)
        self.anchor = anchor

    def _new_meta(self):
        active = np.flatnonzero(self.active_)
        anchor = self.anchor % len(self.members)
        prior = (
            (active == anchor).astype(float) if anchor in active else np.full(len(active), 1.0 / len(active))
        )
        return AnchoredPool(prior, len(self.outcomes), self.C)


def league_data(source: str, code: str, home: Path) -> pd.DataFrame:
    settings = Settings(home=home)
    ingest(settings, source, [code])
    matches = MatchStore(settings.store_dir).results(code)
    return matches.join(competition_features(matches, competition(code)))


def league_models(code: str, data: pd.DataFrame) -> dict[str, MatchModel]:
    models = catalog.select(competition(code), MODELS)
    tuned = tune_on_past(data, models, CONFIG)  # seasons < 2012; members share the instance
    print(f"{code}: tuned on seasons before {CONFIG.from_season}: {tuned}")
    members = models["stack_market"].members
    anchor = next(i for i, m in enumerate(members) if isinstance(m, MarketModel))
    forecasters = {n: m for n, m in models.items() if not n.startswith("market_")}
    return forecasters | {"stack_market_anchored": AnchoredStack(members, anchor=anchor)} | models


def run(source: str, code: str) -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        data = league_data(source, code, Path(home))
    result = walk_forward(data, league_models(code, data), CONFIG, OUTCOMES_3WAY)
    reference = catalog.reference(competition(code))
    scores = score(result, reference)
    wall = time.perf_counter() - started
    pd.set_option("display.width", 200)
    print(f"\n{code} {CONFIG}: {result.n_refits} refits, {len(result.predictions)} matches predicted")
    print(scores.table(by_season=True))
    print("\nfit seconds:", {k: round(v) for k, v in result.fit_seconds.items()})
    print(f"{code} wall time: {wall:.0f} s", flush=True)


def main(argv: list[str]) -> None:
    source = argv[0] if argv else os.environ.get("SCORELINE_TEST_DATA", "../shared/data")
    for code in argv[1:] or ["E0"]:
        run(source, code)


if __name__ == "__main__":
    main(sys.argv[1:])
