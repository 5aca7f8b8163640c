"""Same-event grouping: which articles of a result page report the same event.

A news archive holds one event many times: the story in several outlets,
rewrites of a wire report, the follow-up of the next day. A result page
shows such articles under the best-ranked one. Whether two articles report
the same event is read from their own text and dates, in two steps:

* Once per article, at index time: ``signature``, 256 bytes to store. The
  article's features are the syllables of its title, its lead and the
  first ``BODY_SYLLABLES`` of its body, read as the index reads them
  (``indexer.analysis.syllable_forms``: NFC, one tone placement, one i/y
  spelling, no accents), so "Hoà", "Hòa", "hoa" and an NFD "Hòa" are one
  syllable; and the pairs of adjacent syllables of each field (shingles).
  The title's features count ``TITLE_WEIGHT`` times (salted copies: a
  weighted set). The signature is a one-permutation MinHash of that set:
  each feature's 64-bit hash falls in one of ``SIGNATURE_BINS`` bins, and
  each bin keeps one byte of its smallest hash (b-bit MinHash), 0 when no
  feature fell in it.
* Once per result page: ``group`` (or ``group_indexes`` on signatures and
  dates already read). Two signatures hold the same byte in a bin with
  probability the weighted Jaccard similarity of the two feature sets
  (plus 1/255 for two different hashes whose bytes collide, corrected for);
  ``similarities`` estimates it from the bins filled in either. Articles
  published more than ``DATE_WINDOW_DAYS`` apart are never in one group;
  a pair where either date is missing needs ``UNDATED_THRESHOLD`` rather
  than ``THRESHOLD`` (no date bonus). In rank order, each article joins
  the earlier group whose members it resembles most on average, when that
  average reaches the threshold, or starts a group of its own: each group
  is led by its best-ranked article.

Why (measured on the VietnameseMDS set, 628 articles in 199 hand-made
same-event clusters; ``bench/grouping_eval.py`` prints the figures): the
articles of one event from different outlets are rewrites, not copies (the
median Jaccard of their shingles is about 0.1), so the threshold is low
and the title, where outlets agree most, carries weight (B-cubed F1 0.86
with the title counted 4 times, 0.82 counted once, both at precision 0.95
or more). Average linkage rather than single linkage: a chain of partial
matches A~B~C does not put A and C in one group (single linkage: F1 0.83
at the same precision), and merging two events is worse than showing a
duplicate. 256 one-byte bins: the estimate's noise near the threshold is
what costs precision; 64 bins lost 0.05 of F1, while 256 come within 0.02
of 512 bins and of the exact Jaccard of the same features, in a quarter
of the bytes that 256 32-bit hashes would take.

Signatures depend on the constants and the hashing below: change either and
the stored signatures must be recomputed (reindex).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from indexer.analysis import syllable_forms
from indexer.records import RecordError, parse_published
from indexer.textnorm import normalize

SIGNATURE_BINS = 256  # one byte each: the signature's size in bytes
TITLE_WEIGHT = 4  # a title feature counts as 4 features of the lead or body
BODY_SYLLABLES = 80  # of the body, only the start: where the event is told
# Estimated weighted Jaccard similarity from which two dated articles report
# one event: the best B-cubed F1 with precision >= 0.95 on MDS
# (bench/grouping_eval.py prints the rule's choice beside this value)...
THRESHOLD = 0.14
# ...and when either has no date. MDS (every article dated, few articles on
# one topic) would allow 0.15 with its dates hidden, but in an undated
# archive the same story comes back every week (gold prices, scholarship
# notices, league tables): of 45 pairs of search candidates from VNTC (no
# dates) judged by hand, 21 of those from 0.24 up reported one event, all 5
# from 0.4 up did (bench/grouping_eval.py, part 5). Without a date, only
# rewrites of one text are grouped.
UNDATED_THRESHOLD = 0.4
DATE_WINDOW_DAYS = 3.0  # 95% of MDS clusters span at most 2 days, 98% at most 7
SYLLABLES_CACHED = 65536  # distinct syllables whose hash is remembered (a few MB at most)
MIN_BINS = 32  # fewer bins filled in either article (a headline of 3 syllables): too little to tell
# Bytes of signatures compared at once: below glibc's mmap threshold (128 KiB),
# the temporaries reuse heap memory; larger ones were fresh pages each time,
# and their page faults made the comparison 3x slower.
BLOCK_BYTES = 1 << 17

_SYLLABLE = re.compile(r"[^\W_]+")  # as analysis.syllables reads them
_EMPTY = 0  # a bin no feature fell in
_BIN_SHIFT = np.uint64(64 - int(math.log2(SIGNATURE_BINS)))  # a hash's top bits choose its bin
_BYTE_VALUES = np.uint64(255)  # a bin's byte is 1 + (hash mod 255): never _EMPTY
_COLLISION = 1 / 255  # two different smallest hashes still give the same byte
_BYTE_SUM = np.uint64(0x0101010101010101)  # times 8 bytes of 0/1: their sum in the top byte
_TOP_BYTE = np.uint64(56)
_PAIR = np.uint64(0x9E3779B97F4A7C15)  # multiplier that makes (a, b) and (b, a) differ
_SALTS = np.arange(TITLE_WEIGHT, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)  # a title feature's copies
_DAY_SECONDS = 86_400.0


# -- features and signatures ---------------------------------------------------
def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole hash
    (a bin is chosen by the top bits, the byte by the rest)."""
    z = values ^ (values >> np.uint64(30))
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@lru_cache(maxsize=SYLLABLES_CACHED)
def _syllable_hash(folded: str) -> int:
    """A 64-bit hash that is the same in every process and version of Python
    (``hash`` is salted per process; signatures are stored)."""
    return int.from_bytes(hashlib.blake2b(folded.encode("utf-8"), digest_size=8).digest(), "little")


def _syllable_hashes(text: str | None, limit: int | None = None) -> np.ndarray:
    """The hashes of a text's folded syllables, the first ``limit`` of them."""
    words = itertools.islice(_SYLLABLE.finditer(normalize(text or "")), limit)
    return np.array([_syllable_hash(syllable_forms(word.group())[1]) for word in words], dtype=np.uint64)


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
    signature = np.full(SIGNATURE_BINS, _EMPTY, dtype=np.uint8)
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


# -- similarity ---------------------------------------------------------------------
def _agreements(signatures: np.ndarray) -> np.ndarray:
    """Bins where each pair of signatures holds the same byte, counted for
    j < i (0 elsewhere). Blocks of rows against the rows above them; the
    booleans are summed 8 at a time, as the bytes of a uint64 (multiplied
    by 0x0101...01, their sum is the top byte): 2.5x faster than summing
    them one by one."""
    count = len(signatures)
    rows = max(1, BLOCK_BYTES // max(1, count * SIGNATURE_BINS))
    agree = np.zeros((count, count), dtype=np.int32)
    for start in range(0, count, rows):
        end = min(count, start + rows)
        words = (signatures[start:end, None, :] == signatures[None, :end, :]).view(np.uint64)
        words *= _BYTE_SUM
        words >>= _TOP_BYTE
        agree[start:end, :end] = words.sum(axis=2)
    return np.tril(agree, -1)


def similarities(signatures: np.ndarray) -> np.ndarray:
    """Estimated weighted Jaccard similarity of every pair of signatures (an
    n x ``SIGNATURE_BINS`` uint8 array, symmetric, 0 on the diagonal): bins
    that agree among those filled in either, corrected for one-byte
    collisions; 0 for a pair with fewer than ``MIN_BINS`` such bins."""
    agree = _agreements(signatures)
    agree += agree.T
    empty = np.packbits(signatures == _EMPTY, axis=1).view(np.uint64)
    both_empty = np.bitwise_count(empty[:, None, :] & empty[None, :, :]).sum(axis=2, dtype=np.int32)
    filled = SIGNATURE_BINS - both_empty
    agreeing = (agree - both_empty) / np.maximum(filled, 1)
    estimate = np.clip((agreeing - _COLLISION) / (1 - _COLLISION), 0.0, 1.0)
    estimate[filled < MIN_BINS] = 0.0
    np.fill_diagonal(estimate, 0.0)
    return estimate


def day_numbers(published: Sequence[str | datetime | None]) -> np.ndarray:
    """Days since the epoch (fractional) of each publication time, read as
    the indexer reads it (without an offset: Vietnam time); NaN for none, or
    for one that does not parse (no date, no date bonus)."""
    days = np.full(len(published), np.nan)
    for i, value in enumerate(published):
        try:
            moment = parse_published(value.isoformat() if isinstance(value, datetime) else value)
        except RecordError:
            continue
        if moment is not None:
            days[i] = moment.timestamp() / _DAY_SECONDS
    return days


def scores(signatures: np.ndarray, days: np.ndarray, threshold: float = THRESHOLD,
           undated_threshold: float = UNDATED_THRESHOLD, window: float = DATE_WINDOW_DAYS) -> np.ndarray:
    """Every pair's similarity on the scale of ``threshold``: scaled by
    threshold / undated_threshold where a date is missing, and -inf (never
    in one group, whatever the mean) beyond the date window."""
    similarity = similarities(signatures)
    apart = np.abs(days[:, None] - days[None, :])
    score = np.where(np.isnan(apart), similarity * (threshold / undated_threshold), similarity)
    score[apart > window] = -np.inf
    return score


# -- groups ------------------------------------------------------------------------
def link(score: np.ndarray, threshold: float) -> list[list[int]]:
    """Average linkage in rank order over a matrix of pair scores: each
    position joins the earlier group with the highest mean score to it when
    that mean reaches ``threshold``, else starts one."""
    count = len(score)
    linked = np.count_nonzero(np.tril(score >= threshold, -1), axis=1) > 0  # a mean reaches it only if a pair does
    groups: list[list[int]] = []
    label = np.empty(count, dtype=np.intp)
    sizes = np.zeros(count)
    for i in range(count):
        if linked[i]:
            mean = np.bincount(label[:i], weights=score[i, :i], minlength=len(groups)) / sizes[:len(groups)]
            best = int(mean.argmax())
            if mean[best] >= threshold:
                groups[best].append(i)
                label[i] = best
                sizes[best] += 1
                continue
        label[i] = len(groups)
        sizes[len(groups)] = 1
        groups.append([i])
    return groups


def group_indexes(signatures: np.ndarray, days: np.ndarray, threshold: float = THRESHOLD,
                  undated_threshold: float = UNDATED_THRESHOLD,
                  window: float = DATE_WINDOW_DAYS) -> list[list[int]]:
    """Groups of positions, each in rank order and led by its best-ranked
    article (``signatures`` and ``days`` are in rank order)."""
    return link(scores(signatures, days, threshold, undated_threshold, window), threshold)


def stack(signatures: Sequence[bytes | None]) -> np.ndarray:
    """Stored signatures as one array; a missing one (an article indexed
    before signatures existed) is all empty, so it is never grouped."""
    out = np.full((len(signatures), SIGNATURE_BINS), _EMPTY, dtype=np.uint8)
    for i, sig in enumerate(signatures):
        if sig is not None and len(sig) == SIGNATURE_BINS:
            out[i] = np.frombuffer(sig, dtype=np.uint8)
    return out


def group(articles: Sequence[Mapping[str, Any]],
          signatures: Sequence[bytes | None] | None = None) -> list[list[str]]:
    """Groups of ids of the articles (in rank order, best first; each a dict
    with ``id`` and ``published``, and ``title``, ``lead``, ``body`` unless
    their stored ``signatures`` are given), best-ranked group first."""
    if signatures is None:
        signatures = [signature(article) for article in articles]
    days = day_numbers([article.get("published") for article in articles])
    return [[articles[i]["id"] for i in members] for members in group_indexes(stack(signatures), days)]
