"""The serving process's garbage-collector settings."""

from __future__ import annotations

import gc

import pytest

from scoreline.serving.heap import GC_THRESHOLDS, freeze_loaded_heap, paused_collection, release_free_memory


def test_the_loaded_heap_is_frozen_and_collections_are_rarer():
    thresholds = gc.get_threshold()
    kept = [[i] for i in range(10_000)]  # long-lived containers, as a loaded model has
    try:
        frozen = freeze_loaded_heap()
        # frozen objects can still die (a refcount reaching zero), so the count only falls
        assert frozen >= gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == GC_THRESHOLDS
        collected = {id(x) for generation in range(3) for x in gc.get_objects(generation=generation)}
        assert not any(id(x) in collected for x in kept)  # out of every collection
        garbage = []
        garbage.append(garbage)  # a cycle made after freezing is still collected
        del garbage
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_collection_pauses_for_a_batch_and_resumes_as_it_was():
    with pytest.raises(RuntimeError), paused_collection():
        assert not gc.isenabled()
        raise RuntimeError  # a refused batch
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_collection():
            pass
        assert not gc.isenabled()  # not switched on by the block
    finally:
        gc.enable()


def test_freed_memory_goes_back_to_the_system():
    import psutil

    process = psutil.Process()
    blocks = [bytearray(4096) for _ in range(50_000)]  # 200 MB in small heap chunks
    del blocks[:-1]  # freed, but the top of the heap keeps the rest mapped
    before = process.memory_info().rss
    release_free_memory()
    assert process.memory_info().rss < before - 100 * 2**20
