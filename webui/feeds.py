"""The search result as CSV (for spreadsheets) and as an Atom feed (for feed
readers): two more renderings of the same SearchResult."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from flask import Response, url_for

from webui.filters import web_url

CSV_ROWS = 1000
CSV_COLUMNS = ("id", "title", "published", "author", "category", "source", "url")
# A cell starting with one of these is a formula to Excel/LibreOffice/Sheets
# ("=HYPERLINK(...)" in a title would run on opening). OWASP's advice: make
# such a cell text by prefixing an apostrophe.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
ATOM_NS = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 forbids even escaped; a control character in a stored
# title must not make the whole feed unreadable.
XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(result) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # the BOM makes Excel read the file as UTF-8 (Vietnamese)
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for hit in result.hits[:CSV_ROWS]:
        writer.writerow([csv_cell(getattr(hit, column)) for column in CSV_COLUMNS])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="vnsearch.csv"'
    response.headers["X-Total-Count"] = str(result.total)
    return response


def _text(parent, tag: str, text: str | None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: XML_INVALID.sub("", v) for k, v in attrs.items()})
    if text is not None:
        element.text = XML_INVALID.sub("", text)
    return element


def atom_response(result, self_url: str, page_url: str) -> Response:
    """An Atom 1.0 feed (RFC 4287) of one page of results, newest first."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    dates = [hit.published for hit in result.hits if hit.published]
    feed = ET.Element("feed", {"xmlns": ATOM_NS, "xml:lang": "vi"})
    title = f"vnsearch: {result.query}" if result.query.strip() else "vnsearch: bài mới nhất"
    if result.filters:
        title += " (" + "; ".join(result.filters) + ")"
    _text(feed, "title", title)
    _text(feed, "id", self_url)
    _text(feed, "updated", max(dates) if dates else now)
    _text(feed, "link", None, rel="self", type="application/atom+xml", href=self_url)
    _text(feed, "link", None, rel="alternate", type="text/html", href=page_url)
    _text(feed, "generator", "vnsearch")
    for hit in result.hits:
        entry = ET.SubElement(feed, "entry")
        article_url = url_for("pages.article", article_id=hit.id, _external=True)
        _text(entry, "title", hit.title)
        _text(entry, "id", article_url)
        _text(entry, "link", None, rel="alternate", type="text/html", href=article_url)
        if web_url(hit.url):
            _text(entry, "link", None, rel="related", type="text/html", href=hit.url)
        _text(entry, "published" if hit.published else "updated", hit.published or now)
        if hit.published:
            _text(entry, "updated", hit.published)
        author = ET.SubElement(entry, "author")  # RFC 4287 requires an author
        _text(author, "name", hit.author or hit.source or "vnsearch")
        if hit.category:
            _text(entry, "category", None, term=hit.category)
        _text(entry, "summary", hit.snippet, type="html")  # escaped HTML, as type="html" says
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="application/atom+xml")
