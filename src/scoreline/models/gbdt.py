"""Gradient-boosted trees (LightGBM or XGBoost) on the point-in-time feature columns.

The model reads the feature columns that the walk-forward engine joins to every match row
(:mod:`scoreline.features.builder`), chosen by name prefix when ``fit`` is called:

* ``features="results"``: every column starting with ``elo_``, ``pi_``, ``form_``, ``rest_`` or
  ``h2h_`` (ratings, form, rest days, head to head), all built from earlier matches only;
* ``features="market"``: the same plus the ``mkt_*`` columns, de-vigged PRE-CLOSING prices
  quoted before kick-off.

A column whose name contains ``close`` is never used, whatever ``features`` says: closing prices
are the evaluation benchmark, not a forecast input. Raw match-day columns (``home_shots``,
``odds_*``...) have none of the prefixes and are never read either.

Market as offset (``offset=("pinnacle", "avg", "b365")``, football only): the booster learns the
residual over the market's log-probabilities. The de-vigged (multiplicative) PRE-CLOSING price of
the first source priced on a row is its starting score (LightGBM ``init_score``, XGBoost
``base_margin``), so zero trees is the market itself; a row no source prices starts from the
training rows' outcome shares. The number of trees is early-stopped as below, and when the
stopped booster does not beat the market alone on the held-out recent rows by more than two
standard errors of the per-row log-loss difference, the model keeps zero trees: such a model
differs from its market only where the recent past says clearly that the difference pays.

Targets: football is multiclass soft-probability with classes 0 home win, 1 draw, 2 away win;
``two_way=True`` is binary (home win vs away win) and drops ties from training. Missing feature
values (NaN) are left to the libraries' own missing-value handling.

Number of trees: the last ``validation_fraction`` of the training rows by date (the most recent
past, never a fixture) is held out, the booster is grown on the older rows until the held-out
log loss has not improved for ``early_stopping_rounds`` rounds (capped at ``n_estimators``),
and the final booster is then refitted on ALL training rows with that best iteration count,
unscaled (the refit sees 25 % more rows than the early-stopping fit; keeping the count is the
conservative choice on noisy data). ``early_stopping_rounds=None`` or too few rows grows exactly
``n_estimators`` trees. Each ``fit`` therefore costs about two booster fits.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import log_softmax

from scoreline.features.market import DevigMethod
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel, outcome_index
from scoreline.models.baselines import MarketModel

__all__ = [
    "MARKET_PREFIXES",
    "RESULT_PREFIXES",
    "GradientBoostingModel",
    "feature_columns",
]

#: point-in-time feature blocks built from earlier results (builder: ratings, form, rest, h2h)
RESULT_PREFIXES = ("elo_", "pi_", "form_", "rest_", "h2h_")
#: pre-closing market features (de-vigged probabilities and overrounds)
MARKET_PREFIXES = ("mkt_",)
#: fewest training rows for which a validation split is attempted
MIN_ROWS_FOR_EARLY_STOPPING = 100


def feature_columns(frame: pd.DataFrame, features: str = "results") -> list[str]:
    """The feature columns of ``frame`` a model with ``features`` ("results" | "market") reads,
    in frame order. Columns naming closing prices (``close`` anywhere) are always excluded."""
    prefixes: tuple[str, ...]
    if features == "results":
        prefixes = RESULT_PREFIXES
    elif features == "market":
        prefixes = RESULT_PREFIXES + MARKET_PREFIXES
    else:
        raise ValueError(f"features must be 'results' or 'market', not {features!r}")
    return [c for c in frame.columns if isinstance(c, str) and c.startswith(prefixes) and "close" not in c]


def _matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    # reindex: a fixture frame lacking a column gets NaN, which both libraries treat as missing
    return frame.reindex(columns=columns).astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _date_order(matches: pd.DataFrame) -> np.ndarray:
    keys = ["date", "match_id"] if "match_id" in matches else ["date"]
    return np.lexsort([matches[k].to_numpy() for k in reversed(keys)])


class GradientBoostingModel(MatchModel):
    """LightGBM or XGBoost classifier over the point-in-time feature columns.

    Parameters
    ----------
    library : "lightgbm" or "xgboost".
    features : "results" (ratings, form, rest, head-to-head) or "market" (the same plus the
        pre-closing ``mkt_*`` columns). Never closing prices.
    two_way : binary home/away model for sports without draws (ties dropped from training).
    learning_rate, n_estimators : shrinkage and the cap on boosting rounds.
    max_depth, num_leaves : tree size; XGBoost uses ``max_depth``, LightGBM both.
    min_child_samples : fewest rows per leaf (LightGBM ``min_data_in_leaf``); XGBoost has no row
        count and gets ``min_child_weight = 0.25 * min_child_samples`` (a log-loss row's hessian
        p(1-p) is at most 0.25), an approximation.
    subsample, colsample : row / column fractions sampled per tree.
    reg_lambda : L2 penalty on leaf values.
    early_stopping_rounds, validation_fraction : see the module docstring (the most recent
        ``validation_fraction`` of training rows choose the number of trees).
    random_state, n_jobs : seed and threads. One thread is the default: on ~2,000 rows the
        OpenMP start-up and synchronisation cost more than a second thread saves (measured up to
        10x slower with 2 threads on a busy 2-core machine); keep ``n_jobs <= 2``.
    params : library-native parameters applied last, overriding everything above (for tuners).
    offset : pre-closing price sources (first priced wins) whose de-vigged log-probabilities
        are the booster's starting score (module doc); ``()`` = no offset. Football only.

    Learned state
    -------------
    ``feature_names_`` (columns read, in order), ``best_iteration_`` (trees in the final booster;
    0 with an offset the trees did not beat), ``booster_`` (a ``lightgbm.Booster`` or
    ``xgboost.Booster``; None with 0 trees), ``n_train_``, ``offset_fill_`` (log outcome shares for
    rows no offset source prices), ``offset_gain_`` (held-out log loss of the market alone minus
    the stopped booster's; NaN without a validation split).

    The defaults (depth-2 trees, slow learning rate, at least 80 rows per leaf, L2 penalty) suit
    1,500-3,000 noisy training rows, where outcome signal is weak and deep trees only memorise;
    they were chosen on E0 seasons 2009-2011 only (four seasons' training each), before any
    evaluated season.
    """

    def __init__(
        self,
        library: str = "lightgbm",
        features: str = "results",
        two_way: bool = False,
        learning_rate: float = 0.03,
        max_depth: int = 2,
        num_leaves: int = 4,
        n_estimators: int = 1000,
        min_child_samples: int = 80,
        subsample: float = 0.8,
        colsample: float = 0.5,
        reg_lambda: float = 5.0,
        early_stopping_rounds: int | None = 50,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        n_jobs: int = 1,
        params: dict[str, Any] | None = None,
        offset: tuple[str, ...] = (),
    ):
        self.library = library
        self.features = features
        self.two_way = two_way
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.num_leaves = num_leaves
        self.n_estimators = n_estimators
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample = colsample
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.params = params
        self.offset = offset

    @property
    def outcomes(self) -> tuple[str, ...]:
        return OUTCOMES_2WAY if self.two_way else OUTCOMES_3WAY

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, matches: pd.DataFrame) -> Self:
        """Fit on played ``matches`` (any order) carrying point-in-time feature columns."""
        if self.library not in ("lightgbm", "xgboost"):
            raise ValueError(f"library must be 'lightgbm' or 'xgboost', not {self.library!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        self.feature_names_ = feature_columns(matches, self.features)
        if not self.feature_names_:
            raise ValueError(
                f"no {self.features!r} feature columns in the training frame "
                f"(expected prefixes {RESULT_PREFIXES + MARKET_PREFIXES})"
            )
        rows = matches.iloc[_date_order(matches)]
        y = outcome_index(rows, self.two_way)
        keep = y >= 0
        x, y = _matrix(rows, self.feature_names_)[keep], y[keep]
        if len(y) == 0:
            raise ValueError("fit needs at least one played match with a decisive outcome")
        self.n_train_ = len(y)
        margin = self._fit_offset(rows.loc[keep], y)

        n_valid = round(self.validation_fraction * len(y))
        self.offset_gain_ = float("nan")
        if self.early_stopping_rounds and n_valid > 0 and len(y) >= MIN_ROWS_FOR_EARLY_STOPPING:
            # rows are in date order: the held-out rows are the most recent past
            split = len(y) - n_valid
            valid = (x[split:], y[split:], None if margin is None else margin[split:])
            booster, best = self._train(
                x[:split], y[:split], None if margin is None else margin[:split], self.n_estimators, valid
            )
            self.best_iteration_ = max(1, best)
            if margin is not None:
                market = _log_losses(np.exp(log_softmax(margin[split:], axis=1)), y[split:])
                gain = market - _log_losses(self._proba(booster, x[split:], margin[split:], best), y[split:])
                self.offset_gain_ = float(gain.mean())
                # the count was chosen on these rows, so their gain is optimistic: keep trees only
                # for a gain beyond two standard errors, else the market alone
                if self.offset_gain_ <= 2.0 * gain.std(ddof=1) / np.sqrt(len(gain)):
                    self.best_iteration_ = 0
        else:
            self.best_iteration_ = self.n_estimators
        self.booster_ = (
            self._train(x, y, margin, self.best_iteration_, None)[0] if self.best_iteration_ else None
        )
        return self

    def _fit_offset(self, rows: pd.DataFrame, y: np.ndarray) -> np.ndarray | None:
        """The training rows' starting scores (log-probabilities), None without an offset."""
        if not self.offset:
            return None
        if self.two_way:
            raise ValueError("offset is for football 1X2 prices; two_way models have none")
        if any("close" in s for s in self.offset):
            raise ValueError(f"offset {self.offset}: closing prices are never a model input")
        shares = (np.bincount(y, minlength=3) + 1.0) / (len(y) + 3.0)
        self.offset_fill_ = np.log(shares)
        self.market_ = MarketModel(self.offset[0], DevigMethod.MULTIPLICATIVE, self.offset[1:]).fit(rows)
        return self._margin(rows)

    def _margin(self, frame: pd.DataFrame) -> np.ndarray:
        probs = self.market_.predict_proba(frame)
        logs = np.log(np.clip(probs, 1e-6, 1.0))
        unpriced = ~np.isfinite(probs).all(axis=1)
        logs[unpriced] = self.offset_fill_
        return logs

    def _train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        margin: np.ndarray | None,
        rounds: int,
        valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None,
    ) -> tuple[Any, int]:
        """(booster, best number of rounds) for one library call; ``margin``: starting scores."""
        if self.library == "lightgbm":
            return self._train_lightgbm(x, y, margin, rounds, valid)
        return self._train_xgboost(x, y, margin, rounds, valid)

    def _train_lightgbm(self, x, y, margin, rounds, valid):
        import lightgbm as lgb

        params: dict[str, Any] = {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if self.two_way:
            params |= {"objective": "binary", "metric": "binary_logloss"}
        else:
            params |= {"objective": "multiclass", "num_class": 3, "metric": "multi_logloss"}
        params |= self.params or {}
        train = lgb.Dataset(x, label=y, init_score=margin, free_raw_data=False)
        if valid is None:
            return lgb.train(params, train, num_boost_round=rounds), rounds
        held_out = lgb.Dataset(valid[0], label=valid[1], init_score=valid[2], reference=train)
        booster = lgb.train(
            params,
            train,
            num_boost_round=rounds,
            valid_sets=[held_out],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        return booster, int(booster.best_iteration or rounds)

    def _train_xgboost(self, x, y, margin, rounds, valid):
        import xgboost as xgb

        params: dict[str, Any] = {
            "eta": self.learning_rate,
            "max_depth": self.max_depth,
            "min_child_weight": 0.25 * self.min_child_samples,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample,
            "lambda": self.reg_lambda,
            "tree_method": "hist",
            "nthread": self.n_jobs,
            "seed": self.random_state,
            "verbosity": 0,
        }
        if self.two_way:
            params |= {"objective": "binary:logistic", "eval_metric": "logloss"}
        else:
            params |= {"objective": "multi:softprob", "num_class": 3, "eval_metric": "mlogloss"}
        params |= self.params or {}
        train = xgb.DMatrix(x, label=y, base_margin=margin, missing=np.nan)
        if valid is None:
            return xgb.train(params, train, num_boost_round=rounds), rounds
        held_out = xgb.DMatrix(valid[0], label=valid[1], base_margin=valid[2], missing=np.nan)
        booster = xgb.train(
            params,
            train,
            num_boost_round=rounds,
            evals=[(held_out, "valid")],
            early_stopping_rounds=self.early_stopping_rounds,
            verbose_eval=False,
        )
        return booster, int(booster.best_iteration) + 1  # xgboost counts from 0

    # -- prediction --------------------------------------------------------------------------

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        """``(n, 3)`` (home, draw, away) or, two-way, ``(n, 2)`` (home, away) probabilities."""
        x = _matrix(fixtures, self.feature_names_)
        margin = self._margin(fixtures) if self.offset else None
        return self._proba(self.booster_, x, margin, self.best_iteration_)

    def _proba(self, booster: Any, x: np.ndarray, margin: np.ndarray | None, trees: int) -> np.ndarray:
        """Probabilities of ``booster``'s first ``trees`` trees started from ``margin``."""
        if margin is not None:
            scores = margin.copy()
            if trees and self.library == "lightgbm":
                scores += booster.predict(x, raw_score=True, num_iteration=trees)
            elif trees:
                import xgboost as xgb

                # with a base margin XGBoost adds no base_score: the margin is the whole start
                data = xgb.DMatrix(x, base_margin=margin, missing=np.nan)
                scores = booster.predict(data, output_margin=True, iteration_range=(0, trees))
            return np.exp(log_softmax(np.asarray(scores, dtype=float).reshape(len(x), 3), axis=1))
        if self.library == "lightgbm":
            raw = booster.predict(x, num_iteration=trees)
        else:
            import xgboost as xgb

            raw = booster.predict(xgb.DMatrix(x, missing=np.nan), iteration_range=(0, trees))
        raw = np.asarray(raw, dtype=float)
        if self.two_way:
            p_away = raw.reshape(-1)
            return np.column_stack([1.0 - p_away, p_away])
        probs = raw.reshape(len(x), 3)
        return probs / probs.sum(axis=1, keepdims=True)


def _log_losses(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(probs[np.arange(len(y)), y], 1e-15, None))
