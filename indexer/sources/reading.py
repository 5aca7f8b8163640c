"""Walk archive paths and turn files into raw records, reporting what is bad.

Formats, chosen by file name:
  *.jsonl, *.jsonl.gz, *.ndjson(.gz)  one article object a line
  *.txt (and any file named explicitly)  a scraped article ("author | dd/mm/yyyy"
        line, see raw_text.py) or plain text: first line title, rest body

Every problem becomes a ``Problem`` with file and line, and reading goes on:
an invalid JSON line, a line that is not UTF-8, a truncated gzip, a binary
file, an oversized record. Files in UTF-16 (with BOM) and UTF-8 with BOM are
decoded; a text file that is not UTF-8 is read as Windows-1258, the legacy
Vietnamese code page, and said so.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from indexer.sources.raw_text import parse_raw_article

Paths = Iterable[str | os.PathLike[str]]

MAX_RECORD_BYTES = 8 * 1024 * 1024  # one article larger than this is refused
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
TEXT_SUFFIXES = (".txt",)
_AUTHOR_LINE = re.compile(r"^[^|\n]{1,120}\|\s*\d{1,2}[/.-]\d{1,2}[/.-]\d{4}", re.M)
# Characters searched for that byline: the scraper writes it a few lines from
# the top, under a teaser and a title (a few hundred characters at most), so
# a date deep in a plain-text body does not turn the file into a scraped one.
BYLINE_SEARCH_CHARS = 4000


@dataclass
class RawRecord:
    path: str
    line: int
    data: Any  # what the file held; article_from_dict says whether it is a record


@dataclass
class Problem:
    path: str
    line: int | None
    message: str
    skipped: bool = False  # a file we do not read, not a rejected record
    notice: bool = False  # information only: the record is read all the same

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


def iter_files(paths: Paths) -> Iterator[tuple[Path, bool]]:
    """Files under ``paths`` with a flag: named explicitly (read whatever its
    suffix) or found by walking a directory (only known suffixes)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name, False
        else:
            yield path, True


def read_paths(paths: Paths) -> Iterator[RawRecord | Problem]:
    for path, explicit in iter_files(paths):
        name = path.name.lower()
        if not path.exists():
            yield Problem(str(path), None, "no such file or directory")
        elif name.endswith(JSONL_SUFFIXES):
            yield from read_jsonl(path)
        elif explicit or name.endswith(TEXT_SUFFIXES):
            yield from read_text_file(path)
        else:
            yield Problem(str(path), None, "skipped: not a .jsonl, .jsonl.gz or .txt file",
                          skipped=True)


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _open_binary(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


def read_jsonl(path: Path) -> Iterator[RawRecord | Problem]:
    where = str(path)
    lineno = 0
    try:
        with _open_binary(path) as handle:
            peek = getattr(handle, "peek", None)
            head = peek(4)[:4] if peek is not None else b""
            encoding = _bom_encoding(head)
            source: Iterable[bytes]
            if encoding == "utf-16":
                lines = handle.read().decode("utf-16").splitlines()
                source = (line.encode("utf-8") for line in lines)
            else:
                source = handle
            for lineno, raw in enumerate(source, start=1):
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                yield from _jsonl_line(where, lineno, raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        yield Problem(where, lineno + 1 if lineno else None,
                      f"truncated or corrupt gzip ({exc}); lines before it were read")
    except OSError as exc:
        yield Problem(where, None, f"cannot read file: {exc.strerror or exc}")


def _jsonl_line(where: str, lineno: int, raw: bytes) -> Iterator[RawRecord | Problem]:
    if not raw.strip():
        return
    if len(raw) > MAX_RECORD_BYTES:
        yield Problem(where, lineno, f"record of {len(raw):,} bytes is over the "
                                     f"{MAX_RECORD_BYTES:,}-byte limit")
        return
    if b"\x00" in raw:
        yield Problem(where, lineno, "binary data (NUL bytes), not a JSON line")
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        yield Problem(where, lineno, f"not valid UTF-8 (byte {exc.start})")
        return
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        message = getattr(exc, "msg", "nested too deeply")
        yield Problem(where, lineno, f"invalid JSON: {message}")
        return
    yield RawRecord(where, lineno, data)


def decode_text(data: bytes) -> tuple[str, str | None]:
    """(text, note) for a text file; raises ValueError for binary data."""
    encoding = _bom_encoding(data[:4])
    if encoding:
        return data.decode(encoding, errors="replace"), None
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return data.decode("cp1258", errors="replace"), "not UTF-8: read as Windows-1258"


def read_text_file(path: Path) -> Iterator[RawRecord | Problem]:
    where = str(path)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            yield Problem(where, None, f"file is over the {MAX_RECORD_BYTES:,}-byte limit")
            return
        text, note = decode_text(path.read_bytes())
    except ValueError as exc:
        yield Problem(where, None, str(exc))
        return
    except OSError as exc:
        yield Problem(where, None, f"cannot read file: {exc.strerror or exc}")
        return
    if note:
        yield Problem(where, None, note, notice=True)
    if _AUTHOR_LINE.search(text[:BYLINE_SEARCH_CHARS]):
        data = parse_raw_article(text)
        warnings = data.pop("warnings", [])
        if warnings:  # e.g. a date like 32/13/2022: refuse rather than guess
            yield Problem(where, None, "; ".join(warnings))
            return
    else:
        data = parse_plain_text(text)
    yield RawRecord(where, 1, data)


def parse_plain_text(text: str) -> dict[str, str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    title = lines[0].strip() if lines else ""
    body = "\n".join(lines[1:]).strip()
    return {"title": title, "body": body}
