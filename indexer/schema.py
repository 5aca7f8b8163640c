"""The Whoosh schema of the archive, and the pre-analysed text field.

Text fields (all analysed by ``VietnameseAnalyzer``; see analysis.py):
  content   title + lead + captions + body: what every query must match
  title, lead, captions   the same text again, only for field weights and for
                          ``title:`` scoping (BM25F weights live in search/)

Keyword fields, exact display values, sortable (columns) so that filters and
facet counts are cheap: author, category, source, year ("2022"), month
("2022-01"); ``published`` is a sortable DATETIME in Vietnam local time.

Display fields are kept in one stored ``doc`` dict, so a hit is one read.

``VietnameseText.index`` turns a text into posting items without Whoosh's
per-token objects (terms() -> positions per term), the cheap way to index
the several stacked terms per syllable.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from whoosh import fields

from indexer.analysis import VietnameseAnalyzer, terms


class VietnameseText(fields.TEXT):
    """TEXT with the Vietnamese analyzer (queries use it through Whoosh's
    analyzer API; indexing goes straight to ``terms``)."""

    def __init__(self) -> None:
        super().__init__(analyzer=VietnameseAnalyzer(), phrase=True)

    def index(self, value: str, **kwargs: Any) -> list[tuple[bytes, int, float, bytes]]:
        """(term bytes, frequency, weight, encoded positions) per distinct term."""
        poses: dict[str, list[int]] = defaultdict(list)
        for term in terms(value):
            plist = poses[term.text]
            if not plist or plist[-1] != term.pos:
                plist.append(term.pos)
        encode = self.format.encode
        return [(word.encode("utf-8"), len(plist), float(len(plist)), encode(plist))
                for word, plist in poses.items()]


def build_schema() -> fields.Schema:
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        content=VietnameseText(),
        title=VietnameseText(),
        lead=VietnameseText(),
        captions=VietnameseText(),
        author=fields.ID(sortable=True),
        category=fields.ID(sortable=True),
        source=fields.ID(sortable=True),
        tags=fields.KEYWORD(commas=True, lowercase=True),
        year=fields.ID(sortable=True),
        month=fields.ID(sortable=True),
        published=fields.DATETIME(sortable=True),
        doc=fields.STORED(),
    )
