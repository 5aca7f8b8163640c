"""Did-you-mean on the Sphinx backend: suggest.py itself, given the cluster.

suggest.py reads an index through a few calls (``DocumentSource``,
``PhraseCounter``); here they are answered by the cluster:

* accents are restored from the hits' own stored text, as on Whoosh;
* a word's known neighbours at one edit, and their frequencies, come from
  the shards' dictionaries (one statistics query for all of them);
* "how often does this option stand next to its neighbour" is an exact
  phrase count instead of the executor's sampled estimate.

What differs: Whoosh also finds words two edits away (it holds the whole
vocabulary in memory, vocabulary.py); a cluster's vocabulary is spread over
its shards, and the ~(54n)^2 strings two edits make are too many to look up,
so a word is only corrected at one edit. A corrected query's accents are
read from its three best matches by Sphinx's proximity ranking (Whoosh:
its first three in index order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from search.plan import PlainWord
from search.sphinx_match import leaf
from search.sphinx_queries import Session, count_sql, first_matches_sql
from search.sphinx_stats import ClusterStatistics
from search.suggest import MAX_SUGGEST_WORDS, RESTORE_FROM_DOCS, _edits1, suggest
from search.vocabulary import ALPHABET, Vocabulary


class SuggestView:
    """suggest.DocumentSource over articles fetched from the cluster: a
    document number is a position in ``docs``."""

    def __init__(self, docs: list[dict], vocabulary: Callable[[], Vocabulary]) -> None:
        self.docs = docs
        self._vocabulary = vocabulary

    def stored(self, docnum: int) -> dict:
        return self.docs[docnum]

    def vocabulary(self) -> Vocabulary:
        return self._vocabulary()


class SuggestCounter:
    """suggest.PhraseCounter answered by counting in the cluster."""

    def __init__(self, session: Session, view: SuggestView) -> None:
        self.session = session
        self.view = view
        self._counts: dict[tuple[str, ...], int] = {}

    def phrase_estimate(self, field: str, words: list[str], sample: int) -> float:
        key = (field, *words)
        if key not in self._counts:
            expression = f'(@({field}_fold) "{" ".join(words)}")'
            self._counts[key] = self.session.one(count_sql(expression)).total_found
        return float(self._counts[key])

    def words_mask(self, field: str, words: list[str]) -> np.ndarray:
        """The first few articles holding every word, fetched and appended to
        the view's documents; the mask marks them."""
        expression = "(" + " ".join(leaf(field, word) for word in words) + ")"
        result = self.session.one(first_matches_sql(expression, RESTORE_FROM_DOCS))
        row_ids = [int(row["id"]) for row in result.rows]
        docs = self.session.documents(row_ids)
        start = len(self.view.docs)
        self.view.docs.extend(docs[r] for r in row_ids if r in docs)
        mask = np.zeros(len(self.view.docs), dtype=bool)
        mask[start:] = True
        return mask


def cluster_vocabulary(statistics: ClusterStatistics, session: Session, words: Sequence[PlainWord]) -> Vocabulary:
    """The query's words and every word one edit from them that some
    article holds, with their frequencies (one statistics query)."""
    wanted: set[str] = set()
    for word in words[:MAX_SUGGEST_WORDS]:
        for folded in word.folded:
            wanted.add(folded)
            if 2 <= len(folded) <= 20 and all(ch in ALPHABET for ch in folded):
                wanted |= _edits1(folded)
    figures = statistics.keyword_frequencies(sorted(wanted))
    session.missing |= figures.missing
    return Vocabulary({word: df for word, df in figures.values.items() if df > 0})


def suggestion(statistics: ClusterStatistics, session: Session, words: list[PlainWord], docs: list[dict],
               complete: bool) -> str | None:
    """suggest.suggest with ``docs`` (the best hits' stored articles) for the accents."""
    vocabulary: list[Vocabulary] = []

    def lazy_vocabulary() -> Vocabulary:  # only a query that found nothing whole needs it
        if not vocabulary:
            vocabulary.append(cluster_vocabulary(statistics, session, words))
        return vocabulary[0]

    view = SuggestView(list(docs), lazy_vocabulary)
    return suggest(view, SuggestCounter(session, view), words, list(range(len(docs))), complete)
