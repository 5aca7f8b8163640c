"""Query plans (plan.py) written as Sphinx's extended query syntax, so the
cluster matches exactly the articles the executor matches on Whoosh.

The plan is made by the same compiler from the same analyzer's terms
(sphinx_documents.py explains how those terms are stored), so only the
spelling changes here:

  ScoredTerm(field, text)    one word in the Sphinx fields that hold that
                             kind of term for ``field`` (``term_fields``)
  AnyTerm                    (t1 | t2 | ...)
  PhraseMatch                (@F_fold "w1 w2 w3" | specials anywhere in F)
  ValueMatch                 (@labels (a_<hash> | ...)): author:/category:/
                             source: scopes can sit inside OR and NOT
  AllOf, AnyOf               (a b -(c)), (a | b)
  Exclude, Everything        Sphinx has no bare NOT: "every article" is the
                             ALL_TOKEN every row holds
  Boosted                    its required part (boosts only score; the
                             backend rescores in Python, sphinx_scoring.py)

Every part is parenthesised and every word carries its own field limit:
in Sphinx's syntax OR binds tighter than AND, and a field limit runs on to
the next one.

A long plain query's relaxed fallback ("at least n of these words") is
Sphinx's quorum operator when every word is one keyword (an unaccented or
accented syllable), and otherwise an OR of every n-word combination.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

from indexer.textnorm import fold
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
from search.sphinx_documents import (
    ALL_TOKEN,
    FIELDS,
    LABELS_FIELD,
    NO_TOKEN,
    encode_exact,
    encode_special,
    label_token,
)

ALL = f"(@{LABELS_FIELD} {ALL_TOKEN})"
NOTHING = f"(@{LABELS_FIELD} {NO_TOKEN})"
MAX_COMBINATIONS = 64  # a relaxed match spelt out as an OR of combinations, at most
MAX_VARIANTS = 8  # spellings of one phrase across abbreviations (``phrase``)
COVERED_BY_CONTENT = ("title", "lead", "captions")  # content holds their text too (documents.content_text)
TP_PREFIX = "tp"  # analysis.py reads "TPHCM" as "TP HCM": "tp" joins the next syllable
MAX_ABBREVIATION = 5  # letters of each half of a joined abbreviation (analysis._abbreviation_pair)


def term_fields(field: str, text: str) -> tuple[tuple[str, ...], str]:
    """The Sphinx fields and the word that hold one Whoosh term.

    The kinds are told apart by their text, as Whoosh's single namespace
    does: compounds have "_", dates "/", exact spellings diacritics (they
    differ from their folded form, which is ASCII). A plain ASCII word is a
    folded syllable or an abbreviation ("tp", "tphcm" can be either), so it
    is looked up in both."""
    if "_" in text:
        return (f"{field}_compound",), text
    if "/" in text:
        return (f"{field}_special",), encode_special(text)
    if not text.isascii():
        return (f"{field}_exact",), encode_exact(text)
    return (f"{field}_fold", f"{field}_special"), text


def leaf(field: str, text: str) -> str:
    fields, word = term_fields(field, text)
    present = [name for name in fields if name in FIELDS]
    return f"(@({','.join(present)}) {word})" if present else NOTHING


def match(node: Node) -> str:
    """The match expression of a plan node."""
    if isinstance(node, AnyTerm):
        return _any([leaf(t.field, t.text) for t in implied_by_none(node.terms)])
    if isinstance(node, PhraseMatch):
        return _any([phrase(node.field, node.words), *(leaf(node.field, special) for special in node.specials)])
    if isinstance(node, ValueMatch):
        return labels_match(node.field, node.values)
    if isinstance(node, AllOf):
        return _all(node.nodes)
    if isinstance(node, AnyOf):
        return _any([match(child) for child in node.nodes])
    if isinstance(node, Exclude):
        return f"({ALL} -{match(node.node)})"
    if isinstance(node, Everything):
        return ALL
    if isinstance(node, Boosted):
        return match(node.required)
    raise TypeError(f"not a plan node: {node!r}")


def implied_by_none(terms: list[ScoredTerm]) -> list[ScoredTerm]:
    """The terms whose matches another term of the list does not already
    cover: a title, lead or caption word is also a content word, and an
    exact spelling also its folded syllable. Fewer words make a shorter
    query, and the remaining words stand in query order, one after the
    other, which is what Sphinx's proximity factor (lcs) reads."""
    present = {(t.field, t.text) for t in terms}
    kept = []
    for term in terms:
        fields, _ = term_fields(term.field, term.text)
        if term.field in COVERED_BY_CONTENT and ("content", term.text) in present:
            continue
        if fields == (f"{term.field}_exact",) and (term.field, fold(term.text)) in present:
            continue
        kept.append(term)
    return kept


def labels_match(field: str, values: Iterable[str]) -> str:
    """Articles whose author, category or source is one of ``values``."""
    tokens = sorted({label_token(field, value) for value in values})
    return f"(@{LABELS_FIELD} ({' | '.join(tokens)}))" if tokens else NOTHING


def _any(parts: list[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return unique[0] if len(unique) == 1 else "(" + " | ".join(unique) + ")"


def _all(nodes: list[Node]) -> str:
    positive = [match(n) for n in nodes if not isinstance(n, Exclude)]
    negative = [match(n.node) for n in nodes if isinstance(n, Exclude)]
    parts = (positive or [ALL]) + [f"-{part}" for part in negative]
    return parts[0] if len(parts) == 1 else "(" + " ".join(parts) + ")"


def ranking_match(plan: QueryPlan, expression: str) -> str:
    """``expression`` with the plan's title, lead and caption words as MAYBE:
    the same matches, but Sphinx's ranking of the candidates sees where
    else the words stand (they are dropped from the match as implied)."""
    extras = [leaf(t.field, t.text) for t in plan_terms(plan) if t.field in COVERED_BY_CONTENT]
    return f"({expression} MAYBE {_any(list(dict.fromkeys(extras)))})" if extras else expression


# -- the relaxed fallback ----------------------------------------------------
def single_keyword(node: Node) -> str | None:
    """The one Sphinx word through which a relaxed word matches, if there is
    one: an AnyTerm whose only folded content term is that word (its exact
    spelling implies it, and title, lead and captions are part of content)."""
    if not isinstance(node, AnyTerm):
        return None
    words = set()
    for term in node.terms:
        fields, word = term_fields(term.field, term.text)
        if term.field == "content" and fields == ("content_fold", "content_special"):
            words.add(word)
        elif term.field == "content" and fields != ("content_exact",):
            return None  # a compound or a date: more than one way to match
    return words.pop() if len(words) == 1 else None


def needed_words(informative: int, fraction: float) -> int:
    """How many informative words a relaxed match needs (executor._relaxed)."""
    return min(informative - 1, max(2, math.ceil(fraction * informative)))


def relaxed_match(words: list[Node], needed: int, exclusions: list[Node],
                  frequencies: Mapping[str, int]) -> str:
    """Articles holding at least ``needed`` of ``words`` (the informative
    ones), minus the exclusions. ``frequencies`` (keyword -> articles) picks
    the rarest keyword of a multi-keyword word when the combinations would
    be too many: the one case that is looser than the executor."""
    keywords = [single_keyword(node) for node in words]
    if all(keywords):
        found = f'(@(content_fold,content_special) "{" ".join(k for k in keywords if k)}"/{needed})'
    elif math.comb(len(words), needed) <= MAX_COMBINATIONS:
        found = _any([_all(list(group)) for group in itertools.combinations(words, needed)])
    else:
        rarest = [keyword or _rarest(node, frequencies) for node, keyword in zip(words, keywords, strict=True)]
        found = f'(@(content_fold,content_special) "{" ".join(rarest)}"/{needed})'
    if not exclusions:
        return found
    return "(" + " ".join([found, *(f"-{match(node)}" for node in exclusions)]) + ")"


def _rarest(node: Node, frequencies: Mapping[str, int]) -> str:
    """The word of ``node`` in fewest articles, among its folded content words."""
    folded = [word for fields, word in (term_fields(t.field, t.text) for t in scoring_terms(node))
              if fields[0] == "content_fold"]
    return min(folded, key=lambda word: (frequencies.get(word, 0), word)) if folded else NO_TOKEN


# -- what a plan scores with -------------------------------------------------
def scoring_terms(node: Node) -> list[ScoredTerm]:
    """Every term that can add to a score under ``node``, in tree order."""
    if isinstance(node, AnyTerm):
        return list(node.terms)
    if isinstance(node, PhraseMatch):
        return list(node.scoring) + [ScoredTerm(node.field, s) for s in node.specials]
    if isinstance(node, (AllOf, AnyOf)):
        return [t for child in node.nodes for t in scoring_terms(child)]
    if isinstance(node, Exclude):
        return scoring_terms(node.node)
    if isinstance(node, Boosted):
        return scoring_terms(node.required) + [t for child in node.optional for t in scoring_terms(child)]
    return []


def plan_terms(plan: QueryPlan) -> list[ScoredTerm]:
    """The terms of the plan's match tree, boosts and relaxed fallback."""
    found = scoring_terms(plan.matcher)
    if plan.relaxation is not None:
        for node in [*plan.relaxation.words, *plan.relaxation.exclusions]:
            found += scoring_terms(node)
    return list(dict.fromkeys(found))


def phrase_nodes(node: Node) -> list[PhraseMatch]:
    """Every PhraseMatch under ``node`` (their matches need positions: Sphinx checks them)."""
    if isinstance(node, PhraseMatch):
        return [node]
    if isinstance(node, (AllOf, AnyOf)):
        return [p for child in node.nodes for p in phrase_nodes(child)]
    if isinstance(node, Exclude):
        return phrase_nodes(node.node)
    if isinstance(node, Boosted):
        return phrase_nodes(node.required) + [p for child in node.optional for p in phrase_nodes(child)]
    return []


def phrase_only(node: PhraseMatch) -> str:
    """A boost phrase's own words in a row, without its specials (as executor._boosted checks them)."""
    return phrase(node.field, node.words)


def phrase(field: str, words: list[str]) -> str:
    """Folded syllables in a row, as Whoosh's positions see them.

    In Whoosh an abbreviation's joined term shares a position with a folded
    syllable: TP.HCM has "tp" and "tphcm" at one position, "hcm" at the
    next; TPHCM has "tphcm" and "tp" at one, "hcm" at the next. Sphinx keeps
    the joined terms in ``F_special``, without positions, so a phrase that
    crosses one is spelt both ways here: "tphcm hcm" also as "tp hcm" in an
    article holding the joined "tphcm", "tp hcm" also as "tphcm hcm" in an
    article holding the split "tp"."""
    variants: list[tuple[list[str], list[str]]] = [(list(words), [])]
    for i in range(len(words) - 1):
        word, following = words[i], words[i + 1]
        spellings = []
        if word == TP_PREFIX and following.isalpha():
            spellings.append((TP_PREFIX + following, TP_PREFIX))  # TPHCM written in one word
        head = word[:-len(following)] if word.endswith(following) else ""
        if head.isalpha() and len(head) <= MAX_ABBREVIATION and len(following) <= MAX_ABBREVIATION:
            spellings.append((head, word))  # TP.HCM, UBND.TP written apart
        variants += [(written[:i] + [spelling] + written[i + 1:], joined + [special])
                     for written, joined in variants for spelling, special in spellings][:MAX_VARIANTS - len(variants)]
    return _any([f'(@({field}_fold) "{" ".join(written)}"'
                 + "".join(f" @({field}_special) {special}" for special in joined) + ")"
                 for written, joined in variants])


def keywords(words: Iterable[str]) -> str:
    """Any of ``words`` in any field: a query whose SHOW META gives their statistics."""
    unique = sorted(set(words))
    return "(" + " | ".join(unique) + ")" if unique else NOTHING
