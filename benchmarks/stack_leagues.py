"""Per league: the stacked ensemble against each of its members, its best member and the market.

    nice -n 19 python benchmarks/stack_leagues.py [--data DIR] [--leagues E0 D1 SP1 I1 F1] [--json]

For each league the catalog's ``stack_market`` (:mod:`scoreline.models.catalog`: a simplex pool
over Elo, pi-ratings, Dixon-Coles, LightGBM on results, LightGBM on the residual over the sharp
price, and the sharp price itself, guarded towards its best member by past out-of-fold
evidence) walks forward from 2012/13 beside every member, ``xgboost_market`` and the market
rows. Prints, on the matches every forecaster covers: each model's RPS; the ensemble minus each
member, minus its best member (the member with the lowest RPS on these same matches, chosen
after the fact: the hardest comparison) and minus Pinnacle's de-vigged pre-closing price, with
paired-bootstrap 95 % intervals resampling matches; each market-input model minus Pinnacle pre;
the ensemble and its best member per season. ``--json``: one JSON object, one entry per league.

Walk-forward: weekly windows, models refitted every 4th window on the previous 4 years (a stack
refit fits each member ``n_folds`` times). Dixon-Coles' time decay is tuned on seasons before
2012 only. Data are built as :mod:`scoreline.evaluation.competition` builds them, in a
throw-away store; walk-forward probabilities are cached per model under the workspace's cache
(``data/cache/stack_leagues``), so a rerun refits only models whose code or inputs changed.
``market_sharp`` is the ensemble's market member: Pinnacle's pre-closing price, the market
average where Pinnacle is unpriced (before 2012/13), so on the evaluated matches it is
Pinnacle's price wherever Pinnacle has one. Pre-closing prices only; ``market_pinnacle_close``
is the reference row, never an input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from scoreline.config import Settings, competition
from scoreline.data.ingest import ingest
from scoreline.data.store import MatchStore
from scoreline.evaluation import metrics
from scoreline.evaluation.backtest import BacktestResult, WalkForward, walk_forward
from scoreline.evaluation.cache import PredictionCache
from scoreline.evaluation.competition import tune_on_past
from scoreline.evaluation.report import common_rows
from scoreline.features.builder import competition_features
from scoreline.models import catalog
from scoreline.models.base import OUTCOMES_3WAY, MatchModel
from scoreline.progress import Progress

CONFIG = WalkForward(from_season=2012, window="week", refit_every=4, train_days=4 * 365)
ENSEMBLE = "stack_market"
#: the catalog names of the ensemble's members, in member order; the last is its market member
MEMBERS = ("elo", "pi", "dixon_coles", "lightgbm", "lightgbm_market", "market_sharp")
#: models that read the market, each compared with Pinnacle's pre-closing price
MARKET_INPUT = ("lightgbm_market", "xgboost_market", "market_sharp", ENSEMBLE)
PINNACLE_PRE = "market_pinnacle"
N_BOOT = 2000


def league_data(source: str, code: str, home: Path) -> pd.DataFrame:
    settings = Settings(home=home)
    ingest(settings, source, [code])
    matches = MatchStore(settings.store_dir).results(code)
    return matches.join(competition_features(matches, competition(code)))


def league_models(code: str, data: pd.DataFrame) -> tuple[dict[str, MatchModel], dict]:
    """The ensemble, its members by name, ``xgboost_market`` and the market rows; tuned on the
    seasons before the first evaluated one (members share instances with the ensemble)."""
    available = catalog.select(competition(code), [ENSEMBLE, "xgboost_market", *MEMBERS[:-1]])
    stack = available[ENSEMBLE]
    if len(stack.members) != len(MEMBERS):
        raise RuntimeError(f"{ENSEMBLE} has {len(stack.members)} members; this benchmark names {MEMBERS}")
    models = {name: available[name] for name in MEMBERS[:-1]}
    models |= {"market_sharp": stack.members[-1], "xgboost_market": available["xgboost_market"]}
    models |= {n: m for n, m in available.items() if n not in models}
    return models, tune_on_past(data, models, CONFIG)


def _difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff = metrics.bootstrap_difference(a, b, n_boot=N_BOOT)
    return {"mean": diff.mean_difference, "lower": diff.lower, "upper": diff.upper}


def league_figures(result: BacktestResult) -> dict:
    """RPS of every model on the common matches, the ensemble's differences, per season."""
    rows = common_rows(result)
    y = result.predictions["outcome"].to_numpy()[rows]
    losses = {m: metrics.rps(result.probabilities(m)[rows], y) for m in result.models}
    rps = {m: float(v.mean()) for m, v in losses.items()}
    best = min(MEMBERS, key=rps.__getitem__)
    ensemble = losses[ENSEMBLE]
    seasons = result.predictions["season"].to_numpy()[rows]
    by_season = {
        int(s): {m: float(losses[m][seasons == s].mean()) for m in (ENSEMBLE, best, PINNACLE_PRE)}
        for s in np.unique(seasons)
    }
    return {
        "matches": int(rows.sum()),
        "rps": rps,
        "best_member": best,
        "ensemble_minus_best_member": _difference(ensemble, losses[best]),
        "ensemble_minus_member": {m: _difference(ensemble, losses[m]) for m in MEMBERS},
        "minus_pinnacle_pre": {m: _difference(losses[m], losses[PINNACLE_PRE]) for m in MARKET_INPUT},
        "by_season": by_season,
    }


def run(source: str, code: str, cache_root: Path) -> dict:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        data = league_data(source, code, Path(home))
    models, tuned = league_models(code, data)
    cache = PredictionCache(cache_root / code)
    result = walk_forward(data, models, CONFIG, OUTCOMES_3WAY, cache=cache)
    figures = league_figures(result)
    return {
        "league": code,
        "refits": result.n_refits,
        "tuned": tuned,
        "fit_seconds": {k: round(v, 1) for k, v in result.fit_seconds.items()},
        "wall_seconds": round(time.perf_counter() - started, 1),
        **figures,
    }


def _interval(d: dict[str, float]) -> str:
    return f"{d['mean']:+.4f} [{d['lower']:+.4f}, {d['upper']:+.4f}]"


def text(league: dict) -> str:
    rps, best = league["rps"], league["best_member"]
    lines = [
        f"\n{league['league']}: {league['matches']} matches, {league['refits']} refits, "
        f"{league['wall_seconds']:.0f} s wall (fits {sum(league['fit_seconds'].values()):.0f} s; 0 = cached)",
        "RPS: " + ", ".join(f"{m} {v:.4f}" for m, v in sorted(rps.items(), key=lambda kv: kv[1])),
        f"{ENSEMBLE} minus its best member ({best}, {rps[best]:.4f}): "
        f"{_interval(league['ensemble_minus_best_member'])}",
    ]
    lines += [f"  minus {m}: {_interval(d)}" for m, d in league["ensemble_minus_member"].items()]
    lines += [f"{m} minus {PINNACLE_PRE}: {_interval(d)}" for m, d in league["minus_pinnacle_pre"].items()]
    lines.append("by season (ensemble / best member / Pinnacle pre):")
    lines += [
        f"  {s}: {v[ENSEMBLE]:.4f} / {v[best]:.4f} / {v[PINNACLE_PRE]:.4f}"
        for s, v in league["by_season"].items()
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("SCORELINE_TEST_DATA", "../shared/data"))
    parser.add_argument("--leagues", nargs="+", default=["E0", "D1", "SP1", "I1", "F1"])
    parser.add_argument("--cache", type=Path, default=Settings().cache_dir / "stack_leagues")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    progress = Progress(len(args.leagues), "stack_leagues", unit="leagues")
    leagues = []
    for code in args.leagues:
        leagues.append(run(args.data, code, args.cache))
        progress.advance(detail=f"{code} done")
        if not args.json:
            print(text(leagues[-1]), flush=True)
    progress.close()
    if args.json:
        print(json.dumps({"config": repr(CONFIG), "ensemble": ENSEMBLE, "leagues": leagues}))


if __name__ == "__main__":
    main(sys.argv[1:])
