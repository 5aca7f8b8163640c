"""A cluster-wide IDF file, so that ranking does not depend on the shard.

Each shard of a distributed index ranks with its own term statistics: a
word's idf comes from the shard's document count and the shard's documents
holding it. Sphinx 2.2.11 reads a global table instead when the index
config names a ``global_idf`` file and the query says ``OPTION
global_idf=1`` (measured: this works on RT indexes too). The file is built
by ``indextool --buildidf`` from dictionary dumps, but ``indextool
--dumpdict`` only sees an RT index's disk chunks, not its RAM chunk, so the
dump is written here from the rows the writer sends, which hold exactly the
words Sphinx indexes (sphinx_documents.py: a document counts once per word,
whatever the field, as in Sphinx's dictionary).

``bench/cluster_idf.py`` measures how far per-shard ranking is from one
index, with and without the file.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.cluster import GLOBAL_IDF, ClusterError, Layout
from search.sphinx_documents import FIELDS, GAP


@dataclass
class KeywordStats:
    documents: int = 0
    docs: Counter[str] = field(default_factory=Counter)  # documents holding each word
    hits: Counter[str] = field(default_factory=Counter)  # its occurrences

    def add(self, row: dict[str, Any]) -> None:
        words = [w for name in FIELDS for w in str(row.get(name) or "").split() if w != GAP]
        self.documents += 1
        self.hits.update(words)
        self.docs.update(set(words))


def keyword_stats(rows: Iterable[dict[str, Any]]) -> KeywordStats:
    stats = KeywordStats()
    for row in rows:
        stats.add(row)
    return stats


def write_global_idf(layout: Layout, stats: KeywordStats) -> Path:
    """``DIR/global.idf`` from the statistics of every article in the cluster.
    The shards read it when they start with configs written after it."""
    indextool = shutil.which("indextool")
    if indextool is None:
        raise ClusterError("indextool is not installed: run `make sphinx` (Debian's sphinxsearch)")
    dump = layout.directory / f"{GLOBAL_IDF}.dump"
    with open(dump, "w", encoding="utf-8") as handle:
        handle.write(f"total-documents: {stats.documents}\ntotal-hits: {sum(stats.hits.values())}\n")
        for word, docs in sorted(stats.docs.items()):
            handle.write(f"{word},{docs},{stats.hits[word]}\n")
    target = layout.directory / GLOBAL_IDF
    built = subprocess.run([indextool, "--buildidf", str(dump), "--out", str(target)], capture_output=True,
                           text=True, check=False)
    dump.unlink()
    if built.returncode != 0 or not target.exists():
        raise ClusterError(f"indextool --buildidf failed: {built.stdout[-300:]} {built.stderr[-300:]}")
    return target
