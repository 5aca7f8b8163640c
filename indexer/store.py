"""Where the index lives, and opening it for reading or writing safely.

Whoosh commits are atomic (a new TOC file is renamed into place), so a run
killed part-way leaves the last committed index readable. The write lock is
an OS file lock (flock) on ``MAIN_WRITELOCK``: the kernel releases it when its
process dies, so a killed indexer never leaves a stale lock behind; a second
writer waits up to ``lock_timeout`` seconds for its turn (the
VNSEARCH_LOCK_TIMEOUT setting, read when the writer is asked for), then gives
up with ``IndexBusy``.

``writing`` is the one way this project writes: commit when the block ends,
cancel (closing every file and releasing the lock) when anything fails.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC, LockError
from whoosh.util.filelock import try_for

from indexer.arrays import PostingsCodec, arrays_root, remove_stale
from indexer.arrays import discard as discard_arrays
from indexer.checked_index import CheckedIndex, verify_segments
from indexer.closing import close_files
from indexer.problems import INDEX_NAME, BadSetting, IndexBusy, IndexMissing, IndexProblem
from indexer.problems import IndexDamaged as IndexDamaged  # for callers of store
from indexer.schema import build_schema
from indexer.writers import ArraysMpWriter, ArraysSegmentWriter

DEFAULT_INDEX_DIR = "index_data"
LOCK_TIMEOUT_VARIABLE = "VNSEARCH_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a writer waits for another when the variable is not set


def resolve_index_dir(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path or os.environ.get("VNSEARCH_INDEX") or DEFAULT_INDEX_DIR)


def resolve_lock_timeout(lock_timeout: float | None = None) -> float:
    """Seconds a writer waits for another: ``lock_timeout`` when given, else
    the VNSEARCH_LOCK_TIMEOUT setting as it is now, else 60."""
    if lock_timeout is not None:
        return lock_timeout
    raw = os.environ.get(LOCK_TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadSetting(f"{LOCK_TIMEOUT_VARIABLE} must be a number of seconds (0 or more), "
                         f"not {raw!r}")
    return value


def index_exists(path: Path) -> bool:
    """Whether ``path`` holds a table of contents (not whether it can be read:
    Whoosh's ``exists_in`` reads it, and a damaged one raised from here)."""
    return path.is_dir() and TOC._latest_generation(_storage(path), INDEX_NAME) >= 0


def _storage(path: Path, mmap: bool = True) -> FileStorage:
    return FileStorage(str(path), supports_mmap=mmap)


def _open(storage: FileStorage) -> Any:
    """The index in ``storage`` as a CheckedIndex: every segment is checked
    for damage once per process before it is read (indexer/checked_index.py)."""
    return storage.open_index(indexclass=CheckedIndex)


def open_index(path: Path) -> Any:
    """The index at ``path`` (a whoosh FileIndex: it holds no open file)."""
    if not index_exists(path):
        raise IndexMissing(f"no index at {path}: build one with `vnsearch index FILES --index {path}`")
    return _open(_storage(path))


def open_for_search(path: Path) -> Any:
    """The index for long-lived searchers: segments are read with plain reads,
    not mmap, because whoosh-reloaded copies a mapped segment into a private
    buffer (BytesIO) for every searcher, so each server thread held the whole
    index in its own memory. Plain reads go through the kernel's page cache,
    shared by every process. (A searcher then holds an open file per segment
    until it is closed.)"""
    if not index_exists(path):
        raise IndexMissing(f"no index at {path}: build one with `vnsearch index FILES --index {path}`")
    return _open(_storage(path, mmap=False))


def open_or_create(path: Path) -> Any:
    """The index at ``path`` for writing (one made by an earlier version gets
    the fields it lacks first), or a new empty one."""
    if index_exists(path):
        return _with_every_field(_open(_storage(path)), path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return _storage(path).create().create_index(build_schema())
    except OSError as exc:
        raise IndexProblem(f"cannot create an index in {path}: {exc.strerror or exc}") from None


def _with_every_field(ix: Any, path: Path) -> Any:
    """An index made before a field of ``build_schema`` existed (``event``)
    gets it in a commit of its own, before any document is written: Whoosh's
    worker processes read the schema from the index, not from the parent's
    writer. Its earlier articles hold the field's default (for ``event``: no
    signature, never grouped) until they are indexed again."""
    schema = build_schema()
    missing = [name for name in schema.names() if name not in ix.schema]
    if not missing:
        return ix
    with writing(ix, path) as writer:
        for name in missing:
            writer.add_field(name, schema[name])
    return _open(_storage(path))


def acquire_writer(ix: Any, path: Path, lock_timeout: float | None = None, **kwargs: Any) -> Any:
    """A writer, waiting for another writer to finish if need be
    (``lock_timeout``: see ``resolve_lock_timeout``)."""
    timeout = resolve_lock_timeout(lock_timeout)
    if not os.access(path, os.W_OK):
        raise IndexProblem(f"the index directory {path} is not writable")
    kwargs.setdefault("codec", PostingsCodec())  # text postings go to the search arrays
    try:
        return _new_writer(ix, timeout=timeout, delay=0.25, **kwargs)
    except LockError:
        raise _busy(path, timeout) from None


def _busy(path: Path, timeout: float) -> IndexBusy:
    return IndexBusy(
        f"another process is writing to the index at {path} (waited {timeout:.0f} s). "
        "Wait for it to finish and run again. The lock is an OS file lock, released when "
        "its process exits, so a killed indexer cannot leave it stuck."
    )


@contextmanager
def write_lock(ix: Any, path: Path, lock_timeout: float | None = None, delay: float = 0.01) -> Iterator[None]:
    """The index's write lock for the block, without a writer: no commit, and
    so no merge deleting files, happens meanwhile (``vnsearch snapshot``).
    Waits for another writer as ``acquire_writer`` does, but tries every
    ``delay`` seconds rather than every 0.25: an editor committing back to
    back leaves the lock free only for moments between commits."""
    timeout = resolve_lock_timeout(lock_timeout)
    lock = ix.lock("WRITELOCK")
    try:
        taken = try_for(lock.acquire, timeout=timeout, delay=delay)
    except PermissionError:
        raise IndexProblem(f"cannot take the write lock of the index at {path}: permission denied") from None
    if not taken:
        raise _busy(path, timeout)
    try:
        yield
    finally:
        lock.release()


def _new_writer(ix: Any, procs: int = 1, **kwargs: Any) -> Any:
    """What ``ix.writer()`` makes, but a writer whose constructor fails (a
    full disk while it writes its file headers) closes the files it had
    opened and releases the lock, instead of leaving them to the garbage
    collector."""
    cls: Any = ArraysMpWriter if procs > 1 else ArraysSegmentWriter
    if procs > 1:
        kwargs["procs"] = procs
    writer = cls.__new__(cls)
    try:
        writer.__init__(ix, **kwargs)
    except BaseException:
        close_files(writer.__dict__.values())
        segment = getattr(writer, "newsegment", None)
        if segment is not None:  # the arrays folder its codec had started
            discard_arrays(ix.storage.folder, segment.segment_id())
        lock = getattr(writer, "writelock", None)
        if lock is not None and getattr(lock, "fd", None) is not None:
            lock.release()
        raise
    return writer


@contextmanager
def writing(ix: Any, path: Path, lock_timeout: float | None = None, merge_all: bool = False,
            **kwargs: Any) -> Iterator[Any]:
    """A writer for the block: committed when the block ends (``merge_all``:
    with every segment merged into one), abandoned (every file closed, the
    lock released, nothing visible) when the block or the commit fails."""
    writer = acquire_writer(ix, path, lock_timeout, **kwargs)
    try:
        # Holding the lock: arrays of segments merged away, or left by a
        # killed run, can go (only this writer's new segment is in progress).
        remove_stale(path, {s.segment_id() for s in writer.segments} | {writer.newsegment.segment_id()})
        # A damaged segment would fail the write half-way, or be merged into a new one.
        verify_segments(path, writer.segments, settled=True)
        yield writer
        writer.commit(optimize=merge_all)
    except BaseException as exc:
        _abandon(writer, exc)
        raise
    _drop_if_unused(path, writer.newsegment.segment_id())


def _drop_if_unused(path: Path, segment_id: str) -> None:
    """Remove the arrays of a committed writer's own new segment when the
    commit did not keep it: it had no documents (the main segment of a
    parallel write, whose workers wrote their own; a write that only
    deleted). No other writer ever uses its id, so this needs no lock.
    (Until 4 December 2026 they waited for the next write's remove_stale.)"""
    if segment_id not in {s.segment_id() for s in TOC.read(_storage(path), INDEX_NAME).segments}:
        shutil.rmtree(arrays_root(path) / segment_id, ignore_errors=True)


def _abandon(writer: Any, failure: BaseException) -> None:
    """Cancel a failed write without hiding why it failed."""
    # Whoosh's MpWriter.cancel only flags its worker processes in this
    # process; the workers would wait on their job queue forever (and
    # multiprocessing waits for them at exit). Stop them first.
    for task in getattr(writer, "tasks", ()):
        if task.is_alive():
            task.terminate()
        task.join()
    try:
        if not writer.is_closed:  # a commit that failed late may have closed it
            writer.cancel()
    except Exception as exc:  # noqa: BLE001 - the first failure is the one to report
        failure.add_note(f"cancelling the index writer failed too: {exc!r}")
    finally:
        close_files(vars(writer).values())  # what a failed cancel could not close
        discard_arrays(writer.storage.folder, writer.newsegment.segment_id())
        lock = writer.writelock  # released by a successful cancel; never left held
        if lock is not None and lock.fd is not None:
            try:
                lock.release()
            except OSError as exc:
                failure.add_note(f"releasing the index lock failed too: {exc!r}")


def stats(path: Path) -> dict[str, Any]:
    ix = open_index(path)
    files = [p for p in path.rglob("*") if p.is_file()]
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
        "last_update": datetime.fromtimestamp(last, UTC).isoformat(timespec="seconds"),
    }
