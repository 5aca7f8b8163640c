"""A read view of one index generation as numpy arrays, for fast scoring.

Whoosh's matcher trees run in pure Python one posting at a time: a naive
index answered long OR queries at p50 105 ms / p95 633 ms (FIELD-NOTES),
and our stacked terms made that worse. Whoosh stays the storage; this view
decodes a term's posting list once (cached per generation) into arrays of
document numbers and term frequencies, and keeps per-document lengths,
deletions and facet columns as arrays, so a query is a handful of vector
operations (see executor.py).

This is the only module besides the indexer that touches Whoosh internals:
the W3 codec's block layout (delta-coded ids, weights, values per block).

Whoosh file reads seek a shared file object, so each thread reads through its
own searcher (``IndexView``), while what is decoded is shared by all threads
looking at the same index generation (``Generation``).
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length
from whoosh.util.times import datetime_to_long

POSTINGS_CACHE_TERMS = 4096
SEGMENT_POSTINGS_CACHED = 8192  # per-segment decoded lists, kept across generations
POSITION_BLOCKS_CACHED = 4096  # decoded posting blocks kept for phrase checks
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)
NO_DATE = np.iinfo(np.int64).min


class _LRU:
    """A small thread-safe least-recently-used map."""

    def __init__(self, limit: int):
        self.limit = limit
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self.lock:
            self.items[key] = value
            if len(self.items) > self.limit:
                self.items.popitem(last=False)


class SegmentCache:
    """Decoded data of segments, which never change once written: it survives
    new generations, so after a write only the new segment is decoded again
    (a live archive commits every few seconds)."""

    def __init__(self):
        self.postings = _LRU(SEGMENT_POSTINGS_CACHED)
        self.blocks = _LRU(POSITION_BLOCKS_CACHED)
        self.columns = _LRU(256)  # (segment, column) -> per-document values


class Generation:
    """What every thread shares about one version of the index."""

    def __init__(self, searcher, segments: SegmentCache | None = None):
        reader = searcher.reader()
        self.number = reader.generation()
        self.size = reader.doc_count_all()
        live = np.zeros(self.size, dtype=bool)
        live[list(reader.all_doc_ids())] = True
        self.live = live
        self.live_count = int(live.sum())
        self.postings = _LRU(POSTINGS_CACHE_TERMS)
        self.segments = segments or SegmentCache()
        self.blocks = self.segments.blocks
        self.lengths: dict[str, tuple[np.ndarray, float]] = {}
        self.codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.dates: np.ndarray | None = None
        self.filters: dict[tuple, np.ndarray] = {}  # filter masks (engine.ViewState)
        self.vocabulary: dict[str, int] | None = None  # for suggestions (suggest.py)


class IndexView:
    """One thread's view: its own searcher over a shared Generation."""

    def __init__(self, searcher, generation: Generation | None = None):
        self.searcher = searcher
        self.reader = searcher.reader()
        self.leaves = list(self.reader.leaf_readers())
        self.shared = generation or Generation(searcher)
        self.size = self.shared.size
        self.live = self.shared.live
        self.live_count = self.shared.live_count

    # -- postings --------------------------------------------------------
    def postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, term frequencies) of a term, deleted documents included."""
        key = (field, term)
        cached = self.shared.postings.get(key)
        if cached is not None:
            return cached
        parts = [(local + base, freqs) for (local, freqs), base in
                 ((self._segment_postings(leaf, field, term), base) for leaf, base in self.leaves)
                 if len(local)]
        if not parts:
            result = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        elif len(parts) == 1:
            result = parts[0]
        else:
            result = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        self.shared.postings.put(key, result)
        return result

    def _segment_postings(self, leaf, field: str, term: str):
        key = (leaf.segment().segment_id(), field, term)
        cached = self.shared.segments.postings.get(key)
        if cached is not None:
            return cached
        ids: list[int] = []
        freqs: list[float] = []
        try:
            matcher = leaf._terms.matcher(field, term.encode("utf-8"), leaf.schema[field].format)
            _read_matcher(matcher, 0, ids, freqs)
        except TermNotFound:
            pass  # term not in this segment
        result = (np.array(ids, dtype=np.int64), np.array(freqs, dtype=np.float32))
        self.shared.segments.postings.put(key, result)
        return result

    def positions(self, field: str, term: str, docs: np.ndarray) -> dict[int, list[int]]:
        """Positions of a term in the given documents (sorted docnums). Blocks
        without a wanted document are skipped on their header alone."""
        found: dict[int, list[int]] = {}
        fmt = self.reader.schema[field].format
        tbytes = term.encode("utf-8")
        for leaf, base in self.leaves:
            local = docs[(docs >= base) & (docs < base + leaf.doc_count_all())] - base
            if not len(local):
                continue
            try:
                matcher = leaf._terms.matcher(field, tbytes, fmt)
            except TermNotFound:
                continue
            wanted = local.tolist()
            if not isinstance(matcher, W3LeafMatcher):
                for doc, value in matcher.all_items():
                    if doc in wanted:
                        found[doc + base] = fmt.decode_positions(value)
                continue
            _block_positions(matcher, wanted, base, fmt, found, self.shared.blocks,
                             leaf.segment().segment_id())
        return found

    def doc_frequency(self, field: str, term: str) -> int:
        return len(self.postings(field, term)[0])

    # -- per-document arrays ---------------------------------------------
    def lengths(self, field: str) -> tuple[np.ndarray, float]:
        """Field length of every document, and the average over documents that have it."""
        if field not in self.shared.lengths:
            def read(leaf):
                column = leaf._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
                raw = list(column) if column is not None else [0] * leaf.doc_count_all()
                return _LENGTH_OF_BYTE[np.array(raw, dtype=np.uint8)]

            parts = [self._segment_column(leaf, "length:" + field, read) for leaf, _ in self.leaves]
            values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            present = values[(values > 0) & self.live[: len(values)]]
            self.shared.lengths[field] = (values, float(present.mean()) if len(present) else 1.0)
        return self.shared.lengths[field]

    def codes(self, field: str) -> tuple[np.ndarray, list[str]]:
        """A sortable keyword column as integer codes (-1: no value) and labels."""
        if field not in self.shared.codes:
            values = []
            for leaf, _ in self.leaves:
                values += self._segment_column(leaf, field, lambda leaf: _column(leaf, field, True, ""))
            labels = sorted({v for v in values if v})
            index = {label: i for i, label in enumerate(labels)}
            codes = np.array([index.get(v, -1) for v in values], dtype=np.int32)
            self.shared.codes[field] = (codes, labels)
        return self.shared.codes[field]

    def dates(self) -> np.ndarray:
        """Publication time of every document as Whoosh longs (NO_DATE if none)."""
        if self.shared.dates is None:
            has_date = self.codes("year")[0] >= 0
            raw = []
            for leaf, _ in self.leaves:
                raw += self._segment_column(leaf, "published",
                                            lambda leaf: _column(leaf, "published", False, 0))
            dates = np.array(raw, dtype=np.int64)
            dates[~has_date] = NO_DATE
            self.shared.dates = dates
        return self.shared.dates

    def _segment_column(self, leaf, name: str, read):
        """A per-document column of one segment, decoded once per process."""
        key = (leaf.segment().segment_id(), name)
        cached = self.shared.segments.columns.get(key)
        if cached is None:
            cached = read(leaf)
            self.shared.segments.columns.put(key, cached)
        return cached

    def date_mask(self, low, high) -> np.ndarray:
        dates = self.dates()
        mask = self.live & (dates != NO_DATE)
        if low is not None:
            mask &= dates >= datetime_to_long(low)
        if high is not None:
            mask &= dates <= datetime_to_long(high)
        return mask

    def value_mask(self, field: str, values) -> np.ndarray:
        codes, labels = self.codes(field)
        wanted = [labels.index(v) for v in values if v in labels]
        return np.isin(codes, wanted) & self.live

    def stored(self, docnum: int) -> dict:
        return self.searcher.stored_fields(docnum)["doc"]


def _column(leaf, field: str, translate: bool, missing) -> list:
    """All values of a column in one segment (``missing`` where it has none)."""
    if not leaf.has_column(field):
        return [missing] * leaf.doc_count_all()
    values = list(leaf.column_reader(field, translate=translate))
    return values + [missing] * (leaf.doc_count_all() - len(values))


def _read_matcher(matcher, base: int, ids: list, freqs: list) -> None:
    """Append a term's postings in one segment (block by block when we can)."""
    if isinstance(matcher, W3LeafMatcher):
        while not matcher._atend:
            matcher._read_data()
            deltas, weights = matcher._data[0], matcher._data[1]
            block = list(itertools.accumulate(deltas)) if not matcher._byteids else list(deltas)
            ids.extend(d + base for d in block)
            if weights is None:
                freqs.extend([1.0] * len(block))
            elif isinstance(weights, float):
                freqs.extend([weights] * len(block))
            else:
                freqs.extend(weights)
            if matcher._lastblock:
                break
            matcher._goto(matcher._nextoffset)
        return
    while matcher.is_active():  # inlined single postings and other matchers
        ids.append(matcher.id() + base)
        freqs.append(matcher.weight())
        matcher.next()


def _block_positions(matcher, wanted: list[int], base: int, fmt, found: dict,
                     cache: _LRU, segment_id: str) -> None:
    i = 0
    while i < len(wanted):
        if matcher._maxid >= wanted[i]:
            key = (segment_id, matcher._dataoffset)  # unique per block in a segment
            block = cache.get(key)
            if block is None:
                matcher._read_data()
                ids = matcher._data[0]
                ids = list(itertools.accumulate(ids)) if not matcher._byteids else list(ids)
                block = ({doc: k for k, doc in enumerate(ids)}, matcher._data[2])
                cache.put(key, block)
            where, values = block
            while i < len(wanted) and wanted[i] <= matcher._maxid:
                k = where.get(wanted[i])
                if k is not None:
                    found[wanted[i] + base] = fmt.decode_positions(values[k])
                i += 1
        if matcher._lastblock or i >= len(wanted):
            return
        matcher._goto(matcher._nextoffset)
