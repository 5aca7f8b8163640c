"""Search-as-you-type benchmark: the cost of a keystroke, beside a search.

    .venv/bin/python bench/suggest_bench.py --index DIR [--fragments 300] [--queries 360]

Builds the index first if DIR holds none (from --corpus, by default the
VNTC training corpus in ../shared/corpus, as bench/query_bench.py does).
Then, in one process and one run:

* builds the completion table (search/completion_builder.py) and prints its
  size in bytes (what every server process holds per generation), its
  entries, the articles read and the build time;
* types, unaccented, every prefix of a few hundred real headline fragments
  (2 to 5 words from a random headline, character by character, as a
  reader types them) through Engine.complete, and prints p50/p95/max;
* runs the search benchmark's queries (bench/query_bench.py: facets and
  highlighted snippets, after its warm-up) and prints their p50/p95, so
  the two can be compared on the same machine at the same moment;
* says how often the whole fragment, typed without accents, came back
  with the headline's own accents among the completions.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.query_bench import build_queries, corpus_and_engine, percentile, request_for  # noqa: E402
from bench.querysets import SHARED, unaccent, words  # noqa: E402
from search.completion_builder import MAX_HEADLINES, MAX_PHRASES, MAX_TOKENS, build  # noqa: E402


def fragments(records: list[dict], count: int, seed: int = 13) -> list[str]:
    """``count`` runs of 2-5 consecutive words from random headlines (accented, as written)."""
    rng = random.Random(seed)
    titled = [r["title"] for r in records if len(words(r.get("title") or "")) >= 2]
    found: list[str] = []
    while len(found) < count:
        tokens = words(rng.choice(titled))
        size = rng.randint(2, min(5, len(tokens)))
        start = rng.randrange(0, len(tokens) - size + 1)
        found.append(" ".join(tokens[start:start + size]))
    return found


def prefixes(typed: str) -> list[str]:
    return [typed[:n] for n in range(1, len(typed) + 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", required=True)
    parser.add_argument("--corpus", default=str(SHARED / "vntc-train.jsonl.gz"))
    parser.add_argument("--fragments", type=int, default=300)
    parser.add_argument("--queries", type=int, default=360, help="searches measured (bench/query_bench.py's)")
    parser.add_argument("--warmup", type=int, default=200, help="other searches run first")
    parser.add_argument("--trace-build", action="store_true",
                        help="build the table once more under tracemalloc and print its peak memory (slower)")
    args = parser.parse_args()

    records, engine = corpus_and_engine(args.corpus, args.index)

    # the table, built as a server process builds it (here, waited for)
    view = engine._state().view
    started = time.perf_counter()
    table = engine.completions.current(view.shared.number, wait=3600)
    waited = time.perf_counter() - started
    assert table is not None, "the completion table was not built (see the log)"

    accented = [f.lower() for f in fragments(records, args.fragments)]
    typed = [unaccent(f) for f in accented]
    keystrokes = [p for t in typed for p in prefixes(t)]
    for p in keystrokes[:200]:  # warm: first calls load code paths
        engine.complete(p)
    suggest_ms = []
    for p in keystrokes:
        started = time.perf_counter()
        engine.complete(p)
        suggest_ms.append((time.perf_counter() - started) * 1000)
    came_back = [any(" ".join(words(c.text)).lower().startswith(a) for c in engine.complete(t))
                 for t, a in zip(typed, accented, strict=True)]
    # what the table can know: a run of words that starts a headline, or that two headlines use
    titles = [" ".join(words(r.get("title") or "")).lower() for r in records]
    knowable = [sum(a in title for title in titles) >= 2 or any(title.startswith(a) for title in titles)
                for a in accented]

    for _, q, filters in build_queries(records, args.warmup, seed=99):
        engine.search(request_for(q, filters))
    search_ms = []
    for _, q, filters in build_queries(records, args.queries):
        started = time.perf_counter()
        engine.search(request_for(q, filters))
        search_ms.append((time.perf_counter() - started) * 1000)

    articles = engine.stats()["documents"]
    print(f"index              {engine.index_dir} ({articles:,} articles)")
    print(f"completion table   {table.nbytes:,} bytes ({table.nbytes / 2**20:.1f} MiB) per process and generation; "
          f"{len(table):,} entries ({table.nbytes / max(len(table), 1):.0f} bytes each) from {table.articles:,} "
          f"articles; built in {table.seconds:.1f} s (waited {waited:.1f} s)")
    print(f"bounds             {MAX_PHRASES:,} phrases + {MAX_HEADLINES:,} headlines, "
          f"{MAX_TOKENS:,} syllables read per build")
    print(f"{'':19}{'n':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print(f"{'keystrokes':<19}{len(suggest_ms):>7,} {statistics.median(suggest_ms):8.2f} "
          f"{percentile(suggest_ms, 95):8.2f} {max(suggest_ms):8.2f}   "
          f"(every prefix of {len(typed)} unaccented headline fragments, Engine.complete)")
    print(f"{'searches':<19}{len(search_ms):>7,} {statistics.median(search_ms):8.2f} "
          f"{percentile(search_ms, 95):8.2f} {max(search_ms):8.2f}   "
          f"(bench/query_bench.py's queries after {args.warmup} warm-up, facets + snippets)")
    both = sum(c and k for c, k in zip(came_back, knowable, strict=True))
    print(f"accents restored   {both}/{sum(knowable)} whole fragments typed unaccented came back as the headlines "
          f"write them, of those that start a headline or that two headlines use ({sum(came_back)}/{len(typed)} "
          f"of all; not kept: a run of words from inside one headline only, or starting inside a word "
          f"such as 'tuyển Tây Ban' of 'đội tuyển Tây Ban Nha')")
    if args.trace_build:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        again = build(view)
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        print(f"build, traced      peak {peak / 2**20:.0f} MiB above the start ({peak / max(again.syllables, 1):.0f} "
              f"bytes per syllable read, {again.syllables:,} of them); freed after, but for the "
              f"{again.nbytes / 2**20:.1f} MiB table")


if __name__ == "__main__":
    main()
