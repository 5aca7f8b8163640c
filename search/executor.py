"""Evaluate a query plan on an IndexView: masks and BM25F scores as arrays.

BM25 per term and field: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (the Lucene form, never negative),
k1 = 1.2, b = 0.75; a term's weight multiplies it (field weights and boosts
are set in compiler.py). Scores of the terms a document matches are summed.
"""

from __future__ import annotations

import math

import numpy as np

from search import plan as P
from search.index_view import IndexView

K1 = 1.2
B = 0.75
MAX_PHRASE_CHECKS = 20_000  # candidate documents verified by positions per phrase
PHRASE_BOOST_CANDIDATES = 50  # an optional phrase is checked on the best-scoring few...
PHRASE_CHECK_ALL = 2000  # ...or on every match when there are at most this many
PHRASE_TERM_WEIGHT = 2.0  # a matched phrase adds this x its idf


class Executor:
    def __init__(self, view: IndexView):
        self.view = view
        self.size = view.size

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float32)

    def term_scores(self, term: P.Term) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weighted BM25 scores) of one term."""
        ids, tf = self.view.postings(term.field, term.text)
        if not len(ids):
            return ids, tf
        lengths, avg = self.view.lengths(term.field)
        df = len(ids)
        idf = math.log(1 + (self.view.live_count - df + 0.5) / (df + 0.5))
        norm = K1 * (1 - B + B * lengths[ids] / avg)
        return ids, (term.weight * idf) * tf * (K1 + 1) / (tf + norm)

    def run(self, node) -> tuple[np.ndarray, np.ndarray]:
        """(mask, score) of a plan node; masks never include deleted documents."""
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def _anyterm(self, node: P.AnyTerm):
        mask = np.zeros(self.size, dtype=bool)
        score = self.zeros()
        for term in node.terms:
            ids, scores = self.term_scores(term)
            mask[ids] = True
            score[ids] += scores
        return mask & self.view.live, score

    def _phrase(self, node: P.Phrase):
        mask = self.phrase_mask(node.field, node.words)
        for special in node.specials:
            mask[self.view.postings(node.field, special)[0]] = True
        mask &= self.view.live
        score = self.zeros()
        for term in node.scoring:
            ids, scores = self.term_scores(term)
            score[ids] += scores
        return mask, score * mask

    def phrase_mask(self, field: str, words: list[str], within: np.ndarray | None = None,
                    slop: int = 0) -> np.ndarray:
        """Documents where ``words`` occur in order, at most ``slop`` apart."""
        mask = self.words_mask(field, words, within)
        if len(words) < 2:
            return mask
        candidates = np.flatnonzero(mask)[:MAX_PHRASE_CHECKS]
        result = np.zeros(self.size, dtype=bool)
        if slop == 0:
            result[self._exact_phrase_docs(field, words, candidates)] = True
            return result
        lists = [self.view.positions(field, w, candidates) for w in words]
        for doc in candidates.tolist():
            if _in_order([lists[i].get(doc, ()) for i in range(len(words))], slop):
                result[doc] = True
        return result

    def words_mask(self, field: str, words: list[str], within: np.ndarray | None = None) -> np.ndarray:
        """Live documents that contain every one of ``words`` (anywhere)."""
        mask = self.view.live.copy() if within is None else within & self.view.live
        for word in words:
            word_mask = np.zeros(self.size, dtype=bool)
            word_mask[self.view.postings(field, word)[0]] = True
            mask &= word_mask
        return mask

    def _exact_phrase_docs(self, field: str, words: list[str], candidates) -> list[int]:
        """Rarest word first: each word's positions are read only for the
        documents still in the running, so common words ("của", "và") are
        decoded for few documents, not for every candidate."""
        order = sorted(range(len(words)), key=lambda i: len(self.view.postings(field, words[i])[0]))
        starts: dict[int, set[int]] | None = None
        docs = candidates
        for i in order:
            found = self.view.positions(field, words[i], docs)
            here = {doc: {p - i for p in positions} for doc, positions in found.items()}
            if starts is None:
                starts = here
            else:
                starts = {doc: common for doc, s in starts.items()
                          if (common := s & here.get(doc, set()))}
            if not starts:
                return []
            docs = np.array(sorted(starts), dtype=np.int64)
        return sorted(starts)

    def _values(self, node: P.Values):
        return self.view.value_mask(node.field, node.values), self.zeros()

    def _all(self, node: P.All):
        mask = self.view.live.copy()
        score = self.zeros()
        for child in node.nodes:
            child_mask, child_score = self.run(child)
            mask &= child_mask
            score += child_score
        return mask, score

    def _any(self, node: P.Any):
        mask = np.zeros(self.size, dtype=bool)
        score = self.zeros()
        for child in node.nodes:
            child_mask, child_score = self.run(child)
            mask |= child_mask
            score += child_score * child_mask
        return mask, score

    def _exclude(self, node: P.Exclude):
        mask, _ = self.run(node.node)
        return self.view.live & ~mask, self.zeros()

    def _everything(self, node: P.Everything):
        return self.view.live.copy(), self.zeros()

    def _boosted(self, node: P.Boosted):
        mask, score = self.run(node.required)
        phrases = [n for n in node.optional if isinstance(n, P.Phrase)]
        for optional in node.optional:
            if not isinstance(optional, P.Phrase):
                child_mask, child_score = self.run(optional)
                score += child_score * (child_mask & mask)
        if phrases:
            # positions are costly: check only the best-scoring candidates
            docs = np.flatnonzero(mask)
            if len(docs) > max(PHRASE_BOOST_CANDIDATES, PHRASE_CHECK_ALL):
                docs = docs[np.argpartition(-score[docs], PHRASE_BOOST_CANDIDATES - 1)
                            [:PHRASE_BOOST_CANDIDATES]]
            within = np.zeros(self.size, dtype=bool)
            within[docs] = True
            for phrase in phrases:
                hits = self.phrase_mask(phrase.field, phrase.words, within=within)
                # a rare phrase of common words is strong evidence: score it
                # like a term of its own, with the idf of its matches
                found = int(hits.sum())
                if found:
                    idf = math.log(1 + (self.view.live_count - found + 0.5) / (found + 0.5))
                    score[hits] += PHRASE_TERM_WEIGHT * idf
                for term in phrase.scoring:
                    ids, scores = self.term_scores(term)
                    score[ids] += scores * hits[ids]
        return mask, score


def _in_order(position_lists, slop: int) -> bool:
    if not all(position_lists):
        return False
    later = [set(p) for p in position_lists[1:]]
    for start in position_lists[0]:
        current = start
        for allowed in later:
            step = next((current + d for d in range(1, slop + 2) if current + d in allowed), None)
            if step is None:
                break
            current = step
        else:
            return True
    return False
