"""The test suite's fixtures, all of them: the demo archive indexed once per
session (read-only), a private copy of it for tests that write, the search
engine on it, and web clients on it.

Plain helpers live in helpers.py (paths, corpus slices, JSONL) and
web_helpers.py (the app factory, error and schema checks), imported by name.
The names below that tests import from here (ROOT, DEMO, SHARED, CORPUS,
corpus_slice, write_jsonl, ids) are re-exported from helpers.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import CORPUS, DEMO, DEMO_ARTICLES, ROOT, SHARED, corpus_slice, ids, shared_path, write_jsonl

from indexer.ingest import ingest

__all__ = ["CORPUS", "DEMO", "ROOT", "SHARED", "corpus_slice", "ids", "shared_path", "write_jsonl"]


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> Path:
    """The demo archive indexed once per session; tests must not write to it."""
    path = tmp_path_factory.mktemp("demo-index")
    summary = ingest([DEMO], path, procs=1, show_progress=False)
    assert (summary.added, summary.rejected) == (DEMO_ARTICLES, 0), summary.line()
    return path


@pytest.fixture
def writable_index(demo_index, tmp_path) -> Path:
    """A private copy of the demo index for a test that writes."""
    path = tmp_path / "index"
    shutil.copytree(demo_index, path)
    return path


@pytest.fixture(scope="session")
def demo_engine(demo_index):
    from search.engine import Engine  # the search stack only for the tests that search

    return Engine(demo_index)


@pytest.fixture
def search(demo_engine):
    """search(q, **params) on the demo index -> SearchResult."""
    from search.request import SearchRequest

    def run(q="", engine=None, **params):
        params = {"q": q, **params}
        lists = {k: (v if isinstance(v, list) else [v]) for k, v in params.items()}
        request = SearchRequest.from_params(params.get, lambda k: lists.get(k, []))
        return (engine or demo_engine).search(request)

    return run


# -- web clients (the web stack is imported only by the tests that use them) ----
@pytest.fixture(scope="module")
def client(demo_index):
    """A read-only client on the demo index, writes disabled (no token)."""
    from web_helpers import make_app

    return make_app(demo_index).test_client()


@pytest.fixture(scope="module")
def spec(client) -> dict:
    """The served OpenAPI document."""
    return client.get("/api/openapi.json").get_json()


@pytest.fixture
def writer(writable_index):
    """A client on a private index copy, with web_helpers.TOKEN configured."""
    from web_helpers import TOKEN, make_app

    return make_app(writable_index, API_TOKEN=TOKEN).test_client()
