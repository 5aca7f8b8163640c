"""The one result object that the CLI, the HTML page and the JSON API render.

Every fact a reader sees on the page is in ``to_json`` too, so API clients
and readers are told the same things (e.g. that words were dropped)."""

from __future__ import annotations

from dataclasses import dataclass, field

# What the page and the terminal say when ``relaxed`` is true.
RELAXED_NOTE = "Không có bài nào chứa tất cả các từ; đang hiển thị những bài chứa nhiều từ nhất."


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

    def to_json(self) -> dict:
        return {
            "id": self.id, "title": self.title, "url": self.url, "author": self.author,
            "category": self.category, "source": self.source, "published": self.published,
            "snippet": self.snippet, "score": self.score,
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

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

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
        }
