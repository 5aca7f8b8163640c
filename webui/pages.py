"""The Vietnamese HTML pages: search (with facets, chart, pagination) and
article. They render the same SearchResult the JSON API returns; all state
lives in the URL, and nothing needs JavaScript."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, render_template, request

from indexer.records import VIETNAM, RecordError, parse_published
from search.compiler import highlight_words
from search.events import DATE_WINDOW_DAYS
from search.highlight import Highlighter
from search.request import MAX_QUERY_CHARS, MAX_RESULT_WINDOW, SearchRequest
from search.result import Hit
from webui import chart, urls
from webui.context import engine

blueprint = Blueprint("pages", __name__)

SORT_LABELS = {"relevance": "Liên quan nhất", "newest": "Mới nhất", "oldest": "Cũ nhất"}
FACET_LABELS = {"category": "Chuyên mục", "author": "Tác giả", "source": "Nguồn"}
PAGE_WINDOW = 2  # page links shown either side of the current page
SAME_AUTHOR = 5  # the author's latest other articles under an article
_NOT_A_WORD = re.compile(r"[^\w]+")  # what a headline loses to become a plain query (no operators, scopes)


@dataclass
class FacetLink:
    value: str
    count: int
    selected: bool
    url: str


@blueprint.get("/")
def search():
    wanted = SearchRequest.from_params(request.args.get, request.args.getlist)
    result = engine().search(wanted)
    args = request.args
    return render_template(
        "search.html", result=result, wanted=wanted, args=args,
        browsing=not wanted.q.strip(),
        facets={name: _facet_links(args, name, result.facets.get(name, []))
                for name in FACET_LABELS},
        facet_labels=FACET_LABELS, sort_labels=SORT_LABELS,
        chart=chart.coverage(result.facets),
        pages=_page_numbers(result.page, _last_page(result)), last_page=_last_page(result),
        first_number=(result.page - 1) * result.size + 1,
        date_from=wanted.date_from.date().isoformat() if wanted.date_from else "",
        date_to=wanted.date_to.date().isoformat() if wanted.date_to else "",
        csv_url=urls.search_url(args, {"format": "csv", "page": None}, endpoint="api.search"),
        atom_url=urls.search_url(args, {"format": "atom", "page": None}, endpoint="api.search"),
    )


@blueprint.get("/articles/<path:article_id>")
def article(article_id: str):
    found = engine().get(article_id)
    if found is None:
        abort(404)
    q = (request.args.get("q") or "")[:MAX_QUERY_CHARS]  # the search that led here: its words are marked
    return render_template("article.html", article=found, q=q.strip(),
                           marker=Highlighter(highlight_words(q)) if q.strip() else None,
                           related=engine().related(article_id) or [],
                           same_author=_same_author(found), same_event=_same_event(found))


def _same_author(found: dict) -> list:
    """The author's latest other articles, newest first."""
    if not found.get("author"):
        return []
    latest = engine().search(SearchRequest(authors=[found["author"]], sort="newest", size=SAME_AUTHOR + 1,
                                           facets=False, highlight=False))
    return [hit for hit in latest.hits if hit.id != found.get("id")][:SAME_AUTHOR]


def _same_event(found: dict) -> list[Hit]:
    """The other articles of the article's event: its group when its own
    headline is searched among the articles of the days around it, as a
    results page groups them (search/grouping.py), on any backend."""
    words = _NOT_A_WORD.sub(" ", found.get("title") or "").lower().split()  # "OR", "-x", "title:" are operators
    if not words:
        return []
    wanted = SearchRequest(q=" ".join(words), facets=False, highlight=False)
    try:
        published = parse_published(found.get("published"))
    except RecordError:
        published = None
    if published is not None:
        local = published.astimezone(VIETNAM).replace(tzinfo=None)
        window = timedelta(days=DATE_WINDOW_DAYS)
        wanted.date_from, wanted.date_to = local - window, local + window
    for hit in engine().search(wanted).hits:
        group = [hit, *hit.members]
        if any(member.id == found.get("id") for member in group):
            return [member for member in group if member.id != found.get("id")]
    return []


def _facet_links(args, name: str, values) -> list[FacetLink]:
    chosen = args.getlist(name)
    links = [FacetLink(v.value, v.count, v.value in chosen, urls.toggle_url(args, name, v.value))
             for v in values]
    # A chosen value always shows (with its remove link), even past the top 20.
    shown = {link.value for link in links}
    links += [FacetLink(v, 0, True, urls.toggle_url(args, name, v))
              for v in chosen if v not in shown]
    return links


def _last_page(result) -> int:
    return max(1, min(result.pages, MAX_RESULT_WINDOW // result.size))


def _page_numbers(current: int, last: int) -> list[int | None]:
    """1 … 4 5 [6] 7 8 … 20 (None is a gap)."""
    wanted = {1, last, *range(current - PAGE_WINDOW, current + PAGE_WINDOW + 1)}
    numbers = sorted(n for n in wanted if 1 <= n <= last)
    shown: list[int | None] = []
    for number in numbers:
        if shown and number - shown[-1] > 1:
            shown.append(None)
        shown.append(number)
    return shown
