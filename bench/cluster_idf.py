"""How far is ranking on a sharded Sphinx cluster from ranking on one index?

    .venv/bin/python bench/cluster_idf.py [--n 300] [--shards 2] [--queries 60]

The same articles (../shared/corpus/mds.jsonl, analysed once) go into a
cluster of ``--shards`` shards and into a one-shard reference, both on
loopback; the same queries (2-3 unaccented title words, every word
required) run on both, ranked by tf-idf and by BM25 (``bm25f(1.2, 0)``),
three ways:

* sharded, each shard with its own statistics (the default);
* sharded with ``OPTION global_idf=1`` and a cluster-wide IDF file
  (search/cluster_idf.py) that the shards load at start;
* the reference, one index: the "global" ranking.

Prints, against the reference: the mean overlap of the top 10, the share of
queries whose top 10 is in the same order, and the relative error of the
scores of the matching articles. Every process started here is stopped
by its PID, and the temporary directory removed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.records import article_from_dict  # noqa: E402
from search import cluster_nodes  # noqa: E402
from search.cluster import Layout, write_configs  # noqa: E402
from search.cluster_idf import keyword_stats, write_global_idf  # noqa: E402
from search.cluster_search import ClusterSearch  # noqa: E402
from search.cluster_writes import ClusterWriter  # noqa: E402
from search.sphinx_documents import article_row, query_words  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "mds.jsonl"
# WEIGHT() is an integer: scores are scaled, and bm25f() is 0.5 plus the
# score, so the 0.5 goes. BM25 without length normalisation (b = 0): on
# 2.2.11 RT indexes bm25f() with b > 0 comes out as 0.5 plus about 1e-5 for
# every match (as if the average field length were tiny), which measures
# nothing; the ranking itself is the next phase. idf='plain' (log N/n): the
# default, log((N-n+1)/n), is negative for a word in more than half of a shard.
RANKERS = {"tf-idf": "expr('sum(tf_idf)*100000')", "BM25 b=0": "expr('(bm25f(1.2,0)-0.5)*100000000')"}
IDF_OPTION = "idf='plain,tfidf_unnormalized'"
# Measured on 2.2.11: with global_idf=1 the two idf formulas swap ('normalized'
# then computes log(N/n), 'plain' log((N-n+1)/n)); ask for the other one.
GLOBAL_IDF_OPTIONS = ["idf='normalized,tfidf_unnormalized'", "global_idf=1"]
TOP = 10


def free_base(count: int) -> int:
    rng = random.Random()
    while True:
        base = rng.randrange(20000, 60000 - count)
        if all(cluster_nodes.port_free("127.0.0.1", p) for p in range(base, base + count)):
            return base


def make_queries(records: list[dict], count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    queries = []
    for record in rng.sample(records, min(count, len(records))):
        words = query_words(record["title"])
        if len(words) >= 3:
            start = rng.randrange(len(words) - 2)
            queries.append(" ".join(words[start:start + rng.choice((2, 3))]))
    return queries


def ranking(search: ClusterSearch, query: str, ranker: str, global_idf: bool) -> dict[str, int]:
    """{article id: score} of every match, best first."""
    options = GLOBAL_IDF_OPTIONS if global_idf else [IDF_OPTION]
    result = search.select(f"@content_fold {query}", limit=1000, ranker=ranker, order_by="score DESC, id ASC",
                           options=options)
    assert not result.partial, result.warnings
    return {row["article_id"]: int(row["score"]) for row in result.rows}


def compare(runs: dict[str, dict[str, int]], reference: dict[str, int]) -> tuple[float, bool, list[float]]:
    top, ref_top = list(runs)[:TOP], list(reference)[:TOP]
    overlap = len(set(top) & set(ref_top)) / max(1, len(ref_top))
    errors = [abs(runs[a] - s) / s for a, s in reference.items() if s and a in runs]
    return overlap, top == ref_top, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()

    with open(CORPUS, encoding="utf-8") as handle:
        records = [json.loads(line) for _, line in zip(range(args.n), handle, strict=False)]
    started = time.monotonic()
    rows = [article_row(article_from_dict(r)) for r in records]
    print(f"{len(rows)} articles analysed in {time.monotonic() - started:.1f} s")

    with tempfile.TemporaryDirectory(prefix="vnsearch-idf-") as tmp:
        sharded = Layout(Path(tmp) / "sharded", args.shards, 1, free_base(2 + 2 * args.shards))
        single = Layout(Path(tmp) / "single", 1, 1, free_base(4))
        try:
            for layout in (sharded, single):
                cluster_nodes.up(layout)
                assert ClusterWriter(layout).replace_rows(rows).complete
            queries = make_queries(records, args.queries)
            runs = {(name, way, q): ranking(ClusterSearch(layout), q, ranker, False)
                    for name, ranker in RANKERS.items() for q in queries
                    for way, layout in (("reference", single), ("per-shard statistics", sharded))}

            write_global_idf(sharded, keyword_stats(rows))
            write_configs(sharded)  # the shards' configs now name global.idf
            for node in sharded.mirror_nodes:
                cluster_nodes.stop_node(sharded, node)
                cluster_nodes.start_node(sharded, node)
            runs.update({(name, "global_idf file", q): ranking(ClusterSearch(sharded), q, ranker, True)
                         for name, ranker in RANKERS.items() for q in queries})
        finally:
            for layout in (sharded, single):
                cluster_nodes.down(layout)

    queries = [q for q in queries if runs[("tf-idf", "reference", q)]]
    print(f"{len(queries)} queries with matches; {args.shards} shards vs one index of the same "
          f"{len(rows)} articles; every word required")
    print(f"{'ranker':<9} {'statistics':<22} {'top-10 overlap':>14} {'same top 10':>11} "
          f"{'score error mean':>16} {'p95':>6}")
    for name in RANKERS:
        for way in ("per-shard statistics", "global_idf file"):
            results = [compare(runs[(name, way, q)], runs[(name, "reference", q)]) for q in queries]
            errors = sorted(e for _, _, errs in results for e in errs)
            p95 = errors[int(0.95 * (len(errors) - 1))] if errors else 0.0
            print(f"{name:<9} {way:<22} {statistics.mean(r[0] for r in results):>14.3f} "
                  f"{sum(r[1] for r in results) / len(results):>11.1%} "
                  f"{statistics.mean(errors) if errors else 0.0:>16.2%} {p95:>6.1%}")

if __name__ == "__main__":
    main()
