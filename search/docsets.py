"""Sorted arrays of document numbers (or of other unique int64 keys) as
sets: membership, intersection, duplicates dropped, and bitmaps, each the
cheapest numpy form for the sizes at hand."""

from __future__ import annotations

import numpy as np

FEW_LOOKUPS = 32  # binary searches beat one pass over the larger side when this many times fewer


def bitmap(size: int, docs: np.ndarray) -> np.ndarray:
    """A mask of ``docs`` over ``size`` documents: to test many documents at
    once, one memory pass instead of a binary search each."""
    mask = np.zeros(size, dtype=bool)
    mask[docs] = True
    return mask


def members(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of ``values`` are in ``sorted_set`` (sorted, unique)."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def intersect(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The values in both of two sorted arrays of unique values. Of sizes
    alike, the two merged by a stable sort (a merge of two runs) and read for
    neighbours that are equal; else the smaller looked up in the larger."""
    small, large = (first, second) if len(first) <= len(second) else (second, first)
    if len(small) * FEW_LOOKUPS < len(large):
        return small[members(small, large)]
    both = np.concatenate((small, large))
    both.sort(kind="stable")
    return both[:-1][both[1:] == both[:-1]]


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for values that nearly always come sorted (documents in
    order, positions ascending within each): a linear pass instead of a
    hash or sort, which was a third of the time of the query mix."""
    if len(values) < 2:
        return values
    rising = values[1:] > values[:-1]
    if rising.all():  # already sorted and unique (positions nearly always are)
        return values
    if not bool((values[1:] >= values[:-1]).all()):
        return np.unique(values)
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]
