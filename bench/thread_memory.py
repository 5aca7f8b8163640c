"""Private memory per server thread: the read path as served, beside the old
one (Whoosh segments memory-mapped, which whoosh-reloaded copies into a
private buffer for every searcher), in the same run.

    .venv/bin/python bench/thread_memory.py --index DIR [--threads 8]

Each of THREADS live threads runs the same queries through one Engine (as
waitress threads do) and keeps its searcher; the process's PSS and RSS
(/proc/self/smaps_rollup) are printed after each thread, first with the
served read path, then, in a fresh process, with the mapped one. Also prints
the first (cold) and second (warm) latency of each query on thread 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer import store  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.heap import limit_malloc_arenas  # noqa: E402
from search.request import SearchRequest  # noqa: E402

QUERIES = ["chinh phu", "bong da viet nam", '"thi truong chung khoan"', "hoc sinh gioi", "xyzqwv",
           "hoc sinhh gioi", "ngan hang nha nuoc tang lai suat cho vay"]


def memory() -> dict[str, int]:
    found = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss", "Private_Dirty"):
            found[key] = int(value.split()[0]) // 1024
    return found


def measure(index: str, threads: int, mapped: bool) -> dict:
    if mapped:  # the old read path: segments opened with mmap
        store.open_for_search = store.open_index  # type: ignore[assignment]
    engine = Engine(index)
    rows: list[dict] = []
    latencies: dict[str, list[float]] = {}
    lock, stop = threading.Lock(), threading.Event()

    def work(number: int) -> None:
        with lock:
            for q in QUERIES:
                started = time.perf_counter()
                engine.search(SearchRequest(q=q))
                if number == 0:
                    latencies.setdefault(q, []).append((time.perf_counter() - started) * 1000)
            if number == 0:
                for q in QUERIES:
                    started = time.perf_counter()
                    engine.search(SearchRequest(q=q))
                    latencies[q].append((time.perf_counter() - started) * 1000)
            rows.append({"thread": number + 1, **memory()})
        stop.wait()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    while len(rows) < threads:
        time.sleep(0.1)
    stop.set()
    for worker in workers:
        worker.join()
    return {"rows": rows, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--child", choices=("served", "mapped"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        limit_malloc_arenas()  # as `vnsearch serve` does before its threads start
        print(json.dumps(measure(args.index, args.threads, args.child == "mapped")))
        return
    results = {}
    for kind in ("served", "mapped"):
        out = subprocess.run([sys.executable, __file__, "--index", args.index, "--threads", str(args.threads),
                              "--child", kind], capture_output=True, text=True, check=True).stdout
        results[kind] = json.loads(out.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in Path(args.index).rglob("*") if p.is_file())
    print(f"index {args.index}: {size / 1e6:,.0f} MB")
    print(f"{'live threads':>12}  {'served PSS / RSS MB':>20}  {'mapped (old) PSS / RSS MB':>26}")
    for served, mapped in zip(results["served"]["rows"], results["mapped"]["rows"], strict=True):
        print(f"{served['thread']:>12}  {served['Pss']:>9,} / {served['Rss']:>8,}  "
              f"{mapped['Pss']:>13,} / {mapped['Rss']:>10,}")
    print("\nthread 1, cold / warm ms")
    for q in QUERIES:
        s, m = results["served"]["latencies"][q], results["mapped"]["latencies"][q]
        print(f"  {q[:40]:<40}  served {s[0]:8.1f} / {s[1]:6.1f}   mapped (old) {m[0]:8.1f} / {m[1]:6.1f}")


if __name__ == "__main__":
    main()
