"""Search as you type: completions of what a reader is typing, drawn from
the archive's own headlines and leads, with their accents restored.

``bi thu thanh u`` -> "Bí thư Thành ủy", "Bí thư Thành ủy TP.HCM: Bố trí
cán bộ trẻ về cơ sở", ... Each completion is one of:

* a phrase: 2 to ``MAX_WORDS`` syllables that follow each other in a
  headline or the start of a lead, with nothing but spaces (or one joining
  character, as in "TP.HCM", "Covid-19", "18/1/2022") between them. A
  phrase neither starts nor ends inside a word: not inside a joined one,
  nor inside a compound word as the index's segmentation reads the
  headlines and leads ("tiền đặt" of "tiền đặt cọc": the segments' term
  tables hold the compounds, ``COMPOUND_SHARE``); and it does not end on a
  function word ("Hà Nội đã"). One of more than two syllables must be used
  twice (by two articles, or a headline and its lead); used once, it is
  its headline's business. Single syllables are left out: as completions
  they are noise ("t" -> "tại", "trong"). Compound words ("thành ủy"),
  names ("Đà Nẵng", "Nguyễn Tấn Dũng") and set phrases ("giá vàng thế
  giới") are what remains at the top.
* a headline, keyed from its first syllable (long ones cut at a syllable,
  with "…").

A phrase is shown as the archive writes it most often (a capital that only
starts a sentence counts half), so the accents come from the archive, not
from a guess. Completions are ranked by how many articles use them, each
article counting ``1 + RECENCY_BOOST * 2^(-age / RECENCY_HALF_LIFE_DAYS)``
with its age taken from the newest article (undated: 1), so recent news
counts up to 4x; a headline counts half its article, so that at equal use a
phrase comes first. A phrase that nearly always goes on the same way, in
several articles, gives way to its continuation (``DOMINANCE``).

The table, one per index generation and process, is three numpy arrays and
two byte strings:

    keys        the folded keys ("bi thu thanh uy"), ASCII, sorted, joined
    key_at      int64, where each key starts in ``keys`` (n + 1 entries)
    shown       the texts as shown, UTF-8, joined in the same order
    shown_at    int64, where each text starts
    weight      float32, the recency-weighted article count

A keystroke is read as a search reads it (NFC, one tone placement,
lowercase, no diacritics, đ -> d, one i/y spelling, numbers without leading
zeros: textnorm.normalize and analysis.syllable_forms; "tphcm" also as "tp
hcm"); its last word is incomplete unless the text ends with a space or a
punctuation mark. The keys starting with it are a range found by binary
search, and its best few are taken with ``argpartition``: p95 0.1 ms on
VNTC, in process (bench/suggest_bench.py).

Building the table, and rebuilding it as the archive changes, and the
constants named above: search/completion_builder.py.
"""

from __future__ import annotations

import bisect
import re
from array import array
from dataclasses import dataclass
from html import escape

import numpy as np

from indexer.analysis import syllable_forms
from indexer.textnorm import fold, normalize

MAX_COMPLETIONS = 8  # per answer (the API's default and maximum)

_SYLLABLE = re.compile(r"[^\W_]+")  # as analysis.syllables reads them
_TP = "tp"  # thành phố: "tphcm" typed is TP.HCM (analysis.py reads a query so too)


@dataclass
class Completion:
    text: str  # what goes into the search box
    html: str  # the text, escaped, with the typed part in <mark>

    def to_json(self) -> dict:
        return {"text": self.text, "html": self.html}


# -- the table ----------------------------------------------------------------
class _Keys:
    """The sorted keys as a sequence of bytes, for bisect."""

    def __init__(self, data: bytes, at: array) -> None:
        self.data = data
        self.at = at  # an array of int64: indexing it gives Python ints, as bisect wants them

    def __len__(self) -> int:
        return len(self.at) - 1

    def __getitem__(self, i: int) -> bytes:
        return self.data[self.at[i]:self.at[i + 1]]


class CompletionTable:
    """One generation's completions (see the module docstring)."""

    def __init__(self, keys: list[bytes], shown: list[str], weight: np.ndarray, generation: int = -1,
                 seconds: float = 0.0, articles: int = 0, syllables: int = 0) -> None:
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self.keys = b"".join(keys[i] for i in order)
        self._key_at = array("q", _offsets([len(keys[i]) for i in order]).tobytes())
        self.key_at = np.frombuffer(self._key_at, dtype=np.int64)  # the same memory
        encoded = [shown[i].encode("utf-8") for i in order]
        self.shown = b"".join(encoded)
        self.shown_at = _offsets([len(e) for e in encoded])
        self.weight = weight[np.array(order, dtype=np.int64)].astype(np.float32) if order else \
            np.zeros(0, dtype=np.float32)
        self._sorted = _Keys(self.keys, self._key_at)
        self.generation = generation
        self.seconds = seconds  # how long the build took
        self.articles = articles  # how many articles it read
        self.syllables = syllables  # and syllables

    def __len__(self) -> int:
        return len(self.weight)

    @property
    def nbytes(self) -> int:
        """The bytes the table holds: keys, texts, offsets and weights."""
        return len(self.keys) + len(self.shown) + self.key_at.nbytes + self.shown_at.nbytes + self.weight.nbytes

    def key(self, i: int) -> bytes:
        return self._sorted[i]

    def text(self, i: int) -> str:
        return self.shown[self.shown_at[i]:self.shown_at[i + 1]].decode("utf-8")

    def prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """The entries whose key starts with ``prefix``."""
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + b"\xff", lo)  # keys are ASCII
        return lo, hi

    def exact(self, key: bytes) -> int | None:
        i = bisect.bisect_left(self._sorted, key)
        return i if i < len(self) and self._sorted[i] == key else None

    def best(self, lo: int, hi: int, count: int) -> list[int]:
        """The ``count`` heaviest entries in [lo, hi), heaviest first (ties: key order)."""
        if hi - lo > count:
            top = np.argpartition(-self.weight[lo:hi], count - 1)[:count] + lo
        else:
            top = np.arange(lo, hi)
        return sorted(top.tolist(), key=lambda i: (-float(self.weight[i]), i))

    def complete(self, typed: str, limit: int = MAX_COMPLETIONS) -> list[Completion]:
        """Up to ``limit`` completions of ``typed``, most used first."""
        if limit <= 0:
            return []
        found: dict[int, Typed] = {}  # entry -> the reading that found it
        for reading in Typed.read(typed):
            for prefix in reading.prefixes:
                for i in self.best(*self.prefix_range(prefix), limit):
                    found.setdefault(i, reading)
            if reading.exact is not None:
                same = self.exact(reading.exact)
                if same is not None:
                    found.setdefault(same, reading)
        chosen = sorted(found, key=lambda i: (-float(self.weight[i]), i))[:limit]
        return [found[i].completion(self.text(i)) for i in chosen]


def _offsets(lengths: list[int]) -> np.ndarray:
    at = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=at[1:])
    return at


# -- what was typed -------------------------------------------------------------
@dataclass
class Typed:
    """One reading of a keystroke's text as keys: ``prefixes`` that a
    completion's key starts with, and a key it may equal (``exact``) when
    the last word is complete (the text ends with a space or punctuation)."""

    prefixes: list[bytes]
    exact: bytes | None
    words: int  # syllables typed (as keys count them)
    partial: int  # letters of the last one when it is incomplete, else 0

    @classmethod
    def read(cls, typed: str) -> list[Typed]:
        """The readings of ``typed``: as folded, and with "tphcm" read as
        "tp hcm" (as the analyzer reads a query; the archive writes TP.HCM)."""
        norm = normalize(typed)
        found = [m for m in _SYLLABLE.finditer(norm) if syllable_forms(m.group())[1]]
        if not found:
            return []
        folded = [syllable_forms(m.group())[1] for m in found]
        partial = found[-1].end() == len(norm)  # still typing the last word
        last = [folded[-1], fold(found[-1].group())] if partial else [folded[-1]]  # both i/y spellings
        readings = [cls._reading(folded[:-1], list(dict.fromkeys(last)), partial)]
        if any(_tp_joined(word) for word in folded):
            split = [part for word in folded for part in
                     ((_TP, word[len(_TP):]) if _tp_joined(word) else (word,))]
            readings.append(cls._reading(split[:-1], [split[-1]], partial))
        return readings

    @classmethod
    def _reading(cls, head: list[str], last: list[str], partial: bool) -> Typed:
        start = " ".join(head + [""])
        if partial:
            return cls([(start + word).encode("ascii", "ignore") for word in last], None, len(head) + 1,
                       len(last[0]))
        whole = (start + last[0]).encode("ascii", "ignore")
        return cls([whole + b" "], whole, len(head) + 1, 0)

    def completion(self, text: str) -> Completion:
        """``text`` with the typed part (its first ``words`` syllables, the
        last one partly) marked."""
        found = [m for m in _SYLLABLE.finditer(text) if syllable_forms(m.group())[1]]
        if not found:
            return Completion(text, escape(text))
        last = found[min(self.words, len(found)) - 1]
        start = found[0].start()
        end = last.start() + min(self.partial, len(last.group())) if self.partial else last.end()
        html = escape(text[:start]) + "<mark>" + escape(text[start:end]) + "</mark>" + escape(text[end:])
        return Completion(text, html)


def _tp_joined(word: str) -> bool:
    return word.startswith(_TP) and len(word) > len(_TP) and word.isalpha()
