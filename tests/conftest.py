"""Shared fixtures: indexes built from the project's demo archive and from
small slices of the shared VNTC corpus (never the whole corpus in tests)."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from indexer.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "indexer" / "demo_archive" / "articles.jsonl"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "vntc-train.jsonl.gz"


def corpus_slice(count: int, start: int = 0) -> list[dict]:
    if not CORPUS.exists():
        pytest.skip("the shared corpus is not available")
    with gzip.open(CORPUS, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in itertools.islice(handle, start, start + count)]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory) -> Path:
    """The demo archive indexed once; tests must not write to it."""
    path = tmp_path_factory.mktemp("demo-index")
    summary = ingest([DEMO], path, procs=1, show_progress=False)
    assert summary.added == 48 and summary.rejected == 0
    return path


@pytest.fixture(scope="session")
def demo_engine(demo_index):
    from search.engine import Engine

    return Engine(demo_index)


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory) -> Path:
    """1,500 real articles (several categories) plus the demo archive."""
    path = tmp_path_factory.mktemp("corpus-index")
    records = corpus_slice(500) + corpus_slice(500, start=12000) + corpus_slice(500, start=25000)
    source = write_jsonl(path.parent / "corpus-slice.jsonl", records)
    summary = ingest([source, DEMO], path, procs=2, show_progress=False)
    assert summary.rejected == 0
    return path


@pytest.fixture(scope="session")
def corpus_engine(corpus_index):
    from search.engine import Engine

    return Engine(corpus_index)


@pytest.fixture
def search(demo_engine):
    """search(q, **params) on the demo index -> SearchResult."""
    from search.request import SearchRequest

    def run(q="", engine=None, **params):
        params = {"q": q, **{k: v for k, v in params.items()}}
        lists = {k: (v if isinstance(v, list) else [v]) for k, v in params.items()}
        request = SearchRequest.from_params(lambda k: params.get(k), lambda k: lists.get(k, []))
        return (engine or demo_engine).search(request)

    return run


def ids(result) -> list[str]:
    return [hit.id for hit in result.hits]
