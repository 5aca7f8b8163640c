"""Parsed query -> one QueryPlan (plan.py), with the ranking rules in one place.

Ranking is BM25F (k1=1.2, b=0.75; executor.py) over the analysed fields. Every query word
becomes a clause that must match ``content`` (title + lead + captions + body)
and is scored again, with a weight, where it also appears in a short field:

  field      weight   why
  title        3.0    a word in the headline is what the article is about
  lead         1.5    the sapo summarises it
  captions     0.5    captions describe the pictures, weaker evidence
  content      1.0    the body (and the above once more, as plain text)

So a title word counts 4x a body word, a lead word 2.5x, a caption word 1.5x.
On top of that, optional clauses add:

  EXACT_BOOST     1.5  the accented spelling the user typed ("đường" ranks
                       above "dương", which only matches the folded "duong")
  COMPOUND_BOOST  1.5  adjacent query words that pyvi segmented as one word
                       in the article ("cán bộ" as the word cán_bộ)
  PHRASE_BOOST    2.0  all query words (2 to 8) together, in order: adds
                       2 x the phrase's idf (a rare phrase of common words is
                       strong evidence) plus PHRASE_BOOST x the mean BM25 of the
                       words (checked on every match when there are at most 2,000)

A plain query of RELAX_MIN_WORDS words or more also gets a relaxed fallback
(executor.py): when the articles with every word do not fill the page, those
with most of the words follow them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, has_accents, terms
from search.plan import (
    AllOf,
    AnyOf,
    AnyTerm,
    Everything,
    Exclude,
    Node,
    PhraseMatch,
    PlainWord,
    QueryPlan,
    Relaxation,
    ScoredTerm,
    ValueMatch,
)
from search.querylang import MAX_CLAUSES, And, Not, ParsedQuery, Phrase, QueryNode, Word, parse


class CompilerView(Protocol):
    """What the compiler reads from an index: an index_view.IndexView, or the
    Sphinx backend's statistics (sphinx_backend.PlanView)."""

    def codes(self, field: str) -> tuple[Any, list[str]]:
        """(per-document codes, sorted labels) of a keyword field; only the labels are read."""
        ...

    def doc_frequency(self, field: str, term: str) -> int: ...

FIELD_WEIGHTS = {"title": 3.0, "lead": 1.5, "captions": 0.5}
EXACT_BOOST = 1.5
COMPOUND_BOOST = 1.5
PHRASE_BOOST = 2.0
MAX_PHRASE_WORDS = 8
COMPOUND_SIZES = (2, 3)  # pyvi's compounds are two or three syllables
RELAX_MIN_WORDS = 4  # shorter queries need all their words
FACET_SCOPES = ("author", "category", "source")
CACHED_CHUNKS = 4096  # analysed query words kept per process (a few hundred bytes each)


class Chunk:
    """One typed word (or phrase) analysed: per position its folded and
    exact term, and whole-chunk special terms (TP.HCM -> tphcm, dates)."""

    def __init__(self, text: str):
        accented = has_accents(text)
        by_pos: dict[int, dict[str, str]] = {}
        self.specials: list[str] = []
        for term in terms(text, segment=False, query=True):
            slot = by_pos.setdefault(term.pos, {})
            if term.kind == SPECIAL:
                self.specials.append(term.text)
            elif term.kind in (FOLD, EXACT):
                slot.setdefault(term.kind, term.text)
        positions = [by_pos[p] for p in sorted(by_pos) if FOLD in by_pos[p]]
        self.folded: list[str] = [slot[FOLD] for slot in positions]
        self.exact: list[str | None] = [slot.get(EXACT) for slot in positions] if accented else []

    def pairs(self) -> list[tuple[str, str | None]]:
        """(folded, exact or None) per syllable."""
        return list(zip(self.folded, self.exact or [None] * len(self.folded), strict=True))


@lru_cache(maxsize=CACHED_CHUNKS)
def chunk(text: str) -> Chunk:
    """The analysed form of a typed word, computed once per process."""
    return Chunk(text)


def scoring_terms(fieldname: str, typed: Chunk, weighted: bool) -> list[ScoredTerm]:
    """The terms that score a chunk: folded syllables, the exact spelling the
    user typed, and (unscoped) the same syllables in the weighted fields."""
    found = []
    for i, folded in enumerate(typed.folded):
        found.append(ScoredTerm(fieldname, folded))
        exact = typed.exact[i] if typed.exact else None
        if exact:
            found.append(ScoredTerm(fieldname, exact, EXACT_BOOST))
        if weighted:
            found += [ScoredTerm(f, folded, w) for f, w in FIELD_WEIGHTS.items()]
    return found


def chunk_node(fieldname: str, typed: Chunk, weighted: bool) -> Node | None:
    """Match one typed word (or quoted phrase) in a text field."""
    if not typed.folded:
        return None
    scoring = scoring_terms(fieldname, typed, weighted)
    if len(typed.folded) == 1:
        specials = [ScoredTerm(fieldname, s) for s in typed.specials]
        return AnyTerm(scoring + specials)
    return PhraseMatch(fieldname, typed.folded, scoring, typed.specials)


class Compiler:
    """Compiles against one index view: it looks up facet labels (for
    author:/category:/source:) and which compounds the archive has."""

    def __init__(self, view: CompilerView) -> None:
        self.view = view

    def plan(self, parsed: ParsedQuery) -> QueryPlan:
        """Everything one search needs to know about its query."""
        notes = []
        if parsed.dropped:
            notes.append(f"Chỉ tìm theo {MAX_CLAUSES} từ đầu tiên; "
                         f"{parsed.dropped} từ sau đó bị bỏ qua.")
        required = self.node(parsed.root)
        highlight = _highlight_pairs(parsed.root)
        if required is None:
            return QueryPlan(required=Everything(), browse=True, highlight=highlight, notes=notes)
        words = _plain_words(parsed)
        relaxation = None
        if len(words) >= RELAX_MIN_WORDS:
            relaxation = Relaxation(
                words=[n for n in (self.node(w) for w in words) if n is not None],
                exclusions=[n for n in (self.node(x.node) for x in _top_level(parsed, Not)) if n is not None],
            )
        return QueryPlan(
            required=required, boosts=self.boosts(words) if words else [], relaxation=relaxation,
            highlight=highlight, notes=notes,
            words=[PlainWord(tuple(c.folded), tuple(c.exact)) for c in (chunk(w.text) for w in words)],
        )

    def node(self, node: QueryNode | None) -> Node | None:
        """The match tree of a parsed node (None: it matches nothing to score)."""
        if node is None:
            return None
        if isinstance(node, (Word, Phrase)):
            if node.field in FACET_SCOPES:
                return self._scoped(node)
            return chunk_node(node.field or "content", chunk(node.text), weighted=node.field is None)
        if isinstance(node, Not):
            inner = self.node(node.node)
            return Exclude(inner) if inner is not None else None
        children = [c for c in (self.node(n) for n in node.nodes) if c is not None]
        if not children:
            return None
        if len(children) == 1:
            return children[0]
        return AllOf(children) if isinstance(node, And) else AnyOf(children)

    def _scoped(self, node: Word | Phrase) -> ValueMatch:
        """author:/category:/source: the stored values whose folded syllables
        contain the typed ones ("author:vien" -> "Tú Viên")."""
        assert node.field is not None  # only called for a facet scope
        wanted = chunk(node.text).folded
        matches = []
        for value in self.view.codes(node.field)[1]:
            syllables = chunk(value).folded
            if wanted and _contains(syllables, wanted, contiguous=isinstance(node, Phrase)):
                matches.append(value)
        return ValueMatch(node.field, matches)

    def boosts(self, words: list[Word]) -> list[Node]:
        """Optional nodes that reward query words found together."""
        folded: list[str] = []
        for word in words:
            folded += chunk(word.text).folded
        extra: list[Node] = []
        for size in COMPOUND_SIZES:
            for i in range(len(folded) - size + 1):
                compound = "_".join(folded[i:i + size])
                if self.view.doc_frequency("content", compound):
                    extra.append(AnyTerm([ScoredTerm("content", compound, COMPOUND_BOOST)]))
        if 2 <= len(folded) <= MAX_PHRASE_WORDS:
            scoring = [ScoredTerm("content", f, PHRASE_BOOST / len(folded)) for f in folded]
            extra.append(PhraseMatch("content", folded, scoring))
        return extra


def _contains(haystack: list[str], needles: list[str], contiguous: bool) -> bool:
    if not contiguous:
        return all(n in haystack for n in needles)
    size = len(needles)
    return any(haystack[i:i + size] == needles for i in range(len(haystack) - size + 1))


def _top_level(parsed: ParsedQuery, kind: type) -> list:
    if parsed.root is None:
        return []
    nodes = parsed.root.nodes if isinstance(parsed.root, And) else [parsed.root]
    return [n for n in nodes if isinstance(n, kind)]


def _plain_words(parsed: ParsedQuery) -> list[Word]:
    """Positive unscoped words of a plain query (the ones we relax and boost)."""
    if parsed.root is None or not parsed.is_plain():
        return []
    return _top_level(parsed, Word)


def highlight_words(q: str) -> list[tuple[str, str | None]]:
    """The (folded, exact) syllables a search for ``q`` marks: for an
    article page reached from that search."""
    return _highlight_pairs(parse(q).root)


def _highlight_pairs(root: QueryNode | None) -> list[tuple[str, str | None]]:
    """(folded, exact) syllables of every positive word and phrase (not of author:...)."""
    found: list[tuple[str, str | None]] = []

    def walk(node: QueryNode | None, negated: bool = False) -> None:
        if node is None:
            return
        if isinstance(node, (Word, Phrase)):
            if not negated and node.field not in FACET_SCOPES:
                found.extend(chunk(node.text).pairs())
        elif isinstance(node, Not):
            walk(node.node, not negated)
        else:
            for child in node.nodes:
                walk(child, negated)

    walk(root)
    return found


# -- more like this (Backend.related) -------------------------------------------

RELATED_TERMS = 15
RELATED_MAX_SHARE = 0.1  # words in more articles than this share say nothing about one


def related_words(doc: dict) -> set[str]:
    """The words of an article's title and lead that can say what it is
    about: folded syllables and compounds, not numbers."""
    return {t.text for t in terms(f"{doc['title']}\n{doc.get('lead') or ''}")
            if t.kind in (FOLD, COMPOUND) and not t.text.isdigit()}


def related_query(frequencies: Mapping[str, int], documents: int) -> AnyTerm | None:
    """More like this, from ``related_words`` and their document
    frequencies: the rarest of them (in more than one article, in under
    RELATED_MAX_SHARE of them), each weighted by its idf. None: none qualify."""
    total = max(1, documents)
    weighted = sorted(((math.log(total / df), text) for text, df in frequencies.items()
                       if 1 < df < RELATED_MAX_SHARE * total), reverse=True)
    if not weighted:
        return None
    return AnyTerm([ScoredTerm("content", t, w) for w, t in weighted[:RELATED_TERMS]])
