"""Big batches off the hot path: the service's batch processes and its batch jobs.

A worker answering a 10,000-fixture batch itself holds the GIL for most of a second, and every
``/predict`` that reaches it meanwhile waits (p99 above one second in
``benchmarks/serve_load.py``). So a ``/predict_batch`` of more than
``serve_batch_offload_rows`` fixtures, and every batch job, is answered by a :class:`BatchPool`:
processes of the worker's own (spawned, each loading the worker's champions once, at a lower CPU
priority) that parse the body, check it, forecast, store the forecasts and write the answer to a
file, which the worker then streams. The worker only moves bytes; a small batch stays inline,
where it costs no hand-over.

Batch jobs (submit, then poll the status, then fetch the answer) live in a :class:`JobStore`:
one folder every worker of the service reads, holding a status file per job (replaced whole, so
never half-written) and, once the job is done, its answer. A job whose worker is gone (the
service stopped or was killed while it ran) reads as failed, never as running forever.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import multiprocessing
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic
import pydantic_core

import scoreline
from scoreline.serving.answers import Answers, Rejected
from scoreline.serving.heap import freeze_loaded_heap, paused_collection, release_free_memory
from scoreline.serving.schemas import BatchJob, PredictBatchRequest

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BatchPool", "JobStore", "check_batch", "fixtures_in", "parse_batch", "run_batch", "run_job"]

#: every fixture's one required key that no other object of a batch has
FIXTURE_KEY = b'"competition"'
#: a job id: 32 lower-case hexadecimal digits (anything else is no job's)
JOB_ID = re.compile(r"[0-9a-f]{32}")
#: validation errors listed in a 400's detail
MAX_LISTED = 10


def fixtures_in(body: bytes) -> int:
    """How many fixtures a /predict_batch body holds at most, without parsing it: each fixture
    names its competition once (a team name holding the key's quoted text only raises the
    count, which only sends a batch to the batch processes: the same answer)."""
    return body.count(FIXTURE_KEY)


def parse_batch(body: bytes) -> list[dict]:
    """The fixtures of a /predict_batch body (validated as the API's schema says), or
    :class:`Rejected` 400 naming the first bad row and field (``fixtures[3].prices.home``)."""
    try:
        return PredictBatchRequest.model_validate_json(body).fixtures  # type: ignore[return-value]
    except pydantic.ValidationError as error:
        problems = error.errors(include_url=False, include_input=False)
        detail = [{"loc": list(p["loc"]), "msg": p["msg"], "type": p["type"]} for p in problems]
        first = problems[0]
        raise Rejected(
            400, f"{_location(first['loc'])}: {first['msg']}" + _more(len(problems)), detail[:MAX_LISTED]
        ) from None


def _location(loc: tuple) -> str:
    """``("fixtures", 3, "prices", "home")`` as ``fixtures[3].prices.home``; ``body`` for the
    body as a whole (not JSON, not an object)."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
    return text or "body"


def _more(n: int) -> str:
    return f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""


# --------------------------------------------------------------------------- the batch processes

#: a batch process's own answers (its champions and prediction store), set once when it starts
_LOADED: dict[str, Answers] = {}


def _load_champions(tags: dict[str, str], store_url: str, niceness: int) -> None:
    """A batch process's start: the worker's champions (the same BentoML models) and the
    prediction store, loaded once for every batch it answers, then a lower priority (not before:
    the service is ready only once they are loaded)."""
    import bentoml

    from scoreline.predictions.store import PredictionStore
    from scoreline.serving import package

    forecasters = {code: package.load_forecaster(bentoml.models.get(tag)) for code, tag in tags.items()}
    _LOADED["answers"] = Answers(forecasters, PredictionStore(store_url))
    freeze_loaded_heap()
    os.nice(niceness)


def _answers() -> Answers:
    return _LOADED["answers"]


def check_batch(body: bytes) -> tuple[int, Any]:
    """In a batch process: every check of /predict_batch but the forecast. Returns 200 and the
    number of fixtures, or the refusal's HTTP status and body (an exception that crosses
    processes must pickle: a :class:`Rejected` does not)."""
    try:
        fixtures = parse_batch(body)
        _answers().check(fixtures, single=False)
    except Rejected as rejected:
        return rejected.status, rejected.body()
    return 200, len(fixtures)


def run_batch(body: bytes, path: str) -> tuple[int, dict[str, int], int]:
    """In a batch process: answer ``body`` as /predict_batch does (the forecasts stored first),
    the answer (or the refusal) written to ``path``. Returns the HTTP status, the fixtures
    forecast per competition and this process's id."""
    with paused_collection():
        try:
            records = _answers().forecast(parse_batch(body), single=False)
        except Rejected as rejected:
            _write(Path(path), pydantic_core.to_json(rejected.body()))
            return rejected.status, {}, os.getpid()
        _write(Path(path), pydantic_core.to_json({"predictions": records}))
        counts = dict(Counter(record["competition"] for record in records))
        del records
    release_free_memory()  # a big batch's freed heap back to the system, not kept batch after batch
    return 200, counts, os.getpid()


def run_job(folder: str, job_id: str, body: bytes) -> dict[str, int]:
    """In a batch process: run a submitted job (status ``running``, then ``done`` with its answer
    or ``failed`` with the reason); returns the fixtures forecast per competition."""
    jobs = JobStore(Path(folder))
    jobs.update(job_id, status="running", started_at=_now())
    status, counts, _ = run_batch(body, str(jobs.answer_path(job_id)))
    if status == 200:
        jobs.update(job_id, status="done", finished_at=_now(), result=f"/batch_jobs/{job_id}/result")
    else:  # checked at submission; a date check may still differ a day later
        error = json.loads(jobs.answer_path(job_id).read_bytes())["error"]
        jobs.answer_path(job_id).unlink(missing_ok=True)
        jobs.update(job_id, status="failed", finished_at=_now(), error=f"{status}: {error}")
    return counts


class BatchPool:
    """A worker's batch processes (``processes`` of them, started now so the first big batch
    need not wait for its champions to load): spawned, never forked from a worker running
    threads and an event loop. A pool whose process died (killed, out of memory) is replaced for
    the next batch; the batches it held fail."""

    def __init__(self, tags: dict[str, str], store_url: str, processes: int, niceness: int) -> None:
        self._start = (tags, store_url, niceness)
        self.processes = processes
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        """A pool whose processes are all spawned now, importing this code: a spawned process
        starts from its parent's ``sys.path``, where MLflow has put each loaded model's bundled
        copy of the code first (which may be older than the code serving it)."""
        pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load_champions,
            initargs=self._start,
        )
        root = str(Path(scoreline.__file__).resolve().parents[1])
        sys.path.insert(0, root)
        try:  # each submission spawns one process, until all are
            self._started = [pool.submit(os.getpid) for _ in range(self.processes)]
        finally:
            sys.path.remove(root)
        return pool

    def ready(self) -> bool:
        """Whether every batch process has loaded its champions."""
        return all(started.done() and started.exception() is None for started in self._started)

    def submit(self, function: Callable[..., Any], *args: Any) -> Future:
        """``function(*args)`` in a batch process."""
        with self._lock:
            try:
                return self._pool.submit(function, *args)
            except RuntimeError:  # BrokenProcessPool (a RuntimeError): start a new pool
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(function, *args)

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in a batch process, awaited without holding up the event loop."""
        return await asyncio.wrap_future(self.submit(function, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- the jobs


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` whole or not at all (a reader sees the old file or the new one)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobStore:
    """Batch jobs in ``folder``: ``<id>.json`` (the status, with the id of the worker process
    that owns the job) and ``<id>.answer.json`` (the answer of a done job). Jobs last ``hours``
    after their last change."""

    def __init__(self, folder: Path, hours: float = 24.0) -> None:
        self.folder = folder
        self.hours = hours
        folder.mkdir(parents=True, exist_ok=True)

    def status_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def answer_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.answer.json"

    def scratch_path(self) -> Path:
        """A file for a big /predict_batch answer on its way out (the caller deletes it)."""
        return self.folder / f"batch-{uuid.uuid4().hex}.json"

    def new(self, fixtures: int) -> BatchJob:
        """A queued job owned by this process."""
        self.prune()
        job = BatchJob(job_id=uuid.uuid4().hex, status="queued", fixtures=fixtures, submitted_at=_now())
        self._save(job, os.getpid())
        return job

    def get(self, job_id: str) -> BatchJob | None:
        """The job, or None for an id no job has (or had within the last ``hours``). A queued or
        running job whose owner process is gone reads as failed."""
        if not JOB_ID.fullmatch(job_id):
            return None
        try:
            stored = json.loads(self.status_path(job_id).read_bytes())
        except FileNotFoundError:
            return None
        job = BatchJob.model_validate(stored)
        if job.status in ("queued", "running") and not _alive(stored["owner"]):
            return job.model_copy(
                update={"status": "failed", "error": "the service worker running it stopped"}
            )
        return job

    def update(self, job_id: str, **changes: Any) -> BatchJob:
        stored = json.loads(self.status_path(job_id).read_bytes())
        job = BatchJob.model_validate({**stored, **changes})
        self._save(job, stored["owner"])
        return job

    def _save(self, job: BatchJob, owner: int) -> None:
        stored = {**job.model_dump(mode="json"), "owner": owner}
        _write(self.status_path(job.job_id), json.dumps(stored).encode())

    def prune(self) -> None:
        """Delete the jobs (and stray answers) unchanged for ``hours``."""
        oldest = time.time() - self.hours * 3600
        for path in self.folder.glob("*.json"):
            try:
                if path.stat().st_mtime < oldest:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
