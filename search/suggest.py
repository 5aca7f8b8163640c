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
* Keystrokes: before that, words typed as Telex or VNI ("thanhf phoos",
  keystrokes.py) that the archive does not know as typed are decoded, when
  some article holds every decoded word: "thành phố", not the nearest
  spellings "thanh phoo".
* Only syllables: a suggested word is a valid Vietnamese syllable
  (syllables.py), or a plain word the archive writes so (a name, a foreign
  word, a number). Garbled spellings the archive holds ("dãä" in one
  article, which made "bong daa" suggest "bông dãä") are never offered, and
  such a word is corrected instead, like a misspelling; a correction is a
  syllable whenever one is within reach.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np

from indexer.analysis import syllable_forms
from indexer.textnorm import fold_aligned, normalize
from search.keystrokes import decode
from search.plan import PlainWord
from search.syllables import is_valid_syllable
from search.vocabulary import ALPHABET, Vocabulary


class DocumentSource(Protocol):
    """What suggestions read from an index (index_view.IndexView; the Sphinx
    backend's sphinx_suggest.SuggestView)."""

    def stored(self, docnum: int) -> dict: ...

    def vocabulary(self) -> Vocabulary: ...


class PhraseCounter(Protocol):
    """What suggestions ask a matcher (phrases.PhraseFinder; sphinx_suggest.SuggestCounter)."""

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


def candidates(word: str, vocab: Vocabulary, limit: int = CANDIDATES_PER_WORD, garbled: bool = False) -> list[str]:
    """Known words at edit distance 1 (else 2), most frequent first. When
    any of them is a Vietnamese syllable, only those: a misspelled syllable
    means a syllable, not a name or a garbled word the archive happens to
    hold. A ``garbled`` word (known, but only in spellings that are no
    syllable) is corrected too, to syllables one edit away only."""
    if (word in vocab and not garbled) or not 2 <= len(word) <= MAX_WORD_LENGTH or word.isdigit():
        return []
    known = [c for c in _edits1(word) if c in vocab and c != word]
    if not known and not garbled and 4 <= len(word) <= MAX_EDIT2_LENGTH:
        known = vocab.within_two_edits(word)
    syllables = [c for c in known if is_valid_syllable(c)]
    if syllables or garbled:
        known = syllables
    return sorted(known, key=lambda c: (-vocab.frequency(c), c))[:limit]


def correct(counter: PhraseCounter, folded: list[str], vocab: Vocabulary,
            garbled: Collection[str] = (), fixed: Collection[int] = ()) -> list[str]:
    """Replace unknown (and ``garbled``) words by the candidate found most
    often next to its neighbours in the query ("can bo trex" -> tre as in
    "bộ trẻ", not the more frequent tren), then by frequency; the words at
    the ``fixed`` positions (decoded keystrokes) stay."""
    corrected = list(folded)

    def adjacent(i: int, option: str) -> float:
        """About how many documents have ``option`` next to word i's neighbours."""
        pairs = []
        if i > 0:
            pairs.append([corrected[i - 1], option])
        if i + 1 < len(corrected):
            pairs.append([option, corrected[i + 1]])
        return sum(counter.phrase_estimate("content", pair, ADJACENCY_SAMPLE) for pair in pairs)

    def rank(i: int, option: str) -> tuple[float, int]:
        return adjacent(i, option), vocab.frequency(option)

    for i, word in enumerate(folded):
        if i in fixed:
            continue
        options = candidates(word, vocab, garbled=word in garbled)
        if len(options) == 1:
            corrected[i] = options[0]
        elif options:
            corrected[i] = max(options, key=partial(rank, i))
    return corrected


def offerable(spelling: str) -> bool:
    """May a word, as the archive writes it, be suggested? A syllable, or
    plain ASCII (a name, a foreign word, a number): not "dãä"."""
    return spelling.isascii() or is_valid_syllable(spelling)


@dataclass
class Spellings:
    """How the best hits write the query's (folded) words."""
    phrases: Counter = field(default_factory=Counter)  # the words together, as a tuple
    words: dict[str, Counter] = field(default_factory=dict)  # each word alone
    garbled: set[str] = field(default_factory=set)  # words seen only in spellings not offerable

    def best(self, folded_words: list[str]) -> list[str] | None:
        """The most common spelling of the whole phrase, else of each word."""
        if self.phrases:
            return list(self.phrases.most_common(1)[0][0])
        if all(self.words[w] for w in folded_words):
            return [self.words[w].most_common(1)[0][0] for w in folded_words]
        return None


def read_spellings(view: DocumentSource, folded_words: list[str], docnums: list[int]) -> Spellings:
    """The spellings of ``folded_words`` in the top documents' title, lead
    and start of body; spellings that are no syllable are left out."""
    found = Spellings(words={w: Counter() for w in folded_words})
    if not folded_words or not docnums:
        return found
    gap = r"[^\w]+"
    phrase = re.compile(rf"(?<!{_WORD})" + gap.join(map(re.escape, folded_words)) + rf"(?!{_WORD})")
    singles = re.compile(rf"(?<!{_WORD})(?:{'|'.join(map(re.escape, set(folded_words)))})(?!{_WORD})")
    rejected: set[str] = set()
    for docnum in docnums[:RESTORE_FROM_DOCS]:
        doc = view.stored(docnum)
        parts = (doc["title"], doc.get("lead"), doc["body"][:RESTORE_BODY_CHARS])
        text = normalize(" \n".join(p for p in parts if p))
        folded = fold_aligned(text)
        for m in phrase.finditer(folded):
            words = tuple(w for w in re.split(gap, text[m.start():m.end()].lower()) if w)
            if len(words) == len(folded_words) and all(map(offerable, words)):
                found.phrases[words] += 1
        for m in singles.finditer(folded):
            spelling = text[m.start():m.end()].lower()
            if offerable(spelling):
                found.words[m.group()][spelling] += 1
            else:
                rejected.add(m.group())
    found.garbled = {w for w in rejected if not found.words[w]}
    return found


def keystroke_words(folded: list[str], vocab: Vocabulary) -> dict[int, str]:
    """{position: syllable} for the query's words typed as Telex or VNI
    keystrokes that the archive does not hold as typed ("hoof" -> "hồ"; a
    "bus" the archive knows stays a bus)."""
    decoded = decode(" ".join(folded))
    if decoded is None:
        return {}
    return {i: word for i, (typed, word) in enumerate(zip(folded, decoded.split(" "), strict=True))
            if word != typed and typed not in vocab}


def offer(view: DocumentSource, counter: PhraseCounter, corrected: list[str],
          typed: dict[int, str] | None = None) -> str | None:
    """The corrected words accented as their first matches write them, the
    ``typed`` syllables (decoded keystrokes) as typed, if some article holds
    them all: each suggested word is then one the archive writes."""
    typed = typed or {}
    held = [syllable_forms(typed[i])[0] if i in typed else word for i, word in enumerate(corrected)]
    mask = counter.words_mask("content", held)  # accented words match their exact spelling
    if not mask.any():
        return None
    top = np.flatnonzero(mask)[:CORRECTED_FROM_DOCS].tolist()
    words = read_spellings(view, corrected, top).best(corrected) or list(corrected)
    for i, syllable in typed.items():
        words[i] = syllable
    return " ".join(words)


def suggest(view: DocumentSource, counter: PhraseCounter, words: list[PlainWord], docnums: list[int],
            complete: bool) -> str | None:
    """``words`` are the plain query's words; ``complete`` says whether some
    article matched every word."""
    if not words or len(words) > MAX_SUGGEST_WORDS or any(len(w.folded) != 1 for w in words):
        return None
    folded = [w.folded[0] for w in words]
    if not complete:
        vocab = view.vocabulary()
        typed = keystroke_words(folded, vocab)
        if typed:
            decoded = [syllable_forms(typed[i])[1] if i in typed else w for i, w in enumerate(folded)]
            offered = offer(view, counter, correct(counter, decoded, vocab, fixed=typed), typed)
            if offered:
                return offered
        corrected = correct(counter, folded, vocab)
        return offer(view, counter, corrected) if corrected != folded else None
    if any(w.exact for w in words):  # typed with accents: nothing to restore
        return None
    spellings = read_spellings(view, folded, docnums)
    restored = spellings.best(folded)
    if restored and restored != folded:
        return " ".join(restored)
    if spellings.garbled:  # "daa", known only as "dãä": corrected like a misspelling
        corrected = correct(counter, folded, view.vocabulary(), garbled=spellings.garbled)
        return offer(view, counter, corrected) if corrected != folded else None
    return None
