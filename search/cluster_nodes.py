"""Starting, stopping and watching the searchd processes of a layout.

searchd runs as a daemon (it forks and writes ``DIR/<name>.pid`` itself),
so ``vnsearch cluster up`` returns while the cluster keeps running and any
later command finds each process by that file. A PID is only trusted when
/proc says it is a live searchd started with that node's config: a stale
file whose PID was reused by another program is never signalled.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from search.cluster import ClusterError, Layout, Node, write_configs
from search.sphinxql import Connection, SphinxError

START_TIMEOUT = 30.0  # seconds for a searchd to answer after it was started
STOP_TIMEOUT = 30.0  # seconds after SIGTERM before SIGKILL (a large RAM chunk is saved first)
POLL = 0.05
STATUS_TIMEOUT = 1.0


class SearchdMissing(ClusterError):
    """No ``searchd`` on PATH."""


class PortInUse(ClusterError):
    """A port of the layout is taken by another program."""


class NodeFailed(ClusterError):
    """A searchd did not start or did not answer."""


@dataclass
class NodeStatus:
    node: Node
    pid: int | None  # the live searchd's PID, None when it is not running
    up: bool  # it answers SphinxQL
    documents: int | None = None  # articles in its index (mirrors; the whole cluster for the aggregator)
    error: str | None = None


def searchd_binary() -> str:
    path = shutil.which("searchd")
    if path is None:
        raise SearchdMissing("searchd is not installed: run `make sphinx` "
                             "(or `apt-get install sphinxsearch`)")
    return path


def port_free(host: str, port: int) -> bool:
    """Whether searchd could bind ``host:port`` (it sets SO_REUSEADDR, so do we)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(node: Node) -> None:
    for port in (node.api_port, node.sql_port):
        if not port_free(node.host, port):
            raise PortInUse(f"port {node.host}:{port} for {node.name} is taken by another program: "
                            "choose another --port")


def running_pid(layout: Layout, node: Node) -> int | None:
    """The PID in ``DIR/<name>.pid`` if it is this node's live searchd."""
    try:
        pid = int(layout.path(node, ".pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _is_our_searchd(pid, layout.path(node, ".conf")) else None


def _is_our_searchd(pid: int, config: Path) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):  # exited, not yet reaped
        return False
    return any(os.path.basename(a) == b"searchd" for a in argv) and str(config).encode() in argv


def start_node(layout: Layout, node: Node, timeout: float = START_TIMEOUT) -> int:
    """Start one searchd unless it runs already; its PID once it answers."""
    pid = running_pid(layout, node)
    if pid is not None:
        return pid
    binary = searchd_binary()
    check_ports(node)
    layout.path(node, ".pid").unlink(missing_ok=True)
    config = layout.path(node, ".conf")
    started = subprocess.run([binary, "--config", str(config)], capture_output=True, text=True,
                             timeout=timeout, cwd=layout.directory, check=False)
    if started.returncode != 0:
        raise NodeFailed(f"searchd for {node.name} did not start: {_last_lines(started.stdout + started.stderr)}")
    deadline = time.monotonic() + timeout
    while True:
        pid = running_pid(layout, node)
        problem = _serving_problem(node) if pid is not None else "no process"
        if problem is None and pid is not None:
            return pid
        if time.monotonic() > deadline:
            log = layout.path(node, ".log")
            tail = _last_lines(log.read_text(errors="replace")) if log.exists() else ""
            raise NodeFailed(f"searchd for {node.name} does not answer ({problem}); {log}: {tail}")
        time.sleep(POLL)


def _serving_problem(node: Node) -> str | None:
    """None when the node serves its index over SphinxQL, else why not."""
    try:
        with Connection(node.host, node.sql_port, connect_timeout=STATUS_TIMEOUT) as conn:
            conn.execute(f"DESCRIBE {node.index}")
    except SphinxError as exc:
        return str(exc)
    return None


def _last_lines(text: str, count: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:])


def stop_node(layout: Layout, node: Node, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM, wait, then SIGKILL; True when a process was stopped."""
    pid = running_pid(layout, node)
    stopped = False
    if pid is not None:
        stopped = True
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(layout, node, timeout):
            _signal(pid, signal.SIGKILL)
            _wait_gone(layout, node, timeout)
    layout.path(node, ".pid").unlink(missing_ok=True)
    return stopped


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass  # gone already


def _wait_gone(layout: Layout, node: Node, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while running_pid(layout, node) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


def up(layout: Layout) -> dict[str, int]:
    """Write the configs and start every node not running yet: {name: PID}.

    Nothing is written before searchd is found and every port needed is
    free. Mirrors start first so the aggregator finds its agents; a node
    that fails leaves the others running, for ``cluster status`` to show."""
    searchd_binary()
    for node in layout.nodes:
        if running_pid(layout, node) is None:
            check_ports(node)
    write_configs(layout)
    return {node.name: start_node(layout, node) for node in layout.nodes}


def down(layout: Layout) -> list[str]:
    """Stop every node, the aggregator first; the names of those that ran."""
    return [node.name for node in reversed(layout.nodes) if stop_node(layout, node)]


def node_status(layout: Layout, node: Node) -> NodeStatus:
    pid = running_pid(layout, node)
    try:
        with Connection(node.host, node.sql_port, connect_timeout=STATUS_TIMEOUT) as conn:
            result = conn.select(f"SELECT COUNT(*) AS n FROM {node.index}")
    except SphinxError as exc:
        return NodeStatus(node, pid, False, error=str(exc))
    count = int(result.rows[0]["n"]) if result.rows else 0
    return NodeStatus(node, pid, True, count, "; ".join(result.warnings) or None)


def status(layout: Layout) -> list[NodeStatus]:
    return [node_status(layout, node) for node in layout.nodes]


def dead_shards(statuses: list[NodeStatus]) -> list[int]:
    """Shards none of whose mirrors answers."""
    live: dict[int, bool] = {}
    for item in statuses:
        if item.node.shard is not None:
            live[item.node.shard] = live.get(item.node.shard, False) or item.up
    return sorted(shard for shard, alive in live.items() if not alive)
