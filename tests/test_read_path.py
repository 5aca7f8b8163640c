"""The read path at scale: per-segment arrays give the same results as
Whoosh's own decoder, caches stay within their byte bounds whatever clients
send, a server's private memory does not grow with its threads, and nothing
is left in the temp folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from indexer.arrays import ARRAYS_DIR, SegmentArrays
from indexer.ingest import ingest
from search.cache import size_of
from search.engine import Engine
from search.request import SearchRequest
from tests.helpers import DEMO, ROOT, corpus_slice, write_jsonl

QUERIES = ["can bo tre", "da nang", '"thị trường chứng khoán"', "bóng đá", "chinh phu",
           "hoc sinh gioi thanh pho ho chi minh nam nay", "xyzqwv", "hoc sinhh gioi", "TP.HCM",
           "18/01/2022", "", "kinh te -chung", "(giao duc OR y te) AND thanh pho", "title:(viet nam)"]
PARAMS = [{}, {"sort": "newest"}, {"sort": "oldest", "page": "2"}, {"category": "Thể thao"},
          {"from": "2020-01-01", "to": "2023-12-31"}]


def request(q: str, **params: str) -> SearchRequest:
    values = {"q": q, **params}
    return SearchRequest.from_params(values.get, lambda k: [values[k]] if k in values else [])


def result_json(engine: Engine, q: str, params: dict) -> dict:
    found = engine.search(request(q, **params)).to_json()
    found.pop("took_ms")
    return found


@pytest.fixture(scope="module")
def slice_index(tmp_path_factory) -> Path:
    """600 real articles and the demo archive, written by two worker
    processes (several segments), then one more write through the API path
    (a further segment and Whoosh's merge of small ones)."""
    path = tmp_path_factory.mktemp("slice-index")
    source = write_jsonl(path.parent / "slice.jsonl", corpus_slice(300) + corpus_slice(300, start=20000))
    assert ingest([source, DEMO], path, procs=2, show_progress=False).rejected == 0
    Engine(path).add([{"id": "late-1", "title": "Bài viết thêm về kinh tế Đà Nẵng",
                       "body": "Thị trường chứng khoán và giáo dục ở thành phố.",
                       "published": "2022-05-01", "category": "Kinh tế"}])
    return path


def test_every_segment_has_arrays_and_stale_ones_are_removed(slice_index):
    engine = Engine(slice_index)
    leaves = engine._state().view.leaves
    assert len(leaves) >= 2 and all(leaf.arrays is not None for leaf in leaves)
    on_disk = {p.name for p in (slice_index / ARRAYS_DIR).iterdir()}
    # a write removes the arrays of segments merged away before it (the
    # last write's own merge leaves at most its inputs behind)
    assert {leaf.segment_id for leaf in leaves} <= on_disk
    assert not [name for name in on_disk if name.endswith(".tmp")]


def test_arrays_and_whoosh_decoding_give_identical_results(slice_index, monkeypatch):
    mapped = Engine(slice_index)
    warm = {(q, i): result_json(mapped, q, p) for q in QUERIES for i, p in enumerate(PARAMS)}
    monkeypatch.setattr(SegmentArrays, "open", classmethod(lambda cls, *args: None))
    decoded = Engine(slice_index)
    assert all(leaf.arrays is None for leaf in decoded._state().view.leaves)
    for (q, i), expected in warm.items():
        assert result_json(decoded, q, PARAMS[i]) == expected, (q, PARAMS[i])
    assert sum(found["total"] for found in warm.values()) > 0


def test_a_cold_engine_answers_like_a_warm_one(slice_index):
    warm = Engine(slice_index)
    for q in QUERIES:  # warm every cache
        result_json(warm, q, {})
    again = {q: result_json(warm, q, {}) for q in QUERIES}
    cold = Engine(slice_index)
    assert {q: result_json(cold, q, {}) for q in QUERIES} == again


def test_caches_stay_within_their_byte_bounds_under_a_flood_of_filters(slice_index):
    engine = Engine(slice_index, cache_mb=0.05)
    unbounded = Engine(slice_index, cache_mb=256)
    caches = engine.caches
    limit = caches.limit_bytes
    start = date(2000, 1, 1)
    for i in range(400):
        params = {"from": (start + timedelta(days=i)).isoformat(),
                  "to": (start + timedelta(days=400 + 3 * i)).isoformat()}
        if i % 3 == 0:
            params["category"] = "Thể thao"
        q = ["", "kinh te", "thanh pho"][i % 3]
        found = result_json(engine, q, params)
        assert caches.bytes <= limit
        assert caches.masks.bytes <= caches.masks.limit and caches.postings.bytes <= caches.postings.limit
        if i % 50 == 0:  # evictions never change a result
            assert found == result_json(unbounded, q, params)
    # the bound holds while the cache is in use, and the flood really exceeded it
    assert 0 < len(caches.masks) < 100
    assert 400 * size_of(np.zeros(engine._state().view.size, dtype=bool)) > 4 * caches.masks.limit


# -- the served process ---------------------------------------------------

def _server_memory(pid: int) -> dict[str, int]:
    """PSS and RSS in kB of the server and its children."""
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = {"Pss": 0, "Rss": 0}
    for one in pids:
        for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in total:
                total[key] += int(value.split()[0])
    return total


def _serve_and_measure(index: Path, threads: int, tmp: Path) -> dict[str, int]:
    env = {**os.environ, "VNSEARCH_WORKERS": "1", "VNSEARCH_THREADS": str(threads), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "webui.cli", "serve", "--index", str(index), "--port", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group()  # type: ignore[union-attr]
        seen: set[str] = set()
        lock = threading.Lock()

        def client(k: int) -> None:
            for i in range(6):
                q = QUERIES[(k + i) % len(QUERIES)]
                url = f"{base}/api/search?" + urllib.parse.urlencode({"q": q, **PARAMS[(k + i) % len(PARAMS)]})
                with urllib.request.urlopen(url, timeout=60) as answer:
                    assert answer.status == 200
                    json.loads(answer.read())
                    with lock:
                        seen.add(threading.current_thread().name)

        clients = [threading.Thread(target=client, args=(k,)) for k in range(2 * threads)]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        assert len(seen) == 2 * threads
        return _server_memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.slow
def test_private_memory_does_not_grow_with_threads_and_serving_leaves_no_temp_files(slice_index, tmp_path):
    index_bytes = sum(p.stat().st_size for p in slice_index.rglob("*") if p.is_file())
    one = _serve_and_measure(slice_index, 1, tmp_path)
    eight = _serve_and_measure(slice_index, 8, tmp_path)
    # Before, every thread's searcher held a private copy of the index: 7
    # more threads added 7 index sizes. Now together they add less than two
    # (a thread costs its stack, its searcher's small tables and its share
    # of the malloc arenas).
    assert eight["Pss"] - one["Pss"] < 2 * index_bytes / 1024, (one, eight, index_bytes)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_unfinished_arrays(tmp_path, monkeypatch):
    from whoosh import writing

    index = tmp_path / "ix"
    assert ingest([DEMO], index, procs=1, show_progress=False).added == 48
    before = sorted(p.name for p in (index / ARRAYS_DIR).iterdir())

    def failing_commit(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writing.SegmentWriter, "commit", failing_commit)
    with pytest.raises(OSError, match="No space left"):
        Engine(index).add([{"id": "x-1", "title": "Một bài mới", "body": "Nội dung bài mới."}])
    monkeypatch.undo()
    assert sorted(p.name for p in (index / ARRAYS_DIR).iterdir()) == before
    assert Engine(index).get("x-1") is None and Engine(index).search(request("")).total == 48


def test_the_spelling_vocabulary_is_built_once_per_generation_off_the_request_path(tmp_path, monkeypatch):
    """Eight threads sending misspelled queries to a fresh engine used to
    build eight vocabularies at once (seconds under the GIL). One is built,
    aside, when a generation opens; after a write, the previous one answers
    until the new one is ready, and the new one knows the new words."""
    import search.generation as generation

    builds = []
    real = generation.Vocabulary

    def counted(frequencies):
        builds.append(len(frequencies))
        return real(frequencies)

    monkeypatch.setattr(generation, "Vocabulary", counted)
    path = tmp_path / "ix"
    ingest([write_jsonl(tmp_path / "a.jsonl", corpus_slice(60))], path, procs=1, show_progress=False)
    engine = Engine(path, refresh_interval=0)
    suggestions = []
    threads = [threading.Thread(target=lambda: suggestions.append(engine.search(request("hoc sinhh")).suggestion))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(set(suggestions)) == 1
    engine.add([{"id": "new-word", "title": "Zyxwvuts", "body": "zyxwvuts zyxwvuts"}])
    engine.search(request("kinh te"))  # opens the new generation, which builds its vocabulary aside
    generation = engine._generation
    assert generation is not None
    generation.build_vocabulary([None] * len(generation.leaves))
    assert len(builds) == 2 and "zyxwvuts" in generation.vocabulary
    assert engine.search(request("zyxwvutx")).suggestion == "zyxwvuts"


@pytest.mark.parametrize("slots", [1, 3])
def test_searches_computing_at_once_are_bounded_by_the_slots(slice_index, monkeypatch, slots):
    """Each search holds arrays the size of the archive: however many server
    threads there are, at most ``slots`` compute at once."""
    engine = Engine(slice_index, search_slots=slots, deadline=0)  # a loaded machine queues them long
    running, peak, lock = [0], [0], threading.Lock()
    search = Engine._search

    def counted(self, request, *deadline):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.05)
            return search(self, request, *deadline)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Engine, "_search", counted)
    threads = [threading.Thread(target=engine.search, args=(request("kinh te"),)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == slots


def test_warming_builds_what_every_search_reads_and_leaves_nothing_running(slice_index):
    engine = Engine(slice_index)
    engine.warm()
    shared = engine._generation
    assert shared is not None
    assert set(shared.norms) == {"content", "title", "lead", "captions"}
    assert {"category", "author", "source", "year", "month"} <= set(shared.codes)
    assert shared.dates is not None and shared.vocabulary is not None
    assert not any(t.name == "vnsearch-vocabulary" for t in threading.enumerate())  # safe to fork now
    assert getattr(engine._local, "state", None) is None  # its searcher closed: workers open their own
    warm = result_json(engine, "kinh te", {})
    assert engine._generation is shared  # the search used what was warmed
    assert warm == result_json(Engine(slice_index), "kinh te", {})


def test_warming_an_engine_without_an_index_does_nothing(tmp_path):
    Engine(tmp_path / "none").warm()


def test_stored_documents_are_read_without_a_copy_per_thread(slice_index):
    """Every segment's stored documents come from one reader per process
    (indexer/stored_column.py), the same as Whoosh's. A thread's own
    searcher never loads Whoosh's stored column, which copied 6 bytes per
    article into every thread (2.5 MB a thread at 400,000 articles)."""
    engine = Engine(slice_index)
    loaded: list[bool] = []

    def search_in_a_thread():
        assert engine.search(request("kinh te")).hits
        readers = [leaf for leaf, _ in engine._state().searcher.reader().leaf_readers()]
        loaded.extend("_stored" in reader._perdoc._readers for reader in readers)

    threads = [threading.Thread(target=search_in_a_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loaded and not any(loaded)
    view = engine._state().view
    assert len(view.leaves) >= 2 and all(leaf.stored is not None for leaf in view.leaves)
    live = np.flatnonzero(view.live).tolist()
    assert [view.stored(d) for d in live] == [view.searcher.stored_fields(d)["doc"] for d in live]


@pytest.mark.parametrize("compound", [True, False])
def test_the_stored_column_reader_reads_what_whoosh_wrote(tmp_path, compound):
    """Past 32,768 documents Whoosh writes the column's offsets too; below,
    they are derived from the lengths. Both layouts, in a compound segment
    file and in separate files, read back as Whoosh reads them, empty
    documents included."""
    from whoosh import fields, index

    from indexer.stored_column import StoredColumn

    ix = index.create_in(tmp_path, fields.Schema(doc=fields.STORED()))
    for count in (5, 33_000):
        writer = ix.writer(compound=compound)
        for i in range(count):
            writer.add_document(**({"doc": {"n": i, "text": "chữ " * (i % 7)}} if i % 5 else {}))
        writer.commit(merge=False)
    with ix.searcher() as searcher:
        readers = [reader for reader, _ in searcher.reader().leaf_readers()]
        assert sorted(r.doc_count_all() for r in readers) == [5, 33_000]
        for reader in readers:
            assert reader.segment().is_compound() == compound
            column = StoredColumn.of(tmp_path, reader.segment())
            assert column is not None
            assert [column.document(d) for d in range(reader.doc_count_all())] == \
                [reader.stored_fields(d) for d in range(reader.doc_count_all())]
