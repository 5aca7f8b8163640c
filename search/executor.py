"""Run a QueryPlan on an IndexView: masks and BM25F scores as arrays.

Each term scores by BM25 (bm25.py); the scores of the terms a document
matches are summed.

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

from search.bm25 import bm25, idf
from search.deadline import NEVER, Deadline
from search.docsets import FEW_LOOKUPS, bitmap
from search.index_view import IndexView
from search.masked import masked_max, masked_min, select
from search.phrases import PhraseFinder
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

MAX_PHRASE_CHECKS = 20_000  # best-scoring matches a boost's phrase is looked for in
PHRASE_TIER_GAP = 1e-3  # how far the weakest phrase holder stays above the best other match
PHRASE_TERM_WEIGHT = 2.0  # a matched phrase adds this x its idf
RELAX_FRACTION = 0.2  # share of the informative words a relaxed match needs
COMMON_WORD_SHARE = 0.9  # words in more documents than this share are not informative
RELAXED_BELOW = 0.999  # the best relaxed match scores this x the weakest full match


@dataclass
class Matches:
    """What a plan found: every result (full and relaxed matches) and its score."""
    mask: np.ndarray
    score: np.ndarray
    complete: bool  # some article matched the whole query
    relaxed: bool  # the results are relaxed matches only

    @property
    def total(self) -> int:
        return int(np.count_nonzero(self.mask))


class WordTally:
    """The relaxed fallback's count of the query words: how many informative
    words each document holds, and the words' summed scores. It is filled
    while the required part runs the same word nodes, so no word's postings
    are scored twice (long headline queries relax nearly always)."""

    def __init__(self, words: list[Node], size: int, limit: float):
        self.pending = list(words)
        self.limit = limit  # words in more documents than this are not informative
        self.counts = np.zeros(size, dtype=np.uint8)  # at most querylang.MAX_CLAUSES words
        self.score: np.ndarray | None = None
        self.informative = 0

    def add(self, node: Node, mask: np.ndarray, score: np.ndarray) -> None:
        """Count ``node``'s result if it is one of the words still pending."""
        for i, word in enumerate(self.pending):
            if word == node:
                del self.pending[i]
                break
        else:
            return
        if self.score is None:
            self.score = score.copy()
        else:
            self.score += score
        if np.count_nonzero(mask) <= self.limit:
            self.informative += 1
            self.counts += mask


class Executor:
    """Runs plans on one view. Without ``scoring`` (results sorted by date)
    it finds the same matches and leaves every score at 0: no BM25, no boosts."""

    def __init__(self, view: IndexView, scoring: bool = True, deadline: Deadline = NEVER):
        self.view = view
        self.size = view.size
        self.scoring = scoring
        self.deadline = deadline  # looked at before each node and term (deadline.py)
        self._tally: WordTally | None = None
        self._holders: list[np.ndarray] = []  # phrase holders of the plan's boosts, lifted by execute
        self.phrases = PhraseFinder(view, deadline)  # where words stand in a row (phrases.py)
        self._allowed: np.ndarray | None = None  # the request's filters, while execute runs

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float32)

    def execute(self, plan: QueryPlan, allowed: np.ndarray | None, wanted: int) -> Matches:
        """The plan's matches among ``allowed`` documents (None: all), relaxed
        when fewer than ``wanted`` articles match every word, or when the
        query is long enough to blend (``blends``)."""
        if plan.relaxation is not None:
            limit = COMMON_WORD_SHARE * max(1, self.view.live_count)
            self._tally = WordTally(plan.relaxation.words, self.size, limit)
        self._holders = []
        self._allowed = allowed
        mask, score = self.run(plan.matcher if self.scoring else plan.required)
        if allowed is not None:
            mask &= allowed
        for hits in self._holders:  # after the filters: the tier is the filtered matches' order
            lift_above(score, mask, hits[mask[hits]])
        complete = bool(mask.any())
        relaxed_any = False
        blend = blends(plan.relaxation)
        if plan.relaxation is not None and (np.count_nonzero(mask) < wanted or blend):
            relaxed, relaxed_score = self._relaxed(plan.relaxation)
            if allowed is not None:
                relaxed &= allowed
            relaxed &= ~mask
            if complete and not blend:  # full matches first: relaxed scores scaled below them
                floor = masked_min(score, mask) * RELAXED_BELOW
                top = masked_max(relaxed_score, relaxed) if relaxed.any() else 1.0
                relaxed_score = relaxed_score * (floor / max(top, 1e-9))
            score = select(relaxed, relaxed_score, score)
            relaxed_any = bool(relaxed.any())
            mask = mask | relaxed
        self._tally = self._allowed = None
        return Matches(mask, score, complete, relaxed_any and not complete)

    def _relaxed(self, relaxation: Relaxation) -> tuple[np.ndarray, np.ndarray]:
        """Documents with enough of the informative words, and their scores."""
        tally = self._tally
        assert tally is not None  # set by execute
        for node in list(tally.pending):  # words the required part did not run
            tally.add(node, *self.run(node))
        score = tally.score if tally.score is not None else self.zeros()
        if tally.informative < 2:
            return np.zeros(self.size, dtype=bool), score
        needed = min(tally.informative - 1, max(2, math.ceil(RELAX_FRACTION * tally.informative)))
        found = tally.counts >= needed
        for node in relaxation.exclusions:
            found &= ~self.run(node)[0]
        return found, score

    # -- terms -------------------------------------------------------------
    def term_scores(self, term: ScoredTerm) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weighted BM25 scores) of one term."""
        self.deadline.check()
        ids, tf = self.view.postings(term.field, term.text)
        if not len(ids):
            return ids, tf
        return ids, self._bm25(term, ids, tf, len(ids))

    def term_scores_at(self, term: ScoredTerm, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, weighted BM25 scores) of one term, only in ``docs``
        (sorted): the smaller list is looked up in the larger."""
        self.deadline.check()
        ids, tf = self.view.postings(term.field, term.text)
        if not len(ids) or not len(docs):
            return ids[:0], tf[:0]
        if len(docs) * FEW_LOOKUPS < len(ids):
            where = np.minimum(np.searchsorted(ids, docs), len(ids) - 1)
            found = ids[where] == docs
            picked, at = docs[found], where[found]
        else:
            at = np.flatnonzero(bitmap(self.size, docs)[ids])
            picked = ids[at]
        return picked, self._bm25(term, picked, tf[at], len(ids))

    def _bm25(self, term: ScoredTerm, ids: np.ndarray, tf: np.ndarray, df: int) -> np.ndarray:
        return bm25(term.weight, self.view.live_count, df, tf, self.view.length_norms(term.field)[ids])

    # -- nodes -------------------------------------------------------------
    def run(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """(mask, score) of a plan node, both arrays the caller's own; masks
        never include deleted documents."""
        self.deadline.check()
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
        score = self.zeros()
        for term in node.terms if self.scoring else ():
            ids, scores = self.term_scores(term)
            score[ids] += scores
        if self.scoring and all(term.weight > 0 for term in node.terms):
            mask = score > 0  # every posting scores above 0 (index_view: tf >= 1)
        else:
            mask = np.zeros(self.size, dtype=bool)
            for term in node.terms:
                mask[self.view.postings(term.field, term.text)[0]] = True
        mask &= self.view.live
        return mask, score

    def _phrase(self, node: PhraseMatch) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(self.size, dtype=bool)
        mask[self.phrases.holders(node.field, node.words)] = True
        for special in node.specials:
            mask[self.view.postings(node.field, special)[0]] = True
        mask &= self.view.live
        hits = np.flatnonzero(mask)
        score = self.zeros()
        for term in node.scoring if self.scoring else ():  # where the phrase is, not every posting
            ids, scores = self.term_scores_at(term, hits)
            score[ids] += scores
        return mask, score

    def _all_of(self, node: AllOf) -> tuple[np.ndarray, np.ndarray]:
        mask = score = None
        for child in node.nodes:
            child_mask, child_score = self.run(child)
            if self._tally is not None:
                self._tally.add(child, child_mask, child_score)
            if mask is None or score is None:  # the first child's arrays accumulate
                mask, score = child_mask, child_score
            else:
                mask &= child_mask
                score += child_score
        if mask is None or score is None:
            return self.view.live.copy(), self.zeros()
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
            if isinstance(optional, AnyTerm):  # added where the matches are, posting by posting
                for term in optional.terms:
                    ids, scores = self.term_scores(term)
                    keep = mask[ids]
                    score[ids[keep]] += scores[keep]
            elif not isinstance(optional, PhraseMatch):
                child_mask, child_score = self.run(optional)
                score += child_score * (child_mask & mask)
        if phrases:
            docs = np.flatnonzero(mask)
            if len(docs) > MAX_PHRASE_CHECKS and self._allowed is not None:
                docs = docs[self._allowed[docs]]  # the ones the filters let through: those are ranked
            if len(docs) > MAX_PHRASE_CHECKS:  # the best-scoring ones
                docs = np.sort(docs[np.argpartition(-score[docs], MAX_PHRASE_CHECKS - 1)[:MAX_PHRASE_CHECKS]])
            for phrase in phrases:
                hits = self.phrases.holders(phrase.field, phrase.words, within=docs)
                # a rare phrase of common words is strong evidence: score it
                # like a term of its own, with the idf of its matches
                if len(hits):
                    score[hits] += PHRASE_TERM_WEIGHT * idf(self.view.live_count, len(hits))
                for term in phrase.scoring:
                    ids, scores = self.term_scores_at(term, hits)
                    score[ids] += scores
                self._holders.append(hits)
        return mask, score


def blends(relaxation: Relaxation | None) -> bool:
    """Whether a query's relaxed matches rank with its full matches (a long
    query: compiler.LONG_QUERY_CLAUSES)."""
    return relaxation is not None and relaxation.blend


def lift_above(score: np.ndarray, mask: np.ndarray, hits: np.ndarray) -> np.ndarray:
    """Rank ``hits`` (matches holding the query's words in a row) above every
    other match in ``mask``, keeping each side's order: a reader who types a
    remembered sentence, or a headline's words, means them together."""
    if not len(hits):
        return score
    apart = mask.copy()
    apart[hits] = False
    if apart.any():
        lift = float(np.float32(masked_max(score, apart)) - score[hits].min())  # in float32, as the scores
        if lift >= 0:
            score[hits] += lift * (1 + PHRASE_TIER_GAP) + PHRASE_TIER_GAP
    return score
