"""The order of search results on the Whoosh index, and where a cursor
continues it (search_after).

Every sort orders by one primary key, ascending here: the score negated
(relevance), the publication time negated (newest) or as it is (oldest),
undated articles last either way. Equal keys are ordered by a tie-break
that belongs to the article, not to the index: a 63-bit hash of its id
(``tie_hash``), then the id. Document numbers change when segments merge,
so they never order anything a cursor may continue.

The hashes of a few tied articles are read from their stored records (about
50 us each); where a tie group holds more than a sixth of a segment (many
undated articles, or a query that scores every match 0, such as
``author:...`` alone) they come from the segment's ``id`` terms instead,
all of them at once (about 8 us per article), kept per segment, bounded in
bytes, with the other read caches. So a tie-break costs at most the
cheaper of the two.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from search.cache import ByteLRU
from search.index_view import NO_DATE, IndexView
from search.request import BadRequest, Position

INT64_MAX = int(np.iinfo(np.int64).max)
STORED_READ_COST = 6  # one stored record costs about as much to read as this many id terms


def tie_hash(article_id: str | bytes) -> int:
    """63 bits of BLAKE2b of the article id (its UTF-8 bytes): the same in every process and generation."""
    data = article_id.encode("utf-8") if isinstance(article_id, str) else article_id
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


def primary_key(sort: str, value: float | int | None) -> float | int:
    """A cursor's value (``Position.value``) as a primary key of ``sort``."""
    if sort == "relevance":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest("bad_cursor", "the cursor does not hold a relevance position")
        return -float(value)
    if value is None:
        return INT64_MAX
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest("bad_cursor", "the cursor does not hold a date position")
    return -value if sort == "newest" else value


class IdHashes:
    """``tie_hash`` of the articles' ids by document number, per segment
    from the stored records or from all of the segment's ``id`` terms,
    whichever costs less (the latter kept: a segment never changes once
    written, and deletions do not matter, as only matches are looked up)."""

    def __init__(self, limit_bytes: int) -> None:
        self.segments = ByteLRU(limit_bytes)

    def of(self, view: IndexView, docs: np.ndarray) -> np.ndarray:
        """The hash of each document of ``docs`` (live document numbers)."""
        found = np.zeros(len(docs), dtype=np.int64)
        for leaf, reader in zip(view.leaves, view.readers, strict=True):
            inside = np.flatnonzero((docs >= leaf.base) & (docs < leaf.base + leaf.doc_count))
            if not len(inside):
                continue
            hashes = self.segments.get(leaf.segment_id)
            if hashes is None and len(inside) * STORED_READ_COST > leaf.doc_count:
                hashes = segment_hashes(reader, leaf.doc_count)
                self.segments.put(leaf.segment_id, hashes)
            if hashes is not None:
                found[inside] = hashes[docs[inside] - leaf.base]
            else:
                found[inside] = [tie_hash(view.stored(int(d))["id"]) for d in docs[inside].tolist()]
        return found


def segment_hashes(reader: Any, doc_count: int) -> np.ndarray:
    """``tie_hash`` of every document of one segment, from its ``id`` terms
    (a unique field: one posting per term, kept in the term's own entry)."""
    hashes = np.zeros(doc_count, dtype=np.int64)
    for term, info in reader.iter_field("id"):
        value = tie_hash(term)
        if info.doc_frequency() == 1:
            hashes[info.min_id()] = value
        else:  # an id written twice into one segment: every posting
            hashes[list(reader.postings("id", term).all_ids())] = value
    return hashes


class Order:
    """The matches of one search in the order of ``sort``: ``docs`` (document
    numbers) and their primary ``keys``; ``score`` is the executor's."""

    def __init__(self, view: IndexView, mask: np.ndarray, score: np.ndarray, sort: str, hashes: IdHashes) -> None:
        self.view = view
        self.sort = sort
        self.hashes = hashes
        self.docs = np.flatnonzero(mask)
        if sort == "relevance":
            self.keys: np.ndarray = -score[self.docs].astype(np.float64)
        else:
            dates = view.dates()[self.docs]
            undated = dates == NO_DATE
            keys = np.negative(dates) if sort == "newest" else dates.copy()
            keys[undated] = INT64_MAX
            self.keys = keys

    def first(self, count: int, after: Position | None = None) -> tuple[np.ndarray, int]:
        """The first ``count`` documents (after ``after``, when given) in
        order, and how many documents follow ``after`` (or the start) in all.
        Only the matches that can reach the first ``count`` are sorted."""
        docs, keys = self.docs, self.keys
        if after is not None:
            later = self._after(after)
            docs, keys = docs[later], keys[later]
        following = len(docs)
        if count <= 0 or not following:
            return docs[:0], following
        if following > count:
            kth = np.partition(keys, count - 1)[count - 1]
            contenders = np.flatnonzero(keys <= kth)  # every tie at the boundary too
            docs, keys = docs[contenders], keys[contenders]
        order = np.lexsort((docs, self._ties(docs, keys), keys))
        return docs[order[:count]], following

    def everything(self) -> np.ndarray:
        """Every match, in order."""
        return self.first(len(self.docs))[0]

    def position(self, docnum: int, article_id: str, depth: int) -> Position:
        """The cursor position of one of the matches (``article_id`` is its id)."""
        if self.sort == "relevance":
            # the float32 score, exactly: a cursor continues after this very value
            where = int(np.searchsorted(self.docs, docnum))
            return Position(-float(self.keys[where]), article_id, depth, self.view.shared.number)
        published = int(self.view.dates()[docnum])
        return Position(None if published == NO_DATE else published, article_id, depth)

    def _after(self, after: Position) -> np.ndarray:
        """Which matches sort after the position: a greater key, or the same
        key and a greater tie-break (the hash, then the id itself)."""
        key = primary_key(self.sort, after.value)
        later = self.keys > key
        same = np.flatnonzero(self.keys == key)
        if len(same):
            mark = tie_hash(after.id)
            hashes = self.hashes.of(self.view, self.docs[same])
            beyond = hashes > mark
            for i in np.flatnonzero(hashes == mark).tolist():  # the cursor's own article (or a collision)
                beyond[i] = self.view.stored(int(self.docs[same[i]]))["id"] > after.id
            later[same[beyond]] = True
        return later

    def _ties(self, docs: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """The tie-break of each document that shares its key with another (0 for the others)."""
        ties = np.zeros(len(docs), dtype=np.int64)
        if len(docs) < 2:
            return ties
        by_key = np.argsort(keys, kind="stable")
        ordered = keys[by_key]
        equal = ordered[1:] == ordered[:-1]
        shared = np.zeros(len(docs), dtype=bool)
        shared[1:] |= equal
        shared[:-1] |= equal
        tied = by_key[shared]
        if len(tied):
            ties[tied] = self.hashes.of(self.view, docs[tied])
        return ties
