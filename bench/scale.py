"""Scale benchmark: how indexing, memory and served latency grow with the archive.

    .venv/bin/python bench/scale.py [--n 40000 160000 400000] [--seed 1] [--workdir DIR]
        [--keep] [--skip-index] [--workers W] [--threads T] [--json OUT] [--quick]

    --quick          smoke run: N=2000, 100 cold queries, 200 filter and 200
                     throughput requests (a couple of minutes on 2 cores)
    --n 1000000      the long run: about 45 minutes of indexing on 2 cores at
                     the 400,000 rate (~400/s), 3.4 GB of archive and ~6 GB of
                     index in the work dir

For each N: bench/synth.py writes a deterministic archive of N articles made of
real VNTC headlines and sentences (reused when the work dir already holds the
one for this N and seed), `vnsearch index` indexes it, and `vnsearch serve`
(VNSEARCH_WORKERS / VNSEARCH_THREADS from --workers / --threads, else the
defaults) serves it on a free loopback port. The queries are drawn from the
archive itself, five kinds in turn: unaccented 1-3 words, quoted 2-3 word
phrases, 1-2 words with a date, author or category filter, 1-3 words sorted
newest first, and whole unaccented headlines.

What each figure means (MB = 10^6 bytes):

  articles/s        N / wall time of `vnsearch index FILE --index DIR --quiet`
  peak RSS / PSS    while indexing: the peak, over samples every 0.5 s, of the
                    sum over the indexing process and its children
  index MB/1k       size of the index directory per 1,000 articles
  server PSS / RSS  summed over the serve process and its forked workers
                    (/proc/PID/smaps_rollup): right after /healthz answers,
                    after the mix's 1,000 distinct queries (the first 300
                    twice, see cold/warm), and after 2,000 more requests that
                    each carry a new filter combination (a date range never
                    used before, with author(s) and/or a category; half with
                    words)
  cold p50/p95      latency of the first 300 queries after the server starts,
                    sent by as many concurrent keep-alive clients as the server
                    has threads (workers x threads), so every thread gets work
  warm p50/p95      the same 300 queries again, right after
  restart cold/warm the same two measurements after stopping and starting the
                    server again (the OS page cache now holds the index)
  zero-result       warm server: nonsense words ("xyzqwv"), misspelled words
                    ("hoc sinhh gioi"), vs "normal": as many fresh queries
                    of the mix's kinds, sent just before (same clients)
  req/s @8, @16     a fixed number of mix requests (600) over 8 and 16
                    concurrent keep-alive clients, divided by the wall time
  errors            every answer that is not 200, and every failed request

Then the ratios: each N against the smallest (articles/s, index size, server
PSS, warm and cold p95, requests/s) and cold/warm within each N. --json OUT
saves every figure (with per-kind latencies). The server (its whole process
group) and the indexer are stopped on exit, Ctrl+C and errors. The work dir is
removed at the end unless --keep; a --workdir that already existed keeps what
was in it before the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import synth  # noqa: E402
from bench.load import free_port, get_json, percentile  # noqa: E402
from bench.load import run as run_clients  # noqa: E402
from bench.querysets import fragment, unaccent, words  # noqa: E402

VNSEARCH = ROOT / ".venv" / "bin" / "vnsearch"
SAMPLE_INTERVAL = 0.5  # seconds between memory samples while indexing
REQUEST_TIMEOUT = 120.0
NO_DEADLINE = 1e9  # bench.load.run stops at a request count or a duration: use the count
KINDS = ("words", "phrase", "filter", "newest", "headline")


@dataclass
class Plan:
    cold: int = 300  # queries measured cold, then warm
    mixed: int = 1000  # distinct queries served before the second memory reading
    filters: int = 2000  # requests with a new filter combination each
    zero: int = 100  # zero-result / misspelled queries (and as many normal ones)
    throughput: int = 600  # requests per throughput run
    clients: tuple = (8, 16)


QUICK = Plan(cold=100, mixed=300, filters=200, zero=40, throughput=200)


# -- processes and memory ------------------------------------------------------

def _ppid_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces and ')'
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (found through /proc/*/stat ppid)."""
    children = _ppid_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def memory_mb(pids) -> tuple[float, float]:
    """(RSS, PSS) summed over ``pids``, in MB; processes that are gone count 0."""
    figures = memory_parts_mb(pids)
    return figures["Rss"], figures["Pss"]


def memory_parts_mb(pids) -> dict[str, float]:
    """RSS, PSS and PSS of file pages (Pss_File: mapped index files and
    libraries) summed over ``pids``, in MB."""
    totals = {"Rss": 0, "Pss": 0, "Pss_File": 0}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    name, _, rest = line.partition(":")
                    if name in totals:
                        totals[name] += int(rest.split()[0])
        except (OSError, ValueError):
            continue
    return {name: kb * 1024 / 1e6 for name, kb in totals.items()}


class PeakSampler:
    """Samples a process tree's summed RSS and PSS in a thread; keeps the peaks."""

    def __init__(self, root: int, interval: float = SAMPLE_INTERVAL):
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_pss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            rss, pss = memory_mb(process_tree(self.root))
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_group(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """Stop a process started with start_new_session=True and everything in its
    process group: SIGINT (a clean stop for `serve`), after ``grace`` s SIGKILL."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:  # the whole group is gone
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            if not _group_alive(pgid):
                break
            time.sleep(0.1)
    proc.wait()


# -- indexing ------------------------------------------------------------------

def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def index_timeout(n: int) -> float:
    """Slower than 5 articles/s (plus start-up) counts as hung."""
    return 120 + n / 5


def build_index(archive: Path, index_dir: Path, n: int, log: Path) -> dict:
    """Index ``archive`` with the real CLI; time it, sample its memory."""
    shutil.rmtree(index_dir, ignore_errors=True)
    command = [str(VNSEARCH), "index", str(archive), "--index", str(index_dir), "--quiet"]
    with open(log, "ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            with PeakSampler(proc.pid) as sampler:
                code = proc.wait(timeout=index_timeout(n))
        except subprocess.TimeoutExpired:
            raise SystemExit(f"vnsearch index took over {index_timeout(n):,.0f} s (hung?); "
                             f"see {log}") from None
        finally:
            stop_group(proc)
        seconds = time.perf_counter() - started
    if code not in (0, 1):  # 1: some records rejected (reported in the log)
        raise SystemExit(f"vnsearch index exited with {code}; see {log}")
    size = dir_size(index_dir)
    return {"index_seconds": seconds, "articles_per_s": n / seconds, "index_exit": code,
            "index_peak_rss_mb": sampler.peak_rss, "index_peak_pss_mb": sampler.peak_pss,
            "index_mb": size / 1e6, "index_mb_per_1k": size / 1e6 / n * 1000}


# -- serving -------------------------------------------------------------------

class Server:
    """`vnsearch serve` in its own process group, on a free loopback port."""

    def __init__(self, index_dir: Path, log: Path, workers: int | None, threads: int | None):
        self.index_dir, self.log = index_dir, log
        self.env = dict(os.environ)
        for name, value in (("VNSEARCH_WORKERS", workers), ("VNSEARCH_THREADS", threads)):
            if value:
                self.env[name] = str(value)
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.workers = self.threads = 0

    def start(self, timeout: float = 300.0) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        command = [str(VNSEARCH), "serve", "--index", str(self.index_dir), "--port", str(port)]
        log_start = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline, last = time.monotonic() + timeout, "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"vnsearch serve exited with {self.proc.returncode}; see {self.log}")
            try:
                status, body = get_json(self.base, "/healthz", timeout=10)
                if status == 200:
                    break
                last = f"HTTP {status} {str(body)[:200]}"
            except (OSError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.2)
        else:
            raise SystemExit(f"vnsearch serve did not answer /healthz within {timeout:.0f} s "
                             f"(last: {last}); see {self.log}")
        with open(self.log, "rb") as handle:
            handle.seek(log_start)
            banner = re.search(rb"\((\d+) processes x (\d+) threads", handle.read())
        if not banner:
            raise SystemExit(f"cannot read workers x threads from the serve banner in {self.log}")
        self.workers, self.threads = int(banner.group(1)), int(banner.group(2))
        self._wait_for_workers()

    def _wait_for_workers(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid) if self.proc else []

    def memory(self) -> dict:
        pids = self.pids()
        parts = memory_parts_mb(pids)
        return {"processes": len(pids), "rss_mb": parts["Rss"], "pss_mb": parts["Pss"],
                "pss_file_mb": parts["Pss_File"]}

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None


# -- queries -------------------------------------------------------------------

def sample_records(archive: Path, n: int, want: int = 3000) -> list[dict]:
    """Every (n // want)-th article of the archive, streamed."""
    stride = max(1, n // want)
    sample = []
    with open(archive, encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i % stride == 0:
                sample.append(json.loads(line))
    return sample


def _day(record: dict) -> date:
    return date.fromisoformat(record["published"][:10])


def _words_query(rng: random.Random, record: dict, low: int, high: int) -> str:
    text = record["title"] if rng.random() < 0.5 else record["body"]
    return unaccent(fragment(rng, text, rng.randint(low, high)) or "")


def make_query(kind: str, rng: random.Random, record: dict, filter_no: int) -> dict | None:
    """The API parameters of one query of ``kind`` drawn from ``record``."""
    if kind == "words":
        return {"q": _words_query(rng, record, 1, 3)}
    if kind == "phrase":
        sentence = rng.choice(synth.split_sentences(record["body"]) or [record["body"]])
        phrase = fragment(rng, sentence, rng.randint(2, 3))
        return {"q": f'"{phrase}"'} if phrase else None
    if kind == "filter":
        params = {"q": _words_query(rng, record, 1, 2)}
        which = ("date", "author", "category")[filter_no % 3]
        if which == "date":
            day = _day(record)
            params["from"] = (day - timedelta(days=rng.randint(0, 365))).isoformat()
            params["to"] = (day + timedelta(days=rng.randint(0, 365))).isoformat()
        else:
            params[which] = record[which]
        return params
    if kind == "newest":
        return {"q": _words_query(rng, record, 1, 3), "sort": "newest"}
    if kind == "headline":
        return {"q": unaccent(record["title"])}
    raise ValueError(kind)


def api_path(params: dict) -> str:
    return "/api/search?" + urlencode(params, doseq=True)


def build_mix(records: list[dict], count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` distinct (kind, path) queries, the kinds in turn."""
    rng = random.Random(f"mix-{seed}")
    mix, seen, filters = [], set(), 0
    while len(mix) < count:
        kind = KINDS[len(mix) % len(KINDS)]
        params = make_query(kind, rng, rng.choice(records), filters)
        if not params or not params["q"].strip('" '):
            continue
        path = api_path(params)
        if path in seen:
            continue
        seen.add(path)
        filters += kind == "filter"
        mix.append((kind, path))
    return mix


def _misspell(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word))
    edits = (word[:i] + word[i] + word[i:],  # doubled letter: sinhh
             word[:i] + word[i + 1:] if len(word) > 2 else word + "x",  # dropped letter
             word[:i] + rng.choice("aeiouy") + word[i + 1:])  # vowel swapped
    return rng.choice(edits)


def build_zero_queries(records: list[dict], count: int, seed: int) -> list[tuple[str, str]]:
    """Nonsense letter strings and misspelled real words, alternating."""
    rng = random.Random(f"zero-{seed}")
    queries = ["xyzqwv", "hoc sinhh gioi"]
    while len(queries) < count:
        if len(queries) % 2:
            letters = string.ascii_lowercase
            queries.append(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(5, 9)))
                                    for _ in range(rng.randint(1, 2))))
        else:
            real = [w for w in words(_words_query(rng, rng.choice(records), 2, 3)) if len(w) > 1]
            if real:
                k = rng.randrange(len(real))
                real[k] = _misspell(rng, real[k])
                queries.append(" ".join(real))
    return [("zero", api_path({"q": q})) for q in queries[:count]]


def build_filter_requests(records: list[dict], count: int, seed: int,
                          authors: list[str], categories: list[str]) -> list[tuple[str, str]]:
    """``count`` requests, each with a date range never used before (so every
    combination is new) and, in turn, an author; a category; two authors and a
    category. Half of them have words too."""
    rng = random.Random(f"filters-{seed}")
    first, days = synth.FIRST_DAY.date(), (synth.LAST_DAY - synth.FIRST_DAY).days
    ranges, requests = set(), []
    while len(requests) < count:
        start = first + timedelta(days=rng.randrange(days))
        end = start + timedelta(days=rng.randint(1, 3 * 365))
        if (start, end) in ranges:
            continue
        ranges.add((start, end))
        i = len(requests)
        params = {"from": start.isoformat(), "to": end.isoformat()}
        if i % 3 != 1:
            params["author"] = rng.sample(authors, 2 if i % 3 == 2 else 1)
        if i % 3 != 0:
            params["category"] = categories[i % len(categories)]
        if i % 2:
            params["q"] = _words_query(rng, rng.choice(records), 1, 2)
        requests.append(("filters", api_path(params)))
    return requests


# -- measuring -----------------------------------------------------------------

def clients_run(server: Server, requests, clients: int, count: int) -> dict:
    """bench.load.run (``count`` requests of ``requests`` in turn over ``clients``
    keep-alive connections) in a helper thread, so that Ctrl+C reaches the
    main thread at once: it then stops the server and the clients fail fast."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = run_clients(server.base, requests, clients, count,
                                            NO_DEADLINE, REQUEST_TIMEOUT)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def send(server: Server, requests, clients: int) -> dict:
    """Every request once, spread over ``clients`` keep-alive connections."""
    return clients_run(server, requests, clients, len(requests))


def latency(result: dict, kind: str | None = None) -> dict:
    values = sorted(result["latencies"].get(kind, []) if kind else result["all"])
    return {"p50_ms": percentile(values, 0.50) * 1000, "p95_ms": percentile(values, 0.95) * 1000,
            "count": len(values)}


def by_kind(result: dict) -> dict:
    return {kind: latency(result, kind) for kind in sorted(result["latencies"])}


def cold_and_warm(server: Server, queries, clients: int, errors: dict, label: str) -> dict:
    cold = send(server, queries, clients)
    warm = send(server, queries, clients)
    errors[label + " cold"] = cold["errors"]
    errors[label + " warm"] = warm["errors"]
    return {"cold": latency(cold), "warm": latency(warm),
            "cold_by_kind": by_kind(cold), "warm_by_kind": by_kind(warm)}


def measure_served(index_dir: Path, archive: Path, n: int, args, plan: Plan, log: Path) -> dict:
    records = sample_records(archive, n)
    authors = synth.author_names(args.seed)
    categories = sorted({r["category"] for r in records})
    mix = build_mix(records, plan.mixed + plan.zero, args.seed)
    mix, fresh = mix[:plan.mixed], mix[plan.mixed:]
    zero = build_zero_queries(records, plan.zero, args.seed)
    fresh = [("normal", path) for _, path in fresh]
    filters = build_filter_requests(records, plan.filters, args.seed, authors, categories)
    errors: dict[str, int] = {}
    out: dict = {}

    server = Server(index_dir, log, args.workers, args.threads)
    try:
        server.start()
        clients = server.workers * server.threads
        out.update(workers=server.workers, threads=server.threads, cold_clients=clients)
        out["mem_start"] = server.memory()
        out["first_start"] = cold_and_warm(server, mix[:plan.cold], clients, errors, "first start")
        rest = send(server, mix[plan.cold:], clients)
        errors["rest of the mix"] = rest["errors"]
        out["mem_after_queries"] = server.memory()
        for name, queries in (("normal", fresh), ("zero_result", zero)):
            result = send(server, queries, clients)
            errors[name] = result["errors"]
            out[name] = latency(result)
        filtered = send(server, filters, clients)
        errors["filters"] = filtered["errors"]
        out["filter_requests"] = latency(filtered)
        out["mem_after_filters"] = server.memory()
        out["throughput"] = {}
        for count in plan.clients:
            result = clients_run(server, mix, count, plan.throughput)
            errors[f"throughput {count} clients"] = result["errors"]
            out["throughput"][str(count)] = {
                "requests": result["requests"], "seconds": result["seconds"],
                "requests_per_s": result["requests"] / result["seconds"], **latency(result)}
        server.stop()
        server.start()
        out["mem_restart"] = server.memory()
        out["restart"] = cold_and_warm(server, mix[:plan.cold], clients, errors, "restart")
    finally:
        server.stop()
    out["errors"] = sum(errors.values())
    out["errors_by_phase"] = errors
    return out


def index_path(workdir: Path, n: int, seed: int) -> Path:
    """Where the run keeps the index of the archive of ``n`` articles (``--keep``)."""
    return Path(workdir) / f"index-n{n}-s{seed}"


def measure(n: int, args, plan: Plan, workdir: Path, created: list[Path]) -> dict:
    print(f"\n== N = {n:,} ==", flush=True)
    started = time.perf_counter()
    archive, written = synth.ensure_archive(workdir, n, args.seed)
    if written:
        created.append(archive)
    print(f"archive  {archive.name}: {'written' if written else 'reused'} "
          f"({archive.stat().st_size / 1e6:,.0f} MB, {time.perf_counter() - started:,.0f} s)",
          flush=True)
    index_dir = index_path(workdir, n, args.seed)
    log = workdir / f"scale-n{n}-s{args.seed}.log"
    for path in (index_dir, log):
        if not path.exists():
            created.append(path)
    row: dict = {"n": n}
    if args.skip_index and index_dir.is_dir() and any(index_dir.iterdir()):
        print(f"index    {index_dir.name}: reused (--skip-index)", flush=True)
        row.update(index_mb=dir_size(index_dir) / 1e6,
                   index_mb_per_1k=dir_size(index_dir) / 1e6 / n * 1000)
    else:
        row.update(build_index(archive, index_dir, n, log))
        print(f"index    {row['index_seconds']:,.1f} s, {row['articles_per_s']:,.0f} articles/s, "
              f"peak RSS {row['index_peak_rss_mb']:,.0f} MB / PSS {row['index_peak_pss_mb']:,.0f} MB, "
              f"{row['index_mb']:,.0f} MB", flush=True)
    row.update(measure_served(index_dir, archive, n, args, plan, log))
    print(f"served   {row['workers']} x {row['threads']} threads; cold p95 "
          f"{row['first_start']['cold']['p95_ms']:,.1f} ms, warm p95 "
          f"{row['first_start']['warm']['p95_ms']:,.1f} ms, "
          f"{row['throughput'][str(plan.clients[0])]['requests_per_s']:,.1f} req/s "
          f"@{plan.clients[0]}, {row['errors']} errors", flush=True)
    return row


# -- report --------------------------------------------------------------------

def _fmt(value, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def _ratio(a, b) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [title, "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _pair(figures: dict) -> str:
    return f"{_fmt(figures['p50_ms'])} / {_fmt(figures['p95_ms'])}"


def _mem(figures: dict) -> str:
    shown = f"{_fmt(figures['pss_mb'], 0)} / {_fmt(figures['rss_mb'], 0)}"
    return shown + (f" ({_fmt(figures['pss_file_mb'], 0)})" if "pss_file_mb" in figures else "")


def report(rows: list[dict], plan: Plan) -> str:
    a, b = plan.clients
    n = [f"{r['n']:,}" for r in rows]
    tables = [
        _table("Indexing", ["N", "articles/s", "wall s", "peak RSS MB", "peak PSS MB", "index MB/1k"],
               [[n[i], _fmt(r.get("articles_per_s"), 0), _fmt(r.get("index_seconds")),
                 _fmt(r.get("index_peak_rss_mb"), 0), _fmt(r.get("index_peak_pss_mb"), 0),
                 _fmt(r["index_mb_per_1k"], 2)] for i, r in enumerate(rows)]),
        _table("Server memory, all processes summed, PSS / RSS MB (PSS of mapped files)",
               ["N", "procs", "after start", f"after {plan.mixed:,} queries",
                f"after {plan.filters:,} filters", "after restart"],
               [[n[i], str(r["mem_start"]["processes"]), _mem(r["mem_start"]),
                 _mem(r["mem_after_queries"]), _mem(r["mem_after_filters"]), _mem(r["mem_restart"])]
                for i, r in enumerate(rows)]),
        _table(f"Latency p50 / p95 ms ({plan.cold} queries from workers x threads clients; "
               f"{plan.zero} zero-result vs {plan.zero} fresh normal, warm)",
               ["N", "clients", "cold", "warm", "restart cold", "restart warm", "zero-result",
                "normal", f"{plan.filters:,} filters"],
               [[n[i], str(r["cold_clients"]), _pair(r["first_start"]["cold"]),
                 _pair(r["first_start"]["warm"]), _pair(r["restart"]["cold"]),
                 _pair(r["restart"]["warm"]), _pair(r["zero_result"]), _pair(r["normal"]),
                 _pair(r["filter_requests"])] for i, r in enumerate(rows)]),
        _table(f"Throughput ({plan.throughput} mix requests, keep-alive clients)",
               ["N", f"req/s @{a}", f"p95 ms @{a}", f"req/s @{b}", f"p95 ms @{b}", "errors"],
               [[n[i], _fmt(r["throughput"][str(a)]["requests_per_s"]),
                 _fmt(r["throughput"][str(a)]["p95_ms"]),
                 _fmt(r["throughput"][str(b)]["requests_per_s"]),
                 _fmt(r["throughput"][str(b)]["p95_ms"]), str(r["errors"])]
                for i, r in enumerate(rows)]),
    ]
    base = rows[0]

    def warm95(r):
        return r["first_start"]["warm"]["p95_ms"]

    def cold95(r):
        return r["first_start"]["cold"]["p95_ms"]

    tables.append(_table(
        f"Growth: each N against N = {base['n']:,}",
        ["N", "N", "articles/s", "index MB/1k", "PSS after filters", "warm p95", "cold p95",
         f"req/s @{a}", f"req/s @{b}"],
        [[n[i], _ratio(r["n"], base["n"]), _ratio(r.get("articles_per_s"), base.get("articles_per_s")),
          _ratio(r["index_mb_per_1k"], base["index_mb_per_1k"]),
          _ratio(r["mem_after_filters"]["pss_mb"], base["mem_after_filters"]["pss_mb"]),
          _ratio(warm95(r), warm95(base)), _ratio(cold95(r), cold95(base)),
          _ratio(r["throughput"][str(a)]["requests_per_s"], base["throughput"][str(a)]["requests_per_s"]),
          _ratio(r["throughput"][str(b)]["requests_per_s"], base["throughput"][str(b)]["requests_per_s"])]
         for i, r in enumerate(rows)]))
    tables.append(_table(
        "Cold / warm within each N (p95 unless said)",
        ["N", "cold/warm", "cold/warm p50", "restart cold/warm", "zero-result/normal",
         "PSS filters/start"],
        [[n[i], _ratio(cold95(r), warm95(r)),
          _ratio(r["first_start"]["cold"]["p50_ms"], r["first_start"]["warm"]["p50_ms"]),
          _ratio(r["restart"]["cold"]["p95_ms"], r["restart"]["warm"]["p95_ms"]),
          _ratio(r["zero_result"]["p95_ms"], r["normal"]["p95_ms"]),
          _ratio(r["mem_after_filters"]["pss_mb"], r["mem_start"]["pss_mb"])]
         for i, r in enumerate(rows)]))
    return "\n\n".join(tables)


# -- main ----------------------------------------------------------------------

def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def work_dir(given: str | None, prefix: str) -> tuple[Path, bool]:
    """The work directory (``--workdir``, or a new temporary one) and whether
    this run made it (then ``cleanup`` removes it whole)."""
    if given:
        workdir = Path(given).resolve()
        made = not workdir.exists()
        workdir.mkdir(parents=True, exist_ok=True)
        return workdir, made
    return Path(tempfile.mkdtemp(prefix=prefix)), True


def stop_on_signals() -> None:
    """SIGINT, SIGTERM and SIGHUP stop a run as Ctrl+C does (SIGINT too:
    `cmd &` starts with it ignored), so its servers and files are cleaned up."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)


def cleanup(workdir: Path, made_workdir: bool, created: list[Path], keep: bool = False) -> None:
    """Remove what the run made (the work dir if it made it, else the files
    it created there), or with ``keep`` say where it all is."""
    if keep:
        print(f"kept {workdir}")
        return
    if made_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    for path in created:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", help="archive sizes (default 40000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="archives, indexes and logs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--skip-index", action="store_true",
                        help="reuse the index already in the work dir for this N and seed")
    parser.add_argument("--workers", type=int, help="VNSEARCH_WORKERS for the server")
    parser.add_argument("--threads", type=int, help="VNSEARCH_THREADS for the server")
    parser.add_argument("--json", metavar="OUT", help="save every figure as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=2000, fewer requests")
    args = parser.parse_args(argv)
    if not VNSEARCH.exists():
        raise SystemExit(f"{VNSEARCH} is missing: run `make` to install the virtualenv")
    plan = QUICK if args.quick else Plan()
    sizes = sorted(set(args.n or ([2000] if args.quick else [40000])))

    workdir, made_workdir = work_dir(args.workdir, "vnsearch-scale-")
    created: list[Path] = []
    stop_on_signals()
    rows = []
    try:
        print(f"work dir {workdir}; plan {asdict(plan)}", flush=True)
        for n in sizes:
            rows.append(measure(n, args, plan, workdir, created))
            _save(args, rows, plan)  # each finished size, in case a longer one is stopped
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        if rows:
            print("\nthe sizes that finished:\n" + report(rows, plan))
        return 130
    finally:
        cleanup(workdir, made_workdir, created, args.keep)
    print("\n" + report(rows, plan))
    if args.json:
        print(f"\nfigures saved to {args.json}")
    return 1 if any(r["errors"] for r in rows) else 0


def _save(args, rows: list[dict], plan: Plan) -> None:
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"seed": args.seed, "plan": asdict(plan), "rows": rows}, out, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    sys.exit(main())
