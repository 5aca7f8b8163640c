"""Cursor paging and the full export of /api/search (webui/api.py calls these).

* ``continued``: ``cursor=`` makes a request continue after the position the
  cursor holds (signed by search/cursor.py; ordered and stable as
  search/engine.py says), instead of at ``page``.
* ``sign``: a result's next position as ``next_cursor``.
* ``ndjson_response``: every match, one JSON hit per line, streamed. The
  order is computed once (document numbers, 8-12 bytes a match); the hits
  are read EXPORT_BATCH at a time as waitress sends them, so a stream holds
  one batch of hits, and waitress's output buffer holds what a slow client
  has yet to read (its ``outbuf_high_watermark``, 16 MB, pauses the stream).
  At most EXPORT_STREAMS streams run at once per server process (each holds
  a server thread for as long as it streams); another is answered 503
  ``export_busy``. A failure after the first line (a damaged stored article,
  say) ends the stream with one line ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator

from flask import Flask, Response, current_app, request

from search.request import BadRequest, SearchRequest
from search.result import Export, SearchResult
from webui.context import cursors, engine
from webui.errors import ApiError, classify

NDJSON = "application/x-ndjson"
EXPORT_STREAMS = 2  # exports streaming at once per server process
STREAMS_KEY = "vnsearch.export_streams"  # their semaphore in app.extensions, made by each process
_STREAMS_LOCK = threading.Lock()


def continued(wanted: SearchRequest, cursor: str | None, output: str) -> SearchRequest:
    """``wanted``, continuing after ``cursor`` when one is given."""
    token = (cursor or "").strip()
    if not token:
        return wanted
    if output != "json":
        raise BadRequest("bad_cursor", "'cursor' continues the pages of format=json; csv, atom and ndjson "
                                       "start from the first match")
    if not engine().cursor_paging:
        raise BadRequest("cursor_unsupported", "'cursor' is not available on this server's backend (a Sphinx "
                                               "cluster ranks only its best candidates); use 'page'")
    if wanted.page != 1:
        raise BadRequest("bad_page", "'page' cannot be combined with 'cursor': the cursor says where the page starts")
    return dataclasses.replace(wanted, after=cursors().decode(token, wanted))


def sign(result: SearchResult, wanted: SearchRequest) -> SearchResult:
    """Put the cursor of the result's next page in ``next_cursor`` (it stays
    None on the last page, and on backends without cursors)."""
    if result.following is not None:
        result.next_cursor = cursors().encode(wanted, result.following)
    return result


def ndjson_response(wanted: SearchRequest) -> Response:
    """Every match of ``wanted`` (filters applied, page and size ignored but
    for the match set: as on the first page), one hit per line, streamed with
    no Content-Length; X-Total-Count says how many lines will come."""
    slot = _Slot()
    try:
        export = engine().export(dataclasses.replace(wanted, page=1, facets=False, highlight=False))
    except BaseException:
        slot.release()
        raise
    # The lines are made without a request context (nothing in them needs
    # one; Flask's stream_with_context would keep this one pushed meanwhile):
    # the error line, if any, makes its own from the request's environ.
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    response = Response(_lines(export, slot, app, request.environ), mimetype=NDJSON)
    response.call_on_close(slot.release)  # also when the body is never read (HEAD, a client gone)
    response.headers["X-Total-Count"] = str(export.total)
    return response


def _lines(export: Export, slot: _Slot, app: Flask, environ: dict) -> Iterator[bytes]:
    try:
        for batch in export.batches:
            yield "".join(json.dumps(hit.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
                          for hit in batch).encode("utf-8")
    except Exception as exc:  # the 200 is sent: say what went wrong on the last line
        with app.request_context(environ):  # classify logs it as for any request
            _, code, message, _ = classify(exc)
        yield (json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False) + "\n").encode("utf-8")
    finally:
        slot.release()


class _Slot:
    """One of the process's EXPORT_STREAMS, taken now (or 503 export_busy), released once."""

    def __init__(self) -> None:
        extensions = current_app.extensions
        with _STREAMS_LOCK:
            if STREAMS_KEY not in extensions:
                extensions[STREAMS_KEY] = threading.BoundedSemaphore(EXPORT_STREAMS)
        self._semaphore: threading.BoundedSemaphore = extensions[STREAMS_KEY]
        if not self._semaphore.acquire(blocking=False):
            raise ApiError(503, "export_busy", f"{EXPORT_STREAMS} exports are streaming from this server process; "
                                               "try again shortly", {"Retry-After": "5"})
        self._held = True
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._held:
                self._held = False
                self._semaphore.release()
