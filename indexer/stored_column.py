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
one ``StoredColumn`` per segment serves every thread (search/index_view.py's
``SegmentFiles`` keeps them).

Damaged bytes raise ``IndexDamaged``, as ``CheckedSegmentReader`` does.
"""

from __future__ import annotations

import os
import pickle
import weakref
import zlib
from array import array
from pathlib import Path
from typing import Any

import numpy as np

from indexer.checked_index import DECODE_ERRORS
from indexer.integrity import COMPOUND_EXT, STORED_COLUMN, Problem, damaged, why

_WITH_OFFSETS = ord("X")  # the column's last byte when it wrote its offsets


class StoredColumn:
    def __init__(self, folder: Path, segment_id: str, path: Path, start: int, length: int, count: int):
        self.folder, self.segment_id, self.count = folder, segment_id, count
        self._fd = os.open(path, os.O_RDONLY)
        # Closed when the last generation reading it is gone, never while a
        # thread may still read through it (a reused descriptor would read
        # another file).
        closing = weakref.finalize(self, os.close, self._fd)
        try:
            self._start = start
            end = start + length - 1  # the lengths' type code, or "X"
            tail = os.pread(self._fd, 3, end - 2)
            if len(tail) != 3:
                raise EOFError(f"{path.name} ends inside its stored-fields column")
            offsets_code = None
            if tail[2] == _WITH_OFFSETS:
                lengths_code, offsets_code = chr(tail[0]), chr(tail[1])
                offsets_at = end - 2 - count * array(offsets_code).itemsize
                self._offsets = _mapped(path, offsets_code, offsets_at, count)
                lengths_at = offsets_at - count * array(lengths_code).itemsize
            else:
                lengths_code = chr(tail[2])
                lengths_at = end - count * array(lengths_code).itemsize
            self._lengths = _mapped(path, lengths_code, lengths_at, count)
            if offsets_code is None:  # a small column: Whoosh derives them too
                self._offsets = np.cumsum(self._lengths, dtype=np.int64) - self._lengths
        except BaseException:
            closing()
            raise

    @classmethod
    def of(cls, folder: Path, segment: Any) -> StoredColumn | None:
        """The column of a Whoosh segment in ``folder`` (None: it has none)."""
        sid = segment.segment_id()
        name = f"{sid}.{STORED_COLUMN}.col"
        if not segment.is_compound():
            path = folder / name
            if not path.exists():
                return None
            return cls(folder, sid, path, 0, path.stat().st_size, segment.doc_count_all())
        compound = segment.open_compound_file(_FolderStorage(folder))
        try:
            try:
                start, length = compound.range(name)
            except NameError:
                return None
        finally:
            compound.close()
        return cls(folder, sid, folder / (sid + COMPOUND_EXT), start, length, segment.doc_count_all())

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
    """``count`` big-endian numbers of ``array`` type ``code`` at ``at`` (Whoosh writes them so)."""
    if at < 0:
        raise EOFError(f"{path.name}: the stored-fields column is shorter than its arrays")
    dtype = np.dtype(f">u{array(code).itemsize}")
    if not count:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=at, shape=(count,))


class _FolderStorage:
    """What Whoosh's ``Segment.open_compound_file`` needs of a storage."""

    supports_mmap = False

    def __init__(self, folder: Path):
        self.folder = folder

    def open_file(self, name: str, **_: Any) -> Any:
        from whoosh.filedb.structfile import StructFile

        return StructFile(open(self.folder / name, "rb"), name=name)
