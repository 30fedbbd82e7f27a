"""The BentoML prediction service: every competition's champion behind one HTTP API.

* ``POST /predict`` (one fixture) and ``POST /predict_batch`` (up to 50,000) are BentoML APIs:
  probabilities, fair odds, edges against given prices, the champion's detail (likeliest scores
  and expected goals; margin and total with intervals), model name and version.
* ``GET /teams``, ``GET /models`` and ``POST /results`` (API key) are a mounted FastAPI app.
* ``GET /healthz`` / ``/livez``, ``/readyz`` (every champion loaded) and ``/metrics`` are
  BentoML's own; the metrics add predictions per competition and each competition's serving
  model version (``scoreline_model_info``) to BentoML's request counts and latency histograms
  per endpoint.

Champions come from the BentoML model store only (:mod:`scoreline.serving.package` exports them
from the registry): the service and a bento built from it never touch the tracking store. Every
answered forecast and every recorded result is committed to the prediction store before the
answer is sent. Bad input gets a 4xx naming the field (and row): 400 for a malformed body
(BentoML's pydantic validation), 415 for a body that is not JSON, 422 for an unknown team (with
the closest known names), the same team twice, a draw price in a two-way sport or a competition
no champion serves. Keys and rate limits: :mod:`scoreline.serving.limits`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections import OrderedDict
from typing import Any

import bentoml
import pydantic
import pydantic_core
from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scoreline.config import Settings
from scoreline.serving import package
from scoreline.serving.limits import AccessControl, parse_api_keys
from scoreline.serving.schemas import (
    CompetitionCode, Fixture, ModelInfo, Prediction, PredictionBatch,
    PredictBatchRequest, ResultsAccepted, ResultsRequest, TeamList, fixture_problems,
)

logger = logging.getLogger("scoreline.serving")

#: a batch may hold this many distinct dates (each new date costs a feature computation)
MAX_BATCH_DATES = 100
#: unknown teams listed in one error
MAX_LISTED = 10
#: forecasts a worker keeps for repeated fixtures (a few kB each, with their features)
ANSWER_CACHE_ENTRIES = 2000
PREDICT_ROUTES = ("/predict", "/predict_batch")

# The worker's configuration, read once from its environment: BentoML takes the service's
# settings (workers, models, middleware) when the class is decorated.
SETTINGS = Settings()
CHAMPIONS = package.served_models(SETTINGS.serve_competitions)
if not CHAMPIONS:
    raise RuntimeError(f"no champion models in the BentoML store at {SETTINGS.bentoml_home}: "
                       "promote a model, then run `scoreline package` (or `make serve`)")


class Rejected(Exception):
    """A request the service answers with a 4xx: ``status``, a message and per-item detail."""

    def __init__(self, status: int, message: str, detail: list[dict] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail or []

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.detail:
            body["detail"] = self.detail
        return JSONResponse(body, status_code=self.status)


def _tracing_config() -> dict:
    """Leave the prediction routes out of OpenTelemetry unless an exporter is configured: with
    nothing collecting, BentoML's per-request spans cost about half of a /predict's CPU."""
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer

        exporter = BentoMLContainer.config.tracing.exporter_type.get()
    except Exception:  # configuration not loaded: BentoML's default, no exporter
        exporter = None
    return {} if exporter else {"excluded_urls": list(PREDICT_ROUTES)}


class JsonBodies:
    """ASGI middleware: a POST body must be JSON. BentoML would parse other media types itself
    (and answer a multipart type without a boundary with a 500)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"application/json")
            if kind.split(b";")[0].strip().lower() != b"application/json":
                await JSONResponse({"error": "Content-Type must be application/json"},
                                   status_code=415)(scope, receive, send)
                return
        await self.app(scope, receive, send)


routes = FastAPI(title="scoreline", docs_url=None, redoc_url=None, openapi_url=None)


@routes.exception_handler(RequestValidationError)
async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    """The mounted routes' validation errors in the shape of the BentoML APIs' ones."""
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse({"error": f"{len(detail)} validation error(s)", "detail": detail},
                        status_code=422)


class Scoreline:
    """Forecasts of every exported champion; one instance per worker process."""

    def __init__(self) -> None:
        from scoreline.serving.forecast import Forecaster
        from scoreline.serving.store import PredictionStore

        self.forecasters: dict[str, Forecaster] = {}
        self.models: dict[str, bentoml.Model] = self._stored_models()
        for code, stored in self.models.items():
            labels = stored.info.labels
            self.forecasters[code] = Forecaster.from_pyfunc(
                bentoml.mlflow.load_model(stored), model_name=labels.get("model_name", "unknown"),
                version=labels.get("registry_version", str(stored.tag.version)), competition=code)
        self.store = PredictionStore(SETTINGS.prediction_store)
        self.answers = AnswerCache()
        self.metrics = ServiceMetrics(self.forecasters, self.models)
        logging.getLogger("bentoml._internal.server.http_app").addFilter(_without_client_errors)
        logger.info("serving %s", ", ".join(f"{c} {f.model_name} v{f.version}"
                                            for c, f in self.forecasters.items()))

    def _stored_models(self) -> dict[str, bentoml.Model]:
        """The champions to load: those a bento was built with when serving one, else the
        store's latest (the class attributes declared below)."""
        bento = Scoreline.bento  # the Service object once decorated
        if bento is None:
            return {code: getattr(self, _attribute(code)) for code in CHAMPIONS}
        pinned = {m.tag.name: m.tag for m in bento.info.all_models}
        return {code: bentoml.models.get(pinned[package.bento_model_name(code)])
                for code in CHAMPIONS if package.bento_model_name(code) in pinned}

    def __is_ready__(self) -> bool:
        return bool(self.forecasters) and len(self.forecasters) == len(self.models)

    # -- forecasts -------------------------------------------------------------------------------
    @bentoml.api(route="/predict", input_spec=Fixture)
    def predict(self, **fixture: Any) -> Prediction:
        """Forecast one fixture (and log it)."""
        prices = fixture.get("prices")
        row = {**fixture, "prices": prices.model_dump() if prices is not None else None}
        try:
            records = self._forecast([row], "/predict", single=True)
        except Rejected as rejected:
            return rejected.response()
        return Response(pydantic_core.to_json(records[0]), media_type="application/json")

    @bentoml.api(route="/predict_batch", input_spec=PredictBatchRequest)
    def predict_batch(self, fixtures: list[dict]) -> PredictionBatch:
        """Forecast many fixtures at once (and log them), answers in request order."""
        try:
            records = self._forecast(fixtures, "/predict_batch", single=False)
        except Rejected as rejected:
            return rejected.response()
        return Response(pydantic_core.to_json({"predictions": records}),
                        media_type="application/json")

    def _forecast(self, fixtures: list[dict], endpoint: str, single: bool) -> list[dict]:
        """Validated forecasts of ``fixtures`` (request order), committed to the prediction
        store in one transaction, with their ``prediction_id``."""
        import pandas as pd  # here: `bentoml serve` imports this module before any worker

        where = (lambda row: "") if single else (lambda row: f"fixtures[{row}]: ")
        codes = [f["competition"] for f in fixtures]
        home = [f["home_team"].strip() for f in fixtures]
        away = [f["away_team"].strip() for f in fixtures]
        prices = [f.get("prices") or {} for f in fixtures]
        problems = fixture_problems(codes, home, away, [p.get("draw") is not None for p in prices])
        if problems:
            raise Rejected(422, where(problems[0][0]) + problems[0][1],
                           [{"row": r, "msg": m} for r, m in problems[:MAX_LISTED]])
        today = dt.datetime.now(dt.UTC).date()  # the forecaster's default, made explicit
        dates = [f.get("date") or today for f in fixtures]
        if len(set(dates)) > MAX_BATCH_DATES:
            raise Rejected(422, f"fixtures: {len(set(dates))} distinct dates; at most "
                                f"{MAX_BATCH_DATES} per request")
        groups: dict[str, list[int]] = {}
        for row, code in enumerate(codes):
            groups.setdefault(code, []).append(row)
        records: list[dict | None] = [None] * len(fixtures)
        for code, rows in groups.items():
            forecaster = self.forecasters.get(code)
            if forecaster is None:
                raise Rejected(422, f"{where(rows[0])}competition: no champion serves {code}; "
                                    f"served: {', '.join(self.forecasters)}")
            self._check_teams(forecaster, rows, home, away, where)
            keys = [(code, home[r], away[r], dates[r], bool(fixtures[r].get("neutral", False)),
                     *(prices[r].get(o) for o in forecaster.outcomes)) for r in rows]
            answers = self.answers.get(keys)
            missing = [i for i, answer in enumerate(answers) if answer is None]
            if missing:
                table = pd.DataFrame([key[1:5] for key in (keys[i] for i in missing)],
                                     columns=["home_team", "away_team", "date", "neutral"])
                for j, outcome in enumerate(forecaster.outcomes):
                    table[f"price_{outcome}"] = [keys[i][5 + j] for i in missing]
                try:
                    computed = forecaster.forecast_records(table, features=True)
                except ValueError as error:  # a check the schema cannot express; names its row
                    raise Rejected(422, f"{code}: {error}") from None
                self.answers.put([keys[i] for i in missing], computed)
                for i, answer in zip(missing, computed):
                    answers[i] = answer
            for r, answer in zip(rows, answers):
                records[r] = dict(answer)  # the cached answer stays as it is
        ids = self.store.record_predictions(records)
        for record, prediction_id in zip(records, ids):
            del record["features"]
            record["prediction_id"] = prediction_id
        for code, rows in groups.items():
            self.metrics.predicted(code, endpoint, len(rows))
        return records

    @staticmethod
    def _check_teams(forecaster, rows: list[int], home: list[str], away: list[str], where) -> None:
        """Reject unknown teams: each named once with its first row and closest known names."""
        known, unknown = forecaster.known_teams, {}
        for field, names in (("home_team", home), ("away_team", away)):
            for r in rows:
                if names[r] not in known and names[r] not in unknown:
                    unknown[names[r]] = (r, field)
        if not unknown:
            return
        detail = [{"row": r, "field": field, "team": team, "suggestions": forecaster.suggestions(team)}
                  for team, (r, field) in list(unknown.items())[:MAX_LISTED]]
        first = detail[0]
        hint = (f"; closest: {', '.join(first['suggestions'])}" if first["suggestions"] else "")
        raise Rejected(422, f"{where(first['row'])}{first['field']}: unknown team {first['team']!r} "
                            f"for {forecaster.competition}{hint}", detail)

    # -- teams, models, results ------------------------------------------------------------------
    @routes.get("/teams", response_model=TeamList,
                responses={404: {"description": "no champion serves the competition"}})
    def teams(self, competition: CompetitionCode = Query(description="competition code")):
        """The teams a competition's champion knows, latest season's first."""
        forecaster = self.forecasters.get(competition)
        if forecaster is None:
            return Rejected(404, f"no champion serves {competition}; served: "
                                 f"{', '.join(self.forecasters)}").response()
        return TeamList(competition=competition, model_version=forecaster.version,
                        teams=forecaster.teams)

    @routes.get("/models", response_model=list[ModelInfo])
    def served(self) -> list[ModelInfo]:
        """Which champion (catalogue model and registry version) serves each competition."""
        return [ModelInfo(competition=code, model_name=f.model_name, model_version=f.version,
                          registered_model=self.models[code].info.labels.get("registered_model", ""),
                          bento_model=str(self.models[code].tag), outcomes=list(f.outcomes),
                          teams=len(f.teams))
                for code, f in self.forecasters.items()]

    @routes.post("/results", response_model=ResultsAccepted,
                 responses={401: {"description": "no API key"}, 403: {"description": "bad API key"},
                            422: {"description": "unknown team, future date or bad score"}})
    def results(self, body: ResultsRequest):
        """Record final scores (API key required) and settle the logged predictions on them.
        Answered only once the results are committed; re-sending one changes nothing."""
        today = dt.datetime.now(dt.UTC).date()
        rows = [r.model_dump() for r in body.results]
        try:
            for i, row in enumerate(rows):
                where = f"results[{i}]: " if len(rows) > 1 else ""
                if row["date"] > today + dt.timedelta(days=1):
                    raise Rejected(422, f"{where}date: {row['date']} is in the future")
                forecaster = self.forecasters.get(row["competition"])
                if forecaster is not None:
                    self._check_teams(forecaster, [0], [row["home_team"].strip()],
                                      [row["away_team"].strip()], lambda _: where)
            recorded = self.store.record_results(rows)
        except Rejected as rejected:
            return rejected.response()
        except ValueError as error:  # the store's row checks (scores above a sport's maximum)
            return Rejected(422, re.sub(r"^row (\d+):", r"results[\1]:", str(error))).response()
        for code in {r["competition"] for r in rows}:
            self.metrics.results(code, sum(r["competition"] == code for r in rows))
        return ResultsAccepted(recorded=recorded, settled=self.store.settle())


class AnswerCache:
    """Recent forecasts by fixture (competition, teams, date, neutral, prices): a forecast is a
    pure function of those and the loaded champion, and clients ask for the same few upcoming
    fixtures over and over. Bounded, least recently used out, thread-safe; entries are never
    changed (callers copy)."""

    def __init__(self, max_entries: int = ANSWER_CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, dict] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, keys: list[tuple]) -> list[dict | None]:
        with self._lock:
            found = [self._entries.get(key) for key in keys]
            for key, answer in zip(keys, found):
                if answer is not None:
                    self._entries.move_to_end(key)
        return found

    def put(self, keys: list[tuple], answers: list[dict]) -> None:
        with self._lock:
            for key, answer in zip(keys, answers):
                self._entries[key] = answer
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def _without_client_errors(record: logging.LogRecord) -> bool:
    """A log filter: BentoML logs a traceback for every body that fails validation, errors of
    the client's (answered 400), not the server's."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, pydantic.ValidationError)


def _attribute(code: str) -> str:
    return f"champion_{code.lower()}"


class ServiceMetrics:
    """The service's own Prometheus metrics (BentoML's collector gathers every worker's)."""

    def __init__(self, forecasters: dict, models: dict) -> None:
        # imported here, in the worker, after BentoML has set up multi-process collection
        from prometheus_client import Counter, Gauge

        self._predictions = Counter("scoreline_predictions", "Fixtures forecast",
                                    ["competition", "endpoint"])
        self._results = Counter("scoreline_results", "Final scores received", ["competition"])
        info = Gauge("scoreline_model_info", "The champion serving each competition (value 1)",
                     ["competition", "model_name", "model_version", "bento_model"],
                     multiprocess_mode="max")
        for code, forecaster in forecasters.items():
            info.labels(code, forecaster.model_name, forecaster.version, str(models[code].tag)).set(1)
        self._children: dict[tuple, Any] = {}

    def predicted(self, code: str, endpoint: str, n: int) -> None:
        child = self._children.get((code, endpoint))
        if child is None:
            child = self._children[(code, endpoint)] = self._predictions.labels(code, endpoint)
        child.inc(n)

    def results(self, code: str, n: int) -> None:
        self._results.labels(code).inc(n)


# champions as class attributes: what `bentoml build` packs into the bento
for _code, _model in CHAMPIONS.items():
    setattr(Scoreline, _attribute(_code), bentoml.models.BentoModel(_model.tag))

Scoreline = bentoml.service(
    name="scoreline",
    workers=SETTINGS.serve_workers,
    # a few threads per worker: small requests keep flowing while a big batch is forecast
    threads=4,
    traffic={"timeout": 300},
    logging={"access": {"enabled": False}},
    tracing=_tracing_config(),
)(bentoml.asgi_app(routes, path="/")(Scoreline))
Scoreline.add_asgi_middleware(JsonBodies)
Scoreline.add_asgi_middleware(
    AccessControl,
    keys=parse_api_keys(SETTINGS.api_keys, SETTINGS.rate_limit_per_minute),
    default_limit=SETTINGS.rate_limit_per_minute,
    limiter_path=SETTINGS.registry_path / "rate_limits.db",
    protected={"/results"},
)
