"""Run a QueryPlan on an IndexView: masks and BM25F scores as arrays.

BM25 per term and field: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (the Lucene form, never negative),
k1 = 1.2, b = 0.75; a term's weight multiplies it (field weights and boosts
are set in compiler.py). Scores of the terms a document matches are summed.

A long plain query whose full matches do not fill the page is relaxed: the
articles with at least a third of its informative words (at least two)
follow, ranked by BM25F below every full match. RELAX_FRACTION was tuned on
the same-event cluster set (bench/relevance_eval.py): 0.7 of the words gave
nDCG@10 0.69, a third 0.83.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from search.index_view import IndexView
from search.plan import (
    AllOf,
    AnyOf,
    AnyTerm,
    Boosted,
    Everything,
    Exclude,
    Node,
    PhraseMatch,
    QueryPlan,
    Relaxation,
    ScoredTerm,
    ValueMatch,
)

K1 = 1.2
B = 0.75
MAX_PHRASE_CHECKS = 20_000  # candidate documents verified by positions per phrase
PHRASE_BOOST_CANDIDATES = 50  # an optional phrase is checked on the best-scoring few...
PHRASE_CHECK_ALL = 2000  # ...or on every match when there are at most this many
PHRASE_TERM_WEIGHT = 2.0  # a matched phrase adds this x its idf
RELAX_FRACTION = 0.34  # share of the informative words a relaxed match needs
COMMON_WORD_SHARE = 0.5  # words in more documents than this share are not informative
RELAXED_BELOW = 0.999  # the best relaxed match scores this x the weakest full match


def idf(documents: int, df: int) -> float:
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


@dataclass
class Matches:
    """What a plan found: every result (full and relaxed matches) and its score."""
    mask: np.ndarray
    score: np.ndarray
    complete: bool  # some article matched the whole query
    relaxed: bool  # the results are relaxed matches only

    @property
    def total(self) -> int:
        return int(self.mask.sum())


class Executor:
    def __init__(self, view: IndexView):
        self.view = view
        self.size = view.size

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float32)

    def execute(self, plan: QueryPlan, allowed: np.ndarray | None, wanted: int) -> Matches:
        """The plan's matches among ``allowed`` documents (None: all), relaxed
        when fewer than ``wanted`` articles match every word."""
        mask, score = self.run(plan.matcher)
        if allowed is not None:
            mask &= allowed
        complete = bool(mask.any())
        relaxed_any = False
        if plan.relaxation is not None and int(mask.sum()) < wanted:
            relaxed, relaxed_score = self._relaxed(plan.relaxation)
            if allowed is not None:
                relaxed &= allowed
            relaxed &= ~mask
            if complete:  # full matches first: relaxed scores scaled below them
                floor = float(score[mask].min()) * RELAXED_BELOW
                top = float(relaxed_score[relaxed].max()) if relaxed.any() else 1.0
                relaxed_score = relaxed_score * (floor / max(top, 1e-9))
            score = np.where(relaxed, relaxed_score, score)
            relaxed_any = bool(relaxed.any())
            mask = mask | relaxed
        return Matches(mask, score, complete, relaxed_any and not complete)

    def _relaxed(self, relaxation: Relaxation) -> tuple[np.ndarray, np.ndarray]:
        """Documents with enough of the informative words, and their scores."""
        limit = COMMON_WORD_SHARE * max(1, self.view.live_count)
        counts = np.zeros(self.size, dtype=np.int32)
        score = self.zeros()
        informative = 0
        for node in relaxation.words:
            node_mask, node_score = self.run(node)
            score += node_score
            if node_mask.sum() > limit:
                continue
            informative += 1
            counts += node_mask
        if informative < 2:
            return np.zeros(self.size, dtype=bool), score
        needed = min(informative - 1, max(2, math.ceil(RELAX_FRACTION * informative)))
        found = counts >= needed
        for node in relaxation.exclusions:
            found &= ~self.run(node)[0]
        return found, score

    def term_scores(self, term: ScoredTerm) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weighted BM25 scores) of one term."""
        ids, tf = self.view.postings(term.field, term.text)
        if not len(ids):
            return ids, tf
        lengths, avg = self.view.lengths(term.field)
        norm = K1 * (1 - B + B * lengths[ids] / avg)
        return ids, (term.weight * idf(self.view.live_count, len(ids))) * tf * (K1 + 1) / (tf + norm)

    def run(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """(mask, score) of a plan node; masks never include deleted documents."""
        if isinstance(node, AnyTerm):
            return self._any_term(node)
        if isinstance(node, PhraseMatch):
            return self._phrase(node)
        if isinstance(node, ValueMatch):
            return self.view.value_mask(node.field, node.values).copy(), self.zeros()
        if isinstance(node, AllOf):
            return self._all_of(node)
        if isinstance(node, AnyOf):
            return self._any_of(node)
        if isinstance(node, Exclude):
            return self.view.live & ~self.run(node.node)[0], self.zeros()
        if isinstance(node, Everything):
            return self.view.live.copy(), self.zeros()
        if isinstance(node, Boosted):
            return self._boosted(node)
        raise TypeError(f"not a plan node: {node!r}")

    def _any_term(self, node: AnyTerm) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(self.size, dtype=bool)
        score = self.zeros()
        for term in node.terms:
            ids, scores = self.term_scores(term)
            mask[ids] = True
            score[ids] += scores
        return mask & self.view.live, score

    def _phrase(self, node: PhraseMatch) -> tuple[np.ndarray, np.ndarray]:
        mask = self.phrase_mask(node.field, node.words)
        for special in node.specials:
            mask[self.view.postings(node.field, special)[0]] = True
        mask &= self.view.live
        score = self.zeros()
        for term in node.scoring:
            ids, scores = self.term_scores(term)
            score[ids] += scores
        return mask, score * mask

    def phrase_mask(self, field: str, words: list[str], within: np.ndarray | None = None) -> np.ndarray:
        """Documents where ``words`` occur next to each other, in order."""
        mask = self.words_mask(field, words, within)
        if len(words) < 2:
            return mask
        candidates = np.flatnonzero(mask)[:MAX_PHRASE_CHECKS]
        result = np.zeros(self.size, dtype=bool)
        result[self._exact_phrase_docs(field, words, candidates)] = True
        return result

    def phrase_estimate(self, field: str, words: list[str], sample: int) -> float:
        """About how many documents hold the phrase: it is checked in at most
        ``sample`` of the documents holding every word, spread evenly."""
        docs = np.flatnonzero(self.words_mask(field, words))
        if len(words) < 2 or len(docs) <= sample:
            return float(len(self._exact_phrase_docs(field, words, docs)) if len(words) > 1 else len(docs))
        picked = docs[np.linspace(0, len(docs) - 1, sample).astype(np.int64)]
        return len(self._exact_phrase_docs(field, words, picked)) * len(docs) / sample

    def words_mask(self, field: str, words: list[str], within: np.ndarray | None = None) -> np.ndarray:
        """Live documents that contain every one of ``words`` (anywhere)."""
        mask = self.view.live.copy() if within is None else within & self.view.live
        for word in words:
            word_mask = np.zeros(self.size, dtype=bool)
            word_mask[self.view.postings(field, word)[0]] = True
            mask &= word_mask
        return mask

    def _exact_phrase_docs(self, field: str, words: list[str], candidates: np.ndarray) -> list[int]:
        """Documents where the words stand in a row. Each occurrence becomes a
        key (document, position minus the word's place in the phrase); the
        phrase is where every word has the same key. Rarest word first, and
        each word's positions are read only for the documents still in the
        running, so common words ("của", "và") are read for few documents."""
        order = sorted(range(len(words)), key=lambda i: self.view.doc_frequency(field, words[i]))
        keys: np.ndarray | None = None
        docs = candidates
        for i in order:
            doc_ids, positions = self.view.position_pairs(field, words[i], docs)
            starts = positions - i
            here = _sorted_unique((doc_ids[starts >= 0] << 32) | starts[starts >= 0])
            keys = here if keys is None else keys[_members(keys, here)]
            if not len(keys):
                return []
            docs = _sorted_unique(keys >> 32)
        return docs.tolist()

    def _all_of(self, node: AllOf) -> tuple[np.ndarray, np.ndarray]:
        mask = self.view.live.copy()
        score = self.zeros()
        for child in node.nodes:
            child_mask, child_score = self.run(child)
            mask &= child_mask
            score += child_score
        return mask, score

    def _any_of(self, node: AnyOf) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(self.size, dtype=bool)
        score = self.zeros()
        for child in node.nodes:
            child_mask, child_score = self.run(child)
            mask |= child_mask
            score += child_score * child_mask
        return mask, score

    def _boosted(self, node: Boosted) -> tuple[np.ndarray, np.ndarray]:
        mask, score = self.run(node.required)
        phrases = [n for n in node.optional if isinstance(n, PhraseMatch)]
        for optional in node.optional:
            if not isinstance(optional, PhraseMatch):
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
                    score[hits] += PHRASE_TERM_WEIGHT * idf(self.view.live_count, found)
                for term in phrase.scoring:
                    ids, scores = self.term_scores(term)
                    score[ids] += scores * hits[ids]
        return mask, score


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for values that nearly always come sorted (documents in
    order, positions ascending within each): a linear pass instead of a
    hash or sort, which was a third of the time of the query mix."""
    if len(values) > 1 and not bool((values[1:] >= values[:-1]).all()):
        return np.unique(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_set`` (sorted, unique)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values
