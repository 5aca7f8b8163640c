"""One text field's postings in one segment: collected in any order, written
as the field's arrays (the layout is described in indexer/arrays.py).

Postings arrive one at a time (new documents, and merges of segments that
Whoosh reads through its own API) or a segment's whole field at once
(``add_block``: merges of segments that have arrays). Each posting is a term
number, a document, a frequency and its positions, appended to flat arrays:
about 16 bytes plus 4 per position, against ~150 for Whoosh's pool tuples,
and no sort until the end. Past ``RUN_BYTES`` the collected postings are
sorted by term (a stable sort: documents stay in the order they came, which
is ascending) and spilled to a run on disk, so a segment of any size costs
bounded memory. ``write`` merges the runs term by term in chunks and writes
the final arrays.
"""

from __future__ import annotations

import hashlib
import mmap
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

POSITIONS_HEADER = 4  # a CompactPositions value: the frequency, then 4 bytes per position
NO_POSITIONS = -1  # pfirst of a term without positions (exact spellings, compounds)
# Positions of a posting that has none in a term that has them elsewhere:
# UNPLACED, UNPLACED + 2, ... are never next to a real position (records are
# far shorter than 2**24 words) nor to each other, so no phrase matches them.
UNPLACED = 1 << 24
RUN_BYTES = 48 << 20  # collected postings of a field held in memory before a run spills
CHUNK_POSTINGS = 1 << 20  # postings merged and written at a time (~50 MB of temporaries)
# Document numbers are stored in 16 bits when a segment has more documents:
# a posting keeps its number's low 16 bits, and <field>.dochigh.npy says,
# per term, where each block of 65,536 documents starts among its postings.
DOC_BLOCK_BITS = 16
_KINDS = ("term", "doc", "tf", "npos", "pstart", "pos")


def term_hash(term: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(term, digest_size=8).digest(), "little")


class FieldPostings:
    def __init__(self, folder: Path, name: str):
        self.folder, self.name = folder, name
        self.ids: dict[bytes, int] = {}
        self.texts: list[bytes] = []
        self.runs: list[dict[str, np.ndarray]] = []
        self._new_buffers()

    def _new_buffers(self) -> None:
        self.term, self.doc, self.tf, self.npos = array("I"), array("I"), array("I"), array("I")
        self.pos = bytearray()

    def term_id(self, btext: bytes) -> int:
        found = self.ids.get(btext)
        if found is None:
            found = self.ids[btext] = len(self.texts)
            self.texts.append(btext)
        return found

    def add(self, btext: bytes, docnum: int, weight: float, value: bytes | None) -> None:
        tf = int(weight + 0.5)
        found = self.ids.get(btext)
        self.term.append(self.term_id(btext) if found is None else found)
        self.doc.append(docnum)
        self.tf.append(tf)
        if value is not None and tf and len(value) == POSITIONS_HEADER + 4 * tf:
            self.pos += value[POSITIONS_HEADER:]
            self.npos.append(tf)
        else:
            self.npos.append(0)
        if not len(self.term) & 0xFFF and 16 * len(self.term) + len(self.pos) > RUN_BYTES:
            self.spill()

    def add_block(self, terms: list[bytes], term: np.ndarray, doc: np.ndarray, tf: np.ndarray,
                  npos: np.ndarray, pos: np.ndarray) -> None:
        """Many postings at once: ``term`` indexes ``terms``; each posting has
        ``npos`` positions (0 or its frequency) in ``pos``, in posting order,
        as deltas within the posting."""
        if not len(term):
            return
        mine = np.array([self.term_id(t) for t in terms], dtype=np.uint32)
        self.spill()  # keep the order of arrival: what is buffered comes first
        self._spill_arrays(mine[term], doc.astype(np.uint32), tf.astype(np.uint32),
                           npos.astype(np.uint32), pos.astype(np.uint32))

    def spill(self) -> None:
        if not len(self.term):
            return
        as_array = np.frombuffer
        self._spill_arrays(as_array(self.term, dtype=np.uint32), as_array(self.doc, dtype=np.uint32),
                           as_array(self.tf, dtype=np.uint32), as_array(self.npos, dtype=np.uint32),
                           as_array(self.pos, dtype=np.uint32))
        self._new_buffers()

    def _spill_arrays(self, term: np.ndarray, doc: np.ndarray, tf: np.ndarray, npos: np.ndarray,
                      pos: np.ndarray) -> None:
        """A run: the postings sorted by term, each with where its positions
        start in ``pos``, which keeps the order of arrival (reordering every
        position here would cost several times their size in temporaries)."""
        order = np.argsort(term, kind="stable")
        starts = np.cumsum(npos, dtype=np.int64) - npos
        run = {"term": term[order], "doc": doc[order], "tf": tf[order], "npos": npos[order],
               "pstart": starts[order], "pos": pos}
        k = len(self.runs)
        paths = {kind: self.folder / f"{self.name}.run{k}.{kind}.npy" for kind in _KINDS}
        for kind in _KINDS:
            np.save(paths[kind], run[kind])
        del run, order
        self.runs.append({kind: np.load(paths[kind], mmap_mode="r") for kind in _KINDS})

    def write(self) -> None:
        """The field's final arrays, from every run (then removed)."""
        self.spill()
        count = len(self.texts)
        runs = self.runs
        df = np.zeros(count, dtype=np.int64)
        placed = np.zeros(count, dtype=bool)
        for run in runs:
            df += np.bincount(run["term"], minlength=count)
            placed[run["term"][run["npos"] > 0]] = True
        _release(runs)
        top = {"doc": 0, "tf": 0, "pos": 0}
        position_counts = np.zeros(count, dtype=np.int64)
        blocks: dict[int, np.ndarray] = {}  # postings of each term in each block of documents
        raw = {kind: open(self.folder / f"{self.name}.{kind}.bin", "wb") for kind in ("doc", "tf", "pos")}
        try:
            for first_term, last_term in term_chunks(df, CHUNK_POSTINGS):
                self._write_chunk(runs, first_term, last_term, placed, raw, top, position_counts, blocks)
                _release(runs)
        finally:
            for handle in raw.values():
                handle.close()
        first = np.cumsum(df) - df
        pfirst = np.where(placed, np.cumsum(position_counts) - position_counts, NO_POSITIONS)
        order = self._write_terms(first, df, pfirst)
        split = top["doc"] >> DOC_BLOCK_BITS > 0
        if split:
            # per term, how many of its postings come before blocks 1, 2, ...
            counts = np.stack([blocks.get(b, np.zeros(count, dtype=np.int32)) for b in range(max(blocks) + 1)], 1)
            starts = np.cumsum(counts, axis=1, dtype=np.int64)[:, :-1]
            np.save(self.folder / f"{self.name}.dochigh.npy", starts[order].astype(np.uint32))
            top["doc"] = (1 << DOC_BLOCK_BITS) - 1
        for kind, target, dtype in (("doc", "docs", np.uint32), ("tf", "tf", np.uint32), ("pos", "pos", np.uint32)):
            path = self.folder / f"{self.name}.{kind}.bin"
            mask = (1 << DOC_BLOCK_BITS) - 1 if kind == "doc" and split else None
            _narrow_copy(path, dtype, top[kind], self.folder / f"{self.name}.{target}.npy", mask)
            path.unlink()
        self.runs.clear()
        for path in self.folder.glob(f"{self.name}.run*.npy"):
            path.unlink()

    def _write_chunk(self, runs: list, low: int, high: int, placed: np.ndarray, raw: dict, top: dict,
                     position_counts: np.ndarray, blocks: dict[int, np.ndarray]) -> None:
        parts: dict[str, list[np.ndarray]] = {kind: [] for kind in ("term", "doc", "tf", "npos", "pos")}
        for run in runs:
            lo, hi = np.searchsorted(run["term"], [low, high])
            if lo == hi:
                continue
            for kind in ("term", "doc", "tf", "npos"):
                parts[kind].append(np.asarray(run[kind][lo:hi]))
            # this run's positions of these postings, in posting order
            parts["pos"].append(np.asarray(run["pos"][_gather(run["pstart"][lo:hi], run["npos"][lo:hi])]))
        if not parts["term"]:
            return
        term, doc, tf, npos, pos = (np.concatenate(parts[k]) for k in ("term", "doc", "tf", "npos", "pos"))
        del parts
        pstart = np.cumsum(npos, dtype=np.int64) - npos
        order = np.argsort(term, kind="stable")  # by term; runs (hence documents) in order
        term, doc, tf, npos, pstart = term[order], doc[order], tf[order], npos[order], pstart[order]
        # every posting of a placed term gets tf positions: its own, or UNPLACED ones
        counts = np.where(placed[term], tf, 0).astype(np.int64)
        out = np.full(int(counts.sum()), 2, dtype=np.uint32)
        out_starts = np.cumsum(counts) - counts
        own = npos > 0
        out[out_starts[(counts > 0) & ~own]] = UNPLACED
        own_counts = npos[own].astype(np.int64)
        out[_gather(out_starts[own], own_counts)] = pos[_gather(pstart[own], own_counts)]
        position_counts += np.bincount(term, weights=counts, minlength=len(position_counts)).astype(np.int64)
        block = doc >> DOC_BLOCK_BITS
        for b in np.unique(block).tolist():
            found = np.bincount(term[block == b], minlength=len(placed)).astype(np.int32)
            blocks[b] = blocks[b] + found if b in blocks else found
        for kind, values in (("doc", doc), ("tf", tf), ("pos", out)):
            if len(values):
                top[kind] = max(top[kind], int(values.max()))
                values.astype(np.uint32).tofile(raw[kind])

    def _write_terms(self, first: np.ndarray, df: np.ndarray, pfirst: np.ndarray) -> np.ndarray:
        """Per-term tables in hash order; the terms' text in the same order.
        Returns the order (term numbers by hash)."""
        hashes = np.array([term_hash(t) for t in self.texts], dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        texts = [self.texts[i] for i in order.tolist()]
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        np.save(self.folder / f"{self.name}.hash.npy", hashes[order])
        np.save(self.folder / f"{self.name}.first.npy", _offsets(first[order]))
        np.save(self.folder / f"{self.name}.df.npy", df[order].astype(np.int32))
        np.save(self.folder / f"{self.name}.pfirst.npy", _offsets(pfirst[order]))
        np.save(self.folder / f"{self.name}.tstart.npy", _offsets(np.concatenate(([0], np.cumsum(lengths)))))
        (self.folder / f"{self.name}.terms.bin").write_bytes(b"".join(texts))
        return order


def _offsets(values: np.ndarray) -> np.ndarray:
    """Offsets into a field's arrays in 4 bytes when they fit (nearly
    always: a segment would need 2**31 postings or positions), else 8. Every
    reader converts a value with int() before using it."""
    if not len(values):
        return values.astype(np.int64)
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high < 1 << 32:
        return values.astype(np.uint32)
    if low >= -(1 << 31) and high < 1 << 31:
        return values.astype(np.int32)
    return values.astype(np.int64)


def term_chunks(counts: np.ndarray, chunk: int) -> Iterator[tuple[int, int]]:
    """(first, last) ranges of terms, in order, each with about ``chunk``
    postings (``counts`` per term) and at least one term."""
    ends = np.cumsum(counts, dtype=np.int64)
    first = 0
    while first < len(ends):
        start = int(ends[first] - counts[first])
        last = min(len(ends), max(first + 1, int(np.searchsorted(ends, start + chunk, side="right"))))
        yield first, last
        first = last


def _gather(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indexes starts[0] .. starts[0]+counts[0]-1, starts[1] .., concatenated."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts) + np.arange(total)


NARROW_CHUNK = 1 << 22  # values converted at a time (16 MB of uint32)


def _narrow_copy(raw: Path, dtype: Any, top: int, target: Path, mask: int | None = None) -> None:
    """Copy the non-negative values of the flat file ``raw`` into the .npy
    ``target`` in the smallest of uint8/uint16/uint32 that holds ``top``,
    their largest: term frequencies are nearly always below 256, positions
    below 65,536, and document numbers are kept in 16 bits (``mask``: the low
    bits of larger ones). Chunk by chunk with plain reads and writes, so a
    segment of any size costs NARROW_CHUNK values of memory (a mapping would
    keep every page it touched in the process's resident memory)."""
    narrow = next(t for t in (np.uint8, np.uint16, np.uint32) if top <= np.iinfo(t).max)
    size = np.dtype(dtype).itemsize
    count = raw.stat().st_size // size
    with open(raw, "rb") as source, open(target, "wb") as out:
        np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(narrow)),
                                                  "fortran_order": False, "shape": (count,)})
        for _ in range(0, count, NARROW_CHUNK):
            values = np.fromfile(source, dtype=dtype, count=NARROW_CHUNK)
            (values if mask is None else values & mask).astype(narrow).tofile(out)


def _release(runs: list[dict[str, np.ndarray]]) -> None:
    """Drop the runs' pages read so far from this process's resident memory
    (they stay in the page cache): merging reads every run once, in order."""
    for run in runs:
        for values in run.values():
            mapping = getattr(values, "_mmap", None)
            if mapping is not None:
                mapping.madvise(mmap.MADV_DONTNEED)
