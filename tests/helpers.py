"""Plain helpers for the tests (fixtures are in conftest.py; the web app's
helpers in web_helpers.py): where the demo archive and the shared corpus
are, reading slices of the corpus, writing records as JSONL, indexing a
few crafted ones.

The shared corpus (``../shared`` beside the repository) is not part of the
repository. Tests that need it skip when it is missing, unless
VNSEARCH_REQUIRE_CORPUS is set (as `make test` does, where it must be
present): then a missing corpus fails them, so crash-safety checks cannot
silently stop running.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "indexer" / "demo_archive" / "articles.jsonl"
DEMO_ARTICLES = 48
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "vntc-train.jsonl.gz"


# -- the shared corpus ----------------------------------------------------------
def shared_path(relative: str) -> Path:
    """A file of the shared corpus directory; skips the test when it is missing,
    or fails it when VNSEARCH_REQUIRE_CORPUS is set."""
    path = SHARED / relative
    if not path.exists():
        message = f"the shared corpus file {path} is missing"
        if os.environ.get("VNSEARCH_REQUIRE_CORPUS"):
            pytest.fail(f"{message}, and VNSEARCH_REQUIRE_CORPUS is set: put the shared "
                        "directory beside the repository", pytrace=False)
        pytest.skip(message)
    return path


def corpus_slice(count: int, start: int = 0) -> list[dict]:
    """``count`` records of the shared VNTC corpus from record ``start`` on."""
    corpus = shared_path(str(CORPUS.relative_to(SHARED)))
    with gzip.open(corpus, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in itertools.islice(handle, start, start + count)]


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def small_index(folder: Path, records) -> Path:
    """An index of ``records`` in ``folder`` (one process: small crafted archives)."""
    from indexer.ingest import ingest  # here: the helpers stay importable without the indexer loaded
    ingest([write_jsonl(folder / "records.jsonl", records)], folder / "ix", procs=1, show_progress=False)
    return folder / "ix"


def ids(result) -> list[str]:
    return [hit.id for hit in result.hits]
