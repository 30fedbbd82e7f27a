"""Memory settings of a serving process: the garbage collector's, and returning freed heap.

A worker holds some 300,000 container objects once its champions are loaded (modules, the
model, its match history, pandas and scikit-learn internals), and CPython's full collection
walks every one of them: 150-400 ms during which the worker answers nothing, often enough to set
the 99th percentile of /predict latency at every concurrency (measured with
``benchmarks/serve_load.py``). Freezing the heap once the models are loaded takes those objects
out of every later collection (they live as long as the process anyway), and higher thresholds
make collections of what requests leave behind rarer.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
from collections.abc import Iterator

__all__ = ["GC_THRESHOLDS", "freeze_loaded_heap", "paused_collection", "release_free_memory"]

#: young-generation allocations before a collection, then collections of the younger
#: generation before the next one is collected (CPython's defaults: 700, 10, 10)
GC_THRESHOLDS = (10_000, 10, 10)


def freeze_loaded_heap() -> int:
    """Collect, then move every surviving object to the permanent generation and raise the
    collection thresholds; returns how many objects were frozen. Call once, after start-up."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return gc.get_freeze_count()


@contextlib.contextmanager
def paused_collection() -> Iterator[None]:
    """No garbage collection inside the block: a big batch allocates hundreds of thousands of
    objects that all live until its answer is written, so collections during it free nothing
    and cost 0.2 s of a 100,000-fixture batch. For a process answering one batch at a time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def release_free_memory() -> None:
    """Hand the allocator's free memory back to the operating system (glibc's ``malloc_trim``;
    nothing elsewhere). A large batch leaves tens of megabytes of freed but still mapped heap
    behind it, which the next one may not reuse whole: without this, a worker's resident size
    creeps up batch after batch. Runs without the GIL."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
