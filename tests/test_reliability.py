"""Crash safety, write locks, concurrent writers and disk faults.

An indexing run may be killed at any moment (SIGKILL, at every stage of a
commit), meet another writer, a full disk or a read-only directory. Every
scenario ends the same way: the index opens, answers searches with its last
committed content, and a rerun converges to the exact document count with no
duplicate ids. The runs index slices of the shared corpus (see helpers.py)."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import ROOT, corpus_slice, write_jsonl
from whoosh import index, writing
from whoosh.filedb import structfile

from indexer import store
from indexer.ingest import delete, ingest
from search.engine import Engine
from search.request import SearchRequest
from webui.cli import main

pytestmark = pytest.mark.slow

BASE_DOCS = 10


def base_article(i):
    return {"id": f"base-{i}", "title": f"Bài gốc {i}", "body": "Cán bộ trẻ ở Đà Nẵng.",
            "published": "2022-01-18"}


def cli(*args):
    return [sys.executable, "-m", "webui.cli", *map(str, args)]


def check_index(index_dir: Path) -> tuple[int, int]:
    """(documents, distinct ids), after proving the index opens and answers."""
    info = store.stats(index_dir)
    engine = Engine(index_dir)
    assert engine.search(SearchRequest(q="can bo tre")).total >= BASE_DOCS
    with index.open_dir(str(index_dir)).searcher() as searcher:
        ids = [fields["id"] for fields in searcher.all_stored_fields()]
    return info["documents"], len(set(ids))


@pytest.fixture
def crash_setup(tmp_path):
    write_jsonl(tmp_path / "base.jsonl", [base_article(i) for i in range(BASE_DOCS)])
    index_dir = tmp_path / "ix"
    ingest([tmp_path / "base.jsonl"], index_dir, procs=1, show_progress=False)
    records = corpus_slice(400, start=3000)
    source = write_jsonl(tmp_path / "more.jsonl", records)
    expected = BASE_DOCS + len({r["id"] for r in records})
    return index_dir, source, expected


def reset_to_base(index_dir, source):
    delete([json.loads(line)["id"] for line in source.read_text().splitlines()], index_dir)
    assert check_index(index_dir) == (BASE_DOCS, BASE_DOCS)


def test_sigkill_at_random_moments_never_corrupts_and_a_rerun_converges(crash_setup):
    index_dir, source, expected = crash_setup
    started = time.monotonic()
    subprocess.run(cli("index", source, "--index", index_dir, "--quiet"), cwd=ROOT, check=True)
    full_run = time.monotonic() - started
    reset_to_base(index_dir, source)
    outcomes = []
    for fraction in (0.05, 0.2, 0.4, 0.6, 0.75, 0.85, 0.92, 0.97):
        proc = subprocess.Popen(cli("index", source, "--index", index_dir, "--quiet"),
                                cwd=ROOT, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full_run * fraction)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        documents, distinct = check_index(index_dir)
        assert documents == distinct and documents in (BASE_DOCS, expected)  # all or nothing
        outcomes.append(documents)
        if documents == expected:  # that run got to commit: start again from the base
            reset_to_base(index_dir, source)
    assert BASE_DOCS in outcomes, outcomes
    subprocess.run(cli("index", source, "--index", index_dir, "--quiet"), cwd=ROOT, check=True)
    assert check_index(index_dir) == (expected, expected)


KILL_INSIDE = textwrap.dedent("""
    import os, signal, sys
    from whoosh.filedb.filestore import FileStorage
    from whoosh import writing
    import indexer.ingest as ingest
    point = sys.argv[1]

    def die(*args, **kwargs):
        os.killpg(0, signal.SIGKILL)  # the whole run: parent and workers

    if point.startswith("doc-"):     # after N articles went to the writer
        limit, seen, original = int(point[4:]), [0], ingest.document_fields
        def counted(article):
            seen[0] += 1
            if seen[0] > limit:
                die()
            return original(article)
        ingest.document_fields = counted
    elif point == "segment":         # a worker finishing its segment files
        writing.SegmentWriter._finalize_segment = die
    elif point == "before-toc":      # segments written, new TOC not yet in place
        FileStorage.rename_file = die
    elif point == "after-toc":       # TOC renamed in, lock not yet released
        writing.SegmentWriter._finish = die
    from webui.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("point, committed", [
    ("doc-1", False), ("doc-200", False), ("doc-399", False), ("segment", False),
    ("before-toc", False), ("after-toc", True),
])
def test_sigkill_at_each_stage_of_a_run(crash_setup, point, committed):
    index_dir, source, expected = crash_setup
    proc = subprocess.run([sys.executable, "-c", KILL_INSIDE, point, "index", str(source),
                           "--index", str(index_dir), "--quiet"],
                          cwd=ROOT, capture_output=True, start_new_session=True, check=False)
    assert proc.returncode == -signal.SIGKILL
    documents, distinct = check_index(index_dir)
    assert documents == distinct == (expected if committed else BASE_DOCS)
    # the killed writer's lock died with it: the rerun does not wait
    started = time.monotonic()
    subprocess.run(cli("index", source, "--index", index_dir, "--quiet"), cwd=ROOT, check=True)
    assert time.monotonic() - started < 60
    assert check_index(index_dir) == (expected, expected)


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from whoosh import index
    writer = index.open_dir(sys.argv[1]).writer()
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    writer.cancel()
""")


def test_a_held_lock_makes_a_second_writer_wait_then_fail_clearly(crash_setup):
    index_dir, source, expected = crash_setup
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_dir), "30"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    try:
        with pytest.raises(store.IndexBusy, match="another process is writing"):
            ingest([source], index_dir, procs=1, show_progress=False, lock_timeout=1.0)
        result = subprocess.run(cli("delete", "base-1", "--index", index_dir),
                                cwd=ROOT, capture_output=True, text=True, check=False,
                                env={**os.environ, "VNSEARCH_LOCK_TIMEOUT": "1"})
        assert result.returncode == 1 and "another process is writing" in result.stderr
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # killed holder: the kernel released its lock, nothing stale is left
    assert ingest([source], index_dir, procs=1, show_progress=False, lock_timeout=5.0).added == expected - BASE_DOCS


def test_two_writers_at_once_take_turns(tmp_path):
    records = corpus_slice(300, start=6000)
    a = write_jsonl(tmp_path / "a.jsonl", records[:150])
    b = write_jsonl(tmp_path / "b.jsonl", records[150:])
    index_dir = tmp_path / "ix"
    write_jsonl(tmp_path / "base.jsonl", [base_article(i) for i in range(BASE_DOCS)])
    ingest([tmp_path / "base.jsonl"], index_dir, procs=1, show_progress=False)
    runs = [subprocess.Popen(cli("index", path, "--index", index_dir, "--quiet"), cwd=ROOT)
            for path in (a, b)]
    assert [run.wait() for run in runs] == [0, 0]
    expected = BASE_DOCS + len({r["id"] for r in records})
    assert check_index(index_dir) == (expected, expected)


@pytest.mark.parametrize("disk_fills", ["at-the-first-write", "during-commit"])
def test_a_full_disk_reports_and_keeps_the_index(crash_setup, monkeypatch, capsys, disk_fills):
    # Python's warnings are errors in this suite, so a file or lock left open
    # by the failed run (a ResourceWarning when it is collected) fails it too.
    index_dir, source, _ = crash_setup

    def failing_write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    if disk_fills == "at-the-first-write":  # the writer cannot even write its headers
        monkeypatch.setattr(structfile.StructFile, "write", failing_write)
    else:  # every document was added; the disk fills while the segment is written out
        commit = writing.SegmentWriter.commit

        def commit_on_a_full_disk(self, *args, **kwargs):
            monkeypatch.setattr(structfile.StructFile, "write", failing_write)
            return commit(self, *args, **kwargs)

        monkeypatch.setattr(writing.SegmentWriter, "commit", commit_on_a_full_disk)

    assert main(["index", str(source), "--index", str(index_dir), "--quiet", "--procs", "1"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    assert check_index(index_dir) == (BASE_DOCS, BASE_DOCS)


def test_a_read_only_index_directory_is_refused_with_a_clear_message(crash_setup, monkeypatch, capsys):
    index_dir, source, _ = crash_setup
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == index_dir else real_access(p, mode))
    assert main(["index", str(source), "--index", str(index_dir), "--quiet"]) == 1
    assert "is not writable" in capsys.readouterr().err
    monkeypatch.undo()
    assert check_index(index_dir) == (BASE_DOCS, BASE_DOCS)
