"""Ingestion: formats, bad input reported by file and line, re-ingest, delete, CLI."""

import codecs
import errno
import gc
import gzip
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import unicodedata
import warnings
from pathlib import Path

import pytest
from whoosh import writing

from indexer import store
from indexer.ingest import PARALLEL_MIN_DOCS, Summary, delete, ingest, write_articles
from indexer.records import article_from_dict
from search.engine import Engine
from search.request import SearchRequest
from tests.conftest import DEMO, ROOT, SHARED, corpus_slice, write_jsonl
from webui.cli import main


def article(i, **extra):
    record = {"id": f"t-{i}", "title": f"Bài thử số {i} về cán bộ trẻ",
              "body": f"Nội dung bài {i} ở Đà Nẵng.", "author": "Tú Viên",
              "category": "Thời sự", "published": "2022-01-18T22:55:00"}
    record.update(extra)
    return record


def cp1258(text):
    """Windows-1258 bytes: precomposed base letters plus combining tone marks."""
    out = b""
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            base, *marks = unicodedata.normalize("NFD", ch)
            if marks and unicodedata.normalize("NFC", base + marks[0]).encode("cp1258", "ignore"):
                base, marks = unicodedata.normalize("NFC", base + marks[0]), marks[1:]
            out += (base + "".join(marks)).encode("cp1258")
    return out


def count(index):
    return store.stats(Path(index))["documents"]


def problems_of(summary):
    return "\n".join(summary.problems)


def test_jsonl_records_are_indexed_with_vietnam_time(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [article(1)])
    summary = ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    assert (summary.added, summary.rejected) == (1, 0)
    doc = Engine(tmp_path / "ix").get("t-1")
    assert doc["published"] == "2022-01-18T22:55:00+07:00"


def test_bad_records_are_reported_with_file_and_line_and_the_rest_indexed(tmp_path):
    lines = [
        json.dumps(article(1), ensure_ascii=False),
        "{not json",
        json.dumps(article(2, title=["a list"]), ensure_ascii=False),
        json.dumps(article(3, published="32/13/2022"), ensure_ascii=False),
        json.dumps(article(4, id=17), ensure_ascii=False),
        json.dumps([1, 2]),
        json.dumps({"id": "empty"}),
        json.dumps(article(5), ensure_ascii=False),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe broken utf8\n")
    summary = ingest([path], tmp_path / "ix", procs=1, show_progress=False)
    report = problems_of(summary)
    assert (summary.added, summary.rejected) == (2, 7)
    for line, words in [(2, "invalid JSON"), (3, "'title' must be a string"),
                        (4, "not an ISO 8601 date"), (5, "'id' must be a string"),
                        (6, "must be a JSON object"), (7, "no title"), (9, "not valid UTF-8")]:
        assert f"{path}:{line}: " in report and words in report, (line, words)
    assert count(tmp_path / "ix") == 2


def test_utf16_with_bom_and_utf8_bom_files_are_read(tmp_path):
    text = json.dumps(article(1), ensure_ascii=False) + "\n"
    (tmp_path / "u16.jsonl").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    (tmp_path / "u8.jsonl").write_bytes(codecs.BOM_UTF8 + json.dumps(article(2)).encode())
    (tmp_path / "plain16.txt").write_bytes(codecs.BOM_UTF16_LE + "Tiêu đề UTF-16\nThân bài có dấu.".encode("utf-16-le"))
    summary = ingest([tmp_path], tmp_path / "ix", procs=1, show_progress=False)
    assert (summary.added, summary.rejected) == (3, 0), problems_of(summary)
    engine = Engine(tmp_path / "ix")
    assert engine.get("t-1")["title"] == article(1)["title"]
    result = engine.search(SearchRequest(q="tieu de"))
    assert [h.title for h in result.hits] == ["Tiêu đề UTF-16"]


def test_binary_and_truncated_gzip_files_are_reported(tmp_path):
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\x00\x00\x01binary")
    good = "".join(json.dumps(article(i, body=f"bài {i} " * i)) + "\n" for i in range(300))
    data = gzip.compress(good.encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    summary = ingest([tmp_path], tmp_path / "ix", procs=1, show_progress=False)
    report = problems_of(summary)
    assert "image.txt: binary file" in report
    assert "cut.jsonl.gz" in report and "truncated or corrupt gzip" in report
    assert 0 < summary.added < 300 and summary.rejected == 2  # lines before the cut kept


def test_windows_1258_text_file_is_decoded_and_noted(tmp_path):
    (tmp_path / "old.txt").write_bytes(cp1258("Tin cũ\nThân bài về Đà Nẵng"))
    summary = ingest([tmp_path / "old.txt"], tmp_path / "ix", procs=1, show_progress=False)
    assert summary.added == 1 and "Windows-1258" in problems_of(summary)
    assert (summary.rejected, summary.skipped) == (0, 0)  # a notice, nothing lost
    result = Engine(tmp_path / "ix").search(SearchRequest(q="tin cu"))
    assert result.hits and result.hits[0].title == "Tin cũ"


def test_oversized_record_is_refused_and_the_rest_kept(tmp_path):
    big = article(2, body="chữ " * 10_000_000)  # a 50 MB line
    write_jsonl(tmp_path / "big.jsonl", [article(1), big, article(3)])
    summary = ingest([tmp_path / "big.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    assert (summary.added, summary.rejected) == (2, 1)
    assert "big.jsonl:2: record of" in problems_of(summary)


def test_missing_id_gets_a_stable_id_and_missing_title_a_display_title(tmp_path):
    record = {"body": "Câu đầu tiên của bài. Câu thứ hai.", "url": "https://x.vn/a"}
    write_jsonl(tmp_path / "a.jsonl", [record])
    for _ in range(2):
        ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    assert count(tmp_path / "ix") == 1
    hit = Engine(tmp_path / "ix").search(SearchRequest(q="cau dau tien")).hits[0]
    assert hit.id.startswith("url-") and hit.title == "Câu đầu tiên của bài."


def test_reingest_replaces_and_duplicates_in_one_file_keep_the_last(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [article(1), article(2), article(1, title="Phiên bản mới")])
    first = ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    assert (first.added, first.repeated_in_input) == (2, 1)
    second = ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    assert (second.added, second.replaced) == (0, 2)
    engine = Engine(tmp_path / "ix")
    assert count(tmp_path / "ix") == 2
    assert engine.get("t-1")["title"] == "Phiên bản mới"
    assert engine.search(SearchRequest(q="phien ban moi")).total == 1


def test_delete_removes_articles(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [article(1), article(2)])
    ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    deleted, unknown = delete(["t-1", "nope"], tmp_path / "ix")
    assert (deleted, unknown) == (["t-1"], ["nope"])
    engine = Engine(tmp_path / "ix")
    assert engine.get("t-1") is None and engine.get("t-2") is not None
    assert count(tmp_path / "ix") == 1


def test_raw_article_file_is_parsed_and_indexed(tmp_path):
    sample = SHARED / "samples" / "raw-article-000.txt"
    if not sample.exists():
        pytest.skip("shared sample missing")
    summary = ingest([sample], tmp_path / "ix", procs=1, show_progress=False)
    assert summary.added == 1, problems_of(summary)
    engine = Engine(tmp_path / "ix")
    hit = engine.search(SearchRequest(q="bo tri can bo tre")).hits[0]
    doc = engine.get(hit.id)
    assert doc["author"] == "Tú Viên" and doc["published"] == "2022-01-18T22:55:00+07:00"
    assert doc["captions"] and "Bình luận" not in doc["body"]
    assert engine.search(SearchRequest(q="Viet Dung")).total == 1  # captions are searchable


def test_parallel_ingest_of_a_corpus_slice_matches_serial(tmp_path):
    records = corpus_slice(120)
    write_jsonl(tmp_path / "slice.jsonl", records)
    serial = ingest([tmp_path / "slice.jsonl"], tmp_path / "a", procs=1, show_progress=False)
    parallel = ingest([tmp_path / "slice.jsonl"], tmp_path / "b", procs=2, show_progress=False)
    assert serial.added == parallel.added == len({r["id"] for r in records})
    for q in ("ha noi", "cán bộ", '"phòng chống"'):
        a = Engine(tmp_path / "a").search(SearchRequest(q=q, size=20))
        b = Engine(tmp_path / "b").search(SearchRequest(q=q, size=20))
        assert a.hits, q  # two empty lists would prove nothing
        assert [h.id for h in a.hits] == [h.id for h in b.hits]


def test_cli_index_search_stats_delete_and_exit_codes(tmp_path, capsys):
    ix = str(tmp_path / "ix")
    assert main(["index", str(DEMO), "--index", ix, "--quiet"]) == 0
    assert "added 48" in capsys.readouterr().out
    assert main(["search", "can bo tre", "--index", ix]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "Có phải bạn muốn tìm: cán bộ trẻ"
    assert out[2].endswith("1. Bí thư Thành ủy TP.HCM: Bố trí cán bộ trẻ về cơ sở")
    assert main(["search", "can bo tre", "--json", "--index", ix]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hits"][0]["id"] == "demo-0001" and set(data) >= {"total", "facets", "filters"}
    assert main(["stats", "--json", "--index", ix]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 48
    assert main(["delete", "demo-0001", "--index", ix]) == 0
    assert main(["delete", "demo-0001", "--index", ix]) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert main(["index", str(bad), "--index", ix, "--quiet"]) == 1
    assert main(["search", "x", "--from", "not-a-date", "--index", ix]) == 2
    assert main(["stats", "--index", str(tmp_path / "none")]) == 1


def test_index_location_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VNSEARCH_INDEX", str(tmp_path / "env-ix"))
    write_jsonl(tmp_path / "a.jsonl", [article(1)])
    ingest([tmp_path / "a.jsonl"], procs=1, show_progress=False)
    assert count(tmp_path / "env-ix") == 1


def test_read_only_index_directory_gives_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    write_jsonl(tmp_path / "a.jsonl", [article(1)])
    ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    os.chmod(tmp_path / "ix", 0o555)
    try:
        with pytest.raises(store.IndexProblem, match="not writable"):
            ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    finally:
        os.chmod(tmp_path / "ix", 0o755)


@pytest.mark.slow
def test_killed_run_leaves_the_previous_index_and_a_rerun_converges(tmp_path):
    write_jsonl(tmp_path / "first.jsonl", [article(i) for i in range(10)])
    ingest([tmp_path / "first.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    records = corpus_slice(1500)  # several seconds of work: the kill lands mid-run
    write_jsonl(tmp_path / "more.jsonl", records)
    cmd = [sys.executable, "-m", "webui.cli", "index", str(tmp_path / "more.jsonl"),
           "--index", str(tmp_path / "ix"), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    time.sleep(3.0)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert count(tmp_path / "ix") == 10  # nothing half-written is visible
    assert Engine(tmp_path / "ix").search(SearchRequest(q="can bo tre")).total == 10
    subprocess.run(cmd, cwd=ROOT, check=True)
    assert count(tmp_path / "ix") == 10 + len({r["id"] for r in records})


# -- nothing left behind -------------------------------------------------

WORDS = ("cán bộ trẻ Thành ủy TP.HCM Hà Nội Đà Nẵng kinh tế giáo dục công nghệ thông tin "
         "phát triển bền vững nông nghiệp y tế hòa bình khỏe mạnh ngày 18/1/2022").split()


def varied_articles(count, words_each=40):
    """Small articles of mixed Vietnamese words, different from one another."""
    return [article(i, title=f"Bài {i}: {WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]}",
                    body=" ".join(WORDS[(i * 13 + k * k) % len(WORDS)] for k in range(words_each)))
            for i in range(count)]


def cli_env(tmpdir):
    return {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}


def test_a_parallel_cli_run_leaves_nothing_in_the_temp_folder(tmp_path):
    records = write_jsonl(tmp_path / "a.jsonl", varied_articles(PARALLEL_MIN_DOCS + 50))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    vnsearch = Path(sys.executable).with_name("vnsearch")
    cmd = [str(vnsearch), "index", str(records), "--index", str(tmp_path / "ix"), "--procs", "2", "--quiet"]
    out = subprocess.run(cmd, cwd=ROOT, env=cli_env(tmpdir), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"added {PARALLEL_MIN_DOCS + 50}" in out.stdout
    assert sorted(p.name for p in tmpdir.iterdir()) == []


def _processes_with_pyvi_loaded(group: int) -> int:
    """Processes of the group that have loaded pycrfsuite (pyvi's CRF model)."""
    loaded = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and "_pycrfsuite" in (stat.parent / "maps").read_text():
                loaded += 1
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return loaded


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_a_killed_parallel_run_leaves_no_model_file_in_the_temp_folder(tmp_path):
    records = write_jsonl(tmp_path / "a.jsonl", varied_articles(20000, words_each=80))
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    cmd = [sys.executable, "-m", "webui.cli", "index", str(records), "--index", str(tmp_path / "ix"),
           "--procs", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=cli_env(tmpdir), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _processes_with_pyvi_loaded(proc.pid) < 2:  # both workers are loading pyvi
            assert proc.poll() is None, "the run ended before both workers loaded pyvi"
            assert time.monotonic() < deadline, "the workers never loaded pyvi"
            time.sleep(0.05)
        time.sleep(2.5)  # loading the model takes about a second; then they segment (~12 s in all)
        assert proc.poll() is None, "the run finished before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert sorted(p.name for p in tmpdir.iterdir()) == []


# -- failed writes -------------------------------------------------------


def _failing(records, at):
    """The validated articles of ``records``, raising before the one at ``at``."""
    for i, record in enumerate(records):
        if i == at:
            raise RuntimeError("the input stream broke")
        yield article_from_dict(record)


def _commit_fails(monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writing.SegmentWriter, "_commit_toc", full_disk)


@pytest.mark.parametrize("how", ["stream", "stream-parallel", "commit", "commit-parallel", "delete"])
def test_a_failed_write_closes_everything_and_changes_nothing(tmp_path, monkeypatch, how):
    index_dir = tmp_path / "ix"
    write_jsonl(tmp_path / "base.jsonl", [article(i) for i in range(5)])
    ingest([tmp_path / "base.jsonl"], index_dir, procs=1, show_progress=False)
    records = varied_articles(PARALLEL_MIN_DOCS + 50)
    procs = 2 if how.endswith("parallel") else 1
    # Unclosed files warn from finalizers, where an "error" filter cannot raise
    # (the exception would be unraisable): record the warnings and look at them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        ix = store.open_index(index_dir)
        if how.startswith("commit") or how == "delete":
            _commit_fails(monkeypatch)
        with pytest.raises((RuntimeError, OSError)):
            if how == "delete":
                delete(["t-1"], index_dir)
            else:
                stream = _failing(records, at=PARALLEL_MIN_DOCS) if how.startswith("stream") else \
                    map(article_from_dict, records)
                write_articles(ix, index_dir, stream, len(records), Summary(), procs=procs)
        del ix
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert multiprocessing.active_children() == []  # no indexing worker left waiting
    monkeypatch.undo()
    assert count(index_dir) == 5  # nothing of the failed write is visible
    deleted, _ = delete(["t-1"], index_dir, lock_timeout=0)  # and the lock is free
    assert deleted == ["t-1"]


# -- lock timeout --------------------------------------------------------


def test_lock_timeout_setting_is_read_when_writing(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", [article(1)])
    ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
    monkeypatch.setenv("VNSEARCH_LOCK_TIMEOUT", "1")  # after indexer.store was imported
    holder = store.acquire_writer(store.open_index(tmp_path / "ix"), tmp_path / "ix")
    try:
        started = time.monotonic()
        with pytest.raises(store.IndexBusy, match=r"waited 1 s"):
            ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
        assert time.monotonic() - started < 10  # not the 60 s default
        with pytest.raises(store.IndexBusy, match=r"waited 1 s"):
            delete(["t-1"], tmp_path / "ix")
    finally:
        holder.cancel()
    assert delete(["t-1"], tmp_path / "ix") == (["t-1"], [])


@pytest.mark.parametrize("value, expected", [(None, 60.0), ("", 60.0), ("2.5", 2.5), ("0", 0.0)])
def test_lock_timeout_comes_from_the_setting_or_defaults_to_60(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("VNSEARCH_LOCK_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("VNSEARCH_LOCK_TIMEOUT", value)
    assert store.resolve_lock_timeout() == expected
    assert store.resolve_lock_timeout(7.0) == 7.0  # an explicit argument wins


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_an_invalid_lock_timeout_setting_is_a_clear_error(tmp_path, monkeypatch, value):
    monkeypatch.setenv("VNSEARCH_LOCK_TIMEOUT", value)
    write_jsonl(tmp_path / "a.jsonl", [article(1)])
    with pytest.raises(store.IndexProblem, match=r"VNSEARCH_LOCK_TIMEOUT must be a number of seconds"):
        ingest([tmp_path / "a.jsonl"], tmp_path / "ix", procs=1, show_progress=False)
