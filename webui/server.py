"""`vnsearch serve`: the app under waitress, on loopback unless told otherwise.

Python runs one thread at a time per process, so one waitress process uses
one core however many threads it has. ``serve`` opens the listening socket
once and forks VNSEARCH_WORKERS processes that all accept on it (the kernel
spreads connections); each opens the index itself after the fork. Writes stay
safe across processes: the index has one OS-level write lock, and every
process notices a new commit within a second.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import sys
import threading
import time

import waitress

from indexer import store
from search.backend import BadBackend, is_sphinx
from webui.app import create_app
from webui.settings import MAX_BODY_BYTES, settings_from_env


def serve(index_dir=None, host=None, port=None, backend=None, cluster_dir=None) -> int:
    """Serve until interrupted; returns the process exit code. ``backend`` and
    ``cluster_dir`` override VNSEARCH_BACKEND and VNSEARCH_CLUSTER_DIR."""
    try:
        settings = settings_from_env()
    except ValueError as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 2
    host = host or settings["HOST"]
    port = settings["PORT"] if port is None else port
    threads = max(1, settings["THREADS"])
    _limit_malloc_arenas()
    overrides = {key: value for key, value in (("INDEX_DIR", index_dir), ("BACKEND", backend),
                                               ("CLUSTER_DIR", cluster_dir)) if value}
    try:
        app = create_app(overrides)
    except BadBackend as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 2
    if is_sphinx(app.config["BACKEND"]):
        serving = app.config["BACKEND"]  # each worker connects on its first request
    else:
        index_path = store.resolve_index_dir(app.config["INDEX_DIR"])
        serving = str(index_path)
        if not store.index_exists(index_path):
            print(f"vnsearch: warning: no index at {index_path} yet; searches answer 503 until "
                  f"`vnsearch index FILES --index {index_path}` builds one", file=sys.stderr)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"vnsearch: warning: listening on {host}, reachable from other machines",
              file=sys.stderr)
    workers = max(1, settings["WORKERS"])
    connections = max(1, settings["CONNECTIONS"])
    idle_timeout = max(1.0, settings["IDLE_TIMEOUT"])
    _allow_open_files(connections + OPEN_FILES_BESIDE_CONNECTIONS)
    try:
        listener = _listen(host, port)
    except OSError as exc:
        print(f"vnsearch: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown_host = f"[{host}]" if ":" in host else host
    print(f"vnsearch: serving {serving} at http://{shown_host}:{listener.getsockname()[1]}/ "
          f"({workers} processes x {threads} threads; Ctrl+C stops)", flush=True)
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker: serve until the parent stops us (or dies)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _exit_with_parent(os.getppid())
            _run(app, listener, threads, connections, idle_timeout)
            os._exit(0)
        children.append(pid)
    try:
        _run(app, listener, threads, connections, idle_timeout)  # returns after Ctrl+C / SIGINT
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except ProcessLookupError:
                pass
    return 0


M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2


def _limit_malloc_arenas() -> None:
    """glibc gives each thread that allocates its own malloc arena, and each
    arena keeps the peak of what its thread allocated (a request's score and
    mask arrays): 8 threads held ~4 MB each more than one thread did. Two
    arenas, shared by all threads, keep a process's memory flat in its thread
    count. Other C libraries: nothing to do."""
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)
    except (OSError, AttributeError):
        pass


OPEN_FILES_BESIDE_CONNECTIONS = 1024  # index files, logs, pipes


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit on open files towards ``wanted`` (each
    connection is one), never past the hard limit the system sets."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        pass


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (even with SIGKILL) exits too."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    return listener


def _run(app, listener, threads: int, connections: int, idle_timeout: float) -> None:
    server = waitress.create_server(
        app, sockets=[listener], threads=threads, ident="vnsearch",
        # Half-sent requests cost waitress a socket, not a thread: accept many
        # (a slowloris filled the default 100 and shut everyone else out) and
        # close those that stall.
        connection_limit=connections, channel_timeout=idle_timeout,
        # Flask answers bodies over MAX_BODY_BYTES with the JSON 413; waitress
        # (default limit 1 GB) refuses the absurd ones before buffering them,
        # with its own plain-text 413.
        max_request_body_size=2 * MAX_BODY_BYTES,
    )
    try:
        server.run()
    finally:
        server.close()
