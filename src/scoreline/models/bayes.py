"""Hierarchical Bayesian Poisson goal model in PyMC, fitted by NUTS or ADVI.

Goals in match ``i`` (home team ``h``, away team ``a``) are independent Poisson with log-rates

    log lambda_i = intercept + home_advantage * [not neutral] + attack[h] + defence[a]
    log mu_i     = intercept + attack[a] + defence[h]

the parameterisation of :mod:`scoreline.models.dixon_coles` without ``rho``: ``defence`` is a
team's goals-*conceded* tendency (lower is better). Team values are partially pooled,

    attack_t ~ Normal(0, sigma_attack),  defence_t ~ Normal(0, sigma_defence),
    sigma_* ~ HalfNormal(prior_scale),  intercept ~ Normal(0, 1),  home ~ Normal(0, 0.5),

sampled non-centred (``z * sigma``, which keeps NUTS out of the hierarchical funnel) and centred
to sum to zero over the teams that play in a season. With ``time_varying=True`` each team's
attack and defence follow a Gaussian random walk across seasons (``season`` column, a step per
season year, step sd ~ HalfNormal(walk_scale)). With ``xi > 0`` each match's log-likelihood is
weighted by ``exp(-xi * days)`` (``days`` before the latest training match) through a
``pm.Potential``: a power likelihood, so old matches count as fractions of a match and the
posterior widens accordingly (weights are not renormalised).

Predictions are posterior predictive: the Poisson score grid is averaged over up to
``STORED_DRAWS`` posterior draws, so parameter uncertainty flattens the grid. A team absent from
the training rows (a promoted club) gets, in every draw, attack and defence drawn from that
draw's fitted population ``Normal(0, sigma)``: an average team with the population's spread of
uncertainty (unlike :class:`~scoreline.models.dixon_coles.DixonColes`, which assumes a promoted
club resembles the weakest teams). The draws are seeded by the team's name, so a given unknown
team is the same in every call. A time-varying model forecasts from the latest training season;
fixtures whose ``season`` lies ``k`` seasons later get ``k`` random-walk steps added per draw.

PyMC and ArviZ are imported inside :meth:`BayesianGoalModel.fit` only; a fitted model keeps
numpy arrays of draws (``posterior_``), so it pickles small and predicts without PyMC. PyTensor's
compile cache is pointed at ``<workspace>/.cache/pytensor`` when this module is imported before
PyTensor is.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.special import gammaln
from sklearn.utils.validation import check_is_fitted

from scoreline.config import find_workspace
from scoreline.models.base import GoalModel, neutral_venue, played_scores
from scoreline.models.scores import ScoreGrid

__all__ = ["STORED_DRAWS", "BayesianGoalModel", "ConvergenceError", "Inference", "pytensor_compiledir"]

#: posterior draws kept after a fit (thinned evenly) and averaged over in predictions
STORED_DRAWS = 500
#: scalar parameters whose draws are kept, beside the per-team ``attack`` and ``defence``
_SCALARS = ("intercept", "home_advantage", "sigma_attack", "sigma_defence")
_WALKS = ("walk_attack", "walk_defence")
#: the share of ADVI iterations whose mean loss is compared, first half against second half
_ADVI_TAIL = 0.1
#: the ADVI learning rate decays geometrically over the second half to this share of its start
_ADVI_FINAL_RATE = 0.05


def pytensor_compiledir() -> str:
    """The PyTensor compile cache this module requests: ``<workspace>/.cache/pytensor``."""
    return str(find_workspace() / ".cache" / "pytensor")


# PyTensor reads its flags once, at first import; set the cache before anything imports it so
# compiled C modules land in the workspace rather than in the user's home directory.
if "pytensor" not in sys.modules:
    _flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "compiledir" not in _flags:
        os.environ["PYTENSOR_FLAGS"] = ",".join(
            f for f in (_flags, f"base_compiledir={pytensor_compiledir()}") if f
        )


class Inference(StrEnum):
    """How the posterior is approximated."""

    #: mean-field variational inference: seconds per fit, for walk-forward refits
    ADVI = "advi"
    #: the No-U-Turn sampler: exact up to Monte Carlo error, for final fits
    NUTS = "nuts"


class ConvergenceError(RuntimeError):
    """The fit did not converge; the model keeps whatever state it had before the call.

    ``diagnostics`` holds the numbers that failed the check (same keys as ``diagnostics_``).
    """

    def __init__(self, message: str, diagnostics: dict[str, Any]) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class _Design:
    """Training matches as arrays, indexed into ``teams`` and ``seasons``."""

    home: np.ndarray  # team index of the home side
    away: np.ndarray
    season: np.ndarray  # season index (all 0 for a static model)
    x: np.ndarray  # home goals
    y: np.ndarray  # away goals
    at_home: np.ndarray  # 1.0 where home advantage applies, 0.0 at neutral venues
    weight: np.ndarray | None  # time-decay weights, None when xi == 0
    teams: np.ndarray  # sorted team names
    seasons: np.ndarray  # season start years, consecutive (a single 0 for a static model)
    centring: np.ndarray  # (seasons, teams): weights of each season's mean over its teams


class BayesianGoalModel(GoalModel):
    """Hierarchical Poisson goal model: partially pooled attack/defence, home advantage.

    Parameters
    ----------
    method : ``"advi"`` (:attr:`Inference.ADVI`) or ``"nuts"`` (:attr:`Inference.NUTS`).
    time_varying : attack and defence follow a Gaussian random walk across seasons (needs a
        ``season`` column); otherwise one value per team for the whole window.
    xi : time-decay rate per day of the likelihood weights ``exp(-xi * days)``; 0 = no decay.
    draws : NUTS draws per chain, or draws taken from the ADVI approximation.
    tune : NUTS tuning steps per chain.
    chains, cores : NUTS chains and the processes running them.
    target_accept : NUTS target acceptance rate (higher = smaller steps, fewer divergences).
    advi_iterations : ADVI optimisation steps.
    advi_learning_rate : Adam learning rate of ADVI for the first half of the iterations; it then
        decays geometrically to 5% of this value.
    advi_tol : largest accepted relative change of the mean ADVI loss (negative ELBO) between
        the two halves of the last 10% of iterations.
    rhat_max, ess_min : NUTS is accepted only with max R-hat <= ``rhat_max``, min bulk ESS >=
        ``ess_min`` and no divergent transitions.
    prior_scale : scale of the HalfNormal hyperpriors on the team spreads (log-rate units).
    walk_scale : scale of the HalfNormal priors on the per-season random-walk step sd.
    warm_start : on refit, start ADVI / NUTS from the previous posterior means (known teams;
        new teams start at the population mean).
    max_goals : largest goal count per side in predicted grids.
    random_seed : seed of the sampler, of ADVI and of the unknown-team draws.

    Learned state
    -------------
    ``teams_`` (sorted names); ``attack_``, ``defence_`` posterior means aligned with it (of the
    latest season when time-varying); ``intercept_``, ``home_advantage_``, ``sigma_attack_``,
    ``sigma_defence_`` posterior means; ``posterior_``: dict of numpy draws, ``"attack"`` and
    ``"defence"`` of shape ``(draws, teams)`` (latest season), scalars of shape ``(draws,)``;
    time-varying fits add ``seasons_``, ``attack_by_season_``/``defence_by_season_`` (posterior
    means, ``(seasons, teams)``) and ``walk_attack``/``walk_defence`` draws. ``diagnostics_``:
    NUTS ``rhat_max``, ``ess_bulk_min``, ``divergences``; ADVI ``loss_relative_change``,
    ``final_loss`` and ``loss_trend`` (mean loss in 20 consecutive blocks of iterations).
    ``fit_seconds_`` (model build, compilation and inference), ``n_matches_``.
    """

    def __init__(
        self,
        method: str = "advi",
        time_varying: bool = False,
        xi: float = 0.0,
        draws: int = 500,
        tune: int = 500,
        chains: int = 2,
        cores: int = 1,
        target_accept: float = 0.9,
        advi_iterations: int = 8_000,
        advi_learning_rate: float = 0.02,
        advi_tol: float = 0.002,
        rhat_max: float = 1.01,
        ess_min: float = 400.0,
        prior_scale: float = 0.5,
        walk_scale: float = 0.1,
        warm_start: bool = False,
        max_goals: int = 10,
        random_seed: int | None = 0,
    ) -> None:
        self.method = method
        self.time_varying = time_varying
        self.xi = xi
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.cores = cores
        self.target_accept = target_accept
        self.advi_iterations = advi_iterations
        self.advi_learning_rate = advi_learning_rate
        self.advi_tol = advi_tol
        self.rhat_max = rhat_max
        self.ess_min = ess_min
        self.prior_scale = prior_scale
        self.walk_scale = walk_scale
        self.warm_start = warm_start
        self.max_goals = max_goals
        self.random_seed = random_seed

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, matches: pd.DataFrame) -> Self:
        """Approximate the posterior given played ``matches`` (canonical match table, any order).

        Raises :class:`ConvergenceError` (and keeps the previous state) when the NUTS or ADVI
        diagnostics fail their thresholds.
        """
        method = Inference(self.method)
        if self.xi < 0:
            raise ValueError(f"xi must be >= 0, got {self.xi}")
        if len(matches) == 0:
            raise ValueError("fit needs at least one played match")
        started = time.perf_counter()
        design = self._design(matches)
        model = self._model(design)
        start, spread = self._initial_values(design)
        if method is Inference.NUTS:
            draws, diagnostics = self._sample_nuts(model, start)
        else:
            draws, diagnostics = self._fit_advi(model, start, spread)

        self.teams_ = design.teams
        self.posterior_ = {
            "attack": draws["attack"][:, -1],
            "defence": draws["defence"][:, -1],
            **{name: draws[name] for name in (*_SCALARS, *_WALKS) if name in draws},
        }
        self.attack_ = self.posterior_["attack"].mean(axis=0)
        self.defence_ = self.posterior_["defence"].mean(axis=0)
        self.intercept_, self.home_advantage_, self.sigma_attack_, self.sigma_defence_ = (
            float(self.posterior_[name].mean()) for name in _SCALARS
        )
        if self.time_varying:
            self.seasons_ = design.seasons
            self.attack_by_season_ = draws["attack"].mean(axis=0)
            self.defence_by_season_ = draws["defence"].mean(axis=0)
        else:
            for name in ("seasons_", "attack_by_season_", "defence_by_season_"):
                self.__dict__.pop(name, None)  # a refit may switch time_varying off
        self.diagnostics_ = diagnostics
        self.n_matches_ = len(matches)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _design(self, matches: pd.DataFrame) -> _Design:
        x, y = played_scores(matches)
        home_names = matches["home_team"].astype(str).to_numpy()
        away_names = matches["away_team"].astype(str).to_numpy()
        teams = np.unique(np.concatenate([home_names, away_names]))
        index = pd.Index(teams)
        home, away = index.get_indexer(home_names), index.get_indexer(away_names)
        if self.time_varying:
            if "season" not in matches or matches["season"].isna().any():
                raise ValueError("time_varying=True needs a season on every match")
            year = matches["season"].to_numpy(dtype=np.int64)
            seasons = np.arange(year.min(), year.max() + 1)
            season = year - year.min()
        else:
            seasons, season = np.zeros(1, dtype=np.int64), np.zeros(len(matches), dtype=np.int64)
        present = np.zeros((len(seasons), len(teams)))
        present[season, home] = present[season, away] = 1.0
        present[present.sum(axis=1) == 0] = 1.0  # a season without matches: centre over all
        weight = None
        if self.xi > 0:
            when = pd.to_datetime(matches["date"]).to_numpy(dtype="datetime64[ns]")
            weight = np.exp(-self.xi * (when.max() - when) / np.timedelta64(1, "D"))
        return _Design(
            home=home,
            away=away,
            season=season,
            x=x,
            y=y,
            at_home=(~neutral_venue(matches)).astype(np.float64),
            weight=weight,
            teams=teams,
            seasons=seasons,
            centring=present / present.sum(axis=1, keepdims=True),
        )

    def _model(self, d: _Design):
        import pymc as pm
        import pytensor.tensor as pt

        coords = {"season": d.seasons, "team": d.teams}
        with pm.Model(coords=coords) as model:
            intercept = pm.Normal("intercept", 0.0, 1.0)
            home = pm.Normal("home_advantage", 0.0, 0.5)
            strengths = []
            for name in ("attack", "defence"):
                sigma = pm.HalfNormal(f"sigma_{name}", self.prior_scale)
                if self.time_varying:
                    walk = pm.HalfNormal(f"walk_{name}", self.walk_scale)
                    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=("season", "team"))
                    raw = pt.cumsum(pt.concatenate([sigma * z[:1], walk * z[1:]]), axis=0)
                else:
                    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims="team")
                    raw = (sigma * z)[None, :]
                # sum-to-zero by centring over each season's teams: only differences between
                # teams are identified, the common level is the intercept's
                centred = raw - (raw * d.centring).sum(axis=1, keepdims=True)
                strengths.append(pm.Deterministic(name, centred, dims=("season", "team")))
            # flat integer indexing compiles to C (AdvancedSubtensor1); 2-D fancy indexing
            # falls back to Python and dominates the gradient's cost
            attack, defence = (s.flatten() for s in strengths)
            home_cell = d.season * len(d.teams) + d.home
            away_cell = d.season * len(d.teams) + d.away
            eta_home = intercept + home * d.at_home + attack[home_cell] + defence[away_cell]
            eta_away = intercept + attack[away_cell] + defence[home_cell]
            if d.weight is None:
                pm.Poisson("home_goals", mu=pt.exp(eta_home), observed=d.x)
                pm.Poisson("away_goals", mu=pt.exp(eta_away), observed=d.y)
            else:
                # Poisson log-likelihood without the log x! constants, which weights only shift
                log_lik = (d.x * eta_home - pt.exp(eta_home)) + (d.y * eta_away - pt.exp(eta_away))
                pm.Potential("weighted_log_likelihood", pt.sum(d.weight * log_lik))
        return model

    def _initial_values(self, d: _Design) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Warm start: the previous posterior means mapped onto the new teams and seasons (the
        free variables' starting point) and posterior sds in the unconstrained space (ADVI's
        starting spread); ``(None, None)`` for a cold start. New teams start at the population
        mean with the prior's spread."""
        if not (self.warm_start and hasattr(self, "posterior_")):
            return None, None
        post = self.posterior_
        previous = pd.Index(self.teams_).get_indexer(d.teams)
        known = previous >= 0
        old_seasons = getattr(self, "seasons_", np.zeros(1, dtype=np.int64))
        # each new season starts from the nearest earlier fitted season (the first, if earlier)
        rows = np.clip(np.searchsorted(old_seasons, d.seasons, side="right") - 1, 0, None)
        start: dict[str, Any] = {name: float(post[name].mean()) for name in _SCALARS}
        spread: dict[str, Any] = {name: float(post[name].std()) for name in _SCALARS[:2]}
        for name in (*_SCALARS[2:], *_WALKS):
            if name in post:  # positive: ADVI works on the log scale
                spread[f"{name}_log__"] = float(np.log(post[name]).std())
        for name in ("attack", "defence"):
            by_season = getattr(self, f"{name}_by_season_", getattr(self, f"{name}_")[None])
            level = np.where(known, by_season[rows][:, previous], 0.0)  # (seasons, teams)
            sigma = start[f"sigma_{name}"]
            z_sd = (post[name] / post[f"sigma_{name}"][:, None]).std(axis=0)
            z_sd = np.where(known, z_sd[previous], 1.0)
            if self.time_varying:
                walk = float(post.get(f"walk_{name}", np.array(self.walk_scale)).mean())
                start[f"walk_{name}"] = walk
                z = np.concatenate([level[:1] / sigma, np.diff(level, axis=0) / walk])
                z_sd = np.vstack([z_sd, np.ones((len(d.seasons) - 1, len(d.teams)))])
            else:
                z = level[-1] / sigma
            start[f"{name}_z"] = np.clip(z, -4.0, 4.0)
            spread[f"{name}_z"] = z_sd.ravel()  # PyMC reads start_sigma as flat slices
        return start, spread

    def _sample_nuts(self, model, start) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import arviz as az
        import pymc as pm

        with model:
            idata = pm.sample(
                draws=self.draws,
                tune=self.tune,
                chains=self.chains,
                cores=self.cores,
                target_accept=self.target_accept,
                random_seed=self.random_seed,
                initvals=start,
                progressbar=False,
                compute_convergence_checks=False,
            )
        names = self._reported(model)
        rhat = az.rhat(idata, var_names=names)
        ess = az.ess(idata, var_names=names, method="bulk")
        diagnostics: dict[str, Any] = {
            "method": Inference.NUTS.value,
            "rhat_max": float(max(np.nanmax(rhat[v].values) for v in names)),
            "ess_bulk_min": float(min(np.nanmin(ess[v].values) for v in names)),
            "divergences": int(idata.sample_stats["diverging"].values.sum()),
            "draws": self.draws * self.chains,
        }
        failures = []
        if not diagnostics["rhat_max"] <= self.rhat_max:
            failures.append(f"max R-hat {diagnostics['rhat_max']:.3f} > {self.rhat_max}")
        if not diagnostics["ess_bulk_min"] >= self.ess_min:
            failures.append(f"min bulk ESS {diagnostics['ess_bulk_min']:.0f} < {self.ess_min}")
        if diagnostics["divergences"] > 0:
            failures.append(f"{diagnostics['divergences']} divergent transitions")
        if failures:
            raise ConvergenceError(
                "NUTS did not converge (" + "; ".join(failures) + "): raise tune/draws or "
                "target_accept; the fit was refused",
                diagnostics,
            )
        return self._draws(idata, names), diagnostics

    def _fit_advi(self, model, start, spread) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        import pymc as pm
        import pytensor

        # Adam's last iterate jitters around the optimum by about the learning rate; annealing
        # it over the second half lands the variational means (and probabilities) far closer
        # to NUTS than a constant rate at the same cost
        rate = pytensor.shared(np.float64(self.advi_learning_rate))
        n = self.advi_iterations

        def anneal(_approx, _loss, i: int) -> None:
            progress = min(max(2.0 * i / n - 1.0, 0.0), 1.0)
            rate.set_value(np.float64(self.advi_learning_rate * _ADVI_FINAL_RATE**progress))

        # PyMC logs "Finished [100%]: Average Loss = ..." at INFO for every fit: quiet it here,
        # the loss history is kept in diagnostics_ instead
        log = logging.getLogger("pymc")
        level = log.level
        log.setLevel(logging.WARNING)
        try:
            with model:
                approx = pm.fit(
                    n=n,
                    method="advi",
                    start=start,
                    start_sigma=spread,
                    obj_optimizer=pm.adam(learning_rate=rate),
                    callbacks=[anneal],
                    random_seed=self.random_seed,
                    progressbar=False,
                )
                idata = approx.sample(self.draws, random_seed=self.random_seed)
        finally:
            log.setLevel(level)
        loss = np.asarray(approx.hist, dtype=np.float64)
        tail = loss[-max(int(len(loss) * _ADVI_TAIL), 2) :]
        first, second = np.array_split(tail, 2)
        change = abs(second.mean() - first.mean()) / max(abs(second.mean()), 1e-12)
        diagnostics = {
            "method": Inference.ADVI.value,
            "iterations": len(loss),
            "final_loss": float(tail.mean()),
            "loss_relative_change": float(change),
            "loss_trend": np.array([b.mean() for b in np.array_split(loss, 20)]),
            "draws": self.draws,
        }
        if not np.isfinite(loss).all() or not change <= self.advi_tol:
            raise ConvergenceError(
                f"ADVI did not converge: the mean loss moved by {change:.2%} over the last "
                f"{_ADVI_TAIL:.0%} of {len(loss)} iterations (tolerance {self.advi_tol:.2%}): "
                "raise advi_iterations or lower advi_learning_rate; the fit was refused",
                diagnostics,
            )
        return self._draws(idata, self._reported(model)), diagnostics

    @staticmethod
    def _reported(model) -> list[str]:
        """The parameters that are kept and checked (not the non-centred ``*_z``)."""
        names = [*_SCALARS, *_WALKS, "attack", "defence"]
        return [name for name in names if name in model.named_vars]

    @staticmethod
    def _draws(idata, names: list[str]) -> dict[str, np.ndarray]:
        """Draws of ``names`` with chains pooled, thinned evenly to at most ``STORED_DRAWS``."""
        out = {}
        for name in names:
            values = idata.posterior[name].values
            out[name] = values.reshape(-1, *values.shape[2:])
        total = len(out[names[0]])
        keep = np.unique(np.linspace(0, total - 1, min(total, STORED_DRAWS)).round().astype(int))
        return {name: v[keep] for name, v in out.items()}

    # -- prediction ----------------------------------------------------------------------------
    def predict_scores(self, fixtures: pd.DataFrame) -> ScoreGrid:
        """Posterior-mean score grids for ``fixtures`` (``home_team``, ``away_team``, optional
        ``neutral`` and ``season``), one per row in order: the Poisson grid averaged over the
        stored posterior draws."""
        eta_home, eta_away = self._log_rates(fixtures)
        p_home, p_away = self._pmf(eta_home), self._pmf(eta_away)  # (draws, n, G)
        # sum over draws of outer products: a batched (G, draws) @ (draws, G) per fixture
        grid = np.matmul(p_home.transpose(1, 2, 0), p_away.transpose(1, 0, 2))
        return ScoreGrid(grid / len(eta_home))

    def predict_intervals(self, fixtures: pd.DataFrame, level: float = 0.9) -> dict[str, np.ndarray]:
        """Posterior means and equal-tailed ``level`` credible intervals, per fixture row.

        Keys: ``proba_mean``, ``proba_lower``, ``proba_upper``, each ``(n, 3)`` with columns
        (home win, draw, away win), computed per posterior draw on the truncated grid;
        ``goals_mean``, ``goals_lower``, ``goals_upper``, each ``(n, 2)``: the expected goals
        (Poisson rates) of the [home, away] side.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        eta_home, eta_away = self._log_rates(fixtures)
        p_home, p_away = self._pmf(eta_home), self._pmf(eta_away)
        mass = p_home.sum(axis=2) * p_away.sum(axis=2)
        draw = (p_home * p_away).sum(axis=2) / mass
        # home wins h-a with a < h: P(home = h) * P(away <= h - 1)
        home = (p_home[..., 1:] * np.cumsum(p_away, axis=2)[..., :-1]).sum(axis=2) / mass
        proba = np.stack([home, draw, 1.0 - home - draw], axis=2)  # (draws, n, 3)
        goals = np.stack([np.exp(eta_home), np.exp(eta_away)], axis=2)
        tails = [(1 - level) / 2, (1 + level) / 2]
        out: dict[str, Any] = {}
        for name, values in (("proba", proba), ("goals", goals)):
            lower, upper = np.quantile(values, tails, axis=0)
            out |= {f"{name}_mean": values.mean(axis=0), f"{name}_lower": lower, f"{name}_upper": upper}
        return out

    def _pmf(self, eta: np.ndarray) -> np.ndarray:
        """Poisson probabilities of 0..max_goals for log-rates ``eta``; shape ``(*eta, G)``."""
        goals = np.arange(self.max_goals + 1)
        return np.exp(goals * eta[..., None] - np.exp(eta)[..., None] - gammaln(goals + 1))

    def _log_rates(self, fixtures: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Home and away log-rates per stored draw, each ``(draws, len(fixtures))``."""
        check_is_fitted(self, "posterior_")
        post = self.posterior_
        home_names = fixtures["home_team"].astype(str).to_numpy()
        away_names = fixtures["away_team"].astype(str).to_numpy()
        ahead = self._seasons_ahead(fixtures)
        # one column per distinct (team, seasons ahead): known teams at 0 ahead use the fitted
        # draws directly, anything else gets its own seeded draws on top
        keys = pd.MultiIndex.from_arrays(
            [np.concatenate([home_names, away_names]), np.concatenate([ahead, ahead])]
        ).unique()
        index = pd.Index(self.teams_)
        team = index.get_indexer(keys.get_level_values(0))
        attack = np.empty((len(post["attack"]), len(keys)))
        defence = np.empty_like(attack)
        for j, (name, k) in enumerate(keys):
            attack[:, j], defence[:, j] = self._team_draws(name, int(k), team[j])
        column = keys.get_indexer(pd.MultiIndex.from_arrays([home_names, ahead]))
        h, a = column, keys.get_indexer(pd.MultiIndex.from_arrays([away_names, ahead]))
        at_home = (~neutral_venue(fixtures)).astype(np.float64)
        intercept, home = post["intercept"][:, None], post["home_advantage"][:, None]
        eta_home = intercept + home * at_home + attack[:, h] + defence[:, a]
        eta_away = intercept + attack[:, a] + defence[:, h]
        return eta_home, eta_away

    def _team_draws(self, name: str, ahead: int, team: int) -> tuple[np.ndarray, np.ndarray]:
        """Attack and defence draws of one team, ``ahead`` seasons after the latest fitted one;
        ``team`` is its index in ``teams_`` or -1 when unknown."""
        post = self.posterior_
        if team >= 0 and ahead == 0:
            return post["attack"][:, team], post["defence"][:, team]
        seed = [zlib.crc32(name.encode()), ahead, self.random_seed or 0]
        noise = np.random.default_rng(seed).standard_normal((2, len(post["attack"])))
        if team < 0:  # a new team: one draw from the population, per posterior draw
            return post["sigma_attack"] * noise[0], post["sigma_defence"] * noise[1]
        root = np.sqrt(ahead)  # k random-walk steps
        return (
            post["attack"][:, team] + post["walk_attack"] * root * noise[0],
            post["defence"][:, team] + post["walk_defence"] * root * noise[1],
        )

    def _seasons_ahead(self, fixtures: pd.DataFrame) -> np.ndarray:
        """Per fixture, seasons after the latest fitted season (0 for a static model, a missing
        or NA ``season``, or a season not later than the latest)."""
        if not self.time_varying or "season" not in fixtures or not hasattr(self, "seasons_"):
            return np.zeros(len(fixtures), dtype=np.int64)
        season = pd.to_numeric(fixtures["season"], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        ahead = np.nan_to_num(season - self.seasons_[-1], nan=0.0)
        return np.clip(ahead, 0, None).astype(np.int64)
