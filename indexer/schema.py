"""The Whoosh schema of the archive, and the pre-analysed text field.

Text fields (all analysed by ``VietnameseAnalyzer``; see analysis.py):
  content   title + lead + captions + body: what every query must match
  title, lead, captions   the same text again, only for field weights and for
                          ``title:`` scoping (BM25F weights live in search/)

Keyword fields, exact display values, sortable (columns) so that filters and
facet counts are cheap: author, category, source, year ("2022"), month
("2022-01"); ``published`` is a sortable DATETIME in Vietnam local time.

Display fields are kept in one stored ``doc`` dict, so a hit is one read.

Indexing speed: segmentation (pyvi) is the bottleneck, so worker processes
turn each text into ready posting items (``PreAnalyzed``) and the single
Whoosh writer in the parent only files them; ``VietnameseText.index`` accepts
either a plain string or such items.
"""

from __future__ import annotations

from collections import defaultdict

from whoosh import fields

from indexer.analysis import VietnameseAnalyzer, terms

TEXT_FIELDS = ("content", "title", "lead", "captions")
FACET_FIELDS = ("author", "category", "source", "year", "month")


class PreAnalyzed:
    """Posting items computed in a worker: [(term bytes, freq, weight, value bytes)]."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


class VietnameseText(fields.TEXT):
    """TEXT with the Vietnamese analyzer that also accepts PreAnalyzed values."""

    def __init__(self):
        super().__init__(analyzer=VietnameseAnalyzer(), phrase=True)

    def index(self, value, **kwargs):
        if not isinstance(value, PreAnalyzed):
            value = self.pre_analyze(value)
        return iter(value.items)

    def pre_analyze(self, text: str) -> PreAnalyzed:
        """The posting items of ``text`` (run in worker processes)."""
        poses: dict[str, list[int]] = defaultdict(list)
        for term in terms(text):
            plist = poses[term.text]
            if not plist or plist[-1] != term.pos:
                plist.append(term.pos)
        encode = self.format.encode
        return PreAnalyzed([(word.encode("utf-8"), len(plist), float(len(plist)), encode(plist))
                            for word, plist in poses.items()])


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
