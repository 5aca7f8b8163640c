"""`vnsearch serve`: the app under waitress, on loopback unless told otherwise."""

from __future__ import annotations

import sys

from indexer import store
from webui.app import MAX_BODY_BYTES, create_app, settings_from_env


def serve(index_dir=None, host=None, port=None) -> int:
    """Serve until interrupted; returns the process exit code."""
    import waitress

    try:
        settings = settings_from_env()
    except ValueError as exc:
        print(f"vnsearch: {exc}", file=sys.stderr)
        return 2
    host = host or settings["HOST"]
    port = settings["PORT"] if port is None else port
    threads = max(1, settings["THREADS"])
    overrides = {"INDEX_DIR": index_dir} if index_dir else {}
    app = create_app(overrides)
    index_path = store.resolve_index_dir(app.config["INDEX_DIR"])
    if not store.index_exists(index_path):
        print(f"vnsearch: warning: no index at {index_path} yet; searches answer 503 until "
              f"`vnsearch index FILES --index {index_path}` builds one", file=sys.stderr)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"vnsearch: warning: listening on {host}, reachable from other machines",
              file=sys.stderr)
    try:
        server = waitress.create_server(
            app, host=host, port=port, threads=threads, ident="vnsearch",
            # Flask answers bodies over MAX_BODY_BYTES with the JSON 413; waitress
            # (default limit 1 GB) refuses the absurd ones before buffering them,
            # with its own plain-text 413.
            max_request_body_size=2 * MAX_BODY_BYTES,
        )
    except OSError as exc:
        print(f"vnsearch: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    shown_host = f"[{host}]" if ":" in host else host
    print(f"vnsearch: serving {index_path} at http://{shown_host}:{server.effective_port}/ "
          f"({threads} threads; Ctrl+C stops)", flush=True)
    try:
        server.run()  # returns after Ctrl+C / SIGINT
    finally:
        server.close()
    return 0
