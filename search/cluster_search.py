"""Low-level queries on the cluster's aggregator, never silently partial.

A distributed index in Sphinx 2.2 answers even when an agent fails; the
only sign is a warning ("index articles: agent 127.0.0.1:9312: connect()
failed ..."), so every query reads SHOW META and SHOW WARNINGS and maps the
failed agents back to their shards.

Measured on Sphinx 2.2.11 with one of two mirrors killed: ``OPTION
retry_count`` does not move a query to the other mirror (the same queries
came back partial with and without it), and the aggregator only stops
choosing the dead mirror after about three failed queries or one failed
ping (``ha_ping_interval``, cluster.py). So when a shard's results are
missing and one of its mirrors still accepts connections, the whole query
is sent again (``RETRY_DELAYS``) until the aggregator has learnt; a shard
none of whose mirrors answers is not waited for: the result says
``partial`` and names it. When every shard fails, searchd returns an
error, which becomes an empty partial result, not an exception.

``run`` sends several SELECTs in one round trip (a search needs a handful),
on a connection each thread keeps to the aggregator.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.cluster import INDEX, ClusterError, Layout, parse_url
from search.sphinxql import Connection, SelectResult, SphinxError, SphinxUnavailable, quote

# Seconds before each retry of a query that missed a shard one of whose
# mirrors still answers: the aggregator stops choosing a killed mirror
# within ~0.35 s (its pings, ha_ping_interval = 200 ms), so 0.75 s in all.
RETRY_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.4)
PROBE_TIMEOUT = 0.5
# Sent anyway: no effect measured on 2.2.11, and what Manticore documents for mirrors.
RETRY_OPTIONS = "retry_count=2, retry_delay=0"
DEFAULT_MAX_MATCHES = 1000
_AGENT_FAILURE = re.compile(r"agent ([^\s:|]+):(\d+)(?::[\w,]+)?: (?!remote warning)")
_DESCRIBED_AGENT = re.compile(r"^([^\s:]+):(\d+):(\w+)$")
_DESCRIBED_ROLE = re.compile(r"^remote_(\d+)(?:_mirror_(\d+))?$")  # one mirror: "remote_1"


@dataclass
class ClusterResult:
    rows: list[dict[str, Any]]
    total_found: int
    partial: bool  # some shard's articles are missing from these rows
    missing_shards: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    attempts: int = 1


class ClusterSearch:
    """Queries on the aggregator at ``sphinx://host:port`` (or a Layout's)."""

    def __init__(self, target: str | Layout) -> None:
        if isinstance(target, Layout):
            self.host, self.port = target.host, target.base_port
            self._agents: dict[tuple[str, int], int] | None = {
                (n.host, n.api_port): n.shard for n in target.mirror_nodes if n.shard is not None}
        else:
            self.host, self.port = parse_url(target)
            self._agents = None
        self._local = threading.local()  # one connection per thread, kept between queries

    def agents(self) -> dict[tuple[str, int], int]:
        """{(host, API port): shard} of every mirror, read once from DESCRIBE on the aggregator."""
        if self._agents is None:
            self._agents = agents_of(self._connection().execute(f"DESCRIBE {INDEX}"))
        return self._agents

    def select(self, match: str | None, columns: str = "id, article_id, WEIGHT() AS score",
               where: Sequence[str] = (), group_by: str | None = None, order_by: str | None = None,
               limit: int = 20, offset: int = 0, ranker: str | None = None,
               field_weights: Mapping[str, int] | None = None, options: Sequence[str] = ()) -> ClusterResult:
        """One SELECT on the distributed index. ``match`` is Sphinx query
        syntax over our encoded tokens (None: no full-text condition);
        ``where`` holds further conditions, values quoted with sphinxql.quote."""
        sql = build_select(match, columns, where, group_by, order_by, limit, offset, ranker, field_weights,
                           options)
        return self.run([sql])[0]

    def run(self, statements: Sequence[str]) -> list[ClusterResult]:
        """SELECTs (made by ``build_select``) in one round trip; the whole
        batch is resent while a shard is missing that has a live mirror."""
        if not statements:
            return []
        agents = self.agents()
        results = self._once(statements, agents)
        for attempt, delay in enumerate(RETRY_DELAYS, start=2):
            missing = sorted({shard for result in results for shard in result.missing_shards})
            if not missing or not self._reachable(missing, agents):
                break
            time.sleep(delay)
            results = self._once(statements, agents)
            for result in results:
                result.attempts = attempt
        return results

    def _reachable(self, shards: list[int], agents: dict[tuple[str, int], int]) -> bool:
        """Whether a mirror of any of these shards accepts a connection: then
        the aggregator chose a dead one and a retry will find the live one."""
        for (host, port), shard in agents.items():
            if shard in shards:
                try:
                    socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
                except OSError:
                    continue
                return True
        return False

    def _connection(self) -> Connection:
        """This thread's connection to the aggregator, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = Connection(self.host, self.port)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _batch(self, statements: Sequence[str]) -> list[SelectResult]:
        """The batch on this thread's connection; once more on a new one if
        that connection had died (the aggregator restarted since)."""
        fresh = getattr(self._local, "conn", None) is None
        try:
            return self._connection().batch(statements)
        except SphinxUnavailable:
            self._drop_connection()
            if fresh:
                raise
            return self._connection().batch(statements)
        except SphinxError:
            self._drop_connection()  # a failed multi-statement may leave results unread
            raise

    def _once(self, statements: Sequence[str], agents: dict[tuple[str, int], int]) -> list[ClusterResult]:
        try:
            answers = self._batch(statements)
        except SphinxUnavailable:
            raise
        except SphinxError as exc:
            if len(statements) > 1:  # which one failed, and how: each alone
                return [self._once([statement], agents)[0] for statement in statements]
            # Every agent failed. Unreachable ones: no shard could answer, an
            # empty partial result. Agents that all refused the query: our bug.
            if _refused(str(exc)) or not failed_shards([str(exc)], agents):
                raise
            return [ClusterResult([], 0, True, sorted(set(agents.values())), [str(exc)])]
        results = []
        for answer in answers:
            missing = failed_shards(answer.warnings, agents)
            results.append(ClusterResult(answer.rows, int(answer.meta.get("total_found", len(answer.rows))),
                                         bool(missing), missing, answer.warnings, answer.meta))
        return results


def layout_from_url(url: str, directory: str | Path) -> Layout:
    """The layout of the cluster whose aggregator is at ``url``, read from the
    aggregator itself (its agents), with ``directory`` for the writer's
    journals. Only clusters written by ``vnsearch cluster up`` (ports from
    cluster.py's rule) can be read back this way."""
    host, port = parse_url(url)
    with Connection(host, port) as conn:
        agents = agents_of(conn.execute(f"DESCRIBE {INDEX}"))
    shards = len(set(agents.values()))
    mirrors = len(agents) // shards if shards else 0
    layout = Layout(Path(directory), shards, mirrors, port, host)
    expected = {(n.host, n.api_port): n.shard for n in layout.mirror_nodes}
    if not agents or expected != agents:
        raise ClusterError(f"the aggregator at {url} does not have the layout of `vnsearch cluster up` "
                           f"(agents: {sorted(agents)}): use its cluster directory instead")
    return layout


def build_select(match: str | None, columns: str, where: Sequence[str], group_by: str | None,
                 order_by: str | None, limit: int, offset: int, ranker: str | None,
                 field_weights: Mapping[str, int] | None, options: Sequence[str]) -> str:
    conditions = ([f"MATCH({quote(match)})"] if match else []) + list(where)
    sql = f"SELECT {columns} FROM {INDEX}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    if group_by:
        sql += f" GROUP BY {group_by}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    sql += f" LIMIT {int(offset)}, {int(limit)}"
    opts = [RETRY_OPTIONS]
    if not any(option.startswith("max_matches") for option in options):
        opts.append(f"max_matches={max(DEFAULT_MAX_MATCHES, offset + limit)}")
    if ranker:
        opts.append(f"ranker={ranker}")
    if field_weights:
        opts.append("field_weights=(" + ", ".join(f"{k}={int(v)}" for k, v in field_weights.items()) + ")")
    return f"{sql} OPTION {', '.join([*opts, *options])}"


def agents_of(described: list[tuple[Any, ...]]) -> dict[tuple[str, int], int]:
    """DESCRIBE of a distributed index ("127.0.0.1:9312:articles_s0",
    "remote_1_mirror_2") -> {(host, port): shard}, shards counted from 0."""
    agents = {}
    for row in described:
        address, role = _DESCRIBED_AGENT.match(str(row[0])), _DESCRIBED_ROLE.match(str(row[1]))
        if address and role:
            agents[(address.group(1), int(address.group(2)))] = int(role.group(1)) - 1
    return agents


def failed_agents(messages: Sequence[str]) -> list[tuple[str, int]]:
    """(host, API port) of every agent that failed, from searchd's warnings (or error)."""
    return [(m.group(1), int(m.group(2))) for message in messages for m in _AGENT_FAILURE.finditer(message)]


def failed_shards(messages: Sequence[str], agents: dict[tuple[str, int], int]) -> list[int]:
    """Shards whose agent failed (an agent missing from ``agents`` counts as shard -1:
    something is missing, and we cannot say what)."""
    return sorted({agents.get(agent, -1) for agent in failed_agents(messages)})


def _refused(message: str) -> bool:
    """searchd's error says the agents answered and refused the query ("remote
    error", "remote query error": a syntax error is ours), not that they were unreachable."""
    return "remote error" in message or "remote query error" in message
