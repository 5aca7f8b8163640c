"""Freed heap memory goes back to the kernel when a process falls idle.

A search allocates arrays the size of the archive (scores, masks, postings:
1.6 MB each at 400,000 articles) and frees them when it ends. glibc keeps
freed blocks of that size in its heap for reuse instead of unmapping them,
so a server process held the peak of what its searches ever allocated: at
400,000 articles, 61 MB of a worker's 201 MB of private memory after the
scale benchmark's query mix was free heap, and ``malloc_trim`` returned it
in 9 ms. The engine trims when its last running search ends, at most once
per ``interval`` seconds (a timer trims an idle process whose last search
ended sooner); a busy process reuses its heap meanwhile. (A low
fixed mmap threshold, which unmaps every large array on free, cost 3.4x the
throughput in page faults.) Other C libraries: nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from collections.abc import Callable
from types import TracebackType

TRIM_INTERVAL = 1.0  # seconds between two trims at most


def _libc(name: str) -> Callable[..., int] | None:
    """The C library's function ``name``, or None (not glibc: nothing to do)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or None), name)
    except (OSError, AttributeError):
        return None


class HeapTrimmer:
    """A context manager around each search: the last one out trims, or,
    when the last trim was under ``interval`` ago, a timer trims once the
    interval is over if no search has started meanwhile. So a process that
    falls idle always gives its freed heap back within ``interval``."""

    def __init__(self, interval: float = TRIM_INTERVAL, trim: Callable[[int], int] | None = None):
        self.interval = interval
        self.trims = 0
        self._trim = trim or _libc("malloc_trim")
        self._lock = threading.Lock()
        self._running = 0
        self._last = time.monotonic()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> HeapTrimmer:
        with self._lock:
            self._running += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        with self._lock:
            self._running -= 1
            if self._running or self._trim is None:
                return
            wait = self.interval - (time.monotonic() - self._last)
            if wait > 0:
                if self._timer is None:  # one pending at most
                    self._timer = threading.Timer(wait, self._when_idle)
                    self._timer.daemon = True
                    self._timer.start()
                return
            self._last = time.monotonic()
            self.trims += 1
        self._trim(0)

    def _when_idle(self) -> None:
        with self._lock:
            self._timer = None
            if self._running or self._trim is None:
                return  # a search is running: the last one out trims (or schedules again)
            self._last = time.monotonic()
            self.trims += 1
        self._trim(0)


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena, and each
    arena keeps the peak of what its thread allocated (a request's score and
    mask arrays): 8 threads held ~4 MB each more than one thread did. Two
    arenas, shared by all threads, keep a process's memory flat in its thread
    count. `vnsearch serve` sets it before its threads start; so does
    bench/thread_memory.py, to measure threads as served. Other C libraries:
    nothing to do."""
    mallopt = _libc("mallopt")
    if mallopt is not None:
        mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def keep_shared_with_forks() -> None:
    """Called just before forking workers: what this process has read (the
    warmed generation's tables, the spelling vocabulary, the modules) leaves
    the garbage collector's care. A full collection writes to the header of
    every container object it walks, so each worker's first one would copy
    every page holding such objects from the shared parent into its own
    memory. Frozen, they stay shared (the remedy Python's gc.freeze
    documentation gives for pre-fork servers)."""
    gc.freeze()
