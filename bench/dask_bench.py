"""Distributed indexing benchmark: the same articles indexed locally, and on a
Dask cluster on loopback with 1 and with 2 workers (one per core).

    .venv/bin/python bench/dask_bench.py [--limit N] [--batch 2000]

Default input: the 33,711 VNTC training articles plus the 6,000 test
articles (39,711). Each run builds a fresh index. Prints wall time,
articles/s and the ratio to the local run, the driver's own CPU time per
article (what bounds how many workers one driver can feed), and a projection
of the throughput W workers would give, with what it rests on.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.distributed import DEFAULT_BATCH, ingest_on_dask  # noqa: E402
from indexer.ingest import ingest  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(workdir: Path, workers: int) -> tuple[str, list[subprocess.Popen]]:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    for i in range(workers):
        procs.append(subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", str(workdir / f"w{i}")],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
    from distributed import Client
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def write_input(path: Path, limit: int | None) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        for name in ("vntc-train.jsonl.gz", "vntc-test-6k.jsonl.gz"):
            with gzip.open(CORPUS / name, "rt", encoding="utf-8") as handle:
                for line in handle:
                    if limit and count >= limit:
                        return count
                    out.write(line)
                    count += 1
    return count


def timed(run) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, articles) of ``run()``."""
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    summary = run()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime + after.ru_stime) - (cpu.ru_utime + cpu.ru_stime), summary.added + summary.replaced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vnsearch-dask-bench-"))
    try:
        source = workdir / "articles.jsonl"
        total = write_input(source, args.limit)
        print(f"input             {total:,} articles; batches of {args.batch:,}; {os.cpu_count()} cores")
        rows = []
        wall, cpu, n = timed(lambda: ingest([source], workdir / "local", show_progress=False))
        rows.append(("local (2 processes)", wall, cpu, n))
        for workers in (1, 2):
            address, procs = start_cluster(workdir, workers)
            try:
                wall, cpu, n = timed(lambda a=address, w=workers: ingest_on_dask(
                    [source], a, workdir / f"dask{w}", batch_size=args.batch, show_progress=False))
            finally:
                stop(procs)
            rows.append((f"Dask, {workers} worker{'s' if workers > 1 else ''}", wall, cpu, n))
        local_wall = rows[0][1]
        for label, wall, cpu, n in rows:
            print(f"{label:20s} {wall:7.1f} s  {n / wall:6.0f} articles/s  x{wall / local_wall:4.2f} local time  "
                  f"driver CPU {cpu:6.1f} s ({cpu / n * 1000:.2f} ms/article)")
        one, two = rows[1], rows[2]
        per_worker = one[3] / one[1]
        driver_ms = max(two[2] / two[3], one[2] / one[3]) * 1000
        ceiling = 1000 / driver_ms if driver_ms else float("inf")
        print(f"one worker        {per_worker:,.0f} articles/s; 2 workers scale x{(two[3] / two[1]) / per_worker:.2f}")
        print(f"projection        W workers on their own cores: about W x {per_worker:,.0f} articles/s, until "
              f"the driver (reading, validating, storing segments: {driver_ms:.2f} ms of CPU per article) "
              f"saturates at about {ceiling:,.0f} articles/s, i.e. ~{ceiling / per_worker:.0f} workers")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
