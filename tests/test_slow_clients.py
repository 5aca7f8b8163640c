"""Slow clients cannot stop others from being served: a slowloris holding
hundreds of half-sent requests open, against `vnsearch serve` as shipped."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

from helpers import DEMO, ROOT

from indexer.ingest import ingest
from webui.server import OncePer

HALF_OPEN = 300  # more than waitress's default connection limit (100) per process


def test_half_sent_requests_do_not_starve_other_clients(tmp_path):
    index = tmp_path / "ix"
    ingest([DEMO], index, procs=1, show_progress=False)
    env = {**os.environ, "VNSEARCH_WORKERS": "2", "VNSEARCH_THREADS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "webui.cli", "serve", "--index", str(index), "--port", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    held: list[socket.socket] = []
    try:
        base = re.search(r"http://127\.0\.0\.1:(\d+)", proc.stdout.readline())
        assert base, "serve printed no address"
        port = int(base.group(1))
        urllib.request.urlopen(f"{base.group()}/healthz", timeout=30).read()
        for _ in range(HALF_OPEN):  # headers never finished
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            conn.sendall(b"GET /api/search?q=bong+da HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(conn)
        time.sleep(0.5)
        answered = 0
        for i in range(10):
            started = time.monotonic()
            with urllib.request.urlopen(f"{base.group()}/api/search?q=kinh+te&page={i % 3 + 1}", timeout=5) as r:
                r.read()
                answered += r.status == 200 and time.monotonic() - started < 5
        assert answered == 10
    finally:
        for conn in held:
            conn.close()
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()


def test_waitress_queue_warnings_are_sampled_not_dropped():
    sampled = OncePer(3600)
    records = [logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (n,), None)
               for n in range(5)]
    assert [sampled.filter(r) for r in records] == [True, False, False, False, False]
    sampled._last -= 3600
    later = logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1, "Task queue depth is %d", (9,), None)
    assert sampled.filter(later)
    assert later.getMessage() == "Task queue depth is 9 (and 4 such warnings in the last 3600 s)"
