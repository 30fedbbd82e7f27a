"""The learned stack: walk-forward out-of-fold rows only, skill, NaN members, two-way sports."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from scoreline.evaluation import metrics
from scoreline.models.base import OUTCOMES_2WAY, OUTCOMES_3WAY, MatchModel, clone, outcome_index
from scoreline.models.baselines import BaseRates
from scoreline.models.gbdt import GradientBoostingModel
from scoreline.models.ratings import RatingModel
from scoreline.models.stack import StackedModel, time_blocks

SCALE = 10_000.0


def featured_league(n: int = 2000, seed: int = 11) -> pd.DataFrame:
    """H/D/A from an ordered logit in ``elo_gap``; eight matches a day."""
    rng = np.random.default_rng(seed)
    gap = rng.normal(0, 1, n)
    u = rng.random(n)
    outcome = np.where(u < expit(-0.8 - 1.5 * gap), 2, np.where(u < expit(0.3 - 1.5 * gap), 1, 0))
    return pd.DataFrame(
        {
            "match_id": np.arange(n),
            "date": pd.Timestamp("2015-08-01") + pd.to_timedelta(np.arange(n) // 8, "D"),
            "home_team": "H",
            "away_team": "A",
            "home_score": np.where(outcome == 0, 2, np.where(outcome == 1, 1, 0)),
            "away_score": np.where(outcome == 2, 2, np.where(outcome == 1, 1, 0)),
            "elo_gap": gap,
            "form_home_points_5": rng.normal(size=n),
        }
    )


class SpyModel(MatchModel):
    """Records what it was fitted on; its home probability encodes its training-row count."""

    outcomes = OUTCOMES_3WAY
    log: ClassVar[list[tuple[pd.Timestamp, pd.Timestamp]]] = []

    def fit(self, matches: pd.DataFrame) -> Self:
        self.last_date_ = matches["date"].max()
        self.n_ = len(matches)
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        SpyModel.log.append((self.last_date_, fixtures["date"].min()))
        p = np.full((len(fixtures), 3), np.nan)
        p[:, 0] = self.n_ / SCALE
        p[:, 1] = p[:, 2] = (1 - p[:, 0]) / 2
        return p


class PartialMarket(MatchModel):
    """A market-like member: NaN before ``priced_from`` (no prices), the true model after."""

    outcomes = OUTCOMES_3WAY

    def __init__(self, priced_from: str = "2016-03-01"):
        self.priced_from = priced_from

    def fit(self, matches: pd.DataFrame) -> Self:
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        gap = fixtures["elo_gap"].to_numpy()
        p_away, p_not_home = expit(-0.8 - 1.5 * gap), expit(0.3 - 1.5 * gap)
        p = np.column_stack([1 - p_not_home, p_not_home - p_away, p_away])
        p[(fixtures["date"] < pd.Timestamp(self.priced_from)).to_numpy()] = np.nan
        return p


def rps(probs: np.ndarray, test: pd.DataFrame, outcomes=OUTCOMES_3WAY) -> float:
    y = outcome_index(test, two_way=outcomes == ("home", "away"))
    keep = y >= 0
    return float(metrics.rps(probs[keep], y[keep]).mean())


def test_time_blocks_cut_at_date_boundaries():
    dates = np.repeat(pd.date_range("2020-01-01", periods=25).to_numpy(), 4)  # 100 rows
    starts = time_blocks(dates, 3)
    assert starts[0] == 0 and len(starts) == 3
    for s in starts[1:]:
        assert dates[s - 1] < dates[s]  # nothing before a block shares its first date


def test_out_of_fold_rows_come_from_members_fitted_before_their_block():
    matches = featured_league(1000).sample(frac=1.0, random_state=3)  # any row order
    SpyModel.log.clear()
    stack = StackedModel((SpyModel(), BaseRates(history_days=10_000)), n_folds=5, min_meta_rows=50).fit(
        matches
    )
    starts = stack.block_starts_
    assert len(starts) == 5
    oof_log = SpyModel.log[:4]  # one prediction per out-of-fold block, then none until predict
    assert len(SpyModel.log) == 4
    for k, (last_train, first_predicted) in enumerate(oof_log, start=1):
        assert last_train < starts[k] <= first_predicted
    dates = matches["date"].to_numpy()
    for k in range(1, 5):
        rows = stack.oof_block_ == k
        assert (stack.oof_dates_[rows] >= starts[k]).all()
        if k + 1 < 5:
            assert (stack.oof_dates_[rows] < starts[k + 1]).all()
        # the probabilities the meta-learner saw for block k encode the spy's training size:
        # exactly the rows dated before the block
        np.testing.assert_allclose(stack.oof_probabilities_[rows, 0, 0], (dates < starts[k]).sum() / SCALE)
    # prediction uses members refitted on everything
    assert stack.members_[0].n_ == len(matches)
    SpyModel.log.clear()


@pytest.mark.parametrize("meta", ["pooled", "logistic", "lightgbm"])
def test_stack_beats_base_rates_and_sums_to_one(meta):
    matches = featured_league()
    train, test = matches.iloc[:1500], matches.iloc[1500:]
    members = (
        RatingModel("elo_gap", transform=None, history_days=10_000),
        GradientBoostingModel("lightgbm"),
        BaseRates(history_days=10_000),
    )
    stack = StackedModel(members, meta=meta, n_folds=4).fit(train)
    probs = stack.predict_proba(test)
    assert probs.shape == (len(test), 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    base = BaseRates(history_days=10_000).fit(train).predict_proba(test)
    assert rps(probs, test) < rps(base, test) - 0.02
    assert stack.active_.all() and stack.meta_ is not None


def test_nan_member_is_left_out_until_it_has_enough_rows_and_falls_back_per_row():
    matches = featured_league()
    train, test = matches.iloc[:1500], matches.iloc[1500:]
    rating = RatingModel("elo_gap", transform=None, history_days=10_000)
    # priced only from the last out-of-fold block on: too few complete rows -> inactive
    late = StackedModel((rating, PartialMarket("2016-01-10")), n_folds=4, min_meta_rows=400).fit(train)
    assert late.active_.tolist() == [True, False]
    assert np.isfinite(late.predict_proba(test)).all()
    # priced early enough: active, and the meta-learner is fitted on complete rows only
    stack = StackedModel((rating, PartialMarket("2015-10-01")), n_folds=4).fit(train)
    assert stack.active_.all()
    early = test.assign(date=pd.Timestamp("2015-09-01"))  # market NaN on these fixtures
    members = stack.member_probabilities(early)
    fallback = stack.predict_proba(early)
    np.testing.assert_allclose(fallback, members[:, 0])  # mean of the finite members
    probs = stack.predict_proba(test)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_calibrated_stack_has_a_bounded_temperature():
    matches = featured_league()
    members = (RatingModel("elo_gap", transform=None, history_days=10_000), BaseRates(history_days=10_000))
    stack = StackedModel(members, n_folds=5, calibrate=True, min_meta_rows=100).fit(matches.iloc[:1500])
    assert 0.5 <= stack.temperature_ <= 2.0
    np.testing.assert_allclose(stack.predict_proba(matches.iloc[1500:]).sum(axis=1), 1.0)


def test_two_way_stack():
    matches = featured_league()
    matches = matches[matches.home_score != matches.away_score]
    train, test = matches.iloc[:1100], matches.iloc[1100:]
    members = (
        RatingModel("elo_gap", transform=None, two_way=True, history_days=10_000),
        GradientBoostingModel("xgboost", two_way=True),
        BaseRates(two_way=True),
    )
    stack = StackedModel(members, n_folds=4).fit(train)
    assert stack.outcomes == OUTCOMES_2WAY
    probs = stack.predict_proba(test)
    assert probs.shape == (len(test), 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    base = BaseRates(two_way=True).fit(train).predict_proba(test)
    assert rps(probs, test, OUTCOMES_2WAY) < rps(base, test, OUTCOMES_2WAY) - 0.02


def test_members_must_agree_on_outcomes():
    with pytest.raises(ValueError, match="outcome order"):
        StackedModel((BaseRates(), BaseRates(two_way=True))).fit(featured_league(200))


def test_log_linear_pool_weights_the_informative_member():
    from scoreline.models.stack import LogLinearPool

    matches = featured_league(3000)
    truth = PartialMarket("2000-01-01").predict_proba(matches)
    flat = np.full_like(truth, 1 / 3)
    y = outcome_index(matches, two_way=False)
    z = np.log(np.stack([truth, flat], axis=1)).reshape(len(y), -1)
    pool = LogLinearPool(n_members=2, n_outcomes=3).fit(z, y)
    weight_truth, _ = pool.params_[:2]
    assert weight_truth == pytest.approx(1.0, abs=0.15)  # the true model, unscaled
    np.testing.assert_allclose(pool.predict_proba(z).sum(axis=1), 1.0)


class NoiseModel(MatchModel):
    """Random probabilities: a member that knows nothing, drawn afresh on every call."""

    outcomes = OUTCOMES_3WAY

    def fit(self, matches: pd.DataFrame) -> Self:
        self.rng_ = np.random.default_rng(len(matches))
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        p = self.rng_.dirichlet([1.0, 1.0, 1.0], len(fixtures))
        return p


def _elo_stack(**kwargs) -> StackedModel:
    return StackedModel(
        (RatingModel("elo_gap", transform=None), NoiseModel(), BaseRates()), n_folds=6, **kwargs
    )


def test_the_guards_held_out_meta_never_sees_its_blocks_outcomes():
    league = featured_league(3000)
    model = _elo_stack().fit(league)
    probs = model.oof_probabilities_[:, model.active_]
    z = np.log(np.clip(probs, 1e-6, 1)).reshape(len(probs), -1)
    y, blocks = model.oof_outcome_, model.oof_block_
    held, before = model.held_out_meta(z, y, blocks)
    last = blocks == blocks.max()
    flipped = y.copy()
    flipped[last] = (flipped[last] + 1) % 3  # another result for every match of the last block
    _, after = model.held_out_meta(z, flipped, blocks)
    np.testing.assert_array_equal(before[last[held]], after[last[held]])
    # an earlier block's outcomes do reach the later blocks' meta-learners
    earlier = blocks == np.unique(blocks)[1]
    flipped[earlier] = (flipped[earlier] + 1) % 3
    _, changed = model.held_out_meta(z, flipped, blocks)
    assert not np.allclose(before[last[held]], changed[last[held]])


def test_the_guarded_stack_is_no_worse_than_its_best_member_out_of_fold():
    league = featured_league(3000)
    model = _elo_stack().fit(league)
    rps = model.guard_rps_
    assert model.best_member_ == 0 and rps["rows"] > 0  # Elo: the only member that knows
    assert rps["chosen"] <= min(rps["members"])  # a mix only where it clearly beats the member
    # the mix is what predict_proba returns
    fixtures = featured_league(400, seed=5)
    unguarded = _elo_stack(guard=False).fit(league)
    assert unguarded.shrinkage_ == 0.0 and unguarded.guard_rps_ == {}
    if model.shrinkage_ == 1.0:
        np.testing.assert_allclose(
            model.predict_proba(fixtures), model.members_[0].predict_proba(fixtures), atol=1e-9
        )
    else:
        assert not np.allclose(model.predict_proba(fixtures), unguarded.predict_proba(fixtures))


def _market_stack(**kwargs) -> StackedModel:
    members = (RatingModel("elo_gap", transform=None), NoiseModel(), PartialMarket("2015-08-01"))
    return StackedModel(members, meta="simplex", n_folds=5, min_meta_rows=150, **kwargs)


def test_walk_forward_stack_forecasts_never_depend_on_later_outcomes():
    """Another result for every match from a date on leaves every earlier forecast unchanged:
    neither the members, the meta-learner nor the guard saw a fold's own outcomes."""
    from scoreline.evaluation.backtest import WalkForward, walk_forward

    league = featured_league(2400).assign(competition="E0")
    league["season"] = league["date"].dt.year - (league["date"].dt.month < 7)
    config = WalkForward(from_season=2015, window="month", refit_every=2, warmup_days=120)
    before = walk_forward(league, {"stack": _market_stack()}, config, OUTCOMES_3WAY)
    cut = league["date"].iloc[1800]
    flipped = league.copy()
    later = flipped["date"] >= cut
    scores = ["home_score", "away_score"]
    flipped.loc[later, scores] = flipped.loc[later, scores[::-1]].to_numpy()
    after = walk_forward(flipped, {"stack": _market_stack()}, config, OUTCOMES_3WAY)
    # windows starting before the cut were fitted on matches before it only
    past = (before.predictions["window"] < cut).to_numpy()
    windows_before_cut = before.predictions.loc[past, "window"].max()
    fitted_before = (before.predictions["window"] <= windows_before_cut).to_numpy() & past
    assert fitted_before.sum() > 500
    np.testing.assert_array_equal(
        before.probabilities("stack")[fitted_before], after.probabilities("stack")[fitted_before]
    )
    # ... and the flipped outcomes do reach the forecasts fitted after the cut
    assert not np.allclose(before.probabilities("stack")[~past], after.probabilities("stack")[~past])


def test_simplex_pool_weights_are_a_convex_combination_led_by_the_informative_member():
    from scoreline.models.stack import LogLinearPool

    matches = featured_league(3000)
    truth = PartialMarket("2000-01-01").predict_proba(matches)
    sharp = np.exp(np.log(truth) * 1.6)  # over-confident: a free pool would scale it down
    sharp /= sharp.sum(axis=1, keepdims=True)
    noise = np.random.default_rng(0).dirichlet([3.0, 3.0, 3.0], len(truth))
    y = outcome_index(matches, two_way=False)
    z = np.log(np.stack([sharp, noise, truth], axis=1)).reshape(len(y), -1)
    pool = LogLinearPool(n_members=3, n_outcomes=3, simplex=True).fit(z, y)
    assert (pool.weights_ >= 0).all() and pool.weights_.sum() == pytest.approx(1.0)
    assert pool.weights_[2] == max(pool.weights_) and pool.weights_[2] > 0.7
    free = LogLinearPool(n_members=3, n_outcomes=3).fit(z, y)
    assert free.weights_.sum() != pytest.approx(1.0, abs=0.02)


def test_the_stack_with_a_sharp_market_member_is_never_worse_out_of_fold():
    league = featured_league(3000)
    stack = _market_stack().fit(league)
    guard = stack.guard_rps_
    assert stack.best_member_ == 2  # the market knows the true model
    assert guard["chosen"] <= min(guard["members"])


def test_out_of_fold_probabilities_never_depend_on_their_blocks_outcomes():
    league = featured_league(2000)
    rating = RatingModel("elo_gap", transform=None, history_days=10_000)
    stack = StackedModel((rating, BaseRates(history_days=10_000)), n_folds=5, min_meta_rows=100)
    before = clone(stack).fit(league)
    second = before.block_starts_[2]
    flipped = league.copy()
    block = (flipped["date"] >= second) & (flipped["date"] < before.block_starts_[3])
    scores = ["home_score", "away_score"]
    flipped.loc[block, scores] = flipped.loc[block, scores[::-1]].to_numpy()
    after = clone(stack).fit(flipped)
    upto = before.oof_block_ <= 2  # blocks 1 and 2 were predicted by members fitted before them
    np.testing.assert_array_equal(before.oof_probabilities_[upto], after.oof_probabilities_[upto])
    assert not np.allclose(before.oof_probabilities_[~upto], after.oof_probabilities_[~upto])


class BlurredTruth(MatchModel):
    """The true probabilities blurred towards 1/3: a member a hair or a lot worse than the truth."""

    outcomes = OUTCOMES_3WAY

    def __init__(self, blur: float = 0.03):
        self.blur = blur

    def fit(self, matches: pd.DataFrame) -> Self:
        return self

    def predict_proba(self, fixtures: pd.DataFrame) -> np.ndarray:
        truth = PartialMarket("2000-01-01").predict_proba(fixtures)
        return (1 - self.blur) * truth + self.blur / 3


def _anchored(blur: float, anchor: int | None) -> StackedModel:
    members = (NoiseModel(), RatingModel("elo_gap", transform=None), BlurredTruth(blur))
    return StackedModel(members, meta="simplex", n_folds=5, min_meta_rows=150, anchor=anchor)


def test_an_anchored_guard_leaves_the_anchor_only_on_clear_evidence():
    league = featured_league(3000)
    # Elo edges the slightly blurred anchor out of fold, within the noise: the anchor stays
    anchored, free = _anchored(0.03, -1).fit(league), _anchored(0.03, None).fit(league)
    rps = anchored.guard_rps_["members"]
    assert rps[1] < rps[2] and (anchored.best_member_, anchored.shrinkage_) == (2, 1.0)
    assert free.best_member_ == 1  # without an anchor the lowest held-out RPS wins, untested
    # a clearly worse anchor is left for the member that clearly beats it
    worse = _anchored(0.3, -1).fit(league)
    assert worse.best_member_ == 1 and worse.guard_rps_["chosen"] < worse.guard_rps_["members"][2]
