"""Per-segment arrays: what a search reads, written once when a segment is
written, and memory-mapped by every server process.

Whoosh stays the store of record (documents, ids, positions, deletions,
atomic commits). But decoding its posting blocks is pure Python, one posting
at a time: a common word in a fresh process took seconds, and every process
kept its own decoded copy. So, as Whoosh writes a segment, ``ArraysCodec``
also receives every posting, field length and column value of it and writes
them as flat numpy arrays beside the index:

    <index>/arrays/<segment id>/
        meta.json                  document count, fields, format version
        <field>.hash.npy           uint64, the terms' 64-bit hashes, sorted
        <field>.first.npy          int64, where each term's postings start
        <field>.df.npy             int32, how many postings it has
        <field>.tstart.npy         int64, where each term's text starts in...
        <field>.terms.bin          ...the terms' UTF-8 bytes (to verify a hash hit)
        <field>.docs.npy           int32, segment-local document numbers
        <field>.tf.npy             uint32, term frequencies
        <field>.pfirst.npy         int64, where each term's positions start in...
        <field>.pos.npy            uint32, positions as deltas within a posting
                                   (a posting has tf of them; a term without
                                   positions has pfirst NO_POSITIONS, one with
                                   positions in some postings only MIXED)
        len.<field>.npy            uint8, Whoosh's one-byte field lengths
        col.<field>.npy            int32 codes into col.<field>.json (-1: none),
                                   or int64 values for numeric columns

A search maps them (``SegmentArrays``) instead of decoding: the pages live in
the kernel's page cache, shared by every process and kept across restarts,
so a new process or thread is warm at once and its private memory does not
grow with the index.

Segments never change once written, so neither do their arrays. They are
written into ``<id>.tmp`` and renamed when complete; arrays of segments that
no longer exist (merged away, or never committed by a killed run) are
removed by ``remove_stale`` after each commit. A segment without arrays (an
index from an older version) is still searched, through Whoosh's decoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from array import array
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PerDocWriter

from indexer.closing import close_files

FORMAT_VERSION = 2
ARRAYS_DIR = "arrays"
TEXT_FIELDS = ("content", "title", "lead", "captions")  # the fields a query scores
NUMERIC_COLUMNS = ("published",)
KEYWORD_COLUMNS = ("author", "category", "source", "year", "month")
LENGTH_PREFIX = "_"  # Whoosh names a field's length column "_<field>_len"
LENGTH_SUFFIX = "_len"
NO_VALUE = -1
NO_POSITIONS = -1  # exact spellings and compounds: scored, never in a phrase
MIXED_POSITIONS = -2  # some postings with, some without: phrases read Whoosh's
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


_PLAIN_BYTE = np.zeros(256, dtype=bool)
_PLAIN_BYTE[[ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]] = True


def term_hash(term: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(term, digest_size=8).digest(), "little")


def arrays_root(index_dir: str | os.PathLike) -> Path:
    return Path(index_dir) / ARRAYS_DIR


# -- writing ------------------------------------------------------------------

class _SegmentArraysWriter:
    """Collects one segment's data from the two Whoosh writers below; the
    postings stream to files, the per-term and per-document tables stay in
    memory until the segment is closed."""

    def __init__(self, storage: Any, segment: Any):
        self.folder = arrays_root(storage.folder) / (segment.segment_id() + ".tmp")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.columns: dict[str, dict[int, Any]] = {}
        self.doccount = 0
        self.fields: dict[str, dict[str, Any]] = {}
        self.field: str | None = None
        self.finished = {"postings": False, "perdoc": False}

    # postings (from the field writer)
    def start_field(self, fieldname: str, compact_positions: bool) -> None:
        if fieldname not in TEXT_FIELDS:
            self.field = None
            return
        self.field = fieldname
        self.fields[fieldname] = {
            "hashes": array("Q"), "first": array("q"), "df": array("i"), "terms": bytearray(),
            "tstart": array("q"), "pfirst": array("q"), "count": 0, "positions": 0,
            "compact": compact_positions, "term_start": 0, "term_positions": 0, "term_empty": 0,
            "docs": open(self.folder / f"{fieldname}.docs.bin", "wb"),
            "tf": open(self.folder / f"{fieldname}.tf.bin", "wb"),
            "pos": open(self.folder / f"{fieldname}.pos.bin", "wb"),
            "buf_docs": array("i"), "buf_tf": array("I"), "buf_pos": bytearray(),
        }

    def start_term(self, btext: bytes) -> None:
        if self.field is None:
            return
        data = self.fields[self.field]
        data["hashes"].append(term_hash(btext))
        data["first"].append(data["count"])
        data["tstart"].append(len(data["terms"]))
        data["terms"] += btext
        data["df"].append(0)
        data["pfirst"].append(NO_POSITIONS)
        data["term_start"] = data["positions"]
        data["term_positions"] = data["term_empty"] = 0

    def add(self, docnum: int, weight: float, value: bytes | None) -> None:
        if self.field is None:
            return
        data = self.fields[self.field]
        tf = int(round(weight))
        data["buf_docs"].append(docnum)
        data["buf_tf"].append(tf)
        data["df"][-1] += 1
        data["count"] += 1
        if data["compact"] and value is not None:
            # CompactPositions: a 4-byte frequency, then 4 bytes per position
            count = (len(value) - POSITIONS_HEADER) // 4
            if count == tf:
                data["buf_pos"] += value[POSITIONS_HEADER:]
                data["positions"] += count
                data["term_positions"] += 1
            else:
                data["term_empty"] += 1
            data["pfirst"][-1] = _term_positions(data)
        else:
            data["pfirst"][-1] = MIXED_POSITIONS  # another format: phrases read Whoosh's
        if len(data["buf_docs"]) >= 1 << 16:
            self._flush(data)

    @staticmethod
    def _flush(data: dict[str, Any]) -> None:
        data["buf_docs"].tofile(data["docs"])
        data["buf_tf"].tofile(data["tf"])
        data["pos"].write(data["buf_pos"])
        data["buf_docs"] = array("i")
        data["buf_tf"] = array("I")
        data["buf_pos"] = bytearray()

    def postings_done(self) -> None:
        for name, data in self.fields.items():
            self._flush(data)
            data["docs"].close()
            data["tf"].close()
            data["pos"].close()
            order = np.argsort(np.frombuffer(data["hashes"], dtype=np.uint64), kind="stable")
            tstart = np.frombuffer(data["tstart"], dtype=np.int64)
            ends = np.append(tstart[1:], len(data["terms"])) if len(tstart) else tstart
            np.save(self.folder / f"{name}.hash.npy", np.frombuffer(data["hashes"], dtype=np.uint64)[order])
            np.save(self.folder / f"{name}.first.npy", np.frombuffer(data["first"], dtype=np.int64)[order])
            np.save(self.folder / f"{name}.df.npy", np.frombuffer(data["df"], dtype=np.int32)[order])
            np.save(self.folder / f"{name}.pfirst.npy", np.frombuffer(data["pfirst"], dtype=np.int64)[order])
            # term texts in hash order, so a term's text sits at its hash's index
            sorted_start = tstart[order]
            sorted_end = ends[order]
            blob = b"".join(bytes(data["terms"][s:e]) for s, e in zip(sorted_start, sorted_end, strict=True))
            lengths = (sorted_end - sorted_start).astype(np.int64)
            np.save(self.folder / f"{name}.tstart.npy", np.concatenate(([0], np.cumsum(lengths))))
            (self.folder / f"{name}.terms.bin").write_bytes(blob)
            for kind, dtype in (("docs", np.int32), ("tf", np.uint32), ("pos", np.uint32)):
                raw = self.folder / f"{name}.{kind}.bin"
                np.save(self.folder / f"{name}.{kind}.npy", np.fromfile(raw, dtype=dtype))
                raw.unlink()
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


POSITIONS_HEADER = 4
COMPACT_FORMAT = "CompactPositions"  # indexer.schema's format: raw 32-bit position deltas


def _term_positions(data: dict[str, Any]) -> int:
    """The current term's pfirst: where its positions start, or a marker."""
    if data["term_positions"] and data["term_empty"]:
        return MIXED_POSITIONS
    return int(data["term_start"]) if data["term_positions"] else NO_POSITIONS


def discard(index_dir: str | os.PathLike[str], segment_id: str) -> None:
    """After a failed or cancelled write: close this process's unfinished
    arrays of the index and remove them, and the arrays of the segment the
    write would have added (a cancel closes its writers, which completes
    them). Arrays left by worker processes go at the next write."""
    for key in [k for k in _open_writers if k[0] == str(index_dir)]:
        writer = _open_writers.pop(key)
        for data in writer.fields.values():
            for name in ("docs", "tf", "pos"):
                data[name].close()
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


def _writer_for(storage: Any, segment: Any) -> _SegmentArraysWriter:
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
    def __init__(self, codec: Any, storage: Any, segment: Any):
        self._opened: list[Any] = []
        try:
            super().__init__(codec, storage, segment)
        except BaseException:
            close_files(self._opened)
            raise
        self._arrays = _writer_for(storage, segment)

    def _create_file(self, ext: str) -> Any:
        created = super()._create_file(ext)
        self._opened.append(created)
        return created

    def start_field(self, fieldname: str, fieldobj: Any) -> None:
        super().start_field(fieldname, fieldobj)
        self._arrays.start_field(fieldname, type(fieldobj.format).__name__ == COMPACT_FORMAT)

    def start_term(self, btext: bytes) -> None:
        super().start_term(btext)
        self._arrays.start_term(btext)

    def add(self, docnum: int, weight: float, vbytes: Any, length: Any) -> None:
        super().add(docnum, weight, vbytes, length)
        self._arrays.add(docnum, weight, vbytes)

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
        self._arrays = _writer_for(storage, segment)

    def add_column_value(self, fieldname: str, columnobj: Any, value: Any) -> None:
        super().add_column_value(fieldname, columnobj, value)
        self._arrays.column_value(self._docnum, fieldname, value)

    def close(self) -> None:
        super().close()
        self._arrays.perdoc_done(self._doccount)
        _closed(self._storage, self._segment)


class ArraysCodec(W3Codec):
    """Whoosh's W3 codec that also writes each segment's arrays. Segments
    remember their codec, so reading is W3's own, unchanged."""

    def per_document_writer(self, storage: Any, segment: Any) -> W3PerDocWriter:
        return _PerDocWriter(self, storage, segment)

    def field_writer(self, storage: Any, segment: Any) -> W3FieldWriter:
        return _FieldWriter(self, storage, segment)


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

class SegmentArrays:
    """One segment's arrays, memory-mapped (nothing is read until used)."""

    def __init__(self, folder: Path):
        self.folder = folder
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("version") != FORMAT_VERSION:
            raise ValueError(f"arrays format {meta.get('version')} in {folder}")
        self.doc_count = int(meta["docs"])
        # Everything is mapped now (mapping reads nothing): a writer may
        # remove these files once the segment is merged away, and a mapping
        # outlives its file.
        self._maps: dict[str, Any] = {path.name: np.load(path, mmap_mode="r") for path in folder.glob("*.npy")}
        for path in folder.glob("*.terms.bin"):
            size = path.stat().st_size
            self._maps[path.name] = np.memmap(path, dtype=np.uint8, mode="r") if size else None
        self._labels = {path.name: json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("col.*.json")}

    @classmethod
    def open(cls, index_dir: str | os.PathLike, segment_id: str) -> SegmentArrays | None:
        folder = arrays_root(index_dir) / segment_id
        try:
            return cls(folder)
        except (OSError, ValueError, KeyError):
            return None  # no arrays for this segment: searched through Whoosh

    def _map(self, name: str) -> np.ndarray | None:
        return self._maps.get(name)

    def _terms(self, field: str) -> np.ndarray | None:
        return self._maps.get(f"{field}.terms.bin")

    def postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(segment-local document numbers, frequencies) of a term, deletions included."""
        found = self._slot(field, term.encode("utf-8"))
        if found is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint32)
        first = int(self._map(f"{field}.first.npy")[found])  # type: ignore[index]
        count = int(self._map(f"{field}.df.npy")[found])  # type: ignore[index]
        docs = self._map(f"{field}.docs.npy")
        tf = self._map(f"{field}.tf.npy")
        assert docs is not None and tf is not None
        return docs[first:first + count], tf[first:first + count]

    def position_pairs(self, field: str, term: str,
                       local_docs: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(document, position) of every occurrence of a term in the given
        documents (sorted, segment-local), as two flat arrays; None when this
        term's positions must be read through Whoosh."""
        found = self._slot(field, term.encode("utf-8"))
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
        counts = tf.astype(np.int64)
        starts = pfirst + np.concatenate(([0], np.cumsum(counts)[:-1]))
        chosen = np.flatnonzero(np.isin(docs, local_docs) & (counts > 0))
        if not len(chosen):
            return empty
        lengths = counts[chosen]
        ends = np.cumsum(lengths)
        firsts = ends - lengths  # where each chosen posting starts in the gathered array
        index = np.repeat(starts[chosen] - firsts, lengths) + np.arange(int(ends[-1]))
        deltas = pos[index].astype(np.int64)
        running = np.cumsum(deltas)
        positions = running - np.repeat(running[firsts] - deltas[firsts], lengths)
        return np.repeat(docs[chosen].astype(np.int64), lengths), positions

    def doc_frequency(self, field: str, term: str) -> int:
        found = self._slot(field, term.encode("utf-8"))
        return 0 if found is None else int(self._map(f"{field}.df.npy")[found])  # type: ignore[index]

    def _slot(self, field: str, term: bytes) -> int | None:
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
        tstart = self._map(f"{field}.tstart.npy")
        blob = self._terms(field)
        df = self._map(f"{field}.df.npy")
        if tstart is None or blob is None or df is None or len(tstart) < 2:
            return []
        bad = ~_PLAIN_BYTE[np.asarray(blob)]
        bad_per_term = np.add.reduceat(bad.astype(np.int32), tstart[:-1])
        keep = np.flatnonzero((bad_per_term == 0) & (np.diff(tstart) > 0))
        raw = bytes(blob)
        bounds, counts = tstart.tolist(), df.tolist()
        return [(raw[bounds[i]:bounds[i + 1]].decode("ascii"), counts[i]) for i in keep.tolist()]

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
