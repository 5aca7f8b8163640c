"""The executor's BM25F ranking, run on the candidates a Sphinx cluster found.

Sphinx decides which articles match (sphinx_match.py) and picks the
candidates worth ranking; the ranking itself is ours, so that an article
ranks the same on both backends and whichever shard holds it. Measured on
Sphinx 2.2.11: its ``bm25f()`` with length normalisation (b > 0) gives every
match about 0.5 on RT indexes, and each shard ranks with its own term
statistics. So the cluster sends, per candidate, each query term's
frequency in each field (PACKEDFACTORS(), sphinx_queries.py) and the
field lengths Whoosh would have stored (sphinx_documents.py), and this
module scores them with executor.py's formula, constants and order of
operations (float32, summed term by term as the executor does), using
cluster-wide document frequencies. For a set of matches no larger than the
candidate limit the scores are the executor's, to the last bit; beyond it,
an article outside Sphinx's top candidates cannot rank.

What differs from the executor: a boost phrase (executor._boosted) is
checked on the 50 best of all required matches there, on the 50 best
candidates here (the same articles unless filters cut the candidates); the
relaxed matches are scaled below the full ones by the best relaxed score
among the candidates rather than among all relaxed matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from search.bm25 import bm25, idf, length_norm
from search.executor import (
    MAX_PHRASE_CHECKS,
    PHRASE_TERM_WEIGHT,
    RELAXED_BELOW,
    blends,
    lift_above,
)
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
    ScoredTerm,
    ValueMatch,
)
from search.sphinx_match import match, phrase_only


@dataclass
class Statistics:
    """Cluster-wide figures, as the executor reads them from its index view."""
    documents: int  # live articles
    average_lengths: dict[str, float]  # Whoosh field -> mean length of the articles that have it
    frequencies: dict[tuple[str, str], int] = field(default_factory=dict)  # (field, term) -> articles


@dataclass
class Candidates:
    """What the cluster told about the articles being ranked, in one order."""
    row_ids: list[int]
    lengths: dict[str, np.ndarray]  # Whoosh field -> float32 length per candidate
    labels: dict[str, list[str]]  # author, category, source per candidate
    frequencies: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (field, term) -> float32 tf
    phrases: dict[str, np.ndarray] = field(default_factory=dict)  # phrase match expression -> bool per candidate

    @property
    def size(self) -> int:
        return len(self.row_ids)


@dataclass
class Ranked:
    """Candidates in rank order, with their scores."""
    order: list[int]  # candidate positions, best first
    score: np.ndarray
    relaxed: bool  # only relaxed matches (no article had every word)


class CandidateScorer:
    """executor.Executor's ``run`` over candidates instead of whole postings.

    ``required_total`` is how many articles the plan's required part matches
    before filters and ``phrase_found`` how many of those hold each boost
    phrase: the executor gives a boost phrase its idf among them."""

    def __init__(self, stats: Statistics, candidates: Candidates, required_total: int = 0,
                 phrase_found: dict[str, int] | None = None) -> None:
        self.stats = stats
        self.candidates = candidates
        self.size = candidates.size
        self.required_total = required_total
        self.phrase_found = phrase_found or {}

    def zeros(self) -> np.ndarray:
        return np.zeros(self.size, dtype=np.float32)

    def term_scores(self, term: ScoredTerm) -> np.ndarray:
        """Weighted BM25 of one term for every candidate (0 where it is absent)."""
        tf = self.candidates.frequencies.get((term.field, term.text))
        if tf is None or not tf.any():
            return self.zeros()
        lengths = self.candidates.lengths[term.field]
        avg = self.stats.average_lengths.get(term.field) or 1.0
        df = max(self.stats.frequencies.get((term.field, term.text), 0), int(np.count_nonzero(tf)))
        return bm25(term.weight, self.stats.documents, df, tf.astype(np.float32), length_norm(lengths, avg))

    def present(self, term: ScoredTerm) -> np.ndarray:
        tf = self.candidates.frequencies.get((term.field, term.text))
        return np.zeros(self.size, dtype=bool) if tf is None else tf > 0

    def run(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """(mask, score) of a plan node over the candidates."""
        if isinstance(node, AnyTerm):
            mask = np.zeros(self.size, dtype=bool)
            score = self.zeros()
            for term in node.terms:
                mask |= self.present(term)
                score += self.term_scores(term)
            return mask, score
        if isinstance(node, PhraseMatch):
            mask = self.phrase(match(node))
            score = self.zeros()
            for term in node.scoring:
                score += self.term_scores(term)
            return mask, score * mask
        if isinstance(node, ValueMatch):
            wanted = set(node.values)
            return np.array([v in wanted for v in self.candidates.labels[node.field]], dtype=bool), self.zeros()
        if isinstance(node, AllOf):
            mask = np.ones(self.size, dtype=bool)
            score = self.zeros()
            for child in node.nodes:
                child_mask, child_score = self.run(child)
                mask &= child_mask
                score += child_score
            return mask, score
        if isinstance(node, AnyOf):
            mask = np.zeros(self.size, dtype=bool)
            score = self.zeros()
            for child in node.nodes:
                child_mask, child_score = self.run(child)
                mask |= child_mask
                score += child_score * child_mask
            return mask, score
        if isinstance(node, Exclude):
            return ~self.run(node.node)[0], self.zeros()
        if isinstance(node, Everything):
            return np.ones(self.size, dtype=bool), self.zeros()
        if isinstance(node, Boosted):
            return self._boosted(node)
        raise TypeError(f"not a plan node: {node!r}")

    def phrase(self, expression: str) -> np.ndarray:
        found = self.candidates.phrases.get(expression)
        return np.zeros(self.size, dtype=bool) if found is None else found.copy()

    def _boosted(self, node: Boosted) -> tuple[np.ndarray, np.ndarray]:
        mask, score = self.run(node.required)
        phrases = [n for n in node.optional if isinstance(n, PhraseMatch)]
        for optional in node.optional:
            if not isinstance(optional, PhraseMatch):
                child_mask, child_score = self.run(optional)
                score += child_score * (child_mask & mask)
        if not phrases:
            return mask, score
        # the executor checks every match, up to MAX_PHRASE_CHECKS of them
        checked_all = self.required_total <= MAX_PHRASE_CHECKS
        for phrase in phrases:
            key = phrase_only(phrase)
            hits = self.phrase(key) & mask
            found = self.phrase_found.get(key, 0) if checked_all else int(hits.sum())
            if found and hits.any():
                score[hits] += PHRASE_TERM_WEIGHT * idf(self.stats.documents, found)
            for term in phrase.scoring:
                score += self.term_scores(term) * hits
            lift_above(score, mask, np.flatnonzero(hits))
        return mask, score


def rank(plan: QueryPlan, scorer: CandidateScorer, full: np.ndarray, relaxed: np.ndarray | None,
         complete: bool) -> Ranked:
    """executor.Executor.execute and engine._rank on the candidates.

    ``full`` marks the candidates that match the whole query, ``relaxed``
    those of the relaxed fallback (None: it was not needed). Ties keep the
    candidates' order (Sphinx's), where Whoosh keeps its document order."""
    score = scorer.run(plan.matcher)[1]
    mask = full.copy()
    relaxed_any = False
    if relaxed is not None and plan.relaxation is not None:
        relaxed = relaxed & ~full
        relaxed_score = scorer.zeros()
        for node in plan.relaxation.words:
            relaxed_score += scorer.run(node)[1]
        if complete and full.any() and not blends(plan.relaxation):  # full matches first: relaxed below them
            floor = float(score[full].min()) * RELAXED_BELOW
            top = float(relaxed_score[relaxed].max()) if relaxed.any() else 1.0
            relaxed_score = relaxed_score * (floor / max(top, 1e-9))
        score = np.where(relaxed, relaxed_score, score)
        relaxed_any = bool(relaxed.any())
        mask = mask | relaxed
    docs = np.flatnonzero(mask)
    order = docs[np.lexsort((docs, -score[docs]))] if len(docs) else docs
    return Ranked(order.tolist(), score, relaxed_any and not complete)
