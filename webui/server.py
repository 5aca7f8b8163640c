"""`vnsearch serve`: the app under waitress, on loopback unless told otherwise.

Python runs one thread at a time per process, so one waitress process uses
one core however many threads it has. ``serve`` opens the listening socket
once and forks VNSEARCH_WORKERS worker processes that all accept on it (the
kernel spreads connections); each opens the index itself after the fork.
Writes stay safe across processes: the index has one OS-level write lock, and
every process notices a new commit within a second.

The main process serves nothing itself, so it can fork a new worker at any
time (a fork of a process whose threads are mid-request would copy the locks
they hold). It takes the signals an operator of gunicorn or nginx expects:

- SIGTERM, or SIGINT (Ctrl+C): stop gracefully. The socket is closed, so new
  connections are refused once every worker has let go of it; each worker
  finishes the requests it has (for at most VNSEARCH_SHUTDOWN_TIMEOUT
  seconds, then their connections are cut) and everything exits 0. A worker
  still running 5 s past that timeout is killed.
- SIGHUP: rolling restart. One at a time, a new worker starts accepting on
  the shared socket, then an old one drains as above and exits; no request
  fails. The new workers are forks of the main process: fresh memory, caches
  and index handles, the same code and settings (to change those, start a
  new `vnsearch serve`).
- SIGTERM to one worker: it drains and exits, and the main process starts
  another in its place as soon as it begins draining. A worker that dies is
  replaced too; one that dies before it ever accepted is not (whatever
  stopped it would stop the next one), and ends a rolling restart.

The main process writes one line to stderr as each worker starts accepting,
begins draining or exits (``vnsearch: worker PID ...``). A draining worker
accepts nothing and closes keep-alive connections cleanly: a request it
still receives is answered with ``Connection: close``, and a connection idle
for a second is closed (a client mid-conversation sends sooner), so clients
go on over a fresh connection, which another worker accepts. A worker acts on
SIGTERM within a second.
"""

from __future__ import annotations

import logging
import os
import resource
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import NoReturn

import waitress
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.task import WSGITask

from indexer import store
from search.backend import BadBackend, is_sphinx
from search.heap import keep_shared_with_forks, limit_malloc_arenas
from webui.app import create_app
from webui.context import ENGINE_KEY
from webui.settings import MAX_BODY_BYTES, settings_from_env

Report = Callable[[str], None]  # a worker telling the main process "ready" or "draining"
Work = Callable[[threading.Event, Report], None]  # a worker's life: serve until the event is set, then drain


def serve(index_dir=None, host=None, port=None, backend=None, cluster_dir=None) -> int:
    """Serve until stopped (SIGTERM or Ctrl+C); returns the process exit code.
    ``backend`` and ``cluster_dir`` override VNSEARCH_BACKEND and VNSEARCH_CLUSTER_DIR."""
    try:
        settings = settings_from_env()
    except ValueError as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 2
    host = host or settings["HOST"]
    port = settings["PORT"] if port is None else port
    threads = max(1, settings["THREADS"])
    limit_malloc_arenas()
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
        else:
            _warm(app)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"vnsearch: warning: listening on {host}, reachable from other machines",
              file=sys.stderr)
    workers = max(1, settings["WORKERS"])
    connections = max(1, settings["CONNECTIONS"])
    idle_timeout = max(1.0, settings["IDLE_TIMEOUT"])
    shutdown_timeout = settings["SHUTDOWN_TIMEOUT"]
    _allow_open_files(connections + OPEN_FILES_BESIDE_CONNECTIONS)
    try:
        listener = _listen(host, port)
    except OSError as exc:
        print(f"vnsearch: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown_host = f"[{host}]" if ":" in host else host
    print(f"vnsearch: serving {serving} at http://{shown_host}:{listener.getsockname()[1]}/ "
          f"({workers} processes x {threads} threads; main process {os.getpid()}: "
          "Ctrl+C or SIGTERM stops, SIGHUP restarts the workers)", flush=True)

    def work(stop: threading.Event, report: Report) -> None:
        _run(app, listener, threads, connections, idle_timeout, shutdown_timeout, stop, report)

    keep_shared_with_forks()
    return _MainProcess(work, listener, workers, shutdown_timeout).run()


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


def _warm(app) -> None:
    """The workers are forked from this process: what it reads now, they
    share and need not read again (Backend.warm)."""
    try:
        app.extensions[ENGINE_KEY].warm()
    except Exception as exc:  # a damaged index: searches will say so (503)
        print(f"vnsearch: warning: could not read the index ahead: {exc}", file=sys.stderr)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1024)
    return listener


# -- the main process ---------------------------------------------------------
STARTING, SERVING, RETIRING = "starting", "serving", "retiring"  # a worker's state, as the main process sees it
KILL_AFTER_TIMEOUT = 5.0  # seconds past VNSEARCH_SHUTDOWN_TIMEOUT before a stopping worker is killed
CAUGHT = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD}


def _note_signal(signum, frame) -> None:
    """Nothing here: signal.set_wakeup_fd hands the signal's number to the main loop."""


class _MainProcess:
    """Starts the workers, replaces those that exit, restarts them on SIGHUP and
    stops them on SIGTERM; it serves no request itself (see the module docstring).

    It runs one thread and learns everything through two pipes it waits on:
    the numbers of the signals it catches, and the workers' reports (a line
    "PID ready" or "PID draining")."""

    def __init__(self, work: Work, listener: socket.socket, wanted: int, shutdown_timeout: float) -> None:
        self.work = work
        self.listener = listener
        self.wanted = wanted
        self.shutdown_timeout = shutdown_timeout
        self.workers: dict[int, str] = {}  # pid -> STARTING, SERVING or RETIRING
        self.to_replace: list[int] | None = None  # the old workers a rolling restart still has to retire
        self.stopping = False
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)  # as set_wakeup_fd requires
        self.reports_r, self.reports_w = os.pipe()
        self.unread = b""  # the start of a report line not read in full yet

    def run(self) -> int:
        signal.set_wakeup_fd(self.wakeup_w)
        for signum in CAUGHT:
            signal.signal(signum, _note_signal)
        for _ in range(self.wanted):
            self._spawn()
        while self.workers:
            signals = self._wait(None)
            if signals & {signal.SIGTERM, signal.SIGINT}:
                return self._stop()
            if signal.SIGHUP in signals:
                self.to_replace = [pid for pid, state in self.workers.items() if state != RETIRING]
                _say(f"SIGHUP: replacing {len(self.to_replace)} worker(s) one at a time")
            self._roll()
        _say("no worker is running; stopping")
        return 1

    def _wait(self, timeout: float | None) -> set[int]:
        """Wait for a signal or a report (at most ``timeout`` seconds), act on
        reports and exited workers, and return the signals that arrived."""
        ready, _, _ = select.select([self.wakeup_r, self.reports_r], [], [], timeout)
        signals = set(os.read(self.wakeup_r, 512)) if self.wakeup_r in ready else set()
        if self.reports_r in ready:
            *lines, self.unread = (self.unread + os.read(self.reports_r, 65536)).split(b"\n")
            for line in lines:
                worker, what = line.decode().split()
                self._reported(int(worker), what)
        while self.workers:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            self._exited(pid, status)
        return signals

    def _reported(self, pid: int, what: str) -> None:
        state = self.workers.get(pid)
        if what == "ready" and state == STARTING:
            self.workers[pid] = SERVING
            _say(f"worker {pid} accepting")
        elif what == "draining" and state == SERVING and not self.stopping:
            # told to stop by someone else (SIGTERM to it): another takes its place now
            self.workers[pid] = RETIRING
            self._forget(pid)
            _say(f"worker {pid} draining; starting another")
            self._spawn()

    def _exited(self, pid: int, status: int) -> None:
        state = self.workers.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        _say(f"worker {pid} exited ({f'code {code}' if code >= 0 else f'signal {-code}'})")
        self._forget(pid)
        if self.stopping or state == RETIRING:
            return
        if state == STARTING:
            _say(f"worker {pid} never accepted: not replaced" + (", restart abandoned" if self.to_replace else ""))
            self.to_replace = None
            return
        self._spawn()

    def _forget(self, pid: int) -> None:
        """A worker that is going anyway leaves the rolling restart's list."""
        if self.to_replace and pid in self.to_replace:
            self.to_replace.remove(pid)

    def _roll(self) -> None:
        """The next step of a rolling restart, one worker at a time: start a
        new one; once it accepts, tell the oldest to drain; once that has
        exited, again. The listening socket keeps every worker's connections
        queued meanwhile, so capacity dips by at most one worker and no
        request fails."""
        states = set(self.workers.values())
        if self.to_replace is None or STARTING in states or RETIRING in states:
            return
        if not self.to_replace:
            self.to_replace = None
            _say("rolling restart done")
        elif len(self.workers) <= self.wanted:
            self._spawn()
        else:
            pid = self.to_replace.pop(0)
            self.workers[pid] = RETIRING
            os.kill(pid, signal.SIGTERM)

    def _stop(self) -> int:
        self.stopping = True
        self.listener.close()  # the workers close theirs as they start draining
        _say(f"stopping: the workers finish their requests (at most {self.shutdown_timeout:g} s)")
        for pid in self.workers:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_timeout + KILL_AFTER_TIMEOUT
        while self.workers and time.monotonic() < deadline:
            self._wait(max(0.0, deadline - time.monotonic()))
        for pid in self.workers:
            _say(f"worker {pid} still running {KILL_AFTER_TIMEOUT:g} s after the shutdown timeout: killed")
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        return 0

    def _spawn(self) -> None:
        # The signals wait until the new worker has its own handlers: caught by
        # the main process's, a SIGTERM meant for it would stop the whole server.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, CAUGHT)
        try:
            pid = os.fork()
            if pid == 0:
                self._be_worker(mask)
        except OSError as exc:
            _say(f"cannot start a worker: {exc.strerror or exc}")
            self.to_replace = None
            return
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self.workers[pid] = STARTING

    def _be_worker(self, mask) -> NoReturn:
        """The forked child's life: the main process's signals and pipes put
        away, serve, then exit (never return into the main process's code)."""
        try:
            signal.set_wakeup_fd(-1)
            for fd in (self.wakeup_r, self.wakeup_w, self.reports_r):
                os.close(fd)
            stop = _stop_on_sigterm()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _drain_without_parent(os.getppid(), stop)
            self.work(stop, self._report)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)

    def _report(self, what: str) -> None:
        try:
            os.write(self.reports_w, f"{os.getpid()} {what}\n".encode())  # one write under PIPE_BUF: atomic
        except OSError:
            pass  # the main process is gone (killed): nobody to tell


def _stop_on_sigterm() -> threading.Event:
    """A worker's signals: SIGTERM sets the event returned (drain, then exit);
    SIGINT (Ctrl+C reaches the whole process group) and SIGHUP are for the
    main process, which passes on what concerns the workers."""
    stop = threading.Event()

    def on_sigterm(signum, frame):
        # One is enough; and a second one run inside stop.set() would wait on its lock forever.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    return stop


def _say(message: str) -> None:
    print(f"vnsearch: {message}", file=sys.stderr, flush=True)


def _drain_without_parent(parent: int, stop: threading.Event) -> None:
    """A worker whose main process was killed (even with SIGKILL) drains and
    exits: nothing would stop or replace it any more."""
    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()


# -- a worker -----------------------------------------------------------------
IDLE_WHILE_DRAINING = 1.0  # seconds; a keep-alive connection this idle is closed once its worker drains
DRAIN_POLL = 0.1  # seconds between looks at the connections while draining
_DRAINING = threading.Event()  # set once this (worker) process has started to drain


class _Task(WSGITask):
    """A response that, once its worker drains, carries ``Connection: close``:
    the client sends its next request over a fresh connection, which another
    worker accepts, instead of over one about to be closed under it."""

    def build_response_header(self):
        if _DRAINING.is_set():
            self.request.headers["CONNECTION"] = "close"  # waitress then closes after this response
        return super().build_response_header()


class _Channel(HTTPChannel):
    task_class = _Task


QUEUE_WARNING_EVERY = 60.0  # seconds between two of waitress's "Task queue depth" warnings


class OncePer(logging.Filter):
    """Lets one record through per ``seconds``, noting how many it held back.
    Waitress warns "Task queue depth is N" for every request that waits for
    a free thread: under a steady load that was 9,751 lines in 4 minutes of
    the soak benchmark, drowning the log. One a minute says the same."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.held = 0
        self._last = -float("inf")
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.seconds:
                self.held += 1
                return False
            self._last, held, self.held = now, self.held, 0
        if held:
            record.msg = f"{record.msg} (and {held} such warnings in the last {self.seconds:g} s)"
        return True


def _run(app, listener, threads: int, connections: int, idle_timeout: float, shutdown_timeout: float,
         stop: threading.Event, report: Report) -> None:
    """Serve on the shared ``listener`` until ``stop`` is set, then drain."""
    sockets: dict = {}  # waitress's socket map: the listener, the connections, its wakeup pipe
    server = waitress.create_server(
        app, map=sockets, sockets=[listener], threads=threads, ident="vnsearch",
        # poll(), not select(): select() cannot watch a descriptor numbered
        # above 1024, and 1000 connections plus the index files pass that
        asyncore_use_poll=True,
        # Half-sent requests cost waitress a socket, not a thread: accept many
        # (a slowloris filled the default 100 and shut everyone else out) and
        # close those that stall.
        connection_limit=connections, channel_timeout=idle_timeout,
        # Flask answers bodies over MAX_BODY_BYTES with the JSON 413; waitress
        # (default limit 1 GB) refuses the absurd ones before buffering them,
        # with its own plain-text 413.
        max_request_body_size=2 * MAX_BODY_BYTES,
    )
    server.channel_class = _Channel
    logging.getLogger("waitress.queue").addFilter(OncePer(QUEUE_WARNING_EVERY))
    report("ready")
    # waitress's own server.run() loops until the map is empty; this loop also
    # looks at ``stop`` between two waits (of at most asyncore_loop_timeout, 1 s).
    while not stop.is_set():
        wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, use_poll=True, map=sockets, count=1)
    report("draining")
    _drain(server, sockets, shutdown_timeout)


def _drain(server, sockets: dict, timeout: float) -> None:
    """Accept nothing more, and close each connection once it has nothing left
    to answer (see the module docstring), for at most ``timeout`` seconds."""
    _DRAINING.set()
    server.del_channel()
    server.socket.close()  # this process's copy only: the other workers keep accepting
    channels = server.active_channels
    deadline = time.monotonic() + timeout
    while channels and time.monotonic() < deadline:
        idle_since = time.time() - IDLE_WHILE_DRAINING
        for channel in list(channels.values()):
            if _idle(channel) and channel.last_activity < idle_since:
                channel.will_close = True  # the loop closes it next
        wasyncore.loop(timeout=DRAIN_POLL, use_poll=True, map=sockets, count=1)
    if channels:
        _say(f"worker {os.getpid()}: {len(channels)} connection(s) still busy after VNSEARCH_SHUTDOWN_TIMEOUT "
             f"({timeout:g} s): cut")


def _idle(channel) -> bool:
    """Nothing received but not answered, nothing half-received, nothing left to send."""
    return not channel.requests and channel.request is None and not channel.total_outbufs_len
