"""The SphinxQL statements the Sphinx backend sends, and how their answers
are read. Every statement goes to the aggregator's distributed index
(cluster_search.build_select adds the options every query needs).

* candidates: the best matches by one of two cheap rankings Sphinx can
  compute (``bm25_ranker``, ``PROXIMITY_RANKER``), the ones worth rescoring;
* factors: per candidate, each query term's frequency in one Whoosh field,
  read from PACKEDFACTORS(), whose ``word<N>`` is the N-th word of the
  MATCH expression (Sphinx merges repeated words, so each appears once);
* counts, phrases, keyword statistics, facets (GROUP BY), documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np

from indexer.records import VIETNAM
from indexer.signatures import EMPTY, SIGNATURE_BINS
from search.bm25 import K1, B
from search.cluster_search import ClusterResult, ClusterSearch, build_select
from search.request import SearchRequest
from search.sphinx_documents import LENGTH_ATTRS, TEXT_FIELDS
from search.sphinx_match import keywords, leaf, term_fields
from search.sphinxql import quote, quote_list

FILTER_ATTRIBUTES = {"authors": "author", "categories": "category", "sources": "source"}
LABEL_ATTRIBUTES = ("author", "category", "source")
DAY_SECONDS = 86_400.0
CANDIDATE_COLUMNS = ", ".join(["id", *LENGTH_ATTRS.values(), *LABEL_ATTRIBUTES])
# Sphinx's own ranking only chooses the candidates; the executor's BM25F
# ranks them (sphinx_scoring.py). 2.2.11's bm25f() with length
# normalisation (b > 0) is broken on RT indexes, and expressions have no
# per-word frequencies, so the candidates' ranking is BM25 per field from
# its mean frequency: user_weight * sum(tf * idf) * (k1 + 1) / (mean tf +
# k1 * (1 - b + b * length / mean length)), with Whoosh's article length
# (len_content) and the compiler's field weights, doubled into the integers
# Sphinx wants (title 3 -> 6, lead 1.5 -> 3, an exact spelling 1.5 -> 3).
FIELD_WEIGHTS = {"content_fold": 2, "content_special": 2, "content_exact": 3, "content_compound": 3,
                 "title_fold": 6, "title_special": 6, "title_exact": 6, "lead_fold": 3, "lead_special": 3,
                 "lead_exact": 3, "captions_fold": 1, "captions_special": 1, "captions_exact": 1, "labels": 0}


def bm25_ranker(mean_length: float) -> str:
    """The candidates' BM25-like ranking (WEIGHT() is an integer: scaled)."""
    norm = f"{K1} * ({1 - B} + {B} * len_content / {max(mean_length, 1.0):.1f})"
    return (f"expr('sum(user_weight * tf_idf * {K1 + 1} / "
            f"(IF(word_count > 0, hit_count / word_count, 1) + {norm})) * 1000')")


# ...and the query's words in a row first (lcs: the longest run of query
# words in query order, per field): the executor's phrase boost lifts an
# article that holds the query as a phrase, which BM25 alone cannot see.
PROXIMITY_RANKER = "expr('sum(lcs * user_weight) * 100000 + bm25')"
PLAIN_IDF = "idf='plain,tfidf_unnormalized'"  # log(N/n): the normalised default is ~0 on small shards
FACET_ROWS = 200  # keyword facet values fetched, most frequent first (20 are shown)
DATE_ROWS = 10_000  # every year and month
NEWEST_UNDATED = -(2 ** 63) + 1  # undated articles sort last whichever way
_WORD_TF = re.compile(r"\bword(\d+)=\(tf=(\d+)")


def epoch(moment: datetime) -> int:
    """A request bound (naive Vietnam time) as the ``published`` attribute (unix seconds)."""
    return int(moment.replace(tzinfo=VIETNAM).timestamp())


def filters(request: SearchRequest) -> list[str]:
    """The request's filters as WHERE conditions on the attributes. Strings
    compare byte for byte (collation_server = binary, cluster.py), as
    Whoosh's keyword fields do."""
    conditions = []
    for name, attribute in FILTER_ATTRIBUTES.items():
        values = getattr(request, name)
        if values:
            conditions.append(f"{attribute} IN ({quote_list(values)})")
    if request.date_from or request.date_to:
        conditions.append("year > 0")
        if request.date_from:
            conditions.append(f"published >= {epoch(request.date_from)}")
        if request.date_to:
            conditions.append(f"published <= {epoch(request.date_to)}")
    return conditions


def candidates_sql(match: str, where: Sequence[str], limit: int, ranker: str) -> str:
    """The best ``limit`` matches by a cheap ranking, with what rescoring reads of them."""
    return build_select(match, CANDIDATE_COLUMNS, where, None, "WEIGHT() DESC, id ASC", limit, 0, ranker,
                        FIELD_WEIGHTS, [PLAIN_IDF])


def dated_sql(match: str | None, where: Sequence[str], sort: str, offset: int, limit: int) -> str:
    """A page in date order: newest (or oldest) first, undated articles last."""
    key = f"IF(year > 0, published, {NEWEST_UNDATED})" if sort == "newest" else \
        f"IF(year > 0, published, {-NEWEST_UNDATED})"
    direction = "DESC" if sort == "newest" else "ASC"
    return build_select(match, f"id, {key} AS date_key", where, None, f"date_key {direction}, id ASC", limit,
                        offset, "none" if match else None, None, [])


def count_sql(match: str, where: Sequence[str] = ()) -> str:
    """How many articles match: read ``total_found``."""
    return build_select(match, "id", where, None, None, 1, 0, "none", None, [])


def first_matches_sql(match: str, limit: int) -> str:
    """The best few matches by Sphinx's default ranking (words near each other first)."""
    return build_select(match, "id", [], None, "WEIGHT() DESC, id ASC", limit, 0, "proximity_bm25", None, [])


def phrase_sql(match: str, row_ids: Sequence[int]) -> str:
    """Which of these articles ``match`` (a phrase: positions are Sphinx's to check)."""
    return build_select(match, "id", [f"id IN ({quote_list(row_ids)})"], None, None, len(row_ids), 0, "none",
                        None, [])


def titles_sql(match: str, limit: int) -> str:
    """The headlines of the first ``limit`` articles that ``match`` (in id order)."""
    return build_select(match, "id, title", [], None, "id ASC", limit, 0, "none", None, [])


def keyword_stats_sql(words: Sequence[str]) -> str:
    """A query whose SHOW META gives each word's articles, from the
    dictionaries of every shard (summed by the aggregator): cutoff=1 stops
    each shard at its first match, the statistics are read before."""
    return build_select(keywords(words), "id", [], None, None, 1, 0, "none", None, ["cutoff=1"])


def keyword_stats(result: ClusterResult) -> dict[str, int]:
    meta = result.meta
    return {meta[key]: int(meta.get(f"docs[{key[8:-1]}]", 0)) for key in meta if key.startswith("keyword[")}


def totals_sql() -> str:
    """Live articles, and the sum and count of non-zero lengths per field."""
    parts = ["COUNT(*) AS documents"]
    for name, attribute in LENGTH_ATTRS.items():
        parts += [f"SUM({attribute}) AS {name}_sum", f"SUM(IF({attribute} > 0, 1, 0)) AS {name}_count"]
    return build_select(None, ", ".join(parts), [], None, None, 1, 0, None, None, [])


def factor_sql(field: str, texts: Sequence[str], row_ids: Sequence[int]) -> str:
    """Each term's frequency in Whoosh field ``field`` for these articles:
    word<N> of the answer is texts[N] (``parse_factors``)."""
    match = "(" + " | ".join(leaf(field, text) for text in texts) + ")"
    return build_select(match, "id, PACKEDFACTORS() AS factors", [f"id IN ({quote_list(row_ids)})"], None, None,
                        len(row_ids), 0, "expr('1')", None, [])


def parse_factors(packed: str) -> dict[int, int]:
    """{word number: frequency} from PACKEDFACTORS()."""
    return {int(number): int(tf) for number, tf in _WORD_TF.findall(packed or "")}


def factor_words(field: str, texts: Sequence[str]) -> list[str]:
    """The distinct Sphinx words of one field's terms, in order (for ``factor_sql``)."""
    return list(dict.fromkeys(term_fields(field, text)[1] for text in texts))


def facet_sql(name: str, match: str | None, where: Sequence[str]) -> str:
    if name in ("year", "month"):
        return build_select(match, f"{name}, COUNT(*) AS n", [*where, f"{name} > 0"], name, f"{name} ASC",
                            DATE_ROWS, 0, "none" if match else None, None, [])
    return build_select(match, f"{name}, COUNT(*) AS n", [*where, f"{name} != ''"], name, "n DESC", FACET_ROWS, 0,
                        "none" if match else None, None, [f"max_matches={DATE_ROWS}"])


def facet_label(name: str, value: object) -> str:
    """Whoosh's label of a facet value: years "2022", months "2022-01"."""
    if name == "month":
        number = int(str(value))
        return f"{number // 100:04d}-{number % 100:02d}"
    return str(value)


def documents_sql(row_ids: Sequence[int]) -> str:
    return build_select(None, "id, article_id, doc", [f"id IN ({quote_list(row_ids)})"], None, None,
                        max(1, len(row_ids)), 0, None, None, [])


def events_sql(row_ids: Sequence[int]) -> str:
    return build_select(None, "id, event, published, year", [f"id IN ({quote_list(row_ids)})"], None, None,
                        max(1, len(row_ids)), 0, None, None, [])


def labels_sql(field: str) -> str:
    """Every distinct value of a keyword attribute (the compiler's author:/category:/source:)."""
    return build_select(None, f"{field}, COUNT(*) AS n", [f"{field} != ''"], field, f"{field} ASC", DATE_ROWS * 10,
                        0, None, None, [])


def article_sql(row_id: int) -> str:
    return build_select(None, "id, article_id, doc", [f"id = {quote(row_id)}"], None, None, 1, 0, None, None, [])


def mean_lengths(row: Mapping[str, object]) -> dict[str, float]:
    """Whoosh field -> mean length over the articles that have it (as float32, like the index view)."""
    means = {}
    for name in TEXT_FIELDS:
        count = int(str(row.get(f"{name}_count") or 0))
        total = int(str(row.get(f"{name}_sum") or 0))
        means[name] = float(np.float32(total) / np.float32(count)) if count else 1.0
    return means


class Session:
    """The statements of one request: run through the cluster, with every
    shard that was missing from any answer remembered (the result is then partial)."""

    def __init__(self, search: ClusterSearch) -> None:
        self.search = search
        self.missing: set[int] = set()

    def run(self, statements: Sequence[str]) -> list[ClusterResult]:
        results = self.search.run(statements)
        for result in results:
            self.missing.update(result.missing_shards)
        return results

    def one(self, statement: str) -> ClusterResult:
        return self.run([statement])[0]

    def events(self, row_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The event signatures (search/events.py) and day numbers (NaN:
        undated) of ``row_ids``, in their order; an article missing from the
        answer, or stored without a signature, is never grouped."""
        signatures = np.full((len(row_ids), SIGNATURE_BINS), EMPTY, dtype=np.uint8)
        days = np.full(len(row_ids), np.nan)
        if not row_ids:
            return signatures, days
        found = {int(row["id"]): row for row in self.one(events_sql(row_ids)).rows}
        for i, row_id in enumerate(row_ids):
            row = found.get(row_id)
            if row is None:
                continue
            stored = bytes.fromhex(str(row["event"] or ""))
            if len(stored) == SIGNATURE_BINS:
                signatures[i] = np.frombuffer(stored, dtype=np.uint8)
            if int(str(row["year"])) > 0:
                days[i] = int(str(row["published"])) / DAY_SECONDS
        return signatures, days

    def documents(self, row_ids: Sequence[int]) -> dict[int, dict]:
        """{row id: the stored article} (Article.to_json, as Whoosh stores it)."""
        if not row_ids:
            return {}
        rows = self.one(documents_sql(row_ids)).rows
        return {int(row["id"]): json.loads(row["doc"]) for row in rows}
