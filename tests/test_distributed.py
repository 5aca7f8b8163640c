"""Indexing on a real Dask cluster on loopback: a `dask scheduler` and two
`dask worker` processes, each started here and stopped by its PID.

The cluster's index equals the local one; a worker killed mid-run loses and
doubles nothing; a driver killed before its commit leaves the old index as
it was (and its leftovers go at the next write); a scheduler that cannot be
reached is a clear error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from indexer import store
from indexer.arrays import ARRAYS_DIR
from indexer.distributed import ingest_on_dask
from indexer.ingest import ingest
from search.engine import Engine
from search.request import SearchRequest
from tests.helpers import DEMO, DEMO_ARTICLES, ROOT, corpus_slice, write_jsonl

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
VNSEARCH = Path(sys.executable).with_name("vnsearch")
QUERIES = ["can bo tre", "da nang", '"thị trường chứng khoán"', "bóng đá", "chinh phu", "TP.HCM",
           "hoc sinh gioi thanh pho ho chi minh", "kinh te -chung", "(giao duc OR y te) AND thanh pho",
           "title:(viet nam)", ""]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and ``workers`` single-threaded workers on loopback."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.scheduler = self._start([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--no-dashboard"], "scheduler", env)
        self.workers = [self._start([str(DASK), "worker", self.address, "--nworkers", "1", "--nthreads", "1",
                                     "--no-dashboard", "--local-directory", str(folder / f"w{i}")],
                                    f"worker{i}", env) for i in range(workers)]
        self._wait_for(workers)

    def _start(self, cmd: list[str], name: str, env: dict) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        return proc

    def _wait_for(self, workers: int) -> None:
        from distributed import Client
        deadline = time.monotonic() + 60
        with Client(self.address, timeout=30, set_as_default=False) as client:
            while len(client.scheduler_info()["workers"]) < workers:
                assert time.monotonic() < deadline, (self.folder / "scheduler.log").read_text()[-2000:]
                time.sleep(0.2)

    def kill_worker(self, i: int) -> None:
        os.killpg(self.workers[i].pid, signal.SIGKILL)
        self.workers[i].wait()

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    running = Cluster(tmp_path_factory.mktemp("dask"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("dask-input") / "slice.jsonl",
                       corpus_slice(300) + corpus_slice(300, start=12000))


def matches(path: Path) -> dict:
    """Per query: total, facet counts, every matching id when they fit on a page, and the top scores."""
    engine = Engine(path)
    out = {}
    for q in QUERIES:
        found = engine.search(SearchRequest(q=q, size=100))
        out[q] = (found.total, found.facets, sorted(h.id for h in found.hits) if found.total <= 100 else None,
                  sorted(h.score or 0.0 for h in found.hits))
    return out


def test_a_cluster_build_equals_the_local_one(cluster, records, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert ingest([records, DEMO], local, show_progress=False).added == 600 + DEMO_ARTICLES
    summary = ingest_on_dask([records, DEMO], cluster.address, remote, batch_size=150, show_progress=False)
    assert (summary.added, summary.rejected, summary.workers) == (600 + DEMO_ARTICLES, 0, 2)
    assert len(store.open_index(remote)._segments()) >= 4  # one per batch, not re-merged by the driver
    assert store.stats(remote)["documents"] == store.stats(local)["documents"]
    for record in corpus_slice(5, start=12000):
        assert Engine(remote).get(record["id"]) == Engine(local).get(record["id"])
    expected = matches(local)
    assert matches(remote) == expected
    # one segment per batch; `vnsearch optimize` merges them (copying their arrays whole)
    out = subprocess.run([str(VNSEARCH), "optimize", "--index", str(remote)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and " into 1," in out.stdout, out.stderr
    assert len(store.open_index(remote)._segments()) == 1 and matches(remote) == expected
    # re-indexing the same ids replaces them
    again = ingest_on_dask([DEMO], cluster.address, remote, show_progress=False)
    assert (again.added, again.replaced) == (0, DEMO_ARTICLES)
    assert store.stats(remote)["documents"] == 600 + DEMO_ARTICLES


def _index_command(records: Path, index: Path, address: str, batch: int) -> list[str]:
    return [str(VNSEARCH), "index", str(records), "--index", str(index), "--dask", address,
            "--batch", str(batch), "--quiet"]


def _shipped(index: Path) -> set[str]:
    """Segments whose files a run has stored in the index folder but not committed."""
    live = {s.segment_id() for s in store.open_index(index)._segments()} if store.index_exists(index) else set()
    folder = index / ARRAYS_DIR
    found = {p.name for p in folder.iterdir() if not p.name.endswith(".tmp")} if folder.is_dir() else set()
    return {name for name in found - live if any(index.glob(f"{name}.*"))}


def _wait_for_segments_shipped(index: Path, proc: subprocess.Popen, at_least: int) -> None:
    deadline = time.monotonic() + 120
    while len(_shipped(index)) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no batch came back"
        time.sleep(0.1)


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(tmp_path, records):
    own = Cluster(tmp_path, workers=2)
    try:
        index = tmp_path / "ix"
        proc = subprocess.Popen(_index_command(records, index, own.address, 40), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        _wait_for_segments_shipped(index, proc, 1)
        own.kill_worker(0)  # its batch in progress is redone on the other worker
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "added 600" in out
    finally:
        own.stop()
    engine = Engine(index)
    assert store.stats(index)["documents"] == 600
    every = [hit.id for page in (1, 2, 3, 4, 5, 6) for hit in
             engine.search(SearchRequest(q="", size=100, page=page)).hits]
    assert len(every) == len(set(every)) == 600


def test_a_driver_killed_before_its_commit_leaves_the_old_index(cluster, records, tmp_path):
    index = tmp_path / "ix"
    assert ingest([DEMO], index, show_progress=False).added == DEMO_ARTICLES
    before = matches(index)
    proc = subprocess.Popen(_index_command(records, index, cluster.address, 40), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        _wait_for_segments_shipped(index, proc, 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert store.stats(index)["documents"] == DEMO_ARTICLES
    assert matches(index) == before
    shipped = _shipped(index)
    assert len(shipped) >= 2
    # the next write removes what the killed run had shipped
    Engine(index).add([{"id": "after-1", "title": "Tin sau", "body": "Nội dung mới."}])
    left = {p.name for p in (index / ARRAYS_DIR).iterdir()} | {p.stem for p in index.glob("*.seg")}
    assert not left & shipped


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    index = tmp_path / "ix"
    assert ingest([DEMO], index, show_progress=False).added == DEMO_ARTICLES
    address = f"tcp://127.0.0.1:{_free_port()}"
    out = subprocess.run([str(VNSEARCH), "index", str(DEMO), "--index", str(index), "--dask", address, "--quiet"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert out.returncode == 1
    assert f"cannot reach the Dask scheduler at {address}" in out.stderr
    assert "Traceback" not in out.stderr
    assert store.stats(index)["documents"] == DEMO_ARTICLES
