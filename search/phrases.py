"""Which documents hold a search's words, and where they stand in a row.

One ``PhraseFinder`` serves one search (executor.Executor makes it): the
phrase checks of its quoted phrases and boosts, the candidate headlines of
headline_accents.py and the adjacency counts of suggest.py. A phrase's
holders are kept for the length of the search: a quoted phrase is also its
own boost, checked once.

A phrase is checked in every document holding all its words, PHRASE_CHUNK
documents at a time, so a check's memory stays bounded however common the
words. (Until 4 December 2026 it stopped at the first 20,000 of them, by
document number, and a quoted phrase of common words missed most of its
holders at 400,000 articles.)
"""

from __future__ import annotations

import numpy as np

from search.deadline import NEVER, Deadline
from search.docsets import FEW_LOOKUPS, bitmap, intersect, members, sorted_unique
from search.index_view import IndexView

PHRASE_CHUNK = 50_000  # documents whose positions are read at once


class PhraseFinder:
    def __init__(self, view: IndexView, deadline: Deadline = NEVER):
        self.view = view
        self.deadline = deadline  # looked at before each word's positions are read
        self._holders: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}  # every holder of a phrase, once found

    def holders(self, field: str, words: list[str], within: np.ndarray | None = None) -> np.ndarray:
        """Live documents (sorted numbers) where ``words`` occur next to each
        other, in order; only ``within`` (sorted numbers) when given."""
        known = self._holders.get((field, tuple(words)))
        if known is not None:
            return known if within is None else known[members(known, within)]
        docs = self.word_docs(field, words, within)
        if len(words) < 2 or not len(docs):
            return docs
        found = [self._in_a_row(field, words, docs[at:at + PHRASE_CHUNK]) for at in range(0, len(docs), PHRASE_CHUNK)]
        holders = found[0] if len(found) == 1 else np.concatenate(found)
        if within is None:
            self._holders[(field, tuple(words))] = holders
        return holders

    def phrase_estimate(self, field: str, words: list[str], sample: int) -> float:
        """About how many documents hold the phrase: it is checked in at most
        ``sample`` of the documents holding every word, spread evenly."""
        docs = self.word_docs(field, words)
        if len(words) < 2 or len(docs) <= sample:
            return float(len(self._in_a_row(field, words, docs)) if len(words) > 1 else len(docs))
        picked = docs[np.linspace(0, len(docs) - 1, sample).astype(np.int64)]
        return len(self._in_a_row(field, words, picked)) * len(docs) / sample

    def word_docs(self, field: str, words: list[str], within: np.ndarray | None = None) -> np.ndarray:
        """Live documents (sorted numbers) that contain every one of
        ``words`` anywhere: the rarest word's list, looked up in the others'."""
        lists = sorted((self.view.postings(field, word)[0] for word in set(words)), key=len)
        if within is not None:
            docs = within
        elif lists:
            docs, lists = lists[0], lists[1:]
        else:
            return np.flatnonzero(self.view.live)
        for ids in lists:
            if len(docs) * FEW_LOOKUPS < len(ids):
                docs = docs[members(docs, ids)]
            else:
                docs = docs[bitmap(self.view.size, ids)[docs]]
        return docs[self.view.live[docs]]

    def words_mask(self, field: str, words: list[str]) -> np.ndarray:
        """Live documents that contain every one of ``words`` (anywhere), as a mask."""
        return bitmap(self.view.size, self.word_docs(field, words))

    def _in_a_row(self, field: str, words: list[str], candidates: np.ndarray) -> np.ndarray:
        """Documents (sorted numbers) where the words stand in a row. Each
        occurrence becomes a key (document, position minus the word's place
        in the phrase); the phrase is where every word has the same key.
        Rarest word first, and each word's positions are read only for the
        documents still in the running, so common words ("của", "và") are
        read for few documents."""
        order = sorted(range(len(words)), key=lambda i: self.view.doc_frequency(field, words[i]))
        keys: np.ndarray | None = None
        docs = candidates
        for i in order:
            self.deadline.check()
            doc_ids, positions = self.view.position_pairs(field, words[i], docs)
            starts = positions - i
            if i and len(starts) and starts.min() < 0:  # too near the start to be its place in the phrase
                inside = starts >= 0
                doc_ids, starts = doc_ids[inside], starts[inside]
            here = sorted_unique((doc_ids << 32) | starts)
            keys = here if keys is None else intersect(keys, here)
            if not len(keys):
                return np.zeros(0, dtype=np.int64)
            docs = sorted_unique(keys >> 32)
        return docs
