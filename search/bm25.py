"""BM25, the one formula both backends score with (executor.py over the
embedded index, sphinx_scoring.py over a Sphinx cluster's candidates), so the
two give the same scores to the last digit.

Per term and field: idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (the Lucene form, never negative),
k1 = 1.2, b = 0.75; a term's weight multiplies it (compiler.py sets field
weights and boosts).
"""

from __future__ import annotations

import math

import numpy as np

K1 = 1.2
B = 0.75


def idf(documents: int, df: int) -> float:
    """Above 0 for every term: a term's postings still count deleted
    articles until a merge, so ``df`` may exceed the live ``documents``."""
    df = min(df, documents)
    return math.log(1 + (documents - df + 0.5) / (df + 0.5))


def length_norm(lengths: np.ndarray, average: float) -> np.ndarray:
    """k1 * (1 - b + b * dl / avgdl) per document, as float32."""
    return (K1 * (1 - B + B * np.asarray(lengths, dtype=np.float32) / average)).astype(np.float32)


def bm25(weight: float, documents: int, df: int, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """The weighted BM25 of one term at each of its postings (``tf`` as float32)."""
    return np.float32(weight * idf(documents, df) * (K1 + 1)) * tf / (tf + norm)
