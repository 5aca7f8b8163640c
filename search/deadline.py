"""How long one search may hold a server thread (VNSEARCH_DEADLINE, 2 s).

A search that passes its deadline stops where it is and raises
``SearchTimeout``; the web layer answers 503 with ``Retry-After``. The time
counts from when the request reached the engine, waiting for a search slot
included, so a queue of slow queries turns into quick 503s rather than
requests that wait for tens of seconds. The executor looks at the clock
between plan nodes and terms: a few microseconds each, and no step between
two looks reads more than one term's postings.
"""

from __future__ import annotations

import math
import time

DEFAULT_DEADLINE = 2.0  # seconds
RETRY_AFTER = 1  # seconds a client is told to wait before trying again


class SearchTimeout(Exception):
    """The search took longer than its deadline and was stopped."""

    def __init__(self, seconds: float):
        super().__init__(f"the search took longer than its {seconds:g} s deadline and was stopped; "
                         "try again, or narrow the query")
        self.seconds = seconds
        self.retry_after = RETRY_AFTER


class Deadline:
    """A point in time; ``seconds`` of 0 or less (or None) never passes."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds if seconds and seconds > 0 else math.inf
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise SearchTimeout(self.seconds)


NEVER = Deadline(None)
