"""Whoosh's writers, with the text fields' postings sent straight to the
segment's arrays instead of through Whoosh's posting pool.

Whoosh's SegmentWriter puts every posting in a pool of Python tuples, sorts
it (spilling sorted runs to disk and merging them one posting at a time) and
hands it to the codec's field writer. The text fields are nearly all of the
postings, and their only destination is the arrays (indexer/arrays.py), which
collect them in any order. So ``RoutingPool`` passes them to the segment's
FieldPostings as they come and leaves only the keyword fields to Whoosh's
pool. Merging a segment that has format-3 arrays copies its text postings
as whole arrays (``add_postings_to_pool``), not one posting at a time.

The same happens in MpWriter's worker processes: their writer is made inside
Whoosh's worker loop, so ``_WorkerTask`` routes its pool before the first
batch of documents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.writing import SegmentWriter

from indexer.arrays import TEXT_FIELDS, ArraysTermsReader, PostingsCodec, segment_arrays_writer


class RoutingPool:
    """Whoosh's pool for the keyword fields; text-field postings go to the arrays."""

    def __init__(self, inner: Any, arrays: Any):
        self.inner = inner
        self.arrays = arrays
        self._text: dict[str, Any] = {}  # field name -> its FieldPostings

    def add(self, item: tuple) -> None:  # once per posting: kept short
        field = self._text.get(item[0])
        if field is None:
            if item[0] not in TEXT_FIELDS:
                self.inner.add(item)
                return
            field = self._text[item[0]] = self.arrays.field(item[0])
        field.add(item[1], item[2], item[3], item[4])

    def __getattr__(self, name: str) -> Any:  # iter_postings, save, cleanup, fieldnames, ...
        return getattr(self.inner, name)


def route_text_postings(writer: Any) -> None:
    """Route a writer's text postings to its new segment's arrays (once; only
    for segments written by PostingsCodec)."""
    if isinstance(writer.codec, PostingsCodec) and not isinstance(writer.pool, RoutingPool):
        writer.pool = RoutingPool(writer.pool, segment_arrays_writer(writer.storage, writer.newsegment))


class _Routed:
    """What both writers add: routing from the start, and block merges."""

    pool: Any
    schema: Any

    def _route(self) -> None:
        route_text_postings(self)

    def add_postings_to_pool(self, reader: Any, startdoc: int, docmap: dict | None) -> None:
        terms = getattr(reader, "_terms", None)
        if not isinstance(terms, ArraysTermsReader) or not isinstance(self.pool, RoutingPool):
            super().add_postings_to_pool(reader, startdoc, docmap)  # type: ignore[misc]
            return
        new_numbers = _new_numbers(reader, startdoc, docmap)
        for fieldname in terms.text_fields:
            if fieldname in self.schema:
                _copy_field(terms.arrays, fieldname, new_numbers, self.pool.arrays.field(fieldname))
        add = self.pool.inner.add
        for fieldname, btext in terms.keywords.terms():
            if fieldname not in self.schema:
                continue
            matcher = reader.postings(fieldname, btext)  # deleted documents left out
            while matcher.is_active():
                old = matcher.id()
                add((fieldname, btext, int(new_numbers[old]), matcher.weight(), matcher.value()))
                matcher.next()


def _new_numbers(reader: Any, startdoc: int, docmap: dict | None) -> np.ndarray:
    """The new document number of each of the reader's documents (-1: deleted)."""
    count = reader.doc_count_all()
    if docmap is None:
        numbers = np.arange(startdoc, startdoc + count, dtype=np.int64)
        deleted = list(reader.deleted_docs()) if reader.has_deletions() else []
        numbers[deleted] = -1
        return numbers
    numbers = np.full(count, -1, dtype=np.int64)
    if docmap:
        old = np.fromiter(docmap.keys(), dtype=np.int64, count=len(docmap))
        numbers[old] = np.fromiter(docmap.values(), dtype=np.int64, count=len(docmap))
    return numbers


def _copy_field(arrays: Any, fieldname: str, new_numbers: np.ndarray, target: Any) -> None:
    """A segment's postings of one text field, renumbered, without deleted documents."""
    for texts, term, doc, tf, npos, pos in arrays.posting_chunks(fieldname):
        doc = new_numbers[doc.astype(np.int64)]
        keep = doc >= 0
        if not keep.all():
            pos = pos[np.repeat(keep, npos)]
            term, doc, tf, npos = term[keep], doc[keep], tf[keep], npos[keep]
        target.add_block(texts, term, doc, tf, npos, pos)


class ArraysSegmentWriter(_Routed, SegmentWriter):
    def __init__(self, ix: Any, **kwargs: Any):
        super().__init__(ix, **kwargs)
        self._route()
        self._ready: list[Any] = []

    def add_segment(self, segment: Any) -> None:
        """A whole segment written elsewhere (indexer/distributed.py), whose
        files and arrays are already in this index's folder: it joins the
        index as it is, at the commit, in the same TOC as everything else
        this writer does. Nothing of it is read or re-encoded here."""
        self._check_state()
        self._ready.append(segment)

    def commit(self, mergetype: Any = None, optimize: Any = None, merge: Any = None) -> None:
        if not self._ready:
            super().commit(mergetype, optimize, merge)
            return
        # Whoosh's commit with the ready segments added (as MpWriter adds
        # its workers' segments): merge the existing segments by the policy,
        # close this writer's own segment, write the TOC, clean up.
        self._check_state()
        final = self._merge_segments(mergetype, optimize, merge)
        if self._added:
            final.append(self._finalize_segment())
        else:
            self._close_segment()
        self._commit_toc(final + self._ready)
        self._finish()


class _WorkerTask(SubWriterTask):
    def _process_file(self, filename: str, doc_count: int) -> None:
        route_text_postings(self.writer)
        super()._process_file(filename, doc_count)


class ArraysMpWriter(_Routed, MpWriter):
    def __init__(self, ix: Any, **kwargs: Any):
        super().__init__(ix, **kwargs)
        self._route()

    def _new_task(self) -> Any:  # Whoosh's, with the routing worker task
        task = _WorkerTask(self.storage, self.indexname, self.jobqueue, self.resultqueue,
                           self.subargs, self.multisegment)
        self.tasks.append(task)
        task.start()
        return task
