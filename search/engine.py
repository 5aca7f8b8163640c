"""The search engine behind every interface: search, get, related, stats,
and the writes (add/replace, delete). The web layer talks only to ``Engine``
and never imports whoosh, so another backend could serve the same requests.

Speed rules (see FIELD-NOTES): one searcher per thread, refreshed at most
every ``refresh_interval`` seconds when the index changed; facet columns and
filter document sets are cached per searcher; highlighting never segments.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from pathlib import Path

from whoosh import query as Q
from whoosh.sorting import FieldFacet
from whoosh.util.times import datetime_to_long

from indexer import ingest, store
from indexer.records import RecordError, article_from_dict
from search import querylang
from search.compiler import FACET_SCOPES, Chunk, Compiler, with_boosts
from search.highlight import Highlighter
from search.request import SearchRequest
from search.result import FacetValue, Hit, SearchResult
from search.suggest import suggest

FACETS = ("category", "author", "source", "year", "month")
FACET_LIMIT = 20
RELAX_MIN_WORDS = 4  # shorter queries need all their words
RELAX_FRACTION = 0.7  # relaxed: at least this share of the informative words
COMMON_WORD_SHARE = 0.25  # words in more docs than this don't count when relaxing


class SearcherState:
    """A searcher and what is cached for it (valid until the index changes)."""

    def __init__(self, searcher):
        self.searcher = searcher
        self.checked = time.monotonic()
        self.columns: dict[str, list] = {}
        self.filters: dict[tuple, frozenset] = {}
        self._facet_values: dict[str, list[str]] = {}
        self.vocabulary: dict[str, int] | None = None  # built by suggest, on demand
        self._all_docs: frozenset | None = None

    def column(self, name: str) -> list:
        if name not in self.columns:
            reader = self.searcher.reader()
            translate = name != "published"
            values = list(reader.column_reader(name, translate=translate))
            missing = reader.doc_count_all() - len(values)  # no segment has the column yet
            self.columns[name] = values + [0 if name == "published" else ""] * missing
        return self.columns[name]

    def facet_values(self, name: str) -> list[str]:
        if name not in self._facet_values:
            reader = self.searcher.reader()
            self._facet_values[name] = [v.decode("utf-8") if isinstance(v, bytes) else v
                                        for v in reader.lexicon(name)]
        return self._facet_values[name]

    def all_docs(self) -> frozenset:
        if self._all_docs is None:
            self._all_docs = frozenset(self.searcher.reader().all_doc_ids())
        return self._all_docs

    def filter_docs(self, request: SearchRequest) -> frozenset | None:
        """Documents passing every filter, cached per distinct filter."""
        parts = []
        for name, values in (("author", request.authors), ("category", request.categories),
                             ("source", request.sources)):
            if values:
                parts.append(self._cached((name, tuple(sorted(values))), self._value_docs))
        if request.date_from or request.date_to:
            parts.append(self._cached(("published", request.date_from, request.date_to),
                                      self._date_docs))
        if not parts:
            return None
        return frozenset.intersection(*parts) if len(parts) > 1 else parts[0]

    def _cached(self, key, build):
        if key not in self.filters:
            self.filters[key] = build(key)
        return self.filters[key]

    def _value_docs(self, key) -> frozenset:
        name, values = key
        return frozenset(Q.Or([Q.Term(name, v) for v in values]).docs(self.searcher))

    def _date_docs(self, key) -> frozenset:
        _, low, high = key
        low_n = datetime_to_long(low) if low else None
        high_n = datetime_to_long(high) if high else None
        years = self.column("year")
        dates = self.column("published")
        live = self.all_docs()
        return frozenset(
            d for d, value in enumerate(dates)
            if years[d] and (low_n is None or value >= low_n)
            and (high_n is None or value <= high_n) and d in live)


class Engine:
    def __init__(self, index_dir=None, refresh_interval: float = 1.0):
        self.index_dir = Path(store.resolve_index_dir(index_dir))
        self.refresh_interval = refresh_interval
        self._ix = None
        self._local = threading.local()
        self._write_lock = threading.Lock()

    # -- searchers -------------------------------------------------------
    def _index(self):
        if self._ix is None:
            self._ix = store.open_index(self.index_dir)
        return self._ix

    def _state(self) -> SearcherState:
        state = getattr(self._local, "state", None)
        if state is None:
            state = SearcherState(self._index().searcher())
        elif time.monotonic() - state.checked >= self.refresh_interval:
            state.checked = time.monotonic()
            if not state.searcher.up_to_date():
                state = SearcherState(state.searcher.refresh())
        self._local.state = state
        return state

    # -- search ----------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        state = self._state()
        searcher = state.searcher
        parsed = querylang.parse(request.q)
        compiler = Compiler(searcher, state.facet_values)
        required = compiler.compile(parsed.root)
        if isinstance(required, Q.Not):
            required = Q.AndNot(Q.Every(), required.query)
        allowed = state.filter_docs(request)
        sort = request.sort
        if required is None:  # browsing: newest first unless asked otherwise
            required = Q.Every()
            sort = "newest" if sort == "relevance" else sort
        words = _plain_words(parsed)
        ranked = with_boosts(required, compiler.boosts(words)) if words else required

        matched = _docs(required, searcher, allowed, state)
        relaxed_docs: frozenset = frozenset()
        page_end = request.page * request.size
        if len(words) >= RELAX_MIN_WORDS and len(matched) < page_end:
            relaxed_docs = self._relaxed_docs(compiler, words, parsed, searcher, allowed) - matched
        docnums, scores = self._rank(searcher, ranked, matched, relaxed_docs, compiler, words,
                                     sort, page_end)
        page_docs = docnums[(request.page - 1) * request.size:page_end]
        everything = matched | relaxed_docs

        highlighter = Highlighter(_highlight_terms(parsed))
        hits = [self._hit(searcher, d, scores.get(d), highlighter) for d in page_docs]
        result = SearchResult(
            query=request.q, total=len(everything), page=request.page, size=request.size,
            took_ms=0.0, hits=hits, filters=request.filter_descriptions(),
            relaxed=bool(relaxed_docs) and not matched,
        )
        if parsed.dropped:
            result.notes.append(f"{parsed.dropped} words beyond the first "
                                f"{querylang.MAX_CLAUSES} were ignored")
        if request.facets:
            result.facets = self._facets(state, everything)
        chunks = [Chunk(w.text) for w in words]
        result.suggestion = suggest(state, chunks, page_docs or docnums[:10], result.total,
                                    complete=bool(matched))
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    def _relaxed_docs(self, compiler, words, parsed, searcher, allowed) -> frozenset:
        """Documents with most of the informative words (a long query with a
        missing or misspelled word still finds its article)."""
        reader = searcher.reader()
        limit = COMMON_WORD_SHARE * max(1, reader.doc_count())
        counts: Counter = Counter()
        informative = 0
        for word in words:
            clause = compiler.word(word)
            folded = [t for t in clause.all_terms() if t[0] == "content"] if clause else []
            if not folded or max(reader.doc_frequency(*t) for t in folded) > limit:
                continue
            informative += 1
            counts.update(clause.docs(searcher))
        if informative < 2:
            return frozenset()
        needed = max(1, math.ceil(RELAX_FRACTION * informative))
        if needed >= informative:
            needed = informative - 1
        found = frozenset(d for d, c in counts.items() if c >= needed)
        excluded = _excluded(parsed, compiler, searcher)
        found -= excluded
        return found & allowed if allowed is not None else found

    def _rank(self, searcher, ranked, matched, relaxed_docs, compiler, words, sort, limit):
        sortedby = None
        if sort in ("newest", "oldest"):
            sortedby = FieldFacet("published", reverse=sort == "newest")
        docnums: list[int] = []
        scores: dict[int, float] = {}
        if sortedby is not None:
            pool = matched | relaxed_docs
            if pool:
                query = ranked if not relaxed_docs else Q.Every()
                for hit in searcher.search(query, filter=set(pool), limit=limit, sortedby=sortedby):
                    docnums.append(hit.docnum)
            return docnums, scores
        if matched:
            for hit in searcher.search(ranked, filter=set(matched), limit=limit):
                docnums.append(hit.docnum)
                scores[hit.docnum] = round(hit.score, 4)
        if relaxed_docs and len(docnums) < limit:
            clauses = [c for c in (compiler.word(w) for w in words) if c is not None]
            loose = with_boosts(Q.Or(clauses, scale=0.9), compiler.boosts(words))
            for hit in searcher.search(loose, filter=set(relaxed_docs), limit=limit - len(docnums)):
                docnums.append(hit.docnum)
                scores[hit.docnum] = round(hit.score, 4)
        return docnums, scores

    def _hit(self, searcher, docnum: int, score, highlighter: Highlighter) -> Hit:
        doc = searcher.stored_fields(docnum)["doc"]
        text = "\n".join(p for p in (doc.get("lead"), doc.get("body")) if p)
        return Hit(
            id=doc["id"], title=doc["title"], url=doc.get("url"), author=doc.get("author"),
            category=doc.get("category"), source=doc.get("source"),
            published=doc.get("published"), snippet=highlighter.snippet(text), score=score,
            title_html=highlighter.mark(doc["title"]),
        )

    def _facets(self, state: SearcherState, docs) -> dict[str, list[FacetValue]]:
        facets = {}
        for name in FACETS:
            column = state.column(name)
            counts = Counter(column[d] for d in docs)
            counts.pop("", None)
            if name in ("year", "month"):
                items = sorted(counts.items())
            else:
                items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:FACET_LIMIT]
            facets[name] = [FacetValue(v, c) for v, c in items]
        return facets

    # -- articles --------------------------------------------------------
    def get(self, article_id: str) -> dict | None:
        searcher = self._state().searcher
        docnum = searcher.document_number(id=article_id)
        return None if docnum is None else dict(searcher.stored_fields(docnum)["doc"])

    def related(self, article_id: str, limit: int = 5) -> list[Hit] | None:
        """More like this: the article's rarest title and lead words."""
        state = self._state()
        searcher = state.searcher
        docnum = searcher.document_number(id=article_id)
        if docnum is None:
            return None
        doc = searcher.stored_fields(docnum)["doc"]
        reader = searcher.reader()
        total = max(1, reader.doc_count())
        from indexer.analysis import COMPOUND, FOLD, terms

        candidates = {t.text for t in terms(f"{doc['title']}\n{doc.get('lead') or ''}")
                      if t.kind in (FOLD, COMPOUND) and not t.text.isdigit()}
        weighted = []
        for text in candidates:
            df = reader.doc_frequency("content", text)
            if 1 < df < 0.1 * total:
                weighted.append((math.log(total / df), text))
        weighted.sort(reverse=True)
        if not weighted:
            return []
        query = Q.Or([Q.Term("content", t, boost=w) for w, t in weighted[:15]])
        exclude = {docnum}
        highlighter = Highlighter([])
        hits = searcher.search(query, limit=limit + 1, mask=exclude)
        return [self._hit(searcher, h.docnum, round(h.score, 4), highlighter) for h in hits][:limit]

    def stats(self) -> dict:
        data = store.stats(self.index_dir)
        state = self._state()
        data["facets"] = {name: [{"value": f.value, "count": f.count} for f in values]
                          for name, values in self._facets(state, state.all_docs()).items()
                          if name in ("category", "source", "year")}
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
                ingest.write_articles(ix, self.index_dir, articles.values(), summary, procs=1)
        return summary

    def delete(self, ids) -> tuple[list, list]:
        with self._write_lock:
            return ingest.delete(ids, self.index_dir)


def _plain_words(parsed) -> list:
    """Positive unscoped words of a plain query (the ones we relax and boost)."""
    if parsed.root is None or not parsed.is_plain():
        return []
    nodes = parsed.root.nodes if isinstance(parsed.root, querylang.And) else [parsed.root]
    return [n for n in nodes if isinstance(n, querylang.Word)]


def _excluded(parsed, compiler, searcher) -> frozenset:
    nodes = parsed.root.nodes if isinstance(parsed.root, querylang.And) else [parsed.root]
    docs: set = set()
    for node in nodes:
        if isinstance(node, querylang.Not):
            clause = compiler.compile(node.node)
            if clause is not None:
                docs.update(clause.docs(searcher))
    return frozenset(docs)


def _docs(query, searcher, allowed, state) -> frozenset:
    if isinstance(query, Q.Every):
        docs = state.all_docs()
    else:
        docs = frozenset(query.docs(searcher))
    return docs & allowed if allowed is not None else docs


def _highlight_terms(parsed) -> list[tuple[str, str | None]]:
    """(folded, exact) syllables of every positive word and phrase (not of author:...)."""
    found: list[str] = []

    def walk(node, negated=False):
        if node is None:
            return
        if isinstance(node, (querylang.Word, querylang.Phrase)):
            if not negated and node.field not in FACET_SCOPES:
                chunk = Chunk(node.text)
                found.extend(zip(chunk.folded, chunk.exact or [None] * len(chunk.folded)))
        elif isinstance(node, querylang.Not):
            walk(node.node, not negated)
        else:
            for child in node.nodes:
                walk(child, negated)

    walk(parsed.root)
    return found
