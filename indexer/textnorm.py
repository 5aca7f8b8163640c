"""Vietnamese text normalisation with a map back to the original characters.

Everything the analyzer and the highlighter do starts here:

* Unicode NFC, so NFD input ("Vie\u0323\u0302t") is the same text as NFC ("Việt");
* one canonical tone-mark placement for open syllables ending in oa/oe/uy: the
  "old style" hòa/khỏe/thúy/ủy, which most Vietnamese newsrooms print; the "new
  style" hoà/khoẻ/thuý/uỷ is rewritten to it;
* ``fold``: lowercase, diacritics removed, đ -> d, so "Đà Nẵng" and "da nang" meet.

``normalize_with_offsets`` returns the normalised text and, when its length
differs from the input (NFD input), a list mapping each normalised character
back to its position in the original text, so that token offsets and
highlights slice the ORIGINAL text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import numpy as np
from unidecode import unidecode

_TONES = "\u0300\u0301\u0309\u0303\u0323"  # huyền, sắc, hỏi, ngã, nặng


def _toned(base: str, tone: str) -> str:
    return unicodedata.normalize("NFC", base + tone)


def _build_tone_moves() -> dict[str, str]:
    """Map new-style pairs ("oà") to old-style ones ("òa") for oa, oe, uy."""
    moves = {}
    for first, second in (("o", "a"), ("o", "e"), ("u", "y")):
        for tone in _TONES:
            for f, s in ((first, second), (first.upper(), second.upper()),
                         (first.upper(), second)):
                moves[f + _toned(s, tone)] = _toned(f, tone) + s
    return moves


_TONE_MOVES = _build_tone_moves()
# Only open syllables move their tone (hoà -> hòa) but not hoàn, ngoài or the
# "qu" of quý, where u is part of the consonant.
_TONE_RE = re.compile(
    r"(?<![qQ])([oOuU][" + "".join(sorted({pair[1] for pair in _TONE_MOVES})) + r"])(?![^\W\d_])"
)


def _clusters(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each base character with the combining marks after it."""
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or unicodedata.category(text[i])[0] != "M":
            yield start, i
            start = i


def canonical_tones(text: str) -> str:
    """hoà -> hòa, thuý -> thúy, uỷ -> ủy; same length as the input."""
    return _TONE_RE.sub(lambda m: _TONE_MOVES.get(m.group(1), m.group(1)), text)


def normalize_with_offsets(text: str) -> tuple[str, list[int] | None]:
    """Return (normalised text, offsets) where offsets[i] is the index in
    ``text`` of normalised character i, with one extra entry equal to
    len(text); offsets is None when the two texts align one to one."""
    if unicodedata.is_normalized("NFC", text):
        return canonical_tones(text), None
    out: list[str] = []
    offsets: list[int] = []
    for start, end in _clusters(text):
        cluster = unicodedata.normalize("NFC", text[start:end])
        out.append(cluster)
        offsets.extend([start] * len(cluster))
    offsets.append(len(text))
    norm = "".join(out)
    whole = unicodedata.normalize("NFC", text)
    if norm != whole:
        # Composition across our clusters (some Indic and Hangul sequences):
        # keep the exact text, and offsets that stay in order and in range.
        norm = whole
        scale = len(text) / max(1, len(norm))
        offsets = [min(len(text), round(i * scale)) for i in range(len(norm))] + [len(text)]
    return canonical_tones(norm), offsets


def normalize(text: str) -> str:
    return normalize_with_offsets(text)[0]


def _build_fold_table() -> dict[int, str]:
    table = {ord("đ"): "d", ord("Đ"): "d"}
    for code in range(0x00C0, 0x1EFA):
        ch = chr(code)
        base = unicodedata.normalize("NFD", ch)[0]
        if base.isascii() and base.isalpha():
            table[code] = base.lower()
    return table


_FOLD_TABLE = _build_fold_table()
_NON_WORD = re.compile(r"[\W_]+")


def fold(word: str) -> str:
    """Lowercase ASCII form of a normalised word: "Đường" -> "duong".

    Vietnamese letters go through a translate table (fast); anything else that
    is not ASCII (other scripts, symbols) goes through unidecode, and what
    that leaves outside letters and digits is dropped."""
    folded = word.lower().translate(_FOLD_TABLE)
    if not folded.isascii():
        folded = _NON_WORD.sub("", unidecode(folded).lower())
    return folded


# i/y spelling variants (kĩ/kỹ, lí/lý, qui/quy) are both in print: a syllable
# made of consonants plus a final y/ý/ỳ/ỷ/ỹ/ỵ is written with i instead.
_Y_TO_I = str.maketrans("yýỳỷỹỵ", "iíìỉĩị")
ONSETS = r"(?:[bcdđghklmnprstvx]|ch|kh|ng|nh|ph|th|tr|qu)"  # consonants before a final y/i
_CONSONANT_Y = re.compile(rf"^{ONSETS}[yýỳỷỹỵ]$")


def canonical_i_y(lower_word: str) -> str:
    if _CONSONANT_Y.match(lower_word):
        return lower_word.translate(_Y_TO_I)
    return lower_word


_ALIGNED_FOLD_TABLE = dict(_FOLD_TABLE)
_ALIGNED_FOLD_TABLE.update({code: chr(code).lower() for code in range(ord("A"), ord("Z") + 1)})


# The same table as an array over the code points it covers: str.translate
# looks every character up in a dict (~150 us for a 2,300-character body,
# the largest cost of highlighting a page of hits); this is ~8x faster.
_ALIGNED_FOLD_CODES = np.arange(max(_ALIGNED_FOLD_TABLE) + 1, dtype=np.uint32)
for _code, _folded in _ALIGNED_FOLD_TABLE.items():
    _ALIGNED_FOLD_CODES[_code] = ord(_folded)


def fold_aligned(norm: str) -> str:
    """Fold a normalised text character by character: same length, so a match
    in the result is a match at the same offsets in ``norm``. Characters
    outside Vietnamese and ASCII are left as they are."""
    codes = np.frombuffer(norm.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    table = _ALIGNED_FOLD_CODES
    folded = np.where(codes < len(table), table[np.minimum(codes, len(table) - 1)], codes)
    return folded.tobytes().decode("utf-32-le", "surrogatepass")
