"""Cluster-wide statistics for ranking and compiling, cached for a while.

BM25 needs, for the whole archive: the number of articles, each field's
mean length, and each term's document frequency in its field. Sphinx gives

* a word's articles over all fields from its shards' dictionaries, summed
  by the aggregator (``keyword_stats_sql``): that is Whoosh's frequency in
  ``content``, which holds the title, lead and captions too;
* a term's articles in title, lead or captions only by counting the
  matches (``count_sql``), which walks the word's postings: so frequencies
  are kept for ``ttl`` seconds (a minute by default: a frequency moves
  little in a minute, and the articles a search ranks are scored with the
  same figures);
* lengths and counts by one aggregate query (``totals_sql``), kept for
  ``totals_ttl`` seconds (as long as the Whoosh engine keeps a searcher).

Figures from a partial answer (a shard down) are used but not kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from search.cache import ByteLRU
from search.cluster_search import ClusterSearch
from search.sphinx_match import leaf, term_fields
from search.sphinx_queries import count_sql, keyword_stats, keyword_stats_sql, labels_sql, mean_lengths, totals_sql

STATS_TTL = 60.0
KEYWORDS_PER_QUERY = 200  # words per statistics query (Sphinx keeps at most 256 query words)


@dataclass
class Figures:
    """Some statistics, and the shards whose part is missing from them."""
    values: dict[Any, int] = field(default_factory=dict)
    missing: set[int] = field(default_factory=set)


class ClusterStatistics:
    def __init__(self, search: ClusterSearch, cache_bytes: int, ttl: float = STATS_TTL,
                 totals_ttl: float = 1.0) -> None:
        self.search = search
        self.ttl = ttl
        self.totals_ttl = totals_ttl
        self.cache = ByteLRU(cache_bytes)
        self._lock = threading.Lock()
        self._totals: tuple[float, int, dict[str, float]] | None = None

    def _cached(self, key: Any) -> Any:
        found = self.cache.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def _keep(self, key: Any, value: Any, ttl: float) -> None:
        self.cache.put(key, (time.monotonic() + ttl, value))

    def totals(self) -> tuple[int, dict[str, float], set[int]]:
        """(live articles, mean length per Whoosh field, missing shards)."""
        with self._lock:
            kept = self._totals
        if kept is not None and kept[0] > time.monotonic():
            return kept[1], kept[2], set()
        result = self.search.run([totals_sql()])[0]
        row = result.rows[0] if result.rows else {}
        documents, means = int(str(row.get("documents") or 0)), mean_lengths(row)
        if not result.partial:
            with self._lock:
                self._totals = (time.monotonic() + self.totals_ttl, documents, means)
        return documents, means, set(result.missing_shards)

    def frequencies(self, terms: Iterable[tuple[str, str]]) -> Figures:
        """{(Whoosh field, term): articles} for every term: one round trip for those not cached."""
        figures = Figures()
        content: dict[str, list[tuple[str, str]]] = {}  # Sphinx word -> the terms it answers for
        counted: list[tuple[str, str]] = []
        for key in dict.fromkeys(terms):
            known = self._cached(("df", key))
            if known is not None:
                figures.values[key] = known
            elif key[0] == "content":
                content.setdefault(term_fields(*key)[1], []).append(key)
            else:
                counted.append(key)
        words = list(content)
        statements = [keyword_stats_sql(words[i:i + KEYWORDS_PER_QUERY])
                      for i in range(0, len(words), KEYWORDS_PER_QUERY)]
        statements += [count_sql(leaf(*key)) for key in counted]
        if not statements:
            return figures
        results = self.search.run(statements)
        found: dict[tuple[str, str], int] = {}
        for result in results[:len(statements) - len(counted)]:
            for word, docs in keyword_stats(result).items():
                for key in content.get(word, []):
                    found[key] = docs
        for key, result in zip(counted, results[len(statements) - len(counted):], strict=True):
            found[key] = result.total_found
        partial = {shard for result in results for shard in result.missing_shards}
        for key in [k for keys in content.values() for k in keys] + counted:
            figures.values[key] = found.get(key, 0)
            if not partial:
                self._keep(("df", key), figures.values[key], self.ttl)
        figures.missing |= partial
        return figures

    def keyword_frequencies(self, words: Iterable[str]) -> Figures:
        """{Sphinx word: articles holding it in any field} (spelling suggestions)."""
        figures = self.frequencies(("content", word) for word in words)
        return Figures({key[1]: value for key, value in figures.values.items()}, figures.missing)

    def labels(self, field_name: str) -> list[str]:
        """Every value of a keyword field, sorted (what author:/category:/source: may name)."""
        key = ("labels", field_name)
        known = self._cached(key)
        if known is not None:
            return list(known)
        result = self.search.run([labels_sql(field_name)])[0]
        values = sorted(str(row[field_name]) for row in result.rows if row.get(field_name))
        if not result.partial:
            self._keep(key, tuple(values), self.ttl)
        return values
