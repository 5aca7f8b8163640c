"""Backups and integrity: `vnsearch snapshot` and `vnsearch check`, a
damaged index refused with a 503 (never a 500, never wrong results), and a
full disk while the API writes (507, the index keeps its last commit).

Damage is made on purpose on copies of the demo index: a segment file
truncated to half, a byte flipped inside one stored document or inside the
compound file's directory, an arrays file cut short, a meta.json that
miscounts the documents."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import DEMO_ARTICLES
from web_helpers import TOKEN, assert_error, auth, check_response, make_app
from whoosh import writing
from whoosh.filedb import structfile

from indexer import integrity, store
from indexer.arrays import ARRAYS_DIR
from indexer.check import check_index
from indexer.ingest import optimize
from indexer.postings import FieldPostings
from indexer.snapshot import SnapshotError, snapshot
from search.engine import Engine
from search.request import SearchRequest
from webui.cli import main


# -- helpers -----------------------------------------------------------------------
def live_ids(index: Path) -> tuple[int, frozenset[str]]:
    """(generation, ids of the live articles) of an index's latest commit."""
    with store.open_index(index).searcher() as searcher:
        return searcher.reader().generation(), frozenset(f["id"] for f in searcher.all_stored_fields())


def segment_file(index: Path) -> Path:
    (found,) = index.glob("*.seg")  # the demo index is one segment
    return found


def new_article(number: int) -> dict:
    return {"id": f"live-{number}", "title": f"Tin mới số {number} về cán bộ trẻ",
            "body": "Cán bộ trẻ ở Đà Nẵng tham gia hội thảo chuyển đổi số.", "published": "2024-05-01"}


def flip(path: Path, offset: int, count: int = 1) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        original = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in original))


def stored_document_bytes(seg: Path, docnum: int) -> tuple[int, int]:
    """(offset, length) of one stored document inside a compound segment file:
    Whoosh's stored column ends with a big-endian table of lengths and its
    type code (offsets are only written past 32,768 documents)."""
    _, entries = integrity.compound_directory(seg)
    start, length = entries[seg.stem + "._stored.col"]
    with open(seg, "rb") as handle:
        handle.seek(start + length - 1)
        code = handle.read(1).decode()
        size = struct.calcsize(code)
        handle.seek(start + length - 1 - size * DEMO_ARTICLES)
        lengths = np.frombuffer(handle.read(size * DEMO_ARTICLES), f">{code}").astype(np.int64)
    return start + int(lengths[:docnum].sum()), int(lengths[docnum])


def first_browsed(index: Path) -> tuple[str, int]:
    """The article the search page shows first (newest), and its document number."""
    first = Engine(index).search(SearchRequest(q="")).hits[0].id
    with store.open_index(index).searcher() as searcher:
        return first, searcher.document_number(id=first)


# -- damage, each reported by check and refused by the server ----------------------
def truncate_segment(index: Path) -> str:
    seg = segment_file(index)
    os.truncate(seg, seg.stat().st_size // 2)
    return seg.name


def flip_stored_document(index: Path) -> str:
    seg = segment_file(index)
    _, docnum = first_browsed(index)
    offset, length = stored_document_bytes(seg, docnum)
    flip(seg, offset + length // 2)  # zlib's checksum refuses the document
    return seg.name


def flip_compound_directory(index: Path) -> str:
    seg = segment_file(index)
    start, _ = integrity.compound_directory(seg)
    flip(seg, start + 3, 8)  # the directory pickle's frame length
    return seg.name


def truncate_arrays_file(index: Path) -> str:
    docs = index / ARRAYS_DIR / segment_file(index).stem / "content.docs.npy"
    os.truncate(docs, docs.stat().st_size - 5)
    return f"{ARRAYS_DIR}/{segment_file(index).stem}/content.docs.npy"


def miscount_meta(index: Path) -> str:
    meta = index / ARRAYS_DIR / segment_file(index).stem / "meta.json"
    data = json.loads(meta.read_text())
    meta.write_text(json.dumps({**data, "docs": data["docs"] + 1}))
    return f"{ARRAYS_DIR}/{segment_file(index).stem}/meta.json"


DAMAGE: dict[str, Callable[[Path], str]] = {
    "truncated segment": truncate_segment,
    "flipped byte in a stored document": flip_stored_document,
    "flipped bytes in the compound directory": flip_compound_directory,
    "truncated arrays file": truncate_arrays_file,
    "meta.json miscounts the documents": miscount_meta,
}


@pytest.fixture
def damaged(request, demo_index, tmp_path) -> tuple[Path, str, str]:
    """(a damaged copy of the demo index, its segment id, the damaged file)."""
    index = tmp_path / "damaged"
    shutil.copytree(demo_index, index)
    segment = segment_file(index).stem
    return index, segment, DAMAGE[request.param](index)


# -- check -----------------------------------------------------------------------------
def test_check_passes_a_fresh_index_with_a_one_line_summary(demo_index, capsys):
    assert main(["check", "--index", str(demo_index)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "no problems found" in out[0] and f"{DEMO_ARTICLES} documents" in out[0]


@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_check_reports_damage_by_segment_and_file(damaged, capsys):
    index, segment, damaged_file = damaged
    assert main(["check", "--index", str(index)]) == 1
    captured = capsys.readouterr()
    problems = captured.out.splitlines()[:-1]
    assert problems, captured.out
    assert any(line.startswith(f"segment {segment}: {damaged_file}: ") for line in problems), problems
    assert "problem(s) in 1 segment(s)" in captured.out.splitlines()[-1]
    assert "Traceback" not in captured.out + captured.err


def test_check_finds_postings_tables_that_disagree(demo_index, tmp_path, capsys):
    index = tmp_path / "ix"
    shutil.copytree(demo_index, index)
    folder = index / ARRAYS_DIR / segment_file(index).stem
    pfirst = np.load(folder / "content.pfirst.npy")
    placed = np.flatnonzero(pfirst >= 0)
    pfirst[placed[len(placed) // 2]] += 1  # a term's positions start one too late
    np.save(folder / "content.pfirst.npy", pfirst)
    hashes = np.load(folder / "title.hash.npy")
    hashes[[0, 1]] = hashes[[1, 0]]  # lookups would miss terms
    np.save(folder / "title.hash.npy", hashes)
    assert main(["check", "--index", str(index)]) == 1
    out = capsys.readouterr().out
    assert "content.pfirst.npy: a term's positions do not start where" in out
    assert "title.hash.npy: the term hashes are not sorted" in out


# -- a damaged index is refused: 503, never a 500 or a wrong answer ----------------------
@pytest.mark.parametrize("damaged", list(DAMAGE), indirect=True)
def test_the_server_refuses_a_damaged_index_with_a_503(damaged):
    index, _, _ = damaged
    client = make_app(index).test_client()
    error = assert_error(client.get("/api/search?q=&size=100"), 503, "index_problem")
    assert "segment" not in error["message"]  # the details go to the log, not to clients
    page = client.get("/")
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    assert "sự cố" in page.get_data(as_text=True)


def test_a_flipped_stored_document_is_a_503_where_it_is_read(demo_index, tmp_path):
    index = tmp_path / "ix"
    shutil.copytree(demo_index, index)
    victim, _ = first_browsed(index)
    other = next(i for i in live_ids(index)[1] if i != victim)
    flip_stored_document(index)
    client = make_app(index).test_client()
    assert_error(client.get(f"/api/articles/{victim}"), 503, "index_problem")
    assert client.get(f"/api/articles/{other}").status_code == 200  # the rest is served


def test_segments_are_checked_once_per_process_not_per_query(demo_index, tmp_path, monkeypatch):
    index = tmp_path / "ix"
    shutil.copytree(demo_index, index)  # a path no test has opened
    calls = []
    checked = integrity.segment_problems
    monkeypatch.setattr(integrity, "segment_problems", lambda *a: calls.append(a) or checked(*a))
    engine = Engine(index, refresh_interval=0.0)
    for query in ("can bo tre", "da nang", "", "bong da") * 5:
        engine.search(SearchRequest(q=query))
    assert len(calls) == 1


# -- snapshot -----------------------------------------------------------------------------
def test_snapshots_taken_while_writing_and_searching_hold_exactly_one_commit(writable_index, tmp_path):
    index = writable_index
    committed = dict([live_ids(index)])  # generation -> the live ids it holds
    stop, failures = threading.Event(), []

    def write() -> None:
        engine = Engine(index, lock_timeout=30)
        number = 0
        try:
            while not stop.is_set():
                engine.add([new_article(number), new_article(number + 1)])
                committed.update([live_ids(index)])
                if number % 6 == 4:  # deletions are part of a commit too
                    engine.delete([f"live-{number}"])
                    committed.update([live_ids(index)])
                number += 2
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    def read() -> None:
        engine = Engine(index, refresh_interval=0.0)  # a new searcher after every commit
        try:
            while not stop.is_set():
                assert engine.search(SearchRequest(q="can bo tre")).total >= 1
        except BaseException as exc:  # noqa: BLE001
            failures.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    snapshots = []
    try:
        for number in range(3):
            deadline, wanted = time.monotonic() + 60, len(committed) + 3  # commits between snapshots
            while len(committed) < wanted and not failures:
                assert time.monotonic() < deadline, "the writer stopped committing"
                time.sleep(0.02)
            snapshots.append(snapshot(index, tmp_path / f"snapshot-{number}", lock_timeout=30))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    optimize(index)  # merges every segment: the source no longer has the snapshots' files
    assert len({s.generation for s in snapshots}) == 3
    for taken in snapshots:
        generation, ids = live_ids(taken.dest)
        assert generation == taken.generation and ids == committed[taken.generation]
        assert taken.articles == len(ids) and taken.linked
        assert not (index / next(taken.dest.glob("*.seg")).name).exists()
        assert check_index(taken.dest).problems == []
        # restoring = serving the snapshot: exactly the articles of that commit
        client = make_app(taken.dest).test_client()
        found = client.get("/api/search?q=&size=100").get_json()
        assert found["total"] == len(ids) and {hit["id"] for hit in found["hits"]} <= ids
        newest = max((i for i in ids if i.startswith("live-")), key=lambda i: int(i[5:]))
        assert client.get(f"/api/articles/{newest}").status_code == 200
        assert_error(client.get(f"/api/articles/live-{int(newest[5:]) + 2}"), 404)  # written after


def test_snapshot_copies_prints_what_it_copied_and_passes_check(demo_index, tmp_path, capsys):
    dest = tmp_path / "backups" / "copy"
    assert main(["snapshot", str(dest), "--copy", "--index", str(demo_index)]) == 0
    out = capsys.readouterr().out
    assert f"{DEMO_ARTICLES} articles" in out and "generation" in out and "MB (copies)" in out
    seg = next(dest.glob("*.seg"))
    assert seg.stat().st_nlink == 1  # copies: nothing shared with the index
    assert not list(demo_index.glob(".snapshot-*")) and not dest.with_name("copy.tmp").exists()
    assert main(["check", "--index", str(dest)]) == 0
    assert live_ids(dest) == live_ids(demo_index)


def test_snapshot_refuses_an_existing_destination_and_waits_for_the_lock(writable_index, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    assert main(["snapshot", str(taken), "--index", str(writable_index)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["snapshot", str(writable_index / "inside"), "--index", str(writable_index)]) == 1
    assert "inside the index" in capsys.readouterr().err
    writer = store.acquire_writer(store.open_index(writable_index), writable_index)
    try:
        with pytest.raises(store.IndexBusy, match="another process is writing"):
            snapshot(writable_index, tmp_path / "busy", lock_timeout=0.3)
    finally:
        writer.cancel()
    assert not (tmp_path / "busy").exists() and not (tmp_path / "busy.tmp").exists()
    assert snapshot(writable_index, tmp_path / "busy", lock_timeout=0.3).articles == DEMO_ARTICLES


def test_snapshot_refuses_to_copy_a_damaged_index(demo_index, tmp_path):
    index = tmp_path / "ix"
    shutil.copytree(demo_index, index)
    truncate_segment(index)
    with pytest.raises(store.IndexDamaged, match="truncated"):
        snapshot(index, tmp_path / "snap")
    assert not (tmp_path / "snap").exists() and not (tmp_path / "snap.tmp").exists()
    assert issubclass(SnapshotError, store.IndexProblem)


# -- a full disk while the API writes ----------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("disk_fills", ["at-the-first-write", "during-commit", "while-writing-arrays"])
def test_a_full_disk_during_an_api_write_is_a_507_and_keeps_the_last_commit(writable_index, monkeypatch,
                                                                           disk_fills):
    client = make_app(writable_index, API_TOKEN=TOKEN).test_client()
    assert client.get("/api/search?q=can+bo").status_code == 200  # a searcher is open, as in a server
    before = live_ids(writable_index)
    if disk_fills == "at-the-first-write":  # the writer cannot even write its file headers
        monkeypatch.setattr(structfile.StructFile, "write", _no_space)
    elif disk_fills == "during-commit":  # the documents were added; the segment is being written
        commit = writing.SegmentWriter.commit

        def commit_on_a_full_disk(self, *args, **kwargs):
            monkeypatch.setattr(structfile.StructFile, "write", _no_space)
            return commit(self, *args, **kwargs)

        monkeypatch.setattr(writing.SegmentWriter, "commit", commit_on_a_full_disk)
    else:  # the text postings' arrays
        monkeypatch.setattr(FieldPostings, "write", _no_space)

    response = client.post("/api/articles", json=new_article(1), headers=auth())
    error = assert_error(response, 507, "insufficient_storage")
    assert "disk is full" in error["message"]
    check_response(client.get("/api/openapi.json").get_json(), "/api/articles", "POST", response)
    monkeypatch.undo()  # space is freed

    assert live_ids(writable_index) == before  # the last commit, nothing of the failed write
    live = {s.segment_id() for s in store.open_index(writable_index)._segments()}
    assert {p.name for p in (writable_index / ARRAYS_DIR).iterdir()} == live  # its arrays went too
    assert_error(client.get("/api/articles/live-1"), 404)
    assert check_index(writable_index).problems == []
    again = client.post("/api/articles", json=new_article(1), headers=auth())
    assert again.status_code == 201 and again.get_json()["added"] == 1
    assert client.get("/api/articles/live-1").status_code == 200
    assert live_ids(writable_index)[1] == before[1] | {"live-1"}
