"""The search engine behind every interface: search, get, related, stats,
and the writes (add/replace, delete). The web layer talks only to ``Engine``
and never imports whoosh, so another backend could serve the same requests.

One request: parse (querylang) -> plan (compiler) -> masks and scores
(executor over an IndexView) -> one SearchResult with hits, facets, filters
and a suggestion.

Speed rules (see FIELD-NOTES): one searcher per thread (Whoosh file reads are
not thread-safe), checked for a new commit at most every ``refresh_interval``
seconds; what is decoded from it (posting lists, lengths, facet columns,
filter masks) is shared by all threads per index generation, and per segment
across generations (index_view.py); highlighting never segments.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np

from indexer import ingest, store
from indexer.analysis import COMPOUND, FOLD, terms
from indexer.records import RecordError, article_from_dict
from search import plan as P
from search import querylang
from search.compiler import FACET_SCOPES, Compiler, chunk, with_boosts
from search.executor import Executor
from search.highlight import Highlighter
from search.index_view import NO_DATE, Generation, IndexView, SegmentCache
from search.request import SearchRequest
from search.result import FacetValue, Hit, SearchResult
from search.suggest import suggest

FACETS = ("category", "author", "source", "year", "month")
FACET_LIMIT = 20
RELAX_MIN_WORDS = 4  # shorter queries need all their words
# When the articles with every word do not fill the page, they are followed by
# articles with at least a third of the informative words (at least two),
# ranked by BM25F below every full match. Tuned on the MDS cluster set
# (bench/relevance_eval.py): 0.7 of the words gave nDCG@10 0.69, a third 0.83.
RELAX_FRACTION = 0.34
COMMON_WORD_SHARE = 0.5  # words in more docs than this don't count when relaxing
RELATED_TERMS = 15


class ViewState:
    """A thread's index view plus the caches that live as long as it does."""

    def __init__(self, searcher, generation: Generation):
        self.searcher = searcher
        self.view = IndexView(searcher, generation)
        self.checked = time.monotonic()
        self.filters = generation.filters  # shared by the threads

    def filter_mask(self, request: SearchRequest) -> np.ndarray | None:
        """Documents passing every filter, cached per distinct filter."""
        masks = []
        for name, values in (("author", request.authors), ("category", request.categories),
                             ("source", request.sources)):
            if values:
                key = (name, tuple(sorted(values)))
                if key not in self.filters:
                    self.filters[key] = self.view.value_mask(name, values)
                masks.append(self.filters[key])
        if request.date_from or request.date_to:
            key = ("published", request.date_from, request.date_to)
            if key not in self.filters:
                self.filters[key] = self.view.date_mask(request.date_from, request.date_to)
            masks.append(self.filters[key])
        if not masks:
            return None
        return np.logical_and.reduce(masks) if len(masks) > 1 else masks[0]


class Engine:
    def __init__(self, index_dir=None, refresh_interval: float = 1.0):
        self.index_dir = Path(store.resolve_index_dir(index_dir))
        self.refresh_interval = refresh_interval
        self._ix = None
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._generation: Generation | None = None  # shared by all threads
        self._generation_lock = threading.Lock()
        self._segments = SegmentCache()  # outlives generations

    # -- views -----------------------------------------------------------
    def _index(self):
        if self._ix is None:
            self._ix = store.open_index(self.index_dir)
        return self._ix

    def _new_state(self) -> ViewState:
        searcher = self._index().searcher()
        with self._generation_lock:
            current = self._generation
            if current is None or current.number != searcher.reader().generation():
                current = self._generation = Generation(searcher, self._segments)
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
                state.searcher.close()
                state = self._new_state()
        self._local.state = state
        return state

    # -- search ----------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        state = self._state()
        view = state.view
        executor = Executor(view)
        parsed = querylang.parse(request.q)
        compiler = Compiler(view)
        required = compiler.compile(parsed.root)
        sort = request.sort
        if required is None:  # browsing: newest first unless asked otherwise
            required = P.Everything()
            sort = "newest" if sort == "relevance" else sort
        words = _plain_words(parsed)
        plan = with_boosts(required, compiler.boosts(words)) if words else required

        mask, score = executor.run(plan)
        allowed = state.filter_mask(request)
        if allowed is not None:
            mask &= allowed
        complete = bool(mask.any())
        relaxed = np.zeros(view.size, dtype=bool)
        page_end = request.page * request.size
        if len(words) >= RELAX_MIN_WORDS and int(mask.sum()) < page_end:
            relaxed, relaxed_score = self._relaxed(executor, compiler, words, parsed)
            if allowed is not None:
                relaxed &= allowed
            relaxed &= ~mask
            if complete:  # all-word matches first: relaxed scores scaled below them
                floor = float(score[mask].min()) * 0.999
                top = float(relaxed_score[relaxed].max()) if relaxed.any() else 1.0
                relaxed_score = relaxed_score * (floor / max(top, 1e-9))
            score = np.where(relaxed, relaxed_score, score)
        everything = mask | relaxed
        ranked = _rank(view, everything, mask, score, sort, page_end)
        page_docs = ranked[(request.page - 1) * request.size:page_end]

        highlighter = Highlighter(_highlight_terms(parsed)) if request.highlight else None
        hits = [self._hit(view, d, float(score[d]) if sort == "relevance" else None, highlighter)
                for d in page_docs]
        total = int(everything.sum())
        result = SearchResult(
            query=request.q, total=total, page=request.page, size=request.size,
            took_ms=0.0, hits=hits, filters=request.filter_descriptions(),
            relaxed=bool(relaxed.any()) and not complete,
        )
        if parsed.dropped:
            result.notes.append(f"Chỉ tìm theo {querylang.MAX_CLAUSES} từ đầu tiên; "
                                f"{parsed.dropped} từ sau đó bị bỏ qua.")
        if request.facets:
            result.facets = _facets(view, everything)
        chunks = [chunk(w.text) for w in words]
        result.suggestion = suggest(state, executor, chunks, page_docs or ranked[:10], total,
                                    complete=complete)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    def _relaxed(self, executor, compiler, words, parsed):
        """Documents with most of the informative words, and their scores (a
        long query with a missing or misspelled word still finds its article)."""
        view = executor.view
        limit = COMMON_WORD_SHARE * max(1, view.live_count)
        counts = np.zeros(view.size, dtype=np.int32)
        score = executor.zeros()
        informative = 0
        for word in words:
            node = compiler.word(word)
            if node is None:
                continue
            node_mask, node_score = executor.run(node)
            score += node_score
            if node_mask.sum() > limit:
                continue
            informative += 1
            counts += node_mask
        if informative < 2:
            return np.zeros(view.size, dtype=bool), score
        needed = min(informative - 1, max(2, math.ceil(RELAX_FRACTION * informative)))
        found = counts >= needed
        for node in _negated(parsed):
            excluded = compiler.compile(node)
            if excluded is not None:
                found &= ~executor.run(excluded)[0]
        return found, score

    def _hit(self, view: IndexView, docnum: int, score, highlighter: Highlighter | None) -> Hit:
        """One hit; without a highlighter (CSV export) no snippet is made."""
        doc = view.stored(docnum)
        text = "\n".join(p for p in (doc.get("lead"), doc.get("body")) if p)
        marker = highlighter or Highlighter([])
        snippet = highlighter.snippet(text) if highlighter else ""
        return Hit(
            id=doc["id"], title=doc["title"], url=doc.get("url"), author=doc.get("author"),
            category=doc.get("category"), source=doc.get("source"),
            published=doc.get("published"), snippet=snippet,
            score=round(score, 4) if score is not None else None,
            title_html=marker.mark(doc["title"]),
        )

    # -- articles --------------------------------------------------------
    def get(self, article_id: str) -> dict | None:
        searcher = self._state().searcher
        docnum = searcher.document_number(id=article_id)
        return None if docnum is None else dict(searcher.stored_fields(docnum)["doc"])

    def related(self, article_id: str, limit: int = 5) -> list[Hit] | None:
        """More like this: the article's rarest title and lead words and compounds."""
        state = self._state()
        view = state.view
        docnum = state.searcher.document_number(id=article_id)
        if docnum is None:
            return None
        doc = view.stored(docnum)
        candidates = {t.text for t in terms(f"{doc['title']}\n{doc.get('lead') or ''}")
                      if t.kind in (FOLD, COMPOUND) and not t.text.isdigit()}
        total = max(1, view.live_count)
        weighted = []
        for text in candidates:
            df = view.doc_frequency("content", text)
            if 1 < df < 0.1 * total:
                weighted.append((math.log(total / df), text))
        weighted.sort(reverse=True)
        if not weighted:
            return []
        node = P.AnyTerm([P.Term("content", t, w) for w, t in weighted[:RELATED_TERMS]])
        mask, score = Executor(view).run(node)
        mask[docnum] = False
        best = _rank(view, mask, mask, score, "relevance", limit)
        highlighter = Highlighter([])
        return [self._hit(view, d, float(score[d]), highlighter) for d in best]

    def stats(self) -> dict:
        data = store.stats(self.index_dir)
        view = self._state().view
        facets = _facets(view, view.live)
        data["facets"] = {name: [{"value": f.value, "count": f.count} for f in facets[name]]
                          for name in ("category", "source", "year")}
        return data

    # -- writes ----------------------------------------------------------
    def add(self, records: list[dict]) -> ingest.Summary:
        """Upsert article records (API); invalid ones are reported by position."""
        summary = ingest.Summary()
        articles = {}
        for position, record in enumerate(records):
            try:
                article = article_from_dict(record)
            except RecordError as exc:
                summary.rejected += 1
                summary.problems.append(f"record {position}: {exc}")
                continue
            articles[article.id] = article
        if articles:
            with self._write_lock:
                ix = store.open_or_create(self.index_dir)
                ingest.write_articles(ix, self.index_dir, articles.values(), len(articles),
                                      summary, procs=1)
        return summary

    def delete(self, ids) -> tuple[list, list]:
        with self._write_lock:
            return ingest.delete(ids, self.index_dir)


def _rank(view, everything, mask, score, sort: str, limit: int) -> list[int]:
    """Document numbers of the first ``limit`` results in the requested order."""
    docs = np.flatnonzero(everything)
    if not len(docs) or limit <= 0:
        return []
    if sort in ("newest", "oldest"):
        dates = view.dates()[docs]
        if sort == "newest":
            order = np.lexsort((docs, -dates.astype(np.float64)))
        else:  # undated articles last
            order = np.lexsort((docs, np.where(dates == NO_DATE, np.inf, dates.astype(np.float64))))
    else:
        keys = -score[docs]
        if len(docs) > limit:
            part = np.argpartition(keys, limit - 1)[:limit]
            order = part[np.lexsort((docs[part], keys[part]))]
            return docs[order].tolist()
        order = np.lexsort((docs, keys))
    return docs[order[:limit]].tolist()


def _facets(view: IndexView, mask) -> dict[str, list[FacetValue]]:
    facets = {}
    for name in FACETS:
        codes, labels = view.codes(name)
        picked = codes[mask & (codes >= 0)]
        counts = np.bincount(picked, minlength=len(labels))
        items = [(labels[i], int(c)) for i, c in enumerate(counts) if c]
        if name not in ("year", "month"):
            items = sorted(items, key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT]
        facets[name] = [FacetValue(v, c) for v, c in items]
    return facets


def _top_nodes(parsed) -> list:
    if parsed.root is None:
        return []
    return parsed.root.nodes if isinstance(parsed.root, querylang.And) else [parsed.root]


def _plain_words(parsed) -> list:
    """Positive unscoped words of a plain query (the ones we relax and boost)."""
    if parsed.root is None or not parsed.is_plain():
        return []
    return [n for n in _top_nodes(parsed) if isinstance(n, querylang.Word)]


def _negated(parsed) -> list:
    return [n.node for n in _top_nodes(parsed) if isinstance(n, querylang.Not)]


def _highlight_terms(parsed) -> list[tuple[str, str | None]]:
    """(folded, exact) syllables of every positive word and phrase (not of author:...)."""
    found: list = []

    def walk(node, negated=False):
        if node is None:
            return
        if isinstance(node, (querylang.Word, querylang.Phrase)):
            if not negated and node.field not in FACET_SCOPES:
                analysed = chunk(node.text)
                found.extend(zip(analysed.folded, analysed.exact or [None] * len(analysed.folded),
                                 strict=True))
        elif isinstance(node, querylang.Not):
            walk(node.node, not negated)
        else:
            for child in node.nodes:
                walk(child, negated)

    walk(parsed.root)
    return found
