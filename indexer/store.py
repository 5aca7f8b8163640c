"""Where the index lives, and opening it for reading or writing safely.

Whoosh commits are atomic (a new TOC file is renamed into place), so a run
killed part-way leaves the last committed index readable. The write lock is
an OS file lock (flock) on ``MAIN_WRITELOCK``: the kernel releases it when its
process dies, so a killed indexer never leaves a stale lock behind; a second
writer waits up to ``lock_timeout`` seconds for its turn, then gives up with
``IndexBusy``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from whoosh import index
from whoosh.index import LockError

from indexer.schema import build_schema

DEFAULT_INDEX_DIR = "index_data"
DEFAULT_LOCK_TIMEOUT = float(os.environ.get("VNSEARCH_LOCK_TIMEOUT", "60"))


class IndexProblem(Exception):
    """A problem with the index directory that a person must fix; the message says how."""


class IndexBusy(IndexProblem):
    pass


class IndexMissing(IndexProblem):
    pass


def resolve_index_dir(path: str | os.PathLike | None = None) -> Path:
    return Path(path or os.environ.get("VNSEARCH_INDEX") or DEFAULT_INDEX_DIR)


def index_exists(path: Path) -> bool:
    return path.is_dir() and index.exists_in(str(path))


def open_index(path: Path):
    if not index_exists(path):
        raise IndexMissing(f"no index at {path}: build one with `vnsearch index FILES --index {path}`")
    return index.open_dir(str(path))


def open_or_create(path: Path):
    if index_exists(path):
        return index.open_dir(str(path))
    try:
        path.mkdir(parents=True, exist_ok=True)
        return index.create_in(str(path), build_schema())
    except OSError as exc:
        raise IndexProblem(f"cannot create an index in {path}: {exc.strerror or exc}") from None


def acquire_writer(ix, path: Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT, **kwargs):
    """A writer, waiting for another writer to finish if need be."""
    if not os.access(path, os.W_OK):
        raise IndexProblem(f"the index directory {path} is not writable")
    try:
        return ix.writer(timeout=lock_timeout, delay=0.25, **kwargs)
    except LockError:
        raise IndexBusy(
            f"another process is writing to the index at {path} (waited {lock_timeout:.0f} s). "
            "Wait for it to finish and run again. The lock is an OS file lock, released when "
            "its process exits, so a killed indexer cannot leave it stuck."
        ) from None


def stats(path: Path) -> dict:
    ix = open_index(path)
    files = [p for p in path.iterdir() if p.is_file()]
    tocs = [p for p in files if p.name.endswith(".toc")]
    last = max((p.stat().st_mtime for p in tocs), default=time.time())
    with ix.searcher() as searcher:
        count = searcher.doc_count()
        segments = len(ix._segments())
    return {
        "index": str(path),
        "documents": count,
        "segments": segments,
        "size_bytes": sum(p.stat().st_size for p in files),
        "fields": sorted(ix.schema.names()),
        "last_update": datetime.fromtimestamp(last, timezone.utc).isoformat(timespec="seconds"),
    }
