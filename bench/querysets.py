"""Query sets drawn reproducibly from corpus records (shared by the query
benchmark and the relevance evaluation)."""

from __future__ import annotations

import gzip
import json
import random
import re
import unicodedata
from pathlib import Path

from indexer.textnorm import fold

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"
_WORDS = re.compile(r"[^\W_]+")


def load(path: Path, limit: int | None = None) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    records = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            records.append(json.loads(line))
            if limit and len(records) >= limit:
                break
    return records


def words(text: str) -> list[str]:
    return _WORDS.findall(text or "")


def unaccent(text: str) -> str:
    return " ".join(fold(w) for w in words(text))


_NEW_STYLE = {"òa": "oà", "óa": "oá", "ỏa": "oả", "õa": "oã", "ọa": "oạ",
              "òe": "oè", "óe": "oé", "ỏe": "oẻ", "õe": "oẽ", "ọe": "oẹ",
              "ùy": "uỳ", "úy": "uý", "ủy": "uỷ", "ũy": "uỹ", "ụy": "uỵ"}


_OLD_STYLE = {new: old for old, new in _NEW_STYLE.items()}
_OPEN_END = r"(?![^\W\d_])"


def other_tone_style(text: str) -> str:
    """Swap the tone placement of open oa/oe/uy syllables: hòa <-> hoà,
    thúy <-> thuý, ủy <-> uỷ (whichever the text uses)."""
    swaps = {**_NEW_STYLE, **_OLD_STYLE}
    pattern = "(?<![qQ])(" + "|".join(swaps) + ")" + _OPEN_END
    return re.sub(pattern, lambda m: swaps[m.group(1)], text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def fragment(rng: random.Random, text: str, size: int) -> str | None:
    tokens = words(text)
    if len(tokens) < size:
        return None
    start = rng.randrange(0, len(tokens) - size + 1)
    return " ".join(tokens[start:start + size])
