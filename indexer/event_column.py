"""A segment's event signatures, mapped straight from Whoosh's column.

``schema.EventSignature`` keeps each article's 256-byte signature in a Whoosh
``FixedBytesColumn`` (``<segment>.event.col``, inside the segment's compound
file): the signatures of documents 0, 1, 2... back to back, as far as the
last document that has one. Whoosh is their store of record and carries
them through merges. Searches read them here, memory-mapped from that same
file region, so the page cache holds one copy for every process and the
index holds one copy on disk. (Until 4 December 2026 the segment arrays
held a second copy, ``event.bin``: 0.26 MB of every 1,000 articles.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexer.integrity import column_region
from indexer.signatures import SIGNATURE_BINS

EVENT_COLUMN = "event"  # schema.EventSignature's field


def event_rows(folder: Path, segment: Any) -> np.ndarray | None:
    """The segment's signatures as a read-only (rows x SIGNATURE_BINS) uint8
    array, mapped; rows past its end (documents without a signature, at the
    end) are none. None: the segment has no event column (written before
    signatures existed)."""
    found = column_region(folder, segment, f"{EVENT_COLUMN}.col")
    if found is None:
        return None
    path, start, length = found
    rows = min(length // SIGNATURE_BINS, segment.doc_count_all())
    if not rows:
        return np.zeros((0, SIGNATURE_BINS), dtype=np.uint8)
    mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=start, shape=(rows, SIGNATURE_BINS))
    return mapped.view(np.ndarray)  # a plain view: np.memmap's indexing costs more per call
