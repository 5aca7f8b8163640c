"""Writes to a Sphinx cluster: every mirror of an article's shard, or a journal.

Sphinx 2.2 has no replication of its own, so the writer is the replication:

* an article goes to shard ``placement(id).shard`` and is REPLACEd into
  each mirror of that shard; deletes likewise;
* a mirror that does not answer gets the write appended to its journal,
  ``DIR/journal/<mirror>.jsonl`` (the analysed rows, so nothing is analysed
  twice), and the result names it: a dead mirror never raises;
* before anything new is sent to a mirror its journal is replayed, in
  order, and emptied; so a mirror that comes back catches up on the next
  write, on ``vnsearch cluster up`` and on ``vnsearch cluster status``
  (``catch_up``). REPLACE and DELETE by id are idempotent, so a replay cut
  short is simply replayed again. A per-mirror file lock keeps writers of
  several processes in order.

What a mirror took before it was killed is in its own RT binlog (flushed
every second, replayed by searchd at start); the journal covers the time it
was down. A mirror whose data was lost must be rebuilt from another mirror
(not automated yet).

Row id collisions (sphinx_documents.py): before a REPLACE the writer reads
the ids from a live mirror of the shard; a row that already holds another
article is left alone and the article is reported as refused. When no
mirror of the shard answers the check cannot run, and the journalled rows
are replayed unchecked.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.records import Article
from search.cluster import Layout, Node, shard_index
from search.sphinx_documents import article_row, placement
from search.sphinxql import Connection, SphinxError, SphinxUnavailable, quote_list

BATCH = 200  # rows per REPLACE statement: a few MB at most
JOURNAL_DIR = "journal"


@dataclass
class WriteOutcome:
    """What became of one article (or one delete)."""
    article_id: str
    shard: int
    written: list[str] = field(default_factory=list)  # mirrors that took it
    missed: list[str] = field(default_factory=list)  # mirrors that did not: journalled, replayed later
    refused: str | None = None  # why nothing was written (a row id collision, a rejected row)
    found: bool | None = None  # deletes: whether the article was there (None: no mirror could tell)
    replaced: bool | None = None  # writes: whether it replaced an earlier version (None: no mirror could tell)

    @property
    def complete(self) -> bool:
        return self.refused is None and not self.missed


@dataclass
class WriteReport:
    outcomes: list[WriteOutcome]

    @property
    def complete(self) -> bool:
        return all(o.complete for o in self.outcomes)

    @property
    def missed_mirrors(self) -> list[str]:
        return sorted({name for o in self.outcomes for name in o.missed})


@dataclass
class _Batch:
    """What one shard is sent: rows to REPLACE or row ids to DELETE."""
    op: str  # "replace" or "delete"
    index: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        """The batch as a journal line (and as ``_apply`` reads it)."""
        if self.op == "replace":
            return {"op": self.op, "index": self.index, "rows": self.rows}
        return {"op": self.op, "index": self.index, "ids": self.ids}


class ClusterWriter:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.journals = layout.directory / JOURNAL_DIR

    # -- public ------------------------------------------------------------
    def replace(self, articles: Iterable[Article]) -> WriteReport:
        """Add or replace articles on every mirror of their shards."""
        return self.replace_rows(article_row(article) for article in articles)

    def replace_rows(self, rows: Iterable[dict[str, Any]]) -> WriteReport:
        """``replace`` for rows already made by ``article_row`` (analysed once,
        written to several clusters). An id given twice keeps its last row."""
        by_shard: dict[int, list[tuple[WriteOutcome, dict[str, Any]]]] = {}
        outcomes = []
        for row in {row["article_id"]: row for row in rows}.values():
            shard = placement(row["article_id"], self.layout.shards).shard
            outcome = WriteOutcome(row["article_id"], shard)
            outcomes.append(outcome)
            by_shard.setdefault(shard, []).append((outcome, row))
        for shard, items in by_shard.items():
            for start in range(0, len(items), BATCH):
                self._replace_batch(shard, items[start:start + BATCH])
        return WriteReport(outcomes)

    def delete(self, article_ids: Iterable[str]) -> WriteReport:
        """Delete articles by id from every mirror of their shards."""
        by_shard: dict[int, list[WriteOutcome]] = {}
        outcomes = []
        for article_id in dict.fromkeys(article_ids):
            shard = placement(article_id, self.layout.shards).shard
            outcome = WriteOutcome(article_id, shard)
            outcomes.append(outcome)
            by_shard.setdefault(shard, []).append(outcome)
        for shard, items in by_shard.items():
            for start in range(0, len(items), BATCH):
                self._delete_batch(shard, items[start:start + BATCH])
        return WriteReport(outcomes)

    def catch_up(self) -> dict[str, int]:
        """Replay every journal whose mirror answers; {mirror: entries still
        waiting} for the mirrors that are still down."""
        for node in self.layout.mirror_nodes:
            with self._locked(node):
                if not self._pending(node):
                    continue
                try:
                    with self._connect(node) as conn:
                        self._replay(node, conn)
                except SphinxUnavailable:
                    pass  # still down: keep the journal
        return self.pending()

    def pending(self) -> dict[str, int]:
        """Journal entries waiting per mirror (only mirrors with some)."""
        counts = {node.name: self._pending(node) for node in self.layout.mirror_nodes}
        return {name: count for name, count in counts.items() if count}

    # -- one shard -----------------------------------------------------------
    def _replace_batch(self, shard: int, items: list[tuple[WriteOutcome, dict[str, Any]]]) -> None:
        index = shard_index(shard)
        owners = self._owners(shard, [row["id"] for _, row in items])
        accepted = []
        for outcome, row in items:
            owner = owners.get(row["id"]) if owners is not None else None
            if owner is not None and owner != outcome.article_id:
                outcome.refused = f"row id {row['id']} already holds article {owner!r} (hash collision)"
            else:
                outcome.replaced = owner is not None if owners is not None else None
                accepted.append((outcome, row))
        if accepted:
            self._send(shard, _Batch("replace", index, rows=[row for _, row in accepted]),
                       [outcome for outcome, _ in accepted])

    def _delete_batch(self, shard: int, items: list[WriteOutcome]) -> None:
        index = shard_index(shard)
        ids = {outcome.article_id: placement(outcome.article_id, 1).row_id for outcome in items}
        owners = self._owners(shard, list(ids.values()))
        doomed = []
        for outcome in items:
            if owners is not None:
                outcome.found = owners.get(ids[outcome.article_id]) == outcome.article_id
                if not outcome.found:
                    continue
            doomed.append(outcome)
        if doomed:
            self._send(shard, _Batch("delete", index, ids=[ids[o.article_id] for o in doomed]), doomed)

    def _owners(self, shard: int, row_ids: list[int]) -> dict[int, str] | None:
        """{row id: article id} of the rows that exist, read from the first
        mirror that answers; None when none does."""
        for node in self.layout.shard_mirrors(shard):
            try:
                with self._connect(node) as conn:
                    with self._locked(node):
                        self._replay(node, conn)  # a mirror that was down reads as it should
                    result = conn.select(f"SELECT id, article_id FROM {node.index} "
                                         f"WHERE id IN ({quote_list(row_ids)}) LIMIT {len(row_ids)} "
                                         f"OPTION max_matches={max(len(row_ids), 1)}")
            except SphinxError:
                continue
            return {int(row["id"]): str(row["article_id"]) for row in result.rows}
        return None

    def _send(self, shard: int, batch: _Batch, outcomes: list[WriteOutcome]) -> None:
        """The batch to every mirror of the shard, journalled for the ones that miss it."""
        for node in self.layout.shard_mirrors(shard):
            with self._locked(node):
                error = self._send_one(node, batch)
                if isinstance(error, SphinxUnavailable):
                    self._append(node, batch)
            if error is None:
                for outcome in outcomes:
                    outcome.written.append(node.name)
            elif isinstance(error, SphinxUnavailable):
                for outcome in outcomes:
                    outcome.missed.append(node.name)
            else:  # searchd refused the statement: the same rows would fail on every replay
                for outcome in outcomes:
                    outcome.refused = f"{node.name}: {error}"

    def _send_one(self, node: Node, batch: _Batch) -> SphinxError | None:
        """Replay the node's journal, then apply the batch (call with the node's
        lock held). While the journal cannot be replayed, new writes queue behind it."""
        try:
            with self._connect(node) as conn:
                if self._pending(node):
                    self._replay(node, conn)
                _apply(conn, batch.entry())
        except SphinxError as exc:
            return exc
        return None

    # -- journals -------------------------------------------------------------
    def _journal(self, node: Node) -> Path:
        return self.journals / f"{node.name}.jsonl"

    @contextmanager
    def _locked(self, node: Node) -> Iterator[None]:
        """The node's journal lock (an OS lock: released if the process dies)."""
        self.journals.mkdir(parents=True, exist_ok=True)
        with open(self.journals / f"{node.name}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _pending(self, node: Node) -> int:
        try:
            with open(self._journal(node), "rb") as handle:
                return sum(1 for _ in handle)
        except FileNotFoundError:
            return 0

    def _append(self, node: Node, batch: _Batch) -> None:
        """Queue a batch for a mirror that missed it (call with its lock held)."""
        _append_line(self._journal(node), batch.entry())

    def _replay(self, node: Node, conn: Connection) -> int:
        """Apply the node's journal in order and empty it (call with its lock held).

        A connection failure stops the replay and keeps the journal (replayed
        whole next time: every entry is idempotent). An entry searchd refuses
        would be refused forever: it moves to ``<mirror>.rejected.jsonl`` for
        an operator, and the replay goes on."""
        path = self._journal(node)
        if not path.exists():
            return 0
        count = 0
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                entry = json.loads(line)
                try:
                    _apply(conn, entry)
                except SphinxUnavailable:
                    raise
                except SphinxError as exc:
                    _append_line(path.with_suffix(".rejected.jsonl"), {**entry, "error": str(exc)})
                count += 1
        path.unlink()
        return count

    def _connect(self, node: Node) -> Connection:
        return Connection(node.host, node.sql_port)


def _append_line(path: Path, entry: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")


def _apply(conn: Connection, entry: dict[str, Any]) -> None:
    if entry["op"] == "replace":
        conn.replace(entry["index"], entry["rows"])
    else:
        conn.delete(entry["index"], entry["ids"])
