"""What one search asks the cluster about its candidates, as batches: each
statement (sphinx_queries.py) goes with the reader that puts its answer in
place, so a whole step of a search is one round trip (``run``).

* ``factor_statements``: each term's frequency per candidate and field;
* ``phrase_statements``: which candidates hold each phrase of the plan;
* ``facet_statements``: the facet counts, listed as facets.py lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from search.cluster_search import ClusterResult
from search.facets import FACETS, listed
from search.plan import PhraseMatch, QueryPlan
from search.result import FacetValue
from search.sphinx_documents import LENGTH_ATTRS, TEXT_FIELDS
from search.sphinx_match import match, phrase_nodes, phrase_only, plan_terms, term_fields
from search.sphinx_queries import (
    LABEL_ATTRIBUTES,
    Session,
    facet_label,
    facet_sql,
    factor_sql,
    parse_factors,
    phrase_sql,
)
from search.sphinx_scoring import Candidates

Reader = Callable[[ClusterResult], None]
Batch = list[tuple[str, Reader]]
FACTOR_WORDS = 200  # words per PACKEDFACTORS statement (Sphinx ranks at most 256 query words)


def run(session: Session, batch: Batch) -> None:
    """A batch in one round trip, each answer to its reader."""
    for (_, read), result in zip(batch, session.run([sql for sql, _ in batch]), strict=True):
        read(result)


def candidates_from(rows: list[dict]) -> Candidates:
    """Candidates from the rows of sphinx_queries.candidates_sql, in their order."""
    return Candidates(
        row_ids=[int(row["id"]) for row in rows],
        lengths={name: np.array([float(row[attr]) for row in rows], dtype=np.float32)
                 for name, attr in LENGTH_ATTRS.items()},
        labels={name: [str(row[name]) for row in rows] for name in LABEL_ATTRIBUTES},
    )


def factor_statements(plan: QueryPlan, candidates: Candidates) -> Batch:
    """Frequencies of every term of the plan (its match tree, boosts and relaxed fallback)."""
    texts: dict[str, list[str]] = {}
    for term in plan_terms(plan):
        texts.setdefault(term.field, []).append(term.text)
    return term_statements(texts, candidates)


def term_statements(texts: dict[str, list[str]], candidates: Candidates) -> Batch:
    """Statements that fill ``candidates.frequencies`` for these terms (Whoosh
    field -> texts): one per field, each Sphinx word once, so that word<N>
    of PACKEDFACTORS is the N-th (a field with very many words takes more)."""
    position = {row_id: i for i, row_id in enumerate(candidates.row_ids)}
    statements: Batch = []
    for name in [f for f in TEXT_FIELDS if f in texts]:
        by_word: dict[str, list[str]] = {}
        for text in dict.fromkeys(texts[name]):
            by_word.setdefault(term_fields(name, text)[1], []).append(text)
            candidates.frequencies[(name, text)] = np.zeros(candidates.size, dtype=np.float32)
        words = list(by_word.values())
        for start in range(0, len(words), FACTOR_WORDS):
            chunk = words[start:start + FACTOR_WORDS]

            def read(result: ClusterResult, chunk: list[list[str]] = chunk, name: str = name) -> None:
                for row in result.rows:
                    at = position.get(int(row["id"]))
                    if at is None:
                        continue
                    for number, tf in parse_factors(str(row["factors"])).items():
                        for text in chunk[number] if number < len(chunk) else ():
                            candidates.frequencies[(name, text)][at] = tf

            statements.append((factor_sql(name, [same[0] for same in chunk], candidates.row_ids), read))
    return statements


def boost_phrases(plan: QueryPlan) -> list[PhraseMatch]:
    """The optional phrase of a plain query (compiler.boosts)."""
    return [node for node in plan.boosts if isinstance(node, PhraseMatch)]


def phrase_statements(plan: QueryPlan, candidates: Candidates) -> Batch:
    """Which candidates hold each phrase of the plan (positions are Sphinx's to check)."""
    position = {row_id: i for i, row_id in enumerate(candidates.row_ids)}
    nodes = phrase_nodes(plan.required)
    if plan.relaxation is not None:
        nodes += [p for node in [*plan.relaxation.words, *plan.relaxation.exclusions] for p in phrase_nodes(node)]
    keys = [match(node) for node in nodes] + [phrase_only(node) for node in boost_phrases(plan)]
    statements: Batch = []
    for key in dict.fromkeys(keys):
        found = candidates.phrases[key] = np.zeros(candidates.size, dtype=bool)

        def read(result: ClusterResult, found: np.ndarray = found) -> None:
            for row in result.rows:
                at = position.get(int(row["id"]))
                if at is not None:
                    found[at] = True

        statements.append((phrase_sql(key, candidates.row_ids), read))
    return statements


def facet_statements(expression: str | None, where: list[str], facets: dict[str, list[FacetValue]],
                     names: Iterable[str] = FACETS) -> Batch:
    """GROUP BY statements filling ``facets`` as the embedded index does
    (facets.listed; values compare in code point order, as strings are
    binary in the cluster)."""
    statements: Batch = []
    for name in names:
        def read(result: ClusterResult, name: str = name) -> None:
            items = [(facet_label(name, row[name]), int(row["n"])) for row in result.rows if row.get(name)]
            facets[name] = listed(name, items)

        statements.append((facet_sql(name, expression, where), read))
    return statements


def setter(target: dict[str, int], key: str) -> Reader:
    """A reader that keeps a statement's total_found under ``key``."""
    def read(result: ClusterResult) -> None:
        target[key] = result.total_found
    return read
