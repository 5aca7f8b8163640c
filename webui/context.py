"""What request handlers share, without importing the app factory: the
running app's engine, and which paths belong to the JSON API.

app.py puts the engine in place; the blueprints, the error handler and the
header hook read it from here, so no module imports app.py back."""

from __future__ import annotations

from flask import current_app

from search.engine import Engine

ENGINE_KEY = "vnsearch.engine"  # where create_app keeps the Engine in app.extensions


def engine() -> Engine:
    """The current app's search engine (one per app, shared by its threads)."""
    return current_app.extensions[ENGINE_KEY]


def is_api_path(path: str) -> bool:
    """Paths that answer JSON (and JSON errors) rather than HTML."""
    return path.startswith("/api/") or path == "/api" or path == "/healthz"
