"""Indexing on a Dask cluster: `vnsearch index PATH... --dask tcp://scheduler:8786`.

Reading stays here, in the driver: the same two passes as the local indexer
(indexer/ingest.py), so every rejected record is reported as `file:line:
reason` and each id keeps its last version. The articles go to the Dask
workers in batches; each worker analyses its batch and writes it as one
complete Whoosh segment with its arrays (``build_segment``, in a scratch
folder of the worker), and sends the segment's files back as bytes. The
driver stores them in the index folder under their own segment id, where no
reader looks until the commit, and adds them to the index in one commit
(``ArraysSegmentWriter.add_segment``): the postings are not decoded or
re-encoded here, so the driver does not become the bottleneck.

The guarantees of the local indexer hold:
* nothing is visible until the commit, and the index's write lock is held
  from the start, so no other writer interleaves;
* a run killed at any point leaves the previous index as it was (files of
  segments that never reached a commit are removed by the next write);
* a worker that dies mid-batch has its batch redone by Dask elsewhere: a
  batch's result is one segment, delivered whole or not at all, so no
  article is lost or doubled;
* without a scheduler nothing of this is imported: Dask is the optional
  ``cluster`` extra.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from indexer import store
from indexer.arrays import arrays_root
from indexer.ingest import (
    Progress,
    Report,
    Summary,
    article_exists,
    batches,
    collect,
    final_versions,
    write_articles,
)
from indexer.records import Article
from indexer.sources.reading import Paths

DASK_VARIABLE = "VNSEARCH_DASK"
DEFAULT_BATCH = 2000  # articles per task: one segment each, so fewer, larger segments
IN_FLIGHT_PER_WORKER = 2  # batches queued per worker: keeps workers busy, bounds driver memory
CONNECT_TIMEOUT = 10.0  # seconds to reach the scheduler
TASK_RETRIES = 2  # a batch whose worker fails is tried again up to this many times


class DaskProblem(store.IndexProblem):
    """The cluster cannot be used (not installed, not reachable, no workers)."""


def scheduler_address(given: str | None) -> str | None:
    """The --dask option, else $VNSEARCH_DASK, else None (index locally)."""
    return given or os.environ.get(DASK_VARIABLE) or None


def connect(address: str, timeout: float = CONNECT_TIMEOUT) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise DaskProblem("indexing on Dask needs the cluster extra: pip install 'vnsearch[cluster]'") from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskProblem(f"cannot reach the Dask scheduler at {address} ({exc}); start it with "
                          "`dask scheduler` and its workers with `dask worker ADDRESS`") from None
    return client


def build_segment(articles: list[Article]) -> dict[str, Any]:
    """On a worker: the articles as one segment, and its files as bytes."""
    try:
        from distributed import get_worker
        scratch_root = get_worker().local_directory  # Dask removes it with the worker
    except (ImportError, ValueError):
        scratch_root = None  # called outside a worker (tests, local use)
    with tempfile.TemporaryDirectory(prefix="vnsearch-batch-", dir=scratch_root) as scratch:
        path = Path(scratch) / "index"
        ix = store.open_or_create(path)
        write_articles(ix, path, articles, len(articles), Summary(), procs=1)
        (segment,) = store.open_index(path)._segments()
        name = segment.segment_id()
        files = {p.name: p.read_bytes() for p in path.iterdir() if p.name.startswith(name)}
        arrays = {p.name: p.read_bytes() for p in (arrays_root(path) / name).iterdir()}
    return {"segment": pickle.dumps(segment), "files": files, "arrays": arrays, "docs": len(articles)}


def _store_segment(index_path: Path, result: dict[str, Any]) -> Any:
    """Write a shipped segment's files into the index folder; its segment."""
    segment = pickle.loads(result["segment"])
    name = segment.segment_id()
    if any(index_path.glob(f"{name}.*")) or (arrays_root(index_path) / name).exists():
        raise DaskProblem(f"segment {name} exists already in {index_path}")
    for file_name, data in result["files"].items():
        (index_path / file_name).write_bytes(data)
    staging = arrays_root(index_path) / (name + ".tmp")
    staging.mkdir(parents=True)
    for file_name, data in result["arrays"].items():
        (staging / file_name).write_bytes(data)
    os.replace(staging, arrays_root(index_path) / name)
    return segment


def ingest_on_dask(paths: Paths, scheduler: str, index_dir: str | os.PathLike[str] | None = None,
                   batch_size: int = DEFAULT_BATCH, show_progress: bool = True, report: Report | None = None,
                   lock_timeout: float | None = None) -> Summary:
    """Index the archive files ``paths`` on the Dask cluster at ``scheduler``."""
    started = time.monotonic()
    index_path = store.resolve_index_dir(index_dir)
    summary = Summary()
    _report = summary.reporter(report)

    client = connect(scheduler)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        if not workers:
            raise DaskProblem(f"the Dask scheduler at {scheduler} has no workers; start some with "
                              f"`dask worker {scheduler}`")
        summary.workers = workers
        last, count = collect(paths, summary, _report)
        ix = store.open_or_create(index_path)
        if count:
            progress = Progress(count, label=f"indexing on {workers} Dask workers") if show_progress else None
            with store.writing(ix, index_path, lock_timeout) as writer:
                _replace_existing(writer, last, summary)
                _run_batches(client, index_path, writer, final_versions(paths, last), batch_size, workers,
                             progress)
                summary.added = count - summary.replaced
                if progress:
                    progress.update(count, final=True)
    finally:
        client.close()
    summary.seconds = time.monotonic() - started
    return summary


def _replace_existing(writer: Any, last: dict[str, Any], summary: Summary) -> None:
    """Delete the committed versions of the ids being indexed (visible at the commit)."""
    with writer.searcher() as searcher:
        existing = [article_id for article_id in last if article_exists(searcher, article_id)]
    for article_id in existing:
        writer.delete_by_term("id", article_id)
    summary.replaced = len(existing)


def _run_batches(client: Any, index_path: Path, writer: Any, articles: Iterable[Article], batch_size: int,
                 workers: int, progress: Progress | None) -> None:
    """Send the batches, at most a few per worker at a time, and store each
    segment as it comes back."""
    from distributed import as_completed

    groups = batches(articles, batch_size)
    pending = as_completed(loop=client.loop)
    done = 0
    for batch in groups:
        pending.add(client.submit(build_segment, batch, pure=False, retries=TASK_RETRIES))
        if pending.count() >= workers * IN_FLIGHT_PER_WORKER:
            done += _collect_one(pending, index_path, writer)
            if progress:
                progress.update(done)
    while pending.count():
        done += _collect_one(pending, index_path, writer)
        if progress:
            progress.update(done)


def _collect_one(pending: Any, index_path: Path, writer: Any) -> int:
    future = next(pending)
    try:
        result = future.result()
    except Exception as exc:  # noqa: BLE001 - a batch failed on every try: nothing is committed
        raise DaskProblem(f"a batch failed on the Dask workers ({type(exc).__name__}: {exc}); "
                          "the index keeps its last committed state") from exc
    writer.add_segment(_store_segment(index_path, result))
    future.release()
    return int(result["docs"])
