"""Helpers for the tests that run real searchd processes on loopback
(test_cluster.py, test_backend.py): start a cluster through the CLI, stop
it, crash and restart its nodes, every process by its PID."""

from __future__ import annotations

import contextlib
import io
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from search import cluster_nodes
from search.cluster import Layout
from webui.cli import main


def free_base_port(count: int) -> int:
    """A base port with ``count`` free ports above it (our nodes take them in a row)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        if all(cluster_nodes.port_free("127.0.0.1", port) for port in range(base, base + count)):
            return base
    raise RuntimeError("no free block of loopback ports")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def up(directory: Path, shards: int, mirrors: int) -> Layout:
    code, out, err = cli("cluster", "up", "--dir", str(directory), "--shards", str(shards),
                         "--mirrors", str(mirrors), "--port", str(free_base_port(2 + 2 * shards * mirrors)))
    assert code == 0, err
    layout = Layout.load(directory)
    assert out.strip() == layout.url
    return layout


@contextlib.contextmanager
def indexed(directory: Path, corpus: Path, shards: int, mirrors: int) -> Iterator[tuple[Layout, str]]:
    """A cluster of ``shards`` x ``mirrors`` holding ``corpus`` (indexed by
    `vnsearch index --backend`), and what the indexer printed; stopped after."""
    layout = up(directory, shards, mirrors)
    try:
        code, out, err = cli("index", str(corpus), "--backend", layout.url, "--cluster-dir", str(layout.directory),
                             "--procs", "1", "--quiet")
        assert code == 0, err
        yield layout, out
    finally:
        stop_all(layout)


def stop_all(layout: Layout) -> None:
    """Stop every node by PID, whatever the test left running."""
    cluster_nodes.down(layout)
    for node in layout.nodes:
        assert cluster_nodes.running_pid(layout, node) is None


def kill(layout: Layout, name: str) -> None:
    """SIGKILL a node by its PID: a crash, not a shutdown."""
    node = layout.node(name)
    pid = cluster_nodes.running_pid(layout, node)
    assert pid is not None, f"{name} is not running"
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while cluster_nodes.running_pid(layout, node) is not None:
        assert time.monotonic() < deadline, f"{name} survived SIGKILL"
        time.sleep(0.02)


def restart(layout: Layout, *names: str) -> None:
    for name in names:
        cluster_nodes.start_node(layout, layout.node(name))
