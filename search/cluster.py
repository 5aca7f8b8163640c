"""The layout of a Sphinx cluster and the searchd configs that realise it.

A cluster is N shards x M mirrors plus one aggregator, for now all on one
host (loopback in the tests; nodes on several machines need a layout with
an address per node, a later step):

* each shard mirror is a searchd with one RT index, ``articles_s<shard>``;
  the M mirrors of a shard hold the same articles (2.2 has no replication:
  the writer sends every write to each of them, cluster_writes.py);
* the aggregator's ``articles`` is ``type = distributed``: one ``agent``
  line per shard listing its mirrors (``host:port:index|host:port:index``),
  so a query goes to one live mirror of every shard and the results are
  merged by searchd.

Every node listens on two ports: the Sphinx API (what agents speak) and
SphinxQL one port above it. From ``--port BASE``: the aggregator's SphinxQL
is BASE (the backend URL ``sphinx://host:BASE``) with its API on BASE + 1,
then mirror k (shard * M + mirror) takes BASE + 2 + 2k (API) and
BASE + 3 + 2k (SphinxQL).

``DIR/cluster.json`` records the layout; per node: ``DIR/<name>.conf``,
``DIR/<name>.pid`` (written by searchd), ``DIR/<name>.log`` and its data
and binlog in ``DIR/<name>/``. Term statistics: a ``DIR/global.idf`` found
when the configs are written is named in every shard's config, used by
queries with ``OPTION global_idf=1`` (see bench/cluster_idf.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from search.sphinx_documents import BIGINT_ATTRS, FIELDS, GAP, STRING_ATTRS, UINT_ATTRS

LAYOUT_FILE = "cluster.json"
INDEX = "articles"  # the distributed index; shard s serves articles_s<s>
DEFAULT_HOST = "127.0.0.1"
# 2: the rows hold an ``event`` string attribute (same-event grouping); a
# cluster of version 1 has RT indexes without it, which Sphinx cannot add.
LAYOUT_VERSION = 2
GLOBAL_IDF = "global.idf"

# Written out in full: 2.2.11 rejects Manticore's ``non_cjk`` alias (the
# index is then NOT SERVING). Our tokens are already ASCII (sphinx_documents.py);
# "_" joins compounds, dates and the escapes of exact spellings.
CHARSET_TABLE = "0..9, A..Z->a..z, _, a..z"
AGENT_CONNECT_TIMEOUT_MS = 500
AGENT_QUERY_TIMEOUT_MS = 10_000
AGENT_RETRY_COUNT = 2
HA_PING_INTERVAL_MS = 200
MAX_PACKET_SIZE = "128M"  # an 8 MB article (the most a record may hold) plus its analysed fields
RT_MEM_LIMIT = "128M"


class ClusterError(Exception):
    """Something about the cluster an operator must fix; the message says what."""


class LayoutMismatch(ClusterError):
    """DIR already holds a cluster with another shape, or no cluster at all."""


@dataclass(frozen=True)
class Node:
    """One searchd: the aggregator (shard None) or a shard mirror."""
    name: str
    host: str
    api_port: int
    sql_port: int
    shard: int | None = None
    mirror: int | None = None

    @property
    def index(self) -> str:
        return INDEX if self.shard is None else shard_index(self.shard)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.sql_port}"


def shard_index(shard: int) -> str:
    return f"{INDEX}_s{shard}"


@dataclass(frozen=True)
class Layout:
    directory: Path
    shards: int
    mirrors: int
    base_port: int
    host: str = DEFAULT_HOST

    def __post_init__(self) -> None:
        # absolute: the configs name their files, and searchd runs in DIR
        object.__setattr__(self, "directory", Path(self.directory).resolve())

    @property
    def aggregator(self) -> Node:
        return Node("aggregator", self.host, self.base_port + 1, self.base_port)

    @property
    def mirror_nodes(self) -> list[Node]:
        nodes = []
        for shard in range(self.shards):
            for mirror in range(self.mirrors):
                api = self.base_port + 2 + 2 * (shard * self.mirrors + mirror)
                nodes.append(Node(f"shard{shard}-mirror{mirror}", self.host, api, api + 1, shard, mirror))
        return nodes

    @property
    def nodes(self) -> list[Node]:
        """Mirrors first, so that the aggregator starts when its agents answer."""
        return [*self.mirror_nodes, self.aggregator]

    def shard_mirrors(self, shard: int) -> list[Node]:
        return [n for n in self.mirror_nodes if n.shard == shard]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(f"no node named {name!r} in the cluster in {self.directory}")

    @property
    def url(self) -> str:
        return f"sphinx://{self.host}:{self.base_port}"

    def path(self, node: Node, suffix: str) -> Path:
        """``DIR/<name><suffix>``: .conf, .pid, .log, or "" for its data directory."""
        return self.directory / f"{node.name}{suffix}"

    # -- the layout file -------------------------------------------------
    def save(self) -> None:
        data = {"version": LAYOUT_VERSION, "url": self.url, "host": self.host, "shards": self.shards,
                "mirrors": self.mirrors, "base_port": self.base_port,
                "nodes": [asdict(n) for n in self.nodes]}
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / LAYOUT_FILE
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        temporary.replace(target)

    @classmethod
    def load(cls, directory: str | Path) -> Layout:
        path = Path(directory) / LAYOUT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LayoutMismatch(f"no cluster in {directory} ({LAYOUT_FILE} is missing): "
                                 "run `vnsearch cluster up` first") from None
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot read {path}: {exc}") from None
        if data.get("version") != LAYOUT_VERSION:
            raise ClusterError(f"{path} has layout version {data.get('version')}, expected {LAYOUT_VERSION}: "
                               "it was made by another version of vnsearch, whose indexes hold other "
                               "columns. Make a new cluster (`vnsearch cluster up --dir NEW`) and index "
                               "the archive into it")
        return cls(Path(directory), int(data["shards"]), int(data["mirrors"]), int(data["base_port"]),
                   str(data["host"]))


def parse_url(url: str) -> tuple[str, int]:
    """(host, SphinxQL port) of ``sphinx://host:port``."""
    parts = urlsplit(url)
    if parts.scheme != "sphinx" or not parts.hostname or not parts.port:
        raise ClusterError(f"not a Sphinx backend URL: {url!r} (expected sphinx://HOST:PORT)")
    return parts.hostname, parts.port


# -- configs ---------------------------------------------------------------
def searchd_section(layout: Layout, node: Node) -> str:
    data = layout.path(node, "")
    # the aggregator has no RT index: no binlog (an empty path turns it off)
    binlog = str(data) if node.shard is not None else ""
    return "\n".join([
        "searchd",
        "{",
        f"    listen = {node.host}:{node.api_port}",
        f"    listen = {node.host}:{node.sql_port}:mysql41",
        f"    log = {layout.path(node, '.log')}",
        f"    pid_file = {layout.path(node, '.pid')}",
        f"    binlog_path = {binlog}",
        "    binlog_flush = 2",  # fsync every second: a killed mirror replays its binlog
        "    workers = threads",
        "    watchdog = 0",  # a killed node stays down (tests, operators) instead of being respawned
        f"    max_packet_size = {MAX_PACKET_SIZE}",
        "    preopen_indexes = 1",
        f"    agent_retry_count = {AGENT_RETRY_COUNT}",
        f"    ha_ping_interval = {HA_PING_INTERVAL_MS}",  # find dead mirrors between queries
        # strings compare and group byte for byte, as Whoosh's keyword fields
        # do (the default, libc_ci, would make "Tú Viên" and "tú viên" one author)
        "    collation_server = binary",
        "}",
        "",
    ])


def rt_index_section(layout: Layout, node: Node) -> str:
    lines = [f"index {node.index}", "{", "    type = rt",
             f"    path = {layout.path(node, '') / node.index}"]
    lines += [f"    rt_field = {name}" for name in FIELDS]
    lines += [f"    rt_attr_string = {name}" for name in STRING_ATTRS]
    lines += [f"    rt_attr_bigint = {name}" for name in BIGINT_ATTRS]
    lines += [f"    rt_attr_uint = {name}" for name in UINT_ATTRS]
    lines += [
        f"    rt_mem_limit = {RT_MEM_LIMIT}",
        "    dict = keywords",
        "    min_word_len = 1",
        "    html_strip = 0",
        f"    charset_table = {CHARSET_TABLE}",
        f"    phrase_boundary = U+{ord(GAP):04X}",  # sphinx_documents.GAP: an empty position
        "    phrase_boundary_step = 1",
        "    ondisk_attrs = pool",  # the article JSON stays in the page cache, not in each process
    ]
    idf = layout.directory / GLOBAL_IDF
    if idf.exists():
        lines.append(f"    global_idf = {idf}")
    return "\n".join([*lines, "}", ""])


def aggregator_index_section(layout: Layout) -> str:
    lines = [f"index {INDEX}", "{", "    type = distributed"]
    for shard in range(layout.shards):
        mirrors = "|".join(f"{n.host}:{n.api_port}:{n.index}" for n in layout.shard_mirrors(shard))
        lines.append(f"    agent = {mirrors}")
    lines += [
        f"    agent_connect_timeout = {AGENT_CONNECT_TIMEOUT_MS}",
        f"    agent_query_timeout = {AGENT_QUERY_TIMEOUT_MS}",
    ]
    if layout.mirrors > 1:
        lines.append("    ha_strategy = nodeads")  # skip the mirrors found dead (pings, failed queries)
    return "\n".join([*lines, "}", ""])


def config_text(layout: Layout, node: Node) -> str:
    index = aggregator_index_section(layout) if node.shard is None else rt_index_section(layout, node)
    return f"# written by `vnsearch cluster up`; edit {LAYOUT_FILE} instead\n\n{index}\n{searchd_section(layout, node)}"


def write_configs(layout: Layout) -> None:
    """The layout file, and a config and data directory per node."""
    layout.save()
    for node in layout.nodes:
        layout.path(node, "").mkdir(parents=True, exist_ok=True)
        layout.path(node, ".conf").write_text(config_text(layout, node), encoding="utf-8")
