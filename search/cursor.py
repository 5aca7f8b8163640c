"""Cursors: a search position (request.Position) as an opaque, signed string.

A cursor is ``base64url(payload) + "." + base64url(tag)``: the payload a
compact JSON list ``[version, request fingerprint, value, id, depth,
generation]``, the tag the first 16 bytes of its HMAC-SHA256 under the
server's secret (VNSEARCH_CURSOR_SECRET, or a random one made when the
server starts, before it forks its workers, so all of them share it). The
fingerprint binds the cursor to the request it continues: the query, the
filters, the sort and the page size. Anything else (not base64url, a wrong
tag, another request, an unknown version) is ``BadRequest("bad_cursor")``.

Cursors have no expiry time: one stays valid as long as the secret does
(a restart without VNSEARCH_CURSOR_SECRET makes a new one), under the
stability rules of search/engine.py (a relevance cursor also needs the
index generation it was made in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from search.request import BadRequest, Position, SearchRequest

VERSION = 1
MAX_CURSOR_CHARS = 1000  # a cursor is ~100 characters plus the article id (at most 200)
TAG_BYTES = 16  # HMAC-SHA256 cut to 128 bits
FINGERPRINT_BYTES = 12


def fingerprint(request: SearchRequest) -> str:
    """What a cursor must continue: the query, filters, sort and size (not the page or facets)."""
    parts = [request.q, request.date_from.isoformat() if request.date_from else None,
             request.date_to.isoformat() if request.date_to else None,
             sorted(request.authors), sorted(request.categories), sorted(request.sources),
             request.sort, request.size]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode("utf-8")).digest()
    return _b64(digest[:FINGERPRINT_BYTES])


def new_secret(configured: str | None) -> bytes:
    """The signing key: the configured secret, or a random one for this server's life."""
    return configured.encode("utf-8") if configured else secrets.token_bytes(32)


class CursorCodec:
    """Signs positions into cursors and checks cursors back into positions."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, request: SearchRequest, position: Position) -> str:
        payload = [VERSION, fingerprint(request), position.value, position.id, position.depth, position.generation]
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return f"{_b64(body)}.{_b64(self._tag(body))}"

    def decode(self, cursor: str, request: SearchRequest) -> Position:
        """The position ``cursor`` holds, if this server signed it for ``request``."""
        text = cursor.strip()
        if len(text) > MAX_CURSOR_CHARS:
            raise _bad("it is too long")
        body_text, dot, tag_text = text.partition(".")
        body, tag = _unb64(body_text), _unb64(tag_text)
        if not dot or body is None or tag is None:
            raise _bad("it is not one this server made (it may be cut short)")
        if not hmac.compare_digest(tag, self._tag(body)):
            raise _bad("its signature does not match: it was changed, cut short, or signed by a server "
                       "with another VNSEARCH_CURSOR_SECRET (or before a restart)")
        try:
            payload: Any = json.loads(body)
        except ValueError:
            raise _bad("it cannot be read") from None
        if not (isinstance(payload, list) and len(payload) == 6 and payload[0] == VERSION):
            raise _bad("it was made by another version of the server")
        _, made_for, value, article_id, depth, generation = payload
        if made_for != fingerprint(request):
            raise _bad("it belongs to another search: the query, filters, sort and size must stay the same")
        if not (isinstance(article_id, str) and isinstance(depth, int) and depth >= 1
                and (generation is None or isinstance(generation, int))
                and (value is None or isinstance(value, (int, float)))):
            raise _bad("it cannot be read")
        return Position(value, article_id, depth, generation)

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:TAG_BYTES]


def _bad(why: str) -> BadRequest:
    return BadRequest("bad_cursor", f"'cursor' is not valid here: {why}; start again without it")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    """Strict base64url without padding: any other character, or other spare
    bits in the last one, is refused (the same bytes have one spelling)."""
    if not text or not text.isascii():
        return None
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None
