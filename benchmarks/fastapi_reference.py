"""The prediction endpoints as a plain FastAPI app on uvicorn: the yardstick of
``benchmarks/serve_load.py`` for what BentoML itself costs.

    BENTOML_HOME=... SCORELINE_PREDICTION_STORE_URL=... python benchmarks/fastapi_reference.py \
        --port 3100 --workers 1

It serves the same champions from the same BentoML model store, validates the same request
schemas and answers through the same :class:`scoreline.serving.answers.Answers` (forecast, then
the prediction store write), with the same garbage-collector settings
(:mod:`scoreline.serving.heap`), as the service; what it leaves out is BentoML's own machinery
(its HTTP app, metrics, tracing, the circus arbiter), API keys and rate limits. No access log,
like the service.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pydantic_core
import uvicorn
from fastapi import FastAPI
from starlette.responses import JSONResponse, Response

from scoreline.config import Settings
from scoreline.predictions import PredictionStore
from scoreline.serving import package
from scoreline.serving.answers import Answers, Rejected
from scoreline.serving.heap import freeze_loaded_heap
from scoreline.serving.schemas import Fixture, PredictBatchRequest


def create_app() -> FastAPI:
    """Every exported champion behind /predict and /predict_batch (one app per worker)."""
    settings = Settings()
    forecasters = {
        code: package.load_forecaster(stored)
        for code, stored in package.served_models(settings.serve_competitions).items()
    }
    answers = Answers(forecasters, PredictionStore(settings.prediction_store))
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    freeze_loaded_heap()  # as the service does: the comparison is of the frameworks

    def answer(fixtures: list[dict], single: bool, wrap) -> Response:
        try:
            records = answers.forecast(fixtures, single)
        except Rejected as rejected:
            return JSONResponse(rejected.body(), status_code=rejected.status)
        return Response(pydantic_core.to_json(wrap(records)), media_type="application/json")

    @app.post("/predict")
    def predict(fixture: Fixture) -> Response:
        return answer([fixture.model_dump()], True, lambda records: records[0])

    @app.post("/predict_batch")
    def predict_batch(body: PredictBatchRequest) -> Response:
        return answer(body.fixtures, False, lambda records: {"predictions": records})

    @app.get("/readyz")
    def ready() -> Response:
        return Response("ok")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "fastapi_reference:create_app",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
