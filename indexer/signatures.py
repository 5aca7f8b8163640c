"""An article's event signature: 256 bytes computed when it is indexed,
from which search/events.py tells whether two articles report the same event.

The article's features are the syllables of its title, its lead and the
first ``BODY_SYLLABLES`` of its body, read as the index reads them
(``indexer.analysis.syllable_forms``: NFC, one tone placement, one i/y
spelling, no accents), so "Hoà", "Hòa", "hoa" and an NFD "Hòa" are one
syllable; and the pairs of adjacent syllables of each field (shingles).
The title's features count ``TITLE_WEIGHT`` times (salted copies: a
weighted set). The signature is a one-permutation MinHash of that set:
each feature's 64-bit hash falls in one of ``SIGNATURE_BINS`` bins, and
each bin keeps one byte of its smallest hash (b-bit MinHash), ``EMPTY``
when no feature fell in it. Why these choices: search/events.py, with the
figures of bench/grouping_eval.py.

The index keeps the signature in Whoosh's ``event`` column (indexer/schema.py),
which merges carry over, and in each segment's arrays (indexer/arrays.py),
which every search process maps. Signatures depend on the constants and the
hashing below: change either and the stored signatures must be recomputed
(reindex).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from indexer.analysis import syllable_forms
from indexer.textnorm import normalize

SIGNATURE_BINS = 256  # one byte each: the signature's size in bytes
TITLE_WEIGHT = 4  # a title feature counts as 4 features of the lead or body
BODY_SYLLABLES = 80  # of the body, only the start: where the event is told
SYLLABLES_CACHED = 65536  # distinct written syllables whose hash is remembered (a few MB at most)
CHARS_PER_SYLLABLE = 16  # of a body, 16 x BODY_SYLLABLES characters are read: 3x a syllable and its space
EMPTY = 0  # a bin no feature fell in

_SYLLABLE = re.compile(r"[^\W_]+")  # as analysis.syllables reads them
_BIN_SHIFT = np.uint64(64 - int(math.log2(SIGNATURE_BINS)))  # a hash's top bits choose its bin
_BYTE_VALUES = np.uint64(255)  # a bin's byte is 1 + (hash mod 255): never EMPTY
_PAIR = np.uint64(0x9E3779B97F4A7C15)  # multiplier that makes (a, b) and (b, a) differ
_SALTS = np.arange(TITLE_WEIGHT, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)  # a title feature's copies


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole hash
    (a bin is chosen by the top bits, the byte by the rest)."""
    z = values ^ (values >> np.uint64(30))
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=SYLLABLES_CACHED)
def _syllable_hash(word: str) -> int:
    """The hash of a syllable as written (normalised), by its folded form: 64
    bits that are the same in every process and version of Python (``hash``
    is salted per process; signatures are stored)."""
    folded = syllable_forms(word)[1]
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest(), "little")


def _syllable_hashes(text: str | None, limit: int | None = None) -> np.ndarray:
    """The hashes of a text's folded syllables, the first ``limit`` of them.
    With a limit, only the start of the text is normalised (a body's whole
    text took a quarter of a signature's time): CHARS_PER_SYLLABLE characters
    a syllable, cut at a space so no word is cut."""
    text = text or ""
    if limit is not None and len(text) > limit * CHARS_PER_SYLLABLE:
        cut = text.rfind(" ", 0, limit * CHARS_PER_SYLLABLE)
        text = text[:cut] if cut > 0 else text
    words = itertools.islice(_SYLLABLE.finditer(normalize(text)), limit)
    return np.array([_syllable_hash(word.group()) for word in words], dtype=np.uint64)


def _shingles(hashes: np.ndarray) -> np.ndarray:
    """A field's features: its syllables and its pairs of adjacent syllables."""
    pairs = _mix(hashes[:-1] * _PAIR + hashes[1:])
    return np.concatenate([hashes, pairs])


def features(title: str | None, lead: str | None, body: str | None) -> np.ndarray:
    """The hashes of an article's weighted feature set (repeats do not count:
    MinHash reads a set)."""
    titled = _shingles(_syllable_hashes(title))
    rest = np.concatenate([_shingles(_syllable_hashes(lead)), _shingles(_syllable_hashes(body, BODY_SYLLABLES))])
    copies = (titled[:, None] ^ _SALTS[None, :]).ravel()
    return _mix(np.concatenate([copies, rest]))


def signature_of_features(hashes: np.ndarray) -> np.ndarray:
    """One-permutation MinHash: per bin, one byte of the smallest hash in it.
    Sorted, the hashes of a bin are consecutive and its first is its smallest."""
    signature = np.full(SIGNATURE_BINS, EMPTY, dtype=np.uint8)
    ordered = np.sort(hashes)
    bins = (ordered >> _BIN_SHIFT).astype(np.intp)
    first = np.ones(len(bins), dtype=bool)
    first[1:] = bins[1:] != bins[:-1]
    signature[bins[first]] = (ordered[first] % _BYTE_VALUES + np.uint64(1)).astype(np.uint8)
    return signature


def signature(article: Mapping[str, Any]) -> bytes:
    """The article's signature, ``SIGNATURE_BINS`` bytes, to compute when it
    is indexed and store beside it."""
    hashes = features(article.get("title"), article.get("lead"), article.get("body"))
    return signature_of_features(hashes).tobytes()
