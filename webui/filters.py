"""Small formatting helpers for templates (Vietnamese conventions)."""

from __future__ import annotations

from urllib.parse import urlsplit

from markupsafe import Markup, escape

from search.highlight import Highlighter


def vn_date(iso: str | None) -> str:
    """'2022-01-18T22:55:00+07:00' -> '18/01/2022' (the stored time is already Vietnam time)."""
    if not iso or len(iso) < 10:
        return ""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"


def vn_datetime(iso: str | None) -> str:
    if not iso:
        return ""
    time = iso[11:16] if len(iso) >= 16 else ""
    return f"{vn_date(iso)} {time}".strip()


def vn_number(value) -> str:
    """Vietnamese groups thousands with a dot: 33.711."""
    return f"{int(value):,}".replace(",", ".")


def vn_ms(value) -> str:
    return f"{value:.0f}" if value >= 1 else f"{value:.1f}".replace(".", ",")


def web_url(url: str | None) -> str | None:
    """The URL if it is safe to put in href (http/https only): an archive
    record could hold ``javascript:...``, which autoescaping does not stop."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split("\n") if p.strip()]


def marked(text: str | None, marker: Highlighter | None) -> Markup:
    """The text escaped, with the words of the search that led here in <mark>."""
    if not text:
        return Markup("")
    return Markup(marker.mark(text)) if marker is not None else escape(text)


def register(app) -> None:
    for name in ("vn_date", "vn_datetime", "vn_number", "vn_ms", "web_url", "paragraphs", "marked"):
        app.add_template_filter(globals()[name], name)
