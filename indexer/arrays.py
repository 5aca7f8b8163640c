"""Per-segment arrays: the text fields' postings, and what a search reads,
written once when a segment is written, and read by every server process
straight from the files.

Whoosh stays the store of record for documents, ids, keyword fields,
deletions and atomic commits. But decoding its posting blocks is pure
Python, one posting at a time: a common word in a fresh process took
seconds, and every process kept its own decoded copy. So the text fields'
postings (content, title, lead, captions) are written, by ``PostingsCodec``,
only as flat numpy arrays beside the index, together with the field lengths
and column values a search needs:

    <index>/arrays/<segment id>/
        meta.json                  document count, format version
        <field>.hash.npy           uint64, the terms' 64-bit hashes, sorted
        <field>.first.npy          where each term's postings start
        <field>.df.npy             int32, how many postings it has
        <field>.tstart.npy         where each term's text starts in...
        <field>.terms.bin          ...the terms' UTF-8 bytes (to verify a hash hit)
        <field>.docs.npy           segment-local document numbers (their low
                                   16 bits in segments of more documents)
        <field>.dochigh.npy        uint32 (terms x blocks-1), only then: where
                                   each block of 65,536 documents starts
                                   among a term's postings
        <field>.tf.npy             term frequencies
        <field>.pfirst.npy         where each term's positions start in...
        <field>.pos.npy            positions as deltas within a posting (a
                                   posting has tf of them; a term without
                                   positions has pfirst NO_POSITIONS)
        len.<field>.npy            uint8, Whoosh's one-byte field lengths
        col.<field>.npy            int32 codes into col.<field>.json (-1: none),
                                   or int64 values for numeric columns

(The event signatures are read from Whoosh's own column: event_column.py. An
``event.bin`` left by an index written before 4 December 2026 is ignored.)

docs, tf and pos take the narrowest unsigned type that holds a segment's
values (indexer/postings.py): 1-2 bytes instead of 4 for nearly all of them;
first, tstart and pfirst take 4 bytes when their values fit (nearly always)
and 8 otherwise (indexes written before 4 December 2026: always 8).

A search reads them (``SegmentArrays``) instead of decoding: the small
per-term and per-document arrays are memory-mapped, and the postings,
frequencies and positions (most of the bytes) are read with pread
(indexer/filearray.py). Either way the pages live in the kernel's page
cache, shared by every process and kept across restarts, so a new process or
thread is warm at once and its private memory does not grow with the index;
pread also keeps the postings a query touched out of the process's PSS.
Whoosh itself (its merges, ``whoosh.query``) reads the same postings through
``ArraysTermsReader``.

Segments never change once written, so neither do their arrays. They are
written into ``<id>.tmp`` and renamed when complete, before Whoosh commits
the segment; arrays of segments that no longer exist (merged away, or never
committed by a killed run) are removed by ``remove_stale`` at the next
write. Segments of format 2 (``ArraysCodec``, also in Whoosh's files) and
segments without arrays are still searched, the latter through Whoosh's
decoder.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.codec.base import FieldCursor, TermsReader
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PerDocWriter, W3TermInfo
from whoosh.formats import Format
from whoosh.matching import ListMatcher
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length

from indexer.closing import close_files
from indexer.filearray import ArraysMissing, FileArray
from indexer.postings import (
    CHUNK_POSTINGS,
    DOC_BLOCK_BITS,
    NO_POSITIONS,
    UNPLACED,
    FieldPostings,
    term_chunks,
    term_hash,
)

FORMAT_VERSION = 3  # 3: the text postings live only here (2: also in Whoosh's files)
READABLE_VERSIONS = (2, 3)
ARRAYS_DIR = "arrays"
TEXT_FIELDS = ("content", "title", "lead", "captions")  # the fields a query scores
NUMERIC_COLUMNS = ("published",)
KEYWORD_COLUMNS = ("author", "category", "source", "year", "month")
LENGTH_PREFIX = "_"  # Whoosh names a field's length column "_<field>_len"
LENGTH_SUFFIX = "_len"
NO_VALUE = -1
POSTINGS_PER_LOOKUP = 8  # fewer wanted documents than postings / this: binary searches, else one pass
READ_NOT_MAPPED = (".docs.npy", ".tf.npy", ".pos.npy")  # most of the bytes; see filearray.py
MIXED_POSITIONS = -2  # format 2 only: some postings with positions, some without (read Whoosh's)
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


_PLAIN_BYTE = np.zeros(256, dtype=bool)
_PLAIN_BYTE[[ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]] = True


def arrays_root(index_dir: str | os.PathLike) -> Path:
    return Path(index_dir) / ARRAYS_DIR


# -- writing ------------------------------------------------------------------

class _SegmentArraysWriter:
    """Collects one segment's data from the two Whoosh writers below and from
    the writer's pool (indexer/writers.py): the text fields' postings in
    FieldPostings (spilled to disk past a bound), the per-document values in
    memory until the segment is closed."""

    def __init__(self, storage: Any, segment: Any):
        self.folder = arrays_root(storage.folder) / (segment.segment_id() + ".tmp")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.columns: dict[str, dict[int, Any]] = {}
        self.doccount = 0
        self.fields: dict[str, FieldPostings] = {}
        self.finished = {"postings": False, "perdoc": False}

    def field(self, name: str) -> FieldPostings:
        found = self.fields.get(name)
        if found is None:
            found = self.fields[name] = FieldPostings(self.folder, name)
        return found

    def take(self, item: tuple[str, bytes, int, float, bytes | None]) -> bool:
        """Keep a posting of a text field (True), or leave it to Whoosh (False)."""
        if item[0] not in TEXT_FIELDS:
            return False
        self.field(item[0]).add(item[1], item[2], item[3], item[4])
        return True

    def postings_done(self) -> None:
        for field in self.fields.values():
            field.write()
        self.fields.clear()
        self.finished["postings"] = True

    # per-document values (from the per-document writer)
    def column_value(self, docnum: int, fieldname: str, value: Any) -> None:
        if fieldname in KEYWORD_COLUMNS or fieldname in NUMERIC_COLUMNS or _length_field(fieldname):
            self.columns.setdefault(fieldname, {})[docnum] = value

    def perdoc_done(self, doccount: int) -> None:
        self.doccount = doccount
        for name, values in self.columns.items():
            field = _length_field(name)
            if field:
                lengths = np.zeros(doccount, dtype=np.uint8)
                for doc, value in values.items():
                    lengths[doc] = value
                np.save(self.folder / f"len.{field}.npy", lengths)
            elif name in NUMERIC_COLUMNS:
                numbers = np.zeros(doccount, dtype=np.int64)
                present = np.zeros(doccount, dtype=bool)
                for doc, value in values.items():
                    if INT64_MIN < value <= INT64_MAX:  # merges copy Whoosh's "no value" sentinel
                        numbers[doc] = value
                        present[doc] = True
                np.save(self.folder / f"col.{name}.npy", numbers)
                np.save(self.folder / f"has.{name}.npy", present)
            else:
                texts = {doc: v.decode("utf-8") if isinstance(v, bytes) else str(v) for doc, v in values.items()}
                labels = sorted({t for t in texts.values() if t})
                index = {label: i for i, label in enumerate(labels)}
                codes = np.full(doccount, NO_VALUE, dtype=np.int32)
                for doc, text in texts.items():
                    codes[doc] = index.get(text, NO_VALUE)
                np.save(self.folder / f"col.{name}.npy", codes)
                (self.folder / f"col.{name}.json").write_text(json.dumps(labels, ensure_ascii=False),
                                                             encoding="utf-8")
        self.columns.clear()
        self.finished["perdoc"] = True

    def finish_if_done(self) -> None:
        """Rename the folder into place once both writers have closed."""
        if not all(self.finished.values()):
            return
        meta = {"version": FORMAT_VERSION, "docs": self.doccount}
        (self.folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        final = self.folder.with_suffix("")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(self.folder, final)


COMPACT_FORMAT = "CompactPositions"  # indexer.schema's format: raw 32-bit position deltas


def discard(index_dir: str | os.PathLike[str], segment_id: str) -> None:
    """After a failed or cancelled write: close this process's unfinished
    arrays of the index and remove them, and the arrays of the segment the
    write would have added (a cancel closes its writers, which completes
    them). Arrays left by worker processes go at the next write."""
    for key in [k for k in _open_writers if k[0] == str(index_dir)]:
        writer = _open_writers.pop(key)
        writer.fields.clear()  # drops the runs' mappings
        shutil.rmtree(writer.folder, ignore_errors=True)
    folder = arrays_root(index_dir) / segment_id
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(folder.with_name(segment_id + ".tmp"), ignore_errors=True)


def _length_field(column: str) -> str | None:
    if column.startswith(LENGTH_PREFIX) and column.endswith(LENGTH_SUFFIX):
        field = column[len(LENGTH_PREFIX):-len(LENGTH_SUFFIX)]
        return field if field in TEXT_FIELDS else None
    return None


_open_writers: dict[tuple[str, str], _SegmentArraysWriter] = {}


def segment_arrays_writer(storage: Any, segment: Any) -> _SegmentArraysWriter:
    key = (str(storage.folder), segment.segment_id())
    if key not in _open_writers:
        _open_writers[key] = _SegmentArraysWriter(storage, segment)
    return _open_writers[key]


def _closed(storage: Any, segment: Any) -> None:
    key = (str(storage.folder), segment.segment_id())
    writer = _open_writers.get(key)
    if writer is not None and all(writer.finished.values()):
        writer.finish_if_done()
        del _open_writers[key]


class _FieldWriter(W3FieldWriter):
    """W3's field writer for the keyword fields (id, author, ...); the text
    fields' postings go to the arrays only."""

    def __init__(self, codec: Any, storage: Any, segment: Any):
        self._opened: list[Any] = []
        try:
            super().__init__(codec, storage, segment)
        except BaseException:
            close_files(self._opened)
            raise
        self._arrays = segment_arrays_writer(storage, segment)

    def _create_file(self, ext: str) -> Any:
        created = super()._create_file(ext)
        self._opened.append(created)
        return created

    def add_postings(self, schema: Any, lengths: Any, items: Any) -> None:
        for name in TEXT_FIELDS:
            if name in schema and type(schema[name].format).__name__ != COMPACT_FORMAT:
                raise ValueError(f"the index's {name!r} field was made by an older version of vnsearch "
                                 "(positions in another format): rebuild the index into a new folder")
        take = self._arrays.take
        super().add_postings(schema, lengths, (item for item in items if not take(item)))

    def close(self) -> None:
        super().close()
        self._arrays.postings_done()
        _closed(self._storage, self._segment)


class _PerDocWriter(W3PerDocWriter):
    def __init__(self, codec: Any, storage: Any, segment: Any):
        try:
            super().__init__(codec, storage, segment)
        except BaseException:
            close_files(vars(self).values())
            raise
        self._arrays = segment_arrays_writer(storage, segment)

    def add_column_value(self, fieldname: str, columnobj: Any, value: Any) -> None:
        super().add_column_value(fieldname, columnobj, value)
        self._arrays.column_value(self._docnum, fieldname, value)

    def close(self) -> None:
        super().close()
        self._arrays.perdoc_done(self._doccount)
        _closed(self._storage, self._segment)


def _folder(storage: Any) -> str:
    """The index folder behind a storage (a compound segment is read through
    an overlay of its compound file on the folder's storage)."""
    while not hasattr(storage, "folder"):
        storage = storage.b
    return storage.folder


class ArraysCodec(W3Codec):
    """Segments written by vnsearch before format 3: Whoosh's W3 codec, with
    format-2 arrays beside them that searches may use. Segments remember their
    codec, so this class stays to read them; new segments use PostingsCodec."""


class PostingsCodec(W3Codec):
    """Whoosh's W3 codec, except that the postings of the text fields are
    written only as the segment's arrays, and read back from them: Whoosh's
    own reader, merges and the ``whoosh.query`` API see them through
    ``ArraysTermsReader``. The keyword fields stay in W3's files."""

    def per_document_writer(self, storage: Any, segment: Any) -> W3PerDocWriter:
        return _PerDocWriter(self, storage, segment)

    def field_writer(self, storage: Any, segment: Any) -> W3FieldWriter:
        return _FieldWriter(self, storage, segment)

    def terms_reader(self, storage: Any, segment: Any) -> Any:
        keywords = super().terms_reader(storage, segment)
        try:
            arrays = SegmentArrays.mapped(_folder(storage), segment.segment_id())
        except BaseException:
            keywords.close()
            # Whoosh's SegmentReader opened the compound file just before
            # asking for this reader, and leaves it open when this raises
            compound = getattr(storage, "a", None)
            if compound is not None:
                compound.close()
            raise
        return ArraysTermsReader(keywords, arrays)


def remove_stale(index_dir: str | os.PathLike, live_segments: set[str]) -> None:
    """Delete the arrays of segments that are neither in the index nor being
    written (call it holding the write lock). A process still
    searching an older generation keeps its mappings: unlinked files stay
    readable while mapped."""
    root = arrays_root(index_dir)
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.name.removesuffix(".tmp") not in live_segments:
            shutil.rmtree(child, ignore_errors=True)


# -- reading ------------------------------------------------------------------

_mapped: weakref.WeakValueDictionary[tuple[str, str], SegmentArrays] = weakref.WeakValueDictionary()
_mapped_lock = threading.Lock()


class SegmentArrays:
    """One segment's arrays, mapped or opened for pread (nothing is read until used).

    A process maps each segment once (``mapped``): every searcher and thread
    shares the mapping, which lives as long as something uses it."""

    def __init__(self, folder: Path):
        self.folder = folder
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"arrays format {meta.get('version')} in {folder}")
        self.version = int(meta["version"])
        self.doc_count = int(meta["docs"])
        # Everything is opened now (that reads nothing): a writer may remove
        # these files once the segment is merged away, and a mapping or an
        # open file outlives its file. Postings and positions are read with
        # pread (filearray.py), the small per-term and per-document arrays
        # are mapped.
        self._maps: dict[str, Any] = {
            # plain views of the mappings: np.memmap's indexing costs ~2 us a call
            path.name: FileArray(path) if path.name.endswith(READ_NOT_MAPPED)
            else np.load(path, mmap_mode="r").view(np.ndarray)
            for path in folder.glob("*.npy")}
        for path in folder.glob("*.terms.bin"):
            size = path.stat().st_size
            self._maps[path.name] = np.memmap(path, dtype=np.uint8, mode="r") if size else None
        self._labels = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("col.*.json")}

    @classmethod
    def mapped(cls, index_dir: str | os.PathLike, segment_id: str) -> SegmentArrays:
        """This process's mapping of a segment's arrays (ArraysMissing if it has none)."""
        key = (os.path.realpath(index_dir), segment_id)
        with _mapped_lock:
            found = _mapped.get(key)
            if found is None:
                folder = arrays_root(index_dir) / segment_id
                try:
                    found = cls(folder)
                except (OSError, ValueError, KeyError) as exc:
                    raise ArraysMissing(f"the search arrays of segment {segment_id} are missing or damaged "
                                        f"({folder}: {exc}); rebuild the index into a new folder") from None
                _mapped[key] = found
            return found

    @classmethod
    def open(cls, index_dir: str | os.PathLike, segment_id: str) -> SegmentArrays | None:
        """The segment's arrays, or None when it has none (searched through Whoosh)."""
        try:
            return cls.mapped(index_dir, segment_id)
        except ArraysMissing:
            return None

    def _map(self, name: str) -> np.ndarray | None:
        return self._maps.get(name)

    def _terms(self, field: str) -> np.ndarray | None:
        return self._maps.get(f"{field}.terms.bin")

    def postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(segment-local document numbers, frequencies) of a term, deletions included."""
        found = self.slot(field, term.encode("utf-8"))
        if found is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint32)
        return self.postings_at(field, found)

    def postings_at(self, field: str, slot: int) -> tuple[np.ndarray, np.ndarray]:
        first = int(self._map(f"{field}.first.npy")[slot])  # type: ignore[index]
        count = int(self._map(f"{field}.df.npy")[slot])  # type: ignore[index]
        docs = self._map(f"{field}.docs.npy")
        tf = self._map(f"{field}.tf.npy")
        assert docs is not None and tf is not None
        stored = docs[first:first + count]
        high = self._map(f"{field}.dochigh.npy")
        if high is None:
            return stored, tf[first:first + count]
        # one term: its block starts, then each block's high bits over a slice
        numbers = stored.astype(np.uint32)
        bounds = [0, *np.minimum(high[slot], count).tolist(), count]
        for block in range(1, len(bounds) - 1):
            if bounds[block + 1] > bounds[block]:
                numbers[bounds[block]:bounds[block + 1]] |= np.uint32(block << DOC_BLOCK_BITS)
        return numbers, tf[first:first + count]

    def _doc_numbers(self, field: str, stored: np.ndarray, slots: Any, counts: Any) -> np.ndarray:
        """The document numbers of the postings of ``slots`` (``counts``
        each, in a row), from their stored low bits and the field's block
        table, in a segment too large for 16 bits."""
        high = self._map(f"{field}.dochigh.npy")
        if high is None:
            return stored
        counts = np.asarray(counts, dtype=np.int64)
        rows = np.asarray(high[np.asarray(slots, dtype=np.int64)], dtype=np.int64)
        bounds = np.concatenate([np.zeros((len(counts), 1), np.int64), rows, counts[:, None]], axis=1)
        block = np.repeat(np.tile(np.arange(bounds.shape[1] - 1, dtype=np.uint32), len(counts)),
                          np.diff(bounds, axis=1).ravel())
        return (block << DOC_BLOCK_BITS) | stored.astype(np.uint32)

    def positions_at(self, field: str, slot: int) -> list[list[int]] | None:
        """Each posting's positions (None: the term has none), UNPLACED ones as []."""
        pfirst_map, pos = self._map(f"{field}.pfirst.npy"), self._map(f"{field}.pos.npy")
        if pfirst_map is None or pos is None or int(pfirst_map[slot]) < 0:
            return None
        pfirst = int(pfirst_map[slot])
        tf = self.postings_at(field, slot)[1].astype(np.int64)
        block = pos[pfirst:pfirst + int(tf.sum())]
        flat = np.cumsum(block.astype(np.int64)) if len(tf) else np.zeros(0)
        ends = np.cumsum(tf)
        out: list[list[int]] = []
        for start, end in zip((ends - tf).tolist(), ends.tolist(), strict=True):
            deltas = block[start:end]
            if len(deltas) and int(deltas[0]) >= UNPLACED:
                out.append([])
            else:
                out.append((flat[start:end] - (flat[start - 1] if start else 0)).tolist())
        return out

    def posting_chunks(self, field: str, chunk: int = CHUNK_POSTINGS) -> Any:
        """A format-3 field's postings in storage order, in chunks of whole
        terms: (texts, term, docs, tf, npos, pos) where ``term`` indexes
        ``texts`` and ``pos`` holds each posting's ``npos`` positions."""
        df, first = self._map(f"{field}.df.npy"), self._map(f"{field}.first.npy")
        pfirst, tstart = self._map(f"{field}.pfirst.npy"), self._map(f"{field}.tstart.npy")
        docs, tf, pos, blob = (self._map(f"{field}.docs.npy"), self._map(f"{field}.tf.npy"),
                               self._map(f"{field}.pos.npy"), self._terms(field))
        if df is None or first is None or pfirst is None or tstart is None or docs is None or tf is None:
            return
        raw = bytes(blob) if blob is not None else b""
        slots = np.argsort(first, kind="stable")  # the order the postings are stored in
        counts = df[slots].astype(np.int64)
        ends = np.cumsum(counts)
        bounds = tstart.tolist()
        position = 0
        for i, j in term_chunks(counts, chunk):
            chosen = slots[i:j]
            start, stop = int(ends[i] - counts[i]), int(ends[j - 1])
            term = np.repeat(np.arange(j - i, dtype=np.int64), counts[i:j])
            chunk_tf = np.asarray(tf[start:stop])
            npos = np.where(np.asarray(pfirst)[chosen][term] >= 0, chunk_tf, 0).astype(np.int64)
            used = int(npos.sum())
            chunk_pos = np.asarray(pos[position:position + used]) if pos is not None else np.zeros(0)
            position += used
            texts = [raw[bounds[k]:bounds[k + 1]] for k in chosen.tolist()]
            chunk_docs = self._doc_numbers(field, np.asarray(docs[start:stop]), chosen, counts[i:j])
            yield texts, term, chunk_docs, chunk_tf, npos, chunk_pos

    def fields(self) -> list[str]:
        return [f for f in TEXT_FIELDS if self._map(f"{f}.hash.npy") is not None]

    def sorted_terms(self, field: str) -> list[tuple[bytes, int]]:
        """(term, slot) of a field in byte order (Whoosh's term order)."""
        tstart = self._map(f"{field}.tstart.npy")
        blob = self._terms(field)
        if tstart is None or blob is None:
            return []
        raw, bounds = bytes(blob), tstart.tolist()
        return sorted((raw[bounds[i]:bounds[i + 1]], i) for i in range(len(bounds) - 1))

    def position_pairs(self, field: str, term: str,
                       local_docs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(document, position) of every occurrence of a term in the given
        documents (sorted, segment-local), as two flat arrays; None when this
        term's positions must be read through Whoosh."""
        found = self.slot(field, term.encode("utf-8"))
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        if found is None:
            return empty
        pfirst_map, pos = self._map(f"{field}.pfirst.npy"), self._map(f"{field}.pos.npy")
        if pfirst_map is None or pos is None:
            return None
        pfirst = int(pfirst_map[found])
        if pfirst == MIXED_POSITIONS:
            return None
        if pfirst == NO_POSITIONS:
            return empty
        docs, tf = self.postings(field, term)
        if not len(docs) or not len(local_docs):
            return empty
        # both sorted and unique: look the wanted documents up in the postings
        # (in the postings' own type: searchsorted converts the larger array otherwise)
        if len(local_docs) * POSTINGS_PER_LOOKUP < len(docs):
            wanted = local_docs.astype(docs.dtype, copy=False)
            where = np.minimum(np.searchsorted(docs, wanted), len(docs) - 1)
            chosen = where[docs[where] == wanted]
        else:  # many documents: one pass over the postings instead of a search each
            inside = np.zeros(int(max(docs[-1], local_docs[-1])) + 1, dtype=bool)
            inside[local_docs] = True
            chosen = np.flatnonzero(inside[docs])
        lengths = tf[chosen].astype(np.int64)
        placed = lengths > 0
        chosen, lengths = chosen[placed], lengths[placed]
        if not len(chosen):
            return empty
        # where each posting's positions end, only as far as the last one wanted
        posting_ends = np.cumsum(tf[:int(chosen[-1]) + 1], dtype=np.int64)
        starts = pfirst + posting_ends[chosen] - lengths
        ends = np.cumsum(lengths)
        firsts = ends - lengths  # where each chosen posting starts in the gathered array
        # Running sums instead of np.repeat (several times slower): where to
        # read (one step on within a posting, a jump to the next one's start),
        # the document of each occurrence, and its position. A posting's
        # deltas count from its own start, so its first delta less the last
        # position of the posting before it makes one running sum the
        # positions themselves.
        index = _runs(starts, firsts, int(ends[-1]), step=1)
        deltas = pos[index].astype(np.int64)
        running = np.cumsum(deltas)
        if len(firsts) > 1:
            deltas[firsts[1:]] -= running[firsts[1:] - 1] - running[firsts[:-1]] + deltas[firsts[:-1]]
            running = np.cumsum(deltas)
        return _runs(docs[chosen].astype(np.int64), firsts, len(running), step=0), running

    def doc_frequency(self, field: str, term: str) -> int:
        found = self.slot(field, term.encode("utf-8"))
        return 0 if found is None else int(self._map(f"{field}.df.npy")[found])  # type: ignore[index]

    def slot(self, field: str, term: bytes) -> int | None:
        """Where a term sits in the field's per-term arrays (None: not in this segment)."""
        hashes = self._map(f"{field}.hash.npy")
        if hashes is None or not len(hashes):
            return None
        wanted = np.uint64(term_hash(term))
        i = int(np.searchsorted(hashes, wanted))
        tstart = self._map(f"{field}.tstart.npy")
        blob = self._terms(field)
        while i < len(hashes) and hashes[i] == wanted:
            assert tstart is not None and blob is not None
            if bytes(blob[int(tstart[i]):int(tstart[i + 1])]) == term:
                return i
            i += 1
        return None

    def plain_terms(self, field: str) -> list[tuple[str, int]]:
        """The terms of a field made only of ASCII letters and digits (folded
        syllables, not compounds or accented spellings), with their document
        frequencies."""
        return self._ascii_terms(field, compound=False)

    def compound_terms(self, field: str) -> list[tuple[str, int]]:
        """The compound words of a field ("thanh_uy": folded syllables joined
        by "_", as analysis.compound_word writes them) with their document
        frequencies."""
        return self._ascii_terms(field, compound=True)

    def _ascii_terms(self, field: str, compound: bool) -> list[tuple[str, int]]:
        """Terms of ASCII letters and digits only, with at least one "_"
        between them when ``compound`` (and none otherwise), and their dfs."""
        tstart = self._map(f"{field}.tstart.npy")
        blob = self._terms(field)
        df = self._map(f"{field}.df.npy")
        if tstart is None or blob is None or df is None or len(tstart) < 2:
            return []
        raw_bytes = np.asarray(blob)
        joins = raw_bytes == ord("_")
        allowed = _PLAIN_BYTE[raw_bytes] | joins if compound else _PLAIN_BYTE[raw_bytes]
        starts = tstart[:-1]
        wanted = (np.add.reduceat((~allowed).astype(np.int32), starts) == 0) & (np.diff(tstart) > 0)
        if compound:
            wanted &= np.add.reduceat(joins.astype(np.int32), starts) > 0
        raw = bytes(blob)
        bounds, counts = tstart.tolist(), df.tolist()
        return [(raw[bounds[i]:bounds[i + 1]].decode("ascii"), counts[i]) for i in np.flatnonzero(wanted).tolist()]

    def length_bytes(self, field: str) -> np.ndarray:
        found = self._map(f"len.{field}.npy")
        return found if found is not None else np.zeros(self.doc_count, dtype=np.uint8)

    def keyword_column(self, field: str) -> tuple[np.ndarray, list[str]]:
        codes = self._map(f"col.{field}.npy")
        if codes is None:
            return np.full(self.doc_count, NO_VALUE, dtype=np.int32), []
        return codes, self._labels.get(f"col.{field}.json", [])

    def numeric_column(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, present) of a numeric column."""
        values = self._map(f"col.{field}.npy")
        present = self._map(f"has.{field}.npy")
        if values is None or present is None:
            return np.zeros(self.doc_count, dtype=np.int64), np.zeros(self.doc_count, dtype=bool)
        return values, present


def _runs(values: np.ndarray, firsts: np.ndarray, total: int, step: int) -> np.ndarray:
    """``total`` numbers in runs starting at ``firsts`` (ascending, the first
    0): run ``j`` counts up by ``step`` from ``values[j]``. With step 0 it is
    np.repeat(values, run lengths); with step 1, each run's range."""
    out = np.full(total, step, dtype=np.int64)
    out[0] = values[0]
    if len(firsts) > 1:
        # the jump from the end of the previous run to the start of the next
        out[firsts[1:]] = values[1:] - values[:-1] - step * (firsts[1:] - firsts[:-1] - 1)
    return np.cumsum(out, out=out)


# -- Whoosh's view of the arrays -----------------------------------------------

class ArraysTermsReader(TermsReader):
    """Whoosh's terms reader for a format-3 segment: the keyword fields from
    W3's files, the text fields from the arrays. Whoosh merges segments and
    answers ``whoosh.query`` searches through it (one posting at a time);
    vnsearch's own read path (search/index_view.py) reads the arrays directly."""

    def __init__(self, keywords: Any, arrays: SegmentArrays):
        self.keywords = keywords
        self.arrays = arrays
        self.text_fields = arrays.fields()

    def _slot(self, fieldname: str, btext: bytes) -> int:
        found = self.arrays.slot(fieldname, btext)
        if found is None:
            raise TermNotFound(f"{fieldname}:{btext!r}")
        return found

    def __contains__(self, term: tuple[str, bytes]) -> bool:
        if term[0] in TEXT_FIELDS:
            return self.arrays.slot(*term) is not None
        return term in self.keywords

    def cursor(self, fieldname: str, fieldobj: Any) -> Any:
        if fieldname in TEXT_FIELDS:
            return _SortedCursor(self, fieldname, [t for t, _ in self.arrays.sorted_terms(fieldname)])
        return self.keywords.cursor(fieldname, fieldobj)

    def terms(self) -> Any:
        yield from self.keywords.terms()
        for fieldname in self.text_fields:
            for btext, _ in self.arrays.sorted_terms(fieldname):
                yield fieldname, btext

    def terms_from(self, fieldname: str, prefix: bytes) -> Any:
        return (term for term, _ in self.items_from(fieldname, prefix))

    def items(self) -> Any:
        yield from self.keywords.items()
        for fieldname in self.text_fields:
            for btext, slot in self.arrays.sorted_terms(fieldname):
                yield (fieldname, btext), self._info(fieldname, slot)

    def items_from(self, fieldname: str, prefix: bytes) -> Any:
        """(term, info) from ``prefix`` to the end of that field."""
        if fieldname not in TEXT_FIELDS:
            yield from self.keywords.items_from(fieldname, prefix)
            return
        for btext, slot in self.arrays.sorted_terms(fieldname):
            if btext >= prefix:
                yield (fieldname, btext), self._info(fieldname, slot)

    def _info(self, fieldname: str, slot: int) -> W3TermInfo:
        docs, tf = self.arrays.postings_at(fieldname, slot)
        if not len(docs):
            return W3TermInfo()
        coded = self.arrays.length_bytes(fieldname)[docs]
        return W3TermInfo(weight=float(tf.sum()), df=len(docs),
                          minlength=byte_to_length(int(coded.min())), maxlength=byte_to_length(int(coded.max())),
                          maxweight=float(tf.max()), minid=int(docs[0]), maxid=int(docs[-1]))

    def term_info(self, fieldname: str, btext: bytes) -> Any:
        if fieldname not in TEXT_FIELDS:
            return self.keywords.term_info(fieldname, btext)
        return self._info(fieldname, self._slot(fieldname, btext))

    def frequency(self, fieldname: str, btext: bytes) -> float:
        if fieldname not in TEXT_FIELDS:
            return self.keywords.frequency(fieldname, btext)
        return float(self.arrays.postings_at(fieldname, self._slot(fieldname, btext))[1].sum())

    def doc_frequency(self, fieldname: str, btext: bytes) -> int:
        if fieldname not in TEXT_FIELDS:
            return self.keywords.doc_frequency(fieldname, btext)
        return len(self.arrays.postings_at(fieldname, self._slot(fieldname, btext))[0])

    def matcher(self, fieldname: str, btext: bytes, format_: Format, scorer: Any = None) -> Any:
        if fieldname not in TEXT_FIELDS:
            return self.keywords.matcher(fieldname, btext, format_, scorer)
        slot = self._slot(fieldname, btext)
        docs, tf = self.arrays.postings_at(fieldname, slot)
        freqs = tf.tolist()
        positions = self.arrays.positions_at(fieldname, slot)
        values = [format_.encode(p, f) for f, p in zip(freqs, positions or [[]] * len(freqs), strict=True)]
        return ListMatcher(docs.tolist(), [float(f) for f in freqs], values, format_, scorer,
                           term=(fieldname, btext), terminfo=self._info(fieldname, slot))

    def indexed_field_names(self) -> list[str]:
        return list(self.keywords.indexed_field_names()) + self.text_fields

    def close(self) -> None:
        self.keywords.close()


class _SortedCursor(FieldCursor):
    """Whoosh's term cursor over a text field's sorted terms."""

    def __init__(self, reader: ArraysTermsReader, fieldname: str, texts: list[bytes]):
        self.reader, self.fieldname, self.texts, self.i = reader, fieldname, texts, 0

    def first(self) -> bytes | None:
        self.i = 0
        return self.term()

    def find(self, term: bytes | str) -> bytes | None:
        key = term.encode("utf-8") if isinstance(term, str) else term
        self.i = bisect.bisect_left(self.texts, key)
        return self.term()

    def next(self) -> bytes | None:
        self.i += 1
        return self.term()

    def is_valid(self) -> bool:
        return self.i < len(self.texts)

    def term(self) -> bytes | None:
        return self.texts[self.i] if self.is_valid() else None

    def text(self) -> str | None:
        found = self.term()
        return None if found is None else found.decode("utf-8")

    def term_info(self) -> Any:
        found = self.term()
        return None if found is None else self.reader.term_info(self.fieldname, found)
