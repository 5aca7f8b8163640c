"""The index as servers and writers open it: every segment checked for
damage once per process before it is read, and damage refused with
``IndexDamaged`` (HTTP 503 ``index_problem``) instead of whatever
Whoosh trips on (HTTP 500, or worse, wrong results).

The check is structural (indexer/integrity.py: headers, directories, sizes
and counts, about 2 ms a segment), so a query pays nothing for it: a
process remembers the segments it found sound, which never change. What
only reading everything would find is ``vnsearch check``'s job; a stored
document that fails to decode while serving (zlib's checksum catches a
flipped byte) is refused the same way.
"""

from __future__ import annotations

import errno
import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

from whoosh.index import TOC, EmptyIndexError, FileIndex
from whoosh.reading import EmptyReader, MultiReader, SegmentReader

from indexer import integrity
from indexer.filearray import ArraysMissing
from indexer.integrity import COMPOUND_EXT, Problem, damaged, why
from indexer.problems import INDEX_NAME, IndexBusy, IndexMissing

OPEN_ATTEMPTS = 10  # fresh tables of contents tried while writers keep committing
# What decoding damaged bytes raises inside Whoosh (truncated reads, bad
# pickles, bad zlib streams, impossible offsets).
DECODE_ERRORS = (EOFError, pickle.UnpicklingError, struct.error, zlib.error, ValueError, IndexError,
                 UnicodeDecodeError, OverflowError)


# Per real index folder, the segments found sound (segments never change).
# Only the latest table of contents' segments are kept: a server committing
# every second for months must not accumulate merged-away ids.
_verified: dict[str, set[str]] = {}


def verify_segments(index_dir: str | os.PathLike[str], segments: list[Any], settled: bool = False) -> None:
    """Raise ``IndexDamaged`` for the first damaged segment of
    ``segments`` (all of a table of contents'). Missing files raise
    FileNotFoundError instead, unless ``settled`` (the caller holds the
    write lock, so no writer can have removed them since): a reader may
    have read a table of contents just before a commit merged its segments
    away."""
    folder = Path(index_dir)
    known = _verified.setdefault(os.path.realpath(folder), set())
    for segment in segments:
        sid = segment.segment_id()
        if sid in known:
            continue
        problems = integrity.segment_problems(folder, segment)
        if not problems:
            known.add(sid)
            continue
        if all(p.missing for p in problems) and not settled:
            raise FileNotFoundError(errno.ENOENT, problems[0].message, str(folder / problems[0].file))
        raise damaged(folder, problems)
    known.intersection_update(s.segment_id() for s in segments)


def read_toc(storage: Any, indexname: str, schema: Any = None) -> Any:
    """The latest table of contents; a damaged one raises IndexDamaged."""
    try:
        return TOC.read(storage, indexname, schema=schema)
    except EmptyIndexError:
        raise IndexMissing(f"no index at {storage.folder}") from None
    except OSError:
        raise  # replaced by a commit just now (callers read the new one), or the disk itself
    except Exception as exc:  # noqa: BLE001 - whatever unpickling damaged bytes raises
        name = TOC._filename(indexname, TOC._latest_generation(storage, indexname))
        raise damaged(Path(storage.folder), [Problem("", name, f"cannot be read ({why(exc)})")]) from None


class CheckedIndex(FileIndex):
    """Whoosh's FileIndex, except that a damaged table of contents or segment
    raises ``IndexDamaged`` (HTTP 503) instead of whatever Whoosh
    trips on (HTTP 500), and readers are ``CheckedSegmentReader``s."""

    def __init__(self, storage: Any, schema: Any = None, indexname: str = INDEX_NAME):
        self.storage, self.indexname = storage, indexname
        self._schema = schema
        read_toc(storage, indexname, schema)  # as FileIndex does: fail now if it cannot be read

    def _read_toc(self) -> Any:
        return read_toc(self.storage, self.indexname, self._schema)

    def reader(self, reuse: Any = None) -> Any:
        """A reader of the latest generation, its segments checked first. A
        file that vanished is damage only if no commit has happened since
        the table of contents was read (Whoosh removes a merged segment's
        files after writing the new one); otherwise the new one is read."""
        for _ in range(OPEN_ATTEMPTS):
            toc = None
            try:
                toc = self._read_toc()
                verify_segments(self.storage.folder, toc.segments)
                return self._reader(self.storage, toc.schema, toc.segments, toc.generation, reuse=reuse)
            except (FileNotFoundError, ArraysMissing) as exc:
                if toc is not None and self.latest_generation() == toc.generation:
                    problem = Problem("", Path(getattr(exc, "filename", None) or "").name or "a file",
                                      f"is listed by {TOC._filename(self.indexname, toc.generation)} "
                                      f"but cannot be opened ({why(exc)})")
                    raise damaged(Path(self.storage.folder), [problem]) from None
        raise IndexBusy(f"the index at {self.storage.folder} changed {OPEN_ATTEMPTS} times while "
                              "it was being opened; try again")

    @classmethod
    def _reader(cls, storage: Any, schema: Any, segments: list[Any], generation: int, reuse: Any = None) -> Any:
        """Whoosh's FileIndex._reader with checked segment readers."""
        segments = list(segments)
        reusable: dict[Any, Any] = {}
        if reuse is not None:
            segments += [s for s in reuse.segments() if s not in segments]
            reusable = {r.segment(): r for r, _ in reuse.leaf_readers() if r.segment() is not None}
        try:
            if not segments:
                return EmptyReader(schema)
            readers = [reusable.pop(s, None) or CheckedSegmentReader(storage, schema, s, generation=generation)
                       for s in segments]
            return readers[0] if len(readers) == 1 else MultiReader(readers, generation=generation)
        finally:
            for left in reusable.values():
                left.close()


class CheckedSegmentReader(SegmentReader):
    """A segment reader whose damaged bytes raise ``IndexDamaged``:
    when it is opened, and when a stored document cannot be decoded (zlib's
    checksum catches a flipped byte there)."""

    def __init__(self, storage: Any, schema: Any, segment: Any, generation: Any = None, codec: Any = None):
        try:
            super().__init__(storage, schema, segment, generation=generation, codec=codec)
        except DECODE_ERRORS as exc:
            compound = getattr(getattr(self, "_storage", None), "a", None)  # opened before the failure
            if compound is not None and not compound.is_closed:
                compound.close()
            problem = Problem(segment.segment_id(), segment.segment_id() + COMPOUND_EXT,
                              f"cannot be opened ({why(exc)})")
            raise damaged(Path(_folder(storage)), [problem]) from None

    def stored_fields(self, docnum: int) -> Any:
        try:
            return super().stored_fields(docnum)
        except DECODE_ERRORS as exc:
            problem = Problem(self._segid, self._segid + COMPOUND_EXT,
                              f"stored document {docnum} cannot be read ({why(exc)})")
            raise damaged(Path(_folder(self._storage)), [problem]) from None


def _folder(storage: Any) -> str:
    while not hasattr(storage, "folder"):  # an overlay of a compound file on the folder
        storage = storage.b
    return storage.folder
