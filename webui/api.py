"""The JSON API (documented by webui/openapi.py, which serves /api/openapi.json).

Reads are public; writes need ``Authorization: Bearer <VNSEARCH_API_TOKEN>``.
Every failure goes through webui/errors.py, so clients see one error shape.
"""

from __future__ import annotations

import dataclasses
import hmac
import json

from flask import Blueprint, current_app, jsonify, request

from search.autocomplete import MAX_COMPLETIONS
from search.request import MAX_QUERY_CHARS, BadRequest, SearchRequest
from webui import exports, feeds, urls
from webui.context import engine
from webui.errors import ApiError

blueprint = Blueprint("api", __name__)

FORMATS = ("json", "csv", "atom", "ndjson")
RELATED_DEFAULT, RELATED_MAX = 5, 20


@blueprint.get("/api/search")
def search():
    output = (request.args.get("format") or "").strip() or "json"
    if output not in FORMATS:
        raise ApiError(400, "bad_format", f"'format' must be one of {', '.join(FORMATS)}")
    wanted = SearchRequest.from_params(request.args.get, request.args.getlist)
    wanted = exports.continued(wanted, request.args.get("cursor"), output)
    if output == "ndjson":
        return exports.ndjson_response(wanted)  # every match, streamed
    if output == "csv":
        # An export: the first CSV_ROWS matches in the requested order, no facets.
        wanted = dataclasses.replace(wanted, page=1, size=feeds.CSV_ROWS, facets=False,
                                     highlight=False, group=False)
        return feeds.csv_response(engine().search(wanted))
    if output == "atom":
        wanted = dataclasses.replace(wanted, sort="newest", facets=False, group=False)
        result = engine().search(wanted)
        return feeds.atom_response(result, self_url=request.url,
                                   page_url=urls.search_url(request.args, external=True, format=None))
    return jsonify(exports.sign(engine().search(wanted), wanted).to_json())


@blueprint.get("/api/articles/<path:article_id>")
def article(article_id: str):
    found = engine().get(article_id)
    if found is None:
        raise _unknown(article_id)
    return jsonify(found)


@blueprint.get("/api/articles/<path:article_id>/related")
def related(article_id: str):
    limit = _limit(request.args.get("limit"))
    hits = engine().related(article_id, limit=limit)
    if hits is None:
        raise _unknown(article_id)
    return jsonify({"id": article_id, "hits": [hit.to_json() for hit in hits]})


@blueprint.get("/api/suggest")
def suggest():
    """Search as you type: completions of ``q`` (search/autocomplete.py)."""
    typed = request.args.get("q") or ""
    if len(typed) > MAX_QUERY_CHARS:  # the same limit, and answer, as a search
        raise BadRequest("query_too_long",
                         f"the query is {len(typed):,} characters; the limit is {MAX_QUERY_CHARS:,}")
    limit = _whole_number(request.args.get("limit"), "limit", MAX_COMPLETIONS, MAX_COMPLETIONS)
    completions = engine().complete(typed, limit=limit)
    return jsonify({"query": typed, "suggestions": [c.to_json() for c in completions]})


@blueprint.get("/api/stats")
def stats():
    data = engine().stats()
    data.pop("index", None)  # a server path is nobody else's business
    return jsonify(data)


@blueprint.get("/healthz")
def healthz():
    # The backend's own check: a real (tiny) search on Whoosh; on a cluster
    # also each shard's mirrors ("degraded": a shard has none alive).
    return jsonify(engine().health())


@blueprint.post("/api/articles")
def add_articles():
    _authorize()
    records = _json_body()
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list) or not records:
        raise ApiError(400, "bad_article", "send one article object or a non-empty list of them")
    summary = engine().add(records)
    if not (summary.added or summary.replaced):
        raise ApiError(400, "bad_article", "; ".join(summary.problems[:10]) or "nothing to add")
    body = {"added": summary.added, "replaced": summary.replaced,
            "rejected": summary.rejected, "problems": summary.problems}
    return jsonify(body), 201 if summary.added else 200


@blueprint.delete("/api/articles/<path:article_id>")
def delete_article(article_id: str):
    _authorize()
    deleted, _unknown_ids = engine().delete([article_id])
    if not deleted:
        raise _unknown(article_id)
    return jsonify({"deleted": deleted})


# -- helpers -----------------------------------------------------------------
def _unknown(article_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no article with id {article_id[:200]!r}")


def _limit(value) -> int:
    if value in (None, ""):
        return RELATED_DEFAULT
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= RELATED_MAX:
        raise ApiError(400, "bad_limit", f"'limit' must be a whole number from 1 to {RELATED_MAX}")
    return number


def _whole_number(value, name: str, default: int, maximum: int) -> int:
    """A parameter from 1 to ``maximum`` (400 bad_<name> otherwise); empty: ``default``."""
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = 0
    if not 1 <= number <= maximum:
        raise ApiError(400, f"bad_{name}", f"'{name}' must be a whole number from 1 to {maximum}")
    return number


def _authorize() -> None:
    token = current_app.config.get("API_TOKEN") or ""
    if not token:
        raise ApiError(403, "writes_disabled",
                       "writes are disabled: the server has no VNSEARCH_API_TOKEN configured")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    # compare_digest: the time taken must not reveal how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>' with the right token",
                       {"WWW-Authenticate": 'Bearer realm="vnsearch"'})


def _json_body():
    data = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", "the request body is not valid UTF-8 JSON") from None
    if _has_lone_surrogate(payload):
        # JSON may spell "\ud800"; such text cannot be stored as UTF-8.
        raise ApiError(400, "bad_article", "text contains an unpaired UTF-16 surrogate escape")
    return payload


def _has_lone_surrogate(payload) -> bool:
    stack = [payload]  # iterative: deep nesting must not overflow our stack
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")  # C speed, unlike a per-character scan
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
