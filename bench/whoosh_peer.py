"""Plain Whoosh, the other peer of the relevance evaluation: BM25F (Whoosh's
defaults, k1=1.2, b=0.75) over title and body with Whoosh's own
StandardAnalyzer and accent folding, and none of vnsearch's analysis (no
syllable folding rules, compounds, phrases, tiers or relaxation). A query is
the OR of its words, as FTS5's peer is (bench/fts5_peer.py); đ is folded to
d on both sides, as there."""

from __future__ import annotations

from whoosh import fields, qparser
from whoosh.analysis import CharsetFilter, StandardAnalyzer
from whoosh.filedb.filestore import RamStorage
from whoosh.support.charset import accent_map

from bench.fts5_peer import fold_d


class PlainWhoosh:
    def __init__(self, title_boost: float = 1.0):
        analyzer = StandardAnalyzer(stoplist=None) | CharsetFilter(accent_map)
        schema = fields.Schema(id=fields.ID(stored=True), title=fields.TEXT(analyzer=analyzer),
                               body=fields.TEXT(analyzer=analyzer))
        self.ix = RamStorage().create_index(schema)
        self.parser = qparser.MultifieldParser(["title", "body"], schema, group=qparser.OrGroup,
                                               fieldboosts={"title": title_boost})
        self.parser.remove_plugin_class(qparser.FieldsPlugin)  # a headline's "x:" is text
        self.searcher = None

    def index(self, records) -> None:
        with self.ix.writer() as writer:
            for r in records:
                body = "\n".join(p for p in (r.get("lead"), r.get("body")) if p)
                writer.add_document(id=r["id"], title=fold_d(r.get("title") or ""), body=fold_d(body))
        self.searcher = self.ix.searcher()

    def search(self, query: str, limit: int = 10) -> list[str]:
        parsed = self.parser.parse(fold_d(query).replace('"', " "))
        return [hit["id"] for hit in self.searcher.search(parsed, limit=limit)]
