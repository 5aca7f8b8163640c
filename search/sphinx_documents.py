"""An article as one row of a Sphinx RT index, analysed by OUR analyzer.

Sphinx never sees Vietnamese. Every full-text field holds tokens that
``indexer.analysis.terms`` produced, written in ASCII ([a-z0-9_]), so the
engine's charset table is ASCII and its tokenizer only splits on spaces;
it matches exactly what the Whoosh index matches, term for term.

Fields (``FIELDS``): each Whoosh text field F (content, title, lead,
captions) becomes one Sphinx field per term kind, because a Sphinx field is
a plain stream of words and cannot hold two terms at one position:

  F_fold      folded syllables in position order ("can bo tre"): the only
              field whose positions are read (phrases). A position the
              analyzer left empty (a syllable with no folded form) becomes
              GAP, a phrase boundary that advances the position by one, so
              words that were not adjacent never match a phrase;
  F_exact     the exact accented spellings, encoded (``encode_exact``);
              they only score, like Whoosh's EXACT terms;
  F_special   joined abbreviations ("tphcm"), "tp" of a "TPHCM", dates
              ("18_01_2022"): matched anywhere, as Whoosh's phrases do;
  content_compound   pyvi's compounds ("can_bo"), content only: the
              compiler only boosts and looks up compounds there.

One more field, ``labels``, holds one token per keyword value of the
article (``label_token``: "a_" + a hash of the author, "c_" category, "s_"
source) and ``ALL_TOKEN``, held by every article. Filters use the string
attributes, but a query's ``author:vien`` can sit inside OR and NOT, where
only MATCH() can go (sphinx_match.py); and Sphinx has no MATCH for "every
article except", so a query that only excludes starts from ``ALL_TOKEN``.

Whoosh keeps all the kinds of a field in one term namespace. Exact
spellings (diacritics), compounds ("_") and dates ("/") never meet another
kind there, but folded syllables and abbreviations share words ("tp",
"tphcm"): to match what Whoosh matches, a query looks such a word up in
both ``F_fold`` and ``F_special``, and every other term in its own field.

Row ids and shards come from one 128-bit BLAKE2b hash of the article id
(stable across processes, machines and Python versions, unlike ``hash()``):
the first 8 bytes give the row id (63 bits: SphinxQL reads ids as signed),
the last 8 the shard. Two article ids with the same row id (probability
about n^2 / 2^64: 5e-4 for 100 million articles) would overwrite each
other, so the row keeps the article id as the ``article_id`` string
attribute: writers check it before replacing (cluster_writes.py), and a
reader looking an article up by row id must check it too.

Attributes: Whoosh's length of each text field (``len_content``, ...: the
number of terms it indexes, rounded as Whoosh stores it in one byte), so
the backend rescores with exactly the executor's BM25F (sphinx_scoring.py);
the article id, published (unix seconds, 0 = none) with year
(2022) and month (202201) in Vietnam time for filters and histograms,
category/author/source as strings (empty = none; SphinxQL filters and
groups on strings), the title for hit lists and ``doc``, the article's JSON
(``Article.to_json``), and its event signature in hex (``event``:
indexer/signatures.py, for same-event grouping). Sphinx 2.2 RT indexes store nothing but attributes,
so the article lives in the cluster itself: every mirror of a shard can
serve its articles, and a sidecar store would need replicating on its own.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from whoosh.util.numeric import byte_to_length, length_to_byte

from indexer.analysis import COMPOUND, EXACT, FOLD, SPECIAL, Term, terms
from indexer.documents import content_text
from indexer.records import VIETNAM, Article
from indexer.signatures import signature

TEXT_FIELDS = ("content", "title", "lead", "captions")
KIND_SUFFIX = {FOLD: "fold", EXACT: "exact", SPECIAL: "special", COMPOUND: "compound"}
LABELS_FIELD = "labels"  # not "values": a SQL keyword in REPLACE INTO (...)
FIELDS: tuple[str, ...] = (
    *(f"{name}_{suffix}" for name in TEXT_FIELDS for suffix in ("fold", "exact", "special")),
    "content_compound", LABELS_FIELD,
)
STRING_ATTRS = ("article_id", "category", "author", "source", "title", "doc", "event")
BIGINT_ATTRS = ("published",)
LENGTH_ATTRS = {name: f"len_{name}" for name in TEXT_FIELDS}  # Whoosh field -> its length attribute
UINT_ATTRS = ("year", "month", *LENGTH_ATTRS.values())
LABEL_PREFIXES = {"author": "a_", "category": "c_", "source": "s_"}
ALL_TOKEN = "_all_"  # in every article's ``labels``: "_" never starts one of our other words
NO_TOKEN = "_none_"  # in no article: what an empty list of labels matches
COLUMNS: tuple[str, ...] = ("id", *FIELDS, *STRING_ATTRS, *BIGINT_ATTRS, *UINT_ATTRS)

# A phrase boundary (``phrase_boundary`` in the index config) with a step of
# one: it moves the position on without being a word.
GAP = "|"
ID_BITS = 63

# VNI-style marks: a letter with diacritics is written as its base letter
# and digits, "ườ" -> "u7o72", "đ" -> "d9". The shape comes before the tone.
_SHAPE_MARKS = {"\u0302": "6", "\u031b": "7", "\u0306": "8"}  # â ê ô, ơ ư, ă
_TONE_MARKS = {"\u0301": "1", "\u0300": "2", "\u0309": "3", "\u0303": "4", "\u0323": "5"}
_STROKE = {"đ": "d9"}
_MARK_OF_DIGIT = {digit: mark for mark, digit in {**_SHAPE_MARKS, **_TONE_MARKS}.items()}


def encode_exact(token: str) -> str:
    """An exact (lowercase, accented) spelling as one ASCII Sphinx word.

    Readable for Vietnamese ("đường" -> "d9u7o72ng") and lossless for any
    text: a letter with Vietnamese marks becomes its base letter and one
    digit per mark (6 circumflex, 7 horn, 8 breve, 9 đ; tones 1-5 as in VNI);
    a literal digit is written "0" + digit (marks are never 0); anything
    else becomes "_" + hex code point + "_". Sphinx keeps at most 42 bytes
    of a word: a longer encoding (long words of other scripts) is cut the
    same way in documents and queries."""
    out: list[str] = []
    for char in token:
        if "a" <= char <= "z":
            out.append(char)
        elif "0" <= char <= "9":
            out.append("0" + char)
        elif char in _STROKE:
            out.append(_STROKE[char])
        else:
            out.append(_encode_marked(char))
    return "".join(out)


def _encode_marked(char: str) -> str:
    decomposed = unicodedata.normalize("NFD", char)
    base, marks = decomposed[0], decomposed[1:]
    shapes = [_SHAPE_MARKS[m] for m in marks if m in _SHAPE_MARKS]
    tones = [_TONE_MARKS[m] for m in marks if m in _TONE_MARKS]
    if "a" <= base <= "z" and marks and len(shapes) + len(tones) == len(marks):
        return base + "".join(shapes) + "".join(tones)
    return f"_{ord(char):x}_"


def decode_exact(word: str) -> str:
    """The spelling ``encode_exact`` wrote (for debugging and tests)."""
    out: list[str] = []
    i = 0
    while i < len(word):
        char = word[i]
        if char == "_":
            end = word.index("_", i + 1)
            out.append(chr(int(word[i + 1:end], 16)))
            i = end + 1
        elif char == "0":
            out.append(word[i + 1])
            i += 2
        else:
            i += 1
            marks = ""
            while i < len(word) and word[i] in "123456789":
                marks += word[i]
                i += 1
            if char == "d" and marks.startswith("9"):
                char, marks = "đ", marks[1:]
            out.append(unicodedata.normalize("NFC", char + "".join(_MARK_OF_DIGIT[d] for d in marks)))
    return "".join(out)


def encode_special(text: str) -> str:
    """A special term as one Sphinx word: dates "18/01/2022" -> "18_01_2022"."""
    return text.replace("/", "_")


def encode_term(term: Term) -> str:
    """The Sphinx word of one analyzer term (queries use the same function)."""
    if term.kind == EXACT:
        return encode_exact(term.text)
    if term.kind == SPECIAL:
        return encode_special(term.text)
    return term.text  # folded syllables and compounds are already [a-z0-9_]


def field_texts(name: str, text: str | None) -> dict[str, str]:
    """The Sphinx fields of one Whoosh text field ``name`` (fold, exact, special, compound)."""
    return analysed_field(name, text)[0]


def analysed_field(name: str, text: str | None) -> tuple[dict[str, str], int]:
    """``field_texts`` and the field's length as Whoosh stores it (analysed once)."""
    if not text:
        return {}, 0
    by_kind: dict[str, list[Term]] = {FOLD: [], EXACT: [], SPECIAL: [], COMPOUND: []}
    analysed = terms(text)
    for term in analysed:
        by_kind[term.kind].append(term)
    fields = {f"{name}_fold": " ".join(positioned_words(by_kind[FOLD])),
              f"{name}_exact": " ".join(encode_term(t) for t in by_kind[EXACT]),
              f"{name}_special": " ".join(encode_term(t) for t in by_kind[SPECIAL])}
    if f"{name}_compound" in FIELDS:
        fields[f"{name}_compound"] = " ".join(t.text for t in by_kind[COMPOUND])
    return {key: value for key, value in fields.items() if value}, whoosh_length(analysed)


def whoosh_length(analysed: Iterable[Term]) -> int:
    """The length Whoosh gives a field with these terms, as it reads it back:
    per distinct term its positions (one repeated in a row counted once,
    as schema.VietnameseText.index does), summed, then rounded to one byte."""
    positions: dict[str, list[int]] = {}
    for term in analysed:
        held = positions.setdefault(term.text, [])
        if not held or held[-1] != term.pos:
            held.append(term.pos)
    length = sum(len(held) for held in positions.values())
    return byte_to_length(length_to_byte(length)) if length else 0


def label_token(field: str, value: str) -> str:
    """The ``labels`` word of one author, category or source: exact (a hash
    of the value as stored, so "Tú Viên" and "tú viên" differ, as in Whoosh)."""
    digest = hashlib.blake2b(value.encode("utf-8"), digest_size=8).hexdigest()
    return LABEL_PREFIXES[field] + digest


def positioned_words(folded: Iterable[Term]) -> list[str]:
    """Folded syllables in position order, with GAP where a position is empty."""
    words: list[str] = []
    expected: int | None = None
    for term in sorted(folded, key=lambda t: t.pos):
        if expected is not None and term.pos > expected:
            words += [GAP] * (term.pos - expected)
        words.append(term.text)
        expected = term.pos + 1
    return words


def query_words(text: str, kind: str = FOLD) -> list[str]:
    """The Sphinx words of one kind (folded syllables by default) of a typed
    query, in order, analysed as the compiler does (no segmentation:
    unaccented input segments badly)."""
    return [encode_term(t) for t in terms(text, segment=False, query=True) if t.kind == kind]


@dataclass(frozen=True)
class Placement:
    """Where an article lives: its row id and its shard."""
    row_id: int
    shard: int


def placement(article_id: str, shards: int) -> Placement:
    """Row id and shard of an article id, the same on every machine."""
    digest = hashlib.blake2b(article_id.encode("utf-8"), digest_size=16).digest()
    row_id = int.from_bytes(digest[:8], "big") >> (64 - ID_BITS)
    return Placement(row_id or 1, int.from_bytes(digest[8:], "big") % shards)


def article_row(article: Article) -> dict[str, Any]:
    """One REPLACE's values: every column of ``COLUMNS``, so rows batch into one statement."""
    row: dict[str, Any] = {"id": placement(article.id, 1).row_id, **dict.fromkeys(FIELDS, "")}
    texts = {"content": content_text(article), "title": article.title, "lead": article.lead,
             "captions": "\n".join(article.captions)}
    for name, text in texts.items():
        fields, length = analysed_field(name, text)
        row.update(fields)
        row[LENGTH_ATTRS[name]] = length
    values = {"author": article.author, "category": article.category, "source": article.source}
    stored = article.to_json()
    row[LABELS_FIELD] = " ".join([ALL_TOKEN, *(label_token(k, v) for k, v in values.items() if v)])
    row.update(article_id=article.id, category=article.category or "", author=article.author or "",
               source=article.source or "", title=article.title,
               doc=json.dumps(stored, ensure_ascii=False, separators=(",", ":")), event=signature(stored).hex())
    if article.published:
        local = article.published.astimezone(VIETNAM)
        row.update(published=int(article.published.timestamp()), year=local.year,
                   month=local.year * 100 + local.month)
    else:
        row.update(published=0, year=0, month=0)
    return row
