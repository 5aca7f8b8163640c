"""Server settings: one table, read from the environment.

``SETTINGS`` is the only list of them; ``create_app``, ``vnsearch serve`` and
the OpenAPI description all read it, and the test suite checks that each is
documented. Unset or empty variables take the default:

VNSEARCH_INDEX (index_data), VNSEARCH_HOST (127.0.0.1), VNSEARCH_PORT (8000),
VNSEARCH_THREADS (8), VNSEARCH_WORKERS (cores, at most 4), VNSEARCH_API_TOKEN
(unset: writes answer 403), VNSEARCH_CURSOR_SECRET (signs the search cursors;
unset: a random secret per server start, search/cursor.py), VNSEARCH_CACHE_MB (64 per process), VNSEARCH_SEARCH_SLOTS (2
searches computing at once per process), VNSEARCH_CONNECTIONS (1000 open connections per
process), VNSEARCH_IDLE_TIMEOUT (30 seconds before an idle or half-sent connection is
closed), VNSEARCH_SHUTDOWN_TIMEOUT (10 seconds a server process that is stopped or
replaced keeps answering the requests it has; webui/server.py), VNSEARCH_DEADLINE (2 seconds a
search may take, search/deadline.py), VNSEARCH_LOCK_TIMEOUT (60
seconds; how long a write waits for another writer's lock before giving up),
VNSEARCH_BACKEND (unset: the Whoosh index; sphinx://HOST:PORT: the Sphinx cluster whose
aggregator is there, search/backend.py) and VNSEARCH_CLUSTER_DIR (that cluster's
directory: its layout and the writers' journals).

Settings are read when ``create_app`` or ``serve`` runs, not at import, so
tests and ``vnsearch serve`` can set them late.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

MAX_BODY_BYTES = 10 * 1024 * 1024  # a few thousand articles per POST is plenty


def whole_number(raw: str) -> int:
    return int(raw)


def seconds(raw: str) -> float:
    """A duration in seconds: a finite, non-negative number such as 60 or 2.5."""
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(raw)
    return value


# What each converter accepts, for the error message.
EXPECTED: dict[Callable, str] = {whole_number: "a whole number",
                                 seconds: "a number of seconds, e.g. 60 or 2.5"}

# (environment variable, config key, default, converter, help)
SETTINGS: tuple[tuple[str, str, object, Callable[[str], object], str], ...] = (
    ("VNSEARCH_INDEX", "INDEX_DIR", None, str, "index directory (default index_data)"),
    ("VNSEARCH_HOST", "HOST", "127.0.0.1", str, "address `vnsearch serve` binds to"),
    ("VNSEARCH_PORT", "PORT", 8000, whole_number, "port `vnsearch serve` listens on"),
    ("VNSEARCH_THREADS", "THREADS", 8, whole_number, "waitress threads per worker process"),
    ("VNSEARCH_WORKERS", "WORKERS", min(4, os.cpu_count() or 1), whole_number,
     ("server processes sharing the port (default: cores, at most 4); Python runs one "
      "thread at a time per process, so this is what uses several cores")),
    ("VNSEARCH_API_TOKEN", "API_TOKEN", None, str,
     ("bearer token for POST/DELETE /api/articles, ASCII (e.g. python -c 'import secrets; "
      "print(secrets.token_urlsafe(32))'); unset disables writes (403)")),
    ("VNSEARCH_CURSOR_SECRET", "CURSOR_SECRET", None, str,
     ("secret that signs the search cursors (next_cursor, cursor=) with HMAC-SHA256; unset: a random one "
      "made when the server starts and shared by its worker processes, so cursors stop working when the "
      "server restarts (a rolling restart, SIGHUP, keeps them). Set the same value on every server behind "
      "one address")),
    ("VNSEARCH_CACHE_MB", "CACHE_MB", 64, whole_number,
     ("megabytes each server process may keep in its read caches (decoded postings, phrase "
      "positions, filter masks), whatever clients send; the index itself is read from its files "
      "and shared by all processes through the page cache")),
    ("VNSEARCH_CONNECTIONS", "CONNECTIONS", 1000, whole_number,
     ("open client connections each server process accepts (default 1000; waitress's own default, "
      "100, let a client holding 100 half-sent requests shut everyone else out)")),
    ("VNSEARCH_IDLE_TIMEOUT", "IDLE_TIMEOUT", 30.0, seconds,
     ("seconds a connection may stay idle or half-sent before the server closes it (default 30)")),
    ("VNSEARCH_SHUTDOWN_TIMEOUT", "SHUTDOWN_TIMEOUT", 10.0, seconds,
     ("seconds a server process, once stopped (SIGTERM, Ctrl+C) or replaced (SIGHUP to `vnsearch serve`), "
      "keeps answering the requests it has before it cuts their connections (default 10); it accepts no "
      "new ones meanwhile")),
    ("VNSEARCH_SEARCH_SLOTS", "SEARCH_SLOTS", 2, whole_number,
     ("searches computing at once in each server process (default 2); the others wait. Python "
      "runs one thread at a time, and each search holds a few arrays the size of the archive, so "
      "more slots add memory, not speed")),
    ("VNSEARCH_DEADLINE", "DEADLINE", 2.0, seconds,
     ("seconds a search may hold a server thread, waiting for a search slot included (default 2); "
      "one that would take longer is stopped and answered 503 search_timeout with Retry-After; "
      "0 turns the deadline off")),
    ("VNSEARCH_LOCK_TIMEOUT", "LOCK_TIMEOUT", 60.0, seconds,
     ("seconds a write (POST/DELETE here, `vnsearch index` or `delete`) waits while another "
      "process holds the index's write lock before giving up (503 index_busy; default 60)")),
    ("VNSEARCH_BACKEND", "BACKEND", None, str,
     ("where searches and writes go: unset for the Whoosh index in VNSEARCH_INDEX, or "
      "sphinx://HOST:PORT for the Sphinx cluster whose aggregator listens there (`vnsearch cluster up` "
      "prints it)")),
    ("VNSEARCH_CLUSTER_DIR", "CLUSTER_DIR", None, str,
     ("the Sphinx cluster's directory (`vnsearch cluster up --dir`): its layout, and the journals of "
      "writes a mirror missed; writes to the cluster need it, searches do not")),
)


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict:
    """The SETTINGS table read from the environment (unset or empty = default).

    Raises ValueError naming the variable when a value cannot be converted."""
    environ = os.environ if environ is None else environ
    values = {}
    for env_name, key, default, convert, _ in SETTINGS:
        raw = (environ.get(env_name) or "").strip()
        try:
            values[key] = convert(raw) if raw else default
        except ValueError:
            raise ValueError(f"{env_name} must be {EXPECTED.get(convert, 'valid')}, got {raw!r}") from None
    return values
