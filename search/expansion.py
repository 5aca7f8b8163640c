"""The parts of a query that name an abbreviation's entry (abbreviations.py),
and the plan nodes that match them in either form: the compiler's use of
the table, beside it rather than inside compiler.py.

A word, a quoted phrase, or a run of plain words that spells an entry
("UBND", "TP HCM", "ủy ban nhân dân") becomes AnyOf([as typed, the other
form]); the other form weighs ALT_WEIGHT in all, so an article in the form
typed ranks first (compiler.py's docstring has the rule beside the others).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from search import abbreviations
from search.abbreviations import Spelling, folded_syllables
from search.plan import AnyOf, AnyTerm, Node, PhraseMatch, ScoredTerm
from search.querylang import And, Not, Phrase, QueryNode, Word

ALT_WEIGHT = 0.5  # the form of an abbreviation not typed, shared by its syllables
MAX_EXPANDED = 4  # abbreviations (or expansions) given their other form, per query


@dataclass(frozen=True)
class Expansion:
    """A part of a query that names an abbreviation's entry: ``words``
    query nodes from the one it is filed under, and the other forms."""
    words: int
    others: tuple[Spelling, ...]


def other_form(spelling: Spelling, weights: Mapping[str, float]) -> Node:
    """The form the reader did not type: its syllables in a row (or one of
    its specials anywhere), scored like an unscoped word but ALT_WEIGHT in
    all (its content terms share it; the short fields weigh on top, as they
    do for a typed word)."""
    share = ALT_WEIGHT / (len(spelling.syllables) + len(spelling.specials))
    scoring = []
    for syllable in spelling.syllables:
        scoring.append(ScoredTerm("content", syllable, share))
        scoring += [ScoredTerm(f, syllable, w * share) for f, w in weights.items()]
    scoring += [ScoredTerm("content", special, share) for special in spelling.specials]
    if len(spelling.syllables) == 1:
        return AnyTerm(scoring)
    return PhraseMatch("content", list(spelling.syllables), scoring, list(spelling.specials))


def either_form(literal: Node, expansion: Expansion, weights: Mapping[str, float]) -> AnyOf:
    """The clause as typed, or any other form of it."""
    return AnyOf([literal, *(other_form(s, weights) for s in expansion.others)])


def expansions(root: QueryNode | None) -> dict[int, Expansion]:
    """The parts of a query that get their other form, filed under the id()
    of their first query node (valid while ``root`` lives): a positive,
    unscoped word or phrase that is or holds an abbreviation or expansion,
    and runs of plain words that spell one together ("TP HCM", "ủy ban nhân
    dân"), in query order, at most MAX_EXPANDED."""
    table = abbreviations.active()
    found: dict[int, Expansion] = {}
    if not table:
        return found

    def walk(node: QueryNode) -> None:
        if len(found) >= MAX_EXPANDED or isinstance(node, Not):
            return
        if isinstance(node, (Word, Phrase)):
            others = table.alternatives(folded_syllables(node.text)) if node.field is None else ()
            if others:
                found[id(node)] = Expansion(1, others)
            return
        i = 0
        while i < len(node.nodes) and len(found) < MAX_EXPANDED:
            run = _run(table, node.nodes, i) if isinstance(node, And) else None
            if run is not None:
                found[id(node.nodes[i])] = run
                i += run.words
            else:
                walk(node.nodes[i])
                i += 1

    if root is not None:
        walk(root)
    return found


def _run(table: abbreviations.Table, nodes: list[QueryNode], start: int) -> Expansion | None:
    """The longest run of two or more plain words from ``start`` that spell one form together."""
    typed: list[str] = []
    best = None
    for end in range(start, len(nodes)):
        node = nodes[end]
        if not isinstance(node, Word) or node.field is not None:
            break
        typed += folded_syllables(node.text)
        if len(typed) > table.longest:
            break
        others = table.others(typed) if end > start else ()
        if others:
            best = Expansion(end - start + 1, others)
    return best
