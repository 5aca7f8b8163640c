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
                       above "dương", which only matches the folded "duong");
                       in the short fields, EXACT_FIELD_BOOST x their weight.
                       Not for a spelling that 90% of the articles with its
                       folded form share (EXACT_SHARE: "người" of "nguoi"):
                       it would score nearly every match alike, and reading
                       its postings cost as much as the folded ones
  COMPOUND_BOOST  1.5  adjacent query words that pyvi segmented as one word
                       in the article ("cán bộ" as the word cán_bộ)
  PHRASE_BOOST    2.0  all query words (2 to 8) together, in order: adds
                       2 x the phrase's idf (a rare phrase of common words is
                       strong evidence) plus PHRASE_BOOST x the mean BM25 of the
                       words; and the matches holding the phrase rank above
                       every other match (executor.lift_above: a remembered
                       sentence or a headline's words are meant together;
                       MRR@10 of 5 body words 0.42 -> 0.92); of those, the
                       ones holding the phrase in the title rank first (and
                       get 2 x its idf there too): a reader remembers a
                       headline's words (3-4 of them: accented 0.929 -> 0.936,
                       unaccented 0.904 -> 0.919)

Abbreviations (abbreviations.tsv; expansion.py builds the nodes): a query word, or a run of
plain words, or a quoted phrase that is an abbreviation or its expansion
("UBND", "TP HCM", "ủy ban nhân dân") matches either form: its clause becomes
AnyOf([the clause as typed, the other form]), the other form a phrase (or one
term) scored by

  ALT_WEIGHT      0.5  shared by its terms (each weighs ALT_WEIGHT / n), in
                       content and, with their weights, the short fields: the
                       other form counts at most half a typed word (a form of
                       four syllables, an eighth of each), so an article in
                       the form typed ranks first

A phrase that holds a form inside ("ủy ban nhân dân tỉnh") gets the same
phrase with the form replaced. Not expanded: words under NOT or "-" (an
exclusion excludes what was typed), field-scoped words (title:, author:...);
at most MAX_EXPANDED parts of one query.

A plain query (words and quoted phrases) of RELAX_MIN_WORDS clauses or more
also gets a relaxed fallback (executor.py): when the articles with every
clause do not fill the page, those with most of them follow; from
LONG_QUERY_CLAUSES on, they rank among the full matches (see there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Protocol

from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, has_accents, terms
from search.expansion import Expansion, either_form, expansions
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
# A query of this many words or quoted phrases is a pasted headline or
# sentence. Its relaxed matches rank among its full ones by score (executor:
# Relaxation.blend), because the other reports of an event share many of a
# headline's words, rarely all; and its words weigh less in the title,
# because they are the whole of a headline: another outlet's title words
# its story otherwise. MDS same-event nDCG@10, accented / unaccented
# (bench/relevance_eval.py): 0.825 / 0.839 before; blending, with the
# relaxed shares of executor.py, 0.879 / 0.888; quoted words relaxed like
# words, 0.910 / 0.888; these weights, 0.916 / 0.904 (title 2.0: 0.915 /
# 0.896, 0.5: 0.909 / 0.901). Shorter queries keep every word first and
# the weights above: blending and these weights cost the 3-4 word
# headline fragments 0.03 MRR@10.
LONG_QUERY_CLAUSES = 7
LONG_QUERY_WEIGHTS = {"title": 1.0, "lead": 0.5, "captions": 0.25}
# The accented spelling a reader typed, found in the title, lead or captions,
# weighs this many times the folded syllable there (title: 4 x 3.0): accents
# tell "bão" from "báo", so an accented query should find its headline more
# often than an unaccented one. 3-4 accented headline words, MRR@10 0.902
# (0.904 unaccented) -> 0.929 (1.0: 0.917, 8.0: 0.932). Not for long
# queries: a pasted headline's exact spellings favoured its own wording over
# its event's other reports (MDS accented 0.916 -> 0.862).
EXACT_FIELD_BOOST = 4.0
EXACT_FIELD_WEIGHTS = {field: weight * EXACT_FIELD_BOOST for field, weight in FIELD_WEIGHTS.items()}
EXACT_BOOST = 1.5
EXACT_SHARE = 0.9  # an accented spelling in this share of its folded form's articles scores nothing apart
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
        specials: list[tuple[int, str]] = []
        for term in terms(text, segment=False, query=True):
            slot = by_pos.setdefault(term.pos, {})
            if term.kind == SPECIAL:
                specials.append((term.pos, term.text))
            elif term.kind in (FOLD, EXACT):
                slot.setdefault(term.kind, term.text)
        # "TPHCM" read as "TP HCM" (analysis.tp_prefix_split) adds "tp" beside
        # "tphcm": as a special (any article with "tp" anywhere) it would
        # match every "TP Đà Nẵng"; the phrase "tphcm hcm" already meets
        # every spelling of the city
        self.specials = [text for pos, text in specials if not _split_prefix(by_pos[pos].get(FOLD), text)]
        positions = [by_pos[p] for p in sorted(by_pos) if FOLD in by_pos[p]]
        self.folded: list[str] = [slot[FOLD] for slot in positions]
        self.exact: list[str | None] = [slot.get(EXACT) for slot in positions] if accented else []

    def pairs(self) -> list[tuple[str, str | None]]:
        """(folded, exact or None) per syllable."""
        return list(zip(self.folded, self.exact or [None] * len(self.folded), strict=True))


def _split_prefix(folded: str | None, special: str) -> bool:
    """True for the "tp" of a "TPHCM" split in two (its folded term starts with it)."""
    return folded is not None and folded != special and folded.startswith(special)


@lru_cache(maxsize=CACHED_CHUNKS)
def chunk(text: str) -> Chunk:
    """The analysed form of a typed word, computed once per process."""
    return Chunk(text)


def scoring_terms(fieldname: str, typed: Chunk, weights: Mapping[str, float] | None,
                  exact_weights: Mapping[str, float] | None = None,
                  telling: Callable[[str, str], bool] | None = None) -> list[ScoredTerm]:
    """The terms that score a chunk: folded syllables, the exact spelling the
    user typed, and (unscoped: ``weights`` given) the same syllables in the
    weighted fields, and the exact spelling there with ``exact_weights``.
    ``telling(exact, folded)``: whether a spelling is worth its terms (None: all are)."""
    found = []
    for i, folded in enumerate(typed.folded):
        found.append(ScoredTerm(fieldname, folded))
        exact = typed.exact[i] if typed.exact else None
        if exact and telling is not None and not telling(exact, folded):
            exact = None
        if exact:
            found.append(ScoredTerm(fieldname, exact, EXACT_BOOST))
        if weights:
            found += [ScoredTerm(f, folded, w) for f, w in weights.items()]
        if exact and weights and exact_weights:
            found += [ScoredTerm(f, exact, w) for f, w in exact_weights.items()]
    return found


def chunk_node(fieldname: str, typed: Chunk, weights: Mapping[str, float] | None,
               exact_weights: Mapping[str, float] | None = None,
               telling: Callable[[str, str], bool] | None = None) -> Node | None:
    """Match one typed word (or quoted phrase) in a text field; ``weights``:
    the short fields' (None: the word is scoped to ``fieldname``), and
    ``exact_weights`` those of the accented spelling typed there."""
    if not typed.folded:
        return None
    scoring = scoring_terms(fieldname, typed, weights, exact_weights, telling)
    if len(typed.folded) == 1:
        specials = [ScoredTerm(fieldname, s) for s in typed.specials]
        return AnyTerm(scoring + specials)
    return PhraseMatch(fieldname, typed.folded, scoring, typed.specials)


class Compiler:
    """Compiles against one index view: it looks up facet labels (for
    author:/category:/source:) and which compounds the archive has."""

    def __init__(self, view: CompilerView) -> None:
        self.view = view
        self.expanded: dict[int, Expansion] = {}  # of the query being planned (``expansions``)
        self.weights: Mapping[str, float] = FIELD_WEIGHTS  # of the query being planned
        self.exact_weights: Mapping[str, float] = EXACT_FIELD_WEIGHTS

    def plan(self, parsed: ParsedQuery) -> QueryPlan:
        """Everything one search needs to know about its query."""
        notes = []
        if parsed.dropped:
            notes.append(f"Chỉ tìm theo {MAX_CLAUSES} từ đầu tiên; "
                         f"{parsed.dropped} từ sau đó bị bỏ qua.")
        self.expanded = expansions(parsed.root)
        typed = _plain_clauses(parsed)
        long = len(typed) >= LONG_QUERY_CLAUSES
        self.weights = LONG_QUERY_WEIGHTS if long else FIELD_WEIGHTS
        self.exact_weights = {} if long else EXACT_FIELD_WEIGHTS
        required = self.node(parsed.root)
        highlight = _highlight_pairs(parsed.root, self.expanded)
        if required is None:
            return QueryPlan(required=Everything(), browse=True, highlight=highlight, notes=notes)
        words = typed if all(isinstance(c, Word) for c in typed) else []  # suggestions read words alone
        relaxation = None
        if len(typed) >= RELAX_MIN_WORDS:
            # the required part's own clauses: a plain query's words (a run
            # spelling an abbreviation is one of them) and its exclusions
            clauses = required.nodes if isinstance(required, AllOf) else [required]
            relaxation = Relaxation(
                words=[n for n in clauses if not isinstance(n, Exclude)],
                exclusions=[n.node for n in clauses if isinstance(n, Exclude)],
                blend=long,
            )
        return QueryPlan(
            required=required, boosts=self.boosts(typed) if typed else [], relaxation=relaxation,
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
            literal = chunk_node(node.field or "content", chunk(node.text),
                                 self.weights if node.field is None else None, self.exact_weights, self.telling)
            expansion = self.expanded.get(id(node))
            if literal is not None and expansion is not None and expansion.words == 1:
                return either_form(literal, expansion, self.weights)
            return literal
        if isinstance(node, Not):
            inner = self.node(node.node)
            return Exclude(inner) if inner is not None else None
        children = self._children(node.nodes)
        if not children:
            return None
        if len(children) == 1:
            return children[0]
        return AllOf(children) if isinstance(node, And) else AnyOf(children)

    def _children(self, nodes: list[QueryNode]) -> list[Node]:
        """The clauses of an AND or OR; a run of words that spells an
        abbreviation together is one clause, all its words or the other form."""
        children: list[Node] = []
        i = 0
        while i < len(nodes):
            expansion = self.expanded.get(id(nodes[i]))
            size = expansion.words if expansion is not None else 1
            parts = [c for c in (self.node(n) for n in nodes[i:i + size]) if c is not None]
            if expansion is not None and size > 1 and parts:
                children.append(either_form(AllOf(parts) if len(parts) > 1 else parts[0], expansion, self.weights))
            else:
                children += parts
            i += size
        return children

    def telling(self, exact: str, folded: str) -> bool:
        """Whether an accented spelling tells articles apart: not when nearly
        every article with its folded form has it too (EXACT_SHARE)."""
        return self.view.doc_frequency("content", exact) < EXACT_SHARE * self.view.doc_frequency("content", folded)

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

    def boosts(self, words: list[Word | Phrase]) -> list[Node]:
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
            # lifted after the content phrase: its holders rank above the others
            extra.append(PhraseMatch("title", folded))
        return extra


def _contains(haystack: list[str], needles: list[str], contiguous: bool) -> bool:
    if not contiguous:
        return all(n in haystack for n in needles)
    size = len(needles)
    return any(haystack[i:i + size] == needles for i in range(len(haystack) - size + 1))


def _top_level(parsed: ParsedQuery, kind: type | tuple[type, ...]) -> list:
    if parsed.root is None:
        return []
    nodes = parsed.root.nodes if isinstance(parsed.root, And) else [parsed.root]
    return [n for n in nodes if isinstance(n, kind)]


def _plain_clauses(parsed: ParsedQuery) -> list[Word | Phrase]:
    """Positive unscoped words and phrases of a plain query: the clauses we
    relax and boost. A pasted headline often quotes a few words ("tự tử
    'theo yêu cầu của giáo viên'"); its other reports rarely quote the same,
    so the quoted part is one clause that may be missing, like a word."""
    if parsed.root is None or not parsed.is_plain():
        return []
    return _top_level(parsed, (Word, Phrase))


def highlight_words(q: str) -> list[tuple[str, str | None]]:
    """The (folded, exact) syllables a search for ``q`` marks: for an
    article page reached from that search."""
    root = parse(q).root
    return _highlight_pairs(root, expansions(root))


def _highlight_pairs(root: QueryNode | None, expanded: Mapping[int, Expansion]) -> list[tuple[str, str | None]]:
    """(folded, exact) syllables of every positive word and phrase (not of
    author:...), then those of the other forms of its abbreviations."""
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
    typed = {folded for folded, _ in found}
    for expansion in expanded.values():
        for spelling in expansion.others:
            for text in (*spelling.syllables, *spelling.specials):
                if text not in typed:
                    typed.add(text)
                    found.append((text, None))
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
