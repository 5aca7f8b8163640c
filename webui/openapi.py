"""The API contract as OpenAPI 3.1, and the route that serves it at
/api/openapi.json.

Written in Python rather than as a static file so the limits, facet names and
settings it states are the ones the code uses (they are imported, not
copied). The test suite checks real responses against these schemas and
fails when a route exists that this document does not describe.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from indexer.records import MAX_FIGURES
from search.autocomplete import MAX_COMPLETIONS
from search.cursor import MAX_CURSOR_CHARS
from search.engine import EXPORT_BATCH
from search.facets import FACETS
from search.grouping import GROUP_WINDOW
from search.request import (
    DEFAULT_PAGE_SIZE,
    FILTER_FIELDS,
    MAX_FILTER_VALUES,
    MAX_PAGE_SIZE,
    MAX_QUERY_CHARS,
    MAX_RESULT_WINDOW,
    SORTS,
    SWITCH_VALUES,
)
from webui.api import FORMATS, RELATED_DEFAULT, RELATED_MAX
from webui.exports import EXPORT_STREAMS, NDJSON
from webui.feeds import CSV_COLUMNS, CSV_ROWS
from webui.settings import MAX_BODY_BYTES, SETTINGS

blueprint = Blueprint("openapi", __name__)

NULLABLE_STRING = {"type": ["string", "null"]}
# What the server parses as a date: an RFC 3339 date or date-time. It also
# takes dd/mm/yyyy and an ISO datetime without an offset (Vietnam time); the
# descriptions say so.
DATE_OR_DATETIME = {"anyOf": [{"format": "date"}, {"format": "date-time"}]}
TEXT_FIELDS = ("title", "lead", "body")  # an article needs one of them, not blank


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


FIGURE = {"type": "object", "properties": {"image": {"type": "string", "pattern": "\\S"},
                                          "caption": NULLABLE_STRING},
          "required": ["image"]}
ARTICLE_KEYS = ("id", "title", "body", "lead", "author", "category", "source", "published", "url", "tags",
                "captions", "images", "title_derived")


def _obj(properties: dict, required=None, extra=False) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": extra}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


SCHEMAS = {
    "Error": _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"}})}),
    "Hit": _obj({
        "id": {"type": "string"}, "title": {"type": "string"}, "url": NULLABLE_STRING,
        "author": NULLABLE_STRING, "category": NULLABLE_STRING, "source": NULLABLE_STRING,
        "published": {"type": ["string", "null"], "format": "date-time",
                      "description": "ISO 8601 with the +07:00 offset"},
        "snippet": {"type": "string", "description": "escaped HTML; the only markup is <mark>"},
        "score": {"type": ["number", "null"], "description": "null when sorted by date"},
        "group": {"type": "string", "description": (
            "the same-event group of the hit: its leader's id (the hit's own id when it leads its group, "
            "and for every hit when results are not grouped)")},
        "group_size": {"type": "integer", "minimum": 1, "description": (
            "articles in the group: the hit and its group_members")},
        "group_members": {"type": "array", "items": _ref("Hit"), "maxItems": GROUP_WINDOW, "description": (
            "the group's other articles, best-ranked first, each a Hit without snippet (and without "
            "members of its own); empty when the hit is alone or results are not grouped")},
    }),
    "FacetValue": _obj({"value": {"type": "string"}, "count": {"type": "integer", "minimum": 1}}),
    "SearchResult": _obj({
        "query": {"type": "string"}, "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1}, "size": {"type": "integer", "minimum": 1},
        "took_ms": {"type": "number"},
        "hits": {"type": "array", "items": _ref("Hit")},
        "facets": _obj({name: {"type": "array", "items": _ref("FacetValue")}
                        for name in FACETS},
                       required=[]),
        "filters": {"type": "array", "items": {"type": "string"},
                    "description": "the filters in Vietnamese words, e.g. 'chuyên mục: Thể thao'"},
        "suggestion": {"type": ["string", "null"], "description": "a likely intended query"},
        "relaxed": {"type": "boolean", "description": (
            "true when no article has every word of the query, so the hits are the articles "
            "with most of them")},
        "notes": {"type": "array", "items": {"type": "string"}, "description": (
            "what the reader should know about how the query was read, in Vietnamese (e.g. "
            "that words beyond the limit were ignored); the HTML page shows the same notes")},
        "partial": {"type": "boolean", "description": (
            "true when part of the archive did not answer (on a Sphinx cluster, a shard with no live "
            "mirror): hits, total and facets leave its articles out, and the HTML page says so. Always "
            "false on the embedded Whoosh index")},
        "missing_shards": {"type": "array", "items": {"type": "integer"}, "description": (
            "which shards are missing when partial (-1: one that could not be named); empty otherwise")},
        "next_cursor": {"type": ["string", "null"], "description": (
            "the page after this one: pass it as 'cursor' with the same q, filters, sort and size (and no "
            "'page'). null on the last page, on grouped results (cursor paging needs group=off) and always "
            "on a Sphinx cluster")},
        "grouped": {"type": "integer", "minimum": 0, "description": (
            "matches shown in a hit's group_members rather than as hits of their own (0 when results are "
            "not grouped); the pages hold total - grouped hits")},
    }),
    "Article": _obj({
        "id": {"type": "string"}, "title": {"type": "string"}, "body": {"type": "string"},
        "lead": NULLABLE_STRING, "author": NULLABLE_STRING, "category": NULLABLE_STRING,
        "source": NULLABLE_STRING, "published": {"type": ["string", "null"], "format": "date-time"},
        "url": NULLABLE_STRING,
        "tags": {"type": "array", "items": {"type": "string"}},
        "captions": {"type": "array", "items": {"type": "string"}},
        "images": {"type": "array", "items": {"type": "string"}},
        "title_derived": {"type": "boolean", "description": "title made from the first sentence"},
        "figures": {"type": "array", "items": FIGURE, "description": (
            "each image with its caption (null: none), in order, where the pairing is known (a scraped "
            "file, the record's own figures, or images and captions of the same length); empty when it is "
            "not; absent from articles indexed before it existed")},
    }, required=[*ARTICLE_KEYS]),
    "ArticleInput": {
        **_obj({
            "id": {"type": ["string", "null"], "maxLength": 200, "not": {"pattern": "[\\u0000\\t\\n\\r]"},
                   "description": "at most 200 characters, no tab, newline or NUL; without one (or blank), "
                                  "one is derived from the url (or the text), so posting the same article "
                                  "again replaces it"},
            **{k: NULLABLE_STRING for k in ("title", "lead", "body", "author", "category", "source", "url")},
            "published": {"type": ["string", "null"], **DATE_OR_DATETIME, "description": (
                "ISO 8601 date or datetime; without an offset it is Vietnam time. It must stay within the "
                "years 1 to 9999 once moved to Vietnam time")},
            **{k: {"type": ["array", "string", "null"], "items": {"type": "string"},
                   "description": "a list of strings (one string is a list of one)"}
               for k in ("tags", "captions", "images")},
            "figures": {"type": ["array", "null"], "items": FIGURE, "maxItems": MAX_FIGURES, "description": (
                "each image file name with its caption (null: none), in order; it fills images and "
                "captions, which may be left out (given too, they must be those of the figures, as in an "
                "article the API returns)")}},
            required=[], extra=True),
        # null or "" is the same as leaving a field out; other properties are ignored
        "anyOf": [{"required": [k], "properties": {k: {"type": "string", "pattern": "\\S"}}} for k in TEXT_FIELDS],
        "description": "needs at least one of title, lead, body that is not blank; other properties are ignored",
    },
    "Related": _obj({"id": {"type": "string"}, "hits": {"type": "array", "items": _ref("Hit")}}),
    "Stats": _obj({
        "documents": {"type": "integer"}, "segments": {"type": "integer"},
        "size_bytes": {"type": "integer"}, "fields": {"type": "array", "items": {"type": "string"}},
        "last_update": {"type": "string", "format": "date-time"},
        "facets": {"type": "object", "additionalProperties": {
            "type": "array", "items": _ref("FacetValue")}},
    }, extra=True),
    "Health": _obj({
        "status": {"type": "string", "enum": ["ok", "degraded"], "description": (
            "degraded: a shard of the Sphinx cluster has no live mirror, so every result is partial")},
        "documents": {"type": "integer"},
        "backend": {"type": "string", "enum": ["sphinx"], "description": "present on a Sphinx cluster"},
        "shards": {"type": "integer"}, "mirrors": {"type": "integer", "description": "per shard"},
        "missing_shards": {"type": "array", "items": {"type": "integer"}},
        "nodes": {"type": "array", "items": _obj({
            "name": {"type": "string"}, "shard": {"type": "integer"}, "mirror": {"type": "integer"},
            "up": {"type": "boolean"}})},
    }, required=["status", "documents"]),
    "WriteSummary": _obj({
        "added": {"type": "integer"}, "replaced": {"type": "integer"},
        "rejected": {"type": "integer"},
        "problems": {"type": "array", "items": {"type": "string"},
                     "description": "one line per rejected record, naming its position"},
    }),
    "Deleted": _obj({"deleted": {"type": "array", "items": {"type": "string"}}}),
    "Suggestions": _obj({
        "query": {"type": "string", "description": "q as received"},
        "suggestions": {"type": "array", "maxItems": MAX_COMPLETIONS, "items": _obj({
            "text": {"type": "string", "description": "the completion, as the archive writes it (accents "
                                                      "restored): put it in the search box"},
            "html": {"type": "string", "description": "the same text, escaped HTML, with the typed part in "
                                                      "<mark> (the only markup)"},
        }), "description": "most used first (recent articles count more); empty when nothing completes q"},
    }),
}

ERROR_TEXT = {
    400: "bad parameter or body (codes: bad_date, bad_size, bad_page, page_too_deep, "
         "query_too_long, bad_sort, bad_author, bad_category, bad_source, bad_format, "
         "bad_limit, bad_json, bad_article, bad_cursor, cursor_expired, cursor_unsupported, "
         "format_unsupported). A date is bad when it cannot be read, when 'from' is after "
         "'to', or when it leaves the years 1 to 9999 once moved to Vietnam time. A cursor is bad when it was "
         "changed or cut short, made for another search (q, filters, sort, size) or under another "
         "VNSEARCH_CURSOR_SECRET (or before a restart without one), given with a page other than 1 (bad_page) "
         "or with a format other than json; a relevance cursor has expired once the index changed",
    401: "missing or wrong bearer token (code unauthorized)",
    403: "writes are disabled: no VNSEARCH_API_TOKEN configured (code writes_disabled)",
    404: "unknown article id or path (code not_found)",
    405: "method not allowed on this path (code method_not_allowed)",
    413: f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MB (code body_too_large); under "
         f"vnsearch serve, bodies over {2 * MAX_BODY_BYTES // (1024 * 1024)} MB are refused by "
         "waitress itself, before buffering, with a plain-text 413",
    500: "unexpected server error, logged (code internal_error); no stack trace is sent",
    503: "the search passed its deadline (VNSEARCH_DEADLINE, 2 s by default, waiting included) and was "
         "stopped (code search_timeout, with Retry-After); format=ndjson while this server process already "
         f"streams {EXPORT_STREAMS} exports (export_busy, with Retry-After); no usable index yet, or it is busy (codes "
         "index_missing, index_busy, index_problem); on a Sphinx "
         "cluster: it does not answer (cluster_unavailable, cluster_error), an article's shard has no live "
         "mirror (cluster_partial), or writes are not configured (writes_unconfigured, cluster_misconfigured)",
    507: "the disk filled during the write; nothing was committed and the index keeps its last commit "
         "(code insufficient_storage)",
}


def _param(name: str, schema: dict, description: str, **more) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description, **more}


ID_PARAM = {"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "article id (may contain '/'; GET of an id that ends in '/related' reads the "
                           "related articles of the id before it)"}

SEARCH_PARAMS = [
    _param("q", {"type": "string", "maxLength": MAX_QUERY_CHARS},
           "query: words (accents optional), \"phrases\", -exclusions, OR, ( ), title:/author:/"
           "category:/source: scopes; empty browses newest first"),
    _param("from", {"type": "string", **DATE_OR_DATETIME},
           "earliest date: YYYY-MM-DD, an ISO datetime (without an offset: Vietnam time) or dd/mm/yyyy"),
    _param("to", {"type": "string", **DATE_OR_DATETIME},
           "latest date, in the same forms (a bare date includes the whole day); not before 'from'"),
    *[_param(name, {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FILTER_VALUES},
             f"exact {name}; repeat for several (any of them)", style="form", explode=True)
      for name in FILTER_FIELDS],
    _param("sort", {"type": "string", "enum": list(SORTS), "default": "relevance"}, "order"),
    _param("page", {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_WINDOW, "default": 1},
           f"page number; page*size may be at most {MAX_RESULT_WINDOW} (to go deeper, follow next_cursor); "
           "not with 'cursor'"),
    _param("size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
           "results per page"),
    _param("facets", {"type": "string", "default": "true", "examples": ["true", "false"]},
           "false, 0 or no (any case) skips facet counts (faster; 'facets' is then {}); any other value "
           "counts them"),
    _param("group", {"type": "string", "default": "on", "enum": list(SWITCH_VALUES)}, (
        f"same-event grouping: the first {GROUP_WINDOW} ranked matches are grouped by event (articles that "
        "report the same event, read from their titles, leads and dates); each page lists 'size' groups, "
        "led by their best-ranked article, with the others in group_members. off: every match is a hit of "
        "its own. Cursor pages (cursor=) and the csv, atom and ndjson formats are never grouped")),
    _param("cursor", {"type": "string", "maxLength": MAX_CURSOR_CHARS}, (
        "continue after the last hit of an earlier page: its next_cursor, sent with the same q, filters, sort "
        "and size, without 'page'. There is no page*size limit. Results are ordered by score or publication "
        "time, equal ones by a hash of the article id, so the order does not depend on how the index is "
        "stored. The cursor is opaque and signed (HMAC-SHA256): one changed, cut short, made for another "
        "search or by a server with another secret is refused (400 bad_cursor). How long it stays valid: no "
        "time limit, as long as the server's secret (VNSEARCH_CURSOR_SECRET; unset, until the server "
        "restarts). Sorted by date (newest, oldest, and an empty query), it continues in any later state of "
        "the index: every article whose publication time did not change in between is returned exactly once "
        "over the pages; one added (or re-dated) before the cursor's position is not shown, after it is; a "
        "deleted one is not. Sorted by relevance, scores depend on the whole archive, so the cursor continues "
        "only in the index generation it was made in; after a write or merge (visible within about a second) "
        "it is refused with 400 cursor_expired, rather than repeat or skip articles: start again, or sort by "
        "date. A cursor keeps the match set of the page that started it (whether a long query's relaxed "
        "matches count). Only with format=json; not on a Sphinx cluster (400 cursor_unsupported)")),
    _param("format", {"type": "string", "enum": list(FORMATS), "default": "json"},
           f"csv: the first {CSV_ROWS:,} matches as a UTF-8 CSV (with BOM) with columns "
           f"{', '.join(CSV_COLUMNS)}, page and size ignored, cells that a spreadsheet would run "
           "as a formula prefixed with an apostrophe. atom: an Atom 1.0 feed of the page, newest first. "
           f"ndjson ({NDJSON}): every match, one Hit object per line (snippet empty), in the requested "
           "order with the filters applied, streamed without Content-Length; X-Total-Count says how many "
           "lines come. page and size are ignored, but for the match set, which is the first page's (a long "
           "query's relaxed matches count when its full matches do not fill 'size'). The lines come from one "
           f"commit of the index, read {EXPORT_BATCH} articles at a time; at most {EXPORT_STREAMS} exports "
           "stream at once per server process (503 export_busy). A failure after the first line ends the "
           'stream with one line {"error": {"code": ..., "message": ...}}. Not on a Sphinx cluster (400 '
           "format_unsupported)"),
]


def _paths() -> dict:
    return {
        "/api/search": {"get": {
            "summary": "Search articles", "parameters": SEARCH_PARAMS,
            "responses": {"200": {
                "description": "one page of results (format=ndjson: every match)",
                "headers": {"X-Total-Count": {"schema": {"type": "integer", "minimum": 0}, "description": (
                    "format=csv and ndjson: how many articles match (ndjson: how many lines follow)")}},
                "content": {
                    "application/json": {"schema": _ref("SearchResult")},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/atom+xml": {"schema": {"type": "string"}},
                    NDJSON: {"schema": {"type": "string"}, "description": (
                        "one JSON object per line: a Hit (see components), or, last, an Error")}}},
                **_errors(400, 503)}}},
        "/api/articles": {"post": {
            "summary": "Add or replace articles (upsert)", "security": [{"bearer": []}],
            "description": (
                "A list is taken record by record: records that break ArticleInput are left out, counted in "
                "'rejected' and named in 'problems', and the others are written (200 or 201). Only when no "
                "record can be written is the answer 400 (bad_article). A body that is not JSON, holds an "
                "unpaired UTF-16 surrogate escape, or has a 'published' date out of range is refused whole "
                "(400). The body is read as JSON whatever its Content-Type."),
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "oneOf": [_ref("ArticleInput"), {"type": "array", "minItems": 1,
                                                  "items": _ref("ArticleInput")}]}}}},
            "responses": {"201": _json(_ref("WriteSummary"), "at least one article was new"),
                          "200": _json(_ref("WriteSummary"), "all valid articles replaced old versions"),
                          **_errors(400, 401, 403, 413, 503, 507)}}},
        "/api/articles/{article_id}": {
            "get": {"summary": "One full article", "parameters": [ID_PARAM],
                    "responses": {"200": _json(_ref("Article"), "the article"), **_errors(404, 503)}},
            "delete": {"summary": "Delete an article", "parameters": [ID_PARAM],
                       "security": [{"bearer": []}],
                       "responses": {"200": _json(_ref("Deleted"), "deleted"),
                                     **_errors(401, 403, 404, 503, 507)}}},
        "/api/articles/{article_id}/related": {"get": {
            "summary": "Articles like this one",
            "parameters": [ID_PARAM, _param("limit", {"type": "integer", "minimum": 1,
                                                      "maximum": RELATED_MAX,
                                                      "default": RELATED_DEFAULT}, "how many")],
            "responses": {"200": _json(_ref("Related"), "related articles"), **_errors(400, 404, 503)}}},
        "/api/suggest": {"get": {
            "summary": "Search as you type: completions of a search being typed",
            "description": (
                f"Up to {MAX_COMPLETIONS} completions of q drawn from the archive's headlines and leads: "
                "phrases (compound words, names, set phrases: 'bi thu thanh u' -> 'Bí thư Thành ủy') and "
                "headlines, each as the archive writes it, so accents are restored. q is read as a search "
                "reads it: with or without accents, NFC or NFD, either tone placement; its last word may be "
                "incomplete (unless q ends with a space). Ranked by how many articles use them, recent ones "
                "counting more. Built per index generation in the background: a write shows within seconds. "
                "On a Sphinx cluster the list is always empty"),
            "parameters": [
                _param("q", {"type": "string", "maxLength": MAX_QUERY_CHARS}, "the text typed so far"),
                _param("limit", {"type": "integer", "minimum": 1, "maximum": MAX_COMPLETIONS,
                                 "default": MAX_COMPLETIONS}, "how many at most"),
            ],
            "responses": {"200": _json(_ref("Suggestions"), "completions"), **_errors(400, 503)}}},
        "/api/stats": {"get": {"summary": "Index statistics",
                               "responses": {"200": _json(_ref("Stats"), "statistics"), **_errors(503)}}},
        "/api/openapi.json": {"get": {"summary": "This document",
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        "/healthz": {"get": {"summary": "Liveness: the index opens and answers a search (on a Sphinx cluster, "
                                        "also each shard's mirrors)",
                             "responses": {"200": _json(_ref("Health"), "ok"), **_errors(503)}}},
    }


# Headers the error answers carry, as the error handler (webui/errors.py) sets them.
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                               "description": 'Bearer realm="vnsearch"'}},
    503: {"Retry-After": {"schema": {"type": "integer", "minimum": 0},
                          "description": "seconds; sent with search_timeout, index_busy, export_busy and the "
                                         "cluster codes"}},
}


def _error_response(status: int, text: str) -> dict:
    response = _json(_ref("Error"), text)
    if status in ERROR_HEADERS:
        response["headers"] = ERROR_HEADERS[status]
    if status == 413:  # waitress's own answer to a body it refuses before buffering it
        response["content"]["text/plain"] = {"schema": {"type": "string"}}
    return response


@blueprint.get("/api/openapi.json")
def serve_document():
    """The document as JSON (public, like every GET of the API)."""
    return jsonify(document())


def document() -> dict:
    settings = "; ".join(f"{env} ({text})" for env, _, _, _, text in SETTINGS)
    return {
        "openapi": "3.1.0",
        "info": {"title": "vnsearch API", "version": "1", "description": (
            "Search a Vietnamese news archive. Every error, whatever the status, has the body "
            '{"error": {"code": "...", "message": "..."}} (but see 413). Query parameters are read '
            "leniently, as an HTML form sends them: an empty one is the same as an absent one, surrounding "
            "spaces are ignored, and so are unknown parameters. GET endpoints send "
            "Access-Control-Allow-Origin: *. Writes need 'Authorization: Bearer <token>' and are "
            "visible to searches within about a second. Server settings (environment): "
            f"{settings}.")},
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"E{status}": _error_response(status, text) for status, text in ERROR_TEXT.items()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
