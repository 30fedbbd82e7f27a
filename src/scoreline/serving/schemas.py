"""Request and response bodies of the prediction service (pydantic; they are its OpenAPI schema).

A single fixture is a model (:class:`Fixture`); a batch holds its fixtures as typed dicts
(:class:`FixtureRow`, same fields and limits) because validating 10,000 dicts costs a fraction
of building 10,000 model objects. Checks that span fields or rows (the same team twice, a draw
price in a sport without draws) run over whole columns in :func:`fixture_problems` so both paths
report them alike. Prices are decimal odds; dates are ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
    with_config,
)
from typing_extensions import TypedDict

from scoreline.config import COMPETITIONS, Sport

__all__ = [
    "MAX_BATCH",
    "BatchJob",
    "CompetitionCode",
    "Fixture",
    "FixtureRow",
    "HalftimeAnswer",
    "HalftimeRequest",
    "ModelInfo",
    "MonitoringStatus",
    "PredictBatchRequest",
    "Prediction",
    "PredictionBatch",
    "Prices",
    "Result",
    "ResultsAccepted",
    "ResultsRequest",
    "Score",
    "TeamList",
    "UpcomingList",
    "UpcomingPrediction",
    "fixture_problems",
]

#: fixtures per /predict_batch request
MAX_BATCH = 100_000
#: results per /results request
MAX_RESULTS = 10_000

if TYPE_CHECKING:  # a Literal built from the configured competitions is opaque to mypy
    CompetitionCode = str
else:
    CompetitionCode = Literal[tuple(COMPETITIONS)]
TeamName = Annotated[str, Field(min_length=1, max_length=100, description="team name as in the data")]
#: what a match date may be: ISO text 1900-01-01 .. 2099-12-31 (OpenAPI 3.0 cannot bound a date,
#: so the range is the pattern's; a number is not a date, though pydantic would read it as one)
DATE_PATTERN = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


#: compiled once: a 100,000-fixture batch checks as many dates
_ISO_DATE = re.compile(DATE_PATTERN)


def _iso_text(value: Any) -> Any:
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("a date is ISO text between 1900-01-01 and 2099-12-31 (YYYY-MM-DD)")


DATE_SCHEMA = {"type": "string", "format": "date", "pattern": DATE_PATTERN}
FixtureDate = Annotated[
    dt.date,
    BeforeValidator(_iso_text),
    Field(ge=dt.date(1900, 1, 1), le=dt.date(2099, 12, 31)),
    WithJsonSchema({**DATE_SCHEMA, "description": "match date"}),
]


def _nullable(schema: dict[str, Any]) -> WithJsonSchema:
    """A nullable value described the OpenAPI 3.0 way (``nullable``; BentoML serves 3.0, where
    pydantic's ``anyOf [..., {"type": "null"}]`` is not valid)."""
    return WithJsonSchema({**schema, "nullable": True})


#: decimal odds; the shortest a bookmaker offers is 1.01 (minimum inclusive: OpenAPI 3.0 has no
#: numeric exclusiveMinimum)
OptionalOdds = Annotated[
    # finite: a NaN price is refused as "not a finite number", not as "must be <= 1000"
    Annotated[float, Field(ge=1.01, le=1000.0, allow_inf_nan=False)] | None,
    _nullable({"type": "number", "minimum": 1.01, "maximum": 1000.0, "description": "decimal odds"}),
]
OptionalDate = Annotated[
    FixtureDate | None,
    _nullable({**DATE_SCHEMA, "description": "match date (default: today, UTC)"}),
]
OptionalFloat = Annotated[float | None, _nullable({"type": "number"})]
OptionalInt = Annotated[int | None, _nullable({"type": "integer"})]
OptionalText = Annotated[str | None, _nullable({"type": "string"})]
OptionalFlag = Annotated[bool | None, _nullable({"type": "boolean"})]
OptionalTime = Annotated[dt.datetime | None, _nullable({"type": "string", "format": "date-time"})]


class Prices(BaseModel):
    """Offered decimal odds per outcome; each given one gets an edge in the answer."""

    model_config = ConfigDict(extra="forbid")

    home: OptionalOdds = None
    draw: OptionalOdds = None
    away: OptionalOdds = None


class Fixture(BaseModel):
    """One fixture to forecast (the body of POST /predict)."""

    # OpenAPI 3.0's `example` (BentoML's schema objects take no `examples`)
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "competition": "E0",
                "home_team": "Arsenal",
                "away_team": "Chelsea",
                "date": "2026-12-05",
                "prices": {"home": 2.1, "draw": 3.5, "away": 3.6},
            }
        },
    )

    competition: CompetitionCode
    home_team: TeamName
    away_team: TeamName
    date: OptionalDate = None
    #: strictly true or false: "yes" or 1 is refused, not read as true
    neutral: StrictBool = False
    #: leave it out for no prices; null is refused (the schema does not allow it)
    prices: Prices = Field(default_factory=Prices)
    #: a what-if question, not a scheduled fixture: logged, but never listed by GET /upcoming
    what_if: StrictBool = False


@with_config(ConfigDict(extra="forbid"))
class PricesRow(TypedDict, total=False):
    home: OptionalOdds
    draw: OptionalOdds
    away: OptionalOdds


@with_config(ConfigDict(extra="forbid"))
class FixtureRow(TypedDict):
    """One fixture of a batch: the fields of :class:`Fixture`."""

    competition: CompetitionCode
    home_team: TeamName
    away_team: TeamName
    date: NotRequired[OptionalDate]
    neutral: NotRequired[StrictBool]
    prices: NotRequired[PricesRow]
    what_if: NotRequired[StrictBool]


class PredictBatchRequest(BaseModel):
    """The body of POST /predict_batch."""

    fixtures: list[FixtureRow] = Field(min_length=1, max_length=MAX_BATCH)


def fixture_problems(
    competition: list[str], home: list[str], away: list[str], draw_priced: list[bool]
) -> list[tuple[int, str]]:
    """``(row, message)`` for every fixture naming the same team twice or pricing a draw in a
    sport without draws, in row order."""
    problems = []
    two_way = {code for code, comp in COMPETITIONS.items() if comp.sport is not Sport.FOOTBALL}
    for row, (code, h, a, draw) in enumerate(zip(competition, home, away, draw_priced)):
        if h.strip().casefold() == a.strip().casefold():
            problems.append((row, f"home_team and away_team are both {h!r}: a fixture needs two teams"))
        elif draw and code in two_way:
            problems.append((row, f"prices.draw: {code} has no draw outcome"))
    return problems


class Score(BaseModel):
    """One scoreline and its probability (football)."""

    home: int
    away: int
    probability: float


class StoredForecast(BaseModel):
    """What every logged forecast answers with: the fixture, the model, the outcome
    probabilities (no draw in two-way sports) and ``fair_odds_<outcome>`` = 1 / probability."""

    prediction_id: int = Field(description="id of the logged prediction")
    home_team: str
    away_team: str
    date: dt.date
    neutral: bool
    model_name: str
    model_version: str
    prob_home: float
    prob_draw: OptionalFloat = None
    prob_away: float
    fair_odds_home: float
    fair_odds_draw: OptionalFloat = None
    fair_odds_away: float


class Prediction(StoredForecast):
    """One fixture's forecast. Football answers carry the draw, expected goals and the most
    likely scores; NFL/NBA/CFB answers the expected margin and total with 80 % and 95 %
    intervals. ``edge_<outcome>`` is probability x price - 1 for each given price (null
    without one)."""

    competition: str
    history_ends: Annotated[dt.date | None, _nullable({"type": "string", "format": "date"})] = Field(
        default=None, description="date of the last result the model has seen"
    )
    days_after_history: OptionalInt = Field(
        default=None, description="days from that result to the fixture: ratings this old are stale"
    )
    price_home: OptionalFloat = None
    price_draw: OptionalFloat = None
    price_away: OptionalFloat = None
    edge_home: OptionalFloat = None
    edge_draw: OptionalFloat = None
    edge_away: OptionalFloat = None
    expected_goals_home: OptionalFloat = None
    expected_goals_away: OptionalFloat = None
    top_scores: list[Score] = Field(default=None, description="football: the five likeliest scores")  # type: ignore[arg-type]
    margin: OptionalFloat = None
    margin_lower_80: OptionalFloat = None
    margin_upper_80: OptionalFloat = None
    margin_lower_95: OptionalFloat = None
    margin_upper_95: OptionalFloat = None
    total: OptionalFloat = None
    total_lower_80: OptionalFloat = None
    total_upper_80: OptionalFloat = None
    total_lower_95: OptionalFloat = None
    total_upper_95: OptionalFloat = None


class PredictionBatch(BaseModel):
    """The answer of POST /predict_batch: one prediction per fixture, in request order."""

    predictions: list[Prediction]


#: what a batch job is doing: waiting for a batch process, being answered, answered, or failed
JobStatus = Literal["queued", "running", "done", "failed"]


class BatchJob(BaseModel):
    """A batch job (POST /batch_jobs): its status, and where its answer is once ``done``
    (GET /batch_jobs/{job_id}/result, a :class:`PredictionBatch`)."""

    job_id: str = Field(description="32 hexadecimal digits")
    status: JobStatus
    fixtures: int = Field(description="fixtures in the batch")
    submitted_at: dt.datetime
    started_at: OptionalTime = None
    finished_at: OptionalTime = None
    error: OptionalText = Field(default=None, description="why a failed job failed")
    result: OptionalText = Field(default=None, description="path of the answer once done")


class TeamList(BaseModel):
    """The teams a competition's champion knows: the ``current`` first ones are the latest
    season's, the rest played in earlier seasons only (relegated, or promoted since)."""

    competition: str
    model_version: str
    teams: list[str]
    current: int = Field(description="how many of the teams, from the first, play the latest season")


class ModelInfo(BaseModel):
    """Which champion serves a competition."""

    competition: str
    model_name: str
    model_version: str
    registered_model: str
    bento_model: str
    outcomes: list[str]
    teams: int


class Result(BaseModel):
    """A final score."""

    model_config = ConfigDict(extra="forbid")

    competition: CompetitionCode
    home_team: TeamName
    away_team: TeamName
    date: FixtureDate
    home_score: int = Field(ge=0, le=200)
    away_score: int = Field(ge=0, le=200)
    #: the half-time score, which scores live halftime forecasts (both or neither)
    home_half: int | None = Field(default=None, ge=0, le=200)
    away_half: int | None = Field(default=None, ge=0, le=200)

    @model_validator(mode="after")
    def _both_halves(self) -> Result:
        if (self.home_half is None) != (self.away_half is None):
            raise ValueError("give both home_half and away_half, or neither")
        if (
            self.home_half is not None
            and self.away_half is not None
            and (self.home_half > self.home_score or self.away_half > self.away_score)
        ):
            raise ValueError("a half-time score above the final score")
        return self


class ResultsRequest(BaseModel):
    """The body of POST /results."""

    model_config = ConfigDict(extra="forbid")

    results: list[Result] = Field(min_length=1, max_length=MAX_RESULTS)


class ResultsAccepted(BaseModel):
    """What POST /results stored: every result is committed before this answer is sent."""

    recorded: int
    settled: dict = Field(description="the store's settlement summary")


class UpcomingPrediction(StoredForecast):
    """The latest stored forecast of a fixture not yet played (the service's own or a matchday
    run's)."""

    created_at: dt.datetime = Field(description="when it was forecast (UTC, with its offset)")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        """The store keeps UTC without an offset; the answer says so (an RFC 3339 date-time)."""
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class UpcomingList(BaseModel):
    """Fixtures dated ``start`` to ``end`` (inclusive) with a stored forecast and no result,
    by date; one row per fixture."""

    competition: str
    start: dt.date
    end: dt.date
    predictions: list[UpcomingPrediction]


class MonitoringStatus(BaseModel):
    """The latest monitoring run of a competition (``scoreline monitor``), or ``has_run``
    false when there is none. ``live``: mean scores of the settled predictions (``n``,
    ``log_loss``, ``brier``, ``rps``, ``accuracy``, ``ece``); ``backtest``: the champion's
    walk-forward scores under the same names (what live is judged against); ``coverage``: the
    share of two-way results inside each stored interval."""

    competition: str
    has_run: bool
    message: str
    at: OptionalTime = None
    ok: OptionalFlag = None
    alerts: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    champion_version: OptionalText = None
    drift_share: OptionalFloat = None
    drifted_features: list[str] = Field(default_factory=list)
    compared_features: OptionalInt = None
    window_predictions: OptionalInt = None
    window_settled: OptionalInt = None
    live: dict[str, float] = Field(default_factory=dict)
    backtest: dict[str, float] = Field(default_factory=dict)
    coverage: dict[str, float] = Field(default_factory=dict)


#: minutes of the halftime forecast's pattern
PATTERN_MINUTES = 18


class HalftimeRequest(BaseModel):
    """The body of POST /live/predict: the home-minus-away margin at the end of each of the first
    18 game minutes (minute 1 first) and the pre-game home spread (negative = home favoured)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "competition": "NBA",
                "pattern": [0, 2, 2, 4, 1, -1, 0, 3, 5, 5, 7, 6, 8, 10, 9, 11, 12, 12],
                "spread": -4.5,
            }
        },
    )

    competition: CompetitionCode = "NBA"
    pattern: list[Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]] = Field(
        min_length=PATTERN_MINUTES, max_length=PATTERN_MINUTES
    )
    spread: float = Field(ge=-60, le=60, allow_inf_nan=False, description="pre-game home spread")
    total: float | None = Field(
        default=None, ge=100, le=350, allow_inf_nan=False, description="pre-game total"
    )
    game_id: str | None = Field(default=None, max_length=32, description="echoed back")


class HalftimeAnswer(BaseModel):
    """The halftime forecast: the home-minus-away margin at half-time and its interval."""

    competition: str
    game_id: str | None
    halftime_differential: float
    lower: float
    upper: float
    coverage_probability: float = Field(description="nominal probability that the interval holds the margin")
    intervals: list[dict[str, float]] = Field(description="every level's interval: level, lower, upper")
    explanation: dict[str, Any] = Field(description="what drove the forecast (the matched past games)")
    model_name: str
    model_version: str
    timestamp: dt.datetime = Field(description="when the forecast was made (UTC)")
