"""A Sphinx (or Manticore) cluster as the search backend: the requests,
plans and results of engine.Engine, answered by a sharded, mirrored cluster
(search/cluster.py) whose aggregator is at ``sphinx://HOST:PORT``.

A search is sphinx_search.py's; here are the articles (get, related),
the figures (stats, health) and the writes (cluster_writes.py, to every
mirror of each article's shard). Whatever part of the cluster did not
answer is in the result (``partial``, ``missing_shards``), never hidden;
a cluster that does not answer at all is ``BackendUnavailable`` (HTTP 503).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from indexer import ingest
from indexer.schema import build_schema
from search.autocomplete import MAX_COMPLETIONS, Completion
from search.backend import BackendUnavailable
from search.cluster import LAYOUT_FILE, ClusterError, Layout
from search.cluster_nodes import dead_shards, node_status
from search.cluster_search import ClusterSearch, layout_from_url
from search.cluster_writes import ClusterWriter
from search.compiler import related_query, related_words
from search.facets import STATS_FACETS
from search.highlight import Highlighter
from search.request import BadRequest, SearchRequest
from search.result import Export, FacetValue, Hit, SearchResult
from search.sphinx_batches import candidates_from, facet_statements, run, term_statements
from search.sphinx_documents import placement
from search.sphinx_ingest import count_outcomes
from search.sphinx_match import match
from search.sphinx_queries import Session, article_sql, bm25_ranker, candidates_sql
from search.sphinx_scoring import CandidateScorer, Statistics
from search.sphinx_search import RERANK_CANDIDATES, Searcher
from search.sphinx_stats import ClusterStatistics
from search.sphinxql import Connection, SphinxError, SphinxUnavailable

CURSORS_UNSUPPORTED = ("'cursor' is not available on a Sphinx cluster, which ranks only its best candidates; "
                       "use 'page' (page * size up to the result window)")


class SphinxBackend:
    """backend.Backend on the cluster whose aggregator is at ``url``.

    ``cluster_dir`` is the directory of `vnsearch cluster up` (its layout
    and the writers' journals); without it the layout is read from the
    aggregator, and writes are refused (a write that misses a mirror must be
    journalled somewhere every writer shares)."""

    def __init__(self, url: str, cluster_dir: Path | None = None, refresh_interval: float = 1.0,
                 cache_mb: float = 64, candidate_limit: int = RERANK_CANDIDATES) -> None:
        self.url = url
        self.cluster_dir = cluster_dir
        self.cluster = ClusterSearch(url)  # checks the URL; connects on first use
        self.statistics = ClusterStatistics(self.cluster, int(cache_mb * (1 << 20)), totals_ttl=refresh_interval)
        self.candidate_limit = candidate_limit
        self._layout: Layout | None = None

    # -- errors ------------------------------------------------------------
    @contextmanager
    def _answering(self) -> Iterator[None]:
        """searchd's and the layout's errors as BackendUnavailable (HTTP 503)."""
        try:
            yield
        except SphinxUnavailable as exc:
            raise BackendUnavailable("cluster_unavailable", f"the search cluster does not answer: {exc}") from None
        except SphinxError as exc:
            raise BackendUnavailable("cluster_error", f"the search cluster refused a query: {exc}") from None
        except ClusterError as exc:
            raise BackendUnavailable("cluster_misconfigured", str(exc)) from None

    # -- search ------------------------------------------------------------
    # No cursors and no full exports: the cluster ranks by relevance only its
    # best candidates (a multiple of RERANK_CANDIDATES up to the page), so it
    # cannot continue after an arbitrary score, nor list every match in order.
    cursor_paging = False

    def search(self, request: SearchRequest) -> SearchResult:
        if request.after is not None:
            raise BadRequest("cursor_unsupported", CURSORS_UNSUPPORTED)
        with self._answering():
            return Searcher(self.cluster, self.statistics, self.candidate_limit).search(request)

    def export(self, request: SearchRequest) -> Export:
        raise BadRequest("format_unsupported", "format=ndjson (every match) is not available on a Sphinx cluster, "
                                               "which ranks only its best candidates; use page= with format=json "
                                               "or csv")

    def complete(self, typed: str, limit: int = MAX_COMPLETIONS) -> list[Completion]:
        """No search as you type on a cluster (yet): always none, so the
        search page's box simply shows no list. The Whoosh engine builds its
        table from every stored headline in each process; here that would
        mean reading the whole archive back from the shards, per process and
        generation. A cluster would rather keep the table on its own nodes."""
        return []

    # -- articles ----------------------------------------------------------
    def get(self, article_id: str) -> dict | None:
        with self._answering():
            return self._get(article_id, Session(self.cluster))

    def _get(self, article_id: str, session: Session) -> dict | None:
        row_id = placement(article_id, 1).row_id
        result = session.one(article_sql(row_id))
        for row in result.rows:
            if row["article_id"] == article_id:  # a row id collision is another article
                return dict(json.loads(row["doc"]))
        shards = len(set(self.cluster.agents().values())) or 1
        if result.partial and placement(article_id, shards).shard in result.missing_shards:
            raise BackendUnavailable("cluster_partial", f"no live mirror holds the shard of article {article_id!r}")
        return None

    def related(self, article_id: str, limit: int = 5) -> list[Hit] | None:
        """More like this (engine.Engine.related): the article's rarest title
        and lead words and compounds, ranked by the executor's BM25."""
        with self._answering():
            session = Session(self.cluster)
            doc = self._get(article_id, session)
            if doc is None:
                return None
            documents, means, _ = self.statistics.totals()
            words = related_words(doc)
            figures = self.statistics.frequencies(("content", word) for word in words)
            session.missing |= figures.missing
            node = related_query({w: figures.values.get(("content", w), 0) for w in words}, documents)
            if node is None:
                return []
            own = placement(article_id, 1).row_id
            ranker = bm25_ranker(means.get("content", 1.0))
            found = session.one(candidates_sql(match(node), [f"id != {own}"], self.candidate_limit, ranker))
            scored = candidates_from(found.rows)
            if not scored.size:
                return []
            run(session, term_statements({"content": [t.text for t in node.terms]}, scored))
            scorer = CandidateScorer(Statistics(documents, means, figures.values), scored)
            score = scorer.run(node)[1]
            order = [int(i) for i in np.lexsort((np.arange(scored.size), -score))[:limit]]
            docs = session.documents([scored.row_ids[i] for i in order])
            highlighter = Highlighter([])
            return [Hit.from_stored(docs[scored.row_ids[i]], float(score[i]), highlighter)
                    for i in order if scored.row_ids[i] in docs]

    # -- figures -----------------------------------------------------------
    def stats(self) -> dict:
        with self._answering():
            session = Session(self.cluster)
            documents, _, missing = self.statistics.totals()
            session.missing |= missing
            facets: dict[str, list[FacetValue]] = {}
            run(session, facet_statements(None, [], facets, STATS_FACETS))
            layout = self.layout()
            sizes = _shard_sizes(layout)
            return {
                "index": self.url, "backend": "sphinx", "documents": documents,
                "segments": sum(s[1] for s in sizes.values()), "size_bytes": sum(s[0] for s in sizes.values()),
                "fields": sorted(build_schema().names()), "last_update": _last_update(layout),
                "shards": layout.shards, "mirrors": layout.mirrors,
                "partial": bool(session.missing), "missing_shards": sorted(session.missing),
                "facets": {name: [{"value": f.value, "count": f.count} for f in facets[name]]
                           for name in STATS_FACETS},
            }

    def warm(self) -> None:
        """Nothing: each server worker connects to the cluster on its first request."""

    def health(self) -> dict:
        """"ok", or "degraded" when a shard has no live mirror (its articles
        are missing from every result); BackendUnavailable when the
        aggregator does not answer."""
        with self._answering():
            documents, _, _ = self.statistics.totals()
            layout = self.layout()
            statuses = [node_status(layout, node) for node in layout.mirror_nodes]
            dead = dead_shards(statuses)
            return {"status": "degraded" if dead else "ok", "documents": documents, "backend": "sphinx",
                    "shards": layout.shards, "mirrors": layout.mirrors, "missing_shards": dead,
                    "nodes": [{"name": s.node.name, "shard": s.node.shard, "mirror": s.node.mirror, "up": s.up}
                              for s in statuses]}

    def layout(self) -> Layout:
        """The cluster's layout: DIR/cluster.json, or read from the aggregator."""
        if self._layout is None:
            directory = self.cluster_dir
            if directory is not None and (directory / LAYOUT_FILE).exists():
                layout = Layout.load(directory)
                if (layout.host, layout.base_port) != (self.cluster.host, self.cluster.port):
                    raise ClusterError(f"{directory} holds the cluster at {layout.url}, not {self.url}")
            else:
                layout = layout_from_url(self.url, directory or Path(os.devnull))
            self._layout = layout
        return self._layout

    # -- writes ------------------------------------------------------------
    def writer(self) -> ClusterWriter:
        if self.cluster_dir is None:
            raise BackendUnavailable("writes_unconfigured",
                                     "writes to the cluster need its directory (VNSEARCH_CLUSTER_DIR or "
                                     "--cluster-dir): the journals of mirrors that miss a write live there")
        return ClusterWriter(self.layout())

    def add(self, records: list[dict]) -> ingest.Summary:
        """Upsert article records on every mirror of their shards; invalid
        ones are reported by position, and a mirror that missed a write is
        named in ``problems`` (the write waits in its journal)."""
        summary = ingest.Summary()
        articles = ingest.valid_articles(records, summary)
        if articles:
            with self._answering():
                report = self.writer().replace(articles.values())
            count_outcomes(report.outcomes, summary)
        return summary

    def delete(self, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Delete by id from every mirror; a shard with no live mirror takes
        the delete from its journal later, and it counts as deleted."""
        with self._answering():
            report = self.writer().delete(ids)
        deleted = [o.article_id for o in report.outcomes if o.found is not False and o.refused is None]
        unknown = [o.article_id for o in report.outcomes if o.article_id not in deleted]
        return deleted, unknown


def _shard_sizes(layout: Layout) -> dict[int, tuple[int, int]]:
    """{shard: (bytes, chunks)} from one live mirror of each shard."""
    sizes: dict[int, tuple[int, int]] = {}
    for node in layout.mirror_nodes:
        if node.shard is None or node.shard in sizes:
            continue
        try:
            with Connection(node.host, node.sql_port, connect_timeout=1.0) as conn:
                status = {str(k): str(v) for k, v in conn.execute(f"SHOW INDEX {node.index} STATUS")}
        except SphinxError:
            continue
        sizes[node.shard] = (int(status.get("ram_bytes", 0)) + int(status.get("disk_bytes", 0)),
                             int(status.get("disk_chunks", 0)) + 1)
    return sizes


def _last_update(layout: Layout) -> str:
    """When a mirror last wrote its binlog (every write does, within a
    second), when the cluster's directory is on this machine; else now."""
    newest = 0.0
    for node in layout.mirror_nodes:
        folder = layout.path(node, "")
        if folder.is_dir():
            newest = max([newest, *(p.stat().st_mtime for p in folder.iterdir() if p.is_file())])
    return datetime.fromtimestamp(newest or time.time(), UTC).isoformat(timespec="seconds")
