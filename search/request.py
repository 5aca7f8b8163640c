"""One search request, validated in one place for the CLI, HTML page and API.

Bad values raise ``BadRequest`` (code + message); the web layer turns it into
a 400, the CLI into an error line. The limits below are part of the API
contract: the OpenAPI document, the error messages and the page templates all
import them rather than repeat them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from indexer.records import VIETNAM

MAX_QUERY_CHARS = 1000  # longer queries are refused (400 query_too_long)
MAX_PAGE_SIZE = 100
MAX_RESULT_WINDOW = 10_000  # page * size beyond this is refused (400 page_too_deep)
MAX_FILTER_VALUES = 20
DEFAULT_PAGE_SIZE = 10
SORTS = ("relevance", "newest", "oldest")
# Exact-value filters, repeatable (any of the given values): query parameter
# -> the SearchRequest field holding its values.
FILTER_FIELDS = {"category": "categories", "author": "authors", "source": "sources"}


@dataclass(frozen=True)
class Position:
    """Where a cursor continues (search/cursor.py; search/ordering.py): after
    the article ``id`` whose sort key was ``value`` (relevance: its score;
    newest/oldest: its publication time as a Whoosh long, None if undated).
    ``depth`` is the page * size of the page that started the sequence: it
    decided whether a long query's relaxed matches count, and every page of
    the sequence keeps that decision. ``generation``: for relevance, the index
    generation the score belongs to (scores change when the index does)."""
    value: float | int | None
    id: str
    depth: int
    generation: int | None = None


class BadRequest(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
# A bare calendar day: as an end bound it means the whole of that day.
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_bound(value: str | None, name: str, end: bool) -> datetime | None:
    """A date or datetime in ISO 8601 or dd/mm/yyyy, as naive Vietnam time;
    a bare date as an end bound means the end of that day (inclusive)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        m = _VN_DATE.match(text)
        if m:
            day = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        elif _ISO_DAY.match(text):
            day = date.fromisoformat(text)
        else:
            moment = datetime.fromisoformat(text)  # "Z" included (Python 3.11+)
            if moment.tzinfo is not None:
                moment = moment.astimezone(VIETNAM).replace(tzinfo=None)
            return moment
    except ValueError:
        raise BadRequest("bad_date", f"'{name}' is not a date (use YYYY-MM-DD or dd/mm/yyyy): {text[:40]!r}") from None
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in Vietnam
        raise BadRequest("bad_date", f"'{name}' is out of range: it must stay within the years 1 to 9999 "
                                     f"in Vietnam time: {text[:40]!r}") from None
    if end:
        return datetime.combine(day, time.max)
    return datetime.combine(day, time.min)


def _int(value: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadRequest(f"bad_{name}", f"'{name}' must be a whole number, got {str(value)[:20]!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"bad_{name}", f"'{name}' must be {bound}, got {number}")
    return number


@dataclass
class SearchRequest:
    q: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    sort: str = "relevance"
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    facets: bool = True
    highlight: bool = True
    after: Position | None = None  # continue after this position (cursor=), instead of ``page``
    group: bool = True  # same-event grouping (search/grouping.py), unless group=off

    @property
    def grouped(self) -> bool:
        """Whether the results are grouped: cursor pages never are (grouping.py)."""
        return self.group and self.after is None

    @classmethod
    def from_params(cls, get: Callable[[str], str | None], getlist: Callable[[str], list[str]]) -> SearchRequest:
        """From query parameters: ``get(name)`` and ``getlist(name)`` (for a web
        request, ``request.args.get`` and ``request.args.getlist``)."""
        q = get("q") or ""
        if len(q) > MAX_QUERY_CHARS:
            raise BadRequest("query_too_long", f"the query is {len(q):,} characters; the limit is {MAX_QUERY_CHARS:,}")
        sort = (get("sort") or "relevance").strip()
        if sort not in SORTS:
            raise BadRequest("bad_sort", f"'sort' must be one of {', '.join(SORTS)}")
        size = _int(get("size"), "size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        page = _int(get("page"), "page", 1, 1, None)
        if page * size > MAX_RESULT_WINDOW:
            raise BadRequest("page_too_deep",
                             f"page * size may be at most {MAX_RESULT_WINDOW:,}; narrow the search or use filters")
        date_from = parse_bound(get("from"), "from", end=False)
        date_to = parse_bound(get("to"), "to", end=True)
        filters: dict[str, Any] = {
            field_name: _values(getlist(name), name) for name, field_name in FILTER_FIELDS.items()}
        request = cls(
            q=q, sort=sort, page=page, size=size,
            date_from=date_from,
            date_to=date_to,
            **filters,
            facets=(get("facets") or "true").lower() not in ("0", "false", "no"),
            group=_switch(get("group"), "group", True),
        )
        if request.date_from and request.date_to and request.date_from > request.date_to:
            raise BadRequest("bad_date", "'from' is after 'to'")
        return request

    def filter_descriptions(self) -> list[str]:
        """The filters in words, for the page and the API ("chuyên mục: Thể thao")."""
        parts = []
        if self.categories:
            parts.append("chuyên mục: " + ", ".join(self.categories))
        if self.authors:
            parts.append("tác giả: " + ", ".join(self.authors))
        if self.sources:
            parts.append("nguồn: " + ", ".join(self.sources))
        if self.date_from:
            parts.append(f"từ {self.date_from:%d/%m/%Y}")
        if self.date_to:
            parts.append(f"đến {self.date_to:%d/%m/%Y}")
        return parts


_ON, _OFF = ("on", "true", "1", "yes"), ("off", "false", "0", "no")
SWITCH_VALUES = (*_ON, *_OFF)  # what a switch parameter (group=) accepts, in any case


def _switch(value: str | None, name: str, default: bool) -> bool:
    """on/off (or true/false, 1/0, yes/no); anything else is refused, so a
    typo does not silently keep the default."""
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in _ON or text in _OFF:
        return text in _ON
    raise BadRequest(f"bad_{name}", f"'{name}' must be on or off, got {value[:20]!r}")


def _values(values: Iterable[str] | None, name: str) -> list[str]:
    cleaned = [v.strip() for v in values or [] if v and v.strip()]
    if len(cleaned) > MAX_FILTER_VALUES:
        raise BadRequest(f"bad_{name}", f"at most {MAX_FILTER_VALUES} '{name}' values")
    return list(dict.fromkeys(cleaned))
