"""The one result object that the CLI, the HTML page and the JSON API render.

Every fact a reader sees on the page is in ``to_json`` too, so API clients
and readers are told the same things (e.g. that words were dropped, or
that part of a cluster did not answer). Both backends (backend.py) build
hits with ``Hit.from_stored`` from the same stored article, so snippets
and marks are the same whichever served them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from search.highlight import Highlighter
from search.request import Position

# What the page and the terminal say when ``relaxed`` is true.
RELAXED_NOTE = "Không có bài nào chứa tất cả các từ; đang hiển thị những bài chứa nhiều từ nhất."


def partial_note(missing_shards: list[int]) -> str:
    """What the page and the terminal say when ``partial`` is true."""
    if missing_shards and all(shard >= 0 for shard in missing_shards):
        which = "phân mảnh " + ", ".join(str(shard) for shard in missing_shards)
        return (f"Kết quả chưa đầy đủ: {which} của kho bài viết đang không trả lời, "
                "nên các bài nằm ở đó không có trong danh sách này.")
    return "Kết quả chưa đầy đủ: một phần kho bài viết đang không trả lời."


@dataclass
class Hit:
    id: str
    title: str
    url: str | None
    author: str | None
    category: str | None
    source: str | None
    published: str | None  # ISO 8601 with +07:00
    snippet: str  # HTML: escaped text with <mark> only
    score: float | None
    title_html: str = ""  # escaped title with <mark>; for the HTML page
    # Same-event grouping (search/grouping.py): the hit's group is named by
    # its leader's id; a leader carries the group's other articles (without
    # snippets). Ungrouped results: every hit its own group of one.
    group: str | None = None
    members: list[Hit] = field(default_factory=list)

    @property
    def group_size(self) -> int:
        return 1 + len(self.members)

    def lead(self, members: list[Hit]) -> None:
        """Make this hit the leader of its group, with ``members`` under it."""
        self.group = self.id
        self.members = members
        for member in members:
            member.group = self.id

    @classmethod
    def from_stored(cls, doc: dict, score: float | None, highlighter: Highlighter | None) -> Hit:
        """A hit from a stored article (Article.to_json); without a
        highlighter (CSV export) no snippet is made."""
        text = "\n".join(p for p in (doc.get("lead"), doc.get("body")) if p)
        marker = highlighter or Highlighter([])
        snippet = highlighter.snippet(text) if highlighter else ""
        return cls(
            id=doc["id"], title=doc["title"], url=doc.get("url"), author=doc.get("author"),
            category=doc.get("category"), source=doc.get("source"),
            published=doc.get("published"), snippet=snippet,
            score=round(score, 4) if score is not None else None,
            title_html=marker.mark(doc["title"]),
        )

    def to_json(self) -> dict:
        return {
            "id": self.id, "title": self.title, "url": self.url, "author": self.author,
            "category": self.category, "source": self.source, "published": self.published,
            "snippet": self.snippet, "score": self.score,
            "group": self.group or self.id, "group_size": self.group_size,
            "group_members": [member.to_json() for member in self.members],
        }


@dataclass
class FacetValue:
    value: str
    count: int


@dataclass
class SearchResult:
    query: str
    total: int
    page: int
    size: int
    took_ms: float
    hits: list[Hit] = field(default_factory=list)
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    filters: list[str] = field(default_factory=list)
    suggestion: str | None = None
    relaxed: bool = False  # no article had every word; showing those with most
    notes: list[str] = field(default_factory=list)  # for the reader, in Vietnamese
    # Some part of the archive did not answer (a cluster shard with no live
    # mirror): the hits, total and facets leave its articles out. Always
    # False on the embedded index.
    partial: bool = False
    missing_shards: list[int] = field(default_factory=list)  # which shards (-1: one that cannot be named)
    # Where the next page continues (the last hit's position), None on the
    # last page or where the backend has no cursors; the web layer signs it
    # into ``next_cursor`` (search/cursor.py).
    following: Position | None = None
    next_cursor: str | None = None
    # Matches shown inside a group rather than as hits (search/grouping.py):
    # the pages list total - grouped hits.
    grouped: int = 0

    @property
    def pages(self) -> int:
        return max(1, -(-(self.total - self.grouped) // self.size))

    def to_json(self) -> dict:
        return {
            "query": self.query, "total": self.total, "page": self.page, "size": self.size,
            "took_ms": round(self.took_ms, 2),
            "hits": [hit.to_json() for hit in self.hits],
            "facets": {name: [{"value": f.value, "count": f.count} for f in values]
                       for name, values in self.facets.items()},
            "filters": self.filters,
            "suggestion": self.suggestion,
            "relaxed": self.relaxed,
            "notes": self.notes,
            "partial": self.partial,
            "missing_shards": self.missing_shards,
            "next_cursor": self.next_cursor,
            "grouped": self.grouped,
        }


@dataclass
class Export:
    """Every match of a request, in its order (format=ndjson): how many, and
    the hits without snippets, in batches read from the index as they are
    iterated, so only one batch is held at a time."""
    total: int
    batches: Iterator[list[Hit]]
