"""Live updates under load: while `vnsearch serve` (two worker processes)
answers a steady stream of searches, articles are added through
`vnsearch index` and the API, replaced and deleted. Searches never fail,
changes show within seconds in every worker, and the final document count is
exact, with no duplicate ids."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from helpers import ROOT, write_jsonl
from web_helpers import TOKEN

pytestmark = pytest.mark.slow
VISIBLE_WITHIN = 5.0


def call(base, path, method="GET", body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_until(check, what):
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < VISIBLE_WITHIN, f"{what} not visible in time"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def server(writable_index):
    index = writable_index
    env = {**os.environ, "VNSEARCH_API_TOKEN": TOKEN, "VNSEARCH_WORKERS": "2",
           "VNSEARCH_THREADS": "4"}
    proc = subprocess.Popen([sys.executable, "-m", "webui.cli", "serve", "--index", str(index),
                             "--port", "0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    base = re.search(r"http://127\.0\.0\.1:\d+", line).group()
    yield base, index
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def article(prefix, i, title=None):
    return {"id": f"{prefix}-{i}", "title": title or f"Tin trực tiếp {prefix} số {i} về ngựa vằn",
            "body": f"Bài {i}: đàn ngựa vằn ở thảo cầm viên.", "category": "Thời sự",
            "published": "2024-05-01T08:00:00"}


def test_writes_while_searching(server, tmp_path):
    base, index = server
    failures, answered, stop = [], [0], threading.Event()

    def searcher(query):
        while not stop.is_set():
            try:
                status, _ = call(base, "/api/search?q=" + quote(query))
                if status != 200:
                    failures.append(status)
                answered[0] += 1
            except Exception as exc:  # noqa: BLE001  (a refused or dropped connection is a failure too)
                failures.append(repr(exc))

    threads = [threading.Thread(target=searcher, args=(q,), daemon=True)
               for q in ("ngua van", "cán bộ trẻ", '"thảo cầm viên"', "da nang")]
    for thread in threads:
        thread.start()

    def total(query="ngua van"):
        return call(base, "/api/search?size=100&q=" + quote(query))[1]["total"]

    # 1. the CLI adds 30 articles while the server runs
    source = write_jsonl(tmp_path / "live.jsonl", [article("cli", i) for i in range(30)])
    subprocess.run([sys.executable, "-m", "webui.cli", "index", str(source), "--index",
                    str(index), "--quiet"], cwd=ROOT, check=True)
    wait_until(lambda: total() == 30, "CLI additions")

    # 2. the API adds 20 more, then replaces 5 and deletes 5 of them and 5 demo articles
    status, body = call(base, "/api/articles", "POST", [article("api", i) for i in range(20)], TOKEN)
    assert status == 201 and body["added"] == 20
    wait_until(lambda: total() == 50, "API additions")
    replaced = [article("api", i, title=f"Bản sửa {i} ngựa vằn con") for i in range(5)]
    assert call(base, "/api/articles", "POST", replaced, TOKEN)[0] == 200
    wait_until(lambda: total('"ban sua"') == 5, "replacements")
    for article_id in [f"api-{i}" for i in range(15, 20)] + [f"demo-{i:04d}" for i in range(40, 45)]:
        assert call(base, f"/api/articles/{article_id}", "DELETE", token=TOKEN)[0] == 200
    wait_until(lambda: total() == 45, "deletions")

    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == [] and answered[0] > 20
    # Each worker thread looks for a new commit at most once a second; after
    # that every one of them (2 processes x 4 threads) must agree, repeatedly.
    time.sleep(1.5)
    for _ in range(16):
        assert call(base, "/api/stats")[1]["documents"] == 48 + 30 + 20 - 5 - 5
        assert call(base, "/api/articles/demo-0040")[0] == 404
        assert call(base, "/api/articles/api-0")[1]["title"] == "Bản sửa 0 ngựa vằn con"
        hits = call(base, "/api/search?size=100&group=off&q=ngua+van")[1]["hits"]
        assert len({h["id"] for h in hits}) == len(hits) == 45  # no duplicates anywhere
