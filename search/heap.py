"""Freed heap memory goes back to the kernel when a process falls idle.

A search allocates arrays the size of the archive (scores, masks, postings:
1.6 MB each at 400,000 articles) and frees them when it ends. glibc keeps
freed blocks of that size in its heap for reuse instead of unmapping them,
so a server process held the peak of what its searches ever allocated: at
400,000 articles, 61 MB of a worker's 201 MB of private memory after the
scale benchmark's query mix was free heap, and ``malloc_trim`` returned it
in 9 ms. The engine trims when its last running search ends, at most once
per ``interval`` seconds; a busy process reuses its heap meanwhile. (A low
fixed mmap threshold, which unmaps every large array on free, cost 3.4x the
throughput in page faults.) Other C libraries: nothing to do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable
from types import TracebackType

TRIM_INTERVAL = 1.0  # seconds between two trims at most


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None).malloc_trim
    except (OSError, AttributeError):
        return None


class HeapTrimmer:
    """A context manager around each search: the last one out trims."""

    def __init__(self, interval: float = TRIM_INTERVAL, trim: Callable[[int], int] | None = None):
        self.interval = interval
        self.trims = 0
        self._trim = trim or _malloc_trim()
        self._lock = threading.Lock()
        self._running = 0
        self._last = time.monotonic()

    def __enter__(self) -> HeapTrimmer:
        with self._lock:
            self._running += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        now = time.monotonic()
        with self._lock:
            self._running -= 1
            due = self._running == 0 and now - self._last >= self.interval and self._trim is not None
            if due:
                self._last = now
                self.trims += 1
        if due and self._trim is not None:
            self._trim(0)
