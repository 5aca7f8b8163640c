"""Highlighting: <mark> every matched word in the original text, and pick a snippet.

No segmentation here (pyvi would cost milliseconds per body): query words are
matched as folded syllables in a folded copy of the text that has the same
length as the normalised text, so the unaccented query "can bo" marks "cán bộ",
each syllable of a compound is marked, and offsets map back exactly to the
original characters even for NFD or old-tone-style text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape

from indexer.textnorm import ONSETS, canonical_i_y, fold_aligned, normalize_with_offsets

SNIPPET_CHARS = 240
_WORD_CHAR = r"[^\W_]"
_I_FINAL = re.compile(rf"^{ONSETS}i$")  # folded i-final syllables (kĩ/kỹ -> ki)


def _pattern(term: str) -> str:
    if term.isdigit():
        return "0*" + re.escape(term)  # "1" marks "01" (dates are indexed that way)
    if _I_FINAL.match(term):
        return re.escape(term[:-1]) + "[iy]"  # kĩ/kỹ, lí/lý
    return re.escape(term)


class Highlighter:
    """``words`` are (folded, exact) pairs, exact None for unaccented query
    words. An accented word marks only its own spelling where the text has
    it ("cán" does not mark "cận"), and every folded match where it has not."""

    def __init__(self, words: Iterable[tuple[str, str | None]]) -> None:
        words = [(f, e) for f, e in words if f]
        self.exact: dict[str, set[str]] = {}
        for folded, exact in words:
            if exact:
                self.exact.setdefault(folded, set()).add(exact)
        alternatives = sorted({f for f, _ in words}, key=len, reverse=True)
        self.regex: re.Pattern[str] | None = None
        if alternatives:
            self.regex = re.compile(
                rf"(?<!{_WORD_CHAR})(?:{'|'.join(map(_pattern, alternatives))})(?!{_WORD_CHAR})")

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, folded match) in the original text."""
        if not self.regex or not text:
            return []
        norm, offsets = normalize_with_offsets(text)
        folded = fold_aligned(norm)
        found = []
        exact_seen: set[str] = set()
        for m in self.regex.finditer(folded):
            start, end = m.start(), m.end()
            key = m.group()
            is_exact = canonical_i_y(norm[start:end].lower()) in self.exact.get(key, ())
            if is_exact:
                exact_seen.add(key)
            if offsets is not None:
                start, end = offsets[start], offsets[end]
            found.append((start, end, key, is_exact))
        return [(s, e, key) for s, e, key, is_exact in found
                if is_exact or key not in exact_seen]

    def mark(self, text: str) -> str:
        return _render(text, self.spans(text), 0, len(text))

    def snippet(self, text: str, size: int = SNIPPET_CHARS) -> str:
        """About ``size`` characters around the densest cluster of matches."""
        spans = self.spans(text)
        if not spans:
            return _render(text, [], 0, _cut_end(text, 0, size))
        # a window of ``size`` characters from each match in turn: the one
        # with the most distinct words, then the most matches, wins (spans are
        # in text order and do not overlap, so the window's end only moves on)
        best_start, best_score = spans[0][0], -1.0
        counts: dict[str, int] = {}
        end_index = 0
        for i, (start, _, _) in enumerate(spans):
            window_end = start + size
            while end_index < len(spans) and spans[end_index][1] <= window_end:
                key = spans[end_index][2]
                counts[key] = counts.get(key, 0) + 1
                end_index += 1
            inside = end_index - i
            score = sum(1 for c in counts.values() if c) + 0.1 * inside
            if score > best_score:
                best_start, best_score = start, score
            if end_index > i:
                counts[spans[i][2]] -= 1
            else:
                end_index = i + 1  # this match alone is longer than the window
        start = _cut_start(text, max(0, best_start - size // 5))
        end = _cut_end(text, start, size)
        return _render(text, spans, start, end)


def _cut_start(text: str, start: int) -> int:
    if start <= 0:
        return 0
    space = text.rfind(" ", 0, start)
    newline = text.rfind("\n", 0, start)
    return max(space, newline) + 1


def _cut_end(text: str, start: int, size: int) -> int:
    end = start + size
    if end >= len(text):
        return len(text)
    space = text.rfind(" ", start, end)
    return space if space > start else end


def _render(text: str, spans: list[tuple[int, int, str]], start: int, end: int) -> str:
    parts = ["…"] if start > 0 else []
    cursor = start
    for s, e, _ in spans:
        if s < cursor or e > end:
            continue
        parts.append(escape(text[cursor:s]))
        parts.append("<mark>" + escape(text[s:e]) + "</mark>")
        cursor = e
    parts.append(escape(text[cursor:end]))
    if end < len(text):
        parts.append("…")
    return " ".join("".join(parts).split())
