"""Answers to forecast requests, free of any web framework: the checks that span fields or rows,
the forecasts of each competition's champion, and the prediction store write that precedes every
answer. The BentoML service answers through it, and so does the plain FastAPI app the load
benchmark compares it with (``benchmarks/fastapi_reference.py``): both do the same work.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scoreline.serving.schemas import fixture_problems

if TYPE_CHECKING:  # the service's arbiter process imports this module: no pandas, no models
    from scoreline.forecasts.answer import Forecasts
    from scoreline.forecasts.forecaster import Forecaster
    from scoreline.predictions.store import PredictionStore

__all__ = ["MAX_BATCH_DATES", "Answers", "Asked", "Rejected"]

#: a batch may hold this many distinct dates (each new date costs a feature computation)
MAX_BATCH_DATES = 100
#: unknown teams listed in one error
MAX_LISTED = 10


class Rejected(Exception):
    """A request to answer with a 4xx: ``status``, a message and per-item detail."""

    def __init__(self, status: int, message: str, detail: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.detail:
            body["detail"] = self.detail
        return body


@dataclass(frozen=True)
class Asked:
    """A checked request as columns: stripped team names, prices (dicts), dates (today where
    none was given) and each competition's rows."""

    home: list[str]
    away: list[str]
    prices: list[dict]
    dates: list[dt.date]
    groups: dict[str, list[int]]


class Answers:
    """Forecasts of ``forecasters`` (one per competition), each logged in ``store``."""

    def __init__(self, forecasters: dict[str, Forecaster], store: PredictionStore) -> None:
        self.forecasters = forecasters
        self.store = store
        #: per competition, the date of the last result its champion has seen
        self.history_ends: dict[str, dt.date] = {
            code: f.pyfunc.history["date"].max().date()
            for code, f in forecasters.items()
            if len(f.pyfunc.history)
        }

    def forecast(self, fixtures: list[dict], single: bool) -> list[dict]:
        """Validated forecasts of ``fixtures`` (request order), committed to the prediction
        store in one transaction, with their ``prediction_id``. Fixtures are dicts of the
        request schema's fields (``date`` a date or None, ``prices`` a dict or None); a bad one
        raises :class:`Rejected` naming its row (``fixtures[i]:``) unless ``single``."""
        import numpy as np

        asked = self.check(fixtures, single)
        records: list[dict | None] = [None] * len(fixtures)
        logged: dict[str, list] = {}
        for code, rows in asked.groups.items():
            forecaster = self.forecasters[code]
            given = [asked.prices[r] for r in rows] if len(asked.groups) > 1 else asked.prices
            offered = np.column_stack(  # a column per outcome (NaN: no price): no list per row
                [np.array([p.get(o) for p in given], dtype=np.float64) for o in forecaster.outcomes]
            )
            try:
                forecasts = forecaster.forecast_rows(
                    [asked.home[r] for r in rows],
                    [asked.away[r] for r in rows],
                    [asked.dates[r] for r in rows],
                    [bool(fixtures[r].get("neutral")) for r in rows],
                    offered,
                )
            except ValueError as error:  # a check the schema cannot express; names its row
                raise Rejected(422, f"{code}: {error}") from None
            ends = self.history_ends.get(code)
            for r, record in zip(rows, forecasts.records()):
                if ends is not None:  # how old the ratings are: the page flags a stale forecast
                    record["history_ends"] = ends.isoformat()
                    record["days_after_history"] = (asked.dates[r] - ends).days
                records[r] = record
            for field, values in _logged_columns(forecasts).items():
                if len(asked.groups) == 1:
                    logged[field] = values
                    continue
                column = logged.setdefault(field, [None] * len(fixtures))
                for r, value in zip(rows, values):
                    column[r] = value
        logged["what_if"] = [bool(f.get("what_if")) for f in fixtures]  # never listed as fixtures
        answers = [record for record in records if record is not None]  # every row has its own
        for record, prediction_id in zip(answers, self.store.record_predictions(logged)):
            record["prediction_id"] = prediction_id
        return answers

    def check(self, fixtures: list[dict], single: bool) -> Asked:
        """The checks that span fields or rows (see :meth:`forecast`), without forecasting:
        :class:`Rejected` naming the first bad row, else the request as columns."""
        where = (lambda row: "") if single else (lambda row: f"fixtures[{row}]: ")
        codes = [f["competition"] for f in fixtures]
        home = [f["home_team"].strip() for f in fixtures]
        away = [f["away_team"].strip() for f in fixtures]
        prices = [f.get("prices") or {} for f in fixtures]
        problems = fixture_problems(codes, home, away, [p.get("draw") is not None for p in prices])
        if problems:
            raise Rejected(
                422,
                where(problems[0][0]) + problems[0][1],
                [{"row": r, "msg": m} for r, m in problems[:MAX_LISTED]],
            )
        today = dt.datetime.now(dt.UTC).date()  # the forecaster's default, made explicit
        dates = [f.get("date") or today for f in fixtures]
        if len(set(dates)) > MAX_BATCH_DATES:
            raise Rejected(
                422, f"fixtures: {len(set(dates))} distinct dates; at most {MAX_BATCH_DATES} per request"
            )
        groups: dict[str, list[int]] = {}
        for row, code in enumerate(codes):
            groups.setdefault(code, []).append(row)
        for code, rows in groups.items():
            forecaster = self.forecasters.get(code)
            if forecaster is None:
                raise Rejected(
                    422,
                    f"{where(rows[0])}competition: no champion serves {code}; "
                    f"served: {', '.join(self.forecasters)}",
                )
            self.check_teams(forecaster, rows, home, away, where)
        return Asked(home, away, prices, dates, groups)

    @staticmethod
    def check_teams(forecaster: Forecaster, rows: list[int], home: list[str], away: list[str], where) -> None:
        """Reject unknown teams: each named once with its first row and closest known names."""
        known, unknown = forecaster.known_teams, {}
        for field, names in (("home_team", home), ("away_team", away)):
            for r in rows:
                if names[r] not in known and names[r] not in unknown:
                    unknown[names[r]] = (r, field)
        if not unknown:
            return
        detail: list[dict[str, Any]] = [
            {"row": r, "field": field, "team": team, "suggestions": forecaster.suggestions(team)}
            for team, (r, field) in list(unknown.items())[:MAX_LISTED]
        ]
        first = detail[0]
        hint = f"; closest: {', '.join(first['suggestions'])}" if first["suggestions"] else ""
        raise Rejected(
            422,
            f"{where(first['row'])}{first['field']}: unknown team {first['team']!r} "
            f"for {forecaster.competition}{hint}",
            detail,
        )


def _logged_columns(forecasts: Forecasts) -> dict[str, list]:
    """What the prediction store keeps of ``forecasts``, as columns: the answer's fields, the
    model's detail and features (rows of one fixture share both, so the store encodes them
    once)."""
    from scoreline.predictions.tables import FeatureVector

    vectors = [FeatureVector(forecasts.feature_names, row) for row in forecasts.features]
    n, fixture = len(forecasts), forecasts.fixture.tolist()
    columns: dict[str, list[Any]] = {
        "competition": [forecasts.competition] * n,
        "model_name": [forecasts.model_name] * n,
        "model_version": [forecasts.model_version] * n,
        "date": forecasts.dates,
        "home_team": forecasts.home,
        "away_team": forecasts.away,
        "neutral": forecasts.neutral,
    }
    for j, outcome in enumerate(forecasts.outcomes):
        columns[f"prob_{outcome}"] = forecasts.probs[:, j].tolist()
        columns[f"price_{outcome}"] = [None if p != p else p for p in forecasts.prices[:, j].tolist()]
    columns["features"] = [vectors[u] for u in fixture]
    columns["detail"] = [forecasts.detail[u] for u in fixture]
    return columns
