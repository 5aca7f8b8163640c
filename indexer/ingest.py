"""Ingest archive files into the index: read, validate, analyse, write, report.

Data flow: reading.read_paths -> records.article_from_dict ->
documents.document_fields -> Whoosh writer -> one commit. Analysis (pyvi
segmentation) and posting writing are the costly steps; with several cores
Whoosh's MpWriter runs both in worker processes, each writing its own new
segment, while this process reads input and deletes replaced articles.

Re-ingesting an id replaces the article; an id repeated inside one run keeps
its last version. The input is read twice (validate and find each id's last
version, then index), so memory stays flat however large the archive.
Nothing is visible until the single commit at the end, so a killed run
leaves the previous index as it was, and a rerun converges.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from indexer import store
from indexer.documents import document_fields
from indexer.records import Article, RecordError, article_from_dict
from indexer.sources.reading import Paths, Problem, RawRecord, read_paths

WRITER_LIMIT_MB = 256  # Whoosh's in-memory posting pool (per worker) before it spills
PARALLEL_MIN_DOCS = 200  # below this, worker start-up costs more than it saves
# Articles per job file that MpWriter pickles for a worker: small enough that
# both workers get work early in a run of a few hundred articles, large
# enough that the per-file overhead (a file, a queue message) stays small.
WORKER_BATCH_DOCS = 64
# Objects allocated between two young-generation collections while writing.
# Analysis makes millions of short-lived tuples, freed by reference counts;
# Python's default (700) collected every few hundred syllables for nothing.
WRITING_GC_THRESHOLD = 10_000

Place = tuple[str, int]  # file and line of a record
Report = Callable[[str], None]


@dataclass
class Summary:
    added: int = 0
    replaced: int = 0
    rejected: int = 0
    skipped: int = 0
    repeated_in_input: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    workers: int = 0  # Dask workers that did the work (0: this machine's processes)

    def reporter(self, report: Report | None) -> Report:
        """A report function that also keeps each problem here."""
        def _report(message: str) -> None:
            self.problems.append(message)
            if report:
                report(message)
        return _report

    def line(self) -> str:
        where = f", on {self.workers} Dask workers" if self.workers else ""
        rate = f", {(self.added + self.replaced) / self.seconds:,.0f} articles/s" if self.seconds else ""
        return (f"added {self.added}, replaced {self.replaced}, rejected {self.rejected}, "
                f"skipped files {self.skipped}, repeated ids in input {self.repeated_in_input}, "
                f"{self.seconds:.1f} s{rate}{where}")


class Progress:
    """A one-line progress bar on stderr (a line every few seconds when not a terminal)."""

    def __init__(self, total: int, stream: TextIO | None = None, label: str = "indexing") -> None:
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, done: int, final: bool = False) -> None:
        self.done = done
        now = time.monotonic()
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        width = 30
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        text = f"{self.label} [{bar}] {done:,}/{self.total:,} articles {rate:,.0f}/s"
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" if self.tty else "") + text + end)
        self.stream.flush()


def _validated(paths: Paths) -> Iterator[tuple[Place, Article] | tuple[None, Problem]]:
    """(place, Article or Problem) for every record, in input order."""
    for item in read_paths(paths):
        if isinstance(item, Problem):
            yield None, item
            continue
        assert isinstance(item, RawRecord)
        try:
            yield (item.path, item.line), article_from_dict(item.data)
        except RecordError as exc:
            yield None, Problem(item.path, item.line, str(exc))


def collect(paths: Paths, summary: Summary, report: Report) -> tuple[dict[str, Place], int]:
    """First pass: validate and report every record; remember where each id's
    last version is. Only ids are kept, so memory does not grow with the text."""
    last: dict[str, Place] = {}
    for place, item in _validated(paths):
        if isinstance(item, Problem):
            if item.skipped:
                summary.skipped += 1
            elif not item.notice:
                summary.rejected += 1
            report(str(item))
            continue
        assert place is not None
        if item.id in last:
            summary.repeated_in_input += 1
        last[item.id] = place
    return last, len(last)


def final_versions(paths: Paths, last: dict[str, Place]) -> Iterator[Article]:
    """Second pass: each id's last version, in input order of those versions."""
    for place, item in _validated(paths):
        if place is not None and isinstance(item, Article) and last.get(item.id) == place:
            yield item


def article_exists(searcher: Any, article_id: str) -> bool:
    return searcher.document_number(id=article_id) is not None


def write_articles(ix: Any, index_dir: Path, articles: Iterable[Article], count: int,
                   summary: Summary, procs: int | None = None, progress: Progress | None = None,
                   lock_timeout: float | None = None) -> None:
    """Add or replace ``count`` articles from the iterable ``articles``, in one
    commit. ``lock_timeout`` None: the VNSEARCH_LOCK_TIMEOUT setting."""
    procs = procs or os.cpu_count() or 1
    options: dict[str, Any] = {"limitmb": WRITER_LIMIT_MB}
    if procs > 1 and count >= PARALLEL_MIN_DOCS:
        options.update(procs=procs, multisegment=True, batchsize=WORKER_BATCH_DOCS)
    with fewer_collections(), store.writing(ix, index_dir, lock_timeout, **options) as writer:
        with writer.searcher() as searcher:
            _file(map(document_fields, articles), writer, searcher, summary, progress)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Young-generation collections every WRITING_GC_THRESHOLD allocations
    while writing, in this process and the workers it forks."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], WRITING_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _file(documents: Iterable[dict[str, Any]], writer: Any, searcher: Any, summary: Summary,
          progress: Progress | None) -> None:
    for done, fields in enumerate(documents, start=1):
        if article_exists(searcher, fields["id"]):
            writer.update_document(**fields)
            summary.replaced += 1
        else:
            writer.add_document(**fields)
            summary.added += 1
        if progress:
            progress.update(done)
    if progress:
        progress.update(summary.added + summary.replaced, final=True)


def valid_articles(records: list[dict], summary: Summary) -> dict[str, Article]:
    """The API's records as articles by id (the last of a repeated id wins);
    invalid ones are counted in ``summary`` and reported by position."""
    articles = {}
    for position, record in enumerate(records):
        try:
            article = article_from_dict(record)
        except RecordError as exc:
            summary.rejected += 1
            summary.problems.append(f"record {position}: {exc}")
            continue
        articles[article.id] = article
    return articles


def batches(articles: Iterable[Article], size: int) -> Iterator[list[Article]]:
    """``articles`` in lists of ``size`` (the last one shorter)."""
    batch: list[Article] = []
    for article in articles:
        batch.append(article)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ingest(paths: Paths, index_dir: str | os.PathLike[str] | None = None, procs: int | None = None,
           show_progress: bool = True, report: Report | None = None,
           lock_timeout: float | None = None) -> Summary:
    """Index the archive files and directories ``paths``; ``lock_timeout``
    None: the VNSEARCH_LOCK_TIMEOUT setting."""
    started = time.monotonic()
    index_path = store.resolve_index_dir(index_dir)
    summary = Summary()
    _report = summary.reporter(report)

    last, count = collect(paths, summary, _report)
    ix = store.open_or_create(index_path)
    if count:
        progress = Progress(count) if show_progress else None
        write_articles(ix, index_path, final_versions(paths, last), count, summary, procs,
                       progress, lock_timeout)
    summary.seconds = time.monotonic() - started
    return summary


def delete(ids: Iterable[str], index_dir: str | os.PathLike[str] | None = None,
           lock_timeout: float | None = None) -> tuple[list[str], list[str]]:
    """Remove articles by id; returns (deleted ids, unknown ids)."""
    index_path = store.resolve_index_dir(index_dir)
    ix = store.open_index(index_path)
    deleted: list[str] = []
    unknown: list[str] = []
    with store.writing(ix, index_path, lock_timeout) as writer:
        with writer.searcher() as searcher:
            for article_id in ids:
                (deleted if article_exists(searcher, article_id) else unknown).append(article_id)
        for article_id in deleted:
            writer.delete_by_term("id", article_id)
    return deleted, unknown


def optimize(index_dir: str | os.PathLike[str] | None = None, lock_timeout: float | None = None) -> tuple[int, int]:
    """Merge every segment into one (after a backfill that left many, e.g. one
    per Dask batch); the text postings are copied as whole arrays. Returns
    the segment counts before and after."""
    index_path = store.resolve_index_dir(index_dir)
    ix = store.open_index(index_path)
    before = len(ix._segments())
    with store.writing(ix, index_path, lock_timeout, merge_all=True):
        pass
    return before, len(store.open_index(index_path)._segments())
