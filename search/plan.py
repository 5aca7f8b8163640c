"""Query plans: what the compiler produces and a backend runs.

A ``QueryPlan`` is everything one search needs to know about the query,
decided once: the part every result must match, the optional boosts, the
relaxed fallback for long queries, the words to highlight and the words a
suggestion may correct. A backend implements one thing, "run this plan"
(executor.py for the embedded index).

The match part is a small tree of nodes; every node, evaluated, gives a
boolean mask of the documents it matches and a score vector.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ScoredTerm:
    """One index term that adds ``weight`` x its BM25 to a matching document."""
    field: str
    text: str
    weight: float = 1.0


@dataclass
class AnyTerm:
    """Matches documents with any of ``terms``; scores the sum of their BM25."""
    terms: list[ScoredTerm]


@dataclass
class PhraseMatch:
    """Consecutive folded syllables in ``field`` (or one of the ``specials``
    terms, e.g. "tphcm" for TP.HCM); ``scoring`` terms add the score."""
    field: str
    words: list[str]
    # dataclasses.field: the attribute ``field`` above shadows the import here
    scoring: list[ScoredTerm] = dataclasses.field(default_factory=list)
    specials: list[str] = dataclasses.field(default_factory=list)


@dataclass
class ValueMatch:
    """Documents whose keyword field (author, category, source) is one of values."""
    field: str
    values: list[str]


@dataclass
class AllOf:
    nodes: list[Node]


@dataclass
class AnyOf:
    nodes: list[Node]


@dataclass
class Exclude:
    """Every document except those of ``node``."""
    node: Node


@dataclass
class Everything:
    pass


@dataclass
class Boosted:
    """``required`` decides the matches; ``optional`` nodes only add score."""
    required: Node
    optional: list[Node]


Node = AnyTerm | PhraseMatch | ValueMatch | AllOf | AnyOf | Exclude | Everything | Boosted


@dataclass(frozen=True)
class PlainWord:
    """A positive, unscoped query word as analysed: its folded syllables and,
    when the reader typed accents, the accented ones."""
    folded: tuple[str, ...]
    exact: tuple[str | None, ...]  # empty when typed without accents


@dataclass
class Relaxation:
    """The fallback of a long plain query: documents holding enough of its
    informative words (executor.py decides how many), minus the exclusions."""
    words: list[Node]
    exclusions: list[Node]
    # a long query (compiler.LONG_QUERY_CLAUSES): its relaxed matches rank
    # among its full ones by score, instead of after them
    blend: bool = False


@dataclass
class QueryPlan:
    required: Node  # Everything() when browsing
    boosts: list[Node] = field(default_factory=list)
    relaxation: Relaxation | None = None
    highlight: list[tuple[str, str | None]] = field(default_factory=list)  # (folded, exact)
    words: list[PlainWord] = field(default_factory=list)  # what a suggestion may correct
    browse: bool = False  # the empty query: every article, newest first by default
    notes: list[str] = field(default_factory=list)  # said to the reader (words dropped)

    @property
    def matcher(self) -> Node:
        """The match tree with its boosts."""
        return Boosted(self.required, self.boosts) if self.boosts else self.required
