"""A long unaccented query that spells a headline takes the headline's accents.

A reader who types or pastes a headline without accents ("cung co danh
hieu ...") wants that article and the coverage around it. The same query
with its accents finds that coverage better: the accents tell "củng cố"
from "cùng có", so the other reports of the event rank above articles that
only share the folded words (MDS same-event nDCG@10, bench/relevance_eval.py:
0.914 accented, 0.904 unaccented). The archive knows the accents: they are
in the headline the query spells.

So a plain query of LONG_QUERY_CLAUSES words or more, without a single
accent, whose folded syllables stand in a row in an archived headline, is
planned with that headline's spelling of them. Headlines that fold alike
but are spelled differently may disagree: the spelling of more than half
of them (at most MAX_HOLDERS read) wins, or the query stays as typed. The
plan says so in a note. The marks in snippets still fall on every folded
match, and the "did you mean" accents (suggest.py) have nothing to add.

The embedded index reads the headlines that hold every word (positions
narrow them first only past MAX_HOLDERS), and ``_spelling`` finds the run
in each; the Sphinx backend asks the cluster for the phrase in
``title_fold`` (sphinx_search.py).
"""

from __future__ import annotations

from collections import Counter

from indexer.analysis import has_accents, syllable_forms, syllables
from indexer.textnorm import normalize
from search.compiler import LONG_QUERY_CLAUSES, chunk
from search.index_view import IndexView
from search.phrases import PhraseFinder
from search.querylang import And, ParsedQuery, Word

MAX_HOLDERS = 20  # headlines read to learn the spelling


def restored(view: IndexView, parsed: ParsedQuery, typed: str) -> str | None:
    """The query spelled as the archive's headlines spell it, or None: the
    query has accents, operators or fewer words, or no headline (or no
    majority of them) holds its words in a row with accents."""
    folded = headline_words(parsed, typed)
    if folded is None:
        return None
    phrases = PhraseFinder(view)
    candidates = phrases.word_docs("title", folded)  # every word, anywhere in the headline
    if len(candidates) > MAX_HOLDERS:  # rare for so many words: positions narrow them first
        candidates = phrases.holders("title", folded, within=candidates)
    return spelling([view.stored(int(d)).get("title") or "" for d in candidates[:MAX_HOLDERS].tolist()], folded)


def headline_words(parsed: ParsedQuery, typed: str) -> list[str] | None:
    """The folded syllables to look for in the headlines, or None: the
    query is not a long unaccented run of plain words."""
    words = _plain_words(parsed)
    if len(words) < LONG_QUERY_CLAUSES or has_accents(typed):
        return None
    return [f for word in words for f in chunk(word.text).folded] or None


def spelling(titles: list[str], folded: list[str]) -> str | None:
    """The accented spelling of ``folded`` that more than half of the
    ``titles`` holding it in a row share, or None."""
    spellings = Counter(s for s in (_spelling(title, folded) for title in titles) if s is not None)
    if not spellings:
        return None
    best, count = spellings.most_common(1)[0]
    return best if 2 * count > spellings.total() and has_accents(best) else None


def note(spelling: str) -> str:
    return f"Tìm như gõ có dấu theo tiêu đề bài viết: “{spelling}”."


def _plain_words(parsed: ParsedQuery) -> list[Word]:
    """The query's words when it is nothing but unscoped words (and no
    phrase, OR, NOT or field): a typed or pasted headline."""
    root = parsed.root
    nodes = root.nodes if isinstance(root, And) else [root]
    if root is None or not all(isinstance(n, Word) and n.field is None for n in nodes):
        return []
    return [n for n in nodes if isinstance(n, Word)]


def _spelling(title: str, folded: list[str]) -> str | None:
    """The run of ``title``'s syllables that folds to ``folded``, as written."""
    found = syllables(normalize(title))
    forms = [syllable_forms(s.text)[1] for s in found]
    for start in range(len(forms) - len(folded) + 1):
        if forms[start:start + len(folded)] == folded:
            return " ".join(s.text for s in found[start:start + len(folded)])
    return None
