"""Relevance evaluation beside SQLite FTS5 (OR + bm25, title weighted 4x).

    .venv/bin/python bench/relevance_eval.py --index DIR [--items 200]

1. Cluster relevance on shared/corpus/mds.jsonl (628 articles, 199 clusters of
   the same event): each article's title, accented and unaccented, is a query;
   the other articles of its cluster are the relevant results (the query
   article itself is left out of the ranking). nDCG@10 and recall@10.
2. Known items from vntc-test-6k indexed beside the training corpus (DIR must
   hold the training index, e.g. from `bench/index_bench.py --keep DIR`; the
   6,000 test articles are added to it if missing): whole unaccented titles,
   3-4 word title fragments with and without accents, 5-word body phrases
   without accents, old tone style and NFD variants of titles. MRR@10 and
   success@10 per kind.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fts5_peer import Fts5  # noqa: E402
from bench.querysets import SHARED, fragment, load, nfd, other_tone_style, unaccent  # noqa: E402
from indexer import store  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.request import SearchRequest  # noqa: E402

K = 10


def our_ids(engine, q, k=K + 1):
    params = {"q": q, "size": str(k), "facets": "false"}
    return [h.id for h in engine.search(SearchRequest.from_params(params.get, lambda _: [])).hits]


def ndcg(ranked, relevant):
    gains = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:K]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return gains / ideal if ideal else 0.0


def cluster_eval(workdir: Path):
    records = load(SHARED / "mds.jsonl")
    clusters = json.loads((SHARED / "mds-clusters.json").read_text(encoding="utf-8"))
    cluster_of = {d: c for c, info in clusters.items() for d in info["doc_ids"]}
    index_dir = workdir / "mds"
    ingest([SHARED / "mds.jsonl"], index_dir, show_progress=False)
    engine = Engine(index_dir)
    fts = Fts5()
    fts.index(records)
    scores = {}
    for variant, transform in (("accented", lambda t: t), ("unaccented", unaccent)):
        for name, run in (("vnsearch", lambda q: our_ids(engine, q)),
                          ("FTS5", lambda q: fts.search(q, limit=K + 1))):
            n_sum = r_sum = 0.0
            for record in records:
                relevant = set(clusters[cluster_of[record["id"]]]["doc_ids"]) - {record["id"]}
                ranked = [d for d in run(transform(record["title"])) if d != record["id"]][:K]
                n_sum += ndcg(ranked, relevant)
                r_sum += len(relevant & set(ranked)) / len(relevant)
            scores[(variant, name)] = (n_sum / len(records), r_sum / len(records))
    print(f"\n1. Cluster relevance, {len(records)} title queries per variant "
          f"({len(clusters)} clusters)")
    print(f"{'query':<12} {'vnsearch nDCG@10':>17} {'recall@10':>10} {'FTS5 nDCG@10':>13} {'recall@10':>10}")
    for variant in ("accented", "unaccented"):
        a, b = scores[(variant, "vnsearch")], scores[(variant, "FTS5")]
        print(f"{variant:<12} {a[0]:17.3f} {a[1]:10.3f} {b[0]:13.3f} {b[1]:10.3f}")


def known_item_queries(records, items, seed=11):
    rng = random.Random(seed)
    titled = [r for r in records if len((r.get("title") or "").split()) >= 4]
    sample = rng.sample(titled, min(items, len(titled)))
    kinds = {
        "whole title, unaccented": lambda r: unaccent(r["title"]),
        "3-4 title words, accented": lambda r: fragment(rng, r["title"], rng.randint(3, 4)),
        "3-4 title words, unaccented": lambda r: unaccent(fragment(rng, r["title"], rng.randint(3, 4))),
        "5 body words, unaccented": lambda r: unaccent(fragment(rng, r["body"], 5) or ""),
        "NFD title": lambda r: nfd(r["title"]),
    }
    queries = {kind: [] for kind in kinds}
    for record in sample:
        for kind, make in kinds.items():
            q = make(record)
            if q and q.strip():
                queries[kind].append((q, record["id"]))
    # few titles have an open oa/oe/uy syllable: draw those from all titles
    swapped = [r for r in titled if other_tone_style(r["title"]) != r["title"]]
    queries["other tone placement title"] = [
        (other_tone_style(r["title"]), r["id"]) for r in rng.sample(swapped, min(items, len(swapped)))]
    return queries


def known_item_eval(index_dir: Path, items: int):
    test_path = SHARED / "vntc-test-6k.jsonl.gz"
    test = load(test_path)
    engine = Engine(index_dir)
    if engine.get(test[0]["id"]) is None:
        ingest([test_path], index_dir)
        engine = Engine(index_dir)
    fts = Fts5()
    fts.index(load(SHARED / "vntc-train.jsonl.gz") + test)
    queries = known_item_queries(test, items)
    print(f"\n2. Known items on {engine.stats()['documents']:,} articles (train + test-6k)")
    print(f"{'kind':<28} {'n':>4} {'vnsearch MRR@10':>16} {'success@10':>11} {'FTS5 MRR@10':>12} {'success@10':>11}")
    for kind, pairs in queries.items():
        row = []
        for run in (lambda q: our_ids(engine, q, K), lambda q: fts.search(q, limit=K)):
            rr = hits = 0.0
            for q, target in pairs:
                ranked = run(q)
                if target in ranked:
                    rr += 1 / (ranked.index(target) + 1)
                    hits += 1
            row += [rr / len(pairs), hits / len(pairs)]
        print(f"{kind:<28} {len(pairs):>4} {row[0]:16.3f} {row[1]:11.3f} {row[2]:12.3f} {row[3]:11.3f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", help="training-corpus index (part 2); omit to run part 1 only")
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vnsearch-eval-") as workdir:
        cluster_eval(Path(workdir))
    if args.index:
        if not store.index_exists(Path(args.index)):
            sys.exit(f"{args.index}: no index; build it with bench/index_bench.py --keep {args.index}")
        known_item_eval(Path(args.index), args.items)


if __name__ == "__main__":
    main()
