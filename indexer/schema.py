"""The Whoosh schema of the archive, and the pre-analysed text field.

Text fields (all analysed by ``VietnameseAnalyzer``; see analysis.py):
  content   title + lead + captions + body: what every query must match
  title, lead, captions   the same text again, only for field weights and for
                          ``title:`` scoping (BM25F weights live in search/)

Keyword fields, exact display values, sortable (columns) so that filters and
facet counts are cheap: author, category, source, year ("2022"), month
("2022-01"); ``published`` is a sortable DATETIME in Vietnam local time.

Display fields are kept in one stored ``doc`` dict, so a hit is one read.

``event`` is a column of each article's event signature (indexer/signatures.py,
256 bytes), for same-event grouping (search/events.py). Whoosh is its store
of record and carries it through merges; the segment arrays hold a copy that
searches map (indexer/arrays.py).

``VietnameseText.index`` turns a text into posting items without Whoosh's
per-token objects (terms() -> positions per term), the cheap way to index
the several stacked terms per syllable.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from whoosh import columns, fields, formats
from whoosh.system import _INT_SIZE, pack_uint

from indexer.analysis import FOLD, SPECIAL, VietnameseAnalyzer, terms
from indexer.signatures import SIGNATURE_BINS, signature

POSITIONED = (FOLD, SPECIAL)  # the term kinds whose positions phrases read
_HEADERS = [pack_uint(n) for n in range(256)]  # a value's frequency, for the common ones
_POSITION = struct.Struct("=I")  # one position, as array("I") writes it


class CompactPositions(formats.Positions):
    """Whoosh's Positions format with the positions written as raw 32-bit
    deltas instead of a pickled list: about half the bytes before Whoosh
    compresses the block, and no pickle call per posting. Like Whoosh's, a
    value starts with the frequency."""

    def encode(self, poslist: Sequence[int], frequency: int | None = None) -> bytes:
        """``frequency`` when the positions are left out (default: their count)."""
        count = len(poslist) if frequency is None else frequency
        header = _HEADERS[count] if count < len(_HEADERS) else pack_uint(count)
        if not poslist:
            return header
        if len(poslist) == 1:  # most terms occur once in a document
            return header + _POSITION.pack(poslist[0])
        return header + array("I", [b - a for a, b in zip([0, *poslist], poslist, strict=False)]).tobytes()

    def decode_positions(self, valuestring: bytes) -> list[int]:
        """The positions (empty for a term indexed without them)."""
        deltas = array("I")
        deltas.frombytes(valuestring[_INT_SIZE:])
        return list(itertools.accumulate(deltas))


class VietnameseText(fields.TEXT):
    """TEXT with the Vietnamese analyzer (queries use it through Whoosh's
    analyzer API; indexing goes straight to ``terms``)."""

    def __init__(self) -> None:
        super().__init__(analyzer=VietnameseAnalyzer(), phrase=True)
        self.format = CompactPositions()  # TEXT's own is Positions() with the same default boost

    def index(self, value: str, **kwargs: Any) -> list[tuple[bytes, int, float, bytes]]:
        """(term bytes, frequency, weight, encoded positions) per distinct term.

        Only folded syllables and special terms keep their positions: phrases
        are matched on those alone. Exact spellings and compounds only score
        (by frequency), so their positions would be written and never read."""
        poses: dict[str, list[int]] = defaultdict(list)
        placed: set[str] = set()
        for term in terms(value):
            plist = poses[term.text]
            if not plist or plist[-1] != term.pos:
                plist.append(term.pos)
            if term.kind in POSITIONED:
                placed.add(term.text)
        encode = self.format.encode
        return [(word.encode("utf-8"), len(plist), float(len(plist)),
                 encode(plist if word in placed else (), len(plist)))
                for word, plist in poses.items()]


class EventSignature(fields.COLUMN):
    """A column of fixed 256-byte event signatures, not searched, not stored.

    Its value in a document is the article's stored ``doc`` dict (the same
    object as the ``doc`` field's, so Whoosh's worker processes receive it
    once): the signature is computed where the document is analysed, in
    the workers when indexing runs in several processes. Articles without
    one (indexed before this column existed) hold all-empty bytes, which
    search/events.py never groups."""

    def __init__(self) -> None:
        super().__init__(columns.FixedBytesColumn(SIGNATURE_BINS))

    def to_column_value(self, value: Any) -> bytes:
        return value if isinstance(value, bytes) else signature(value)


EVENT_FIELD = "event"


def build_schema() -> fields.Schema:
    # Dates are filtered from the column (search/index_view.py), never with
    # Whoosh's range terms: one term per article instead of DATETIME's eight
    # tiers, which were ~0.8 MB of every 1,000 articles' index.
    published = fields.DATETIME(sortable=True)
    published.shift_step = 0
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        content=VietnameseText(),
        title=VietnameseText(),
        lead=VietnameseText(),
        captions=VietnameseText(),
        author=fields.ID(sortable=True),
        category=fields.ID(sortable=True),
        source=fields.ID(sortable=True),
        tags=fields.KEYWORD(commas=True, lowercase=True),
        year=fields.ID(sortable=True),
        month=fields.ID(sortable=True),
        published=published,
        doc=fields.STORED(),
        event=EventSignature(),
    )
