"""A learned stack: a meta-learner over member models' walk-forward out-of-fold probabilities.

``fit(matches)`` never lets the meta-learner see a probability that was made with knowledge of
its own outcome:

1. the training rows are sorted by date and cut into ``n_folds`` consecutive time blocks, the
   cuts moved to date boundaries so that a date never straddles two blocks;
2. for every block ``k >= 1``, fresh clones of every member are fitted on the rows dated
   strictly before block ``k`` and predict block ``k`` (out-of-fold, walk-forward: block 0 is
   training-only);
3. the meta-learner is fitted on those out-of-fold rows (see ``meta`` below);
4. every member is refitted on all training rows; ``predict_proba`` passes their probabilities
   through the meta-learner.

Calibration (``calibrate=True``): a provisional meta-learner fitted on every out-of-fold block
but the last predicts the last block, and a temperature ``T`` (probabilities ``∝ p ** (1/T)``) is
fitted on that block by maximum likelihood; the final meta-learner (fitted on all out-of-fold
blocks) is then tempered by ``T``. The temperature is thus fitted on the latest past only, inside
whatever walk-forward loop calls ``fit``.

Missing member probabilities: a member may return NaN rows (a market model on an unpriced
match). Out-of-fold rows where any *active* member is NaN are left out of the meta-learner's
training. A member is *inactive* when keeping it would leave fewer than ``min_meta_rows``
complete rows (members with the fewest finite rows are dropped first; e.g. pre-closing Pinnacle
prices before 2012); inactive members still count in the fallback. At prediction, rows where
every active member is finite go through the meta-learner; any other row gets the mean of the
members that are finite on it (NaN if none is). With no usable meta rows at all the stack is that
mean everywhere.

Meta-learners, all on the members' log-probabilities:

* ``"pooled"`` (default): a weighted geometric pool, one weight per member plus one intercept
  per outcome (:class:`LogLinearPool`), shrunk towards equal weights. Few parameters, so it
  does not chase noise in ~1,200 out-of-fold rows;
* ``"simplex"``: the same pool with its weights constrained to ``w >= 0, sum(w) = 1``, a convex
  combination in log space (the de-vigged sharp price as one member: the stack can move away
  from it only towards other members, never sharpen it);
* ``"logistic"``: an L2-regularised multinomial (two-way: binary) scikit-learn
  ``LogisticRegression`` with a free coefficient per (member, outcome, class);
* ``"lightgbm"``: a small LightGBM (depth-2 trees, 150 rounds at learning rate 0.03).

On E0 walk-forward seasons 2009-2011 (before any evaluated season; refit every 4 weeks on 4
years) the pooled meta-learner scored RPS 0.1982 (results members) and 0.1953 (with market
members) against 0.1992 and 0.1964 for the logistic one, hence the default.

Never worse than the best member (``guard=True``, the default), by past out-of-fold evidence
only: a meta-learner fitted on the out-of-fold blocks before block ``k`` predicts block ``k``
(for every block after the first out-of-fold one), so each of these held-out predictions was
made without its block's outcomes; on those rows the member with the lowest RPS is the *best
member*, and the final probabilities are the geometric mix
``p ∝ meta ** (1 - shrinkage) * best ** shrinkage`` with ``shrinkage`` in 0, 0.25, ..., 1: the
best member alone (shrinkage 1) unless some mix beats it on the same rows by more than two
standard errors of the paired RPS difference, then the mix with the lowest RPS. A meta-learner
that does not clearly beat its best member out of sample is thus replaced by it. With fewer
than ``min_meta_rows`` held-out rows there is no evidence and the meta-learner is used as it is.

``anchor`` (a member index, e.g. the de-vigged sharp price): the member the guard stays with
unless the evidence is clear. Picking the lowest held-out RPS among six members is itself a
noisy choice (on E0 in March 2013 Dixon-Coles edged the market on 916 held-out rows, 0.1968
against 0.1971, and then lost to it by 0.004 over the next four weeks), so with an anchor every
candidate, the best member alone as well as each mix, must beat the anchor by more than two
standard errors of the paired RPS difference; otherwise the stack is the anchor.

Cost: each member is fitted ``n_folds`` times per ``fit`` (``n_folds - 1`` out-of-fold fits on
growing prefixes, about half the rows on average, plus the final fit; ``min_train_blocks=2``
saves one), so a stack refit costs
about ``n_folds / 2 + 1`` times the members' own refits. Refit it every few weeks, not weekly.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from scoreline.models.base import MatchModel, clone, outcome_index

__all__ = ["META_LEARNERS", "SHRINKAGE_GRID", "LogLinearPool", "StackedModel", "time_blocks"]

META_LEARNERS = ("pooled", "simplex", "logistic", "lightgbm")

#: probabilities are clipped here before logs, so a member's 0 does not become -inf
PROBABILITY_FLOOR = 1e-6
#: the guard's shrinkage towards the best member, best member first (it wins ties)
SHRINKAGE_GRID = (1.0, 0.75, 0.5, 0.25, 0.0)


def _rps(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ranked probability score per row (outcomes ordered, e.g. home/draw/away)."""
    k = probs.shape[1]
    cumulative = np.cumsum(probs, axis=1)[:, :-1]
    observed = np.cumsum(np.eye(k)[y], axis=1)[:, :-1]
    return ((cumulative - observed) ** 2).sum(axis=1) / (k - 1)


def _mix(meta: np.ndarray, best: np.ndarray, shrinkage: float) -> np.ndarray:
    """Geometric mix ``meta ** (1 - shrinkage) * best ** shrinkage``, rows normalised."""
    log = (1.0 - shrinkage) * np.log(np.clip(meta, 1e-12, 1.0)) + shrinkage * np.log(
        np.clip(best, 1e-12, 1.0)
    )
    return np.exp(log_softmax(log, axis=1))


def _date_order(matches: pd.DataFrame) -> np.ndarray:
    keys = ["date", "match_id"] if "match_id" in matches else ["date"]
    return np.lexsort([matches[k].to_numpy() for k in reversed(keys)])


def time_blocks(dates: np.ndarray, n_folds: int) -> np.ndarray:
    """Start positions of ``n_folds`` consecutive blocks of the sorted ``dates``.

    Blocks have about equal row counts; each cut is moved back to the first row of its date, so
    every row before a block's start is dated strictly before that block. Returns the sorted,
    distinct starts, beginning with 0 (fewer than ``n_folds`` when dates are too coarse).
    """
    n = len(dates)
    cuts = np.round(np.arange(1, n_folds) * n / n_folds).astype(int)
    cuts = np.searchsorted(dates, dates[np.clip(cuts, 0, n - 1)], side="left") if n else cuts
    return np.unique(np.concatenate([[0], cuts[(cuts > 0) & (cuts < n)]])).astype(int)


def _log_features(probs: np.ndarray) -> np.ndarray:
    """(n, members, k) probabilities -> (n, members * k) log-probabilities."""
    return np.log(np.clip(probs, PROBABILITY_FLOOR, 1.0)).reshape(len(probs), -1)


def _finite_mean(probs: np.ndarray) -> np.ndarray:
    """Row-wise mean over members that are finite on the row; NaN rows where none is."""
    finite = np.isfinite(probs).all(axis=2)
    total = np.where(finite[:, :, None], probs, 0.0).sum(axis=1)
    count = finite.sum(axis=1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


class StackedModel(MatchModel):
    """Meta-learner over ``members``' out-of-fold walk-forward probabilities (see module doc).

    Parameters
    ----------
    members : models sharing one outcome order; cloned, never fitted in place.
    meta : "pooled", "simplex", "logistic" or "lightgbm" (see the module doc).
    n_folds : time blocks; ``n_folds - 1`` of them supply out-of-fold rows.
    min_train_blocks : the first out-of-fold block; members predicting block ``k`` are fitted on
        ``k`` earlier blocks, so 2 drops the weakest (shortest-history) out-of-fold fits and
        saves one member fit per member.
    calibrate : temper the meta-learner's output by a temperature fitted on the last block.
    guard : shrink towards the best member by held-out out-of-fold evidence (module doc).
    anchor : index of the member the guard keeps unless another member or a mix clearly beats
        it (module doc); None = the best member by held-out RPS, untested.
    C : inverse L2 strength of the pooled and logistic meta-learners.
    min_meta_rows : fewest complete out-of-fold rows the meta-learner is fitted on.

    Learned state
    -------------
    ``members_`` (members fitted on all rows), ``meta_`` (None: finite-member mean only),
    ``active_`` (bool per member: used by the meta-learner), ``temperature_``,
    ``best_member_`` and ``shrinkage_`` (the guard's choice; shrinkage 0 = the meta-learner),
    ``guard_rps_`` (held-out RPS of each active member, the meta-learner and the choice),
    ``block_starts_`` (first date of each block), ``oof_probabilities_``
    ``(n_oof, n_members, k)``, ``oof_dates_``, ``oof_outcome_`` and ``oof_block_`` (block of
    each out-of-fold row): the rows the meta-learner was fitted on, for inspection.
    """

    def __init__(
        self,
        members: tuple[MatchModel, ...] = (),
        meta: str = "pooled",
        n_folds: int = 5,
        calibrate: bool = False,
        C: float = 1.0,
        min_meta_rows: int = 200,
        min_train_blocks: int = 1,
        random_state: int = 0,
        guard: bool = True,
        anchor: int | None = None,
    ):
        self.members = members
        self.meta = meta
        self.n_folds = n_folds
        self.calibrate = calibrate
        self.C = C
        self.min_meta_rows = min_meta_rows
        self.min_train_blocks = min_train_blocks
        self.random_state = random_state
        self.guard = guard
        self.anchor = anchor

    @property
    def outcomes(self) -> tuple[str, ...]:
        return self.members[0].outcomes

    @property
    def _two_way(self) -> bool:
        return len(self.outcomes) == 2

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, matches: pd.DataFrame) -> Self:
        """Out-of-fold member fits, meta-learner, then members refitted on all ``matches``."""
        if not self.members:
            raise ValueError("StackedModel needs at least one member model")
        if len({m.outcomes for m in self.members}) != 1:
            raise ValueError("StackedModel members must share one outcome order")
        if self.meta not in META_LEARNERS:
            raise ValueError(f"meta must be one of {META_LEARNERS}, not {self.meta!r}")
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds}")

        rows = matches.iloc[_date_order(matches)]
        dates = rows["date"].to_numpy()
        starts = time_blocks(dates, self.n_folds)
        ends = np.append(starts[1:], len(rows))
        self.block_starts_ = dates[starts]

        blocks, oof = [], []
        first = min(max(1, self.min_train_blocks), len(starts) - 1) if len(starts) > 1 else 1
        for k in range(first, len(starts)):
            past, block = rows.iloc[: starts[k]], rows.iloc[starts[k] : ends[k]]
            fitted = [clone(m).fit(past) for m in self.members]
            oof.append(np.stack([m.predict_proba(block) for m in fitted], axis=1))
            blocks.append(np.full(len(block), k))
        k_out = len(self.outcomes)
        self.oof_probabilities_ = np.concatenate(oof) if oof else np.empty((0, len(self.members), k_out))
        self.oof_block_ = np.concatenate(blocks) if blocks else np.empty(0, dtype=int)
        oof_rows = rows.iloc[starts[first] :] if len(starts) > 1 else rows.iloc[:0]
        self.oof_dates_ = oof_rows["date"].to_numpy()
        self.oof_outcome_ = outcome_index(oof_rows, self._two_way)

        self._fit_meta()
        self.members_ = [clone(m).fit(matches) for m in self.members]
        return self

    def _fit_meta(self) -> None:
        probs, y = self.oof_probabilities_, self.oof_outcome_
        finite = np.isfinite(probs).all(axis=2) & (y >= 0)[:, None]
        active = np.ones(len(self.members), dtype=bool)
        while finite[:, active].all(axis=1).sum() < self.min_meta_rows and active.sum() > 1:
            candidates = np.flatnonzero(active)
            active[candidates[np.argmin(finite[:, candidates].sum(axis=0))]] = False
        usable = finite[:, active].all(axis=1)
        self.active_ = active
        self.temperature_ = 1.0
        self.meta_ = None
        self.best_member_, self.shrinkage_ = int(np.flatnonzero(active)[0]), 0.0
        self.guard_rps_: dict[str, object] = {}
        if usable.sum() < self.min_meta_rows or len(np.unique(y[usable])) < 2:
            return
        z = _log_features(probs[usable][:, active])
        if self.guard:
            self._fit_guard(probs[usable][:, active], z, y[usable], self.oof_block_[usable])
        if self.calibrate:
            last = self.oof_block_[usable] == self.oof_block_.max()
            if (~last).sum() >= self.min_meta_rows and last.any():
                provisional = self._new_meta().fit(z[~last], y[usable][~last])
                self.temperature_ = _fit_temperature(self._meta_proba(provisional, z[last]), y[usable][last])
        self.meta_ = self._new_meta().fit(z, y[usable])

    def held_out_meta(
        self, z: np.ndarray, y: np.ndarray, blocks: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows of every out-of-fold block after the first, each predicted by a meta-learner
        fitted on the earlier blocks only: (row mask, (rows, k) probabilities). A block's own
        outcomes never reach the meta-learner that predicts it."""
        held = np.zeros(len(y), dtype=bool)
        out = np.full((len(y), len(self.outcomes)), np.nan)
        for k in np.unique(blocks)[1:]:
            before, here = blocks < k, blocks == k
            if before.sum() < self.min_meta_rows or len(np.unique(y[before])) < 2:
                continue
            meta = self._new_meta().fit(z[before], y[before])
            out[here] = self._meta_proba(meta, z[here])
            held |= here
        return held, out[held]

    def _fit_guard(self, probs: np.ndarray, z: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> None:
        """Best member and shrinkage from the held-out meta predictions (module doc)."""
        held, meta = self.held_out_meta(z, y, blocks)
        if held.sum() < self.min_meta_rows:
            return
        active = np.flatnonzero(self.active_)
        losses = [_rps(probs[held][:, m], y[held]) for m in range(probs.shape[1])]
        members = [float(loss.mean()) for loss in losses]
        best = int(np.argmin(members))
        anchor = None if self.anchor is None else self.anchor % len(self.members)
        base = int(np.flatnonzero(active == anchor)[0]) if anchor in active else best
        # candidates: (member mixed with, shrinkage); the base member alone comes first and wins ties
        candidates = [(base, 1.0)] + [(best, lam) for lam in SHRINKAGE_GRID if (best, lam) != (base, 1.0)]
        gains = np.array(
            [_rps(_mix(meta, probs[held][:, m], lam), y[held]) - losses[base] for m, lam in candidates]
        )
        # a candidate must beat the base member by more than two standard errors of the paired
        # difference: a held-out edge within the noise is no reason to leave it
        margin = gains.mean(axis=1) + 2.0 * gains.std(axis=1, ddof=1) / np.sqrt(gains.shape[1])
        clear = np.flatnonzero(margin < 0)
        choice = int(clear[np.argmin(gains.mean(axis=1)[clear])]) if clear.size else 0
        member, shrinkage = candidates[choice]
        scores = [members[base] + float(g) for g in gains.mean(axis=1)]
        self.best_member_ = int(active[member])
        self.shrinkage_ = shrinkage
        self.guard_rps_ = {
            "members": members,
            "meta": members[best] + float(_rps(meta, y[held]).mean() - losses[best].mean()),
            "chosen": scores[choice],
            "rows": int(held.sum()),
        }

    def _new_meta(self):
        if self.meta in ("pooled", "simplex"):
            return LogLinearPool(
                n_members=int(self.active_.sum()),
                n_outcomes=len(self.outcomes),
                C=self.C,
                simplex=self.meta == "simplex",
            )
        if self.meta == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.C, max_iter=2000)
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=150,
            learning_rate=0.03,
            num_leaves=4,
            max_depth=2,
            min_child_samples=50,
            reg_lambda=5.0,
            subsample=0.8,
            subsample_freq=1,
            random_state=self.random_state,
            n_jobs=1,
            verbose=-1,
        )

    def _meta_proba(self, meta, z: np.ndarray) -> np.ndarray:
        """Meta-learner probabilities in outcome order (an outcome absent from training gets 0)."""
        out = np.zeros((len(z), len(self.outcomes)))
        out[:, meta.classes_.astype(int)] = meta.predict_proba(z)
        return out

    # -- prediction --------------------------------------------------------------------------

    def member_probabilities(self, fixtures: pd.DataFrame) -> np.ndarray:
        """``(n, n_members, k)``: each fitted member's probabilities for ``fixtures``."""
        return np.stack([m.predict_proba(fixtures) for m in self.members_], axis=1)

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        """Meta-learner probabilities in ``outcomes`` order; see the module doc for NaN rows."""
        probs = self.member_probabilities(fixtures)
        out = _finite_mean(probs)
        if self.meta_ is not None:
            ok = np.isfinite(probs[:, self.active_]).all(axis=(1, 2))
            if ok.any():
                meta = self._meta_proba(self.meta_, _log_features(probs[ok][:, self.active_]))
                out[ok] = _mix(
                    _tempered(meta, self.temperature_), probs[ok, self.best_member_], self.shrinkage_
                )
        return out / out.sum(axis=1, keepdims=True)


def _tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return probs
    return np.exp(log_softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature, axis=1))


def _fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """Temperature in [0.5, 2] minimising the log loss of ``probs`` tempered, on labels ``y``."""

    def loss(t: float) -> float:
        return -float(np.mean(np.log(np.clip(_tempered(probs, t)[np.arange(len(y)), y], 1e-12, None))))

    return float(minimize_scalar(loss, bounds=(0.5, 2.0), method="bounded").x)


class LogLinearPool:
    """Weighted geometric pool: ``P(j) ∝ exp(b_j + sum_m w_m log p_mj)``.

    One weight per member, shared by all outcomes, plus an intercept per outcome (the first
    fixed at 0): a conditional-logit multinomial regression on the members' log-probabilities
    with ``n_members + k - 1`` parameters instead of ``k * (n_members * k + 1)``. The weights
    are L2-shrunk towards the equal pool ``1 / n_members`` with strength ``1 / (2 C n)`` per
    row, like scikit-learn's ``C``. Fitted by L-BFGS with an analytic gradient.

    ``simplex=True`` constrains the weights to ``w >= 0, sum(w) = 1`` (SLSQP): a convex
    combination in log space that can only move between the members, never sharpen or invert
    one, so on a few hundred noisy rows it cannot stray far from its best member.
    """

    def __init__(self, n_members: int, n_outcomes: int, C: float = 1.0, simplex: bool = False):
        self.n_members = n_members
        self.n_outcomes = n_outcomes
        self.C = C
        self.simplex = simplex

    def _scores(self, params: np.ndarray, z: np.ndarray) -> np.ndarray:
        logs = z.reshape(len(z), self.n_members, self.n_outcomes)
        w, b = params[: self.n_members], np.concatenate([[0.0], params[self.n_members :]])
        return np.einsum("nmk,m->nk", logs, w) + b

    def fit(self, z: np.ndarray, y: np.ndarray) -> LogLinearPool:
        from scipy.optimize import minimize

        logs = z.reshape(len(z), self.n_members, self.n_outcomes)
        prior = np.full(self.n_members, 1.0 / self.n_members)
        strength = 1.0 / (self.C * len(z))
        onehot = np.eye(self.n_outcomes)[y]

        def objective(params):
            log_p = log_softmax(self._scores(params, z), axis=1)
            residual = np.exp(log_p) - onehot  # d loss / d score
            w = params[: self.n_members]
            loss = -np.mean(log_p[np.arange(len(y)), y]) + 0.5 * strength * np.sum((w - prior) ** 2)
            grad_w = np.einsum("nk,nmk->m", residual, logs) / len(y) + strength * (w - prior)
            grad_b = residual.mean(axis=0)[1:]
            return loss, np.concatenate([grad_w, grad_b])

        start = np.concatenate([prior, np.zeros(self.n_outcomes - 1)])
        if self.simplex:
            bounds = [(0.0, 1.0)] * self.n_members + [(None, None)] * (self.n_outcomes - 1)
            total = {
                "type": "eq",
                "fun": lambda params: params[: self.n_members].sum() - 1.0,
                "jac": lambda params: np.concatenate(
                    [np.ones(self.n_members), np.zeros(self.n_outcomes - 1)]
                ),
            }
            found = minimize(objective, start, jac=True, method="SLSQP", bounds=bounds, constraints=[total])
            weights = np.clip(found.x[: self.n_members], 0.0, None)
            self.params_ = np.concatenate([weights / weights.sum(), found.x[self.n_members :]])
        else:
            self.params_ = minimize(objective, start, jac=True, method="L-BFGS-B").x
        self.classes_ = np.arange(self.n_outcomes)
        return self

    @property
    def weights_(self) -> np.ndarray:
        return self.params_[: self.n_members]

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        return np.exp(log_softmax(self._scores(self.params_, z), axis=1))
