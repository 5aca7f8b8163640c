"""Same-event grouping: which articles of a result page report the same event.

A news archive holds one event many times: the story in several outlets,
rewrites of a wire report, the follow-up of the next day. A result page
shows such articles under the best-ranked one. Whether two articles report
the same event is read from their own text and dates, in two steps:

* Once per article, at index time: its ``signature`` (indexer/signatures.py),
  256 bytes, a MinHash of the syllables and syllable pairs of its title,
  lead and the start of its body, the title weighted.
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

"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from indexer.records import RecordError, parse_published
from indexer.signatures import EMPTY, SIGNATURE_BINS, signature

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
MIN_BINS = 32  # fewer bins filled in either article (a headline of 3 syllables): too little to tell
# Bytes of signatures compared at once: below glibc's mmap threshold (128 KiB),
# the temporaries reuse heap memory; larger ones were fresh pages each time,
# and their page faults made the comparison 3x slower.
BLOCK_BYTES = 1 << 17

_COLLISION = 1 / 255  # two different smallest hashes still give the same byte
_BYTE_SUM = np.uint64(0x0101010101010101)  # times 8 bytes of 0/1: their sum in the top byte
_TOP_BYTE = np.uint64(56)
_DAY_SECONDS = 86_400.0


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
    empty = np.packbits(signatures == EMPTY, axis=1).view(np.uint64)
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
    out = np.full((len(signatures), SIGNATURE_BINS), EMPTY, dtype=np.uint8)
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
