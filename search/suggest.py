"""Did you mean: accents restored from the archive's own text, and spelling
corrections from the index vocabulary. Offered only when it would help."""

from __future__ import annotations


def suggest(engine, state, request, parsed, total) -> str | None:
    return None
