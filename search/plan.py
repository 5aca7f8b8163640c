"""Query plans: what the compiler produces and the executor evaluates.

A plan is a small tree; every node, evaluated, gives a boolean mask of the
documents it matches and a score vector (executor.py)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Term:
    field: str
    text: str
    weight: float = 1.0


@dataclass
class AnyTerm:
    """Matches documents with any of ``terms``; scores the sum of their BM25."""
    terms: list[Term]


@dataclass
class Phrase:
    """Consecutive folded syllables in ``field`` (or one of the ``specials``
    terms, e.g. "tphcm" for TP.HCM); ``scoring`` terms add the score."""
    field: str
    words: list[str]
    scoring: list[Term] = field(default_factory=list)
    specials: list[str] = field(default_factory=list)


@dataclass
class Values:
    """Documents whose keyword field (author, category, source) is one of values."""
    field: str
    values: list[str]


@dataclass
class All:
    nodes: list


@dataclass
class Any:
    nodes: list


@dataclass
class Exclude:
    """Every document except those of ``node``."""
    node: object


@dataclass
class Everything:
    pass


@dataclass
class Boosted:
    """``required`` decides the matches; ``optional`` nodes only add score."""
    required: object
    optional: list
