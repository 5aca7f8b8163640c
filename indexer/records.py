"""Article records: validation of what a source produced, and derived values.

One validated shape, ``Article``, leaves this module; everything else is a
``RecordError`` carrying a message that names the problem (the caller adds
file and line)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from indexer.textnorm import normalize

# Asia/Ho_Chi_Minh has been UTC+7 with no DST since 1975; a fixed offset avoids
# depending on tzdata being installed (zoneinfo has none on Windows/slim images).
VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")

STRING_FIELDS = ("title", "lead", "body", "author", "category", "source", "url")
MAX_TITLE_FROM_TEXT = 120


_SURROGATE = re.compile("[\ud800-\udfff]")


def _nfc(text: str) -> str:
    """Stored text is NFC but keeps the writer's tone placement (hoà stays
    hoà on screen); the analyzer canonicalises tones for matching only.
    Lone surrogates (from a JSON "\\ud800" escape) are not text: refused."""
    if _SURROGATE.search(text):
        raise RecordError("text contains a lone surrogate (invalid \\u escape)")
    return unicodedata.normalize("NFC", text)


class RecordError(ValueError):
    """A record that cannot be indexed; the message says why."""


@dataclass
class Article:
    id: str
    title: str
    body: str
    lead: str | None = None
    author: str | None = None
    category: str | None = None
    source: str | None = None
    published: datetime | None = None  # aware, Asia/Ho_Chi_Minh
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    title_derived: bool = False
    # Each image with its caption (None: it has none), in order, where the
    # pairing is known: from a scraped file (a caption is the line under its
    # image name), from the record's own 'figures', or from 'images' and
    # 'captions' of the same length. Empty when it is not known.
    figures: list[dict[str, str | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["published"] = self.published.isoformat() if self.published else None
        return data


def parse_published(value: object) -> datetime | None:
    """ISO 8601 date or datetime; a datetime without offset is Vietnam time."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"'published' must be an ISO 8601 string, got {type(value).__name__}")
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"'published' is not an ISO 8601 date: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=VIETNAM)
    try:
        return parsed.astimezone(VIETNAM)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in Vietnam
        raise RecordError(f"'published' is out of range once moved to Vietnam time (years 1 to 9999): "
                          f"{value!r}") from None


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s|\n")


def title_from_text(text: str) -> str:
    """A display title for a record without one: its first sentence, cut at a
    word boundary."""
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0].strip()
    if len(first) > MAX_TITLE_FROM_TEXT:
        first = first[:MAX_TITLE_FROM_TEXT].rsplit(" ", 1)[0] + "…"
    return first


def stable_id(url: str | None, title: str, body: str) -> str:
    """An id for a record that has none: from its url, else from its text, so
    that ingesting the same record again replaces it."""
    if url:
        return "url-" + hashlib.sha1(url.strip().encode("utf-8")).hexdigest()[:16]
    text = normalize(title.strip() + "\n" + body.strip())
    return "sha-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RecordError(f"'{key}' must be a list of strings")
    return [_nfc(v).strip() for v in value if v.strip()]


MAX_FIGURES = 500  # images of one article


def _figures(data: dict[str, Any]) -> tuple[list[dict[str, str | None]], list[str], list[str]]:
    """(figures, images, captions) of a record: from 'figures', a list of
    {"image": name, "caption": text or null}, or else from 'images' and
    'captions' (paired only when they are as many)."""
    value = data.get("figures")
    if value is None or value == []:
        images, captions = _string_list(data, "images"), _string_list(data, "captions")
        if len(images) != len(captions):
            return [], images, captions
        return [{"image": i, "caption": c} for i, c in zip(images, captions, strict=True)], images, captions
    if not isinstance(value, list) or len(value) > MAX_FIGURES:
        raise RecordError(f"'figures' must be a list of at most {MAX_FIGURES} objects")
    figures: list[dict[str, str | None]] = []
    for item in value:
        image = item.get("image") if isinstance(item, dict) else None
        caption = item.get("caption") if isinstance(item, dict) else None
        if not isinstance(image, str) or not image.strip() or not (caption is None or isinstance(caption, str)):
            raise RecordError("each of 'figures' must be {\"image\": a file name, \"caption\": text or null}")
        text = _nfc(caption).strip() if caption else ""
        figures.append({"image": _nfc(image).strip(), "caption": text or None})
    images = [str(f["image"]) for f in figures]
    captions = [caption for f in figures if (caption := f["caption"])]
    # an article as the API returns it has all three: they must agree
    if (data.get("images") and _string_list(data, "images") != images
            or data.get("captions") and _string_list(data, "captions") != captions):
        raise RecordError("'images' and 'captions' must be those of 'figures' (or leave them out)")
    return figures, images, captions


def article_from_dict(data: object) -> Article:
    """Validate one record (a JSON object or a parsed text file)."""
    if not isinstance(data, dict):
        raise RecordError(f"a record must be a JSON object, got {type(data).__name__}")
    values: dict[str, str | None] = {}
    for key in STRING_FIELDS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"'{key}' must be a string, got {type(value).__name__}")
        values[key] = _nfc(value).strip() if value else None
    record_id = data.get("id")
    if record_id is not None and not isinstance(record_id, str):
        raise RecordError(f"'id' must be a string, got {type(record_id).__name__}")
    title, lead, body = values["title"] or "", values["lead"], values["body"] or ""
    if not (title or lead or body):
        raise RecordError("record has no title, lead or body")
    derived = not title
    if derived:
        title = title_from_text(lead or body)
    record_id = (record_id or "").strip() or stable_id(values["url"], title, (lead or "") + body)
    if len(record_id) > 200 or any(ch in record_id for ch in "\x00\n\r\t"):
        raise RecordError("'id' must be at most 200 characters without control characters")
    figures, images, captions = _figures(data)
    return Article(
        id=record_id, title=title, body=body, lead=lead,
        author=values["author"], category=values["category"], source=values["source"],
        published=parse_published(data.get("published")), url=values["url"],
        tags=_string_list(data, "tags"), captions=captions, images=images, title_derived=derived,
        figures=figures,
    )
