"""What request handlers share, without importing the app factory: the
running app's search backend, and which paths belong to the JSON API.

app.py puts the engine in place; the blueprints, the error handler and the
header hook read it from here, so no module imports app.py back."""

from __future__ import annotations

from flask import current_app

from search.backend import Backend

ENGINE_KEY = "vnsearch.engine"  # where create_app keeps the backend in app.extensions


def engine() -> Backend:
    """The current app's search backend (one per app, shared by its threads):
    the Whoosh engine or the Sphinx cluster, the same interface."""
    return current_app.extensions[ENGINE_KEY]


def is_api_path(path: str) -> bool:
    """Paths that answer JSON (and JSON errors) rather than HTML."""
    return path.startswith("/api/") or path == "/api" or path == "/healthz"
