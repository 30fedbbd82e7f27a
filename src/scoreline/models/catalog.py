"""The named models available per sport, and the market benchmarks they are judged against.

Names are what ``scoreline backtest --models`` accepts and what appears in every table.
"""

from __future__ import annotations

from scoreline.config import Competition, Sport
from scoreline.features.market import DevigMethod
from scoreline.models.base import MatchModel
from scoreline.models.baselines import BaseRates, MarketModel, SpreadMarket
from scoreline.models.bayes import BayesianGoalModel
from scoreline.models.blend import Blend
from scoreline.models.dixon_coles import DixonColes
from scoreline.models.gbdt import GradientBoostingModel
from scoreline.models.margin import MarginModel
from scoreline.models.ratings import RatingModel
from scoreline.models.stack import StackedModel

#: models that run only when named (``--models stack,bayes``), being slow in a weekly
#: walk-forward: an ADVI refit costs ~3 s (about 20 minutes over eleven seasons), a stack refits
#: every member five times (about 8 minutes); use ``--window month`` with them
ON_REQUEST = frozenset({"bayes", "stack", "stack_market"})
#: the sharp pre-closing price, with the market average (then Bet365) where Pinnacle is unpriced
#: (before 2012/13), so the models built on it have years of past evidence about it
SHARP_PRICE = ("pinnacle", "avg", "b365")


def models(comp: Competition) -> dict[str, MatchModel]:
    """Forecasting models for ``comp`` (unfitted, default hyper-parameters)."""
    if comp.sport is Sport.FOOTBALL:
        # shared instances: a parameter tuned on one (Dixon-Coles' decay) holds in the stacks
        elo = RatingModel("elo_home_expected", transform="logit")
        pi = RatingModel("pi_expected_gd", transform=None)
        dixon_coles = DixonColes()
        lightgbm = GradientBoostingModel("lightgbm", features="results")
        # the market models learn the residual over the sharp price (it is their offset)
        lightgbm_market = GradientBoostingModel("lightgbm", features="market", offset=SHARP_PRICE)
        return {
            "base_rates": BaseRates(),
            "elo": elo,
            "pi": pi,
            "dixon_coles": dixon_coles,
            "results_blend": Blend((elo, pi, dixon_coles)),
            "lightgbm": lightgbm,
            "xgboost": GradientBoostingModel("xgboost", features="results"),
            "lightgbm_market": lightgbm_market,
            "xgboost_market": GradientBoostingModel("xgboost", features="market", offset=SHARP_PRICE),
            "stack": StackedModel((elo, pi, dixon_coles, lightgbm)),
            "stack_market": StackedModel(
                (
                    elo,
                    pi,
                    dixon_coles,
                    lightgbm,
                    lightgbm_market,
                    MarketModel(SHARP_PRICE[0], DevigMethod.MULTIPLICATIVE, fallback=SHARP_PRICE[1:]),
                ),
                meta="simplex",
                anchor=-1,  # the sharp price: left only on clear out-of-fold evidence
            ),
            "bayes": BayesianGoalModel(method="advi"),
        }
    half_life = {"NFL": 500.0, "NBA": 150.0, "CFB": 300.0}.get(comp.code, 365.0)
    elo = RatingModel("elo_home_expected", transform="logit", two_way=True)
    margin = MarginModel(half_life_days=half_life)
    lightgbm = GradientBoostingModel("lightgbm", features="results", two_way=True)
    return {
        "base_rates": BaseRates(two_way=True),
        "elo": elo,
        "margin": margin,
        "results_blend": Blend((elo, margin)),
        "lightgbm": lightgbm,
        "xgboost": GradientBoostingModel("xgboost", features="results", two_way=True),
        "stack": StackedModel((elo, margin, lightgbm)),
    }


def benchmarks(comp: Competition) -> dict[str, MatchModel]:
    """Market forecasts: the de-vigged prices every model is reported next to."""
    if comp.sport is Sport.FOOTBALL:
        return {
            "market_pinnacle_close": MarketModel("pinnacle_close", DevigMethod.MULTIPLICATIVE),
            "market_pinnacle": MarketModel("pinnacle", DevigMethod.MULTIPLICATIVE),
            "market_b365": MarketModel("b365", DevigMethod.MULTIPLICATIVE),
        }
    return {"market_spread": SpreadMarket()}


def reference(comp: Competition) -> str:
    """The benchmark differences are measured against: the sharpest market we have."""
    return "market_pinnacle_close" if comp.sport is Sport.FOOTBALL else "market_spread"


def with_tuned(available: dict[str, MatchModel], tuned: dict[str, dict]) -> dict[str, MatchModel]:
    """``available`` with the tuned parameters (``scoreline tune``) set on the named models."""
    for name, params in tuned.items():
        if name in available and params:
            available[name].set_params(**params)
    return available


def select(
    comp: Competition, names: list[str] | None, tuned: dict[str, dict] | None = None
) -> dict[str, MatchModel]:
    """The requested models (all by default, with any tuned parameters) plus every benchmark;
    unknown names are an error."""
    available = with_tuned(models(comp), tuned or {})
    if not names:
        available = {n: m for n, m in available.items() if n not in ON_REQUEST}
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise KeyError(
                f"unknown model(s) {', '.join(unknown)} for {comp.code}; available: {', '.join(available)}"
            )
        available = {n: available[n] for n in names}
    return available | benchmarks(comp)
