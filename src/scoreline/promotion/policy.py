"""The promotion policy (``registry/policy.yaml``): per-sport rules with per-competition overrides.

Validated into frozen pydantic models before anything is registered; an unknown key, metric or
competition, or a bad value, is an error naming its place in the file
(``competitions.NFL.thresholds.brier.below: ...``).
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scoreline.config import COMPETITIONS, Sport, competition
from scoreline.evaluation.betting import STARTING_BANKROLL
from scoreline.evaluation.strategies import Strategies
from scoreline.evaluation.strategies_american import AmericanStrategies
from scoreline.evaluation.strategies_gate import StakingGate


class PolicyError(ValueError):
    """The policy file is missing or invalid."""


class Metric(StrEnum):
    RPS = "rps"
    LOG_LOSS = "log_loss"
    BRIER = "brier"
    ACCURACY = "accuracy"
    ECE = "ece"

    @property
    def lower_is_better(self) -> bool:
        return self is not Metric.ACCURACY


#: metrics a per-match loss exists for: what an improvement over the champion is measured in
LOSSES = (Metric.RPS, Metric.LOG_LOSS, Metric.BRIER)

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Threshold(BaseModel):
    """An absolute bound a candidate's backtest metric must beat strictly."""

    model_config = _STRICT

    below: float | None = None
    above: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.below is None) == (self.above is None):
            raise ValueError("give exactly one of 'below' or 'above'")
        return self

    def margin(self, value: float) -> float:
        """By how much ``value`` passes (positive) or fails (zero or negative)."""
        if self.below is not None:
            return self.below - value
        return value - self.above  # type: ignore[operator]  # one bound is set (_one_bound)

    def __str__(self) -> str:
        return f"< {self.below:g}" if self.below is not None else f"> {self.above:g}"


class Improvement(BaseModel):
    """What the candidate must show over the champion on the same backtest matches.

    ``delta``: mean ``metric`` at least ``min_delta`` better. ``bootstrap``: the paired
    bootstrap 95 % interval of candidate minus champion lies wholly below zero.
    """

    model_config = _STRICT

    metric: Metric = Metric.RPS
    mode: Literal["delta", "bootstrap"] = "delta"
    min_delta: float = Field(default=0.0005, ge=0)
    n_boot: int = Field(default=2000, ge=100)

    @field_validator("metric")
    @classmethod
    def _a_loss(cls, value: Metric) -> Metric:
        _loss(value)
        return value


def _loss(value: Metric | None) -> Metric | None:
    if value is not None and value not in LOSSES:
        raise ValueError(
            f"improvement is measured in a per-match loss: one of {', '.join(LOSSES)}, not {value.value!r}"
        )
    return value


class ImprovementOverride(BaseModel):
    """A competition's changes to its sport's :class:`Improvement` (unset keys are kept)."""

    model_config = _STRICT

    metric: Metric | None = None
    mode: Literal["delta", "bootstrap"] | None = None
    min_delta: float | None = Field(default=None, ge=0)
    n_boot: int | None = Field(default=None, ge=100)

    @field_validator("metric")
    @classmethod
    def _a_loss(cls, value: Metric | None) -> Metric | None:
        return _loss(value)


class Eligibility(BaseModel):
    """Which models may be promoted: glob patterns of model names."""

    model_config = _STRICT

    include: list[str] = ["*"]
    exclude: list[str] = []

    def allows(self, model: str) -> bool:
        return any(fnmatchcase(model, p) for p in self.include) and not any(
            fnmatchcase(model, p) for p in self.exclude
        )


class Rules(BaseModel):
    """The complete rules for one competition."""

    model_config = _STRICT

    #: the metric the best eligible candidate of a backtest is chosen by
    primary_metric: Metric
    thresholds: dict[Metric, Threshold] = {}
    improvement: Improvement = Improvement()
    eligible_models: Eligibility = Eligibility()


class RulesOverride(BaseModel):
    """A competition's changes to its sport's rules; a threshold set to null is dropped."""

    model_config = _STRICT

    primary_metric: Metric | None = None
    thresholds: dict[Metric, Threshold | None] = {}
    improvement: ImprovementOverride = ImprovementOverride()
    eligible_models: Eligibility | None = None


#: pre-closing books a live bet may be priced at, per sport (closing prices only judge CLV)
PRICE_SOURCES = {
    Sport.FOOTBALL: ("b365", "pinnacle", "avg", "max"),
    Sport.AMERICAN_FOOTBALL: ("moneyline",),
    Sport.BASKETBALL: ("moneyline",),
}


class Betting(BaseModel):
    """The live betting policy of the matchday loop (``betting:``): amounts are fractions of
    the competition's bankroll, as in :class:`scoreline.evaluation.betting.BettingPolicy`."""

    model_config = _STRICT

    bankroll: float = Field(default=STARTING_BANKROLL, gt=0)  # starting bankroll per competition, units
    edge: float = Field(default=0.03, ge=0)  # bet when p * price > 1 + edge
    staking: Literal["kelly", "flat"] = "kelly"
    kelly_fraction: float = Field(default=0.25, gt=0, le=1)
    flat_stake: float = Field(default=0.01, gt=0, le=1)
    max_stake_fraction: float = Field(default=0.02, gt=0, le=1)
    max_daily_exposure: float = Field(default=0.10, gt=0, le=1)
    price_source: dict[Sport, str] = {
        Sport.FOOTBALL: "b365",
        Sport.AMERICAN_FOOTBALL: "moneyline",
        Sport.BASKETBALL: "moneyline",
    }
    closing_source: str = "pinnacle_close"
    #: the named strategies the matchday proposes bets through (their backtest: `scoreline
    #: bets report`); ``gate``: which of them may stake money, the rest bet on paper
    strategies: Strategies = Strategies()
    gate: StakingGate = StakingGate()
    #: the strategies on American sports' lines (NBA moneylines, college football and NFL spreads)
    american: AmericanStrategies = AmericanStrategies()

    @model_validator(mode="after")
    def _known_books(self) -> Betting:
        for sport, source in self.price_source.items():
            if source not in PRICE_SOURCES[sport]:
                raise ValueError(
                    f"price_source.{sport.value}: {source!r} is not a pre-closing "
                    f"price source of {sport.value}; one of {', '.join(PRICE_SOURCES[sport])}"
                )
        if not self.closing_source.endswith("_close"):
            raise ValueError(f"closing_source: {self.closing_source!r} is not a closing price source")
        return self


class Policy(BaseModel):
    """``registry/policy.yaml``: rules per sport, overrides per competition code."""

    model_config = _STRICT

    sports: dict[Sport, Rules]
    competitions: dict[str, RulesOverride] = {}
    #: thresholds of drift and live-quality monitoring; validated by
    #: :mod:`scoreline.monitoring.policy` (monitoring reads promotion, never the reverse)
    monitoring: dict[str, Any] | None = None
    #: the matchday loop's live betting policy (defaults when absent)
    betting: Betting = Betting()

    @field_validator("sports")
    @classmethod
    def _every_sport(cls, value: dict[Sport, Rules]) -> dict[Sport, Rules]:
        missing = sorted({c.sport.value for c in COMPETITIONS.values()} - {s.value for s in value})
        if missing:
            raise ValueError(f"no rules for sport(s) {', '.join(missing)}: every competition must be gated")
        return value

    @field_validator("competitions")
    @classmethod
    def _known_codes(cls, value: dict[str, RulesOverride]) -> dict[str, RulesOverride]:
        unknown = sorted(set(value) - set(COMPETITIONS))
        if unknown:
            raise ValueError(f"unknown competition(s) {', '.join(unknown)}; known: {', '.join(COMPETITIONS)}")
        return value

    def rules(self, code: str) -> Rules:
        """The rules in force for competition ``code``: its sport's, with its overrides."""
        base = self.sports[competition(code).sport]
        override = self.competitions.get(code)
        if override is None:
            return base
        thresholds = dict(base.thresholds)
        for metric, bound in override.thresholds.items():
            if bound is None:
                thresholds.pop(metric, None)
            else:
                thresholds[metric] = bound
        return Rules(
            primary_metric=override.primary_metric or base.primary_metric,
            thresholds=thresholds,
            improvement=base.improvement.model_copy(
                update=override.improvement.model_dump(exclude_none=True)
            ),
            eligible_models=override.eligible_models or base.eligible_models,
        )


def _describe(error: ValidationError) -> str:
    """One ``where: what`` phrase per problem, joined by ``; ``."""
    lines = []
    for problem in error.errors():
        loc = [str(p) for p in problem["loc"]]
        message = problem["msg"].removeprefix("Value error, ")
        if loc and loc[-1] == "[key]":  # a dict key that is not a metric / sport
            loc.pop()
            message = f"unknown key; {message[0].lower()}{message[1:]}"
        if problem["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        where = ".".join(loc) or "policy"
        lines.append(f"{where}: {message}")
    return "; ".join(lines)


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """Validate a policy mapping; errors name ``source`` and each failing key."""
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        raise PolicyError(f"{source}: {_describe(err)}") from None


def policy_path(registry_path: Path) -> Path:
    return registry_path / "policy.yaml"


def load_policy(path: Path) -> Policy:
    """Read and validate the policy file at ``path``."""
    if not path.is_file():
        raise PolicyError(f"no promotion policy at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise PolicyError(f"{path}: not valid YAML: {err}") from None
    return parse_policy(data, str(path))
