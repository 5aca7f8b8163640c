"""The Vietnamese analyzer: text -> index terms with positions and offsets.

``terms`` runs a chain, the way Whoosh composes a tokenizer and filters:

1. ``normalize_with_offsets``: NFC + canonical tone placement, with a map back
   to the original characters (``textnorm``).
2. ``syllables``: runs of letters and digits of the normalised text.
3. ``compound_starts``: pyvi word segmentation on the accented, original-case
   text (proper nouns guide it), aligned back onto our syllables, so we know
   that "cán bộ" or "Thành ủy" form one word.
4. ``read_words``: each syllable becomes a ``Word``: lowercased (after
   segmentation), numbers without leading zeros, one i/y spelling, folded,
   with its position. "TPHCM" is read as "TP HCM" and takes two positions.
5. The steps of ``WORD_STEPS``, for every word in order, then those of
   ``TEXT_STEPS`` once; each returns the terms it adds:
   * ``folded_syllable``: the folded syllable, always ("can"): unaccented
     queries and phrase matching use these, so "thông tin" also finds
     "công nghệ thông tin";
   * ``exact_spelling``: the exact lowercase syllable ("cán") when it differs
     from the folded one: an accented query scores it on top, ranking
     "đường" above "dương";
   * ``compound_word``: the folded compound ("can_bo") at the position of its
     first syllable: a boost for query words that form a real word;
   * ``joined_abbreviation``: "tphcm" for TP.HCM, TP. HCM, TP HCM; a "TPHCM"
     written as one word gets its terms from ``TP_SPLIT_STEPS`` instead;
   * ``dates``: "18/01/2022", zero-padded, for 18/1/2022 too.

A new rule (an abbreviation table, synonyms) is one more function in one of
these lists. Offsets of every term point into the ORIGINAL text, so
highlights slice it exactly even when the input was NFD or used the other
tone placement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from whoosh.analysis import Analyzer, Token

from indexer import pyvi_model
from indexer.textnorm import canonical_i_y, fold, normalize_with_offsets

FOLD, EXACT, COMPOUND, SPECIAL = "fold", "exact", "compound", "special"

_SYLLABLE_RE = re.compile(r"[^\W_]+")
_JOIN_RE = re.compile("_")
_DATE_RE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\d/])")
_TP_PREFIX = "tp"  # thành phố, "city": TP.HCM, TP. HCM, TP HCM and TPHCM name the same city
SYLLABLE_FORMS_CACHED = 65536  # distinct written syllables remembered (~10 MB at most)
_MAX_ABBREVIATION = 5  # letters in each half of a joined abbreviation (UBND.TP, TP.HCM)


class Term(NamedTuple):
    text: str
    pos: int
    start: int  # offsets into the original text
    end: int
    kind: str


class Syllable(NamedTuple):
    text: str  # as in the normalised text (case kept)
    start: int  # offsets into the normalised text
    end: int


class Word(NamedTuple):
    """A syllable as the steps see it."""

    number: int  # its index in Analysis.sylls
    syllable: Syllable
    lower: str  # lowercase, a number without leading zeros, one i/y spelling
    folded: str
    pos: int  # for a TP split: the position of "tp"; the rest is at pos + 1
    start: int  # offsets into the original text
    end: int
    tp_split: bool  # "TPHCM" read as "TP HCM"


class Analysis:
    """One text being analysed: what every step may read."""

    def __init__(self, text: str, segment: bool, query: bool) -> None:
        self.text = text
        self.norm, self.offsets = normalize_with_offsets(text)
        self.query = query
        self.sylls = syllables(self.norm)
        self.joined = compound_starts(self.norm, self.sylls) if segment and self.sylls else set()
        self.words = read_words(self)

    def orig(self, i: int) -> int:
        """Offset in the original text of offset ``i`` of the normalised one."""
        return self.offsets[i] if self.offsets is not None else i


# A step returns the terms it adds (a tuple: cheaper than a generator on the
# indexing hot path, where steps run for every syllable of every article).
WordStep = Callable[[Analysis, Word], Sequence[Term]]
TextStep = Callable[[Analysis], Sequence[Term]]
NO_TERMS: tuple[Term, ...] = ()


def syllables(norm: str) -> list[Syllable]:
    return [Syllable(m.group(), m.start(), m.end()) for m in _SYLLABLE_RE.finditer(norm)]


def compound_starts(norm: str, sylls: list[Syllable]) -> set[int]:
    """Indexes of the syllables that pyvi joins to the previous one.

    pyvi returns a re-spaced string with "_" inside words and no offsets; we
    align it on the text with all whitespace removed. If pyvi changed any
    character, the text simply gets no compounds (syllables still index)."""
    if len(sylls) < 2:
        return set()
    source = norm.replace("_", " ")
    segmented = pyvi_model.tokenize(source)
    compact = "".join(segmented.split())
    stripped = "".join(source.split())
    if compact.replace("_", "") != stripped:
        return set()
    # the k-th "_" at index i of the compact text joins at i - k of the stripped one
    join_points = {m.start() - k for k, m in enumerate(_JOIN_RE.finditer(compact))}
    if not join_points:
        return set()
    starts = set()
    spaces_before = 0
    prev_end = 0
    for index, syl in enumerate(sylls):
        gap = source[prev_end:syl.start]
        spaces_before += len(gap) - len("".join(gap.split()))
        # pyvi may join the first syllable to a symbol before it ("•_w"):
        # that is no compound (joins across "." are: "Tp.HCM")
        if index > 0 and syl.start - spaces_before in join_points:
            starts.add(index)
        prev_end = syl.start
    return starts


def _norm_number(digits: str) -> str:
    return digits.lstrip("0") or "0"


def _is_tp_joined(syl: Syllable, lower: str, query: bool) -> bool:
    """True for "TPHCM" (and "tphcm" typed in a search box), not "tpa" nor "tp3"."""
    return (lower.startswith(_TP_PREFIX) and len(lower) > 3 and lower.isalpha()
            and (syl.text.isupper() or query))


@lru_cache(maxsize=SYLLABLE_FORMS_CACHED)
def syllable_forms(text: str) -> tuple[str, str]:
    """(lower, folded) of a syllable as written: lowercase, a number without
    leading zeros, one i/y spelling. A language has a few thousand
    syllables, so each is worked out once per process."""
    lower = text.lower()
    if lower.isdigit():
        lower = _norm_number(lower)
    lower = canonical_i_y(lower)
    return lower, fold(lower)


def read_words(analysis: Analysis) -> list[Word]:
    words = []
    pos = 0
    offsets = analysis.offsets
    for index, syl in enumerate(analysis.sylls):
        lower, folded = syllable_forms(syl.text)
        split = lower.startswith(_TP_PREFIX) and _is_tp_joined(syl, lower, analysis.query)
        start, end = (syl.start, syl.end) if offsets is None else (offsets[syl.start], offsets[syl.end])
        words.append(Word(index, syl, lower, folded, pos, start, end, split))
        pos += 2 if split else 1
    return words


# -- steps for every word ------------------------------------------------


def folded_syllable(analysis: Analysis, word: Word) -> Sequence[Term]:
    if not word.folded:
        return NO_TERMS
    return (Term(word.folded, word.pos, word.start, word.end, FOLD),)


def exact_spelling(analysis: Analysis, word: Word) -> Sequence[Term]:
    if word.lower == word.folded or not word.lower:
        return NO_TERMS
    return (Term(word.lower, word.pos, word.start, word.end, EXACT),)


def compound_word(analysis: Analysis, word: Word) -> Sequence[Term]:
    """The whole word, once, at its last syllable (its first syllable's position)."""
    joined = analysis.joined
    if word.number not in joined or word.number + 1 in joined:
        return NO_TERMS
    first = word.number
    while first in joined:
        first -= 1
    parts = analysis.words[first:word.number + 1]
    return (Term("_".join(part.folded for part in parts), parts[0].pos, parts[0].start, word.end,
                 COMPOUND),)


def joined_abbreviation(analysis: Analysis, word: Word) -> Sequence[Term]:
    """One term for two syllables: "tphcm" for TP.HCM, TP. HCM and TP HCM, "ubndtp" for UBND.TP."""
    if not word.number:
        return NO_TERMS
    prev = analysis.words[word.number - 1]
    if not _abbreviation_pair(analysis.norm, prev.syllable, word.syllable, analysis.query):
        return NO_TERMS
    return (Term(fold(prev.syllable.text + word.syllable.text), prev.pos, prev.start, word.end,
                 SPECIAL),)


def _abbreviation_pair(norm: str, a: Syllable, b: Syllable, query: bool) -> bool:
    """Two short upper-case syllables (any case in a query) with "." or ". "
    between them; across a plain space only after TP, where "TP HCM" is a
    common spelling of the same name."""
    gap = norm[a.end:b.start]  # checked first: nearly every pair is two words and a space
    if gap == " ":
        if a.text.lower() != _TP_PREFIX:
            return False
    elif gap != "." and gap != ". ":
        return False
    if not (a.text.isalpha() and b.text.isalpha()):
        return False
    if not query and not (a.text.isupper() and b.text.isupper()):
        return False
    return len(a.text) <= _MAX_ABBREVIATION and len(b.text) <= _MAX_ABBREVIATION


def tp_prefix_split(analysis: Analysis, word: Word) -> Sequence[Term]:
    """A "TPHCM" written as one word also indexes as "tp hcm", so that every
    spelling meets; the three terms cover the whole word."""
    return (Term(_TP_PREFIX, word.pos, word.start, word.end, SPECIAL),
            Term(word.folded, word.pos, word.start, word.end, FOLD),
            Term(word.folded[len(_TP_PREFIX):], word.pos + 1, word.start, word.end, FOLD))


# -- steps over the whole text -------------------------------------------


def dates(analysis: Analysis) -> Sequence[Term]:
    """One term, "18/01/2022", for 18/1/2022, 18-01-2022 and 18.1.2022, at the day's position."""
    found = []
    for m in _DATE_RE.finditer(analysis.norm):
        day, month, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if 1 <= day <= 31 and 1 <= month <= 12:
            first = _syllable_at(analysis.sylls, m.start())
            if first is not None:
                found.append(Term(f"{day:02d}/{month:02d}/{year}", analysis.words[first].pos,
                                  analysis.orig(m.start()), analysis.orig(m.end()), SPECIAL))
    return found


def _syllable_at(sylls: list[Syllable], start: int) -> int | None:
    lo, hi = 0, len(sylls)
    while lo < hi:
        mid = (lo + hi) // 2
        if sylls[mid].start < start:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(sylls) and sylls[lo].start == start else None


# The chain. A "TPHCM" read as "TP HCM" gets only its own terms (its folded
# form still counts in a compound that ends on a later syllable).
WORD_STEPS: list[WordStep] = [folded_syllable, exact_spelling, compound_word, joined_abbreviation]
TP_SPLIT_STEPS: list[WordStep] = [tp_prefix_split]
TEXT_STEPS: list[TextStep] = [dates]


def terms(text: str, segment: bool = True, query: bool = False) -> list[Term]:
    """All index terms of ``text``. ``segment`` runs pyvi (skip it for
    unaccented queries, which it segments badly); ``query`` joins
    abbreviations regardless of case ("tp.hcm" typed in a search box)."""
    analysis = Analysis(text, segment, query)
    out: list[Term] = []
    add = out.extend
    for word in analysis.words:
        for step in TP_SPLIT_STEPS if word.tp_split else WORD_STEPS:
            add(step(analysis, word))
    if analysis.words:
        for text_step in TEXT_STEPS:
            add(text_step(analysis))
    return out


def has_accents(text: str) -> bool:
    """True when the text carries Vietnamese diacritics (or đ)."""
    return any(not ch.isascii() and ch.isalpha() for ch in text)


class VietnameseAnalyzer(Analyzer):
    """Whoosh analyzer over ``terms``. Module-level and stateless, so the
    pickled schema reopens in any process that can import indexer.analysis.

    In query mode pyvi runs only on accented text (unaccented input segments
    badly), and abbreviations join regardless of case."""

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        query = mode == "query"
        segment = has_accents(value) if query else True
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for term in terms(value, segment=segment, query=query):
            token.text = term.text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = term.text
            if positions:
                token.pos = start_pos + term.pos
            if chars:
                token.startchar = start_char + term.start
                token.endchar = start_char + term.end
            token.kind = term.kind
            yield token

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))
