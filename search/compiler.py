"""Parsed query -> Whoosh query, with the ranking rules in one place.

Ranking is BM25F (k1=1.2, b=0.75) over the analysed fields. Every query word
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
  PHRASE_BOOST    2.0  all query words together, in order, within one word
"""

from __future__ import annotations

from whoosh import query as Q

from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, has_accents, terms
from indexer.textnorm import fold
from search import querylang as L

FIELD_WEIGHTS = {"title": 3.0, "lead": 1.5, "captions": 0.5}
EXACT_BOOST = 1.5
COMPOUND_BOOST = 1.5
PHRASE_BOOST = 2.0
MAX_PHRASE_WORDS = 8
FACET_SCOPES = ("author", "category", "source")


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
        self.positions = [by_pos[p] for p in sorted(by_pos) if FOLD in by_pos[p]]
        self.folded = [slot[FOLD] for slot in self.positions]
        self.exact = [slot.get(EXACT) for slot in self.positions] if accented else []


def _term_clause(fieldname: str, chunk: Chunk, weighted: bool) -> Q.Query | None:
    """Match one chunk in a text field (content, or a scoped title)."""
    if not chunk.folded:
        return None
    alternatives: list[Q.Query] = []
    if len(chunk.folded) == 1:
        alternatives.append(Q.Term(fieldname, chunk.folded[0]))
        if chunk.exact and chunk.exact[0]:
            alternatives.append(Q.Term(fieldname, chunk.exact[0], boost=EXACT_BOOST))
        if weighted:
            alternatives += [Q.Term(f, chunk.folded[0], boost=w) for f, w in FIELD_WEIGHTS.items()]
    else:
        alternatives.append(Q.Phrase(fieldname, chunk.folded))
        if any(chunk.exact):
            exact = [e or f for e, f in zip(chunk.exact, chunk.folded)]
            alternatives.append(Q.Phrase(fieldname, exact, boost=EXACT_BOOST))
        if weighted:
            alternatives += [Q.Phrase(f, chunk.folded, boost=w) for f, w in FIELD_WEIGHTS.items()]
    alternatives += [Q.Term(fieldname, s) for s in chunk.specials]
    return alternatives[0] if len(alternatives) == 1 else Q.Or(alternatives)


class Compiler:
    """Compiles against one searcher (it looks up facet values and compounds)."""

    def __init__(self, searcher, facet_values):
        self.searcher = searcher
        self.facet_values = facet_values  # field -> list of distinct values

    def compile(self, node) -> Q.Query | None:
        if node is None:
            return None
        if isinstance(node, L.Word):
            return self._scoped(node) if node.field in FACET_SCOPES else self.word(node)
        if isinstance(node, L.Phrase):
            return self._scoped(node) if node.field in FACET_SCOPES else self.word(node)
        if isinstance(node, L.Not):
            inner = self.compile(node.node)
            return Q.Not(inner) if inner is not None else None
        children = [c for c in (self.compile(n) for n in node.nodes) if c is not None]
        if not children:
            return None
        if isinstance(node, L.Or):
            children = [Q.AndNot(Q.Every(), c.query) if isinstance(c, Q.Not) else c
                        for c in children]
            return children[0] if len(children) == 1 else Q.Or(children)
        return _and(children)

    def word(self, node) -> Q.Query | None:
        chunk = Chunk(node.text)
        fieldname = node.field or "content"
        return _term_clause(fieldname, chunk, weighted=node.field is None)

    def _scoped(self, node) -> Q.Query:
        """author:/category:/source: match the stored values whose folded
        syllables contain all the typed ones ("author:vien" -> "Tú Viên")."""
        wanted = [fold(t.text) for t in terms(node.text, segment=False) if t.kind == FOLD]
        matches = []
        for value in self.facet_values(node.field):
            syllables = [fold(t.text) for t in terms(value, segment=False) if t.kind == FOLD]
            if wanted and _contains(syllables, wanted, contiguous=isinstance(node, L.Phrase)):
                matches.append(Q.Term(node.field, value))
        if not matches:
            return Q.NullQuery
        return matches[0] if len(matches) == 1 else Q.Or(matches)

    def boosts(self, words: list[L.Word]) -> list[Q.Query]:
        """Optional clauses that reward query words found together."""
        folded: list[str] = []
        for word in words:
            folded += Chunk(word.text).folded
        extra: list[Q.Query] = []
        reader = self.searcher.reader()
        for size in (2, 3):
            for i in range(len(folded) - size + 1):
                compound = "_".join(folded[i:i + size])
                if reader.doc_frequency("content", compound):
                    extra.append(Q.Term("content", compound, boost=COMPOUND_BOOST))
        if 2 <= len(folded) <= MAX_PHRASE_WORDS:
            extra.append(Q.Phrase("content", folded, slop=1, boost=PHRASE_BOOST))
        return extra


def _contains(haystack: list[str], needles: list[str], contiguous: bool) -> bool:
    if not contiguous:
        return all(n in haystack for n in needles)
    size = len(needles)
    return any(haystack[i:i + size] == needles for i in range(len(haystack) - size + 1))


def _and(children: list[Q.Query]) -> Q.Query:
    positive = [c for c in children if not isinstance(c, Q.Not)]
    negative = [c.query for c in children if isinstance(c, Q.Not)]
    base = (positive[0] if len(positive) == 1 else Q.And(positive)) if positive else Q.Every()
    if negative:
        excluded = negative[0] if len(negative) == 1 else Q.Or(negative)
        return Q.AndNot(base, excluded)
    return base


def with_boosts(required: Q.Query, boosts: list[Q.Query]) -> Q.Query:
    if not boosts:
        return required
    return Q.AndMaybe(required, boosts[0] if len(boosts) == 1 else Q.Or(boosts))
