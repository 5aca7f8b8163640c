"""The facets a result carries, how the embedded index counts them, and how
every backend lists them.

Keyword facets (category, author, source) list their most frequent values
first, then by value, at most FACET_LIMIT; years and months list all of
theirs, in date order. ``listed`` is that rule for both backends (the Sphinx
cluster's GROUP BY answers go through it too: sphinx_batches.py).
"""

from __future__ import annotations

import numpy as np

from search.index_view import IndexView
from search.result import FacetValue

FACETS = ("category", "author", "source", "year", "month")
DATE_FACETS = ("year", "month")  # listed in date order, all of them
STATS_FACETS = ("category", "source", "year")
COLUMN_FACETS = ("category", "author", "source", "month")  # counted from a column; years from the months
FACET_LIMIT = 20  # values listed per keyword facet, most frequent first


def listed(name: str, items: list[tuple[str, int]]) -> list[FacetValue]:
    """A facet's (value, count) pairs as a result lists them."""
    if name in DATE_FACETS:
        items = sorted(items)
    else:
        items = sorted(items, key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT]
    return [FacetValue(v, c) for v, c in items]


def count(view: IndexView, mask: np.ndarray) -> dict[str, list[FacetValue]]:
    """Counts of each facet's values among the matches (live documents). One
    gather and one bincount per column (code -1, no value, counts in slot 0
    and is dropped); years are summed from the months, which come from the
    same date. When the matches are most of the archive, the live articles
    that do not match are counted instead and taken from the archive's own
    counts: the same figures from at most half the articles (a common word
    matches 85% of them)."""
    counts_of: dict[str, list[tuple[str, int]]] = {}
    docs = np.flatnonzero(mask)  # one pass over the archive; then only the matches
    complement = len(docs) > view.live_count // 2
    if complement:
        docs = np.flatnonzero(view.live & ~mask)
    for name in COLUMN_FACETS:
        codes, labels = view.codes(name)
        counts = np.bincount(codes[docs] + 1, minlength=len(labels) + 1)
        if complement:
            counts = view.value_counts(name) - counts
        counts_of[name] = [(labels[i], int(counts[i + 1])) for i in np.flatnonzero(counts[1:]).tolist()]
    years: dict[str, int] = {}
    for month, n in counts_of["month"]:  # "2022-01"
        years[month[:4]] = years.get(month[:4], 0) + n
    counts_of["year"] = list(years.items())
    return {name: listed(name, counts_of[name]) for name in FACETS}
