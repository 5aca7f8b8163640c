"""The index's problems a person must fix, as exceptions: shared by the
store and the integrity checks (which the store calls when it opens an
index), so neither imports the other for them. The web layer maps them to
HTTP 503 (webui/errors.py), the CLI to a one-line message."""

from __future__ import annotations

INDEX_NAME = "MAIN"  # Whoosh's default index name: files MAIN_*.seg, _MAIN_<generation>.toc


class IndexProblem(Exception):
    """A problem with the index directory that a person must fix; the message says how."""


class IndexBusy(IndexProblem):
    pass


class IndexMissing(IndexProblem):
    pass


class BadSetting(IndexProblem):
    """An environment setting with a value that cannot be used."""


class IndexDamaged(IndexProblem):
    """A file of the index is truncated, corrupt or missing (found by
    indexer/checked_index.py before it is served or written over). Serving it
    could give wrong results, so it is refused; the message names the
    segment and the file."""
