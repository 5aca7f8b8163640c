"""Query latency benchmark beside SQLite FTS5, on the VNTC training corpus.

    .venv/bin/python bench/query_bench.py --index /tmp/full_ix [--queries 360]

Builds the index first if DIR is empty (bench/index_bench.py --keep DIR does
the same). Runs the same queries through vnsearch in-process (with facets and
highlighted snippets, as the API answers them) and through SQLite FTS5 (OR +
bm25, and AND) and prints p50/p95 per kind of query.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fts5_peer import Fts5  # noqa: E402
from bench.querysets import SHARED, fragment, load, unaccent  # noqa: E402
from indexer import store  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.request import SearchRequest  # noqa: E402


def build_queries(records, count: int, seed: int = 7):
    rng = random.Random(seed)
    titled = [r for r in records if r.get("title")]
    categories = sorted({r["category"] for r in records if r.get("category")})
    sources = sorted({r["source"] for r in records if r.get("source")})
    kinds = {
        "1-3 words, unaccented": lambda r: unaccent(fragment(rng, r["title"], rng.randint(1, 3)) or ""),
        "1-3 words, accented": lambda r: fragment(rng, r["title"], rng.randint(1, 3)),
        "4-8 words, unaccented": lambda r: unaccent(fragment(rng, r["body"], rng.randint(4, 8)) or ""),
        "4-8 words, accented": lambda r: fragment(rng, r["title"] + " " + r["body"], rng.randint(4, 8)),
        "phrase": lambda r: '"' + (fragment(rng, r["body"], rng.randint(2, 4)) or "") + '"',
        "whole title, unaccented": lambda r: unaccent(r["title"]),
    }
    per_kind = max(1, count // (len(kinds) + 1))
    queries = []
    for kind, make in kinds.items():
        made = 0
        while made < per_kind:
            q = make(rng.choice(titled))
            if q and q.strip('" '):
                queries.append((kind, q, {}))
                made += 1
    for _ in range(per_kind):
        q = unaccent(fragment(rng, rng.choice(titled)["title"], 2) or "")
        filters = rng.choice([{"category": rng.choice(categories)}, {"source": rng.choice(sources)}])
        queries.append(("with a filter", q, filters))
    return queries


def request_for(q, filters, group="on"):
    params = {"q": q, "size": "10", "group": group}
    return SearchRequest.from_params(params.get, lambda k: [filters[k]] if k in filters else [])


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def corpus_and_engine(corpus: str, index: str) -> tuple[list[dict], Engine]:
    """The corpus's records, and an engine on ``index``, built from the corpus
    first if there is no index there."""
    records = load(Path(corpus))
    index_dir = Path(index)
    if not store.index_exists(index_dir):
        ingest([corpus], index_dir)
    return records, Engine(index_dir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--corpus", default=str(SHARED / "vntc-train.jsonl.gz"))
    parser.add_argument("--queries", type=int, default=360)
    parser.add_argument("--warmup", type=int, default=200, help="other queries run first")
    args = parser.parse_args()

    records, engine = corpus_and_engine(args.corpus, args.index)
    fts = Fts5()
    fts.index(records)
    queries = build_queries(records, args.queries)

    # A server runs warm: before measuring, run a different set of queries
    # (another seed) so common words' posting lists are decoded, as after
    # a few minutes of traffic. The measured queries are still mostly unseen.
    for _, q, filters in build_queries(records, args.warmup, seed=99):
        engine.search(request_for(q, filters))
    ours, ungrouped, peer_or, peer_and = {}, {}, {}, {}
    for number, (kind, q, filters) in enumerate(queries):
        # same-event grouping's cost, in the same run; the first of the two
        # reads the query's postings cold, so each goes first every other query
        runs = ((ours, "on"), (ungrouped, "off"))
        for table, group in runs if number % 2 == 0 else runs[::-1]:
            request = request_for(q, filters, group)
            started = time.perf_counter()
            engine.search(request)
            table.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        for store_, mode in ((peer_or, "OR"), (peer_and, "AND")):
            started = time.perf_counter()
            fts.search(q, mode=mode)
            store_.setdefault(kind, []).append((time.perf_counter() - started) * 1000)

    def row(name, table):
        values = [v for vs in table.values() for v in vs]
        return f"{name:<26} {statistics.median(values):8.1f} {percentile(values, 95):8.1f}"

    print(f"{len(queries)} queries on {engine.stats()['documents']:,} articles after "
          f"{args.warmup} warm-up queries (vnsearch: facets + highlighted snippets, page size 10, "
          "grouped by event unless group=off)")
    print(f"{'kind':<26} {'ours p50':>9} {'p95':>8} {'FTS5-OR p50':>12} {'p95':>8} {'FTS5-AND p50':>13} {'p95':>8}")
    for kind in ours:
        a, b, c = ours[kind], peer_or[kind], peer_and[kind]
        print(f"{kind:<26} {statistics.median(a):9.1f} {percentile(a, 95):8.1f} "
              f"{statistics.median(b):12.1f} {percentile(b, 95):8.1f} "
              f"{statistics.median(c):13.1f} {percentile(c, 95):8.1f}")
    print("overall (ms):       p50      p95")
    print(row("vnsearch", ours))
    print(row("vnsearch, group=off", ungrouped))
    print(row("SQLite FTS5 OR + bm25", peer_or))
    print(row("SQLite FTS5 AND", peer_and))
    all_ours = [v for vs in ours.values() for v in vs]
    all_or = [v for vs in peer_or.values() for v in vs]
    all_flat = [v for vs in ungrouped.values() for v in vs]
    print(f"same-event grouping: p50 {statistics.median(all_ours) / statistics.median(all_flat):.2f}x, "
          f"p95 {percentile(all_ours, 95) / percentile(all_flat, 95):.2f}x the ungrouped search")
    print(f"ratio vnsearch / FTS5-OR: p50 {statistics.median(all_ours) / statistics.median(all_or):.2f}x, "
          f"p95 {percentile(all_ours, 95) / percentile(all_or, 95):.2f}x")


if __name__ == "__main__":
    main()
