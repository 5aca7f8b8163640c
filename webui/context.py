"""What request handlers share, without importing the app factory: the
running app's search backend, and which paths belong to the JSON API.

app.py puts the engine in place; the blueprints, the error handler and the
header hook read it from here, so no module imports app.py back."""

from __future__ import annotations

from flask import current_app

from search.backend import Backend
from search.cursor import CursorCodec

ENGINE_KEY = "vnsearch.engine"  # where create_app keeps the backend in app.extensions
CURSORS_KEY = "vnsearch.cursors"  # ... and the cursor codec, with the secret made before workers fork


def engine() -> Backend:
    """The current app's search backend (one per app, shared by its threads):
    the Whoosh engine or the Sphinx cluster, the same interface."""
    return current_app.extensions[ENGINE_KEY]


def cursors() -> CursorCodec:
    """The current app's cursor codec (search/cursor.py)."""
    return current_app.extensions[CURSORS_KEY]


def is_api_path(path: str) -> bool:
    """Paths that answer JSON (and JSON errors) rather than HTML."""
    return path.startswith("/api/") or path == "/api" or path == "/healthz"
