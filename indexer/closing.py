"""Closing what a half-built Whoosh writer opened.

A writer whose constructor fails (a full disk while it writes its file
headers) is never returned, so nothing would close its files: they would be
left to the garbage collector. The writers here close them at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from contextlib import suppress
from typing import Any


def close_files(objects: Iterable[Any], depth: int = 4) -> None:
    """Close every file of the index reachable from ``objects`` within
    ``depth`` attribute hops: binary files opened by path (never a terminal,
    a pipe or a standard stream; text streams are not followed)."""
    for obj in objects:
        if isinstance(obj, (io.RawIOBase, io.BufferedIOBase)):
            if isinstance(getattr(obj, "name", None), str) and not obj.closed and not obj.isatty():
                with suppress(OSError, ValueError):
                    obj.close()
        elif (depth > 0 and hasattr(obj, "__dict__") and not isinstance(obj, (type, io.IOBase))
              and type(obj).__module__.startswith(("whoosh", "indexer"))):
            close_files(list(vars(obj).values()), depth - 1)
