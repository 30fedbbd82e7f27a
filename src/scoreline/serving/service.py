"""The BentoML prediction service: every competition's champion behind one HTTP API.

* ``POST /predict`` (one fixture) and ``POST /predict_batch`` (up to 100,000) are BentoML APIs:
  probabilities, fair odds, edges against given prices, the champion's detail (likeliest scores
  and expected goals; margin and total with intervals), model name and version.
* ``GET /teams``, ``GET /models``, ``POST /results`` (API key), ``GET /upcoming`` and
  ``GET /monitoring`` are a mounted FastAPI app, which also serves the match-centre page at
  ``/ui/``.
* Live in-game forecasts (:mod:`scoreline.serving.live`): ``GET /live/stream?competition=NBA``
  pushes every forecast the live loop stores as Server-Sent Events (resume with
  ``Last-Event-ID``); ``POST /live/predict`` (a BentoML API) forecasts the half-time margin from
  an 18-minute pattern with the exported in-game champion; ``POST /results`` takes half-time
  scores too, which score the live forecasts.
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
import functools
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bentoml
import pydantic
import pydantic_core
from fastapi import Depends, FastAPI, Query
from fastapi.exceptions import RequestValidationError
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.staticfiles import StaticFiles

from scoreline.config import Settings
from scoreline.monitoring.summaries import latest_monitoring_summary, monitoring_dir
from scoreline.serving import package
from scoreline.serving.answers import Answers, Rejected
from scoreline.serving.batch_jobs import BatchPool, JobStore, check_batch, fixtures_in, run_batch, run_job
from scoreline.serving.contract import Contract, refuse_unknown_query
from scoreline.serving.heap import freeze_loaded_heap, release_free_memory
from scoreline.serving.limits import AccessControl, parse_api_keys
from scoreline.serving.live import LiveBroadcaster, LiveMetrics
from scoreline.serving.matchcentre import monitoring_status
from scoreline.serving.schemas import (
    BatchJob,
    CompetitionCode,
    Fixture,
    HalftimeAnswer,
    HalftimeRequest,
    ModelInfo,
    MonitoringStatus,
    PredictBatchRequest,
    Prediction,
    PredictionBatch,
    ResultsAccepted,
    ResultsRequest,
    TeamList,
    UpcomingList,
)
from scoreline.serving.timeout import use_in_bentoml

if TYPE_CHECKING:
    from scoreline.forecasts.forecaster import Forecaster

logger = logging.getLogger("scoreline.serving")

PREDICT_ROUTES = ("/predict", "/predict_batch", "/live/predict")
#: the live stream: OpenTelemetry's ASGI middleware would make a span of every event sent to every
#: subscriber (500 subscribers of a night at 60x: ~20,000 spans a second)
STREAM_ROUTES = ("/live/stream",)

# The worker's configuration, read once from its environment: BentoML takes the service's
# settings (workers, models, middleware) when the class is decorated.
SETTINGS = Settings()
CHAMPIONS = package.served_models(SETTINGS.serve_competitions)
INGAME_CHAMPIONS = package.served_ingame_models(SETTINGS.serve_competitions)
if not CHAMPIONS:
    raise RuntimeError(
        f"no champion models in the BentoML store at {SETTINGS.bentoml_home}: "
        "promote a model, then run `scoreline package` (or `make serve`)"
    )


def _response(rejected: Rejected) -> JSONResponse:
    return JSONResponse(rejected.body(), status_code=rejected.status)


def _refusal(description: str) -> dict:
    """An answer documented as a refusal (its body: the Contract's ``InvalidArgument``)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InvalidArgument"}}},
    }


def _tracing_config() -> dict:
    """Leave the prediction routes out of OpenTelemetry unless an exporter is configured (with
    nothing collecting, BentoML's per-request spans cost about half of a /predict's CPU), and
    the live stream always."""
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer

        exporter = BentoMLContainer.config.tracing.exporter_type.get()
    except Exception:  # configuration not loaded: BentoML's default, no exporter
        exporter = None
    return {"excluded_urls": list(STREAM_ROUTES if exporter else PREDICT_ROUTES + STREAM_ROUTES)}


class JsonBodies:
    """ASGI middleware: a POST body must be JSON. BentoML would parse other media types itself
    (and answer a multipart type without a boundary with a 500)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            kind = next((v for k, v in scope["headers"] if k == b"content-type"), b"application/json")
            if kind.split(b";")[0].strip().lower() != b"application/json":
                await JSONResponse({"error": "Content-Type must be application/json"}, status_code=415)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


class BatchOffload:
    """ASGI middleware: a /predict_batch of more than ``rows`` fixtures is answered by the
    worker's batch processes (:mod:`scoreline.serving.batch_jobs`), not parsed in the worker;
    a smaller one goes on to the BentoML API as it came."""

    def __init__(self, app, rows: int) -> None:
        self.app = app
        self.rows = rows

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/predict_batch":
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if fixtures_in(body) <= self.rows:
            await self.app(scope, _replayed(body, receive), send)
            return
        response = await bentoml.get_current_service().offload_batch(body)
        await response(scope, receive, send)


def _replayed(body: bytes, receive):
    """``receive`` that first hands over ``body`` (already read) again."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def again():
        return pending.pop() if pending else await receive()

    return again


routes = FastAPI(
    title="scoreline",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    dependencies=[Depends(refuse_unknown_query)],
)


@routes.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own 4xx (a body that is not JSON: 400) in the service's error shape."""
    return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)


@routes.exception_handler(RequestValidationError)
async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
    """The mounted routes' validation errors in the shape of the BentoML APIs' ones."""
    detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse({"error": f"{len(detail)} validation error(s)", "detail": detail}, status_code=422)


# the match-centre page: static files (no build step), the service's home page
UI_FOLDER = Path(__file__).with_name("ui")
routes.mount("/ui", StaticFiles(directory=UI_FOLDER, html=True), name="ui")


@routes.get("/favicon.ico", include_in_schema=False)
def _favicon() -> FileResponse:
    return FileResponse(UI_FOLDER / "favicon.svg", media_type="image/svg+xml")


@routes.get("/ui", include_in_schema=False)  # `/` is the API reference (serving.contract)
def _home() -> RedirectResponse:
    return RedirectResponse("/ui/")


class Scoreline:
    """Forecasts of every exported champion; one instance per worker process."""

    def __init__(self) -> None:
        from scoreline.predictions.store import PredictionStore  # workers only, not the arbiter

        self.models: dict[str, bentoml.Model] = self._stored_models()
        self.forecasters: dict[str, Forecaster] = {
            code: package.load_forecaster(stored) for code, stored in self.models.items()
        }
        self.store = PredictionStore(SETTINGS.prediction_store)
        self.answers = Answers(self.forecasters, self.store)
        self.jobs = JobStore(SETTINGS.batch_jobs_dir, SETTINGS.serve_batch_job_hours)
        self.batches = BatchPool(
            {code: str(stored.tag) for code, stored in self.models.items()},
            SETTINGS.prediction_store,
            SETTINGS.serve_batch_processes,
            SETTINGS.serve_batch_niceness,
        )
        self.metrics = ServiceMetrics(self.forecasters, self.models)
        self.ingame = {code: package.load_ingame(stored) for code, stored in self._stored_ingame().items()}
        self.live_metrics = LiveMetrics(recorder=_first_worker(), window=SETTINGS.live_coverage_window)
        self.live = LiveBroadcaster(
            self.store, SETTINGS.live_poll_s, self.live_metrics.forecasts, self.live_metrics.subscribers
        )
        logging.getLogger("bentoml._internal.server.http_app").addFilter(_without_client_errors)
        frozen = freeze_loaded_heap()
        logger.info(
            "serving %s (%d objects frozen)",
            ", ".join(f"{c} {f.model_name} v{f.version}" for c, f in self.forecasters.items()),
            frozen,
        )

    def _stored_models(self) -> dict[str, bentoml.Model]:
        """The champions to load: those a bento was built with when serving one, else the
        store's latest (the class attributes declared below)."""
        bento = Scoreline.bento  # type: ignore[attr-defined]  # the Service object once decorated
        if bento is None:
            return {code: getattr(self, _attribute(code)) for code in CHAMPIONS}
        pinned = {m.tag.name: m.tag for m in bento.info.all_models}
        return {
            code: bentoml.models.get(pinned[package.bento_model_name(code)])
            for code in CHAMPIONS
            if package.bento_model_name(code) in pinned
        }

    def _stored_ingame(self) -> dict[str, bentoml.Model]:
        """The in-game champions: a bento's own when serving one, else the store's latest."""
        bento = Scoreline.bento  # type: ignore[attr-defined]  # the Service object once decorated
        if bento is None:
            return {code: getattr(self, _attribute(code, "ingame")) for code in INGAME_CHAMPIONS}
        pinned = {m.tag.name: m.tag for m in bento.info.all_models}
        return {
            code: bentoml.models.get(pinned[package.ingame_bento_name(code)])
            for code in INGAME_CHAMPIONS
            if package.ingame_bento_name(code) in pinned
        }

    @bentoml.on_startup
    async def _start_live(self) -> None:
        """Read live forecasts from the worker's start (the metrics count them with no
        subscriber connected)."""
        self.live.start()

    @bentoml.on_shutdown
    async def _stop_live(self) -> None:
        await self.live.stop()
        self.batches.close()

    def __is_ready__(self) -> bool:
        """Every champion loaded, in the worker and in its batch processes."""
        return bool(self.forecasters) and len(self.forecasters) == len(self.models) and self.batches.ready()

    # -- forecasts -------------------------------------------------------------------------------
    @bentoml.api(route="/predict", input_spec=Fixture)
    def predict(self, **fixture: Any) -> Prediction:
        """Forecast one fixture (and log it)."""
        row = {**fixture, "prices": fixture["prices"].model_dump()}
        try:
            records = self._forecast([row], "/predict", single=True)
        except Rejected as rejected:
            return _response(rejected)  # type: ignore[return-value]  # BentoML sends Responses as they are
        return Response(pydantic_core.to_json(records[0]), media_type="application/json")  # type: ignore[return-value]

    @bentoml.api(route="/predict_batch", input_spec=PredictBatchRequest)
    def predict_batch(self, fixtures: list[dict]) -> PredictionBatch:
        """Forecast many fixtures at once (and log them), answers in request order. More than
        ``serve_batch_offload_rows`` fixtures are answered by the batch processes (the
        X-Forecast-Process header names the process that forecast them)."""
        try:
            records = self._forecast(fixtures, "/predict_batch", single=False)
        except Rejected as rejected:
            return _response(rejected)  # type: ignore[return-value]  # BentoML sends Responses as they are
        return Response(  # type: ignore[return-value]
            pydantic_core.to_json({"predictions": records}),
            media_type="application/json",
            headers={"X-Forecast-Process": str(os.getpid())},
            background=BackgroundTask(release_free_memory),
        )  # once it is sent

    async def offload_batch(self, body: bytes) -> Response:
        """A big /predict_batch (its body as sent) answered by a batch process (see
        :class:`BatchOffload`): the answer streamed from the file it wrote, then deleted."""
        path = self.jobs.scratch_path()
        try:
            status, counts, pid = await self.batches.run(run_batch, body, str(path))
        except Exception:
            path.unlink(missing_ok=True)
            raise
        for code, n in counts.items():
            self.metrics.predicted(code, "/predict_batch", n)
        return FileResponse(
            path,
            status_code=status,
            media_type="application/json",
            headers={"X-Forecast-Process": str(pid)},
            background=BackgroundTask(path.unlink, missing_ok=True),
        )

    def _forecast(self, fixtures: list[dict], endpoint: str, single: bool) -> list[dict]:
        """The answers (see :meth:`Answers.forecast`), counted in the metrics."""
        records = self.answers.forecast(fixtures, single)
        for code, n in Counter(record["competition"] for record in records).items():
            self.metrics.predicted(code, endpoint, n)
        return records

    # -- live in-game forecasts -------------------------------------------------------------------
    @bentoml.api(route="/live/predict", input_spec=HalftimeRequest)
    def live_predict(self, **request: Any) -> HalftimeAnswer:
        """The half-time margin forecast from the first 18 minutes' margins, with its interval,
        nominal coverage and explanation."""
        code = request["competition"]
        model = self.ingame.get(code)
        if model is None:
            served = ", ".join(self.ingame) or "none"
            return _response(Rejected(404, f"no in-game champion serves {code}; served: {served}"))  # type: ignore[return-value]
        try:
            forecast = model.halftime(request["pattern"], request["spread"], request.get("total"))
        except ValueError as error:  # the model's own checks of its inputs
            return _response(Rejected(422, str(error)))  # type: ignore[return-value]
        answer = HalftimeAnswer(
            competition=code,
            game_id=request.get("game_id"),
            halftime_differential=forecast.forecast,
            lower=forecast.lower,
            upper=forecast.upper,
            coverage_probability=forecast.coverage_probability,
            intervals=[
                {"level": k, "lower": lo, "upper": hi} for k, (lo, hi) in sorted(forecast.intervals.items())
            ],
            explanation=forecast.explanation,
            model_name=model.model_name,
            model_version=model.version,
            timestamp=dt.datetime.now(dt.UTC),
        )
        return Response(answer.model_dump_json(), media_type="application/json")  # type: ignore[return-value]

    @routes.get(
        "/live/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    def live_stream(
        self,
        request: Request,
        competition: CompetitionCode = Query(description="competition code"),
        last_event_id: int | None = Query(
            None, ge=0, description="resume after this id (or the Last-Event-ID header)"
        ),
    ):
        """Every live forecast of a competition as Server-Sent Events (``event: forecast``, id =
        the forecast's store id, data = the forecast as JSON): first those after
        ``Last-Event-ID`` (without one, those of the last hours), then each as it is made."""
        header = request.headers.get("last-event-id")
        if header is not None and last_event_id is None:
            if not header.strip().isdigit():
                return _response(Rejected(400, f"Last-Event-ID: {header!r} is not a forecast id"))
            last_event_id = int(header)
        return StreamingResponse(
            self.live.stream(competition, last_event_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- batch jobs ------------------------------------------------------------------------------
    @routes.post(
        "/batch_jobs",
        status_code=202,
        response_model=BatchJob,
        # the body: that of POST /predict_batch, read raw here and documented by the Contract
        responses={
            202: {
                "description": "queued; its status and then its answer are linked",
                "links": {
                    name: {"operationId": name, "parameters": {"job_id": "$response.body#/job_id"}}
                    for name in ("batch_job", "batch_job_result")
                },
            },
            400: _refusal("the body breaks the schema (row and field named in error)"),
            422: _refusal("an unknown team, the same team twice, a competition no champion serves"),
        },
    )
    async def submit_batch_job(self, request: Request):
        """Submit a batch (the body of POST /predict_batch) to be answered in the background:
        every check runs first (a bad row is refused here, named), then the job is queued for
        the batch processes. Poll GET /batch_jobs/{job_id}, then fetch its result."""
        body = await request.body()
        status, checked = await self.batches.run(check_batch, body)
        if status != 200:
            return JSONResponse(checked, status_code=status)
        job = self.jobs.new(checked)
        done = self.batches.submit(run_job, str(self.jobs.folder), job.job_id, body)
        done.add_done_callback(functools.partial(self._job_ended, job.job_id))
        return JSONResponse(
            job.model_dump(mode="json"), status_code=202, headers={"Location": f"/batch_jobs/{job.job_id}"}
        )

    def _job_ended(self, job_id: str, future) -> None:
        """Count a job's forecasts, or mark it failed when its batch process could not run it."""
        error = future.exception() if not future.cancelled() else RuntimeError("cancelled")
        if error is None:
            for code, n in future.result().items():
                self.metrics.predicted(code, "/batch_jobs", n)
            return
        logger.error("batch job %s failed: %r", job_id, error)
        self.jobs.update(job_id, status="failed", finished_at=dt.datetime.now(dt.UTC), error=repr(error))

    @routes.get(
        "/batch_jobs/{job_id}",
        operation_id="batch_job",
        response_model=BatchJob,
        responses={404: _refusal("no such job (or it ended more than a day ago)")},
    )
    def batch_job(self, job_id: str):
        """A batch job's status: queued, running, done (its result is ready) or failed (why)."""
        job = self.jobs.get(job_id)
        if job is None:
            return _response(Rejected(404, f"no batch job {job_id!r}"))
        return job

    @routes.get(
        "/batch_jobs/{job_id}/result",
        operation_id="batch_job_result",
        response_model=PredictionBatch,
        responses={
            404: _refusal("no such job (or it ended more than a day ago)"),
            409: _refusal("the job is not done (queued, running or failed)"),
        },
    )
    def batch_job_result(self, job_id: str):
        """A done batch job's answer: what POST /predict_batch would have answered."""
        job = self.jobs.get(job_id)
        if job is None:
            return _response(Rejected(404, f"no batch job {job_id!r}"))
        if job.status != "done":
            reason = f": {job.error}" if job.error else ""
            return _response(Rejected(409, f"batch job {job_id} is {job.status}{reason}"))
        return FileResponse(self.jobs.answer_path(job_id), media_type="application/json")

    # -- teams, models, results ------------------------------------------------------------------
    @routes.get(
        "/teams",
        response_model=TeamList,
        responses={404: {"description": "no champion serves the competition"}},
    )
    def teams(self, competition: CompetitionCode = Query(description="competition code")):
        """The teams a competition's champion knows, latest season's first."""
        forecaster = self.forecasters.get(competition)
        if forecaster is None:
            return _response(
                Rejected(404, f"no champion serves {competition}; served: {', '.join(self.forecasters)}")
            )
        return TeamList(
            competition=competition,
            model_version=forecaster.version,
            teams=forecaster.teams,
            current=len(forecaster.pyfunc.latest_teams),
        )

    @routes.get("/models", response_model=list[ModelInfo])
    def served(self) -> list[ModelInfo]:
        """Which champion (catalogue model and registry version) serves each competition."""
        return [
            ModelInfo(
                competition=code,
                model_name=f.model_name,
                model_version=f.version,
                registered_model=self.models[code].info.labels.get("registered_model", ""),
                bento_model=str(self.models[code].tag),
                outcomes=list(f.outcomes),
                teams=len(f.teams),
            )
            for code, f in self.forecasters.items()
        ]

    @routes.post(
        "/results",
        response_model=ResultsAccepted,
        responses={
            401: {"description": "no API key"},
            403: {"description": "bad API key"},
            422: {"description": "unknown team, future date or bad score"},
        },
    )
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
                    Answers.check_teams(
                        forecaster,
                        [0],
                        [row["home_team"].strip()],
                        [row["away_team"].strip()],
                        lambda _, where=where: where,
                    )
            recorded = self.store.record_results(rows)
        except Rejected as rejected:
            return _response(rejected)
        except ValueError as error:  # the store's row checks (scores above a sport's maximum)
            return _response(Rejected(422, re.sub(r"^row (\d+):", r"results[\1]:", str(error))))
        for code in {r["competition"] for r in rows}:
            self.metrics.results(code, sum(r["competition"] == code for r in rows))
        settled = self.store.settle()
        halves = {
            (r["competition"], r["date"], r["home_team"].strip(), r["away_team"].strip())
            for r in rows
            if r.get("home_half") is not None
        }
        if halves:
            self.live_metrics.scored(self.store, {key[0] for key in halves}, halves)
        return ResultsAccepted(recorded=recorded, settled=settled)

    # -- match centre: upcoming fixtures, monitoring ---------------------------------------------
    @routes.get("/upcoming", response_model=UpcomingList)
    def upcoming(
        self,
        competition: CompetitionCode = Query(description="competition code"),
        days: int = Query(7, ge=0, le=90, description="fixtures up to this many days ahead"),
        limit: int = Query(500, ge=1, le=5000, description="at most this many fixtures"),
    ):
        """Stored forecasts of fixtures from today (UTC) on that have no result yet: the
        latest one per fixture, by date."""
        start = dt.datetime.now(dt.UTC).date()
        end = start + dt.timedelta(days=days)
        return UpcomingList(
            competition=competition,
            start=start,
            end=end,
            predictions=self.store.upcoming(competition, start, end, limit),
        )

    @routes.get("/monitoring", response_model=MonitoringStatus)
    def monitoring(self, competition: CompetitionCode = Query(description="competition code")):
        """The latest ``scoreline monitor`` run of a competition: when, drift, live scores,
        alerts; ``has_run`` false before the first."""
        summary = latest_monitoring_summary(monitoring_dir(SETTINGS, competition))
        return MonitoringStatus(**monitoring_status(competition, summary))


def _without_client_errors(record: logging.LogRecord) -> bool:
    """A log filter: BentoML logs a traceback for every body that fails validation, errors of
    the client's (answered 400), not the server's."""
    error = record.exc_info[1] if record.exc_info else None
    return not isinstance(error, pydantic.ValidationError)


def _attribute(code: str, kind: str = "champion") -> str:
    return f"{kind}_{code.lower()}"


def _first_worker() -> bool:
    """Whether this is the service's first worker (or BentoML runs no workers of its own)."""
    from bentoml._internal.context import server_context

    return server_context.worker_index in (None, 1)


class ServiceMetrics:
    """The service's own Prometheus metrics (BentoML's collector gathers every worker's)."""

    def __init__(self, forecasters: dict, models: dict) -> None:
        # imported here, in the worker, after BentoML has set up multi-process collection
        from prometheus_client import Counter, Gauge

        self._predictions = Counter("scoreline_predictions", "Fixtures forecast", ["competition", "endpoint"])
        self._results = Counter("scoreline_results", "Final scores received", ["competition"])
        info = Gauge(
            "scoreline_model_info",
            "The champion serving each competition (value 1)",
            ["competition", "model_name", "model_version", "bento_model"],
            multiprocess_mode="max",
        )
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
for _code, _model in INGAME_CHAMPIONS.items():
    setattr(Scoreline, _attribute(_code, "ingame"), bentoml.models.BentoModel(_model.tag))

use_in_bentoml()  # BentoML's own timeout middleware keeps every request for the whole timeout
Scoreline = bentoml.service(  # type: ignore[misc]  # the class becomes a bentoml Service
    name="scoreline",
    workers=SETTINGS.serve_workers,
    # a few threads per worker: small requests keep flowing while a big batch is forecast
    threads=4,
    traffic={"timeout": 300},
    logging={"access": {"enabled": False}},
    tracing=_tracing_config(),
    # two malloc arenas, not eight per core: with a thread per request, each thread's arena
    # keeps its own freed memory and a worker's resident size grew 150 MB more in a soak
    envs=[{"name": "MALLOC_ARENA_MAX", "value": "2"}],
)(bentoml.asgi_app(routes, path="/")(Scoreline))
Scoreline.add_asgi_middleware(JsonBodies)  # type: ignore[attr-defined]  # a bentoml Service now
Scoreline.add_asgi_middleware(  # type: ignore[attr-defined]
    Contract, teams=lambda: package.served_teams(CHAMPIONS), home=UI_FOLDER / "api.html"
)
Scoreline.add_asgi_middleware(  # type: ignore[attr-defined]
    AccessControl,
    keys=parse_api_keys(SETTINGS.api_keys, SETTINGS.rate_limit_per_minute),
    default_limit=SETTINGS.rate_limit_per_minute,
    limiter_path=SETTINGS.registry_path / "rate_limits.db",
    protected={"/results"},
)
# innermost: a refused key or a spent rate limit is answered before a batch is handed on
Scoreline.add_asgi_middleware(BatchOffload, rows=SETTINGS.serve_batch_offload_rows)  # type: ignore[attr-defined]
