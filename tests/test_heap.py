"""The engine hands freed heap memory back when its searches stop (search/heap.py)."""

from __future__ import annotations

import ctypes.util
import threading
import time

import pytest

from search.engine import Engine
from search.heap import HeapTrimmer
from search.request import SearchRequest


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, pad: int) -> int:
        self.count += 1
        return 1


def test_only_the_last_search_out_trims():
    calls = Calls()
    heap = HeapTrimmer(interval=0, trim=calls)
    with heap:
        with heap:
            pass
        assert calls.count == 0  # another search still holds its arrays
    assert calls.count == 1


def test_trims_at_most_once_per_interval():
    calls = Calls()
    heap = HeapTrimmer(interval=3600, trim=calls)
    heap._last -= 3600
    for _ in range(5):
        with heap:
            pass
    assert calls.count == 1


def test_a_failed_search_still_counts_as_ended():
    calls = Calls()
    heap = HeapTrimmer(interval=0, trim=calls)
    with pytest.raises(ValueError), heap:
        raise ValueError("bad query")
    with heap:
        pass
    assert calls.count == 2


def test_the_engine_trims_after_concurrent_searches(demo_index):
    engine = Engine(demo_index)
    calls = Calls()
    engine._heap = HeapTrimmer(interval=0, trim=calls)
    threads = [threading.Thread(target=engine.search, args=(SearchRequest(q="việt nam"),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= calls.count <= 4
    assert engine._heap._running == 0


def test_glibc_trim_is_found_here():
    # these machines run glibc: the trim must be the real one, not a no-op
    assert ctypes.util.find_library("c")
    assert HeapTrimmer()._trim is not None


def test_an_idle_process_is_trimmed_once_the_interval_is_over():
    calls = Calls()
    heap = HeapTrimmer(interval=0.3, trim=calls)
    with heap:
        pass
    assert calls.count == 0  # the interval since the last trim is not over: a timer waits
    time.sleep(0.8)
    assert calls.count == 1  # idle since: trimmed without another search


def test_the_timer_leaves_a_running_search_alone():
    calls = Calls()
    heap = HeapTrimmer(interval=0.3, trim=calls)
    with heap:
        pass
    with heap:  # a search starts before the timer fires, and outlasts it
        time.sleep(0.8)
        assert calls.count == 0
    assert calls.count == 1  # the last one out trims
