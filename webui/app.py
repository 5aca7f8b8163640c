"""The Flask application: the engine, the blueprints, the error handler,
template helpers and security headers.

Settings come from the environment through webui/settings.py (read when
``create_app`` runs); the ``config`` mapping passed to ``create_app``
overrides them. Config-only keys: MAX_CONTENT_LENGTH (10 MB; larger bodies
get 413) and REFRESH_INTERVAL (1 s; how often a searcher looks for index
changes, so writes show up in searches within about a second).
"""

from __future__ import annotations

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from indexer import pyvi_model
from search.backends import open_backend
from search.cursor import CursorCodec, new_secret
from search.request import DEFAULT_PAGE_SIZE, FILTER_FIELDS, MAX_QUERY_CHARS
from search.result import RELAXED_NOTE, partial_note
from webui import api, errors, feeds, filters, openapi, pages, urls
from webui.context import CURSORS_KEY, ENGINE_KEY, is_api_path
from webui.settings import MAX_BODY_BYTES, settings_from_env

# The site works without JavaScript; the one script, the search box's
# suggestions (static/suggest.js), is a same-origin file, so the policy
# forbids every other script, inline ones included. Inline SVG uses
# presentation attributes, not style attributes, so style-src needs no
# 'unsafe-inline'.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; img-src 'self' data:"
)

# What the templates state (input maxlength, "up to 1.000 rows", the filter
# parameters), taken from the code that enforces it rather than copied.
TEMPLATE_CONSTANTS = {"MAX_QUERY_CHARS": MAX_QUERY_CHARS, "DEFAULT_PAGE_SIZE": DEFAULT_PAGE_SIZE,
                      "CSV_ROWS": feeds.CSV_ROWS, "FILTER_FIELDS": tuple(FILTER_FIELDS),
                      "RELAXED_NOTE": RELAXED_NOTE}


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, REFRESH_INTERVAL=1.0,
                            **settings_from_env())
    if config:
        app.config.update(config)
    # Vietnamese stays readable in JSON, and keys keep the documented order.
    assert isinstance(app.json, DefaultJSONProvider)  # Flask's default provider
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    # VNSEARCH_BACKEND chooses: the Whoosh index (unset) or a Sphinx cluster.
    app.extensions[ENGINE_KEY] = open_backend(
        app.config["BACKEND"], app.config["INDEX_DIR"], cluster_dir=app.config["CLUSTER_DIR"],
        refresh_interval=app.config["REFRESH_INTERVAL"], cache_mb=app.config["CACHE_MB"],
        lock_timeout=app.config["LOCK_TIMEOUT"], search_slots=app.config["SEARCH_SLOTS"],
        deadline=app.config["DEADLINE"])
    # Made here, before `vnsearch serve` forks its workers, so that all of
    # them sign and check cursors with the same secret.
    app.extensions[CURSORS_KEY] = CursorCodec(new_secret(app.config["CURSOR_SECRET"]))
    if app.config["API_TOKEN"]:
        # Writes segment words with pyvi's model, which takes a second or more
        # to load: load it now (before `vnsearch serve` forks its workers),
        # not in the first write after a start, which took over 2 s.
        pyvi_model.tokenizer()

    app.register_blueprint(api.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(pages.blueprint)
    errors.register(app)
    filters.register(app)
    for helper in (urls.search_url, urls.toggle_url, urls.without_filters):
        app.add_template_global(helper)
    app.jinja_env.globals.update(TEMPLATE_CONSTANTS)
    app.add_template_global(partial_note)
    app.after_request(_headers)
    return app


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
