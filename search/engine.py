"""The embedded search engine: search, get, related, stats, health, and the
writes (add/replace, delete) over a Whoosh index. It is one implementation
of backend.Backend (sphinx_backend.SphinxBackend is the other); the web
layer talks only to that interface and never imports whoosh.

One request: parse (querylang) -> one QueryPlan (compiler) -> Matches
(executor over an IndexView) -> one SearchResult with hits, facets, filters
and a suggestion.

Each thread reads through its own Whoosh searcher (Whoosh file reads seek a
shared file object), checked for a new commit at most every
``refresh_interval`` seconds; what is decoded from the index is shared by
all threads (index_view.py). Highlighting never segments.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from indexer import ingest, store
from search import facets, grouping, headline_accents, querylang
from search.autocomplete import MAX_COMPLETIONS, Completion
from search.compiler import FIELD_WEIGHTS, Compiler, related_query, related_words
from search.completion_builder import Completer
from search.deadline import DEFAULT_DEADLINE, NEVER, Deadline, SearchTimeout
from search.executor import Executor
from search.generation import DEFAULT_CACHE_MB, VOCABULARY_THREAD, Generation, ReadCaches, SegmentFiles
from search.heap import HeapTrimmer
from search.highlight import Highlighter
from search.index_view import NO_DATE, IndexView
from search.ordering import IdHashes, Order
from search.plan import QueryPlan
from search.request import BadRequest, SearchRequest
from search.result import Export, Hit, SearchResult
from search.suggest import suggest

SCORED_FIELDS = ("content", *FIELD_WEIGHTS)  # the text fields BM25 reads (compiler.py)
SUGGEST_FROM_DOCS = 10  # when the page is empty, accents are read from the first matches
SEARCH_SLOTS = 2  # searches computing at once per process (VNSEARCH_SEARCH_SLOTS; see Engine.__init__)
EXPORT_BATCH = 500  # articles read from the index at a time by an export (format=ndjson)
WHOOSH_DAY = 86_400e6  # a day in Whoosh's datetime longs (microseconds)
ID_HASHES_SHARE = 8  # 1/8 of the cache budget keeps the tie-break hashes of whole segments (ordering.py)


class ViewState:
    """A thread's searcher and its view of the current generation."""

    def __init__(self, searcher: Any, generation: Generation) -> None:
        self.searcher = searcher
        self.view = IndexView(searcher, generation)
        self.checked = time.monotonic()
        # The searcher holds open files: closed when its thread (or engine) is gone.
        weakref.finalize(self, searcher.close)


class Engine:
    # search() continues after a cursor (SearchRequest.after) and export()
    # streams every match. Cursors and their stability (search/ordering.py):
    # results are ordered by a key that is the article's own (its score or
    # publication time, then a hash of its id), and a page after a cursor
    # holds the matches whose key comes after the cursor's. A date-sorted
    # cursor continues in any index generation: every article whose
    # publication time did not change between pages is returned exactly once;
    # one added or re-dated before the cursor is not shown, after it is; a
    # deleted one is gone. Scores depend on the whole archive (BM25's
    # statistics), so a relevance cursor holds its index generation and
    # continues only in that one: after a write or merge it is refused
    # (cursor_expired) rather than repeat or skip articles.
    cursor_paging = True

    def __init__(self, index_dir: str | os.PathLike[str] | None = None, refresh_interval: float = 1.0,
                 cache_mb: float = DEFAULT_CACHE_MB, lock_timeout: float | None = None,
                 search_slots: int = SEARCH_SLOTS, deadline: float | None = DEFAULT_DEADLINE) -> None:
        self.index_dir = Path(store.resolve_index_dir(index_dir))
        self.lock_timeout = lock_timeout  # None: the VNSEARCH_LOCK_TIMEOUT setting
        self.refresh_interval = refresh_interval
        self._ix = None
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._generation: Generation | None = None  # shared by all threads
        self._generation_lock = threading.Lock()
        self._files = SegmentFiles(self.index_dir)  # mapped segment arrays
        budget = int(cache_mb * (1 << 20))
        self.caches = ReadCaches(budget - budget // ID_HASHES_SHARE)  # outlive generations
        self._id_hashes = IdHashes(budget // ID_HASHES_SHARE)  # by segment, which never changes
        # Searches running at once in this process. Each holds a few arrays
        # the size of the archive (scores, masks: 1.6 MB each at 400,000
        # articles) and the GIL lets one thread compute at a time anyway, so
        # more slots add memory, not speed: 16 threads held 1.22x the PSS of 8.
        self._searching = threading.BoundedSemaphore(max(1, search_slots))
        self._heap = HeapTrimmer()  # freed arrays go back to the kernel when searches stop
        self.deadline = deadline  # seconds a search may take, slot wait included (deadline.py)
        # search as you type: a table per generation, built aside (completion_builder.py)
        self.completions = Completer(lambda: self._state().view)

    # -- views -----------------------------------------------------------
    def _index(self) -> Any:
        if self._ix is None:
            self._ix = store.open_for_search(self.index_dir)
        return self._ix

    def _new_state(self) -> ViewState:
        searcher = self._index().searcher()
        with self._generation_lock:
            current = self._generation
            if current is None or current.number != searcher.reader().generation():
                current = self._generation = Generation(searcher, self._files, self.caches, current)
        return ViewState(searcher, current)

    def _state(self) -> ViewState:
        state = getattr(self._local, "state", None)
        if state is None:
            state = self._new_state()
        elif time.monotonic() - state.checked >= self.refresh_interval:
            state.checked = time.monotonic()
            if not state.searcher.up_to_date():
                # a new searcher, not searcher.refresh(): in whoosh-reloaded
                # 2.7.5 refresh() can bring back segments a merge removed, so a
                # replaced article showed twice until restart
                state = self._new_state()  # the old searcher closes with its state
        self._local.state = state
        return state

    def warm(self) -> None:
        """Open the index and build the current generation's per-document
        arrays (BM25 norms, facet codes, dates) and its spelling vocabulary.
        `vnsearch serve` calls it before forking its workers: they start warm
        (the first searches on a fresh 400,000-article server waited for
        these past the 2 s deadline), and the pages stay shared between them
        until a write makes a new generation. Nothing here is left locked or
        running, which a fork would copy."""
        if not store.index_exists(self.index_dir):
            return
        view = self._state().view
        for field in SCORED_FIELDS:
            view.length_norms(field)
        for name in facets.FACETS:
            view.codes(name)
        for name in facets.COLUMN_FACETS:
            view.value_counts(name)
        view.dates()
        view.shared.build_vocabulary(view.readers)
        for thread in threading.enumerate():  # the generation's own builder, done by now
            if thread.name == VOCABULARY_THREAD:
                thread.join()
        self._local.state = None  # the searcher's files: the workers open their own

    # -- search ----------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        with self._computing() as deadline:
            result = self._search(request, deadline)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    @contextlib.contextmanager
    def _computing(self) -> Iterator[Deadline]:
        """A search slot, taken within the deadline (SearchTimeout when none
        frees in time) and counted by the heap trimmer while it is held."""
        deadline = Deadline(self.deadline)
        if not self._searching.acquire(timeout=min(deadline.remaining(), threading.TIMEOUT_MAX)):
            raise SearchTimeout(deadline.seconds)
        try:
            with self._heap:
                yield deadline
        finally:
            self._searching.release()

    def _search(self, request: SearchRequest, deadline: Deadline = NEVER) -> SearchResult:
        after = request.after
        state = self._state()
        if after is not None and after.generation is not None and after.generation > state.view.shared.number:
            state = self._local.state = self._new_state()  # made on a commit this thread has yet to see
        view = state.view
        plan, sort = _plan(view, request)
        if after is not None and sort == "relevance" and after.generation != view.shared.number:
            raise BadRequest("cursor_expired", "the index has changed since this cursor was made, and relevance "
                                               "scores change with it; start again without 'cursor' (date-sorted "
                                               "cursors survive changes)")
        executor = Executor(view, scoring=sort == "relevance", deadline=deadline)
        # A cursor keeps the depth of the page that started it: whether a long
        # query's relaxed matches count (executor.execute's ``wanted``).
        depth = after.depth if after is not None else request.page * request.size
        matches = executor.execute(plan, _filter_mask(view, request), depth)
        order = Order(view, matches.mask, matches.score, sort, self._id_hashes)
        skip = 0 if after is not None else (request.page - 1) * request.size
        wanted = grouping.ranked_needed(skip, request.size) if request.grouped else skip + request.size
        first, following = order.first(wanted, after)
        ranked = first.tolist()
        groups = _page_groups(view, ranked, skip, request.size) if request.grouped else None
        page_docs = [ranked[i] for i in groups.leaders] if groups else ranked[skip:]

        deadline.check()
        highlighter = Highlighter(plan.highlight) if request.highlight else None

        def score(docnum: int) -> float | None:
            return float(matches.score[docnum]) if sort == "relevance" else None

        hits = [self._hit(view, d, score(d), highlighter) for d in page_docs]
        result = SearchResult(
            query=request.q, total=matches.total, page=request.page, size=request.size,
            took_ms=0.0, hits=hits, filters=request.filter_descriptions(),
            relaxed=matches.relaxed, notes=list(plan.notes),
        )
        if groups is not None:
            for hit, members in zip(hits, groups.members, strict=True):
                hit.lead([self._hit(view, ranked[i], score(ranked[i]), None) for i in members])
            result.grouped = groups.hidden
        elif page_docs and following > skip + len(page_docs):
            result.following = order.position(page_docs[-1], hits[-1].id, depth)
        if request.facets:
            result.facets = facets.count(view, matches.mask)
        result.suggestion = suggest(view, executor.phrases, plan.words, page_docs or ranked[:SUGGEST_FROM_DOCS],
                                    complete=matches.complete)
        return result

    def export(self, request: SearchRequest) -> Export:
        """Every match of ``request`` in its order (format=ndjson), with the
        match set of its first page (``page`` * ``size`` decides whether a long
        query's relaxed matches count). The order is computed here, within a
        search slot and the deadline, as document numbers (8 bytes a match,
        4 more for relevance scores); the hits are read a batch at a time as
        the batches are iterated, from the same searcher, so the export is one
        commit's whatever is written meanwhile. A searcher is one thread's:
        iterate in the thread that called this (waitress does)."""
        with self._computing() as deadline:
            state = self._state()
            view = state.view
            plan, sort = _plan(view, request)
            executor = Executor(view, scoring=sort == "relevance", deadline=deadline)
            matches = executor.execute(plan, _filter_mask(view, request), request.page * request.size)
            docs = Order(view, matches.mask, matches.score, sort, self._id_hashes).everything()
            scores = matches.score[docs] if sort == "relevance" else None
        return Export(total=len(docs), batches=_exported(state, docs, scores))

    def _hit(self, view: IndexView, docnum: int, score: float | None, highlighter: Highlighter | None) -> Hit:
        """One hit; without a highlighter (CSV export) no snippet is made."""
        return Hit.from_stored(view.stored(docnum), score, highlighter)

    def complete(self, typed: str, limit: int = MAX_COMPLETIONS) -> list[Completion]:
        """Completions of a search being typed (autocomplete.py): from the
        current generation's table, or the previous one while it is built."""
        return self.completions.complete(typed, self._state().view.shared.number, limit)

    # -- articles --------------------------------------------------------
    def get(self, article_id: str) -> dict | None:
        state = self._state()
        docnum = state.searcher.document_number(id=article_id)
        return None if docnum is None else dict(state.view.stored(docnum))

    def related(self, article_id: str, limit: int = 5) -> list[Hit] | None:
        """More like this: the article's rarest title and lead words and compounds."""
        state = self._state()
        view = state.view
        docnum = state.searcher.document_number(id=article_id)
        if docnum is None:
            return None
        doc = view.stored(docnum)
        node = related_query({w: view.doc_frequency("content", w) for w in related_words(doc)}, view.live_count)
        if node is None:
            return []
        mask, score = Executor(view).run(node)
        mask[docnum] = False
        best = _rank(view, mask, score, "relevance", limit)
        highlighter = Highlighter([])
        return [self._hit(view, d, float(score[d]), highlighter) for d in best]

    def stats(self) -> dict:
        data = store.stats(self.index_dir)
        view = self._state().view
        counted = facets.count(view, view.live)
        data["facets"] = {name: [{"value": f.value, "count": f.count} for f in counted[name]]
                          for name in facets.STATS_FACETS}
        return data

    def health(self) -> dict:
        """Liveness: a real (tiny) search, so "ok" means the index opens and answers."""
        result = self.search(SearchRequest(size=1, facets=False))
        return {"status": "ok", "documents": result.total}

    # -- writes ----------------------------------------------------------
    def add(self, records: list[dict]) -> ingest.Summary:
        """Upsert article records (API); invalid ones are reported by position."""
        summary = ingest.Summary()
        articles = ingest.valid_articles(records, summary)
        if articles:
            with self._write_lock:
                ix = store.open_or_create(self.index_dir)
                ingest.write_articles(ix, self.index_dir, articles.values(), len(articles),
                                      summary, procs=1, lock_timeout=self.lock_timeout)
        return summary

    def delete(self, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        with self._write_lock:
            return ingest.delete(ids, self.index_dir, lock_timeout=self.lock_timeout)


def _plan(view: IndexView, request: SearchRequest) -> tuple[QueryPlan, str]:
    """The request's plan, and the sort it runs with (browsing: newest first)."""
    parsed = querylang.parse(request.q)
    spelling = headline_accents.restored(view, parsed, request.q)
    if spelling is None:
        plan = Compiler(view).plan(parsed)
    else:
        plan = Compiler(view).plan(querylang.parse(spelling))
        plan.notes.append(headline_accents.note(spelling))
    return plan, "newest" if plan.browse and request.sort == "relevance" else request.sort


def _page_groups(view: IndexView, ranked: list[int], skip: int, size: int) -> grouping.PageGroups:
    """The page of ``ranked`` (document numbers in rank order) grouped by
    event, from the stored signatures and publication dates."""
    shown = ranked[:grouping.window(len(ranked))]
    dates = view.dates()[shown]
    days = np.where(dates == NO_DATE, np.nan, dates / WHOOSH_DAY)
    return grouping.page_groups(len(ranked), view.event_signatures(shown), days, skip, size)


def _exported(state: ViewState, docs: np.ndarray, scores: np.ndarray | None) -> Iterator[list[Hit]]:
    """The hits of ``docs``, EXPORT_BATCH at a time, read through ``state``
    (held here, so its searcher stays open until the export ends)."""
    view = state.view
    for start in range(0, len(docs), EXPORT_BATCH):
        batch = docs[start:start + EXPORT_BATCH].tolist()
        yield [Hit.from_stored(view.stored(d), None if scores is None else float(scores[start + i]), None)
               for i, d in enumerate(batch)]


def _filter_mask(view: IndexView, request: SearchRequest) -> np.ndarray | None:
    """Documents passing every filter of the request (None: no filter)."""
    masks = [view.value_mask(name, values) for name, values in
             (("author", request.authors), ("category", request.categories), ("source", request.sources))
             if values]
    if request.date_from or request.date_to:
        masks.append(view.date_mask(request.date_from, request.date_to))
    if not masks:
        return None
    return np.logical_and.reduce(masks) if len(masks) > 1 else masks[0]


def _rank(view: IndexView, mask: np.ndarray, score: np.ndarray, sort: str, limit: int) -> list[int]:
    """Document numbers of the first ``limit`` results in the requested order
    (ties by document number: for related articles; searches are ordered by
    ordering.Order, whose ties are the articles' own, so cursors can
    continue). Only the matches that can reach the first ``limit`` are
    sorted: at 400,000 articles, sorting every match by date was a tenth of
    a query's time."""
    docs = np.flatnonzero(mask)
    if not len(docs) or limit <= 0:
        return []
    if sort in ("newest", "oldest"):
        dates = view.dates()[docs].astype(np.float64)
        # undated articles last either way
        keys = -dates if sort == "newest" else np.where(dates == float(NO_DATE), np.inf, dates)
    else:
        keys = -score[docs]
    if len(docs) > limit:
        kth = np.partition(keys, limit - 1)[limit - 1]
        contenders = np.flatnonzero(keys <= kth)  # every tie at the boundary too
        docs, keys = docs[contenders], keys[contenders]
    order = np.lexsort((docs, keys))
    return docs[order[:limit]].tolist()
