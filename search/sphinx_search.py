"""One search on a Sphinx cluster: the steps of SphinxBackend.search.

The query is parsed and compiled exactly as on Whoosh (querylang, compiler,
our analyzer), so both backends match the same articles; the plan is then
run by Sphinx (sphinx_match.py) and ranked by the executor's own BM25F in
Python (sphinx_scoring.py). A search is a few round trips to the
aggregator, each a batch of statements (sphinx_queries.py, sphinx_batches.py):

1. the statistics the plan needs that are not cached (sphinx_stats.py);
2. the matches with the request's filters: their number, and the best
   ``candidate_limit`` by two cheap rankings (BM25 and proximity); and, for
   a long query whose matches do not fill the page, the relaxed fallback
   (at least n of its words: Sphinx's quorum);
3. for those candidates each term's frequency per field, the phrase
   checks, and the facet counts (GROUP BY);
4. the page's stored articles, for snippets, marks and accents, made by the
   same code as on Whoosh (result.Hit.from_stored, suggest.py).

Sorted by date, Sphinx orders the page itself: step 3 is only the facets.
Whatever shard did not answer is remembered by the session and reported
in the result (``partial``, ``missing_shards``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from indexer.analysis import has_accents
from search import grouping, headline_accents, querylang
from search.cluster_search import ClusterResult, ClusterSearch
from search.compiler import Compiler
from search.executor import COMMON_WORD_SHARE, RELAX_FRACTION, blends
from search.highlight import Highlighter
from search.plan import QueryPlan
from search.request import SearchRequest
from search.result import FacetValue, Hit, SearchResult
from search.sphinx_batches import (
    Batch,
    boost_phrases,
    candidates_from,
    facet_statements,
    factor_statements,
    phrase_statements,
    run,
    setter,
)
from search.sphinx_match import (
    match,
    needed_words,
    phrase,
    phrase_only,
    plan_terms,
    ranking_match,
    relaxed_match,
    single_keyword,
)
from search.sphinx_queries import (
    PROXIMITY_RANKER,
    Session,
    bm25_ranker,
    candidates_sql,
    count_sql,
    dated_sql,
    filters,
    titles_sql,
)
from search.sphinx_scoring import CandidateScorer, Statistics, rank
from search.sphinx_stats import ClusterStatistics
from search.sphinx_suggest import suggestion

BLEND_CANDIDATES = 4  # times more candidates for a long query (executor.blends), whose
# matches with most of the words rank among those with all of them by our score, not Sphinx's
RERANK_CANDIDATES = 200  # matches rescored per search and ranking (a multiple of it for deep pages)
SUGGEST_FROM_DOCS = 3  # suggest.RESTORE_FROM_DOCS: articles whose text restores accents


class PlanView:
    """compiler.CompilerView over cluster statistics. Without frequencies it
    records what the compiler asks and answers so that the plan holds every
    term it can: every compound exists (1), and every accented spelling
    tells articles apart (0, under its folded form's 1: Compiler.telling).
    So one first pass learns every term the final plan can hold (fetched at
    once)."""

    def __init__(self, statistics: ClusterStatistics, frequencies: dict[tuple[str, str], int] | None) -> None:
        self.statistics = statistics
        self.frequencies = frequencies
        self.asked: set[tuple[str, str]] = set()

    def codes(self, field_name: str) -> tuple[None, list[str]]:
        return None, self.statistics.labels(field_name)

    def doc_frequency(self, field_name: str, term: str) -> int:
        if self.frequencies is None:
            self.asked.add((field_name, term))
            return 0 if has_accents(term) else 1
        return self.frequencies.get((field_name, term), 0)


@dataclass
class Found:
    """What one search found, before the page's articles are read."""
    total: int
    page: list[int]  # row ids of the page, in order
    scores: dict[int, float] | None  # by row id; None when sorted by date
    complete: bool  # some article matched the whole query
    relaxed: bool
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    first: list[int] = field(default_factory=list)  # the first results' row ids (accents when the page is empty)


def best(session: Session, plan: QueryPlan, stats: Statistics, expression: str, where: list[str],
          limit: int) -> tuple[list[dict], int]:
    """The candidates worth rescoring, and how many articles match: the best
    ``limit`` by BM25 and the best ``limit`` by proximity (the query's words
    in a row), so that neither what the executor's BM25 nor what its phrase
    boost would lift is missed."""
    # BM25 sees the title, lead and caption words through MAYBE; proximity
    # without it (measured on 2.2.11: under MAYBE, lcs no longer finds the
    # query's words in a row)
    bm25 = bm25_ranker(stats.average_lengths.get("content", 1.0))
    answers = session.run([candidates_sql(ranking_match(plan, expression), where, limit, bm25),
                           candidates_sql(expression, where, limit, PROXIMITY_RANKER)])
    rows = {int(row["id"]): row for answer in reversed(answers) for row in answer.rows}
    order = list(dict.fromkeys(int(row["id"]) for answer in answers for row in answer.rows))
    return [rows[row_id] for row_id in order], answers[0].total_found


class Searcher:
    """Runs searches on ``cluster`` with cluster-wide ``statistics``."""

    def __init__(self, cluster: ClusterSearch, statistics: ClusterStatistics,
                 candidate_limit: int = RERANK_CANDIDATES) -> None:
        self.cluster = cluster
        self.statistics = statistics
        self.candidate_limit = candidate_limit

    def search(self, request: SearchRequest) -> SearchResult:
        started = time.perf_counter()
        session = Session(self.cluster)
        plan, stats = self._plan(request.q, session)
        sort = "newest" if plan.browse and request.sort == "relevance" else request.sort
        where = filters(request)
        skip = (request.page - 1) * request.size
        # a grouped page is cut from the first ranked matches (search/grouping.py)
        span = (0, grouping.ranked_needed(skip, request.size)) if request.grouped else (skip, skip + request.size)
        if sort == "relevance":
            found = self._ranked(session, plan, stats, where, request, span)
        else:
            found = self._dated(session, plan, stats, where, request, sort, span)
        page, hidden = found.page, 0
        members: list[list[int]] = [[] for _ in found.page]
        if request.grouped:
            shown = found.page[:grouping.window(len(found.page))]
            groups = grouping.page_groups(len(found.page), *session.events(shown), skip, request.size)
            page = [found.page[i] for i in groups.leaders]
            members = [[found.page[i] for i in group] for group in groups.members]
            hidden = groups.hidden
        suggest_rows = page or found.first[:SUGGEST_FROM_DOCS]
        docs = session.documents(list(dict.fromkeys(page + suggest_rows + [row for m in members for row in m])))
        highlighter = Highlighter(plan.highlight) if request.highlight else None

        def hit(row: int, marks: Highlighter | None) -> Hit:
            return Hit.from_stored(docs[row], found.scores.get(row) if found.scores is not None else None, marks)

        hits = []
        for row, others in zip(page, members, strict=True):
            if row in docs:
                hits.append(hit(row, highlighter))
                if request.grouped:
                    hits[-1].lead([hit(other, None) for other in others if other in docs])
        result = SearchResult(query=request.q, total=found.total, page=request.page, size=request.size,
                              took_ms=0.0, hits=hits, filters=request.filter_descriptions(),
                              relaxed=found.relaxed, notes=list(plan.notes), facets=found.facets,
                              grouped=hidden)
        result.suggestion = suggestion(self.statistics, session, plan.words,
                                       [docs[row] for row in suggest_rows if row in docs], found.complete)
        result.partial = bool(session.missing)
        result.missing_shards = sorted(session.missing)
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    def _plan(self, typed: str, session: Session) -> tuple[QueryPlan, Statistics]:
        """The compiler's plan, with the statistics of all its terms. The
        first pass assumes every compound exists; the terms it names are
        fetched in one round trip, and the second pass keeps the real ones.
        An unaccented headline is planned with the headline's accents
        (headline_accents.py), as on the embedded index."""
        parsed = querylang.parse(typed)
        spelling = self._headline_spelling(parsed, typed, session)
        if spelling is not None:
            parsed = querylang.parse(spelling)
        documents, means, missing = self.statistics.totals()
        session.missing |= missing
        recorder = PlanView(self.statistics, None)
        first = Compiler(recorder).plan(parsed)
        wanted = [(t.field, t.text) for t in plan_terms(first)] + sorted(recorder.asked)
        figures = self.statistics.frequencies(wanted)
        session.missing |= figures.missing
        plan = Compiler(PlanView(self.statistics, figures.values)).plan(parsed)
        if spelling is not None:
            plan.notes.append(headline_accents.note(spelling))
        return plan, Statistics(documents, means, figures.values)

    @staticmethod
    def _headline_spelling(parsed: querylang.ParsedQuery, typed: str, session: Session) -> str | None:
        folded = headline_accents.headline_words(parsed, typed)
        if folded is None:
            return None
        rows = session.one(titles_sql(phrase("title", folded), headline_accents.MAX_HOLDERS)).rows
        return headline_accents.spelling([str(row["title"] or "") for row in rows], folded)

    def _limit(self, page_end: int) -> int:
        """Candidates to rescore: a multiple of RERANK_CANDIDATES, so that the
        pages within one multiple are cut from the same ranking."""
        return self.candidate_limit * max(1, math.ceil(page_end / self.candidate_limit))

    def _relaxed_expression(self, session: Session, plan: QueryPlan, stats: Statistics) -> str | None:
        """The relaxed fallback (executor._relaxed): at least n of the
        informative words; None when fewer than two words are informative."""
        relaxation = plan.relaxation
        if relaxation is None:
            return None
        keywords = [single_keyword(node) for node in relaxation.words]
        counted = [node for node, keyword in zip(relaxation.words, keywords, strict=True) if keyword is None]
        counts = iter(r.total_found for r in session.run([count_sql(match(node)) for node in counted]))
        limit = COMMON_WORD_SHARE * max(1, stats.documents)
        informative = []
        for node, keyword in zip(relaxation.words, keywords, strict=True):
            frequency = stats.frequencies.get(("content", keyword), 0) if keyword else next(counts)
            if frequency <= limit:
                informative.append(node)
        if len(informative) < 2:
            return None
        frequencies = {text: df for (name, text), df in stats.frequencies.items() if name == "content"}
        return relaxed_match(informative, needed_words(len(informative), RELAX_FRACTION), relaxation.exclusions,
                             frequencies)

    def _ranked(self, session: Session, plan: QueryPlan, stats: Statistics, where: list[str],
                request: SearchRequest, span: tuple[int, int]) -> Found:
        """The ranked matches at positions ``span`` (start, end)."""
        page_end = request.page * request.size  # decides whether relaxed matches count, as in the executor
        limit = self._limit(max(page_end, span[1]))
        if blends(plan.relaxation):  # most-words matches rank among the full ones: deeper candidates
            limit *= BLEND_CANDIDATES
        required = match(plan.required)
        full_rows, full_total = best(session, plan, stats, required, where, limit)
        total, complete = full_total, full_total > 0
        expression, relaxed_rows = required, list[dict]()
        if plan.relaxation is not None and (full_total < page_end or blends(plan.relaxation)):
            relaxed_expression = self._relaxed_expression(session, plan, stats)
            if relaxed_expression is not None:
                expression = relaxed_expression
                relaxed_rows, relaxed_total = best(session, plan, stats, relaxed_expression, where, limit)
                total = max(total, relaxed_total)
        full_ids = {int(row["id"]) for row in full_rows}
        rows = full_rows + [row for row in relaxed_rows if int(row["id"]) not in full_ids]
        candidates = candidates_from(rows)
        in_full = np.array([row_id in full_ids for row_id in candidates.row_ids], dtype=bool)
        in_relaxed = None
        if expression is not required:
            relaxed_ids = {int(row["id"]) for row in relaxed_rows}
            in_relaxed = np.array([row_id in relaxed_ids for row_id in candidates.row_ids], dtype=bool)

        batch: Batch = []
        required_total = {"required": full_total}
        phrase_found: dict[str, int] = {}
        if candidates.size:
            batch += factor_statements(plan, candidates)
            batch += phrase_statements(plan, candidates)
            for phrase in boost_phrases(plan):
                key = phrase_only(phrase)
                batch.append((count_sql(f"({required} {key})"), setter(phrase_found, key)))
            # the executor counts boost phrases before filtering, when it checks every match
            if where and boost_phrases(plan):
                batch.append((count_sql(required), setter(required_total, "required")))
        facets: dict[str, list[FacetValue]] = {}
        if request.facets:
            batch += facet_statements(expression, where, facets)
        run(session, batch)

        scorer = CandidateScorer(stats, candidates, required_total["required"], phrase_found)
        ranked = rank(plan, scorer, in_full, in_relaxed, complete)
        page = ranked.order[span[0]:span[1]]
        return Found(total=total, page=[candidates.row_ids[i] for i in page],
                     scores={candidates.row_ids[i]: float(ranked.score[i]) for i in page},
                     complete=complete, relaxed=ranked.relaxed, facets=facets,
                     first=[candidates.row_ids[i] for i in ranked.order[:SUGGEST_FROM_DOCS]])

    def _dated(self, session: Session, plan: QueryPlan, stats: Statistics, where: list[str],
               request: SearchRequest, sort: str, span: tuple[int, int]) -> Found:
        """The matches at positions ``span`` (start, end) in date order."""
        page_end = request.page * request.size
        expression = None if plan.browse else match(plan.required)
        complete: bool | None = None
        relaxed = False
        if expression is not None and plan.relaxation is not None:
            full_total = session.one(count_sql(expression, where)).total_found
            complete = full_total > 0
            if full_total < page_end or blends(plan.relaxation):
                relaxed_expression = self._relaxed_expression(session, plan, stats)
                if relaxed_expression is not None:
                    expression, relaxed = relaxed_expression, True
        page: list[ClusterResult] = []
        batch: Batch = [
            (dated_sql(expression, where, sort, span[0], span[1] - span[0]), page.append)]
        facets: dict[str, list[FacetValue]] = {}
        if request.facets:
            batch += facet_statements(expression, where, facets)
        run(session, batch)
        total = page[0].total_found
        rows = [int(row["id"]) for row in page[0].rows]
        first = rows
        if not rows and total:
            first = [int(r["id"]) for r in session.one(dated_sql(expression, where, sort, 0, SUGGEST_FROM_DOCS)).rows]
        complete = total > 0 if complete is None else complete
        return Found(total=total, page=rows, scores=None, complete=complete,
                     relaxed=relaxed and total > 0 and not complete, facets=facets, first=first)
