"""The archive's vocabulary for spelling suggestions: folded syllables with
their document frequencies, and a fast search for words within two edits.

Two edits of a word make about (54n)^2 strings (a 6-letter word: ~350,000),
so generating them cost a misspelled query 100-150 ms, many times a normal
query. Instead, every word's letter counts sit in one matrix: an edit changes
the counts by at most 2 (a transposition by 0), so only words of about the
same length whose counts differ by at most 4 can be within two edits. The few
that pass are checked with the optimal-string-alignment distance (insert,
delete, substitute, swap two neighbours), vectorised over the candidates.
"""

from __future__ import annotations

import string

import numpy as np

ALPHABET = string.ascii_lowercase + string.digits
_CODE = {ch: i for i, ch in enumerate(ALPHABET)}
_CODE_OF_BYTE = np.zeros(256, dtype=np.int8)
for _ch, _i in _CODE.items():
    _CODE_OF_BYTE[ord(_ch)] = _i
MAX_DISTANCE = 2


class Vocabulary:
    def __init__(self, frequencies: dict[str, int]):
        self.frequencies = {w: df for w, df in frequencies.items() if w and all(ch in _CODE for ch in w)}
        self.words = list(self.frequencies)
        count = len(self.words)
        self.lengths = np.fromiter(map(len, self.words), dtype=np.int16, count=count)
        # every word's letter codes, padded with -1, and its letter counts,
        # built with array operations (a cold misspelled query waits for it)
        flat = _CODE_OF_BYTE[np.frombuffer("".join(self.words).encode("ascii"), dtype=np.uint8)]
        rows = np.repeat(np.arange(count), self.lengths)
        starts = np.cumsum(self.lengths, dtype=np.int64) - self.lengths
        columns = np.arange(len(flat)) - np.repeat(starts, self.lengths)
        self.codes = np.full((count, max(int(self.lengths.max(initial=0)), 1)), -1, dtype=np.int8)
        self.codes[rows, columns] = flat
        letters = np.bincount(rows * len(ALPHABET) + flat, minlength=count * len(ALPHABET))
        self.counts = np.minimum(letters, 255).astype(np.uint8).reshape(count, len(ALPHABET))

    def __contains__(self, word: str) -> bool:
        return word in self.frequencies

    def __len__(self) -> int:
        return len(self.words)

    def frequency(self, word: str) -> int:
        return self.frequencies.get(word, 0)

    def within_two_edits(self, word: str) -> list[str]:
        """Known words at an optimal-string-alignment distance of at most 2."""
        if not word or any(ch not in _CODE for ch in word) or not self.words:
            return []
        wanted = np.zeros(len(ALPHABET), dtype=np.int16)
        for ch in word:
            wanted[_CODE[ch]] += 1
        rows = np.flatnonzero(np.abs(self.lengths - len(word)) <= MAX_DISTANCE)
        if len(rows):
            letters = np.abs(self.counts[rows].astype(np.int16) - wanted).sum(axis=1)
            rows = rows[letters <= 2 * MAX_DISTANCE]
        if not len(rows):
            return []
        distance = _alignment_distance(np.array([_CODE[ch] for ch in word], dtype=np.int8),
                                       self.codes[rows], self.lengths[rows])
        return [self.words[r] for r in rows[distance <= MAX_DISTANCE]]


def _alignment_distance(word: np.ndarray, others: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Optimal-string-alignment distance from ``word`` to each row of
    ``others`` (codes, padded with -1 past ``lengths``), one DP for all rows."""
    count, width = others.shape
    previous2 = None
    previous = np.tile(np.arange(width + 1, dtype=np.int16), (count, 1))
    for i in range(1, len(word) + 1):
        current = np.empty_like(previous)
        current[:, 0] = i
        for j in range(1, width + 1):
            cost = (others[:, j - 1] != word[i - 1]).astype(np.int16)
            best = np.minimum(np.minimum(previous[:, j] + 1, current[:, j - 1] + 1), previous[:, j - 1] + cost)
            if previous2 is not None and j > 1:
                swapped = (others[:, j - 1] == word[i - 2]) & (others[:, j - 2] == word[i - 1])
                best = np.where(swapped, np.minimum(best, previous2[:, j - 2] + 1), best)
            current[:, j] = best
        previous2, previous = previous, current
    return previous[np.arange(count), lengths.astype(np.int64)]
