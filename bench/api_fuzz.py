"""Schema-driven API fuzzing: Schemathesis against `vnsearch serve`, over loopback.

    python bench/api_fuzz.py                         # the full run: >= 10,000 requests
    python bench/api_fuzz.py --requests 300          # the small run (tests/test_api_fuzz.py)
    python bench/api_fuzz.py --index DIR             # fuzz a copy of DIR (DIR itself is never written)

`vnsearch serve` is started as a subprocess on a free loopback port, on a
temporary copy of --index (default: the demo archive, indexed afresh), with a
random write token. The OpenAPI document is the one the server serves at
/api/openapi.json (read with schemathesis.openapi.from_dict, because from_url
leaves out the operation that serves the document). Every operation in it,
writes included (sent with the token), gets generated requests:

1. Schemathesis's coverage phase, once: boundary values, missing and wrongly
   typed parameters and bodies, and the methods a path does not allow (405).
2. Rounds of its fuzzing phase until --requests is reached: per operation,
   --per-pass Hypothesis cases, positive (valid by the document) and negative
   (breaking it) in turn. Article ids come from the generator and, in half of
   the positive cases, from the index (DELETE takes only the fuzzer's own
   articles, so the archive stays readable). Operations are interleaved, so
   reads see what the writes before them did. Parameter-free operations
   (stats, health, the document) have one case per round.

Every response must pass these Schemathesis checks: not_a_server_error (no
5xx), status_code_conformance, content_type_conformance,
response_schema_conformance and response_headers_conformance (status, media
type, body and headers as the document describes them for that operation and
status); it must come within --max-seconds (2 s), and the server's log must
hold no traceback. Prints requests per operation, the total, the 5xx count,
failures by check, max and p95 latency, and the first failures with the
server's log; exits 1 if anything failed. --json FILE also writes the figures
as JSON. Requests go one at a time, so latencies are the server's own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import stop_server  # noqa: E402

DEMO = ROOT / "indexer" / "demo_archive" / "articles.jsonl"
OTHER_METHODS = "other methods (405 probes)"


@dataclass
class Figures:
    """What a run saw, per operation and in total."""

    requests: Counter = field(default_factory=Counter)  # operation label -> requests sent
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))  # label -> status -> count
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # label -> seconds
    failures: Counter = field(default_factory=Counter)  # check name -> failing responses
    unsendable: Counter = field(default_factory=Counter)  # label -> cases the HTTP client refused to send
    examples: list = field(default_factory=list)  # the first failure of each (check, label, status)
    seen: set = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def server_errors(self) -> int:
        return sum(n for counts in self.statuses.values() for s, n in counts.items() if s >= 500)

    def record_failure(self, check: str, label: str, status: int | None, detail: str) -> None:
        self.failures[check] += 1
        key = (check, label, status)
        if key not in self.seen and len(self.examples) < 20:
            self.seen.add(key)
            self.examples.append(f"[{check}] {label} -> {status}\n{detail.strip()[:3000]}")

    def as_json(self, max_seconds: float) -> dict:
        every = [t for times in self.latencies.values() for t in times]
        return {
            "total": self.total, "server_errors": self.server_errors,
            "failures": dict(self.failures), "unsendable": sum(self.unsendable.values()),
            "max_seconds": max_seconds,
            "max_ms": round(1000 * max(every, default=0.0), 1), "p95_ms": round(1000 * _p95(every), 1),
            "operations": {label: {
                "requests": self.requests[label],
                "statuses": {str(s): n for s, n in sorted(self.statuses[label].items())},
                "max_ms": round(1000 * max(self.latencies[label], default=0.0), 1),
                "p95_ms": round(1000 * _p95(self.latencies[label]), 1),
            } for label in sorted(self.requests)},
            "examples": self.examples,
        }


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


# -- the server ----------------------------------------------------------------
def start_server(index: Path, token: str, log_path: Path, workers: int,
                 startup_timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """`vnsearch serve` on a free loopback port (it prints the address it got)."""
    env = {**os.environ, "VNSEARCH_API_TOKEN": token, "VNSEARCH_WORKERS": str(workers),
           "VNSEARCH_THREADS": "4"}
    log = open(log_path, "ab")  # the server writes to it; this process needs it no more
    server = subprocess.Popen(
        [sys.executable, "-m", "webui.cli", "serve", "--index", str(index), "--port", "0"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    assert server.stdout is not None
    line = server.stdout.readline()  # the first line names the address
    found = re.search(r"http://127\.0\.0\.1:\d+", line)
    if not found:
        server.kill()
        raise SystemExit(f"vnsearch serve printed no address: {line!r}; log: {log_path.read_text()[-2000:]}")
    base = found.group()
    deadline = time.monotonic() + startup_timeout
    import requests

    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return server, base
        except requests.RequestException:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"vnsearch serve did not answer /healthz; log: {log_path.read_text()[-2000:]}")


# -- the fuzzing -----------------------------------------------------------------
def fuzz(base: str, token: str, requests_wanted: int, seed: int, max_seconds: float, per_pass: int = 25,
         coverage_cap: int | None = None, server: subprocess.Popen | None = None, progress=None) -> Figures:
    """Send ``requests_wanted`` generated requests or a few more to the API at
    ``base``: the coverage phase once, then rounds of the fuzzing phase (at
    least one)."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as with_seed
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.core.result import Err
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance, response_headers_conformance]
    # The served document, loaded as from_url would, but from_dict: from_url
    # leaves out the operation that serves the document itself.
    served = requests.get(f"{base}/api/openapi.json", timeout=30)
    served.raise_for_status()
    schema = schemathesis.openapi.from_dict(served.json())
    operations = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is wrong
            raise SystemExit(f"Schemathesis cannot read an operation of the document: {result.err()}")
        operations.append(result.ok())
    figures = Figures()
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    archive_ids = _article_ids(session, base)
    if not archive_ids:
        raise SystemExit("the index has no articles to read")
    own_ids: list[str] = []  # ids of articles the fuzzer wrote (DELETE takes these)

    def send(case) -> None:
        # The coverage phase also probes methods an operation's path lacks (405).
        same = case.method.upper() == case.operation.method.upper()
        label = case.operation.label if same else OTHER_METHODS
        started = time.perf_counter()
        try:
            response = case.call(base_url=base, session=session, headers=headers, timeout=30)
        except (requests.RequestException, ValueError) as exc:
            if not isinstance(exc, requests.ConnectionError | requests.Timeout):
                figures.unsendable[label] += 1  # e.g. a header requests will not send; never reached us
                return
            figures.requests[label] += 1
            figures.latencies[label].append(time.perf_counter() - started)
            figures.record_failure("transport_error", label, None, f"{exc}\n{case.as_curl_command(headers)}")
            return
        elapsed = time.perf_counter() - started
        figures.requests[label] += 1
        figures.latencies[label].append(elapsed)
        figures.statuses[label][response.status_code] += 1
        if elapsed > max_seconds:
            figures.record_failure("max_response_time", label, response.status_code,
                                   f"took {elapsed:.2f} s\n{case.as_curl_command(headers)}")
        for check in checks:
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except (AssertionError, FailureGroup) as exc:
                figures.record_failure(check.__name__, label, response.status_code, str(exc))
        if same and case.method.upper() == "POST" and response.status_code in (200, 201):
            own_ids.extend(_posted_ids(case.body))
        elif same and case.method.upper() == "DELETE" and response.status_code == 200:
            gone = case.path_parameters.get("article_id")
            own_ids[:] = [i for i in own_ids if i != gone]

    def coverage_pass(operation) -> None:
        """Schemathesis's coverage phase: boundary values, missing and wrongly
        typed parameters, and the methods the path does not allow (at most
        ``coverage_cap`` of them, evenly spread, when a cap is given)."""
        config = schema.config.generation_for(operation=operation, phase="coverage")
        cases = list(schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                                generation_config=config))
        if coverage_cap is not None and len(cases) > coverage_cap:
            cases = [cases[i * len(cases) // coverage_cap] for i in range(coverage_cap)]
        for case in cases:
            send(case)

    def one_pass(operation, mode, pass_seed: int) -> int:
        strategies = [operation.as_strategy(generation_mode=mode)]
        if "{article_id}" in operation.path and mode.is_positive:
            pool = own_ids if operation.method.upper() == "DELETE" else archive_ids + own_ids
            known = _sample(pool, 8, pass_seed)
            if known:
                strategies.append(st.one_of(*[operation.as_strategy(
                    generation_mode=mode, path_parameters={"article_id": i}) for i in known]))
        cases: list = []

        @with_seed(pass_seed)
        @settings(max_examples=per_pass, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
        @given(st.one_of(*strategies))
        def run(case) -> None:
            cases.append(case)
            send(case)

        try:
            run()
        except _unsatisfiable():  # e.g. no way to break a parameter-free operation
            if not cases:
                return 0
            raise
        return len(cases)

    for operation in operations:
        coverage_pass(operation)
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    round_number = 0
    while round_number == 0 or figures.total < requests_wanted:
        for number, operation in enumerate(operations):
            mode = modes[(round_number + number) % 2]
            before = figures.requests[operation.label]
            one_pass(operation, mode, seed * 1_000_003 + round_number * 101 + number)
            if figures.requests[operation.label] == before:  # nothing negative to send: a positive pass
                one_pass(operation, GenerationMode.POSITIVE, seed + round_number * 7 + number)
            if server is not None and server.poll() is not None:
                raise SystemExit(f"the server exited (code {server.returncode}) during the run")
        round_number += 1
        if round_number % 5 == 0:
            archive_ids = _article_ids(session, base) or archive_ids
        if progress:
            progress(figures)
    session.close()
    return figures


def _unsatisfiable():
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.errors import InvalidSchema

    return (Unsatisfiable, InvalidSchema)


def _article_ids(session, base: str) -> list[str]:
    response = session.get(f"{base}/api/search", params={"size": 100, "facets": "false", "sort": "newest"},
                           timeout=30)
    return [hit["id"] for hit in response.json().get("hits", [])] if response.status_code == 200 else []


def _posted_ids(body) -> list[str]:
    records = body if isinstance(body, list) else [body]
    return [r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"].strip()]


def _sample(pool: list[str], count: int, seed: int) -> list[str]:
    import random

    unique = list(dict.fromkeys(pool))
    return random.Random(seed).sample(unique, min(count, len(unique)))


# -- the report -------------------------------------------------------------------
def report(figures: Figures, max_seconds: float, seconds: float, log_tail: str) -> str:
    data = figures.as_json(max_seconds)
    lines = [f"{'operation':<44}{'requests':>9}{'2xx':>7}{'4xx':>7}{'5xx':>6}{'p95 ms':>9}{'max ms':>9}"]
    for label, op in data["operations"].items():
        by_class: Counter[int] = Counter()
        for status, n in op["statuses"].items():
            by_class[int(status) // 100] += n
        lines.append(f"{label:<44}{op['requests']:>9,}{by_class[2]:>7,}{by_class[4]:>7,}{by_class[5]:>6,}"
                     f"{op['p95_ms']:>9.1f}{op['max_ms']:>9.1f}")
    lines.append(f"{'total':<44}{data['total']:>9,}{'':>14}{data['server_errors']:>6,}"
                 f"{data['p95_ms']:>9.1f}{data['max_ms']:>9.1f}")
    lines.append(f"{data['total']:,} requests in {seconds:.1f} s ({data['total'] / max(seconds, 1e-9):.0f}/s); "
                 f"5xx: {data['server_errors']}; max latency {data['max_ms']:.1f} ms "
                 f"(limit {max_seconds * 1000:.0f}), p95 {data['p95_ms']:.1f} ms")
    names = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
             "response_schema_conformance", "response_headers_conformance", "max_response_time",
             "transport_error", "server_log_traceback"]
    lines.append("failing responses by check: " + ", ".join(
        f"{name} {figures.failures.get(name, 0)}" for name in names))
    if figures.unsendable:
        lines.append(f"cases the HTTP client refused to send (not counted): {data['unsendable']}")
    if figures.examples:
        lines.append("\nfirst failures:")
        lines.extend(figures.examples)
    if figures.failures and log_tail.strip():
        lines.append("\nthe server's log (tail):\n" + log_tail)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="generated requests to send (default 10000)")
    parser.add_argument("--index", type=Path, default=None,
                        help="index to fuzz a copy of (default: the demo archive, indexed afresh)")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    parser.add_argument("--per-pass", type=int, default=25, metavar="N",
                        help="cases per operation in each round of the fuzzing phase (default 25)")
    parser.add_argument("--coverage-cap", type=int, default=None, metavar="N",
                        help="at most N coverage-phase cases per operation (default: all of them)")
    parser.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    parser.add_argument("--max-seconds", type=float, default=2.0, help="slowest allowed response (default 2)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures here")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    # Stopped with SIGTERM too, the run stops its server (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with tempfile.TemporaryDirectory(prefix="vnsearch-fuzz-") as tmp:
        index = Path(tmp) / "index"
        if args.index is not None:
            shutil.copytree(args.index, index)
        else:
            from indexer.ingest import ingest

            ingest([DEMO], index, procs=1, show_progress=False)
        token = secrets.token_urlsafe(24)
        log_path = Path(tmp) / "server.log"
        server, base = start_server(index, token, log_path, args.workers)
        started = time.monotonic()

        def progress(figures: Figures) -> None:
            if not args.quiet:
                print(f"  {figures.total:,} requests, {figures.server_errors} 5xx, "
                      f"{sum(figures.failures.values())} failures, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)

        try:
            figures = fuzz(base, token, args.requests, args.seed, args.max_seconds, per_pass=args.per_pass,
                           coverage_cap=args.coverage_cap, server=server, progress=progress)
        finally:
            stop_server(server)
        seconds = time.monotonic() - started
        log = log_path.read_text(errors="replace")
        for _ in range(log.count("Traceback")):  # also one behind a 4xx would be a bug
            figures.failures["server_log_traceback"] += 1
        print(report(figures, args.max_seconds, seconds, log[-6000:]))
        if args.json:
            args.json.write_text(json.dumps({**figures.as_json(args.max_seconds), "seconds": round(seconds, 1)},
                                            ensure_ascii=False, indent=1))
    return 1 if figures.failures else 0


if __name__ == "__main__":
    sys.exit(main())
