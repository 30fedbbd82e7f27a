"""Where independent pieces of work run: in this process, or on a Dask cluster.

Backtests, tuning and replays split into pieces that share one large input (the feature frame)
and differ by a small item (a model, a trial). An :class:`Engine` maps a function over the items
with the shared input shipped once per worker, and returns results in item order, so the caller
assembles exactly what a serial loop would have produced.

``open_engine`` picks the engine from the settings: ``SCORELINE_DASK_SCHEDULER=tcp://host:8786``
uses a running Dask cluster (``dask scheduler`` / ``dask worker`` on any machines), else
``SCORELINE_ENGINE=local`` (the default) a local cluster of processes sized to the machine, or
``serial`` for one process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from scoreline.config import Settings

T = TypeVar("T")
R = TypeVar("R")


class Engine(Protocol):
    """Maps ``fn(item, **shared)`` over ``items``; results in item order. ``on_done`` hears of
    each result as it arrives (in any order): how long work shows progress. ``spread`` puts the
    items on distinct workers in turn, for items meant to run side by side (a tuning worker's
    share of trials) rather than wherever the scheduler finds room first."""

    name: str

    @property
    def workers(self) -> int: ...

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        shared: dict[str, Any] | None = None,
        on_done: Callable[[R], None] | None = None,
        spread: bool = False,
    ) -> list[R]: ...


class SerialEngine:
    """Everything in this process, one item after the other (the reference for identical results)."""

    name = "serial"
    workers = 1

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        shared: dict[str, Any] | None = None,
        on_done: Callable[[R], None] | None = None,
        spread: bool = False,
    ) -> list[R]:
        results = []
        for item in items:
            results.append(fn(item, **(shared or {})))
            if on_done:
                on_done(results[-1])
        return results


class DaskEngine:
    """Items as tasks on a Dask cluster; the shared inputs are scattered once to every worker,
    so a frame of features crosses the network once per worker, not once per task."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        shared: dict[str, Any] | None = None,
        on_done: Callable[[R], None] | None = None,
        spread: bool = False,
    ) -> list[R]:
        if not items:
            return []
        from distributed import as_completed

        scattered = {k: self.client.scatter(v, broadcast=True) for k, v in (shared or {}).items()}
        addresses = sorted(self.client.scheduler_info(n_workers=-1)["workers"]) if spread else []
        futures = [
            self.client.submit(
                fn,
                item,
                pure=False,
                # loose: if a worker leaves, another takes its item
                workers=[addresses[i % len(addresses)]] if addresses else None,
                allow_other_workers=bool(addresses),
                **scattered,
            )
            for i, item in enumerate(items)
        ]
        if on_done:
            for future in as_completed(futures):
                on_done(future.result())
        return list(self.client.gather(futures))


def machine_workers() -> int:
    """Worker processes for a local cluster: one per CPU core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


@contextlib.contextmanager
def local_cluster(workers: int | None = None) -> Iterator[DaskEngine]:
    """A Dask cluster of ``workers`` single-threaded processes on this machine, closed on exit.
    Single-threaded: the models hold the GIL, so only processes add throughput."""
    from distributed import Client, LocalCluster

    n = workers or machine_workers()
    with (
        LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        yield DaskEngine(client, f"local:{n}")


@contextlib.contextmanager
def remote_cluster(address: str) -> Iterator[DaskEngine]:
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``); the cluster stays up."""
    from distributed import Client

    try:
        client = Client(address, timeout="20s")
    except OSError as err:
        raise ConnectionError(f"no Dask scheduler at {address} (SCORELINE_DASK_SCHEDULER): {err}") from None
    with client:
        yield DaskEngine(client, address)


@contextlib.contextmanager
def open_engine(settings: Settings, kind: str | None = None) -> Iterator[Engine]:
    """The engine to run on: ``kind`` ("serial", "local" or "dask") when given, else the Dask
    scheduler at ``settings.dask_scheduler`` when set, else ``settings.engine``."""
    kind = kind or ("dask" if settings.dask_scheduler else settings.engine)
    if kind == "serial":
        yield SerialEngine()
    elif kind == "local":
        with local_cluster(settings.engine_workers) as engine:
            yield engine
    elif kind == "dask":
        if not settings.dask_scheduler:
            raise ValueError("engine 'dask' needs SCORELINE_DASK_SCHEDULER=tcp://host:8786")
        with remote_cluster(settings.dask_scheduler) as engine:
            yield engine
    else:
        raise ValueError(f"engine must be 'serial', 'local' or 'dask', not {kind!r}")
