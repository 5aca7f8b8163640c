"""Writing articles to a Sphinx cluster: `vnsearch index` and the API's
writes report in the same ingest.Summary as on Whoosh.

Files are read and validated by indexer/ingest.py's own two passes (every
rejected record reported as ``file:line: reason``; an id repeated in the
input keeps its last version), then analysed (sphinx_documents.article_row,
our analyzer: the costly part, spread over ``procs`` processes) and sent in
batches by cluster_writes.ClusterWriter to every mirror of each article's
shard. Unlike the Whoosh index there is no single commit: each batch is
searchable once written, so an interrupted run leaves the articles sent so
far (a rerun converges, a REPLACE being idempotent).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from indexer import ingest
from indexer.sources.reading import Paths
from search.cluster_writes import ClusterWriter, WriteOutcome
from search.sphinx_documents import article_row

BATCH = 500  # articles analysed and sent at a time
PARALLEL_MIN = 200  # fewer articles: worker start-up costs more than it saves


def count_outcomes(outcomes: Iterable[WriteOutcome], summary: ingest.Summary) -> None:
    """A write report in an ingest.Summary: refused articles are rejected;
    an article a mirror missed counts as written (its journal holds it), and
    ``problems`` names the mirror."""
    for outcome in outcomes:
        if outcome.refused:
            summary.rejected += 1
            summary.problems.append(f"{outcome.article_id}: {outcome.refused}")
            continue
        if outcome.replaced:
            summary.replaced += 1
        else:
            summary.added += 1
        if outcome.missed:
            summary.problems.append(f"{outcome.article_id}: written, but not yet on {', '.join(outcome.missed)} "
                                    "(down): it takes the write from its journal when it is back")


def index_paths(writer: ClusterWriter, paths: Paths, procs: int | None = None,
                report: Callable[[str], None] | None = None) -> ingest.Summary:
    """Add or replace the articles of archive files and directories."""
    started = time.monotonic()
    summary = ingest.Summary()
    reporter = summary.reporter(report)
    last, count = ingest.collect(paths, summary, reporter)
    procs = max(1, procs or os.cpu_count() or 1)
    pool: Any = None
    if procs > 1 and count >= PARALLEL_MIN:
        pool = multiprocessing.get_context("spawn").Pool(procs)
    try:
        for batch in ingest.batches(ingest.final_versions(paths, last), BATCH):
            rows = pool.map(article_row, batch, chunksize=16) if pool else [article_row(a) for a in batch]
            written = writer.replace_rows(rows)
            before = len(summary.problems)
            count_outcomes(written.outcomes, summary)
            for problem in summary.problems[before:]:
                if report:
                    report(problem)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    summary.seconds = time.monotonic() - started
    return summary
