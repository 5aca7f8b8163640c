"""Graceful shutdown and rolling restarts of `vnsearch serve` (webui/server.py):
SIGTERM lets the requests in flight finish, refuses new connections and exits
0; replacing the workers (SIGHUP to the main process, SIGTERM to one worker)
while 8 clients search fails no request."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow
WAIT = 30.0  # seconds: a bound for a loaded machine, far above what each step takes
CLIENTS = 8
QUERIES = ["kinh tế", "bóng đá", "giáo dục", "thành phố", "", "sức khỏe"]

# `vnsearch serve` whose app has one more route, /slow: it touches a file when
# it starts, then takes a few seconds to answer. argv: index, file, seconds.
SLOW_SERVE = """
import sys, time
from pathlib import Path
from webui import server

index, started, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])


def create_app(config, real=server.create_app):
    app = real(config)

    def slow():
        started.touch()
        time.sleep(seconds)
        return "done"

    app.add_url_rule("/slow", "slow", slow)
    return app


server.create_app = create_app
sys.exit(server.serve(index_dir=index, port=0))
"""


def start(args: list[str], log: Path, **env: str) -> tuple[subprocess.Popen, int]:
    """A `vnsearch serve` on a free port, its stderr (one line per worker event) in ``log``."""
    with open(log, "wb") as stderr:
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                stderr=stderr, text=True)
    assert proc.stdout is not None
    address = re.search(r"http://127\.0\.0\.1:(\d+)/", proc.stdout.readline())
    assert address, f"serve printed no address: {log.read_text()}"
    return proc, int(address.group(1))


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()


def wait_until(check, what: str):
    deadline = time.monotonic() + WAIT
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {WAIT:g} s"
        time.sleep(0.05)
    return found


def workers(log: Path) -> set[int]:
    """The workers that said they accept and have not exited, from the main process's log lines."""
    text = log.read_text()
    return ({int(pid) for pid in re.findall(r"worker (\d+) accepting", text)}
            - {int(pid) for pid in re.findall(r"worker (\d+) exited", text)})


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_request_in_flight_then_refuses_connections_and_exits_0(demo_index, tmp_path):
    started, log = tmp_path / "started", tmp_path / "serve.log"
    # The timeout is far above WAIT: exiting within WAIT shows that the idle
    # keep-alive connection did not hold the shutdown until the timeout.
    proc, port = start([sys.executable, "-c", SLOW_SERVE, str(demo_index), str(started), "4"], log,
                       VNSEARCH_WORKERS="1", VNSEARCH_SHUTDOWN_TIMEOUT="600")
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    try:
        wait_until(lambda: workers(log), "no worker accepting")
        idle.request("GET", "/healthz")
        assert idle.getresponse().read() and idle.sock is not None  # kept alive
        answer: dict = {}

        def ask_slow():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            conn.request("GET", "/slow")
            response = conn.getresponse()
            answer.update(status=response.status, connection=response.getheader("Connection"), body=response.read())
            conn.close()

        asker = threading.Thread(target=ask_slow)
        asker.start()
        wait_until(started.exists, "the slow request did not start")
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: refused(port), "new connections still accepted after SIGTERM")
        asker.join(WAIT)
        # answered in full; Connection: close shows the worker was draining when it answered
        assert answer == {"status": 200, "connection": "close", "body": b"done"}
        assert idle.sock.recv(1) == b""  # closed cleanly by the draining worker
        assert proc.wait(timeout=WAIT) == 0
    finally:
        idle.close()
        stop(proc)
    assert re.search(r"worker \d+ exited \(code 0\)", log.read_text()), log.read_text()


class Tally:
    """What the clients saw, counted under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = 0
        self.told_to_close = 0  # answers with Connection: close (a draining worker)
        self.reconnected = 0  # reused connections found closed before a request was sent
        self.failures: list[str] = []

    def sent(self) -> int:
        return self.answered + len(self.failures)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)

    def fail(self, path: str, what: object) -> None:
        with self.lock:
            self.failures.append(f"{path}: {what!r}")


def dropped(sock: socket.socket) -> bool:
    """An idle keep-alive connection with something to read has been closed by
    the server (urllib3 looks the same way before it reuses a connection)."""
    return bool(select.select([sock], [], [], 0)[0])


def search_back_to_back(port: int, number: int, done: threading.Event, tally: Tally) -> None:
    """Search until ``done``, over one keep-alive connection at a time, as a
    browser or requests/urllib3 does. A client may go on over a fresh
    connection only when a reused one fails before any byte of the request
    was sent (found closed, or the send itself refused); every other error,
    and every answer but a 200 with a result, counts as a failed request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    for i in itertools.count(number):
        if done.is_set():
            break
        path = "/api/search?" + urlencode({"q": QUERIES[i % len(QUERIES)], "page": 1 + i % 3})
        reused = conn.sock is not None
        if reused and dropped(conn.sock):
            conn.close()
            tally.add(reconnected=1)
            reused = False
        try:
            conn.request("GET", path)
        except OSError as exc:
            conn.close()
            if reused:  # nothing sent
                tally.add(reconnected=1)
            else:
                tally.fail(path, exc)
            continue
        try:
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            tally.fail(path, exc)
            continue
        if response.status != 200 or "hits" not in json.loads(body):
            tally.fail(path, response.status)
        else:  # http.client opens a fresh connection next after Connection: close
            tally.add(answered=1, told_to_close=response.getheader("Connection") == "close")
    conn.close()


def test_rolling_restart_and_a_worker_sigterm_fail_no_request(demo_index, tmp_path):
    log = tmp_path / "serve.log"
    proc, port = start([sys.executable, "-m", "webui.cli", "serve", "--index", str(demo_index), "--port", "0"],
                       log, VNSEARCH_WORKERS="2", VNSEARCH_THREADS="4")
    tally, done = Tally(), threading.Event()
    clients = [threading.Thread(target=search_back_to_back, args=(port, k, done, tally)) for k in range(CLIENTS)]
    try:
        wait_until(lambda: len(workers(log)) == 2, "2 workers not accepting")
        first = workers(log)
        for client in clients:
            client.start()
        wait_until(lambda: tally.answered >= 50, "the clients got no answers")  # each has a kept-alive connection
        before = tally.sent()

        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "rolling restart done" in log.read_text(), "SIGHUP: no rolling restart")
        restarted = workers(log)
        assert len(restarted) == 2 and not restarted & first, log.read_text()
        across_restart, before = tally.sent() - before, tally.sent()

        victim = min(restarted)
        os.kill(victim, signal.SIGTERM)  # drains and exits; the main process starts another at once
        wait_until(lambda: victim not in workers(log) and len(workers(log)) == 2, "the worker not replaced")
        across_sigterm = tally.sent() - before
        time.sleep(0.5)  # the clients use the replacement too
    finally:
        done.set()
        for client in clients:
            client.join(WAIT)
        stop(proc)
    figures = (f"{tally.sent()} requests ({across_restart} during the rolling restart, {across_sigterm} while "
               f"the worker drained and was replaced), {len(tally.failures)} failed, {tally.told_to_close} "
               f"answered with Connection: close, {tally.reconnected} reconnects before sending")
    print(figures)
    assert tally.failures == [], figures
    assert across_restart > 0 and tally.told_to_close > 0, figures  # the clients did meet draining workers
    assert proc.returncode == 0
