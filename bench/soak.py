"""Soak benchmark: readers, an editor and a filter/page client for half an hour.

    .venv/bin/python bench/soak.py [--minutes 30] [--n 5000] [--seed 1] [--index DIR]
        [--workdir DIR] [--keep] [--interval 30] [--warmup 60] [--workers W] [--threads T]
        [--json OUT]

    nice -n 10 .venv/bin/python bench/soak.py --minutes 3      # a short check

The index: bench/synth.py writes a deterministic archive of --n real-text
articles (VNTC headlines and sentences, dates 2000-2026, ~300 authors, the
VNTC categories) into the work dir and `vnsearch index` indexes it, as
bench/scale.py does. With --index DIR the index in DIR is used when DIR
holds one, and built there (and kept) when it does not; it must have been
built from the same --n and --seed, since the queries are drawn from that
archive. The server always serves a copy in the work dir, so DIR itself is
never written. `vnsearch serve` serves the copy on a free 127.0.0.1 port
with the default workers and threads (VNSEARCH_WORKERS and VNSEARCH_THREADS
are removed from its environment unless --workers / --threads), with
VNSEARCH_API_TOKEN set to a random token, and with TMPDIR set to an empty
folder of the work dir: that folder is what `tempfile.gettempdir()` returns
in the server, so everything in it was made by the server (the system temp
folder is shared with other programs, so its growth cannot be attributed).

The load, all at once for --minutes:

  readers   8 concurrent keep-alive clients, each sending the next query of
            a cycle of 3,000 distinct ones drawn from the archive
            (bench/scale.py's mix: unaccented 1-3 words, quoted phrases,
            words with a date, author or category filter, newest first,
            whole unaccented headlines), as fast as they are answered
  pager     one keep-alive client whose every request has a filter
            combination never sent before: a new date range each time,
            with categories, authors (one, or two and a category) or words
            in turn, and pages 1-15 of broad ones, sorted in turn
  editor    a write set every second, on one keep-alive connection: POST a
            new article (expects 201), POST a new version of the one it
            added 3 sets before (expects 200: a replacement) and DELETE the
            one it added 6 sets before (expects 200). So the index keeps
            N + 6 live articles and gets up to 3 commits a second. Each
            version carries a unique marker word in its title. A set that
            takes over a second delays the next, which then starts at once
            (counted as late); missed seconds are never made up in a burst.
            The sets per second achieved are printed at the end.
  checks    after each write, polls until the write is visible, each poll on
            a new connection (so polls land on any server process): for an
            add or a replace, GET /api/articles/ID answers 200 with the new
            title and a search for the new marker finds ID (for a replace,
            a search for the previous marker no longer finds it); for a
            delete, GET answers 404 and a search for its marker does not
            find it. Polls start every 0.1 s; the write counts as visible at
            the start of the first of 3 polls in a row that all see it, and
            its delay is measured from the moment the write's answer
            arrived. After 10 s it counts as never visible.

Every answer other than the expected status (200 for reads; 201/200/200 for
the writes; 404 as well for a checker's GET, whose article may not exist
yet or any more) and every connection error or timeout (30 s) is an error,
listed with its time, request, status and body; the server log is scanned
for tracebacks.

Every --interval seconds (30) the sampler reads, over the serve process and
its forked workers: RSS and PSS summed (/proc/PID/smaps_rollup), open file
descriptors (/proc/PID/fd entries), and the deleted files they still hold
open or mapped (/proc/PID/fd, /proc/PID/maps: disk space only they can
free); the served index folder's file count, size and segments (*.seg); and
the server's temp folder's entries (files and folders, recursively) and
size. It prints one row of the trend table per sample, and the table again
at the end.

The verdicts (exit 1 if any fails):

  errors          0
  visibility      every write visible within 2 s (max and p95 printed)
  processes       the server's processes are the same at every sample (none
                  died and was replaced)
  flat            RSS, fds, the temp folder's entries and bytes, and the
                  index's size and file count: the mean over the last
                  third of the steady samples is at most 10% above the mean
                  over the first third (a fall passes; when the first third's
                  mean is 0 the last third's must be 0). Steady samples: those
                  taken at or after --warmup seconds (60). The sample at 0 s
                  is taken after /healthz answers, before any load, and is
                  never a steady one: the caches are empty then. The same
                  comparison over every sample taken under load (warm-up
                  included) is printed beside it for reference, not judged.
                  Deleted files still held get the same comparison, printed
                  (WARN when it fails) but not judged: the files of segments a
                  merge removed stay open or mapped until their holder moves
                  on, so the count jumps by a segment's ~28 files at a time.
  index bounded   the index's size passes that test although the editor
                  committed up to 3 times a second: merges, not commits, bound
                  it. Its file count follows the number of segments (a few of
                  ~28 files each, changed by every merge), so one segment more
                  at the last samples than at the first is +12%: the count is
                  judged by its growth per commit between the thirds instead,
                  under MAX_FILES_PER_COMMIT (a commit that left a segment
                  behind would add ~28)

Ctrl+C stops the load and reports on the samples taken so far (exit 130).
The work dir (default: a new temp dir) is removed at the end unless --keep;
a --workdir that already existed keeps what was in it before the run (an
archive written there is kept for the next run, as with --index).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import count, pairwise
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import synth  # noqa: E402
from bench.load import percentile  # noqa: E402
from bench.scale import (  # noqa: E402
    VNSEARCH,
    Server,
    _day,
    _words_query,
    api_path,
    build_index,
    build_mix,
    cleanup,
    memory_parts_mb,
    sample_records,
    stop_on_signals,
    work_dir,
)

READERS = 8
MIX_SIZE = 3000
REQUEST_TIMEOUT = 30.0
EDIT_EVERY = 1.0  # seconds between the editor's write sets
REPLACE_LAG, DELETE_LAG = 3, 6  # the editor replaces / deletes the article it added this many ticks ago
VISIBLE_WITHIN = 2.0
GIVE_UP_AFTER = 10.0  # a write not visible after this long counts as never visible
POLL_EVERY = 0.1
CONFIRMATIONS = 3  # polls in a row that must all see a write
FLAT_TOLERANCE = 0.10
MAX_FILES_PER_COMMIT = 0.1  # files the index may gain per commit between the thirds (see "index bounded")
PAGES = 15  # pages of the pager's broad requests
CHECKERS = 16  # threads polling for visibility
SHOWN_ERRORS = 20


# -- HTTP ------------------------------------------------------------------------

class Connection:
    """One HTTP/1.1 connection, kept alive unless ``keep_alive`` is False (then
    every request goes on a new one, with ``Connection: close``). No retries:
    a connection the server drops is an error for the caller to count."""

    def __init__(self, base: str, keep_alive: bool = True):
        parts = urlsplit(base)
        self.host, self.port, self.keep_alive = parts.hostname, parts.port, keep_alive
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        headers = dict(headers or {})
        if not self.keep_alive:
            headers["Connection"] = "close"
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close or not self.keep_alive:
            self.close()
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Recorder:
    """Every request's latency by kind, every error, every write and its
    visibility delay; thread-safe. ``interval`` figures restart at each sample."""
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    errors: list = field(default_factory=list)
    interval_requests: int = 0
    interval_reads: list = field(default_factory=list)
    interval_delays: list = field(default_factory=list)
    visibility: list = field(default_factory=list)  # (op, id, delay s or None)
    write_sets: int = 0
    late_sets: int = 0
    commit_times: list = field(default_factory=list)  # s since the start, each successful write

    def call(self, conn: Connection, kind: str, method: str, path: str, expected=(200,),
             body: bytes | None = None, headers: dict | None = None) -> tuple[int | None, bytes]:
        started = time.perf_counter()
        try:
            status, data = conn.request(method, path, body, headers)
            failure = None if status in expected else f"HTTP {status}: {data[:300].decode(errors='replace')}"
        except (OSError, http.client.HTTPException) as exc:
            status, data, failure = None, b"", f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(elapsed)
            self.interval_requests += 1
            if kind == "reader":
                self.interval_reads.append(elapsed)
            if failure:
                self.errors.append({"at": time.strftime("%H:%M:%S"), "t": time.monotonic() - self.started,
                                    "kind": kind, "request": f"{method} {path}", "failure": failure})
        return status, data

    def seen(self, op: str, article_id: str, delay: float | None) -> None:
        with self.lock:
            self.visibility.append((op, article_id, delay))
            self.interval_delays.append(GIVE_UP_AFTER if delay is None else delay)

    def take_interval(self) -> dict:
        with self.lock:
            out = {"requests": self.interval_requests, "reads": sorted(self.interval_reads),
                   "delays": self.interval_delays, "errors": len(self.errors),
                   "write_sets": self.write_sets}
            self.interval_requests, self.interval_reads, self.interval_delays = 0, [], []
        return out


# -- the load ----------------------------------------------------------------------

def pager_requests(records: list[dict], seed: int):
    """An endless series of searches, each with a filter combination never
    sent before: a new date range every time, and in turn a category (pages
    1-15, newest or oldest first), one author, two authors and a category,
    words (pages 1-5, by relevance)."""
    rng = random.Random(f"pager-{seed}")
    days = sorted({_day(r) for r in records if r.get("published")})
    first, span = (days[0], (days[-1] - days[0]).days + 1) if days else (date(2000, 1, 1), 1)
    authors = sorted({r["author"] for r in records if r.get("author")})
    categories = sorted({r["category"] for r in records if r.get("category")})
    seen: set[str] = set()
    for i in count():
        shape = i % 4
        for _attempt in range(1000):
            params: dict = {}
            if days:  # two days of the archive's span; at least half of it apart for deep pages
                low, high = sorted(rng.randrange(span) for _ in range(2))
                if shape == 0 and high - low < span // 2:
                    low = rng.randrange(span - span // 2)
                    high = low + span // 2 + rng.randrange(span - span // 2 - low)
                params.update({"from": (first + timedelta(days=low)).isoformat(),
                               "to": (first + timedelta(days=high)).isoformat()})
            if shape == 0 and categories:
                params.update(category=categories[(i // 4) % len(categories)],
                              sort=("newest", "oldest")[(i // 4) % 2], page=1 + (i // 8) % PAGES)
            elif shape == 1 and authors:
                params["author"] = authors[(i // 4) % len(authors)]
            elif shape == 2 and authors and categories:
                params.update(author=rng.sample(authors, min(2, len(authors))),
                              category=categories[(i // 4) % len(categories)])
            else:
                params.update(q=_words_query(rng, rng.choice(records), 1, 2) or "tin",
                              page=1 + (i // 4) % 5)
            path = api_path(params)
            if path not in seen:
                break
        seen.add(path)
        yield path


def marker(number: int) -> str:
    """A unique made-up word for a version of an editor's article."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            break
    return "soakzq" + letters


@dataclass
class Version:
    article_id: str
    marker: str
    title: str
    previous_marker: str | None = None


class Load:
    """The readers, the pager, the editor and the visibility checks, in threads."""

    def __init__(self, base: str, token: str, records: list[dict], seed: int, recorder: Recorder):
        self.base, self.token, self.records, self.seed = base, token, records, seed
        self.rec = recorder
        self.mix = build_mix(records, MIX_SIZE, seed)
        self.stop = threading.Event()
        self.checkers = ThreadPoolExecutor(CHECKERS, thread_name_prefix="check")
        self.threads = [threading.Thread(target=self._reader, args=(i,), daemon=True, name=f"reader-{i}")
                        for i in range(READERS)]
        self.threads.append(threading.Thread(target=self._pager, daemon=True, name="pager"))
        self.threads.append(threading.Thread(target=self._editor, daemon=True, name="editor"))
        self.run_tag = secrets.token_hex(3)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        """Stop sending; wait for the writes' visibility checks (<= GIVE_UP_AFTER s)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(REQUEST_TIMEOUT + 5)
        self.checkers.shutdown(wait=True)

    def _reader(self, number: int) -> None:
        conn = Connection(self.base)
        try:
            for i in count(number * (len(self.mix) // READERS)):
                if self.stop.is_set():
                    return
                self.rec.call(conn, "reader", "GET", self.mix[i % len(self.mix)][1])
        finally:
            conn.close()

    def _pager(self) -> None:
        conn = Connection(self.base)
        try:
            for path in pager_requests(self.records, self.seed):
                if self.stop.is_set():
                    return
                self.rec.call(conn, "pager", "GET", path)
        finally:
            conn.close()

    # -- the editor ------------------------------------------------------------
    def _article(self, tick: int, version: Version, revised: bool) -> bytes:
        source = self.records[tick % len(self.records)]
        body = source["body"] + (f" Bài viết được cập nhật lúc {time.strftime('%H:%M:%S')}." if revised else "")
        article = {"id": version.article_id, "title": version.title, "lead": source.get("lead"),
                   "body": body, "author": source.get("author"), "category": source.get("category"),
                   "source": source.get("source"), "published": source.get("published"),
                   "url": f"https://example.vn/{version.article_id}.html"}
        return json.dumps(article, ensure_ascii=False).encode()

    def _write(self, conn: Connection, op: str, method: str, path: str, expected: int,
               body: bytes | None = None) -> bool:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        status, _ = self.rec.call(conn, "write " + op, method, path, (expected,), body, headers)
        if status == expected:
            with self.rec.lock:
                self.rec.commit_times.append(time.monotonic() - self.rec.started)
        return status == expected

    def _editor(self) -> None:
        conn = Connection(self.base)
        versions: dict[int, Version] = {}
        next_at = time.monotonic()
        try:
            for tick in count():
                if self.stop.wait(max(0.0, next_at - time.monotonic())):
                    return
                self._write_set(conn, tick, versions)
                with self.rec.lock:
                    self.rec.write_sets += 1
                next_at += EDIT_EVERY
                now = time.monotonic()
                if next_at < now:  # the set took over a second: the next starts now, no catching up
                    with self.rec.lock:
                        self.rec.late_sets += 1
                    next_at = now
        finally:
            conn.close()

    def _write_set(self, conn: Connection, tick: int, versions: dict[int, Version]) -> None:
        source = self.records[tick % len(self.records)]
        new = Version(f"soak-{self.run_tag}-{tick:06d}", marker(3 * tick), "")
        new.title = f"{source['title'] or 'Tin'} {new.marker}"
        if self._write(conn, "add", "POST", "/api/articles", 201, self._article(tick, new, False)):
            versions[tick] = new
            self._check("add", new)
        old = versions.get(tick - REPLACE_LAG)
        if old is not None:
            fresh = Version(old.article_id, marker(3 * tick + 1), "", previous_marker=old.marker)
            fresh.title = f"{self.records[(tick - REPLACE_LAG) % len(self.records)]['title'] or 'Tin'} {fresh.marker}"
            if self._write(conn, "replace", "POST", "/api/articles", 200,
                           self._article(tick - REPLACE_LAG, fresh, True)):
                versions[tick - REPLACE_LAG] = fresh
                self._check("replace", fresh)
        gone = versions.pop(tick - DELETE_LAG, None)
        if gone is not None:
            if self._write(conn, "delete", "DELETE", "/api/articles/" + quote(gone.article_id), 200):
                self._check("delete", gone)

    # -- visibility ------------------------------------------------------------
    def _check(self, op: str, version: Version) -> None:
        written = time.monotonic()
        self.checkers.submit(self._wait_visible, op, version, written)

    def _found(self, conn: Connection, search_marker: str) -> set[str] | None:
        query = {"q": search_marker, "facets": "false", "group": "off"}  # every match on its own
        status, data = self.rec.call(conn, "check", "GET", api_path(query))
        if status != 200:
            return None
        return {hit["id"] for hit in json.loads(data)["hits"]}

    def _visible(self, op: str, v: Version) -> bool:
        conn = Connection(self.base, keep_alive=False)
        status, data = self.rec.call(conn, "check", "GET", "/api/articles/" + quote(v.article_id),
                                     expected=(200, 404))
        if op == "delete":
            found = self._found(conn, v.marker) if status == 404 else None
            return found is not None and v.article_id not in found
        if status != 200 or json.loads(data).get("title") != v.title:
            return False
        found = self._found(conn, v.marker)
        if found is None or v.article_id not in found:
            return False
        if op == "replace":
            before = self._found(conn, v.previous_marker)
            return before is not None and v.article_id not in before
        return True

    def _wait_visible(self, op: str, version: Version, written: float) -> None:
        streak_from, streak = None, 0
        while True:
            poll = time.monotonic()
            if poll - written > GIVE_UP_AFTER:
                self.rec.seen(op, version.article_id, None)
                return
            if self._visible(op, version):
                streak_from = poll if streak == 0 else streak_from
                streak += 1
                if streak >= CONFIRMATIONS:
                    self.rec.seen(op, version.article_id, streak_from - written)
                    return
            else:
                streak = 0
            time.sleep(max(0.0, POLL_EVERY - (time.monotonic() - poll)))


# -- sampling --------------------------------------------------------------------

def _walk(folder: Path) -> tuple[int, int, int]:
    """(entries, files, bytes) under ``folder``; what vanishes meanwhile is skipped."""
    entries = files = size = 0
    for root, dirs, names in os.walk(folder):
        entries += len(dirs)
        for name in names:
            try:
                size += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
            entries += 1
            files += 1
    return entries, files, size


def held_files(pids, index_dir: Path) -> tuple[dict[str, int], dict[tuple[int, int], tuple[str, int, set]]]:
    """The processes' open descriptors, counted (all, sockets, files of the
    index), and the deleted files they hold open or mapped, by (device,
    inode): (path, bytes, the pids holding it)."""
    fds, deleted = {"all": 0, "sockets": 0, "index": 0}, {}
    index_prefix = str(index_dir) + os.sep
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        fds["all"] += len(names)
        for name in names:
            link = f"/proc/{pid}/fd/{name}"
            try:
                target = os.readlink(link)
                fds["sockets"] += target.startswith("socket:")
                fds["index"] += target.startswith(index_prefix)
                if target.endswith(" (deleted)"):
                    st = os.stat(link)
                    deleted.setdefault((st.st_dev, st.st_ino), (target, st.st_size, set()))[2].add(pid)
            except OSError:
                continue
        try:
            with open(f"/proc/{pid}/maps") as handle:
                for line in handle:
                    if not line.rstrip().endswith("(deleted)"):
                        continue
                    span, _perms, _offset, dev, inode, path = line.split(maxsplit=5)
                    low, high = (int(x, 16) for x in span.split("-"))
                    major, minor = (int(x, 16) for x in dev.split(":"))
                    key = (os.makedev(major, minor), int(inode))
                    # a mapping's size when no descriptor gave the file's
                    deleted.setdefault(key, (path.strip(), high - low, set()))[2].add(pid)
        except OSError:
            continue
    return fds, deleted


def deleted_summary(deleted: dict) -> str:
    """Deleted files held, by holding process and by segment (``MAIN_<id>``)."""
    if not deleted:
        return ""
    by_pid: dict[int, int] = defaultdict(int)
    segments: set[str] = set()
    for path, _size, pids in deleted.values():
        for pid in pids:
            by_pid[pid] += 1
        segments.update(part.split(".")[0] for part in Path(path.removesuffix(" (deleted)")).parts
                        if part.startswith("MAIN_"))
    held = ", ".join(f"pid {pid}: {n}" for pid, n in sorted(by_pid.items()))
    return (f"{len(deleted)} files, {sum(size for _, size, _ in deleted.values()) / 1e6:.2f} MB "
            f"({held}); of {len(segments)} segments: {', '.join(sorted(segments)[:8])}"
            f"{' ...' if len(segments) > 8 else ''}")


def take_sample(t: float, server: Server, index_dir: Path, tmp_dir: Path, interval: dict | None) -> dict:
    pids = server.pids()
    memory = memory_parts_mb(pids)
    fds, deleted = held_files(pids, index_dir)
    _entries, index_files, index_bytes = _walk(index_dir)
    segments = sum(1 for p in index_dir.iterdir() if p.name.endswith(".seg"))
    tmp_entries, _files, tmp_bytes = _walk(tmp_dir)
    row = {"t": t, "processes": len(pids), "rss_mb": memory["Rss"], "pss_mb": memory["Pss"],
           "fds": fds["all"], "socket_fds": fds["sockets"], "index_fds": fds["index"],
           "deleted_held": len(deleted),
           "deleted_held_mb": sum(size for _, size, _ in deleted.values()) / 1e6,
           "deleted_summary": deleted_summary(deleted), "pids": sorted(pids),
           "index_files": index_files, "index_mb": index_bytes / 1e6, "segments": segments,
           "tmp_entries": tmp_entries, "tmp_kb": tmp_bytes / 1e3}
    if interval is not None:
        row.update(requests=interval["requests"], reads=len(interval["reads"]),
                   read_p95_ms=percentile(interval["reads"], 0.95) * 1000,
                   vis_max_s=max(interval["delays"], default=float("nan")),
                   errors=interval["errors"], write_sets=interval["write_sets"])
    return row


# -- report --------------------------------------------------------------------

COLUMNS = (  # header, key, width, format
    ("t", "t", 6, None), ("req/s", "req_s", 6, ".0f"), ("rd p95ms", "read_p95_ms", 8, ".0f"),
    ("errors", "errors", 6, "d"), ("writes", "write_sets", 6, "d"), ("vis max s", "vis_max_s", 9, ".2f"),
    ("RSS MB", "rss_mb", 7, ".1f"), ("PSS MB", "pss_mb", 7, ".1f"), ("procs", "processes", 5, "d"),
    ("fds", "fds", 5, "d"), ("sock", "socket_fds", 4, "d"), ("idx fds", "index_fds", 7, "d"),
    ("idx files", "index_files", 9, "d"), ("idx MB", "index_mb", 7, ".2f"),
    ("segs", "segments", 4, "d"), ("tmp n", "tmp_entries", 5, "d"), ("tmp KB", "tmp_kb", 7, ".1f"),
    ("del held", "deleted_held", 8, "d"), ("", "note", 0, None))


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def table_header() -> str:
    return "  ".join(h.rjust(w) for h, _, w, _ in COLUMNS).rstrip()


def table_row(row: dict) -> str:
    cells = []
    for _, key, width, fmt in COLUMNS:
        if key == "t":
            value = _clock(row["t"])
        elif key == "req_s":
            value = (format(row["requests"] / row["span"], fmt) if row.get("span") else "-")
        else:
            raw = row.get(key)
            value = "-" if raw is None or raw != raw else (format(raw, fmt) if fmt else str(raw))
        cells.append(value.rjust(width))
    return "  ".join(cells).rstrip()


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def flat(samples: list[dict], key: str) -> dict:
    """Mean over the last third of ``samples`` against the first third."""
    k = len(samples) // 3
    first, last = _mean(s[key] for s in samples[:k]), _mean(s[key] for s in samples[-k:])
    ok = last <= first * (1 + FLAT_TOLERANCE) if first > 0 else last <= 0
    return {"first": first, "last": last, "ok": ok, "k": k,
            "change": (last / first - 1) if first > 0 else (0.0 if last <= 0 else float("inf"))}


def _pct(change: float) -> str:
    return "n/a" if change != change else ("+inf" if change == float("inf") else f"{change * 100:+.1f}%")


def verdicts(samples: list[dict], rec: Recorder, warmup: float) -> tuple[list[str], bool]:
    lines, all_ok = [], True

    def verdict(ok: bool, text: str, judged: bool = True) -> None:
        nonlocal all_ok
        if judged:
            all_ok &= ok
        lines.append(f"{('PASS' if ok else 'FAIL') if judged else ('note' if ok else 'WARN')}  {text}")

    total = sum(len(v) for v in rec.latencies.values())
    verdict(not rec.errors, f"errors: {len(rec.errors)} of {total:,} requests "
                            "(non-expected status or connection error)")

    delays = sorted(d for _, _, d in rec.visibility if d is not None)
    never = sum(1 for _, _, d in rec.visibility if d is None)
    slow = sum(1 for _, _, d in rec.visibility if d is not None and d > VISIBLE_WITHIN)
    by_op = defaultdict(list)
    for op, _, d in rec.visibility:
        by_op[op].append(d)
    parts = ", ".join(f"{op} {len(v)}" for op, v in sorted(by_op.items()))
    verdict(bool(rec.visibility) and not never and not slow,
            f"visibility: {len(rec.visibility)} writes checked ({parts}); "
            f"max {max(delays, default=float('nan')):.2f} s, p95 {percentile(delays, 0.95):.2f} s, "
            f"p50 {percentile(delays, 0.50):.2f} s; {slow} over {VISIBLE_WITHIN:.0f} s, "
            f"{never} not visible after {GIVE_UP_AFTER:.0f} s")

    changes = sum(a["pids"] != b["pids"] for a, b in pairwise(samples))
    verdict(not changes, f"server processes: {len(samples[0]['pids'])} at the start (pids "
                         f"{samples[0]['pids']}); the set changed between {changes} of "
                         f"{len(samples) - 1} samples (a worker died or was replaced)")

    loaded = [s for s in samples if s["t"] > 0]
    steady = [s for s in loaded if s["t"] >= warmup]
    if len(steady) < 3:
        verdict(False, f"flatness: only {len(steady)} steady samples (at least 3 needed): run longer")
        return lines, all_ok
    k = len(steady) // 3
    lines.append(f"      flatness: steady samples = the {len(steady)} taken at t >= {_clock(warmup)} "
                 f"(warm-up and the 0:00 sample, before any load, excluded); first third "
                 f"{_clock(steady[0]['t'])}-{_clock(steady[k - 1]['t'])}, last third "
                 f"{_clock(steady[-k]['t'])}-{_clock(steady[-1]['t'])} ({k} samples each); pass: "
                 f"last <= first x {1 + FLAT_TOLERANCE:.2f}")
    for key, label, unit in (("rss_mb", "RSS (all server processes)", "MB"), ("fds", "open fds", ""),
                             ("tmp_entries", "temp folder entries", ""), ("tmp_kb", "temp folder size", "KB"),
                             ("deleted_held", "deleted files still held (not judged)", "")):
        f, ref = flat(steady, key), flat(loaded, key)
        verdict(f["ok"], f"{label}: first third {f['first']:,.1f}{unit and ' ' + unit}, last third "
                         f"{f['last']:,.1f}{unit and ' ' + unit} ({_pct(f['change'])}); over every loaded "
                         f"sample incl. warm-up: {_pct(ref['change'])} (reference only)",
                # a thread keeps a merged-away segment open until its next request
                judged=key != "deleted_held")
    pss = flat(steady, "pss_mb")
    lines.append(f"      (PSS, not judged: first third {pss['first']:,.1f} MB, last third "
                 f"{pss['last']:,.1f} MB, {_pct(pss['change'])})")

    size, files = flat(steady, "index_mb"), flat(steady, "index_files")
    between = sum(1 for t in rec.commit_times if steady[k - 1]["t"] < t <= steady[-k]["t"])
    growth = (size["last"] - size["first"]) * 1e6
    per_commit = growth / between if between else float("nan")
    files_per_commit = (files["last"] - files["first"]) / between if between else 0.0
    verdict(size["ok"] and files_per_commit < MAX_FILES_PER_COMMIT,
            f"index bounded by merges: size first third {size['first']:.2f} MB, last third "
            f"{size['last']:.2f} MB ({_pct(size['change'])}); files {files['first']:.1f} -> "
            f"{files['last']:.1f} ({_pct(files['change'])}); {between:,} commits between the thirds "
            f"({len(rec.commit_times):,} in all): {per_commit:+,.0f} bytes and "
            f"{files_per_commit:+.3f} files per commit (pass: size within {FLAT_TOLERANCE:.0%}, "
            f"under {MAX_FILES_PER_COMMIT} files per commit)")
    return lines, all_ok


def latency_lines(rec: Recorder) -> list[str]:
    lines = [f"{'requests':<16}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"]
    for kind, values in sorted(rec.latencies.items()):
        values = sorted(values)
        lines.append(f"{kind:<16}{len(values):>8,}{percentile(values, .5) * 1000:>9.1f}"
                     f"{percentile(values, .95) * 1000:>9.1f}{values[-1] * 1000:>9.1f}")
    return lines


def log_problems(log: Path, offset: int) -> list[str]:
    """Tracebacks and error lines the server wrote during the run."""
    try:
        with open(log, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    lines = text.splitlines()
    queued = sum("Task queue depth" in line for line in lines)
    notes = [f"server log: {queued:,} waitress 'Task queue depth' warnings (requests waiting "
             "for a thread: the server was saturated)"] if queued else []
    flagged = [i for i, line in enumerate(lines)
               if "Traceback" in line or "ERROR" in line or "Exception" in line or "error" in line.lower()]
    if not flagged:
        return notes
    out = notes + [f"server log: {sum('Traceback' in line for line in lines)} tracebacks, "
           f"{len(flagged)} flagged lines; the first ones:"]
    shown = set()
    for i in flagged[:5]:
        for j in range(max(0, i - 2), min(len(lines), i + 30)):
            if j not in shown:
                shown.add(j)
                out.append("  | " + lines[j])
    return out


# -- main ------------------------------------------------------------------------

def prepare_index(args, workdir: Path, created: list[Path]) -> tuple[Path, Path, int]:
    """(archive, index dir, articles): the archive written or reused, the index built or reused."""
    started = time.perf_counter()
    archive, written = synth.ensure_archive(workdir, args.n, args.seed)
    n = args.n
    print(f"archive  {archive}: {'written' if written else 'reused'} "
          f"({time.perf_counter() - started:,.0f} s)", flush=True)
    if args.index:
        index_dir = Path(args.index).resolve()
        keep_index = True
    else:
        index_dir = workdir / f"index-{archive.stem}"
        keep_index = False
    if index_dir.is_dir() and any(index_dir.glob("*.toc")):
        print(f"index    {index_dir}: reused", flush=True)
    elif keep_index and index_dir.is_dir() and any(index_dir.iterdir()):
        raise SystemExit(f"{index_dir} holds no index but is not empty: not overwriting it")
    else:
        if not keep_index and not index_dir.exists():
            created.append(index_dir)
        figures = build_index(archive, index_dir, n, workdir / "index.log")
        print(f"index    {index_dir}: built, {n:,} articles in {figures['index_seconds']:,.1f} s, "
              f"{figures['index_mb']:,.1f} MB", flush=True)
    return archive, index_dir, n


def sample_loop(args, server: Server, served: Path, tmp_dir: Path, rec: Recorder, samples: list[dict],
                started: float, log: Path) -> None:
    """A sample every --interval seconds until --minutes, a table row each."""
    duration = args.minutes * 60
    for k in count(1):
        t = min(k * args.interval, duration)
        time.sleep(max(0.0, started + t - time.monotonic()))
        if server.proc is not None and server.proc.poll() is not None:
            raise SystemExit(f"the server exited with {server.proc.returncode}; see {log}")
        row = take_sample(time.monotonic() - started, server, served, tmp_dir, rec.take_interval())
        row["span"] = row["t"] - samples[-1]["t"]
        notes = ["warm-up"] if row["t"] < args.warmup else []
        if row["pids"] != samples[-1]["pids"]:
            notes.append(f"processes changed: +{sorted(set(row['pids']) - set(samples[-1]['pids']))} "
                         f"-{sorted(set(samples[-1]['pids']) - set(row['pids']))}")
        row["note"] = "; ".join(notes)
        samples.append(row)
        print(table_row(row), flush=True)
        if t >= duration:
            return


def run(args, workdir: Path, created: list[Path]) -> int:
    archive, source_index, n = prepare_index(args, workdir, created)
    records = sample_records(archive, n)
    served = workdir / "served-index"
    tmp_dir = workdir / "server-tmp"
    log = workdir / "serve.log"
    for path in (served, tmp_dir, log):
        if not path.exists():
            created.append(path)
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(source_index, served)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir()

    token = secrets.token_urlsafe(32)
    server = Server(served, log, args.workers, args.threads)
    for name, value in (("VNSEARCH_WORKERS", args.workers), ("VNSEARCH_THREADS", args.threads)):
        if not value:
            server.env.pop(name, None)  # the defaults
    server.env.update(VNSEARCH_API_TOKEN=token, TMPDIR=str(tmp_dir))
    log_offset = log.stat().st_size if log.exists() else 0
    rec = Recorder()
    samples: list[dict] = []
    duration = args.minutes * 60
    load = None
    interrupted = False
    try:
        server.start()
        print(f"serving  {served} (a copy) at {server.base}: {server.workers} processes x "
              f"{server.threads} threads; TMPDIR {tmp_dir}; log {log}", flush=True)
        print(f"load     {READERS} readers ({MIX_SIZE:,} distinct queries), 1 pager (new filters "
              f"and pages), 1 editor (add + replace + delete every {EDIT_EVERY:.0f} s); "
              f"{_clock(duration)} min, samples every {args.interval:.0f} s, warm-up "
              f"{_clock(args.warmup)}\n", flush=True)
        load = Load(server.base, token, records, args.seed, rec)
        print(table_header(), flush=True)
        started = time.monotonic()
        rec.started = started
        first = take_sample(0.0, server, served, tmp_dir, None)
        first["note"] = "before load"
        samples.append(first)
        print(table_row(first), flush=True)
        load.start()
        try:
            sample_loop(args, server, served, tmp_dir, rec, samples, started, log)
        except KeyboardInterrupt:  # report what was measured; a second Ctrl+C stops at once
            interrupted = True
            print(f"\ninterrupted at {_clock(time.monotonic() - started)}; stopping the load and "
                  "reporting the samples so far", file=sys.stderr, flush=True)
        load.finish()
    finally:
        if load is not None:
            load.stop.set()
        server.stop()
    print("\n" + table_header())
    for row in samples:
        print(table_row(row))
    print()
    for line in latency_lines(rec):
        print(line)
    ran = samples[-1]["t"] or float("nan")
    print(f"editor: {rec.write_sets:,} write sets ({len(rec.commit_times):,} successful writes, each a "
          f"commit) in {_clock(ran)}: {rec.write_sets / ran:.2f} sets/s of the "
          f"{1 / EDIT_EVERY:.0f}/s planned; {rec.late_sets:,} sets started late because the one "
          f"before took over {EDIT_EVERY:.0f} s")
    if rec.errors:
        print(f"\nerrors ({len(rec.errors)}; the first {min(SHOWN_ERRORS, len(rec.errors))}):")
        for error in rec.errors[:SHOWN_ERRORS]:
            print(f"  {error['at']} (+{error['t']:.1f} s) {error['kind']}: {error['request'][:200]} -> "
                  f"{error['failure']}")
    problems = log_problems(log, log_offset)
    if problems:
        print()
        print("\n".join(problems))
    if samples[-1].get("deleted_summary"):
        print(f"\ndeleted files still held at the last sample: {samples[-1]['deleted_summary']}")
    print()
    lines, ok = verdicts(samples, rec, args.warmup)
    print("\n".join(lines))
    print(f"\nverdict: {'PASS' if ok else 'FAIL'}{' (interrupted run)' if interrupted else ''}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"args": vars(args), "samples": samples, "errors": rec.errors,
                       "visibility": rec.visibility, "write_sets": rec.write_sets,
                       "late_sets": rec.late_sets, "verdicts": lines, "ok": ok},
                      out, ensure_ascii=False, indent=1)
        print(f"figures saved to {args.json}")
    return 130 if interrupted else (0 if ok else 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load runs (default 30)")
    parser.add_argument("--n", type=int, default=5000, help="articles in the synthetic archive (default 5000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--index", help="use the index in DIR (built there if DIR holds none); "
                                        "the server serves a copy")
    parser.add_argument("--workdir", help="archive, served copy, server temp folder, logs "
                                          "(default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples (default 30)")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="samples before this many seconds are not judged (default 60)")
    parser.add_argument("--workers", type=int, help="VNSEARCH_WORKERS (default: the server's default)")
    parser.add_argument("--threads", type=int, help="VNSEARCH_THREADS (default: the server's default)")
    parser.add_argument("--json", metavar="OUT", help="save the samples, errors and verdicts as JSON")
    args = parser.parse_args(argv)
    duration = args.minutes * 60
    steady = sum(1 for k in range(1, int(duration // args.interval) + 2)
                 if args.warmup <= min(k * args.interval, duration) and (k - 1) * args.interval < duration)
    if args.interval <= 0 or steady < 3:
        parser.error(f"--minutes {args.minutes:g} with --interval {args.interval:g} and --warmup "
                     f"{args.warmup:g} leaves {steady} samples after the warm-up; 3 are needed")
    if not VNSEARCH.exists():
        raise SystemExit(f"{VNSEARCH} is missing: run `make` to install the virtualenv")

    workdir, made_workdir = work_dir(args.workdir, "vnsearch-soak-")
    created: list[Path] = []
    stop_on_signals()
    try:
        print(f"work dir {workdir}", flush=True)
        return run(args, workdir, created)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping", file=sys.stderr)
        return 130
    finally:
        cleanup(workdir, made_workdir, created, args.keep)


if __name__ == "__main__":
    sys.exit(main())
