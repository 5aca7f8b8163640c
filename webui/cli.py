"""The `vnsearch` command: index, delete, optimize, stats, snapshot, check, search, serve, cluster.

Every subcommand but `cluster` takes --index DIR (default: $VNSEARCH_INDEX
or index_data/); `cluster up|status|down --dir DIR` runs a Sphinx cluster
(search/cluster*.py; needs `pip install 'vnsearch[cluster]'` and searchd).
index, delete, stats, search and serve also take --backend sphinx://HOST:PORT
(default $VNSEARCH_BACKEND; unset: the Whoosh index) and --cluster-dir DIR
(default $VNSEARCH_CLUSTER_DIR): then they work on that cluster
(search/backend.py).
Exit codes: 0 success; 1 something was rejected, not found or failed;
2 bad usage or arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from textwrap import shorten

from indexer import distributed, ingest, store
from search.backend import BackendUnavailable, BadBackend
from search.request import BadRequest, SearchRequest
from search.result import RELAXED_NOTE, partial_note


def _add_index_arg(parser):
    parser.add_argument("--index", metavar="DIR", default=None,
                        help="index directory (default: $VNSEARCH_INDEX or index_data)")


def _add_backend_args(parser):
    parser.add_argument("--backend", metavar="URL", default=None,
                        help="sphinx://HOST:PORT: a Sphinx cluster's aggregator (default: $VNSEARCH_BACKEND; "
                             "unset: the Whoosh index)")
    parser.add_argument("--cluster-dir", metavar="DIR", default=None,
                        help="that cluster's directory, for writes (default: $VNSEARCH_CLUSTER_DIR)")


def _backend_url(args) -> str | None:
    return args.backend or os.environ.get("VNSEARCH_BACKEND") or None


def _backend(args):
    """The backend the arguments (or the environment) choose."""
    from search.backends import open_backend

    cluster_dir = args.cluster_dir or os.environ.get("VNSEARCH_CLUSTER_DIR") or None
    return open_backend(_backend_url(args), args.index, cluster_dir=cluster_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vnsearch", description="Vietnamese news archive search")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="add or replace articles from files and directories")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--procs", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="analyse and write on the Dask cluster whose scheduler is at ADDRESS, e.g. "
                        "tcp://10.0.0.5:8786 (default: $VNSEARCH_DASK; unset: this machine)")
    p.add_argument("--batch", type=int, default=None, metavar="N",
                   help="articles per Dask task, one segment each (default 2000)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_index_arg(p)
    _add_backend_args(p)

    p = sub.add_parser("delete", help="remove articles by id")
    p.add_argument("ids", nargs="+", metavar="ID")
    _add_index_arg(p)
    _add_backend_args(p)

    p = sub.add_parser("optimize", help="merge every segment into one (after a large backfill)")
    _add_index_arg(p)

    p = sub.add_parser("stats", help="document count, size, fields, last update")
    p.add_argument("--json", action="store_true")
    _add_index_arg(p)
    _add_backend_args(p)

    p = sub.add_parser("snapshot", help="a consistent copy of the index in DEST, even while it serves and "
                                        "is written (restore: --index DEST)")
    p.add_argument("dest", metavar="DEST", help="a new folder; it must not exist")
    p.add_argument("--copy", action="store_true",
                   help="copy the files even when DEST is on the index's filesystem (default there: hard links)")
    _add_index_arg(p)

    p = sub.add_parser("check", help="read the whole index, report every damaged file (exit 1 if any)")
    _add_index_arg(p)

    p = sub.add_parser("search", help="search the archive")
    p.add_argument("query", nargs="?", default="")
    p.add_argument("--from", dest="date_from", metavar="DATE")
    p.add_argument("--to", dest="date_to", metavar="DATE")
    p.add_argument("--author", action="append", default=[])
    p.add_argument("--category", action="append", default=[])
    p.add_argument("--source", action="append", default=[])
    p.add_argument("--sort", default="relevance", help="relevance, newest or oldest")
    p.add_argument("--page", default="1")
    p.add_argument("--size", default="10")
    p.add_argument("--no-group", dest="group", action="store_const", const="off", default="on",
                   help="list every match on its own (default: articles of one event under the first)")
    p.add_argument("--json", action="store_true", help="print the JSON API's result object")
    _add_index_arg(p)
    _add_backend_args(p)

    p = sub.add_parser("serve", help="serve the web UI and JSON API with waitress")
    p.add_argument("--host", default=None, help="default $VNSEARCH_HOST or 127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default $VNSEARCH_PORT or 8000")
    _add_index_arg(p)
    _add_backend_args(p)

    p = sub.add_parser("cluster", help="run a sharded, mirrored Sphinx cluster on this machine")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("up", help="write the configs, start every searchd not running, print the URL")
    a.add_argument("--dir", required=True, metavar="DIR", help="configs, data, PID files and journals")
    a.add_argument("--shards", type=int, default=None, metavar="N", help="default 2 (or as DIR says)")
    a.add_argument("--mirrors", type=int, default=None, metavar="M", help="per shard; default 2 (or as DIR says)")
    a.add_argument("--port", type=int, default=None, metavar="BASE",
                   help="the aggregator's SphinxQL port; the nodes take the ports above it "
                        "(default 9306, or as DIR says)")
    a = actions.add_parser("status", help="health of each shard and mirror (exit 1: a shard is missing)")
    a.add_argument("--dir", required=True, metavar="DIR")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("down", help="stop every searchd of the cluster")
    a.add_argument("--dir", required=True, metavar="DIR")
    return parser


def cmd_index(args) -> int:
    def report(message):
        print(message, file=sys.stderr)

    if _backend_url(args):
        return _index_cluster(args, report)
    scheduler = distributed.scheduler_address(args.dask)
    if args.batch is not None and (args.batch < 1 or not scheduler):
        raise BadRequest("bad_batch", "--batch takes a number of articles (1 or more) and needs --dask")
    if scheduler:
        summary = distributed.ingest_on_dask(args.paths, scheduler, args.index,
                                             batch_size=args.batch or distributed.DEFAULT_BATCH,
                                             show_progress=not args.quiet, report=report)
    else:
        summary = ingest.ingest(args.paths, args.index, procs=args.procs,
                                show_progress=not args.quiet, report=report)
    print(summary.line())
    return 1 if summary.rejected else 0


def _index_cluster(args, report) -> int:
    """`vnsearch index` into a Sphinx cluster (search/sphinx_ingest.py)."""
    from search.sphinx_ingest import index_paths

    if args.dask or args.batch is not None:
        raise BadRequest("bad_backend", "--dask and --batch build a Whoosh index; a cluster analyses here")
    backend = _backend(args)
    try:
        summary = index_paths(backend.writer(), args.paths, procs=args.procs, report=report)
    except BackendUnavailable as exc:
        print(f"vnsearch: {exc.message}", file=sys.stderr)
        return 1
    print(summary.line())
    return 1 if summary.rejected else 0


def cmd_delete(args) -> int:
    if _backend_url(args):
        deleted, unknown = _backend(args).delete(args.ids)
    else:
        deleted, unknown = ingest.delete(args.ids, args.index)
    for article_id in unknown:
        print(f"not found: {article_id}", file=sys.stderr)
    print(f"deleted {len(deleted)}, not found {len(unknown)}")
    return 1 if unknown else 0


def cmd_optimize(args) -> int:
    started = time.monotonic()
    before, after = ingest.optimize(args.index)
    print(f"merged {before} segment(s) into {after}, {time.monotonic() - started:.1f} s")
    return 0


def cmd_stats(args) -> int:
    if _backend_url(args):
        data = _backend(args).stats()
    else:
        data = store.stats(store.resolve_index_dir(args.index))
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"index        {data['index']}")
        print(f"documents    {data['documents']:,}")
        print(f"size         {data['size_bytes'] / 1e6:,.1f} MB in {data['segments']} segment(s)")
        print(f"last update  {data['last_update']}")
        print(f"fields       {', '.join(data['fields'])}")
        if "shards" in data:
            print(f"cluster      {data['shards']} shard(s) x {data['mirrors']} mirror(s)")
        if data.get("partial"):
            print(partial_note(data["missing_shards"]))
    return 0


def cmd_snapshot(args) -> int:
    from indexer.snapshot import snapshot

    print(snapshot(args.index, args.dest, copy=args.copy).line())
    return 0


def cmd_check(args) -> int:
    from indexer.check import check_index
    from indexer.integrity import why

    try:
        result = check_index(args.index, report=lambda problem: print(problem, flush=True))
    except store.IndexProblem:
        raise
    except Exception as exc:  # noqa: BLE001 - a check reports; it never ends in a traceback
        print(f"vnsearch: the check stopped: {why(exc)}", file=sys.stderr)
        return 1
    print(result.line())
    return 1 if result.problems else 0


def cmd_search(args) -> int:
    params = {"q": args.query, "from": args.date_from, "to": args.date_to, "sort": args.sort,
              "page": args.page, "size": args.size, "group": args.group}
    lists = {"author": args.author, "category": args.category, "source": args.source}
    request = SearchRequest.from_params(params.get, lambda name: lists.get(name, []))
    result = _backend(args).search(request)
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 0
    print(render_text(result))
    return 0


def render_text(result) -> str:
    """The result object as plain text for a terminal."""
    lines = [f"{result.total:,} results ({result.took_ms:.0f} ms)"
             + (f" - {'; '.join(result.filters)}" if result.filters else "")]
    if result.suggestion:
        lines.append(f"Có phải bạn muốn tìm: {result.suggestion}")
    lines += result.notes
    if result.relaxed:
        lines.append(RELAXED_NOTE)
    if result.partial:
        lines.append(partial_note(result.missing_shards))
    first = (result.page - 1) * result.size
    for number, hit in enumerate(result.hits, start=first + 1):
        date = hit.published[:10] if hit.published else "----------"
        meta = " | ".join(x for x in (date, hit.category, hit.author, hit.source) if x)
        snippet = re.sub(r"</?mark>", "*", hit.snippet)
        lines += [f"{number:>3}. {hit.title}", f"     {meta}  [{hit.id}]",
                  f"     {shorten(snippet, 200, placeholder='…')}"]
        if hit.members:
            lines.append(f"     và {len(hit.members)} bài cùng sự kiện:")
            lines += [f"       - {member.title}  [{member.id}]" for member in hit.members]
    return "\n".join(lines)


def cmd_cluster(args) -> int:
    # pymysql and the cluster code are imported only for this command
    from search.cluster import ClusterError

    try:
        return CLUSTER_ACTIONS[args.action](args)
    except ClusterError as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        if exc.name != "pymysql":
            raise
        print("vnsearch: pymysql is missing: pip install 'vnsearch[cluster]'", file=sys.stderr)
        return 1


def _cluster_layout(args):
    """The layout DIR holds, or a new one from the arguments; they must agree."""
    from search.cluster import LAYOUT_FILE, Layout, LayoutMismatch

    wanted = {"shards": args.shards, "mirrors": args.mirrors, "base_port": args.port}
    for name, value in wanted.items():
        if value is not None and not 1 <= value <= (65535 if name == "base_port" else 64):
            raise BadRequest("bad_cluster", f"--{name.replace('base_', '')} {value} is out of range")
    if not (Path(args.dir) / LAYOUT_FILE).exists():
        layout = Layout(Path(args.dir), args.shards or 2, args.mirrors or 2, args.port or 9306)
        if max(node.sql_port for node in layout.nodes) > 65535:
            raise BadRequest("bad_cluster", f"--port {layout.base_port} leaves no room for "
                                            f"{2 + 2 * layout.shards * layout.mirrors} ports")
        return layout
    layout = Layout.load(args.dir)
    for name, value in wanted.items():
        if value is not None and value != getattr(layout, name):
            raise LayoutMismatch(f"{args.dir} holds a cluster with {name.replace('base_', '')} "
                                 f"{getattr(layout, name)}, not {value}: use another --dir, "
                                 "or `vnsearch cluster down` and remove it")
    return layout


def cmd_cluster_up(args) -> int:
    from search import cluster_nodes
    from search.cluster_writes import ClusterWriter

    layout = _cluster_layout(args)
    for name, pid in cluster_nodes.up(layout).items():
        node = layout.node(name)
        print(f"{name:<16} pid {pid:<8} {node.address} (API {node.api_port})", file=sys.stderr)
    for name, waiting in ClusterWriter(layout).catch_up().items():
        print(f"{name}: {waiting} journal entries still waiting", file=sys.stderr)
    print(layout.url)
    return 0


def cmd_cluster_status(args) -> int:
    from search import cluster_nodes
    from search.cluster import Layout
    from search.cluster_writes import ClusterWriter

    layout = Layout.load(args.dir)
    writer = ClusterWriter(layout)
    writer.catch_up()  # a mirror that came back takes what it missed before it is counted
    waiting = writer.pending()
    statuses = cluster_nodes.status(layout)
    dead = cluster_nodes.dead_shards(statuses)
    aggregator_up = statuses[-1].up
    if args.json:
        print(json.dumps({
            "url": layout.url, "shards": layout.shards, "mirrors": layout.mirrors,
            "healthy": not dead and aggregator_up, "dead_shards": dead,
            "nodes": [{"name": s.node.name, "shard": s.node.shard, "mirror": s.node.mirror,
                       "address": s.node.address, "api_port": s.node.api_port, "pid": s.pid, "up": s.up,
                       "documents": s.documents, "journal": waiting.get(s.node.name, 0), "error": s.error}
                      for s in statuses]}, indent=2))
    else:
        print(f"{'node':<16} {'shard':>5} {'mirror':>6}  {'address':<21} {'state':<5} {'documents':>9} "
              f"{'journal':>7}")
        for s in statuses:
            shard_text = "-" if s.node.shard is None else str(s.node.shard)
            mirror = "-" if s.node.mirror is None else str(s.node.mirror)
            count = "-" if s.documents is None else f"{s.documents:,}"
            print(f"{s.node.name:<16} {shard_text:>5} {mirror:>6}  {s.node.address:<21} "
                  f"{'up' if s.up else 'down':<5} {count:>9} {waiting.get(s.node.name, 0):>7}")
        for shard in dead:
            print(f"shard {shard} has no live mirror: its articles are missing from every result")
        if not aggregator_up:
            print(f"the aggregator ({layout.url}) is down: nothing can be searched")
    return 1 if dead or not aggregator_up else 0


def cmd_cluster_down(args) -> int:
    from search import cluster_nodes
    from search.cluster import Layout

    layout = Layout.load(args.dir)
    stopped = cluster_nodes.down(layout)
    print(f"stopped {len(stopped)} searchd process(es)" + (f": {', '.join(stopped)}" if stopped else ""))
    return 0


CLUSTER_ACTIONS = {"up": cmd_cluster_up, "status": cmd_cluster_status, "down": cmd_cluster_down}


def cmd_serve(args) -> int:
    from webui.server import serve

    return serve(index_dir=args.index, host=args.host, port=args.port, backend=args.backend,
                 cluster_dir=args.cluster_dir)


COMMANDS = {"index": cmd_index, "delete": cmd_delete, "optimize": cmd_optimize, "stats": cmd_stats,
            "snapshot": cmd_snapshot, "check": cmd_check,
            "search": cmd_search, "serve": cmd_serve, "cluster": cmd_cluster}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BadRequest as exc:
        print(f"vnsearch: {exc.message}", file=sys.stderr)
        return 2
    except BadBackend as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 2
    except BackendUnavailable as exc:  # the cluster does not answer: its own message, no traceback
        print(f"vnsearch: {exc.message}", file=sys.stderr)
        return 1
    except store.IndexProblem as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a vanished directory: the commit never happened
        print(f"vnsearch: {exc.strerror or exc}"
              f"{': ' + str(exc.filename) if exc.filename else ''}; "
              "the index keeps its last committed state", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vnsearch: interrupted; the index keeps its last committed state", file=sys.stderr)
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
