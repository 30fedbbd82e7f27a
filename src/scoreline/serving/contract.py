"""The service's documents made to say what the service does: its OpenAPI document and its
home page.

BentoML writes the schema of its own APIs (``/predict``, ``/predict_batch``, ``/live/predict``)
and FastAPI that of the mounted routes; both leave out what a client, or a fuzzer such as
schemathesis, needs to know: the 422 answers (unknown team, the same team twice), the body of
a 400 (``detail`` is a list of problems, not a string), that a body is required, a 400 for a
body that is not JSON on the mounted routes, which competitions and teams are served, and
groups and summaries a reader can scan (not "Service APIs" and "default"). The
:class:`Contract` middleware rewrites ``/docs.json`` on its way out with :func:`contract_spec`,
and :func:`refuse_unknown_query` turns a query parameter no route declares into a 422. ``/`` is
the API reference (Swagger UI on that document) under a header that says what the service is
and links to the match centre, instead of BentoML's stock page (version "None", and badges and
a tag manager fetched from the internet, broken offline).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import FileResponse

import scoreline

__all__ = ["Contract", "contract_spec", "refuse_unknown_query"]

#: the routes BentoML serves itself, whose 422 answers it cannot document
BENTOML_APIS = ("/predict", "/predict_batch", "/live/predict")
ERROR = "#/components/schemas/InvalidArgument"
#: a 4xx body: the message names the field (and row); ``detail`` holds one entry per problem
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "InvalidArgument",
    "description": "A refused request",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "title": "Message",
            "description": "what is wrong, field (and row) named",
        },
        "detail": {
            "type": "array",
            "items": {"type": "object"},
            "description": "one entry per problem: loc/msg/type, or row/field/team/suggestions",
        },
    },
}


#: the reference's groups, in order, with a description (BentoML's "Infrastructure" stays)
TAGS = {
    "Forecasts": "A champion's forecast of one fixture or a batch; a big batch as a job in the background",
    "Live": "In-game forecasts: one state of a game, or every forecast as it is made",
    "Served": "What the service forecasts: its champions, their teams, the coming fixtures",
    "Results and monitoring": "Results that settle the forecasts; how the champions are doing",
}
#: each operation's group and summary (else BentoML's APIs read "Service APIs" with no summary,
#: and every mounted route "default" with its function's name)
OPERATIONS = {
    "POST /predict": ("Forecasts", "Forecast one fixture"),
    "POST /predict_batch": ("Forecasts", "Forecast a batch of fixtures (up to 100,000)"),
    "POST /batch_jobs": ("Forecasts", "Submit a batch to be forecast in the background"),
    "GET /batch_jobs/{job_id}": ("Forecasts", "A batch job's status"),
    "GET /batch_jobs/{job_id}/result": ("Forecasts", "A done batch job's forecasts"),
    "POST /live/predict": ("Live", "Forecast a game in progress"),
    "GET /live/stream": ("Live", "Every live forecast of a competition, as Server-Sent Events"),
    "GET /models": ("Served", "The champions served"),
    "GET /teams": ("Served", "The teams a competition's champion knows"),
    "GET /upcoming": ("Served", "Stored forecasts of the coming fixtures"),
    "POST /results": ("Results and monitoring", "Record results (they settle the forecasts)"),
    "GET /monitoring": ("Results and monitoring", "A champion's latest drift and accuracy check"),
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ERROR}}}}


def _fixture_variants(schema: dict[str, Any], teams: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``schema`` (a fixture's) restricted to the served competitions; where the teams are known,
    one variant per competition whose team names are an enum of its teams."""
    served = sorted(teams)
    if not served:
        return schema
    if not all(teams[code] for code in served):
        limited = copy.deepcopy(schema)
        limited["properties"]["competition"]["enum"] = served
        return limited
    variants = []
    for code in served:
        variant = copy.deepcopy(schema)
        variant.pop("example", None)
        variant["title"] = f"{schema.get('title', 'Fixture')} ({code})"
        variant["properties"]["competition"] = {"type": "string", "enum": [code]}
        for side in ("home_team", "away_team"):
            variant["properties"][side] = {
                "type": "string",
                "enum": sorted(teams[code]),
                "description": f"a team the {code} champion knows (GET /teams)",
            }
        variants.append(variant)
    return {"oneOf": variants, "title": schema.get("title", "Fixture")}


def contract_spec(spec: dict[str, Any], teams: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """``spec`` (BentoML's ``/docs.json``) amended; ``teams``: the served competitions' teams
    (an empty list where unknown)."""
    spec = copy.deepcopy(spec)
    spec["info"] = {
        "title": "Scoreline prediction service",
        "version": scoreline.__version__,
        "description": "Forecasts of each competition's champion model: probabilities, fair odds, "
        "edges against given prices, likeliest scores or margins. Match centre: /ui/",
    }
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["InvalidArgument"] = ERROR_SCHEMA
    for name in ("FixtureIODescriptor", "FixtureRow"):
        if name in schemas:
            schemas[name] = _fixture_variants(schemas[name], teams)
    # BentoML inlines a single fixture's schema: point it at the amended component
    predict = spec.get("paths", {}).get("/predict", {}).get("post", {}).get("requestBody", {})
    body = predict.get("content", {}).get("application/json", {})
    if body.get("schema", {}).get("title") == "FixtureIODescriptor" and "FixtureIODescriptor" in schemas:
        body["schema"] = {"$ref": "#/components/schemas/FixtureIODescriptor"}
    # a batch job's body is a /predict_batch body (the route reads it raw: no schema of its own)
    batch = spec.get("paths", {}).get("/predict_batch", {}).get("post", {}).get("requestBody")
    jobs = spec.get("paths", {}).get("/batch_jobs", {}).get("post")
    if batch is not None and jobs is not None:
        jobs["requestBody"] = copy.deepcopy(batch)
    kept = [tag for tag in spec.get("tags", []) if tag["name"] not in {"Service APIs", *TAGS}]
    spec["tags"] = [{"name": name, "description": text} for name, text in TAGS.items()] + kept
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if f"{method.upper()} {path}" in OPERATIONS:
                tag, operation["summary"] = OPERATIONS[f"{method.upper()} {path}"]
                operation["tags"] = [tag]
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
                responses.setdefault("400", _error("the body is not valid JSON or breaks the schema"))
            if path in BENTOML_APIS:
                responses["400"] = _error("the body breaks the schema (field named in error)")
                responses["422"] = _error(
                    "a check the schema cannot express: the same team twice, a draw price in a "
                    "two-way sport, too many dates, a competition or team no champion serves"
                )
            if method == "get" and operation.get("parameters"):
                responses.setdefault("422", _error("a bad or unknown query parameter"))
    return spec


class Contract:
    """ASGI middleware: ``GET /docs.json`` answered with :func:`contract_spec` of BentoML's,
    ``GET /`` with the ``home`` page."""

    def __init__(self, app, teams: Callable[[], Mapping[str, Sequence[str]]], home: Path) -> None:
        self.app, self.teams, self.home = app, teams, home

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and scope["method"] in ("GET", "HEAD"):
            await FileResponse(self.home, media_type="text/html")(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"] != "/docs.json" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def collect(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                body.extend(message.get("body", b""))

        await self.app(scope, receive, collect)
        if start.get("status") == 200:
            body = bytearray(json.dumps(contract_spec(json.loads(body), self.teams())).encode())
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": bytes(body)})


def refuse_unknown_query(request: Request) -> None:
    """A FastAPI dependency: a query parameter the route does not declare is a 422 naming it
    (a typo such as ``?day=3`` would otherwise be answered as if it were absent)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared: set[str] = set()
    stack = [dependant]
    while stack:  # the route's own parameters and those of its dependencies
        current = stack.pop()
        declared.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; known: {sorted(declared)}",
                    "type": "extra_forbidden",
                }
                for name in unknown
            ]
        )
