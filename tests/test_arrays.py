"""Format 3: the text fields' postings live only in the segment arrays.

Whoosh's own files keep the keyword fields; Whoosh merges and whoosh.query
read the text postings back through ArraysTermsReader; positions survive
round trips, including values too wide for the narrow types; indexes of
plain Whoosh segments are still searched; a segment whose arrays are gone is
a clear 503, not a wrong answer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from whoosh import writing
from whoosh.codec.whoosh3 import W3Codec
from whoosh.query import Phrase, Term

from indexer import arrays as arrays_module
from indexer import postings, store
from indexer.arrays import (
    ARRAYS_DIR,
    READ_NOT_MAPPED,
    UNPLACED,
    ArraysTermsReader,
    SegmentArrays,
    _SegmentArraysWriter,
    arrays_root,
)
from indexer.filearray import FileArray
from indexer.ingest import ingest, optimize
from search.engine import Engine
from search.request import SearchRequest
from tests.helpers import DEMO, DEMO_ARTICLES, corpus_slice, write_jsonl
from tests.web_helpers import assert_error, make_app

QUERIES = ["can bo tre", "da nang", '"thị trường chứng khoán"', "bóng đá", "chinh phu", "TP.HCM",
           "hoc sinh gioi thanh pho ho chi minh nam nay", "hoc sinhh gioi", "kinh te -chung",
           "(giao duc OR y te) AND thanh pho", "title:(viet nam)", '"thi truong"', ""]


def results(path: Path) -> dict:
    engine = Engine(path)
    out = {}
    for q in QUERIES:
        for params in ({}, {"sort": "newest"}, {"page": "2", "size": "5"}):
            values = {"q": q, **params}
            found = engine.search(SearchRequest.from_params(
                values.get, lambda k, v=values: [v[k]] if k in v else [])).to_json()
            found.pop("took_ms")
            out[q, tuple(params.items())] = found
    return out


def matches(path: Path) -> dict:
    """Per query: the total, the facet counts, and every matching id when they fit on one page."""
    engine = Engine(path)
    out = {}
    for q in QUERIES:
        found = engine.search(SearchRequest(q=q, size=100))
        out[q] = (found.total, found.facets, sorted(h.id for h in found.hits) if found.total <= 100 else None)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Real articles and the demo archive in several segments (two workers)."""
    path = tmp_path_factory.mktemp("format3")
    source = write_jsonl(path.parent / "format3.jsonl", corpus_slice(250) + corpus_slice(250, start=15000))
    assert ingest([source, DEMO], path, procs=2, show_progress=False).rejected == 0
    return path


def test_text_postings_are_only_in_the_arrays(built):
    with store.open_index(built).searcher() as searcher:
        leaves = [leaf for leaf, _ in searcher.reader().leaf_readers()]
        assert len(leaves) >= 2
        for leaf in leaves:
            terms = leaf._terms
            assert isinstance(terms, ArraysTermsReader)
            # Whoosh's own terms file holds the keyword fields only
            names = set(terms.keywords.indexed_field_names())
            assert "id" in names and "category" in names
            assert not names & {"content", "title", "lead", "captions"}
            assert leaf.doc_frequency("content", "can") == terms.arrays.doc_frequency("content", "can") > 0


def test_whoosh_queries_see_the_same_postings_and_positions(built):
    engine = Engine(built)
    phrase_ids = {hit.id for hit in engine.search(SearchRequest(q='"thi truong chung khoan"', size=100)).hits}
    compound_df = engine._state().view.doc_frequency("content", "can_bo")
    assert phrase_ids
    with store.open_index(built).searcher() as searcher:
        found = searcher.search(Phrase("content", ["thi", "truong", "chung", "khoan"]), limit=None)
        assert {hit["id"] for hit in found} == phrase_ids
        # a compound term, without positions, through Whoosh's scorer
        assert len(searcher.search(Term("content", "can_bo"), limit=None)) == compound_df > 0
        # and Whoosh's term listing walks the arrays in byte order
        terms = [t for t in searcher.reader().field_terms("content") if t.startswith("thi")]
        assert terms == sorted(terms) and "thi" in terms and "thi_truong" in terms


def test_merging_every_segment_through_whoosh_keeps_every_result(built, tmp_path):
    copy = tmp_path / "merged"
    shutil.copytree(built, copy)
    before = results(copy)
    ix = store.open_index(copy)
    writer = store.acquire_writer(ix, copy)
    writer.commit(optimize=True)  # one segment, rewritten from the others' postings
    merged = store.open_index(copy)
    assert len(merged._segments()) == 1
    assert results(copy) == before
    # the merged-away segments' arrays go at the next write, and that
    # write's own new segment, unused (it added nothing), goes with its commit
    with store.writing(merged, copy) as writer:
        unused = writer.newsegment.segment_id()
    live = {segment.segment_id() for segment in store.open_index(copy)._segments()}
    assert unused not in live
    assert {p.name for p in (copy / ARRAYS_DIR).iterdir()} == live


def test_merging_after_deletions_keeps_every_remaining_result(built, tmp_path):
    copy = tmp_path / "deleted"
    shutil.copytree(built, copy)
    engine = Engine(copy)
    total = engine.search(SearchRequest(q="thi truong")).total
    gone = [hit.id for hit in engine.search(SearchRequest(q="thi truong", size=30)).hits]
    assert Engine(copy).delete(gone)[0] == gone
    before = matches(copy)
    writer = store.acquire_writer(store.open_index(copy), copy)
    writer.commit(optimize=True)  # the merge copies each segment's arrays, skipping deleted articles
    # (scores change: the deleted articles no longer count in the statistics)
    assert matches(copy) == before
    after = Engine(copy).search(SearchRequest(q="thi truong", size=100))
    assert after.total == total - len(gone) and not {hit.id for hit in after.hits} & set(gone)


def test_text_postings_never_enter_whooshs_pool(tmp_path, monkeypatch):
    original = writing.PostingPool.add

    def add(self, item):
        assert item[0] not in {"content", "title", "lead", "captions"}, item[:3]
        original(self, item)

    monkeypatch.setattr(writing.PostingPool, "add", add)
    source = write_jsonl(tmp_path / "a.jsonl", corpus_slice(300))
    for procs in (1, 2):  # forked workers inherit the check
        summary = ingest([source, DEMO], tmp_path / f"ix{procs}", procs=procs, show_progress=False)
        assert summary.added == 300 + DEMO_ARTICLES
        assert Engine(tmp_path / f"ix{procs}").search(SearchRequest(q="chinh phu")).total > 0


def test_plain_whoosh_segments_are_still_searched(tmp_path, monkeypatch):
    ours = tmp_path / "ours"
    assert ingest([DEMO], ours, procs=1, show_progress=False).added
    monkeypatch.setattr(store, "PostingsCodec", W3Codec)  # an index written without arrays
    plain = tmp_path / "plain"
    assert ingest([DEMO], plain, procs=1, show_progress=False).added
    assert not arrays_root(plain).exists() or not any(arrays_root(plain).iterdir())
    assert results(plain) == results(ours)


def _write_segment(folder: Path, postings: list) -> SegmentArrays:
    storage = SimpleNamespace(folder=str(folder))
    segment = SimpleNamespace(segment_id=lambda: "SEG")
    writer = _SegmentArraysWriter(storage, segment)
    for item in postings:
        assert writer.take(item)
    assert not writer.take(("id", b"x", 0, 1.0, None))  # keyword fields stay with Whoosh
    writer.postings_done()
    writer.perdoc_done(3)
    writer.finish_if_done()
    return SegmentArrays(arrays_root(folder) / "SEG")


def _value(positions: list[int]) -> bytes:
    from indexer.schema import CompactPositions
    return CompactPositions().encode(positions)


def test_positions_and_wide_values_round_trip(tmp_path):
    far = [5, 70_000, 70_001]  # a position past 65,535
    many = list(range(300))  # a frequency past 255
    arrays = _write_segment(tmp_path, [
        ("content", b"ha", 0, 3.0, _value(far)),
        ("content", b"ha", 2, 300.0, _value(many)),
        ("content", b"ha_noi", 1, 2.0, (2).to_bytes(4, "big")),
        ("content", b"noi", 0, 1.0, _value([6])),
        # positions in one document only: the analyzer never does this, but
        # the other posting must not match a phrase
        ("content", b"odd", 0, 1.0, _value([1])),
        ("content", b"odd", 2, 2.0, (2).to_bytes(4, "big")),
    ])
    docs, tf = arrays.postings("content", "ha")
    assert docs.tolist() == [0, 2] and tf.tolist() == [3, 300]
    assert arrays._map("content.tf.npy").dtype == np.uint16
    assert arrays._map("content.pos.npy").dtype == np.uint32
    assert arrays._map("content.docs.npy").dtype == np.uint8
    # the per-term offsets take 4 bytes; a term without positions keeps its -1
    assert arrays._map("content.first.npy").dtype == arrays._map("content.tstart.npy").dtype == np.uint32
    assert arrays._map("content.pfirst.npy").dtype == np.int32
    assert arrays.positions_at("content", arrays.slot("content", b"ha_noi")) is None
    doc, pos = arrays.position_pairs("content", "ha", np.array([0, 2]))
    assert list(zip(doc.tolist(), pos.tolist(), strict=True)) == [(0, p) for p in far] + [(2, p) for p in many]
    assert arrays.position_pairs("content", "ha_noi", np.array([1]))[0].tolist() == []
    assert arrays.positions_at("content", arrays.slot("content", b"ha")) == [far, many]
    doc, pos = arrays.position_pairs("content", "odd", np.array([0, 2]))
    assert pos[doc == 0].tolist() == [1]
    assert all(p >= UNPLACED for p in pos[doc == 2].tolist()) and np.diff(pos[doc == 2]).tolist() == [2]
    assert arrays.positions_at("content", arrays.slot("content", b"odd")) == [[1], []]


def test_offsets_past_32_bits_keep_8_bytes():
    assert postings._offsets(np.array([0, (1 << 32) - 1])).dtype == np.uint32
    assert postings._offsets(np.array([-1, 5])).dtype == np.int32
    assert postings._offsets(np.array([0, 1 << 32])).dtype == np.int64
    assert postings._offsets(np.array([-1, 1 << 31])).tolist() == [-1, 1 << 31]


def test_a_segment_without_its_arrays_is_a_clear_503(built, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    live = store.open_index(broken)._segments()[0].segment_id()
    shutil.rmtree(broken / ARRAYS_DIR / live)
    client = make_app(broken).test_client()
    error = assert_error(client.get("/api/search?q=kinh+te"), 503, "index_problem")
    assert "arrays" not in error["message"]  # the details go to the log, not to clients
    page = client.get("/?q=kinh+te")
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)


def _arrays_of(path: Path) -> dict[str, np.ndarray]:
    (segment,) = [p for p in (path / ARRAYS_DIR).iterdir() if (p / "meta.json").exists()
                  and json.loads((p / "meta.json").read_text())["docs"]]
    return {f.name: np.load(f) for f in sorted(segment.glob("*.npy"))} | {
        f.name: np.frombuffer(f.read_bytes(), dtype=np.uint8) for f in segment.glob("*.bin")}


def test_spilled_runs_and_chunked_merges_write_the_same_arrays(tmp_path, monkeypatch):
    """Postings spilled to many sorted runs on disk and merged in small chunks
    give byte-identical arrays to one run merged at once."""
    source = write_jsonl(tmp_path / "a.jsonl", corpus_slice(120))
    assert ingest([source], tmp_path / "one", procs=1, show_progress=False).added == 120
    monkeypatch.setattr(postings, "RUN_BYTES", 1)  # a run every 4,096 postings
    monkeypatch.setattr(postings, "CHUNK_POSTINGS", 1000)
    assert ingest([source], tmp_path / "many", procs=1, show_progress=False).added == 120
    one, many = _arrays_of(tmp_path / "one"), _arrays_of(tmp_path / "many")
    assert one.keys() == many.keys() and "content.pos.npy" in one
    for name in one:
        assert one[name].dtype == many[name].dtype and np.array_equal(one[name], many[name]), name
    assert not list((tmp_path / "many" / ARRAYS_DIR).rglob("*.run*"))  # runs are removed


def test_document_numbers_past_16_bits_are_stored_in_16(tmp_path):
    """A segment of more than 65,536 documents keeps each posting's low 16
    bits and a per-term table of where each block of 65,536 starts; terms
    that skip whole blocks, or sit in one block only, read back exactly."""
    spread = [3, 65_535, 65_536, 70_000, 200_001]  # blocks 0, 0, 1, 1, 3 (block 2 skipped)
    items = [("content", b"ha", d, 1.0, _value([d % 7])) for d in spread]
    items += [("content", b"noi", d, 2.0, _value([d % 7 + 1, 9])) for d in (4, 200_001)]
    items += [("content", b"late", 199_999, 1.0, _value([1])), ("title", b"ha", 1, 1.0, _value([0]))]
    arrays = _write_segment(tmp_path, items)
    assert arrays._map("content.docs.npy").dtype == np.uint16
    assert arrays._map("content.dochigh.npy").shape[1] == 3  # blocks 1..3 start somewhere
    assert arrays._map("title.dochigh.npy") is None  # title stays below 65,536
    assert arrays.postings("content", "ha")[0].tolist() == spread
    assert arrays.postings("content", "noi")[0].tolist() == [4, 200_001]
    assert arrays.postings("content", "late")[0].tolist() == [199_999]
    assert arrays.postings("title", "ha")[0].tolist() == [1]
    doc, pos = arrays.position_pairs("content", "noi", np.array([200_001]))
    assert list(zip(doc.tolist(), pos.tolist(), strict=True)) == [(200_001, 200_001 % 7 + 1), (200_001, 9)]
    # what merges read: every posting of every term, whole
    chunks = list(arrays.posting_chunks("content", chunk=2))
    found = {(texts[t], int(d)) for texts, term, docs, *_ in chunks for t, d in zip(term, docs, strict=True)}
    assert found == {(text, d) for field, text, d, _, _ in items if field == "content"}


def test_blocks_of_document_numbers_give_the_same_results(tmp_path, monkeypatch):
    """Indexes built and merged with 16-bit blocks shrunk to 4 bits (so every
    segment is split into blocks of 16 documents) answer every query as the
    plain layout does."""
    first = write_jsonl(tmp_path / "a.jsonl", corpus_slice(90))
    second = write_jsonl(tmp_path / "b.jsonl", corpus_slice(60, start=9000))

    def build(path: Path) -> dict:
        for source in (first, second):
            assert ingest([source], path, procs=1, show_progress=False).rejected == 0
        before = results(path)
        optimize(path)  # the merge reads the blocks back through posting_chunks
        assert results(path) == before
        return before

    plain = build(tmp_path / "plain")
    monkeypatch.setattr(postings, "DOC_BLOCK_BITS", 4)
    monkeypatch.setattr(arrays_module, "DOC_BLOCK_BITS", 4)
    split = build(tmp_path / "split")
    assert list((tmp_path / "split" / ARRAYS_DIR).rglob("content.dochigh.npy"))
    assert not list((tmp_path / "plain" / ARRAYS_DIR).rglob("content.dochigh.npy"))
    assert split == plain


def test_file_arrays_read_what_numpy_reads(tmp_path):
    values = np.arange(1000, dtype=np.uint16) * 7
    np.save(tmp_path / "v.npy", values)
    read = FileArray(tmp_path / "v.npy")
    assert len(read) == 1000 and read.dtype == np.uint16
    assert np.array_equal(read[10:20], values[10:20]) and np.array_equal(read[990:2000], values[990:])
    assert read[5] == values[5] and read[-1] == values[-1] and len(read[7:3]) == 0
    index = np.array([999, 3, 3, 500])
    assert np.array_equal(read[index], values[index]) and np.array_equal(np.asarray(read), values)
    with pytest.raises(IndexError):
        read[1000]
    with pytest.raises(IndexError):
        read[np.array([1000])]


def test_postings_are_read_not_mapped(built):
    """Mapped, every page of postings a query touched stayed in the process's
    PSS; read with pread it stays in the page cache, shared by all."""
    engine = Engine(built)
    for q in QUERIES:
        engine.search(SearchRequest(q=q))
    mapped = Path("/proc/self/maps").read_text()
    assert str(built) in mapped  # the small per-term tables are mapped...
    assert not any(name in mapped for name in READ_NOT_MAPPED)  # ...postings and positions are not


def test_a_truncated_postings_file_is_a_clear_503(built, tmp_path):
    broken = tmp_path / "truncated"
    shutil.copytree(built, broken)
    for docs in (broken / ARRAYS_DIR).rglob("content.docs.npy"):
        with open(docs, "r+b") as handle:
            handle.truncate(docs.stat().st_size // 2)
    client = make_app(broken).test_client()
    assert_error(client.get("/api/search?q=chinh+phu"), 503, "index_problem")
    page = client.get("/?q=chinh+phu")
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
