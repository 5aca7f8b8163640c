"""Load test: `vnsearch serve` in one process, concurrent clients in this one.

    python bench/load.py --index index_data              # 8 clients, <= 3000 requests, <= 60 s
    python bench/load.py --url http://127.0.0.1:8000     # an already running server

The server is started as a subprocess on a free loopback port (unless --url),
so the server and the clients never share a GIL. Each client keeps one
HTTP/1.1 connection (as a browser or an API client would) and sends a fixed,
repeating mix: unaccented and accented words, phrases, filters (category,
date range), sorting, deeper pages, facets off, CSV, article and related
lookups and HTML pages. Filter values and article ids are read from the
index itself, so the mix fits any corpus. The run stops at --requests or
--duration, whichever comes first. Prints requests/s, p50/p95/p99 latency
and the error count; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
WORDS_UNACCENTED = ["can bo tre", "giao duc", "bong da", "hoc sinh", "thanh pho ho chi minh",
                    "xuat khau nong san", "gia vang", "benh vien", "dien mat troi", "ha noi"]
WORDS_ACCENTED = ["cán bộ trẻ", "giáo dục", "bóng đá", "học sinh", "xuất khẩu", "ngân hàng",
                  "sốt xuất huyết", "Đà Nẵng"]
PHRASES = ['"cán bộ trẻ"', '"bóng đá"', '"thành phố"', '"giáo dục" -"đại học"', "tre OR gia"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(base: str, path: str, timeout: float = 30):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def start_server(index: str, startup_timeout: float, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`vnsearch serve` on a free port; ``extra`` arguments (e.g. --backend URL) are added."""
    port = free_port()
    command = [sys.executable, "-m", "webui.cli", "serve", "--index", index, "--port", str(port), *(extra or [])]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited: {server.stderr.read().decode(errors='replace')}")
        try:
            if get_json(base, "/healthz", timeout=5)[0] == 200:
                return server, base
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"server did not answer /healthz within {startup_timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop a server from start_server: SIGTERM (it drains), SIGKILL after 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout:
        server.stdout.close()


def build_mix(base: str) -> list[tuple[str, str]]:
    """(kind, path) pairs; values for filters and ids come from the index."""
    status, stats = get_json(base, "/api/stats")
    if status != 200:
        raise SystemExit(f"/api/stats answered {status}: {stats}")
    facets = stats.get("facets", {})
    categories = [f["value"] for f in facets.get("category", [])][:6] or [""]
    years = [f["value"] for f in facets.get("year", [])] or ["2022"]
    _, browse = get_json(base, "/api/search?size=20&facets=false")
    ids = [hit["id"] for hit in browse["hits"]] or ["missing"]

    def api(kind, **params):
        return kind, "/api/search?" + urlencode(params, doseq=True)

    mix = []
    for i in range(40):  # a repeating cycle of 40 varied requests per round
        year = years[i % len(years)]
        category = categories[i % len(categories)]
        mix += [
            api("unaccented", q=WORDS_UNACCENTED[i % len(WORDS_UNACCENTED)]),
            api("accented", q=WORDS_ACCENTED[i % len(WORDS_ACCENTED)]),
            api("phrase", q=PHRASES[i % len(PHRASES)]),
            api("filter", q=WORDS_UNACCENTED[(i + 3) % len(WORDS_UNACCENTED)], category=category),
            api("date", q=WORDS_ACCENTED[(i + 1) % len(WORDS_ACCENTED)],
                **{"from": f"{year}-01-01", "to": f"{year}-12-31"}),
            api("newest", q=WORDS_UNACCENTED[(i + 5) % len(WORDS_UNACCENTED)], sort="newest"),
            api("page3", q=WORDS_ACCENTED[(i + 2) % len(WORDS_ACCENTED)], page=3, size=20),
            api("browse", category=category, sort="newest"),
            api("no_facets", q=WORDS_UNACCENTED[(i + 7) % len(WORDS_UNACCENTED)], facets="false"),
        ]
        if i % 4 == 0:
            mix.append(("html", "/?" + urlencode({"q": WORDS_UNACCENTED[i % len(WORDS_UNACCENTED)]})))
            mix.append(("article", "/api/articles/" + quote(ids[i % len(ids)], safe="/")))
            mix.append(("related", "/api/articles/" + quote(ids[i % len(ids)], safe="/") + "/related"))
        if i % 20 == 0:
            mix.append(api("csv", q=WORDS_UNACCENTED[i % len(WORDS_UNACCENTED)], format="csv"))
    return mix


class Client:
    """One keep-alive connection; reconnects after an error or a close."""

    def __init__(self, base: str, timeout: float):
        parts = urlsplit(base)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self.conn = None

    def get(self, path: str) -> int:
        for attempt in (1, 2):  # a kept-alive connection the server closed: retry once
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                response.read()
                if response.will_close:
                    self.close()
                return response.status
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def run(base: str, mix, clients: int, max_requests: int, duration: float, timeout: float) -> dict:
    ticket = count()
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {}
    errors: Counter = Counter()
    deadline = time.monotonic() + duration

    def worker(_):
        client = Client(base, timeout)
        try:
            while time.monotonic() < deadline:
                number = next(ticket)  # itertools.count is atomic under the GIL
                if number >= max_requests:
                    return
                kind, path = mix[number % len(mix)]
                started = time.perf_counter()
                try:
                    status = client.get(path)
                    failed = None if status == 200 else f"{kind}: HTTP {status}"
                except OSError as exc:
                    failed = f"{kind}: {type(exc).__name__}"
                    client.close()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.setdefault(kind, []).append(elapsed)
                    if failed:
                        errors[failed] += 1
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, range(clients)))
    wall = time.perf_counter() - started
    everything = sorted(x for values in latencies.values() for x in values)
    return {"requests": len(everything), "seconds": wall, "errors": sum(errors.values()),
            "error_kinds": dict(errors), "latencies": latencies, "all": everything}


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(share * len(values)))]


def report(result: dict, clients: int) -> None:
    all_ms = [x * 1000 for x in result["all"]]
    rate = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    print(f"{result['requests']:,} requests in {result['seconds']:.1f} s with {clients} clients: "
          f"{rate:,.1f} requests/s")
    print(f"latency ms: p50 {percentile(all_ms, .5):.1f}  p95 {percentile(all_ms, .95):.1f}  "
          f"p99 {percentile(all_ms, .99):.1f}  max {max(all_ms, default=0):.1f}")
    print(f"errors: {result['errors']}" + (f" {result['error_kinds']}" if result["errors"] else ""))
    print(f"{'kind':<11}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}")
    for kind, values in sorted(result["latencies"].items()):
        values = sorted(v * 1000 for v in values)
        print(f"{kind:<11}{len(values):>7}{statistics.median(values):>9.1f}{percentile(values, .95):>9.1f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", default=os.environ.get("VNSEARCH_INDEX") or "index_data")
    parser.add_argument("--url", help="use this running server instead of starting one")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000, help="stop after this many")
    parser.add_argument("--duration", type=float, default=60.0, help="stop after this many seconds")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests first (caches)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    server = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        server, base = start_server(args.index, args.startup_timeout)
        print(f"server: {base} (index {args.index}, pid {server.pid})")
    try:
        try:
            mix = build_mix(base)
        except OSError as exc:
            raise SystemExit(f"cannot reach {base}: {exc}") from None
        if args.warmup:
            run(base, mix, args.clients, args.warmup, args.duration, args.timeout)
        result = run(base, mix, args.clients, args.requests, args.duration, args.timeout)
    finally:
        if server is not None:
            stop_server(server)
    report(result, args.clients)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
