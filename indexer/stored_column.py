"""A segment's stored documents, read by all threads of a process through
one reader that holds nothing per document.

Whoosh keeps stored fields in a column (``<segment>._stored.col``, inside the
segment's compound file): zlib-compressed pickles, then an array of their
lengths and one of their offsets. Its reader copies both arrays into memory,
6 bytes per document, in every searcher; each server thread has its own
searcher, so at 400,000 articles every thread held 2.5 MB more, and a server
with twice the threads held twice that. Here the two arrays stay in the file,
memory-mapped (the page cache keeps one copy for every process), and a
document is read with ``os.pread``, which needs no shared file position, so
one ``StoredColumn`` per segment serves every thread (search/generation.py's
``SegmentFiles`` keeps them).

Damaged bytes raise ``IndexDamaged``, as ``CheckedSegmentReader`` does.
"""

from __future__ import annotations

import os
import pickle
import weakref
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from indexer.checked_index import DECODE_ERRORS
from indexer.integrity import (
    COMPOUND_EXT,
    STORED_COLUMN,
    Problem,
    column_region,
    damaged,
    stored_tables,
    why,
)


class StoredColumn:
    def __init__(self, folder: Path, segment_id: str, path: Path, start: int, length: int, count: int):
        self.folder, self.segment_id = folder, segment_id
        self._start = start
        tables = stored_tables(path, start, length, count)  # where integrity.py checks them too
        self._lengths = _mapped(path, *tables.lengths, count)
        if tables.offsets is None:  # a small column: Whoosh derives them too
            self._offsets = np.cumsum(self._lengths, dtype=np.int64) - self._lengths
        else:
            self._offsets = _mapped(path, *tables.offsets, count)
        self._fd = os.open(path, os.O_RDONLY)
        # Closed when the last generation reading it is gone, never while a
        # thread may still read through it (a reused descriptor would read
        # another file).
        weakref.finalize(self, os.close, self._fd)

    @classmethod
    def of(cls, folder: Path, segment: Any) -> StoredColumn | None:
        """The column of a Whoosh segment in ``folder`` (None: it has none)."""
        if not segment.doc_count_all():
            return None
        found = column_region(folder, segment, f"{STORED_COLUMN}.col")
        return None if found is None else cls(folder, segment.segment_id(), *found, segment.doc_count_all())

    def document(self, docnum: int) -> dict:
        """The stored fields of the segment's document ``docnum``."""
        try:
            length = int(self._lengths[docnum])
            if not length:
                return {}
            data = os.pread(self._fd, length, self._start + int(self._offsets[docnum]))
            found = pickle.loads(zlib.decompress(data))
        except DECODE_ERRORS as exc:
            where = self.segment_id + COMPOUND_EXT
            raise damaged(self.folder, [Problem(self.segment_id, where,
                                                f"stored document {docnum} cannot be read ({why(exc)})")]) from None
        return found if found is not None else {}


def _mapped(path: Path, code: str, at: int, count: int) -> np.ndarray:
    """``count`` big-endian numbers of array type ``code`` at ``at`` (Whoosh writes them so)."""
    dtype = np.dtype(f">{code}")
    if not count:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=at, shape=(count,))
