"""Relevance evaluation beside SQLite FTS5 (OR + bm25, title weighted 4x).

    .venv/bin/python bench/relevance_eval.py --index DIR [--items 200]
    .venv/bin/python bench/relevance_eval.py --backend sphinx [--index DIR | --limit N]

1. Cluster relevance on shared/corpus/mds.jsonl (628 articles, 199 clusters of
   the same event): each article's title, accented and unaccented, is a query;
   the other articles of its cluster are the relevant results (the query
   article itself is left out of the ranking). nDCG@10 and recall@10, beside
   SQLite FTS5 and plain Whoosh BM25F (bench/whoosh_peer.py).
2. Known items from vntc-test-6k indexed beside the training corpus (DIR must
   hold the training index, e.g. from `bench/index_bench.py --keep DIR`; the
   6,000 test articles are added to it if missing): whole unaccented titles,
   3-4 word title fragments with and without accents, 5-word body phrases
   without accents, old tone style and NFD variants of titles. MRR@10 and
   success@10 per kind; for the body phrases and the title fragments, the
   text-alone ceiling (the share of queries whose words stand in a row in one
   article only, and the MRR of ranking those holders first). ``--limit N``
   runs it on the first N training and N test articles instead, in a fresh
   index (no DIR needed).

``--backend sphinx`` also indexes the same articles into a local Sphinx
cluster of 2 shards x 2 mirrors (`vnsearch cluster up` in a temporary
directory, stopped at the end) and prints its figures beside Whoosh's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fts5_peer import Fts5  # noqa: E402
from bench.querysets import SHARED, fragment, load, nfd, other_tone_style, unaccent, words  # noqa: E402
from bench.whoosh_peer import PlainWhoosh  # noqa: E402
from indexer import store  # noqa: E402
from indexer.analysis import syllable_forms, syllables  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from indexer.textnorm import normalize  # noqa: E402
from search.backend import Backend  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.request import SearchRequest  # noqa: E402

K = 10
SHARDS, MIRRORS = 2, 2


def our_ids(engine: Backend, q, k=K + 1):
    params = {"q": q, "size": str(k), "facets": "false", "group": "off"}  # ranking, not grouping
    return [h.id for h in engine.search(SearchRequest.from_params(params.get, lambda _: [])).hits]


def ndcg(ranked, relevant):
    gains = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:K]) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(K, len(relevant))))
    return gains / ideal if ideal else 0.0


# -- a local cluster ---------------------------------------------------------------
def _free_base(count: int) -> int:
    """A base port with ``count`` free loopback ports above it."""
    from search.cluster_nodes import port_free

    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65535 and all(port_free("127.0.0.1", p) for p in range(base, base + count)):
            return base
    raise SystemExit("no free block of loopback ports")


@contextlib.contextmanager
def local_cluster(directory: Path, paths: list[Path], procs: int = 1) -> Iterator[Backend]:
    """A 2 x 2 cluster in ``directory`` holding the articles of ``paths``; stopped by PID at the end."""
    from search import cluster_nodes
    from search.cluster import Layout
    from search.cluster_writes import ClusterWriter
    from search.sphinx_backend import SphinxBackend
    from search.sphinx_ingest import index_paths

    layout = Layout(directory, SHARDS, MIRRORS, _free_base(2 + 2 * SHARDS * MIRRORS))
    cluster_nodes.up(layout)
    try:
        summary = index_paths(ClusterWriter(layout), paths, procs=procs)
        print(f"   cluster {layout.url}: {summary.line()}", file=sys.stderr)
        yield SphinxBackend(layout.url, layout.directory)
    finally:
        cluster_nodes.down(layout)


# -- 1. clusters of the same event -----------------------------------------------
def cluster_eval(workdir: Path, sphinx: bool):
    records = load(SHARED / "mds.jsonl")
    clusters = json.loads((SHARED / "mds-clusters.json").read_text(encoding="utf-8"))
    cluster_of = {d: c for c, info in clusters.items() for d in info["doc_ids"]}
    index_dir = workdir / "mds"
    ingest([SHARED / "mds.jsonl"], index_dir, show_progress=False)
    fts = Fts5()
    fts.index(records)
    engine = Engine(index_dir)
    with contextlib.ExitStack() as stack:
        systems = {"vnsearch": lambda q: our_ids(engine, q)}
        if sphinx:
            backend = stack.enter_context(local_cluster(workdir / "mds-cluster", [SHARED / "mds.jsonl"]))
            systems["Sphinx"] = lambda q: our_ids(backend, q)
        systems["FTS5"] = lambda q: fts.search(q, limit=K + 1)
        plain = PlainWhoosh()  # issue 10's peer: Whoosh's own BM25F without our analysis
        plain.index(records)
        systems["Whoosh BM25F"] = lambda q: plain.search(q, limit=K + 1)
        scores, per_query = {}, {}
        for variant, transform in (("accented", lambda t: t), ("unaccented", unaccent)):
            for name, run in systems.items():
                gains, r_sum = [], 0.0
                for record in records:
                    relevant = set(clusters[cluster_of[record["id"]]]["doc_ids"]) - {record["id"]}
                    ranked = [d for d in run(transform(record["title"])) if d != record["id"]][:K]
                    gains.append(ndcg(ranked, relevant))
                    r_sum += len(relevant & set(ranked)) / len(relevant)
                scores[(variant, name)] = (sum(gains) / len(records), r_sum / len(records))
                per_query[(variant, name)] = gains
    print(f"\n1. Cluster relevance, {len(records)} title queries per variant "
          f"({len(clusters)} clusters)")
    print(f"{'query':<12}" + "".join(f" {name + ' nDCG@10':>17} {'recall@10':>10}" for name in systems))
    for variant in ("accented", "unaccented"):
        print(f"{variant:<12}" + "".join(f" {scores[(variant, name)][0]:17.3f} {scores[(variant, name)][1]:10.3f}"
                                         for name in systems))
    for variant in ("accented", "unaccented"):
        mean, low, high, better, worse = paired_difference(per_query[(variant, "vnsearch")],
                                                           per_query[(variant, "Whoosh BM25F")])
        print(f"{variant}: vnsearch - Whoosh BM25F nDCG@10 {mean:+.4f}, 95% bootstrap interval "
              f"{low:+.4f} to {high:+.4f}; {better} queries better, {worse} worse")


def paired_difference(ours: list[float], theirs: list[float], draws: int = 2000,
                      seed: int = 1) -> tuple[float, float, float, int, int]:
    """Mean per-query difference, its 95% paired bootstrap interval, and how
    many queries each side wins: whether a margin is more than the noise of
    the query set."""
    diffs = np.array(ours) - np.array(theirs)
    rng = np.random.default_rng(seed)
    means = np.sort(diffs[rng.integers(0, len(diffs), (draws, len(diffs)))].mean(axis=1))
    return (float(diffs.mean()), float(means[int(0.025 * draws)]), float(means[int(0.975 * draws) - 1]),
            int((diffs > 0).sum()), int((diffs < 0).sum()))


# -- 2. known items --------------------------------------------------------------
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


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def known_item_eval(workdir: Path, index_dir: Path | None, items: int, limit: int | None, sphinx: bool):
    test_path, train_path = SHARED / "vntc-test-6k.jsonl.gz", SHARED / "vntc-train.jsonl.gz"
    test, train = load(test_path, limit), load(train_path, limit)
    if limit:  # a fresh index of the slices
        paths = [_write(workdir / "train.jsonl", train), _write(workdir / "test.jsonl", test)]
        index_dir = workdir / "vntc"
        ingest(paths, index_dir, show_progress=False)
    else:
        assert index_dir is not None
        paths = [train_path, test_path]
    engine = Engine(index_dir)
    if engine.get(test[0]["id"]) is None:
        ingest([test_path], index_dir)
        engine = Engine(index_dir)
    fts = Fts5()
    fts.index(train + test)
    queries = known_item_queries(test, items)
    with contextlib.ExitStack() as stack:
        systems = {"vnsearch": engine}
        if sphinx:
            systems["Sphinx"] = stack.enter_context(local_cluster(workdir / "vntc-cluster", paths))
        print(f"\n2. Known items on {engine.stats()['documents']:,} articles (train + test-6k"
              f"{f', the first {limit:,} of each' if limit else ''})")
        names = [*systems, "FTS5"]
        print(f"{'kind':<28} {'n':>4}" + "".join(f" {name + ' MRR@10':>16} {'success@10':>11}" for name in names))
        for kind, pairs in queries.items():
            row = []
            runs = [lambda q, e=e: our_ids(e, q, K) for e in systems.values()]
            for run in [*runs, lambda q: fts.search(q, limit=K)]:
                rr = hits = 0.0
                for q, target in pairs:
                    ranked = run(q)
                    if target in ranked:
                        rr += 1 / (ranked.index(target) + 1)
                        hits += 1
                row += [rr / len(pairs), hits / len(pairs)]
            print(f"{kind:<28} {len(pairs):>4}" + "".join(f" {row[i]:16.3f} {row[i + 1]:11.3f}"
                                                          for i in range(0, len(row), 2)))
        unique, ceiling = phrase_ceiling(engine, queries["5 body words, unaccented"])
        print(f"5 body words, text-alone ceiling: the folded phrase is in one article only for {unique:.0%} "
              f"of the queries; ranking the articles holding it first, in random order, gives MRR@10 "
              f"{ceiling:.3f}")
        for kind, folded in (("3-4 title words, accented", False), ("3-4 title words, unaccented", True)):
            unique, ceiling, best = title_ceiling(train + test, queries[kind], folded)
            print(f"{kind}, title-alone ceiling: the words stand in a row in one title only for "
                  f"{unique:.0%} of the queries; ranking those titles first, in random order, gives "
                  f"MRR@10 {ceiling:.3f}; the best any ranking by text can expect (shorter headlines "
                  f"first, as likelier sources) is {best:.3f}")


def phrase_ceiling(engine: Backend, pairs: list[tuple[str, str]]) -> tuple[float, float]:
    """Of remembered-sentence queries: the share whose folded words stand in a
    row in exactly one article, and the expected MRR@10 of a ranking that puts
    the n articles holding them first in random order (1/n x the sum of 1/i
    for i up to min(n, 10)); 0 for a query whose article does not hold them."""
    unique = total = 0.0
    for q, target in pairs:
        params = {"q": f'"{q}"', "size": "100", "facets": "false", "group": "off"}
        found = engine.search(SearchRequest.from_params(params.get, lambda _: []))
        holders = found.total
        if target not in [hit.id for hit in found.hits] and holders <= 100:
            continue
        unique += holders == 1
        total += _expected_rr(holders)
    return unique / len(pairs), total / len(pairs)


def _expected_rr(holders: int) -> float:
    """MRR@10 of the one wanted article among ``holders`` ranked first in random order."""
    return sum(1 / i for i in range(1, min(holders, K) + 1)) / holders


def title_ceiling(records: list[dict], pairs: list[tuple[str, str]],
                  folded: bool) -> tuple[float, float, float]:
    """Of headline-fragment queries: the share whose words (as the index
    reads them: lowercase, one tone placement, folded when ``folded``) stand
    in a row in exactly one title of ``records``; the expected MRR@10 of
    ranking the titles that hold them first in random order; and the best
    expected MRR@10 that any ranking by text can have.

    The last is the Bayes-optimal ranking for how the queries are made
    (``fragment``: a title of 4 words or more, then a run of its words at a
    uniformly random start). Given the words, a title holding them was the
    source with a probability proportional to how often they stand in it
    over how many runs of that length it has: a short headline is the
    likelier source. No ranking that reads only the query and the archive
    does better on average, whatever it knows about the articles."""
    def line(text: str) -> str:
        return " " + " ".join(syllable_forms(s.text)[1 if folded else 0]
                              for s in syllables(normalize(text))) + " "
    titles = [(line(r.get("title") or ""), len(words(r.get("title") or ""))) for r in records]
    unique = total = best = 0.0
    for q, _ in pairs:
        wanted, size = line(q), len(words(q))
        held = [(title, count) for title, count in titles if wanted in title]
        likelihoods = [title.count(wanted) / (count - size + 1) for title, count in held if count >= 4]
        holders = max(1, len(held))
        unique += holders == 1
        total += _expected_rr(holders)
        best += _best_expected_rr(likelihoods)
    return unique / len(pairs), total / len(pairs), best / len(pairs)


def _best_expected_rr(likelihoods: list[float]) -> float:
    """Expected MRR@10 of ranking candidates by how likely each is the wanted
    one (equal likelihoods in random order among themselves)."""
    if not likelihoods:
        return 1.0  # the source's words are not in a row in its own title as read: not a fragment case
    whole, expected, rank = sum(likelihoods), 0.0, 0
    for value in sorted(set(likelihoods), reverse=True):
        tied = likelihoods.count(value)
        shared = sum(1 / r for r in range(rank + 1, min(rank + tied, K) + 1)) / tied
        expected += tied * value / whole * shared
        rank += tied
    return expected


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", help="training-corpus index (part 2); omit to run part 1 only")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--limit", type=int, default=None,
                        help="part 2 on the first N training and N test articles, in a fresh index")
    parser.add_argument("--backend", choices=("whoosh", "sphinx"), default="whoosh",
                        help="sphinx: also a local 2 x 2 Sphinx cluster with the same articles, side by side")
    parser.add_argument("--skip-clusters", action="store_true", help="part 2 only")
    args = parser.parse_args()
    sphinx = args.backend == "sphinx"
    with tempfile.TemporaryDirectory(prefix="vnsearch-eval-") as workdir:
        if not args.skip_clusters:
            cluster_eval(Path(workdir), sphinx)
        if args.index or args.limit:
            if not args.limit and not store.index_exists(Path(args.index)):
                sys.exit(f"{args.index}: no index; build it with bench/index_bench.py --keep {args.index}")
            known_item_eval(Path(workdir), Path(args.index) if args.index else None, args.items, args.limit,
                            sphinx)


if __name__ == "__main__":
    main()
