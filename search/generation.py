"""What every thread of a process shares about the index it reads.

``Generation`` is one version of the index (one Whoosh commit): its
deletions, its segments (``Leaf``) and the per-document arrays derived from
them on first use (BM25 length norms, facet codes and counts, dates) and
its spelling vocabulary. ``SegmentFiles`` owns the process's mapped segment
arrays and stored-document readers, which outlive generations, as segments
do; ``ReadCaches`` holds everything decoded or derived per query, bounded
in bytes. Each thread reads a generation through its own ``IndexView``
(index_view.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from indexer.arrays import SegmentArrays
from indexer.event_column import event_rows
from indexer.stored_column import StoredColumn
from search.cache import ByteLRU
from search.vocabulary import Vocabulary

DEFAULT_CACHE_MB = 64
# Shares of the cache budget: merged and decoded postings, position blocks
# for phrase checks, filter masks (one byte per article each).
POSTINGS_SHARE, BLOCKS_SHARE, MASKS_SHARE = 0.5, 0.25, 0.25
VOCABULARY_THREAD = "vnsearch-vocabulary"


class ReadCaches:
    """Every cache of the read path of one process, each bounded in bytes,
    together at most ``limit_bytes``. Keys carry the segment id or the
    generation number, so entries never go stale."""

    def __init__(self, limit_bytes: int = DEFAULT_CACHE_MB << 20):
        self.limit_bytes = limit_bytes
        self.postings = ByteLRU(int(limit_bytes * POSTINGS_SHARE))
        self.blocks = ByteLRU(int(limit_bytes * BLOCKS_SHARE))
        self.masks = ByteLRU(int(limit_bytes * MASKS_SHARE))

    @property
    def bytes(self) -> int:
        return self.postings.bytes + self.blocks.bytes + self.masks.bytes


class SegmentFiles:
    """The process's mapped segment arrays, stored-document readers and
    event signatures, by segment id (None: the segment has none). Those of
    segments that left the index are dropped (and closed once no generation
    holds them)."""

    def __init__(self, index_dir: Any):
        self.index_dir = index_dir
        self._open: dict[str, SegmentArrays | None] = {}
        self._stored: dict[str, StoredColumn | None] = {}
        self._events: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    def get(self, segment_id: str) -> SegmentArrays | None:
        with self._lock:
            if segment_id not in self._open:
                self._open[segment_id] = SegmentArrays.open(self.index_dir, segment_id)
            return self._open[segment_id]

    def stored(self, segment: Any) -> StoredColumn | None:
        with self._lock:
            sid = segment.segment_id()
            if sid not in self._stored:
                self._stored[sid] = StoredColumn.of(Path(self.index_dir), segment)
            return self._stored[sid]

    def events(self, segment: Any) -> np.ndarray | None:
        with self._lock:
            sid = segment.segment_id()
            if sid not in self._events:
                self._events[sid] = event_rows(Path(self.index_dir), segment)
            return self._events[sid]

    def keep_only(self, segment_ids: set[str]) -> None:
        with self._lock:
            for gone in set(self._open) - segment_ids:
                del self._open[gone]
            for gone in set(self._stored) - segment_ids:
                del self._stored[gone]
            for gone in set(self._events) - segment_ids:
                del self._events[gone]


class Leaf:
    """One segment of a generation: where its documents start, its arrays
    and its stored documents (None: read through each thread's searcher),
    and its event signatures (None: it has none)."""

    def __init__(self, reader: Any, base: int, files: SegmentFiles | None):
        segment = reader.segment()
        self.segment_id: str = segment.segment_id()
        self.base = base
        self.doc_count: int = reader.doc_count_all()
        arrays = files.get(self.segment_id) if files is not None else None
        self.arrays = arrays if arrays is not None and arrays.doc_count == self.doc_count else None
        self.stored = files.stored(segment) if files is not None else None
        self.events = files.events(segment) if files is not None else None


class Generation:
    """What every thread of a process shares about one version of the index:
    the deletions, and per-document arrays built on first use."""

    def __init__(self, searcher: Any, files: SegmentFiles | None = None, caches: ReadCaches | None = None,
                 previous: Generation | None = None):
        reader = searcher.reader()
        self.number: int = reader.generation()
        self.size: int = reader.doc_count_all()
        live = np.zeros(self.size, dtype=bool)
        live[list(reader.all_doc_ids())] = True
        self.live = live
        self.live_count = int(np.count_nonzero(live))
        self.caches = caches or ReadCaches()
        leaves = list(reader.leaf_readers())
        if files is not None:
            files.keep_only({leaf.segment().segment_id() for leaf, _ in leaves})
        self.leaves = [Leaf(leaf, base, files) for leaf, base in leaves]
        self.bases = np.array([leaf.base for leaf in self.leaves], dtype=np.int64)
        self.norms: dict[str, np.ndarray] = {}
        self.codes: dict[str, tuple[np.ndarray, list[str]]] = {}
        self.value_counts: dict[str, np.ndarray] = {}
        self.dates: np.ndarray | None = None
        # The spelling vocabulary: built once per generation, by one thread;
        # meanwhile the previous generation's serves (suggestions only need
        # roughly current frequencies).
        self.vocabulary: Vocabulary | None = None
        self.stale_vocabulary: Vocabulary | None = (
            (previous.vocabulary or previous.stale_vocabulary) if previous else None)
        self.vocabulary_lock = threading.Lock()
        if all(leaf.arrays is not None for leaf in self.leaves):  # no Whoosh reads: build it now, aside
            threading.Thread(target=self.build_vocabulary, args=([None] * len(self.leaves),),
                             name=VOCABULARY_THREAD, daemon=True).start()

    def build_vocabulary(self, readers: list[Any]) -> Vocabulary:
        """Folded syllables of the content field with their document
        frequency (compounds and accented terms left out); ``readers`` are
        the calling thread's segment readers, used for segments without arrays."""
        with self.vocabulary_lock:
            if self.vocabulary is None:
                vocab: dict[str, int] = {}
                for leaf, reader in zip(self.leaves, readers, strict=True):
                    if leaf.arrays is not None:
                        items = leaf.arrays.plain_terms("content")
                    else:
                        items = [(term.decode("ascii"), info.doc_frequency())
                                 for term, info in reader.iter_field("content") if term.isalnum() and term.isascii()]
                    for word, df in items:
                        vocab[word] = vocab.get(word, 0) + df
                self.vocabulary = Vocabulary(vocab)
                self.stale_vocabulary = None
            return self.vocabulary
