"""Dixon & Coles (1997) goal model with exponential time decay.

Goals in match ``i`` (home team ``h``, away team ``a``) are Poisson with log-rates

    log lambda_i = intercept + home_advantage * [not neutral] + attack[h] + defence[a]
    log mu_i     = intercept + attack[a] + defence[h]

so ``defence`` is a team's goals-*conceded* tendency (lower is better) and a team's strength is
``attack - defence``. Both vectors sum to zero, so ``intercept`` is the log scoring rate of an
average away side against an average home side at a neutral ground. The four low scores (0-0,
0-1, 1-0, 1-1) are multiplied by Dixon & Coles' tau with dependence parameter ``rho``.

Fitting maximises the time-weighted log-likelihood, weight ``exp(-xi * days)`` where ``days`` is
the time from the match to the last match in the training rows. Only the rows given are used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import poisson
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from scoreline.models.base import GoalModel, neutral_venue, played_scores
from scoreline.models.scores import ScoreGrid

__all__ = ["DecayTuning", "DixonColes", "dixon_coles_grid", "match_weights", "tune_decay"]

#: unknown (e.g. promoted) teams get the mean attack and defence of this many weakest teams
N_WEAKEST = 3
#: floor for tau so the log-likelihood stays finite for extreme trial values of rho
_TAU_FLOOR = 1e-10


def dixon_coles_grid(
    home_rate: np.ndarray, away_rate: np.ndarray, rho: float, max_goals: int = 10
) -> ScoreGrid:
    """Dixon-Coles score grids for Poisson rates ``home_rate``, ``away_rate`` (goals per match,
    arrays of length n), goals 0..``max_goals`` per side, renormalised after truncation."""
    lam = np.asarray(home_rate, dtype=np.float64)
    mu = np.asarray(away_rate, dtype=np.float64)
    goals = np.arange(max_goals + 1)
    p = poisson.pmf(goals, lam[:, None])[:, :, None] * poisson.pmf(goals, mu[:, None])[:, None, :]
    p[:, 0, 0] *= 1 - lam * mu * rho
    if max_goals >= 1:
        p[:, 0, 1] *= 1 + lam * rho
        p[:, 1, 0] *= 1 + mu * rho
        p[:, 1, 1] *= 1 - rho
    return ScoreGrid(np.clip(p, 0.0, None))


def match_weights(dates: pd.Series, xi: float) -> np.ndarray:
    """Time-decay weights ``exp(-xi * days)``, ``days`` = days before the latest date given."""
    when = pd.to_datetime(dates).to_numpy(dtype="datetime64[ns]")
    days = (when.max() - when) / np.timedelta64(1, "D")
    return np.exp(-xi * days)


@dataclass(frozen=True)
class _Design:
    """Training matches as arrays; weights normalised to sum to 1."""

    home: np.ndarray  # team index of the home side
    away: np.ndarray
    x: np.ndarray  # home goals
    y: np.ndarray  # away goals
    weight: np.ndarray
    at_home: np.ndarray  # 1.0 where home advantage applies, 0.0 at neutral venues
    n_teams: int
    l2: float  # ridge penalty per unit of the weighted mean log-likelihood
    s00: np.ndarray  # indices of 0-0, 0-1, 1-0 and 1-1 results
    s01: np.ndarray
    s10: np.ndarray
    s11: np.ndarray


def _negative_log_likelihood(params: np.ndarray, d: _Design) -> tuple[float, np.ndarray]:
    """Weighted mean negative log-likelihood (without the log x! constants) and its gradient.

    ``params`` = [attack (n, centred here), defence (n, centred here), intercept, home, rho].
    Centring inside the objective is the sum-to-zero reparameterisation: the gradient is
    projected onto the centred subspace, so the optimiser never moves along it.
    """
    n = d.n_teams
    attack = params[:n] - params[:n].mean()
    defence = params[n : 2 * n] - params[n : 2 * n].mean()
    intercept, home, rho = params[2 * n :]

    eta_h = intercept + home * d.at_home + attack[d.home] + defence[d.away]
    eta_a = intercept + attack[d.away] + defence[d.home]
    lam, mu = np.exp(eta_h), np.exp(eta_a)
    ll = d.x * eta_h - lam + d.y * eta_a - mu
    g_h, g_a = d.x - lam, d.y - mu  # d ll / d eta
    g_rho = np.zeros_like(lam)

    # low-score correction: log tau and its derivatives, on the few matches it touches
    def correct(idx: np.ndarray, tau: np.ndarray, dtau_drho: np.ndarray) -> np.ndarray:
        ok = tau > _TAU_FLOOR
        ll[idx] += np.log(np.where(ok, tau, _TAU_FLOOR))
        g = np.where(ok, dtau_drho / np.where(ok, tau, 1.0), 0.0)  # d log tau / d rho
        g_rho[idx] = g
        return g

    lm = lam[d.s00] * mu[d.s00]
    g = correct(d.s00, 1 - rho * lm, -lm)
    g_h[d.s00] += rho * g  # tau = 1 - rho*lam*mu: d/d eta_h = d/d eta_a = rho * d/d rho
    g_a[d.s00] += rho * g
    g = correct(d.s01, 1 + rho * lam[d.s01], lam[d.s01])
    g_h[d.s01] += rho * g
    g = correct(d.s10, 1 + rho * mu[d.s10], mu[d.s10])
    g_a[d.s10] += rho * g
    correct(d.s11, np.full(len(d.s11), 1 - rho), np.full(len(d.s11), -1.0))

    w = d.weight
    wh, wa = w * g_h, w * g_a
    g_attack = np.bincount(d.home, wh, n) + np.bincount(d.away, wa, n)
    g_defence = np.bincount(d.away, wh, n) + np.bincount(d.home, wa, n)
    grad = np.concatenate(
        [
            g_attack - g_attack.mean(),
            g_defence - g_defence.mean(),
            [wh.sum() + wa.sum(), wh @ d.at_home, w @ g_rho],
        ]
    )
    penalty = 0.5 * d.l2 * (attack @ attack + defence @ defence)
    grad[: 2 * n] -= d.l2 * np.concatenate([attack, defence])  # already centred
    return -float(w @ ll) + penalty, -grad


class DixonColes(GoalModel):
    """Dixon & Coles (1997) model: team attack/defence, home advantage, low-score ``rho``.

    Parameters
    ----------
    xi : time-decay rate per day; a match ``t`` days before the last training match has weight
        ``exp(-xi * t)``. 0 weighs all matches equally; 0.0018 halves a weight in ~385 days.
    max_goals : largest goal count per side in predicted grids (grid is ``max_goals + 1`` square).
    warm_start : when refitting an already fitted model, start the optimiser from the previous
        parameters (new teams start at the unknown-team values) instead of from zero.
    l2 : precision of a Normal(0, 1/l2) prior on each attack and defence value, relative to the
        effective number of training matches. Without it a team with one or two matches in the
        window (a promoted club in August) gets extreme ratings; 0 is plain maximum likelihood.

    Learned state
    -------------
    teams_ : sorted team names; ``attack_``, ``defence_`` (log-rate scale, each summing to
    zero) are aligned with it. ``intercept_``, ``home_advantage_``, ``rho_``, ``n_matches_``,
    ``n_iter_``. ``unknown_attack_``/``unknown_defence_``: used for any team not in
    ``teams_`` (promoted clubs), the mean attack and mean defence of the ``N_WEAKEST`` = 3 teams
    with the lowest ``attack - defence`` in the training data.
    """

    def __init__(
        self, xi: float = 0.0018, max_goals: int = 10, warm_start: bool = False, l2: float = 5.0
    ) -> None:
        self.xi = xi
        self.max_goals = max_goals
        self.warm_start = warm_start
        self.l2 = l2

    def fit(self, matches: pd.DataFrame) -> Self:
        """Fit to played ``matches`` (canonical match table, any order) by weighted maximum
        likelihood (L-BFGS-B, analytic gradient)."""
        if self.xi < 0:
            raise ValueError(f"xi must be >= 0, got {self.xi}")
        if len(matches) == 0:
            raise ValueError("fit needs at least one played match")
        x, y = played_scores(matches)
        home_names = matches["home_team"].astype(str).to_numpy()
        away_names = matches["away_team"].astype(str).to_numpy()
        teams = np.unique(np.concatenate([home_names, away_names]))
        index = pd.Index(teams)
        weight = match_weights(matches["date"], self.xi)
        design = _Design(
            home=index.get_indexer(home_names),
            away=index.get_indexer(away_names),
            x=x.astype(np.float64),
            y=y.astype(np.float64),
            weight=weight / weight.sum(),
            at_home=(~neutral_venue(matches)).astype(np.float64),
            n_teams=len(teams),
            l2=self.l2 * (weight @ weight) / weight.sum() ** 2,  # 1 / effective sample size
            s00=np.flatnonzero((x == 0) & (y == 0)),
            s01=np.flatnonzero((x == 0) & (y == 1)),
            s10=np.flatnonzero((x == 1) & (y == 0)),
            s11=np.flatnonzero((x == 1) & (y == 1)),
        )
        n = len(teams)
        bounds = [(None, None)] * (2 * n + 2) + [(-1.0, 1.0)]
        result = minimize(
            _negative_log_likelihood,
            self._start(teams, design),
            args=(design,),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-7},
        )
        if not result.success:
            warnings.warn(f"DixonColes did not converge: {result.message}", ConvergenceWarning, stacklevel=2)

        p = result.x
        self.teams_ = teams
        self.attack_ = p[:n] - p[:n].mean()
        self.defence_ = p[n : 2 * n] - p[n : 2 * n].mean()
        self.intercept_, self.home_advantage_, self.rho_ = (float(v) for v in p[2 * n :])
        weakest = np.argsort(self.attack_ - self.defence_, kind="stable")[:N_WEAKEST]
        self.unknown_attack_ = float(self.attack_[weakest].mean())
        self.unknown_defence_ = float(self.defence_[weakest].mean())
        self.n_matches_ = len(matches)
        self.n_iter_ = int(result.nit)
        return self

    def _start(self, teams: np.ndarray, d: _Design) -> np.ndarray:
        if self.warm_start and hasattr(self, "attack_"):
            previous = pd.Index(self.teams_).get_indexer(teams)
            known = previous >= 0
            attack = np.where(known, self.attack_[previous], self.unknown_attack_)
            defence = np.where(known, self.defence_[previous], self.unknown_defence_)
            tail = [self.intercept_, self.home_advantage_, self.rho_]
            return np.concatenate([attack, defence, tail])
        home_goals, away_goals = d.weight @ d.x, d.weight @ d.y
        intercept = np.log(max(away_goals, 0.1))
        home = np.log(max(home_goals, 0.1) / max(away_goals, 0.1))
        return np.concatenate([np.zeros(2 * d.n_teams), [intercept, home, 0.0]])

    def predict_scores(self, fixtures: pd.DataFrame) -> ScoreGrid:
        """Score grids for ``fixtures`` (``home_team``, ``away_team``, optional ``neutral``), one
        per row in order; home advantage is dropped where ``neutral`` is True."""
        lam, mu = self._rates(fixtures)
        return dixon_coles_grid(lam, mu, self.rho_, self.max_goals)

    def _rates(self, fixtures: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Poisson rates (expected goals before the tau correction) for home and away sides."""
        check_is_fitted(self, "attack_")
        attack = np.append(self.attack_, self.unknown_attack_)
        defence = np.append(self.defence_, self.unknown_defence_)
        index = pd.Index(self.teams_)
        unknown = len(self.teams_)
        h = index.get_indexer(fixtures["home_team"].astype(str).to_numpy())
        a = index.get_indexer(fixtures["away_team"].astype(str).to_numpy())
        h[h < 0], a[a < 0] = unknown, unknown
        home = self.home_advantage_ * ~neutral_venue(fixtures)
        lam = np.exp(self.intercept_ + home + attack[h] + defence[a])
        mu = np.exp(self.intercept_ + attack[a] + defence[h])
        return lam, mu


@dataclass(frozen=True)
class DecayTuning:
    """Result of :func:`tune_decay`: mean held-out outcome log-likelihood per candidate xi."""

    xis: tuple[float, ...]
    log_likelihood: tuple[float, ...]  # mean log P(observed H/D/A) per held-out match
    n_holdout: int

    @property
    def best_xi(self) -> float:
        return self.xis[int(np.argmax(self.log_likelihood))]


def tune_decay(
    matches: pd.DataFrame,
    xis: tuple[float, ...] = (0.0, 0.0009, 0.0018, 0.0036, 0.0065),
    *,
    holdout: float = 0.2,
    n_blocks: int = 4,
    max_goals: int = 10,
) -> DecayTuning:
    """Choose ``xi`` by out-of-sample log-likelihood of results on the latest part of ``matches``.

    As in Dixon & Coles (1997, section 4.5) the score is the log-probability of the observed
    outcome (home/draw/away). The last ``holdout`` fraction of match dates is cut into
    ``n_blocks`` consecutive blocks; each block is predicted by a model fitted on every match
    dated before the block (walk-forward, warm-started). Only the rows given are used, so pass
    only matches from before the period the chosen ``xi`` will forecast.
    """
    matches = matches.sort_values("date", kind="stable")
    dates = pd.to_datetime(matches["date"])
    unique = np.sort(dates.unique())
    n_held = max(round(len(unique) * holdout), n_blocks)
    if n_held >= len(unique):
        raise ValueError("holdout leaves no dates to train on")
    blocks = np.array_split(unique[-n_held:], n_blocks)
    x, y = played_scores(matches)
    outcome = (np.sign(y - x) + 1).astype(int)  # 0 home win, 1 draw, 2 away win

    scores = []
    for xi in xis:
        model = DixonColes(xi=xi, max_goals=max_goals, warm_start=True)
        total, count = 0.0, 0
        for block in blocks:
            train = (dates < block[0]).to_numpy()
            test = dates.isin(block).to_numpy()
            proba = model.fit(matches[train]).predict_proba(matches[test])
            total += np.log(proba[np.arange(test.sum()), outcome[test]]).sum()
            count += int(test.sum())
        scores.append(float(total / count))
    return DecayTuning(tuple(float(v) for v in xis), tuple(scores), count)
