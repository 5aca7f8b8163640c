"""Where a search's time goes, per stage and per query kind, in-process.

    .venv/bin/python bench/scale_profile.py --workdir DIR [--n 40000 400000]
        [--seed 1] [--queries 600]

Runs bench/scale.py's query mix (its archives and indexes in DIR, from a
`scale.py --keep` run) through one Engine, after 50 queries of warm-up, and
prints the mean ms per query of each stage: plan (parse and compile),
filters (masks), execute (postings, BM25, phrase checks, relaxation), order
(the ranking's setup), groups (same-event grouping), hits (stored documents
and snippets), facets and suggest; rest is the remainder (totals, the result
object). Run the sizes one after the other, on an otherwise idle machine, and
compare them within one run: absolute times drift with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import search.engine as engine_module  # noqa: E402
import search.facets as facets_module  # noqa: E402
from bench import scale, synth  # noqa: E402
from search.request import SearchRequest  # noqa: E402

STAGES = {  # stage -> (owner, attribute) timed around each call
    "plan": (engine_module, "_plan"),
    "filters": (engine_module, "_filter_mask"),
    "execute": (engine_module.Executor, "execute"),
    "order": (engine_module, "Order"),
    "groups": (engine_module, "_page_groups"),
    "hits": (engine_module.Engine, "_hit"),
    "facets": (facets_module, "count"),
    "suggest": (engine_module, "suggest"),
}
WARM_UP = 50


class StageClock:
    """Seconds spent in each stage, per query kind, while installed."""

    def __init__(self) -> None:
        self.kind = ""
        self.seconds: dict[str, dict[str, float]] = {}
        self._saved: list[tuple[Any, str, Callable]] = []

    def install(self) -> None:
        for stage, (owner, name) in STAGES.items():
            original = getattr(owner, name)
            self._saved.append((owner, name, original))
            setattr(owner, name, self._timed(stage, original))

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _timed(self, stage: str, function: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = self.seconds.setdefault(self.kind, {})
                spent[stage] = spent.get(stage, 0.0) + time.perf_counter() - started
        return timed


def request_of(path: str) -> SearchRequest:
    params = parse_qs(urlparse(path).query)
    return SearchRequest.from_params(lambda k: params.get(k, [None])[0], lambda k: params.get(k, []))


def profile(workdir: Path, n: int, seed: int, queries: int) -> None:
    archive = synth.archive_path(workdir, n, seed)
    mix = [(kind, request_of(path)) for kind, path in
           scale.build_mix(scale.sample_records(archive, n), queries, seed)]
    engine = engine_module.Engine(scale.index_path(workdir, n, seed))
    for _, request in mix[:WARM_UP]:
        engine.search(request)
    clock = StageClock()
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    clock.install()
    try:
        for kind, request in mix:
            clock.kind = kind
            started = time.perf_counter()
            engine.search(request)
            totals[kind] = totals.get(kind, 0.0) + time.perf_counter() - started
            counts[kind] = counts.get(kind, 0) + 1
    finally:
        clock.uninstall()
    print(f"\n{n:,} articles, ms per query")
    print(f"{'kind':9s} {'total':>6s} " + " ".join(f"{s:>8s}" for s in STAGES) + f" {'rest':>8s}")
    for kind, seconds in totals.items():
        parts = [1000 * clock.seconds.get(kind, {}).get(stage, 0.0) / counts[kind] for stage in STAGES]
        total = 1000 * seconds / counts[kind]
        print(f"{kind:9s} {total:6.1f} " + " ".join(f"{p:8.2f}" for p in parts) + f" {total - sum(parts):8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--n", type=int, nargs="+", default=[40_000, 400_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    for n in args.n:
        profile(args.workdir, n, args.seed, args.queries)


if __name__ == "__main__":
    main()
