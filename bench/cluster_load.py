"""Load test of Whoosh beside local Sphinx clusters, on the same articles, in one run.

    .venv/bin/python bench/cluster_load.py [--articles 8000] [--requests 1200] [--clients 8]

Takes the first N VNTC training articles, builds a Whoosh index of them and,
one after the other, local Sphinx clusters of 2 shards x 1 mirror and 2 shards
x 2 mirrors (the temporary-cluster helper of bench/relevance_eval.py), serves
each with `vnsearch serve` (default workers and threads) and sends the same
query mix as bench/load.py (its client code) with the same number of clients
for a fixed number of requests. Prints one table: backend/layout,
requests/s, p50, p95, errors; then indexing rates, the mirrors' data on disk
per 1,000 articles (after a clean `down`, which saves the RT RAM chunks) and
the memory (RSS and PSS) of every searchd and of the server after its run.
Every searchd and server is stopped by its PID; the temporary directory goes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import load as loadbench  # noqa: E402
from bench import relevance_eval  # noqa: E402
from bench.querysets import SHARED, load  # noqa: E402
from indexer.ingest import ingest  # noqa: E402
from search.cluster import Layout  # noqa: E402

SHARDS = relevance_eval.SHARDS  # 2


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in kB from /proc/PID/smaps_rollup; (0, 0) if gone."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    except OSError:
        return 0, 0
    return values.get("Rss", 0), values.get("Pss", 0)


def tree_memory_kb(pid: int) -> tuple[int, int]:
    """RSS and PSS of a process and its children (waitress workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(c) for c in children]
    rss = pss = 0
    for p in pids:
        r, s = memory_kb(p)
        rss, pss = rss + r, pss + s
    return rss, pss


def du_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@contextlib.contextmanager
def cluster(directory: Path, paths: list[Path], mirrors: int, procs: int):
    """relevance_eval.local_cluster with ``mirrors`` per shard; yields its Layout."""
    saved = relevance_eval.MIRRORS
    relevance_eval.MIRRORS = mirrors
    try:
        with relevance_eval.local_cluster(directory, paths, procs=procs):
            relevance_eval.MIRRORS = saved
            yield Layout.load(directory)
    finally:
        relevance_eval.MIRRORS = saved


def measure(name: str, index: Path, extra: list[str], args, env: dict[str, str]) -> dict:
    server, base = loadbench.start_server(str(index), args.startup_timeout, extra, env)
    print(f"{name}: serving at {base} (pid {server.pid})", file=sys.stderr)
    try:
        mix = loadbench.build_mix(base)
        if args.warmup:
            loadbench.run(base, mix, args.clients, args.warmup, args.duration, args.timeout)
        result = loadbench.run(base, mix, args.clients, args.requests, args.duration, args.timeout)
        result["server_kb"] = tree_memory_kb(server.pid)
    finally:
        loadbench.stop_server(server)
    return result


def row(name: str, result: dict) -> str:
    ms = [x * 1000 for x in result["all"]]
    rate = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    return (f"| {name} | {result['requests']:,} | {rate:.1f} | {loadbench.percentile(ms, .5):.0f} | "
            f"{loadbench.percentile(ms, .95):.0f} | {result['errors']} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=8000, help="the first N VNTC training articles")
    parser.add_argument("--mirrors", default="1,2", help="mirrors per shard to try, e.g. 1,2")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1200, help="timed requests per backend")
    parser.add_argument("--duration", type=float, default=120.0, help="at most this many seconds each")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--procs", type=int, default=2, help="indexing processes")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    mirror_counts = [int(m) for m in args.mirrors.split(",")]

    env = {k: v for k, v in os.environ.items() if not k.startswith("VNSEARCH_")}
    results, notes = [], []
    with tempfile.TemporaryDirectory(prefix="vnsearch-cluster-load-") as tmp:
        workdir = Path(tmp)
        records = load(SHARED / "vntc-train.jsonl.gz", args.articles)
        paths = [relevance_eval._write(workdir / "articles.jsonl", records)]
        count = len(records)

        started = time.monotonic()
        ingest(paths, workdir / "whoosh", procs=args.procs, show_progress=False)
        seconds = time.monotonic() - started
        size = du_bytes(workdir / "whoosh")
        notes.append(f"Whoosh: indexed {count:,} in {seconds:.0f} s ({count / seconds:.0f} articles/s, "
                     f"{args.procs} procs); index {size / 2**20:.1f} MB = "
                     f"{size / 2**20 / count * 1000:.2f} MB per 1,000 articles")
        result = measure("Whoosh", workdir / "whoosh", [], args, env)
        results.append(("Whoosh (one index)", result))
        notes.append(f"Whoosh server after its run: RSS {result['server_kb'][0] / 1024:.0f} MB, "
                     f"PSS {result['server_kb'][1] / 1024:.0f} MB (all waitress processes)")

        for mirrors in mirror_counts:
            directory = workdir / f"cluster-{SHARDS}x{mirrors}"
            started = time.monotonic()
            memory = {}
            with cluster(directory, paths, mirrors, args.procs) as layout:
                seconds = time.monotonic() - started
                extra = ["--backend", layout.url, "--cluster-dir", str(directory)]
                result = measure(f"Sphinx {SHARDS}x{mirrors}", workdir / "unused", extra, args, env)
                for node in layout.nodes:
                    pid_file = layout.path(node, ".pid")
                    with contextlib.suppress(OSError, ValueError):
                        memory[node.name] = memory_kb(int(pid_file.read_text().split()[0]))
            # the nodes are down now (RAM chunks saved): the data on disk
            sizes = {node.name: du_bytes(layout.path(node, "")) for node in layout.mirror_nodes}
            results.append((f"Sphinx {SHARDS} shards x {mirrors} mirror{'s' if mirrors > 1 else ''}", result))
            per_mirror = sum(sizes.values()) / len(sizes)
            notes.append(
                f"Sphinx {SHARDS}x{mirrors}: indexed {count:,} in {seconds:.0f} s incl. start "
                f"({count / seconds:.0f} articles/s, {args.procs} procs); mirror data "
                + ", ".join(f"{n} {b / 2**20:.1f} MB" for n, b in sorted(sizes.items()))
                + f"; one copy of the archive {per_mirror * SHARDS / 2**20:.1f} MB = "
                f"{per_mirror * SHARDS / 2**20 / count * 1000:.2f} MB per 1,000 articles")
            notes.append(f"Sphinx {SHARDS}x{mirrors} searchd memory after the run (RSS/PSS MB): "
                         + ", ".join(f"{n} {r / 1024:.0f}/{p / 1024:.0f}" for n, (r, p) in sorted(memory.items()))
                         + f"; server RSS {result['server_kb'][0] / 1024:.0f} MB, "
                         f"PSS {result['server_kb'][1] / 1024:.0f} MB")

    print(f"\n{count:,} VNTC training articles, {args.clients} clients, {args.requests:,} requests "
          f"each (bench/load.py mix), {os.cpu_count()} cores\n")
    print("| backend / layout | requests | requests/s | p50 ms | p95 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, result in results:
        print(row(name, result))
    print()
    for note in notes:
        print(f"- {note}")
    for name, result in results:
        if result["errors"]:
            print(f"- {name} errors: {result['error_kinds']}")
    return 1 if any(result["errors"] for _, result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
