"""What a served process and a served thread cost in memory, measured.

    .venv/bin/python bench/serve_memory.py --index DIR --archive FILE.jsonl
        [--configs 1x8 2x8 2x16 3x8] [--queries 600] [--filters 500]

For each WORKERSxTHREADS configuration, `vnsearch serve` starts on the index
(VNSEARCH_WORKERS, VNSEARCH_THREADS), and as many keep-alive clients as it has
threads in all send bench/scale.py's query mix, drawn from the archive the
index was built from, then as many requests with filter values never used
before, so every thread of every process has run queries. The PSS and RSS of
all server processes together (/proc/PID/smaps_rollup) are printed after
start, right after the requests and 2 s later (idle), with the PSS of mapped
files, and then, for both moments:

  per worker   (PSS of WxT - PSS of 1xT) / (W - 1), for each T measured with
               more than one worker count
  T vs T'      PSS of WxT / PSS of WxT', for each W measured with both
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import scale, synth  # noqa: E402

IDLE_SECONDS = 2.0  # after the requests, before the idle sample


def measure(index: Path, archive: Path, n: int, workers: int, threads: int, queries: int,
            filters: int, log: Path) -> dict:
    records = scale.sample_records(archive, n)
    mix = scale.build_mix(records, queries, seed=1)
    flood = scale.build_filter_requests(records, filters, 1, synth.author_names(1),
                                        sorted({r["category"] for r in records}))
    server = scale.Server(index, log, workers, threads)
    try:
        server.start()
        start = server.memory()
        clients = server.workers * server.threads
        errors = scale.send(server, mix, clients)["errors"] + scale.send(server, flood, clients)["errors"]
        after = server.memory()
        time.sleep(IDLE_SECONDS)  # the heap an idle process keeps (search/heap.py trims within 1 s)
        idle = server.memory()
    finally:
        server.stop()
    return {"workers": workers, "threads": threads, "start": start, "after": after, "idle": idle, "errors": errors}


def report(rows: list[dict]) -> str:
    lines = ["config  procs  start PSS/RSS MB   after PSS/RSS MB (files)  idle PSS/RSS MB  errors"]
    for r in rows:
        s, a, i = r["start"], r["after"], r["idle"]
        lines.append(f"{r['workers']}x{r['threads']:<4} {a['processes']:>6}  "
                     f"{s['pss_mb']:>7,.0f} / {s['rss_mb']:<7,.0f} {a['pss_mb']:>8,.0f} / {a['rss_mb']:<7,.0f} "
                     f"({a['pss_file_mb']:,.0f})  {i['pss_mb']:>7,.0f} / {i['rss_mb']:<7,.0f} {r['errors']:>6}")
    for moment in ("after", "idle"):
        pss_of = {(r["workers"], r["threads"]): r[moment]["pss_mb"] for r in rows}
        for (w, t), pss in sorted(pss_of.items()):
            if w > 1 and (1, t) in pss_of:
                lines.append(f"{moment}: per worker at {t} threads: {(pss - pss_of[1, t]) / (w - 1):,.0f} MB PSS "
                             f"({w}x{t} against 1x{t})")
            for fewer in sorted(t2 for w2, t2 in pss_of if w2 == w and t2 < t):
                lines.append(f"{moment}: {t} vs {fewer} threads at {w} worker(s): {pss / pss_of[w, fewer]:.2f}x PSS")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True, type=Path)
    parser.add_argument("--archive", required=True, type=Path, help="the JSONL the index was built from")
    parser.add_argument("--configs", nargs="+", default=["1x8", "2x8", "2x16", "3x8"])
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--filters", type=int, default=500)
    parser.add_argument("--log", type=Path, default=None,
                        help="the servers' output (default: serve-memory.log in the temp folder)")
    args = parser.parse_args(argv)
    log = args.log or Path(tempfile.gettempdir()) / "serve-memory.log"
    n = sum(1 for _ in open(args.archive, "rb"))
    rows = []
    for config in args.configs:
        workers, threads = (int(x) for x in config.lower().split("x"))
        rows.append(measure(args.index, args.archive, n, workers, threads, args.queries, args.filters, log))
        print(f"{config}: {rows[-1]['after']['pss_mb']:,.0f} MB PSS after the requests", flush=True)
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
