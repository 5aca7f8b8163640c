"""The Flask application: settings, the engine, blueprints, security headers.

Settings come from the environment (read when ``create_app`` runs, so tests
and ``vnsearch serve`` can set them late); the ``config`` mapping passed to
``create_app`` overrides them. ``SETTINGS`` below is the one table of them:
VNSEARCH_INDEX, VNSEARCH_HOST (127.0.0.1), VNSEARCH_PORT (8000),
VNSEARCH_THREADS (8), VNSEARCH_WORKERS (cores, at most 4), VNSEARCH_API_TOKEN
(unset: writes answer 403).
Config-only: MAX_CONTENT_LENGTH (10 MB; larger bodies get 413) and
REFRESH_INTERVAL (1 s; how often a searcher looks for index changes, so
writes show up in searches within about a second).
"""

from __future__ import annotations

import os

from flask import Flask, current_app, request

from search.engine import Engine

MAX_BODY_BYTES = 10 * 1024 * 1024  # a few thousand articles per POST is plenty

# (environment variable, config key, default, converter, help): one table
# that create_app, serve() and the OpenAPI description all read.
SETTINGS = (
    ("VNSEARCH_INDEX", "INDEX_DIR", None, str, "index directory (default index_data)"),
    ("VNSEARCH_HOST", "HOST", "127.0.0.1", str, "address `vnsearch serve` binds to"),
    ("VNSEARCH_PORT", "PORT", 8000, int, "port `vnsearch serve` listens on"),
    ("VNSEARCH_THREADS", "THREADS", 8, int, "waitress threads per worker process"),
    ("VNSEARCH_WORKERS", "WORKERS", min(4, os.cpu_count() or 1), int,
     "server processes sharing the port (default: cores, at most 4); Python runs one "
     "thread at a time per process, so this is what uses several cores"),
    ("VNSEARCH_API_TOKEN", "API_TOKEN", None, str,
     "bearer token for POST/DELETE /api/articles, ASCII (e.g. python -c 'import secrets; "
     "print(secrets.token_urlsafe(32))'); unset disables writes (403)"),
)

# No script at all: the site works without JavaScript, so the policy can
# forbid every script, inline or not. Inline SVG uses presentation
# attributes, not style attributes, so style-src needs no 'unsafe-inline'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; img-src 'self' data:"
)


def settings_from_env(environ=None) -> dict:
    """The SETTINGS table read from the environment (unset or empty = default)."""
    environ = os.environ if environ is None else environ
    values = {}
    for env_name, key, default, convert, _ in SETTINGS:
        raw = (environ.get(env_name) or "").strip()
        try:
            values[key] = convert(raw) if raw else default
        except ValueError:
            raise ValueError(f"{env_name} must be a whole number, got {raw!r}") from None
    return values


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, REFRESH_INTERVAL=1.0,
                            **settings_from_env())
    if config:
        app.config.update(config)
    # Vietnamese stays readable in JSON, and keys keep the documented order.
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["vnsearch.engine"] = Engine(app.config["INDEX_DIR"],
                                               refresh_interval=app.config["REFRESH_INTERVAL"])

    from webui import api, errors, filters, pages, urls

    app.register_blueprint(api.blueprint)
    app.register_blueprint(pages.blueprint)
    errors.register(app)
    filters.register(app)
    app.add_template_global(urls.search_url)
    app.add_template_global(urls.toggle_url)
    app.add_template_global(urls.without_filters)
    app.after_request(_headers)
    return app


def engine() -> Engine:
    return current_app.extensions["vnsearch.engine"]


def is_api_path(path: str) -> bool:
    """Paths that answer JSON (and JSON errors) rather than HTML."""
    return path.startswith("/api/") or path == "/api" or path == "/healthz"


def _headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    # Other sites' scripts may read the public, read-only API; the writes
    # stay same-origin (no preflight answer allows them).
    if is_api_path(request.path) and request.method in ("GET", "HEAD", "OPTIONS"):
        headers["Access-Control-Allow-Origin"] = "*"
    return response
