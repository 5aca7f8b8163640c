"""Which backend (backend.py): VNSEARCH_BACKEND, or --backend, names it.

Unset, empty or "whoosh": the Whoosh index in a directory
(engine.Engine). ``sphinx://HOST:PORT``: the Sphinx cluster whose
aggregator listens there (sphinx_backend.SphinxBackend), which needs
pymysql (`pip install 'vnsearch[cluster]'`), loaded only when it connects.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from search.backend import WHOOSH, Backend, BadBackend, is_sphinx
from search.cluster import ClusterError
from search.deadline import DEFAULT_DEADLINE
from search.engine import SEARCH_SLOTS, Engine
from search.generation import DEFAULT_CACHE_MB
from search.sphinx_backend import SphinxBackend


def open_backend(url: str | None = None, index_dir: str | os.PathLike[str] | None = None,
                 cluster_dir: str | os.PathLike[str] | None = None, refresh_interval: float = 1.0,
                 cache_mb: float | None = None, lock_timeout: float | None = None,
                 search_slots: int = SEARCH_SLOTS, deadline: float | None = DEFAULT_DEADLINE) -> Backend:
    """The backend ``url`` names: unset, empty or "whoosh" is the Whoosh index
    in ``index_dir``; ``sphinx://HOST:PORT`` the cluster whose aggregator is
    there, with ``cluster_dir`` holding its writers' journals (and, when
    written by `vnsearch cluster up`, its layout). Nothing is opened or
    connected here: each backend does so on first use (after a server forks)."""
    cache = DEFAULT_CACHE_MB if cache_mb is None else cache_mb
    if not url or url.strip() in ("", WHOOSH):
        return Engine(index_dir, refresh_interval=refresh_interval, cache_mb=cache, lock_timeout=lock_timeout,
                      search_slots=search_slots, deadline=deadline)
    if is_sphinx(url):
        if importlib.util.find_spec("pymysql") is None:
            raise BadBackend("the Sphinx backend needs pymysql: pip install 'vnsearch[cluster]'")
        try:
            return SphinxBackend(url.strip(), Path(cluster_dir) if cluster_dir else None,
                                 refresh_interval=refresh_interval, cache_mb=cache)
        except ClusterError as exc:  # a URL without a port, say
            raise BadBackend(str(exc)) from None
    raise BadBackend(f"unknown backend {url!r}: use sphinx://HOST:PORT for a Sphinx cluster, "
                     "or leave it unset for the Whoosh index")
