"""Parser for raw scraped article text files.

Layout written by the scraper, every part optional:

    <lead copy used as a teaser>        dropped (it reappears after the byline)
    <title>
    <author> | dd/mm/yyyy, HH:MM        the "byline"
    <lead (sapo)>
    <body paragraphs, one per line; "foo.jpeg" lines are followed by a caption>
    Bài liên quan / (0) Bình luận ...   site chrome up to the end: dropped
    <title again>                       part of the chrome

Scraped input is messy, so ``parse_raw_article`` never raises: problems it can
name (an impossible date) go to ``warnings``; anything unforeseen is caught and
reported there too, rather than losing the whole article from the index.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any

from indexer.records import VIETNAM

_DATE = (
    r"(?:(?:thứ\s+\w+|chủ\s+nhật),?\s*)?"  # optional weekday ("Thứ ba, 18/1/2022")
    r"(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4})"
    r"(?:,?\s*(?P<H>\d{1,2})[:h](?P<M>\d{2})(?::(?P<S>\d{2}))?)?"
    r"(?:\s*\(?gmt\s*\+\s*7\)?)?"
)
# Whole-line match only, so a body sentence that merely contains a date or a
# "|" is never taken for the byline.
_BYLINE_RE = re.compile(r"^(?:(?P<author>[^|]{0,120}?)\s*\|\s*)?" + _DATE + r"$", re.I)
# A line that is only a file name (or a path/URL to one); captions are prose
# with spaces, so they cannot match.
_IMAGE_RE = re.compile(r"^(?:\S*/)?(?P<name>[^\s/\\]+\.(?:jpe?g|png|gif|webp))(?:\?\S*)?$", re.I)
# Start of the site chrome. The first two are the documented markers; the
# others only ever appear as bare lines in chrome and catch files where the
# scraper lost the first ones.
_CHROME_RE = re.compile(
    r"^(?:bài liên quan|\(\d+\)\s*bình luận|đừng bỏ lỡ|mới nhất|powered by\b.*)$", re.I
)
# The byline sits right under the title; only look near the top so that a
# date-only line deep in the body is left alone.
_HEADER_WINDOW = 5
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def _clean(line: str) -> str:
    # Collapse whitespace (NBSP, tabs, runs of spaces) so that comparisons
    # between the teaser and the lead are not defeated by spacing.
    return " ".join(line.translate(_INVISIBLE).split())


def _same(a: str, b: str) -> bool:
    return bool(a) and a.casefold() == b.casefold()


def _parse_byline(line: str, warnings: list[str]) -> tuple[str | None, str | None] | None:
    """Return (author, published) if ``line`` is a byline, else None."""
    m = _BYLINE_RE.match(line)
    if not m:
        return None
    author = (m.group("author") or "").strip() or None
    try:
        dt = datetime(
            int(m.group("y")), int(m.group("m")), int(m.group("d")),
            int(m.group("H") or 0), int(m.group("M") or 0), int(m.group("S") or 0),
            tzinfo=VIETNAM,
        )
    except ValueError as exc:  # 32/13/2022, 25:61 ...: keep the author, drop the date
        warnings.append(f"invalid date in byline {line!r}: {exc}")
        return author, None
    return author, dt.isoformat()


def _split_body(lines: list[str]) -> tuple[list[str], list[dict[str, str | None]]]:
    """Split the lines after the header into paragraphs and figures (each
    image name with its caption, or None).

    ``lines`` keeps its blank lines: a caption is the line *directly* under an
    image name, whereas a paragraph after a blank line is ordinary body text."""
    paras: list[str] = []
    figures: list[dict[str, str | None]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        image = _IMAGE_RE.match(line) if line else None
        if image:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            caption = nxt if nxt and not _IMAGE_RE.match(nxt) else None
            figures.append({"image": image.group("name"), "caption": caption})
            i += 1 if caption else 0
        elif line:
            paras.append(line)
        i += 1
    return paras, figures


def parse_raw_article(text: str | bytes | None) -> dict[str, Any]:
    """title, lead, author, published (ISO 8601, Vietnam time), body,
    figures (image names with their captions) and warnings of a scraped
    article file."""
    result: dict[str, Any] = {"title": "", "lead": None, "author": None, "published": None,
                              "body": "", "figures": [], "warnings": []}
    try:
        _parse(text, result)
    except Exception as exc:  # noqa: BLE001 - contract: never raise on scraped input
        result["warnings"].append(f"internal parser error: {exc!r}")
    return result


def _parse(text: object, result: dict[str, Any]) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = "" if text is None else str(text)
    # NFC first: NFD files would otherwise fail every comparison below.
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [_clean(line) for line in text.splitlines()]

    # The final line of a file with chrome is the title echoed by the site;
    # remember it before dropping the chrome, it helps find the title below.
    echo = next((line for line in reversed(lines) if line), "")
    cut = next((i for i, line in enumerate(lines) if _CHROME_RE.match(line)), None)
    if cut is None:
        echo = ""
    else:
        lines = lines[:cut]

    nonblank = [i for i, line in enumerate(lines) if line]
    if not nonblank:
        return

    byline_at = None  # position in ``nonblank`` of the byline
    for pos, idx in enumerate(nonblank[:_HEADER_WINDOW]):
        parsed = _parse_byline(lines[idx], result["warnings"])
        if parsed is not None:
            result["author"], result["published"] = parsed
            byline_at = pos
            break

    first = [lines[i] for i in nonblank[:3]]
    if byline_at is not None:
        # Title is the line right above the byline; anything above it is the
        # teaser copy of the lead. Nothing above means there is no title.
        header = [lines[i] for i in nonblank[:byline_at]]
        result["title"] = header[-1] if header else ""
        teasers = header[:-1]
        rest_pos = byline_at + 1
        # The template puts the sapo right under the byline. Take it as the
        # lead when a teaser confirms it, or when body text still follows it
        # (a lone paragraph is more useful as body than as lead).
        if rest_pos < len(nonblank):
            cand = lines[nonblank[rest_pos]]
            confirmed = any(_same(t, cand) for t in teasers)
            if not _IMAGE_RE.match(cand) and (confirmed or rest_pos + 1 < len(nonblank)):
                result["lead"] = cand
                rest_pos += 1
    elif (lead_repeated := len(first) == 3 and _same(first[0], first[2])) or (
        len(first) >= 2 and _same(first[1], echo) and not _same(first[0], echo)
    ):
        # No byline, but the teaser pattern is clear: line 1 is repeated as
        # line 3 (teaser, title, lead), or the site's title echo at the end of
        # the file names line 2 as the title.
        result["title"], result["lead"] = first[1], first[0]
        rest_pos = 3 if lead_repeated else 2
    else:
        result["title"] = first[0]
        rest_pos = 1

    rest = lines[nonblank[rest_pos]:] if rest_pos < len(nonblank) else []
    paras, result["figures"] = _split_body(rest)
    # Without the chrome markers the title echo may still close the file.
    if paras and result["title"] and _same(paras[-1], result["title"]):
        paras.pop()
    result["body"] = "\n\n".join(paras)
