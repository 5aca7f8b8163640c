"""Did you mean: accents restored from the archive's own text, and spelling
corrections from the index vocabulary. Offered only when it would help.

* Accent restoration: for an unaccented query with results, the accented
  spelling is read from the best hits' own text where the query's words occur
  together ("can bo tre" -> "cán bộ trẻ"); pyvi's add_accents gets about half
  the syllables wrong, the archive does not.
* Spelling: when the query finds nothing (or only partial matches), each word
  missing from the vocabulary is replaced by the most frequent known word at
  edit distance 1 (then 2); the suggestion is offered only if some article
  holds every corrected word.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial
from typing import Protocol

import numpy as np

from indexer.textnorm import fold_aligned, normalize
from search.plan import PlainWord
from search.vocabulary import ALPHABET, Vocabulary


class DocumentSource(Protocol):
    """What suggestions read from an index (index_view.IndexView; the Sphinx
    backend's sphinx_suggest.SuggestView)."""

    def stored(self, docnum: int) -> dict: ...

    def vocabulary(self) -> Vocabulary: ...


class PhraseCounter(Protocol):
    """What suggestions ask a matcher (executor.Executor; sphinx_suggest.SuggestCounter)."""

    def phrase_estimate(self, field: str, words: list[str], sample: int) -> float: ...

    def words_mask(self, field: str, words: list[str]) -> np.ndarray: ...

_WORD = r"[^\W_]"
MAX_SUGGEST_WORDS = 12
RESTORE_FROM_DOCS = 3  # accents are read from the best few hits...
RESTORE_BODY_CHARS = 3000  # ...and the start of their bodies (it runs on every query)
MAX_WORD_LENGTH = 20  # longer "words" get no correction (edits grow with length)
MAX_EDIT2_LENGTH = 10  # distance-2 candidates only for words of 4 to 10 letters
CANDIDATES_PER_WORD = 8  # corrections weighed by their neighbours, most frequent first
CORRECTED_FROM_DOCS = 10  # accents of a correction are read from its first matches
# A correction's neighbours are counted in an even sample of the articles
# holding both words and scaled up: enough to rank the options, and it keeps
# a misspelled query near the cost of a normal one (counting in all of them
# made it 4x a normal query at p95).
ADJACENCY_SAMPLE = 300


def _edits1(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return ({a + b[1:] for a, b in splits if b}
            | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
            | {a + c + b[1:] for a, b in splits if b for c in ALPHABET}
            | {a + c + b for a, b in splits for c in ALPHABET})


def candidates(word: str, vocab: Vocabulary, limit: int = CANDIDATES_PER_WORD) -> list[str]:
    """Known words at edit distance 1 (else 2), most frequent first."""
    if word in vocab or not 2 <= len(word) <= MAX_WORD_LENGTH or word.isdigit():
        return []
    known = [c for c in _edits1(word) if c in vocab]
    if not known and 4 <= len(word) <= MAX_EDIT2_LENGTH:
        known = vocab.within_two_edits(word)
    return sorted(known, key=lambda c: (-vocab.frequency(c), c))[:limit]


def correct(executor: PhraseCounter, folded: list[str], vocab: Vocabulary) -> list[str]:
    """Replace unknown words by the candidate found most often next to its
    neighbours in the query ("can bo trex" -> tre as in "bộ trẻ", not the
    more frequent tren), then by frequency."""
    corrected = list(folded)

    def adjacent(i: int, option: str) -> float:
        """About how many documents have ``option`` next to word i's neighbours."""
        pairs = []
        if i > 0:
            pairs.append([corrected[i - 1], option])
        if i + 1 < len(corrected):
            pairs.append([option, corrected[i + 1]])
        return sum(executor.phrase_estimate("content", pair, ADJACENCY_SAMPLE) for pair in pairs)

    def rank(i: int, option: str) -> tuple[float, int]:
        return adjacent(i, option), vocab.frequency(option)

    for i, word in enumerate(folded):
        options = candidates(word, vocab)
        if len(options) == 1:
            corrected[i] = options[0]
        elif options:
            corrected[i] = max(options, key=partial(rank, i))
    return corrected


def restore_accents(view: DocumentSource, folded_words: list[str], docnums: list[int]) -> str | None:
    """The accented spelling of the words as the top documents write them."""
    if not folded_words or not docnums:
        return None
    gap = r"[^\w]+"
    phrase = re.compile(rf"(?<!{_WORD})" + gap.join(map(re.escape, folded_words)) + rf"(?!{_WORD})")
    singles = re.compile(rf"(?<!{_WORD})(?:{'|'.join(map(re.escape, set(folded_words)))})(?!{_WORD})")
    phrases: Counter = Counter()
    words: dict[str, Counter] = {w: Counter() for w in folded_words}
    for docnum in docnums[:RESTORE_FROM_DOCS]:
        doc = view.stored(docnum)
        parts = (doc["title"], doc.get("lead"), doc["body"][:RESTORE_BODY_CHARS])
        text = normalize(" \n".join(p for p in parts if p))
        folded = fold_aligned(text)
        for m in phrase.finditer(folded):
            phrases[" ".join(text[m.start():m.end()].lower().split())] += 1
        for m in singles.finditer(folded):
            words[m.group()][text[m.start():m.end()].lower()] += 1
    if phrases:
        return phrases.most_common(1)[0][0]
    if all(words[w] for w in folded_words):
        return " ".join(words[w].most_common(1)[0][0] for w in folded_words)
    return None


def suggest(view: DocumentSource, executor: PhraseCounter, words: list[PlainWord], docnums: list[int],
            complete: bool) -> str | None:
    """``words`` are the plain query's words; ``complete`` says whether some
    article matched every word."""
    if not words or len(words) > MAX_SUGGEST_WORDS or any(len(w.folded) != 1 for w in words):
        return None
    folded = [w.folded[0] for w in words]
    if not complete:
        corrected = correct(executor, folded, view.vocabulary())
        if corrected == folded:
            return None
        mask = executor.words_mask("content", corrected)
        if not mask.any():
            return None
        top = np.flatnonzero(mask)[:CORRECTED_FROM_DOCS].tolist()
        return restore_accents(view, corrected, top) or " ".join(corrected)
    if any(w.exact for w in words):  # typed with accents: nothing to restore
        return None
    restored = restore_accents(view, folded, docnums)
    if restored and restored != " ".join(folded):
        return restored
    return None
