"""Same-event grouping (search/events.py) against the VietnameseMDS clusters.

    .venv/bin/python bench/grouping_eval.py [--no-queries] [--repeats 30]

shared/corpus/mds.jsonl holds 628 dated articles in 199 hand-made clusters
of 2-5 articles about the same event (mds-clusters.json). Groups are scored
with B-cubed precision, recall and F1: per article, the share of its group
that is in its cluster, and the share of its cluster that is in its group,
averaged over the articles.

1. All 628 articles as one candidate set. The set has no ranking and the
   grouping follows the rank order, so each figure is the mean over
   ``SHUFFLES`` seeded orders. Beside the module: the same features with
   exact Jaccard instead of the 256-byte signature (what the sketch costs);
   other date windows; and a baseline, title-only exact Jaccard of the
   folded syllables at a fixed threshold, with the module's linkage and no
   dates (and at its best threshold on all of MDS: an optimistic figure).
2. The threshold for dated pairs: the rule that chose the module's (the
   best F1 with precision at least TUNE_PRECISION) applied to all of MDS,
   then on held-out clusters: the clusters are split in two seeded halves,
   all 628 articles are grouped, the threshold is tuned on the articles of
   one half and scored on those of the other (whose groups may hold
   articles of the tuning half: they count as wrong), both ways.
3. Per query (unless --no-queries): mds.jsonl indexed into a temporary
   index; each cluster's name is a query, and its first 100 hits, in rank
   order, are grouped; B-cubed over those hits (each cluster cut to the
   hits), averaged over the queries.
4. Cost: the signature's bytes per article, computing one, and grouping the
   100 hits of a query and 100 or 200 random articles from their
   signatures (median and p95; a shared machine's noise included).
5. Undated articles: MDS has every article dated and few on one topic, so
   it cannot set the threshold for undated pairs. JUDGED_PAIRS are pairs of
   undated VNTC articles judged by hand; the share that reports one event
   is printed by score band.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.querysets import SHARED, load, unaccent  # noqa: E402
from indexer import signatures  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from search import events  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.request import SearchRequest  # noqa: E402

SHUFFLES = 5  # orders of the 628 articles (seeds 0-4) that each figure of parts 1 and 2 averages
SPLIT_SEED = 13  # which clusters form each half in part 2
TUNE_PRECISION = 0.95  # the rule for thresholds: the best F1 with at least this precision
GRID = np.round(np.arange(0.08, 0.25, 0.01), 2)  # thresholds tried when tuning
WINDOWS = (1.0, 7.0, 30.0)  # other date windows shown beside the module's (days)
BASELINE_THRESHOLD = 0.5  # title-only baseline: half the title syllables shared
BASELINE_GRID = np.round(np.arange(0.2, 0.8, 0.05), 2)  # tried for its optimistic figure
QUERY_HITS = 100  # candidates per query in part 3 (the API's largest page)
JUDGED_BANDS = (0.24, 0.3, 0.35, 0.4, 1.01)  # score bands of part 5
# Part 5: pairs of undated VNTC articles (ids without "vntc-test-"), each
# judged by hand: True when both report the same event. They are every pair
# scoring 0.24 or more (with the signatures of this version) among the first
# 100 hits of 300 queries (titles of random vntc-test-6k articles) and of
# MDS's 199 cluster names, on an index of mds.jsonl and vntc-test-6k.
VNTC_PREFIX = "vntc-test-"
JUDGED_PAIRS = [
    ("suc-khoe-sk-vne-t-3321", "suc-khoe-sk-vne-t-63", True),
    ("suc-khoe-sk-vne-t-18", "suc-khoe-sk-vne-t-2296", True),
    ("phap-luat-pl-tn-t-3623", "phap-luat-pl-tn-t-3700", True),
    ("chinh-tri-xa-hoi-xh-vne-t-6820", "chinh-tri-xa-hoi-xh-vne-t-7336", True),
    ("chinh-tri-xa-hoi-xh-tt-t-9943", "chinh-tri-xa-hoi-xh-vne-t-3997", True),
    ("kinh-doanh-kd-vne-t-2104", "the-gioi-tg-vne-t-7565", True),
    ("suc-khoe-sk-tt-t-6164", "suc-khoe-sk-vne-t-4752", False),
    ("chinh-tri-xa-hoi-xh-vne-t-4751", "chinh-tri-xa-hoi-xh-vne-t-7363", True),
    ("chinh-tri-xa-hoi-xh-vne-t-3371", "chinh-tri-xa-hoi-xh-vne-t-978", True),
    ("kinh-doanh-kd-vne-t-1935", "kinh-doanh-kd-vne-t-2324", False),
    ("the-thao-tt-vne-t-4691", "the-thao-tt-vne-t-4997", False),
    ("phap-luat-pl-tn-t-3467", "phap-luat-pl-tn-t-3499", False),
    ("kinh-doanh-kd-vne-t-2468", "kinh-doanh-kd-vne-t-3892", False),
    ("chinh-tri-xa-hoi-xh-vne-t-6417", "chinh-tri-xa-hoi-xh-vne-t-6773", False),
    ("the-thao-tt-nld-t-8647", "the-thao-tt-nld-t-8998", False),
    ("the-gioi-tg-vne-t-6725", "the-gioi-tg-vne-t-6746", True),
    ("phap-luat-pl-vne-t-1077", "phap-luat-pl-vne-t-716", False),
    ("chinh-tri-xa-hoi-xh-vne-t-4813", "chinh-tri-xa-hoi-xh-vne-t-7241", False),
    ("suc-khoe-sk-vne-t-4337", "suc-khoe-sk-vne-t-5271", True),
    ("kinh-doanh-kd-vne-t-2718", "kinh-doanh-kd-vne-t-4235", True),
    ("the-thao-tt-nld-t-8661", "the-thao-tt-vne-t-1746", False),
    ("kinh-doanh-kd-vne-t-1935", "kinh-doanh-kd-vne-t-1967", False),
    ("kinh-doanh-kd-vne-t-2324", "kinh-doanh-kd-vne-t-2485", False),
    ("the-gioi-tg-vne-t-3686", "the-gioi-tg-vne-t-3744", False),
    ("kinh-doanh-kd-vne-t-2123", "kinh-doanh-kd-vne-t-6673", False),
    ("phap-luat-pl-tn-t-3504", "phap-luat-pl-vne-t-970", True),
    ("phap-luat-pl-vne-t-878", "phap-luat-pl-vne-t-890", True),
    ("phap-luat-pl-tn-t-3492", "phap-luat-pl-tn-t-3566", False),
    ("the-thao-tt-nld-t-8766", "the-thao-tt-nld-t-8771", True),
    ("the-thao-tt-vne-t-4876", "the-thao-tt-vne-t-4900", False),
    ("chinh-tri-xa-hoi-xh-vne-t-6135", "chinh-tri-xa-hoi-xh-vne-t-7704", False),
    ("the-gioi-tg-vne-t-6276", "the-gioi-tg-vne-t-6305", True),
    ("the-gioi-tg-vne-t-5039", "the-gioi-tg-vne-t-5171", True),
    ("the-gioi-tg-tt-t-7448", "the-gioi-tg-vne-t-6965", True),
    ("kinh-doanh-kd-vne-t-2791", "kinh-doanh-kd-vne-t-4543", False),
    ("chinh-tri-xa-hoi-xh-vne-t-3646", "chinh-tri-xa-hoi-xh-vne-t-6046", False),
    ("the-gioi-tg-vne-t-5619", "the-gioi-tg-vne-t-7593", False),
    ("chinh-tri-xa-hoi-xh-vne-t-4813", "chinh-tri-xa-hoi-xh-vne-t-7172", False),
    ("kinh-doanh-kd-vne-t-5090", "kinh-doanh-kd-vne-t-5776", False),
    ("chinh-tri-xa-hoi-xh-vne-t-1276", "vi-tinh-vt-vne-t-431", True),
    ("kinh-doanh-kd-vne-t-1172", "kinh-doanh-kd-vne-t-4226", False),
    ("chinh-tri-xa-hoi-xh-vne-t-230", "chinh-tri-xa-hoi-xh-vne-t-470", False),
    ("phap-luat-pl-nld-t-4256", "phap-luat-pl-vne-t-985", True),
    ("phap-luat-pl-vne-t-2776", "phap-luat-pl-vne-t-2809", True),
    ("phap-luat-pl-tn-t-3631", "phap-luat-pl-tn-t-3700", True),
]

Figures = tuple[float, float, float]  # B-cubed precision, recall, F1
Grouper = Callable[[list[int]], list[list[int]]]  # positions in rank order -> groups of indexes into them


# -- B-cubed ---------------------------------------------------------------------
def bcubed(groups: list[list[int]], cluster: np.ndarray, scored: np.ndarray | None = None) -> Figures:
    """B-cubed precision, recall and F1 of ``groups`` (of indexes) against
    ``cluster`` (the cluster of each index), averaged over the indexes
    where ``scored`` is true (all by default): the others still count as
    wrong members of a scored article's group."""
    label = np.empty(len(cluster), dtype=np.intp)
    for number, members in enumerate(groups):
        label[members] = number
    same_group = label[:, None] == label[None, :]
    same_cluster = cluster[:, None] == cluster[None, :]
    both = (same_group & same_cluster).sum(axis=1)
    keep = np.ones(len(cluster), dtype=bool) if scored is None else scored
    precision = float((both / same_group.sum(axis=1))[keep].mean())
    recall = float((both / same_cluster.sum(axis=1))[keep].mean())
    return precision, recall, 2 * precision * recall / (precision + recall)


HEADER = f"  {'':<50} {'P':>6} {'R':>6} {'F1':>6}"


def line(name: str, figures: Figures, note: str = "") -> str:
    return f"  {name:<50} {figures[0]:6.3f} {figures[1]:6.3f} {figures[2]:6.3f}  {note}".rstrip()


# -- the corpus and the ways to group it ------------------------------------------------
class Corpus:
    """The MDS articles, their clusters, signatures and day numbers."""

    def __init__(self) -> None:
        self.records = load(SHARED / "mds.jsonl")
        clusters = json.loads((SHARED / "mds-clusters.json").read_text(encoding="utf-8"))
        self.names = [info["name"] for info in clusters.values()]
        of = {doc: number for number, info in clusters.items() for doc in info["doc_ids"]}
        self.cluster = np.array([int(of[r["id"]]) for r in self.records])
        self.position = {r["id"]: i for i, r in enumerate(self.records)}
        started = time.perf_counter()
        self.signatures = events.stack([signatures.signature(r) for r in self.records])
        self.signature_ms = (time.perf_counter() - started) * 1000 / len(self.records)
        self.days = events.day_numbers([r["published"] for r in self.records])
        self.orders = []
        for seed in range(SHUFFLES):
            order = list(range(len(self.records)))
            random.Random(seed).shuffle(order)
            self.orders.append(order)

    def score(self, grouper: Grouper, scored: np.ndarray | None = None) -> Figures:
        """B-cubed of all articles grouped in each shuffled order, averaged
        (over the articles where ``scored`` is true)."""
        runs = [bcubed(grouper(order), self.cluster[order], None if scored is None else scored[order])
                for order in self.orders]
        precision, recall, f1 = np.mean(runs, axis=0)
        return float(precision), float(recall), float(f1)


def module_grouper(corpus: Corpus, threshold: float = events.THRESHOLD,
                   undated_threshold: float = events.UNDATED_THRESHOLD, dated: bool = True,
                   window: float = events.DATE_WINDOW_DAYS) -> Grouper:
    """events.group_indexes on the stored signatures; ``dated`` False hides every date."""
    def grouper(order: list[int]) -> list[list[int]]:
        days = corpus.days[order] if dated else np.full(len(order), np.nan)
        return events.group_indexes(corpus.signatures[order], days, threshold, undated_threshold, window)
    return grouper


def matrix_grouper(score: np.ndarray, threshold: float) -> Grouper:
    """The module's linkage over a precomputed matrix of pair scores."""
    return lambda order: events.link(score[np.ix_(order, order)], threshold)


def jaccard_matrix(sets: list[set]) -> np.ndarray:
    sizes = np.array([len(s) for s in sets])
    inter = np.array([[len(a & b) for b in sets] for a in sets])
    return inter / np.maximum(sizes[:, None] + sizes[None, :] - inter, 1)


def exact_scores(corpus: Corpus) -> np.ndarray:
    """The module's scores with the exact weighted Jaccard of the same features."""
    sets = [set(signatures.features(r["title"], r["lead"], r["body"]).tolist()) for r in corpus.records]
    apart = np.abs(corpus.days[:, None] - corpus.days[None, :])
    return np.where(apart <= events.DATE_WINDOW_DAYS, jaccard_matrix(sets), -np.inf)


def title_scores(corpus: Corpus) -> np.ndarray:
    """The baseline's: exact Jaccard of the titles' folded syllables."""
    return jaccard_matrix([set(unaccent(r["title"]).split()) for r in corpus.records])


# -- 1. all articles --------------------------------------------------------------
def all_articles(corpus: Corpus) -> None:
    print(f"\n1. All {len(corpus.records)} articles as one candidate set ({len(set(corpus.cluster))} clusters), "
          f"mean over {SHUFFLES} shuffled orders")
    print(HEADER)
    print(line("events.py", corpus.score(module_grouper(corpus)),
               f"threshold {events.THRESHOLD}, window {events.DATE_WINDOW_DAYS:g} days"))
    print(line("events.py, dates hidden", corpus.score(module_grouper(corpus, dated=False)),
               f"undated threshold {events.UNDATED_THRESHOLD}"))
    for window in WINDOWS:
        print(line(f"events.py, window {window:g} days", corpus.score(module_grouper(corpus, window=window))))
    print(line("same features, exact Jaccard", corpus.score(matrix_grouper(exact_scores(corpus), events.THRESHOLD))))
    titles = title_scores(corpus)
    print(line("baseline: title syllables, exact Jaccard", corpus.score(matrix_grouper(titles, BASELINE_THRESHOLD)),
               f"threshold {BASELINE_THRESHOLD}, no dates"))
    best = max(((corpus.score(matrix_grouper(titles, t)), t) for t in BASELINE_GRID), key=lambda pair: pair[0][2])
    print(line("baseline at its best threshold (optimistic)", best[0], f"threshold {best[1]:.2f}"))
    print(line("every article alone", corpus.score(lambda order: [[i] for i in range(len(order))])))


# -- 2. thresholds -------------------------------------------------------------------
def tune(corpus: Corpus, scored: np.ndarray | None, dated: bool) -> float:
    """The threshold with the best F1 among those with precision >= TUNE_PRECISION."""
    best, chosen = -1.0, float(GRID[-1])
    for threshold in GRID:
        precision, _, f1 = corpus.score(module_grouper(corpus, threshold, threshold, dated), scored)
        if precision >= TUNE_PRECISION and f1 > best:
            best, chosen = f1, float(threshold)
    return chosen


def thresholds(corpus: Corpus) -> None:
    print(f"\n2. Thresholds: the best F1 with P >= {TUNE_PRECISION}")
    print(f"  on all of MDS: threshold {tune(corpus, None, True):.2f} (events.py: {events.THRESHOLD}); with the "
          f"dates hidden {tune(corpus, None, False):.2f} (events.py's undated threshold, {events.UNDATED_THRESHOLD}, "
          "comes from part 5)")
    numbers = sorted(set(corpus.cluster.tolist()))
    random.Random(SPLIT_SEED).shuffle(numbers)
    first = np.isin(corpus.cluster, numbers[:len(numbers) // 2])
    print(f"  tuned on the articles of half the clusters, scored on the other half's "
          f"({first.sum()} and {(~first).sum()} articles; all grouped together)")
    print(HEADER)
    for name, tuning, test in (("A->B", first, ~first), ("B->A", ~first, first)):
        tuned = tune(corpus, tuning, True)
        print(line(f"{name}: tuned threshold", corpus.score(module_grouper(corpus, tuned), test),
                   f"threshold {tuned:.2f}"))
        print(line(f"{name}: events.py's threshold", corpus.score(module_grouper(corpus), test)))


# -- 3. per query ------------------------------------------------------------------
def per_query(corpus: Corpus, workdir: Path) -> list[list[int]]:
    """B-cubed of the cluster names' first hits; returns the hits (positions in rank order)."""
    index_dir = workdir / "mds-index"
    ingest([SHARED / "mds.jsonl"], index_dir, procs=1, show_progress=False)
    engine = Engine(index_dir)
    pages = []
    for name in corpus.names:
        result = engine.search(SearchRequest(q=name, size=QUERY_HITS, facets=False, highlight=False, group=False))
        pages.append([corpus.position[hit.id] for hit in result.hits])
    pages = [page for page in pages if page]
    groupers = {"events.py": module_grouper(corpus),
                f"baseline, title Jaccard {BASELINE_THRESHOLD}": matrix_grouper(title_scores(corpus),
                                                                                 BASELINE_THRESHOLD)}
    print(f"\n3. Per query: {len(pages)} cluster names as queries, their first {QUERY_HITS} hits grouped in "
          f"rank order (hits per query: median {np.median([len(p) for p in pages]):.0f})")
    print(HEADER)
    for name, grouper in groupers.items():
        figures = np.array([bcubed(grouper(page), corpus.cluster[page]) for page in pages])
        folded = np.mean([len(page) - len(grouper(page)) for page in pages])
        print(line(f"{name}, mean over the queries", tuple(figures.mean(axis=0)),
                   f"{folded:.1f} hits per query shown under another"))
        print(line(f"{name}, worst query", tuple(figures[figures[:, 2].argmin()])))
    return pages


# -- 4. cost -----------------------------------------------------------------------
def timings(corpus: Corpus, candidate_sets: list[list[int]], repeats: int) -> list[float]:
    """Milliseconds to group each candidate set from its signatures, ``repeats`` times each."""
    times = []
    for order in candidate_sets:
        signatures, days = corpus.signatures[order], corpus.days[order]
        for _ in range(repeats):
            started = time.perf_counter()
            events.group_indexes(signatures, days)
            times.append((time.perf_counter() - started) * 1000)
    return times


def cost(corpus: Corpus, pages: list[list[int]], repeats: int) -> None:
    rng = random.Random(SPLIT_SEED)
    count = len(corpus.records)
    print("\n4. Cost")
    print(f"  signature: {signatures.SIGNATURE_BINS} bytes per article; computing one: "
          f"{corpus.signature_ms:.2f} ms (title, lead, body start)")
    sets = {"the 100 hits of a query": [page for page in pages if len(page) == QUERY_HITS],
            "100 random articles": [rng.sample(range(count), 100) for _ in range(20)],
            "200 random articles": [rng.sample(range(count), 200) for _ in range(20)]}
    for name, candidate_sets in sets.items():
        if candidate_sets:
            times = timings(corpus, candidate_sets, repeats)
            print(f"  grouping {name:<24} median {np.median(times):5.2f} ms   p95 {np.percentile(times, 95):5.2f} ms"
                  f"   ({len(candidate_sets)} sets x {repeats})")


# -- 5. undated pairs judged by hand ------------------------------------------------------
def judged_pairs() -> None:
    """The share of JUDGED_PAIRS reporting one event, by the module's score (no dates)."""
    wanted = {VNTC_PREFIX + name for a, b, _ in JUDGED_PAIRS for name in (a, b)}
    records = {r["id"]: r for r in load(SHARED / "vntc-test-6k.jsonl.gz") if r["id"] in wanted}
    scored = []
    for a, b, same in JUDGED_PAIRS:
        pair = events.stack([signatures.signature(records[VNTC_PREFIX + name]) for name in (a, b)])
        scored.append((float(events.similarities(pair)[0, 1]), same))
    print(f"\n5. Undated articles: {len(JUDGED_PAIRS)} pairs of VNTC search candidates judged by hand "
          f"(events.py groups undated pairs from {events.UNDATED_THRESHOLD})")
    for low, high in itertools.pairwise(JUDGED_BANDS):
        band = [same for score, same in scored if low <= score < high]
        print(f"  score {low:.2f}-{min(high, 1):.2f}: {sum(band):>2} of {len(band):>2} pairs report one event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-queries", action="store_true", help="skip part 3 (it builds an index of MDS)")
    parser.add_argument("--repeats", type=int, default=30, help="timings per candidate set")
    args = parser.parse_args()
    corpus = Corpus()
    all_articles(corpus)
    thresholds(corpus)
    pages: list[list[int]] = []
    if not args.no_queries:
        with tempfile.TemporaryDirectory(prefix="vnsearch-grouping-") as workdir:
            pages = per_query(corpus, Path(workdir))
    cost(corpus, pages, args.repeats)
    judged_pairs()


if __name__ == "__main__":
    main()
