"""Parsed query -> query plan (plan.py), with the ranking rules in one place.

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
"""

from __future__ import annotations

from functools import lru_cache

from indexer.analysis import EXACT, FOLD, SPECIAL, has_accents, terms
from search import plan as P
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


@lru_cache(maxsize=4096)
def chunk(text: str) -> Chunk:
    """The analysed form of a typed word; one request asks for it several
    times (plan, boosts, highlights, suggestion), so it is computed once."""
    return Chunk(text)


def scoring_terms(fieldname: str, chunk: Chunk, weighted: bool) -> list[P.Term]:
    """The terms that score a chunk: folded syllables, the exact spelling the
    user typed, and (unscoped) the same syllables in the weighted fields."""
    found = []
    for i, folded in enumerate(chunk.folded):
        found.append(P.Term(fieldname, folded))
        if chunk.exact and chunk.exact[i]:
            found.append(P.Term(fieldname, chunk.exact[i], EXACT_BOOST))
        if weighted:
            found += [P.Term(f, folded, w) for f, w in FIELD_WEIGHTS.items()]
    return found


def chunk_node(fieldname: str, chunk: Chunk, weighted: bool):
    """Match one typed word (or quoted phrase) in a text field."""
    if not chunk.folded:
        return None
    scoring = scoring_terms(fieldname, chunk, weighted)
    if len(chunk.folded) == 1:
        specials = [P.Term(fieldname, s) for s in chunk.specials]
        return P.AnyTerm(scoring + specials)
    return P.Phrase(fieldname, chunk.folded, scoring, chunk.specials)


class Compiler:
    """Compiles against one index view (it looks up facet labels and compounds)."""

    def __init__(self, view):
        self.view = view

    def compile(self, node):
        if node is None:
            return None
        if isinstance(node, (L.Word, L.Phrase)):
            return self._scoped(node) if node.field in FACET_SCOPES else self.word(node)
        if isinstance(node, L.Not):
            inner = self.compile(node.node)
            return P.Exclude(inner) if inner is not None else None
        children = [c for c in (self.compile(n) for n in node.nodes) if c is not None]
        if not children:
            return None
        if len(children) == 1:
            return children[0]
        return P.Any(children) if isinstance(node, L.Or) else P.All(children)

    def word(self, node):
        return chunk_node(node.field or "content", chunk(node.text), weighted=node.field is None)

    def _scoped(self, node):
        """author:/category:/source: the stored values whose folded syllables
        contain the typed ones ("author:vien" -> "Tú Viên")."""
        wanted = chunk(node.text).folded
        matches = []
        for value in self.view.codes(node.field)[1]:
            syllables = chunk(value).folded
            if wanted and _contains(syllables, wanted, contiguous=isinstance(node, L.Phrase)):
                matches.append(value)
        return P.Values(node.field, matches)

    def boosts(self, words: list[L.Word]) -> list:
        """Optional nodes that reward query words found together."""
        folded: list[str] = []
        for word in words:
            folded += chunk(word.text).folded
        extra: list = []
        for size in (2, 3):
            for i in range(len(folded) - size + 1):
                compound = "_".join(folded[i:i + size])
                if self.view.doc_frequency("content", compound):
                    extra.append(P.AnyTerm([P.Term("content", compound, COMPOUND_BOOST)]))
        if 2 <= len(folded) <= MAX_PHRASE_WORDS:
            scoring = [P.Term("content", f, PHRASE_BOOST / len(folded)) for f in folded]
            extra.append(P.Phrase("content", folded, scoring))
        return extra


def _contains(haystack: list[str], needles: list[str], contiguous: bool) -> bool:
    if not contiguous:
        return all(n in haystack for n in needles)
    size = len(needles)
    return any(haystack[i:i + size] == needles for i in range(len(haystack) - size + 1))


def with_boosts(required, boosts: list):
    return P.Boosted(required, boosts) if boosts else required
