"""The search backend interface, and the one setting that chooses it.

Everything that searches or writes (the web UI, the JSON API, the CLI, the
benchmarks) holds a ``Backend`` and nothing else. Two implement it:

* ``engine.Engine``: the embedded Whoosh index in a directory (the default);
* ``sphinx_backend.SphinxBackend``: a sharded, mirrored Sphinx (or
  Manticore) cluster, ``VNSEARCH_BACKEND=sphinx://HOST:PORT``, for an
  archive that outgrows one machine.

Both parse the query with querylang, compile one QueryPlan with the same
compiler and analyzer, and answer with the same SearchResult, Hit and
ingest.Summary objects; what differs is where the plan runs. A backend that
cannot answer right now raises ``BackendUnavailable`` (the web layer's 503),
never a library's own exception. ``backends.open_backend`` makes the one a
setting names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from indexer import ingest
from search.autocomplete import MAX_COMPLETIONS, Completion
from search.request import SearchRequest
from search.result import Export, Hit, SearchResult

SPHINX_SCHEME = "sphinx://"
WHOOSH = "whoosh"


class Backend(Protocol):
    # Whether search() takes SearchRequest.after (cursor paging) and sets
    # SearchResult.following, and export() streams every match. A backend
    # without them answers either with BadRequest (cursor_unsupported,
    # format_unsupported) and never sets ``following``.
    cursor_paging: bool

    def search(self, request: SearchRequest) -> SearchResult:
        """One page of results, facets and suggestion for a validated request."""
        ...

    def export(self, request: SearchRequest) -> Export:
        """Every match of the request in its order, hits read in batches as iterated (format=ndjson)."""
        ...

    def complete(self, typed: str, limit: int = MAX_COMPLETIONS) -> list[Completion]:
        """Search as you type: up to ``limit`` completions of the text being
        typed, from the archive's headlines and leads, accents restored
        (autocomplete.py); on a Sphinx cluster always none."""
        ...

    def get(self, article_id: str) -> dict | None:
        """The stored article (Article.to_json), or None if there is none."""
        ...

    def related(self, article_id: str, limit: int = 5) -> list[Hit] | None:
        """More like this article (None: no such article)."""
        ...

    def warm(self) -> None:
        """Read now what every search needs, before `vnsearch serve` forks its
        workers, so they start warm and share it (or nothing to do)."""
        ...

    def stats(self) -> dict:
        """Figures for /api/stats and `vnsearch stats`: documents, size, fields, facets."""
        ...

    def health(self) -> dict:
        """For /healthz: {"status": "ok" | "degraded", "documents": N, ...}."""
        ...

    def add(self, records: list[dict]) -> ingest.Summary:
        """Upsert article records; invalid ones are reported by position."""
        ...

    def delete(self, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """(deleted ids, unknown ids)."""
        ...


class BackendUnavailable(Exception):
    """The backend cannot answer now (the cluster is down, or misconfigured):
    HTTP 503 with ``code``; the message is for operators and logs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BadBackend(ValueError):
    """VNSEARCH_BACKEND (or --backend) names no backend we have."""


def is_sphinx(url: str | None) -> bool:
    return bool(url) and str(url).startswith(SPHINX_SCHEME)
