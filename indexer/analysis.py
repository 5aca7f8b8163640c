"""The Vietnamese analyzer: text -> index terms with positions and offsets.

The chain, in order (each stage is a function below):

1. ``normalize_with_offsets``: NFC + canonical tone placement, with a map back
   to the original characters (``textnorm``).
2. ``syllables``: runs of letters and digits of the normalised text.
3. ``compound_starts``: pyvi word segmentation on the accented, original-case
   text (proper nouns guide it), aligned back onto our syllables, so we know
   that "cán bộ" or "Thành ủy" form one word.
4. ``terms``: for every syllable at position p, the terms stacked at p:
   * the folded syllable, always ("can"): unaccented queries and phrase
     matching use these, so "thông tin" also finds "công nghệ thông tin";
   * the exact lowercase syllable ("cán") when it differs from the folded
     one: an accented query scores it on top, ranking "đường" above "dương";
   * the folded compound ("can_bo") at the position of its first syllable:
     a boost for query words that form a real word;
   * joined abbreviations ("tphcm" for TP.HCM, TP. HCM, TP HCM, TPHCM) and
     dates ("18/01/2022", zero-padded, for 18/1/2022 too).
   Lowercasing happens here, after segmentation.

Offsets of every term point into the ORIGINAL text, so highlights slice it
exactly even when the input was NFD or used the other tone placement.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from whoosh.analysis import Analyzer, Token

from indexer.textnorm import canonical_i_y, fold, normalize_with_offsets

FOLD, EXACT, COMPOUND, SPECIAL = "fold", "exact", "compound", "special"

_SYLLABLE_RE = re.compile(r"[^\W_]+")
_DATE_RE = re.compile(r"(?<![\d/.-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\d/])")
# Joined abbreviations: "TP.HCM", "TP. HCM", "UBND.TP"; across a plain space
# only after TP, where "TP HCM" is a common spelling of the same name.
_ABBR_GAP_RE = re.compile(r"\. ?$|^\. ?")
_TP_PREFIX = "tp"


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


def syllables(norm: str) -> list[Syllable]:
    return [Syllable(m.group(), m.start(), m.end()) for m in _SYLLABLE_RE.finditer(norm)]


def _pyvi():
    from pyvi import ViTokenizer  # imported lazily: ~1 s and ~115 MB

    return ViTokenizer.ViTokenizer


def compound_starts(norm: str, sylls: list[Syllable]) -> set[int]:
    """Indexes of the syllables that pyvi joins to the previous one.

    pyvi returns a re-spaced string with "_" inside words and no offsets; we
    align it on the text with all whitespace removed. If pyvi changed any
    character, the text simply gets no compounds (syllables still index)."""
    if len(sylls) < 2:
        return set()
    source = norm.replace("_", " ")
    segmented = _pyvi().tokenize(source)
    compact = "".join(segmented.split())
    stripped = "".join(source.split())
    if compact.replace("_", "") != stripped:
        return set()
    join_points = set()
    removed = 0
    for i, ch in enumerate(compact):
        if ch == "_":
            join_points.add(i - removed)
            removed += 1
    if not join_points:
        return set()
    starts = set()
    spaces_before = 0
    prev_end = 0
    for index, syl in enumerate(sylls):
        gap = source[prev_end:syl.start]
        spaces_before += len(gap) - len("".join(gap.split()))
        if syl.start - spaces_before in join_points:
            starts.add(index)
        prev_end = syl.start
    return starts


def _norm_number(digits: str) -> str:
    return digits.lstrip("0") or "0"


def terms(text: str, segment: bool = True, query: bool = False) -> list[Term]:
    """All index terms of ``text``. ``segment`` runs pyvi (skip it for
    unaccented queries, which it segments badly); ``query`` joins
    abbreviations regardless of case ("tp.hcm" typed in a search box)."""
    norm, offsets = normalize_with_offsets(text)
    sylls = syllables(norm)
    if not sylls:
        return []

    def orig(i: int) -> int:
        return offsets[i] if offsets is not None else i

    joined = compound_starts(norm, sylls) if segment else set()
    out: list[Term] = []
    pos = -1
    positions: list[int] = []
    folded_list: list[str] = []
    for index, syl in enumerate(sylls):
        pos += 1
        start, end = orig(syl.start), orig(syl.end)
        lower = syl.text.lower()
        if lower.isdigit():
            lower = _norm_number(lower)
        lower = canonical_i_y(lower)
        folded = fold(lower)
        if (lower.startswith(_TP_PREFIX) and len(lower) > 3 and lower.isalpha()
                and (syl.text.isupper() or query)):
            # "TPHCM" also indexes as "tp hcm", so every spelling meets.
            out.append(Term(_TP_PREFIX, pos, start, end, SPECIAL))
            out.append(Term(folded, pos, start, end, FOLD))
            pos += 1
            out.append(Term(folded[2:], pos, start, end, FOLD))
            positions.append(pos - 1)
            folded_list.append(folded)
            continue
        if folded:
            out.append(Term(folded, pos, start, end, FOLD))
        if lower != folded and lower:
            out.append(Term(lower, pos, start, end, EXACT))
        positions.append(pos)
        folded_list.append(folded)
        # a compound: this syllable is the last of a word that began earlier
        if index in joined:
            first = index
            while first in joined:
                first -= 1
            if index + 1 not in joined:  # emit once, at the word's end
                parts = folded_list[first:index + 1]
                out.append(Term("_".join(parts), positions[first],
                                orig(sylls[first].start), end, COMPOUND))
        if index and _abbreviation_pair(norm, sylls[index - 1], syl, query):
            prev = sylls[index - 1]
            out.append(Term(fold(prev.text + syl.text), positions[index - 1],
                            orig(prev.start), end, SPECIAL))
    for m in _DATE_RE.finditer(norm):
        day, month, year = int(m.group(1)), int(m.group(3)), m.group(4)
        if 1 <= day <= 31 and 1 <= month <= 12:
            first = _syllable_at(sylls, m.start())
            if first is not None:
                out.append(Term(f"{day:02d}/{month:02d}/{year}", positions[first],
                                orig(m.start()), orig(m.end()), SPECIAL))
    return out


def _abbreviation_pair(norm: str, a: Syllable, b: Syllable, query: bool) -> bool:
    if not (a.text.isalpha() and b.text.isalpha()):
        return False
    if not query and not (a.text.isupper() and b.text.isupper()):
        return False
    if len(a.text) > 5 or len(b.text) > 5:
        return False
    gap = norm[a.end:b.start]
    if gap in (".", ". "):
        return True
    return gap == " " and a.text.lower() == _TP_PREFIX


def _syllable_at(sylls: list[Syllable], start: int) -> int | None:
    lo, hi = 0, len(sylls)
    while lo < hi:
        mid = (lo + hi) // 2
        if sylls[mid].start < start:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < len(sylls) and sylls[lo].start == start else None


def has_accents(text: str) -> bool:
    """True when the text carries Vietnamese diacritics (or đ)."""
    return any(not ch.isascii() and ch.isalpha() for ch in text)


class VietnameseAnalyzer(Analyzer):
    """Whoosh analyzer over ``terms``. Module-level and stateless, so the
    pickled schema reopens in any process that can import indexer.analysis.

    In query mode pyvi runs only on accented text (unaccented input segments
    badly), and abbreviations join regardless of case."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False,
                 removestops=True, start_pos=0, start_char=0, tokenize=True,
                 mode="", **kwargs):
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

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))
