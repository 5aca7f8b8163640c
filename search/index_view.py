"""A read view of one index generation as numpy arrays, for fast scoring.

Whoosh's matcher trees run in pure Python one posting at a time, too slow for
long OR queries over stacked terms. Whoosh stays the store; a query reads:

* postings (document numbers and term frequencies) from each segment's
  arrays (indexer/arrays.py), read with pread: nothing is decoded, and the
  pages are shared by every process through the kernel's page cache;
* positions, for phrases, from the same arrays, only for the candidate
  documents;
* per-document lengths, facet columns and dates as arrays, built once per
  generation from the segments' arrays.

A segment without arrays (written by plain Whoosh) is decoded through
Whoosh instead, into byte-bounded caches (postings, and position blocks).

Whoosh file reads seek a shared file object, so each thread reads through its
own searcher (``IndexView``), opened without mmap (``indexer.store``): Whoosh
copies a mapped segment into a private buffer for every searcher. What is
derived is shared by all threads of a process (generation.py).

This and indexer/ are the only modules that touch Whoosh internals: the W3
codec's block layout (delta-coded ids, weights, values per block).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher, _lenfield
from whoosh.reading import TermNotFound
from whoosh.util.numeric import byte_to_length
from whoosh.util.times import datetime_to_long

from indexer.arrays import NO_VALUE
from indexer.signatures import EMPTY, SIGNATURE_BINS
from search.bm25 import length_norm
from search.cache import ByteLRU
from search.generation import Generation, Leaf
from search.vocabulary import Vocabulary

_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)
NO_DATE = np.iinfo(np.int64).min
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


class IndexView:
    """One thread's view: its own searcher over a shared Generation."""

    def __init__(self, searcher: Any, generation: Generation | None = None):
        self.searcher = searcher
        self.reader = searcher.reader()
        self.readers = [leaf for leaf, _ in self.reader.leaf_readers()]
        self.shared = generation or Generation(searcher)
        self.leaves = self.shared.leaves
        self.caches = self.shared.caches
        self.size = self.shared.size
        self.live = self.shared.live
        self.live_count = self.shared.live_count

    # -- postings --------------------------------------------------------
    def postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(document numbers, term frequencies) of a term, deleted documents included."""
        key = (self.shared.number, field, term)
        return self.caches.postings.get_or_make(key, lambda: self._merged_postings(field, term))

    def _merged_postings(self, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        """A term's postings over all segments, written straight into one pair
        of arrays: int64 numbers (numpy's index type: any other is converted
        on every gather and scatter) and float32 frequencies, at least 1 (a
        posting), so every BM25 score is above 0 (executor._any_term relies
        on it)."""
        parts = []
        for leaf, reader in zip(self.leaves, self.readers, strict=True):
            local, freqs = self._segment_postings(leaf, reader, field, term)
            if len(local):
                parts.append((leaf.base, local, freqs))
        total = sum(len(local) for _, local, _ in parts)
        ids, tf = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.float32)
        at = 0
        for base, local, freqs in parts:
            np.add(local, np.int64(base), out=ids[at:at + len(local)])
            np.maximum(freqs, 1, out=tf[at:at + len(local)], casting="unsafe")
            at += len(local)
        return ids, tf

    def _segment_postings(self, leaf: Leaf, reader: Any, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
        if leaf.arrays is not None:
            return leaf.arrays.postings(field, term)
        key = (leaf.segment_id, field, term)
        return self.caches.postings.get_or_make(key, lambda: _decode_postings(reader, field, term))

    def position_pairs(self, field: str, term: str, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document, position) of every occurrence of a term in the given
        documents (sorted docnums), as two flat arrays."""
        doc_parts: list[np.ndarray] = []
        pos_parts: list[np.ndarray] = []
        for leaf, reader in zip(self.leaves, self.readers, strict=True):
            base = leaf.base
            local = docs[(docs >= base) & (docs < base + leaf.doc_count)] - base
            if not len(local):
                continue
            pairs = leaf.arrays.position_pairs(field, term, local) if leaf.arrays is not None else None
            if pairs is None:
                pairs = self._decoded_positions(leaf, reader, field, term, local)
            doc_parts.append(pairs[0] + base)
            pos_parts.append(pairs[1])
        if not doc_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(doc_parts), np.concatenate(pos_parts)

    def _decoded_positions(self, leaf: Leaf, reader: Any, field: str, term: str,
                           local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions through Whoosh's posting blocks (a segment without arrays).
        Blocks without a wanted document are skipped on their header alone."""
        found: dict[int, list[int]] = {}
        fmt = self.reader.schema[field].format
        try:
            matcher = reader._terms.matcher(field, term.encode("utf-8"), fmt)
        except TermNotFound:
            matcher = None
        wanted = local.tolist()
        if matcher is not None and not isinstance(matcher, W3LeafMatcher):
            for doc, value in matcher.all_items():
                if doc in wanted:
                    found[doc] = fmt.decode_positions(value)
        elif matcher is not None:
            _block_positions(matcher, wanted, 0, fmt, found, self.caches.blocks, leaf.segment_id)
        lengths = [len(found[d]) for d in sorted(found)]
        doc_ids = np.repeat(np.array(sorted(found), dtype=np.int64), lengths)
        positions = np.array([p for d in sorted(found) for p in found[d]], dtype=np.int64)
        return doc_ids, positions

    def doc_frequency(self, field: str, term: str) -> int:
        """Documents holding the term, deleted ones included (as postings
        counts them): from each segment's table, without reading postings."""
        total = 0
        for leaf, reader in zip(self.leaves, self.readers, strict=True):
            if leaf.arrays is not None:
                total += leaf.arrays.doc_frequency(field, term)
            else:
                total += len(self._segment_postings(leaf, reader, field, term)[0])
        return total

    # -- per-document arrays ---------------------------------------------
    def length_norms(self, field: str) -> np.ndarray:
        """BM25's length normalisation of every document (bm25.length_norm),
        the average length taken over the live documents that have the field:
        computed once per generation, read per posting."""
        if field not in self.shared.norms:
            parts = []
            for leaf, reader in zip(self.leaves, self.readers, strict=True):
                if leaf.arrays is not None:
                    raw = leaf.arrays.length_bytes(field)
                else:
                    column = reader._perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
                    raw = np.array(list(column) if column is not None else [0] * leaf.doc_count, dtype=np.uint8)
                parts.append(_LENGTH_OF_BYTE[raw])
            values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            present = values[(values > 0) & self.live[: len(values)]]
            average = float(present.mean()) if len(present) else 1.0
            self.shared.norms[field] = length_norm(values, average)
        return self.shared.norms[field]

    def codes(self, field: str) -> tuple[np.ndarray, list[str]]:
        """A keyword column as integer codes (-1: no value) and its sorted labels."""
        if field not in self.shared.codes:
            parts: list[tuple[np.ndarray, list[str]]] = []
            for leaf, reader in zip(self.leaves, self.readers, strict=True):
                if leaf.arrays is not None:
                    parts.append(leaf.arrays.keyword_column(field))
                else:
                    values = _column(reader, field, True, "")
                    labels = sorted({v for v in values if v})
                    index = {label: i for i, label in enumerate(labels)}
                    parts.append((np.array([index.get(v, NO_VALUE) for v in values], dtype=np.int32), labels))
            labels = sorted({label for _, segment_labels in parts for label in segment_labels})
            index = {label: i for i, label in enumerate(labels)}
            merged = []
            for codes, segment_labels in parts:
                # -1 (no value) maps through the last slot of the lookup table
                lookup = np.array([index[label] for label in segment_labels] + [NO_VALUE], dtype=np.int32)
                merged.append(lookup[np.asarray(codes)])
            column = np.concatenate(merged) if merged else np.zeros(0, dtype=np.int32)
            self.shared.codes[field] = (column, labels)
        return self.shared.codes[field]

    def value_counts(self, field: str) -> np.ndarray:
        """How many live documents hold each code of a keyword column, in
        slot code + 1 (slot 0: no value)."""
        if field not in self.shared.value_counts:
            codes, labels = self.codes(field)
            self.shared.value_counts[field] = np.bincount(codes[self.live] + 1, minlength=len(labels) + 1)
        return self.shared.value_counts[field]

    def dates(self) -> np.ndarray:
        """Publication time of every document as Whoosh longs (NO_DATE if none)."""
        if self.shared.dates is None:
            parts = []
            for leaf, reader in zip(self.leaves, self.readers, strict=True):
                if leaf.arrays is not None:
                    values, present = leaf.arrays.numeric_column("published")
                    parts.append(np.where(present, values, NO_DATE))
                else:
                    # Whoosh gives a huge unsigned sentinel where a document has no date
                    raw = [v if INT64_MIN < v <= INT64_MAX else NO_DATE for v in _column(reader, "published", False, 0)]
                    parts.append(np.array(raw, dtype=np.int64))
            dates = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            dates[self.codes("year")[0] < 0] = NO_DATE
            self.shared.dates = dates
        return self.shared.dates

    def vocabulary(self) -> Vocabulary:
        """The generation's spelling vocabulary (Generation.build_vocabulary);
        while another thread builds it, the previous generation's."""
        shared = self.shared
        if shared.vocabulary is not None:
            return shared.vocabulary
        stale = shared.stale_vocabulary
        if stale is not None and shared.vocabulary_lock.locked():
            return stale
        return shared.build_vocabulary(self.readers)

    # -- filters ---------------------------------------------------------
    def date_mask(self, low: Any, high: Any) -> np.ndarray:
        """Live documents published between ``low`` and ``high`` (inclusive; None: open)."""
        key = (self.shared.number, "published", low, high)
        return self.caches.masks.get_or_make(key, lambda: _frozen(self._date_mask(low, high)))

    def _date_mask(self, low: Any, high: Any) -> np.ndarray:
        dates = self.dates()
        mask = self.live & (dates != NO_DATE)
        if low is not None:
            mask &= dates >= datetime_to_long(low)
        if high is not None:
            mask &= dates <= datetime_to_long(high)
        return mask

    def value_mask(self, field: str, values: Any) -> np.ndarray:
        """Live documents whose ``field`` is one of ``values``."""
        key = (self.shared.number, field, tuple(sorted(values)))

        def make() -> np.ndarray:
            codes, labels = self.codes(field)
            wanted = [labels.index(v) for v in values if v in labels]
            return _frozen(np.isin(codes, wanted) & self.live)

        return self.caches.masks.get_or_make(key, make)

    def stored(self, docnum: int) -> dict:
        leaf = self.leaves[int(np.searchsorted(self.shared.bases, docnum, side="right")) - 1]
        if leaf.stored is not None:
            return leaf.stored.document(docnum - leaf.base)["doc"]
        return self.searcher.stored_fields(docnum)["doc"]

    def event_signatures(self, docnums: list[int]) -> np.ndarray:
        """The event signatures of ``docnums`` (indexer/signatures.py), one
        row each, mapped from the segments' event columns
        (indexer/event_column.py); all EMPTY (never grouped) where a segment
        or a document has none."""
        found = np.full((len(docnums), SIGNATURE_BINS), EMPTY, dtype=np.uint8)
        if not docnums:
            return found
        docs = np.asarray(docnums, dtype=np.int64)
        leaf_of = np.searchsorted(self.shared.bases, docs, side="right") - 1
        for which in np.unique(leaf_of).tolist():
            leaf = self.leaves[which]
            if leaf.events is None:
                continue
            rows = np.flatnonzero(leaf_of == which)
            local = docs[rows] - leaf.base
            signed = local < len(leaf.events)
            found[rows[signed]] = leaf.events[local[signed]]
        return found


def _frozen(mask: np.ndarray) -> np.ndarray:
    mask.setflags(write=False)  # shared through the cache: callers combine, never modify
    return mask


def _decode_postings(reader: Any, field: str, term: str) -> tuple[np.ndarray, np.ndarray]:
    ids: list[int] = []
    freqs: list[float] = []
    try:
        matcher = reader._terms.matcher(field, term.encode("utf-8"), reader.schema[field].format)
        _read_matcher(matcher, 0, ids, freqs)
    except TermNotFound:
        pass  # term not in this segment
    return np.array(ids, dtype=np.int64), np.array(freqs, dtype=np.float32)


def _column(leaf: Any, field: str, translate: bool, missing: Any) -> list:
    """All values of a column in one segment (``missing`` where it has none)."""
    if not leaf.has_column(field):
        return [missing] * leaf.doc_count_all()
    values = list(leaf.column_reader(field, translate=translate))
    return values + [missing] * (leaf.doc_count_all() - len(values))


def _read_matcher(matcher: Any, base: int, ids: list, freqs: list) -> None:
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


def _block_positions(matcher: Any, wanted: list[int], base: int, fmt: Any, found: dict,
                     cache: ByteLRU, segment_id: str) -> None:
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
