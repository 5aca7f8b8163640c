"""The peer every benchmark compares against: SQLite FTS5 (unicode61 with
remove_diacritics 2) over the same articles, with đ/Đ folded to d in Python
because FTS5 does not fold it. Queries are folded the same way."""

from __future__ import annotations

import re
import sqlite3
import time

_D = str.maketrans("đĐ", "dD")
_WORD = re.compile(r"[^\W_]+")


def fold_d(text: str) -> str:
    return text.translate(_D)


class Fts5:
    def __init__(self, path=":memory:"):
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, body, "
                        "tokenize='unicode61 remove_diacritics 2')")

    def index(self, records) -> float:
        started = time.perf_counter()
        rows = ((r["id"], fold_d(r.get("title") or ""),
                 fold_d("\n".join(p for p in (r.get("lead"), r.get("body")) if p)))
                for r in records)
        with self.db:
            self.db.executemany("INSERT INTO docs VALUES (?, ?, ?)", rows)
        return time.perf_counter() - started

    def search(self, query: str, limit: int = 10, mode: str = "OR") -> list[str]:
        words = _WORD.findall(fold_d(query))
        if not words:
            return []
        match = f" {mode} ".join('"' + w.replace('"', "") + '"' for w in words)
        rows = self.db.execute(
            "SELECT id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 4.0, 1.0) LIMIT ?",
            (match, limit))
        return [row[0] for row in rows]
