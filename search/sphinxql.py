"""SphinxQL over the MySQL protocol (PyPI ``pymysql``), as Sphinx 2.2 speaks it.

Values are quoted here, not by pymysql: Sphinx 2.2 unescapes only \\\\, \\'
and a few letters, so pymysql's "\\0" and "\\Z" would come back as "0" and
"Z". We escape backslash and quote and leave every other character as it
is (NUL, which Sphinx strings cannot hold, is dropped).

Every SELECT is followed by SHOW META and SHOW WARNINGS on the same
connection: a distributed index that lost an agent still answers, and the
warning is the only sign of it. ``batch`` sends several SELECTs, each with
its SHOW META and SHOW WARNINGS, in one round trip (the MySQL protocol's
multi-statements, which searchd 2.2 accepts): one search needs a handful of
queries, and on a LAN the round trips would cost more than searchd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:  # the cluster extra: an install without it has no Sphinx backend, and must not need pymysql
    import pymysql
    from pymysql.constants import CLIENT
except ImportError:  # pragma: no cover - `make test` installs it
    pymysql = None

CONNECT_TIMEOUT = 2.0  # seconds; loopback and LAN nodes answer in milliseconds
READ_TIMEOUT = 30.0

Value = str | int | float | None


class SphinxError(Exception):
    """A SphinxQL statement failed; the message is searchd's own."""


class SphinxUnavailable(SphinxError):
    """searchd did not answer at all (down, or nothing listening on the port)."""


@dataclass
class SelectResult:
    rows: list[dict[str, Any]]
    meta: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def quote(value: Value) -> str:
    """A literal for a SphinxQL statement."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "") + "'"


def quote_list(values: Iterable[Value]) -> str:
    return ", ".join(quote(v) for v in values)


class Connection:
    """One SphinxQL connection to one searchd; a context manager."""

    def __init__(self, host: str, port: int, connect_timeout: float = CONNECT_TIMEOUT,
                 read_timeout: float = READ_TIMEOUT) -> None:
        self.address = f"{host}:{port}"
        if pymysql is None:
            raise ImportError("pymysql is missing: pip install 'vnsearch[cluster]'", name="pymysql")
        try:
            self._conn = pymysql.connect(host=host, port=port, autocommit=True, charset="utf8mb4",
                                         connect_timeout=connect_timeout, read_timeout=read_timeout,
                                         write_timeout=read_timeout, client_flag=CLIENT.MULTI_STATEMENTS)
        except (pymysql.err.Error, OSError) as exc:  # refused, timed out, or not a SphinxQL port
            raise SphinxUnavailable(f"searchd at {self.address} does not answer: {_message(exc)}") from None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._conn.close()
        except pymysql.err.Error:
            pass  # already gone: nothing to release

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement; its rows (none for writes)."""
        return self._run(sql, pymysql.cursors.Cursor)

    def select(self, sql: str) -> SelectResult:
        """A SELECT with its rows as dicts, SHOW META and SHOW WARNINGS."""
        rows = self._run(sql, pymysql.cursors.DictCursor)
        meta = {str(k): str(v) for k, v in self.execute("SHOW META")}
        return SelectResult(rows, meta, _warnings(self.execute("SHOW WARNINGS")))

    def batch(self, statements: Sequence[str]) -> list[SelectResult]:
        """Several SELECTs in one round trip, each with its meta and warnings.
        A statement that fails fails the batch (SphinxError): the caller can
        send them one by one to learn which."""
        if not statements:
            return []
        sql = "; ".join(f"{statement}; SHOW META; SHOW WARNINGS" for statement in statements)
        results: list[SelectResult] = []

        def result_set(cursor: Any) -> tuple[list[str], list[tuple[Any, ...]]]:
            names = [d[0] for d in cursor.description or ()]
            rows = list(cursor.fetchall())
            cursor.nextset()
            return names, rows

        def read(cursor: Any) -> None:
            for _ in statements:
                names, rows = result_set(cursor)
                meta = {str(k): str(v) for k, v in result_set(cursor)[1]}
                warnings = _warnings(result_set(cursor)[1])
                results.append(SelectResult([dict(zip(names, row, strict=True)) for row in rows], meta, warnings))

        self._run(sql, pymysql.cursors.Cursor, read)
        return results

    def _run(self, sql: str, cursor_class: type[Any], read: Callable[[Any], None] | None = None) -> list[Any]:
        try:
            with self._conn.cursor(cursor_class) as cursor:
                cursor.execute(sql)
                if read is not None:
                    read(cursor)
                    return []
                return list(cursor.fetchall())
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            if isinstance(code, int) and code >= 2000:  # client-side: the connection broke
                raise SphinxUnavailable(f"searchd at {self.address} went away: {_message(exc)}") from None
            raise SphinxError(f"{self.address}: {_message(exc)}") from None
        except pymysql.err.InterfaceError as exc:  # the connection was closed under us
            raise SphinxUnavailable(f"searchd at {self.address} went away: {_message(exc)}") from None
        except pymysql.err.Error as exc:
            raise SphinxError(f"{self.address}: {_message(exc)}") from None

    def replace(self, index: str, rows: Sequence[dict[str, Any]]) -> None:
        """REPLACE rows in one statement (every row has the columns of the first)."""
        if not rows:
            return
        columns = list(rows[0])
        values = ", ".join("(" + quote_list(row.get(c) for c in columns) + ")" for row in rows)
        self.execute(f"REPLACE INTO {index} ({', '.join(columns)}) VALUES {values}")

    def delete(self, index: str, row_ids: Sequence[int]) -> None:
        if row_ids:
            self.execute(f"DELETE FROM {index} WHERE id IN ({quote_list(row_ids)})")


def _warnings(rows: Iterable[Sequence[Any]]) -> list[str]:
    """SHOW WARNINGS' messages; 2.2 reports an empty one after some batched statements."""
    return [text for text in (_clean(str(row[2] if len(row) > 2 else row[-1])) for row in rows) if text]


def _message(exc: BaseException) -> str:
    """searchd's own text (2.2 ends some with a NUL)."""
    args = exc.args
    return _clean(str(args[1]) if len(args) > 1 else str(exc))


def _clean(text: str) -> str:
    return text.replace("\x00", "").strip()
