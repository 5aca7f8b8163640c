"""Search URLs built from the current query string, so that every link keeps
the whole state (query, filters, sort, page) and every page can be shared."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import url_for
from werkzeug.datastructures import MultiDict

from search.request import FILTER_FIELDS

FILTER_PARAMS = (*FILTER_FIELDS, "from", "to")


def search_url(args, changes: dict | None = None, *, endpoint: str = "pages.search",
               external: bool = False, **more) -> str:
    """``args`` with ``changes`` applied: None removes a parameter, a list sets
    a repeated one, anything else sets one value. Empty values are dropped so
    URLs stay short. (``changes`` is a dict because ``from`` is a keyword.)"""
    params = MultiDict(args)
    for name, value in {**(changes or {}), **more}.items():
        if value is None:
            params.poplist(name)
        elif isinstance(value, (list, tuple)):
            params.setlist(name, [str(v) for v in value])
        else:
            params[name] = str(value)
    pairs = [(k, v) for k, v in params.items(multi=True) if v != ""]
    base = url_for(endpoint, _external=external)
    return base + ("?" + urlencode(pairs) if pairs else "")


def toggle_url(args, name: str, value: str) -> str:
    """Add a facet value to the filters, or remove it if already there;
    back to page 1 because the result set changes."""
    current = MultiDict(args).getlist(name)
    chosen = [v for v in current if v != value] if value in current else current + [value]
    return search_url(args, {name: chosen, "page": None})


def without_filters(args) -> str:
    return search_url(args, {name: None for name in (*FILTER_PARAMS, "page")})
