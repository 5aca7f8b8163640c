"""Article -> the field values of one Whoosh document."""

from __future__ import annotations

from typing import Any

from indexer.records import Article


def content_text(article: Article) -> str:
    """Everything a query may match, title first."""
    parts = [article.title, article.lead or "", *article.captions, article.body]
    return "\n\n".join(part for part in parts if part)


def document_fields(article: Article) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": article.id,
        "content": content_text(article),
        "title": article.title,
        "lead": article.lead,
        "captions": "\n".join(article.captions) or None,
        "author": article.author,
        "category": article.category,
        "source": article.source,
        "tags": ",".join(article.tags) or None,
        "doc": article.to_json(),
    }
    fields["event"] = fields["doc"]  # the signature is computed from it (schema.EventSignature)
    if article.published:
        local = article.published.replace(tzinfo=None)  # stored as Vietnam local time
        fields.update(published=local, year=f"{local:%Y}", month=f"{local:%Y-%m}")
    return {name: value for name, value in fields.items() if value is not None}
