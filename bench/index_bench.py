"""Index benchmark: the whole VNTC training corpus into a fresh index.

    .venv/bin/python bench/index_bench.py [--corpus PATH] [--limit N] [--procs N]

Prints articles/s, wall time, peak RSS (this process and the largest worker)
and index size, beside two peers run on the same records in the same run:
SQLite FTS5 indexing them, and the segmentation-only ceiling: pyvi's word
segmentation alone (its CRF model, through indexer.pyvi_model) over the same
text, in as many processes as the index run used. Indexing cannot be faster
than that ceiling while it segments every article.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fts5_peer import Fts5  # noqa: E402
from indexer import pyvi_model  # noqa: E402
from indexer.documents import content_text  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from indexer.records import RecordError, article_from_dict  # noqa: E402
from indexer.store import stats  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/vntc-train.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--limit", type=int, default=None, help="index only the first N records")
    parser.add_argument("--procs", type=int, default=None)
    parser.add_argument("--keep", metavar="DIR", help="build the index in DIR and keep it")
    args = parser.parse_args()

    corpus = Path(args.corpus)
    workdir = Path(tempfile.mkdtemp(prefix="vnsearch-bench-"))
    source = corpus
    if args.limit:
        source = workdir / "slice.jsonl"
        with gzip.open(corpus, "rt", encoding="utf-8") as src, open(source, "w") as out:
            for i, line in enumerate(src):
                if i >= args.limit:
                    break
                out.write(line)
    index_dir = Path(args.keep) if args.keep else workdir / "index"
    if index_dir.exists():
        shutil.rmtree(index_dir)

    started = time.perf_counter()
    summary = ingest([source], index_dir, procs=args.procs, show_progress=True)
    seconds = time.perf_counter() - started
    info = stats(index_dir)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    opener = gzip.open if str(source).endswith(".gz") else open
    with opener(source, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    fts_seconds = Fts5().index(records)
    procs = args.procs or os.cpu_count() or 1
    segment_seconds = segmentation_only(records, procs)

    n = summary.added + summary.replaced
    print(f"corpus            {source} ({n:,} articles, {summary.rejected} rejected)")
    print(f"vnsearch          {seconds:,.1f} s  {n / seconds:,.0f} articles/s")
    print(f"peak RSS          parent {own:,.0f} MB, largest worker {child:,.0f} MB")
    print(f"index size        {info['size_bytes'] / 1e6:,.1f} MB ({info['documents']:,} documents)")
    print(f"SQLite FTS5 peer  {fts_seconds:,.1f} s  {n / fts_seconds:,.0f} articles/s "
          f"(vnsearch takes {seconds / fts_seconds:,.1f}x as long; it segments with pyvi)")
    print(f"segmentation only {segment_seconds:,.1f} s  {n / segment_seconds:,.0f} articles/s "
          f"in {procs} process(es) ({segment_seconds / fts_seconds:,.1f}x FTS5; vnsearch takes "
          f"{seconds / segment_seconds:,.2f}x the segmentation alone)")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


def _segment(texts: list[str]) -> int:
    return sum(len(pyvi_model.tokenize(text)) for text in texts)


def segmentation_only(records: list[dict], procs: int) -> float:
    """Seconds to segment every article's text (what the index run analyses:
    title, lead, captions and body) in ``procs`` processes, model loading
    included."""
    texts = []
    for record in records:
        try:
            texts.append(content_text(article_from_dict(record)))
        except RecordError:
            continue
    batches = [texts[i:i + 64] for i in range(0, len(texts), 64)]
    started = time.perf_counter()
    if procs > 1:
        with multiprocessing.get_context("fork").Pool(procs) as pool:
            pool.map(_segment, batches, chunksize=1)
    else:
        _segment(texts)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
