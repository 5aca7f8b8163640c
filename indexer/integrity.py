"""What is wrong with an index's files, found from their structure alone.

Whoosh trusts its files: a segment truncated to half made every search fail
deep inside Whoosh with an EOFError (HTTP 500, a traceback in the log), and
nothing checked that the per-segment arrays still match their headers.
The checks here read headers and directories, a few kilobytes per segment
(about 2 ms), not the data: the compound file's header and directory (its
files must tile it exactly), the table of lengths at the end of the stored
documents' column, and every array's size against its header, the
per-document arrays against the segment's document count, a field's
postings tables against each other. A server makes them once per segment
per process before reading it (indexer/checked_index.py); `vnsearch check`
(indexer/check.py) starts with them, then reads everything; `vnsearch
snapshot` makes them on its copy.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.arrays import ARRAYS_DIR, READABLE_VERSIONS, TEXT_FIELDS, ArraysCodec, PostingsCodec
from indexer.problems import IndexDamaged

COMPOUND_EXT = ".seg"
COMPOUND_HEADER = struct.Struct(">qi")  # where the directory starts, its length (Whoosh's byte order)
STORED_COLUMN = "_stored"  # Whoosh's column of stored fields: <segment>._stored.col
WHOOSH_FILES = (".trm", ".pst", f".{STORED_COLUMN}.col")  # what every non-empty W3 segment has
NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER = re.compile(r"\{'descr': '(?P<descr>[<>|=][a-z]\d+)', 'fortran_order': False, "
                        r"'shape': \((?P<shape>[\d, ]*)\), \}")  # what np.save writes for our arrays
LENGTH_CODES = "bBhHiIqQ"  # array type codes Whoosh writes a column's lengths and offsets in
TABLE_SUFFIXES = ("hash.npy", "first.npy", "df.npy", "tstart.npy", "pfirst.npy", "terms.bin",
                  "docs.npy", "tf.npy", "pos.npy")  # a text field's postings tables
PER_TERM = ("hash.npy", "first.npy", "df.npy", "pfirst.npy")
PER_DOCUMENT_PREFIXES = ("len.", "col.", "has.")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file (``segment`` empty: the index itself)."""

    segment: str
    file: str  # relative to the index folder
    message: str
    missing: bool = False  # the file is absent (maybe merged away since the TOC was read)

    def __str__(self) -> str:
        where = f"segment {self.segment}: {self.file}" if self.segment else self.file
        return f"{where}: {self.message}"


class Damaged(Exception):
    """Raised by the readers below; the message says what is wrong with the file."""


def why(exc: BaseException) -> str:
    """An exception as a short phrase for a report, never a traceback."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- structure: headers and directories ----------------------------------------

class _PlainUnpickler(pickle.Unpickler):
    """The compound directory is a dict of dicts of numbers: refuse anything
    else (a damaged pickle must not name classes to build)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a compound directory")


def column_region(folder: Path, segment: Any, name: str) -> tuple[Path, int, int] | None:
    """(file, where it starts, its length) of a Whoosh segment's file
    ``<segment>.<name>``: inside the compound segment file, or on its own;
    None when the segment has no such file."""
    sid = segment.segment_id()
    wanted = f"{sid}.{name}"
    if segment.is_compound():
        path = folder / (sid + COMPOUND_EXT)
        found = compound_directory(path)[1].get(wanted)
    else:
        path = folder / wanted
        found = (0, path.stat().st_size) if path.exists() else None
    return None if found is None else (path, *found)


def compound_directory(path: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """(where the directory starts, {file: (offset, length)}) of a compound
    segment file. Whoosh writes the files back to back after a 12-byte
    header and the directory after them, so they must tile the file exactly."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(COMPOUND_HEADER.size)
        if len(head) < COMPOUND_HEADER.size:
            raise Damaged(f"holds {size} bytes, less than its header")
        start, length = COMPOUND_HEADER.unpack(head)
        if start < COMPOUND_HEADER.size or length <= 0 or start + length != size:
            raise Damaged(f"its header puts the directory at bytes {start:,}-{start + length:,}, but the file "
                          f"holds {size:,} bytes (truncated, or the header is damaged)")
        handle.seek(start)
        raw = handle.read(length)
    try:
        found = _PlainUnpickler(io.BytesIO(raw)).load()
        entries = {str(name): (int(info["offset"]), int(info["length"])) for name, info in found.items()}
    except Exception as exc:  # noqa: BLE001 - whatever a damaged pickle raises
        raise Damaged(f"its directory cannot be read ({why(exc)})") from None
    position = COMPOUND_HEADER.size
    for name, (offset, length) in sorted(entries.items(), key=lambda item: item[1]):
        if offset != position or length < 0:
            raise Damaged(f"its directory puts {name} at bytes {offset:,}-{offset + length:,}, "
                          f"but the previous file ends at {position:,}")
        position = offset + length
    if position != start:
        raise Damaged(f"its files end at byte {position:,}, but the directory starts at {start:,}")
    return start, entries


@dataclass(frozen=True)
class StoredTables:
    """Where the tables at the end of Whoosh's column of stored fields lie:
    the documents' lengths, and their offsets when Whoosh wrote them (past
    32,768 documents; below, they are the lengths' running sum), each as
    (array type code, offset in the file); ``data`` is the documents' bytes
    before them."""

    lengths: tuple[str, int]
    offsets: tuple[str, int] | None
    data: int


def stored_tables(path: Path, start: int, length: int, documents: int) -> StoredTables:
    """The tables of the column of stored fields ``length`` bytes from
    ``start`` in ``path``, for ``documents`` documents; Damaged if they
    cannot be where its last bytes say. Whoosh ends the column with the
    lengths' array type code, or with "X" after the lengths' and the
    offsets' codes."""
    if length < 1:
        raise Damaged("the stored documents' column is empty")
    last = start + length - 1
    with open(path, "rb") as handle:
        handle.seek(max(start, last - 2))
        tail = handle.read(last + 1 - max(start, last - 2))
    if len(tail) != last + 1 - max(start, last - 2):
        raise Damaged(f"ends before byte {last + 1:,}")
    code, offsets_code = chr(tail[-1]), None
    if code == "X" and len(tail) == 3:
        code, offsets_code = chr(tail[0]), chr(tail[1])
        last -= 2
    if code not in LENGTH_CODES or (offsets_code is not None and offsets_code not in LENGTH_CODES):
        raise Damaged("the stored documents' column does not end with a table of lengths")
    offsets = None
    if offsets_code is not None:
        last -= documents * struct.calcsize(offsets_code)
        if last < start:
            raise Damaged(f"the stored documents' column is too short for {documents:,} offsets")
        offsets = (offsets_code, last)
    lengths_at = last - documents * struct.calcsize(code)
    if lengths_at < start:
        raise Damaged(f"the stored documents' column is too short for {documents:,} lengths")
    return StoredTables((code, lengths_at), offsets, lengths_at - start)


def stored_column_problem(path: Path, start: int, length: int, documents: int) -> str | None:
    """What is wrong with the tables at the end of Whoosh's column of stored
    fields (``length`` bytes from ``start`` in ``path``), or None. Whoosh
    reads a document at the offset those tables give, and trusts it."""
    if not documents:
        return None
    try:
        tables = stored_tables(path, start, length, documents)
    except Damaged as exc:
        return str(exc)
    with open(path, "rb") as handle:
        def read(code: str, position: int) -> np.ndarray:
            size = documents * struct.calcsize(code)
            handle.seek(position)
            data = handle.read(size)
            if len(data) != size:
                raise Damaged(f"ends before byte {position + size:,}")
            return np.frombuffer(data, f">{code}").astype(np.int64)

        lengths = read(*tables.lengths)
        offsets = None if tables.offsets is None else read(*tables.offsets)
    if offsets is None:
        if int(lengths.sum()) != tables.data:
            return (f"the stored documents' lengths add up to {int(lengths.sum()):,} bytes, "
                    f"but the column holds {tables.data:,}")
    elif len(lengths) and (int(lengths.min()) < 0 or int((offsets + lengths).max()) > tables.data):
        return "a stored document's offset points past the column"
    return None


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, where the data starts) of a .npy file. Parsed here, not
    by numpy: numpy reads the header with ``ast.literal_eval``, and Python
    3.11's AST constructor is not thread-safe (concurrent calls from server
    threads failed with "SystemError: AST constructor recursion depth
    mismatch", CPython gh-106905), which would have looked like damage."""
    with open(path, "rb") as handle:
        prefix = handle.read(10)
        if len(prefix) < 10 or prefix[:6] != NPY_MAGIC or prefix[6] not in (1, 2, 3):
            raise Damaged("is not a .npy file (its first bytes are wrong)")
        size_bytes = prefix[8:10] if prefix[6] == 1 else prefix[8:10] + handle.read(2)
        length = int.from_bytes(size_bytes, "little")
        text = handle.read(length).decode("latin-1")
        start = handle.tell()
    found = NPY_HEADER.fullmatch(text.strip())
    if len(text) != length or found is None:
        raise Damaged("its header cannot be read")
    try:
        dtype = np.dtype(found["descr"])
    except TypeError:
        raise Damaged(f"its header names an unknown type {found['descr']!r}") from None
    shape = tuple(int(n) for n in found["shape"].split(",") if n.strip())
    return shape, dtype, start


# -- one segment ------------------------------------------------------------------

def requires_arrays(segment: Any) -> bool:
    """Format 3: the text postings exist only in the arrays."""
    return isinstance(segment.codec(), PostingsCodec)


def has_arrays(segment: Any) -> bool:
    """Format 2 or 3 (format 2 also kept the text postings in Whoosh's files)."""
    return isinstance(segment.codec(), PostingsCodec | ArraysCodec)


def segment_problems(index_dir: Path, segment: Any, optional_arrays: bool = False) -> list[Problem]:
    """What is wrong with a segment's structure: its Whoosh files, then its
    arrays if it needs them (format 3), or if ``optional_arrays`` and it has
    some in a format this version reads (format 2: a server searches them
    only when they match, and Whoosh's files otherwise). Reads headers and
    directories only."""
    found = whoosh_problems(index_dir, segment)
    if requires_arrays(segment) or (optional_arrays and has_arrays(segment)
                                    and readable_arrays(index_dir / ARRAYS_DIR / segment.segment_id())):
        found += arrays_problems(index_dir, segment.segment_id(), segment.doc_count_all())
    return found


def readable_arrays(folder: Path) -> bool:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("version") in READABLE_VERSIONS
    except (OSError, ValueError, AttributeError):
        return False


def whoosh_problems(index_dir: Path, segment: Any) -> list[Problem]:
    sid = segment.segment_id()
    documents = segment.doc_count_all()
    if segment.is_compound():
        name = sid + COMPOUND_EXT
        try:
            _, entries = compound_directory(index_dir / name)
            stored = entries.get(f"{sid}.{STORED_COLUMN}.col")
            missing = [sid + ext for ext in WHOOSH_FILES if sid + ext not in entries] if documents else []
            if missing:
                return [Problem(sid, name, f"its directory lacks {', '.join(missing)}")]
            problem = stored and stored_column_problem(index_dir / name, stored[0], stored[1], documents)
        except FileNotFoundError:
            return [Problem(sid, name, "is missing", missing=True)]
        except (Damaged, OSError) as exc:
            return [Problem(sid, name, str(exc) if isinstance(exc, Damaged) else why(exc))]
        return [Problem(sid, name, problem)] if problem else []
    problems = [Problem(sid, sid + ext, "is missing", missing=True)
                for ext in (WHOOSH_FILES if documents else ()) if not (index_dir / (sid + ext)).is_file()]
    if problems:
        return problems
    column = index_dir / f"{sid}.{STORED_COLUMN}.col"
    try:
        problem = stored_column_problem(column, 0, column.stat().st_size, documents) if documents else None
    except (Damaged, OSError) as exc:
        problem = str(exc) if isinstance(exc, Damaged) else why(exc)
    return [Problem(sid, column.name, problem)] if problem else []


def arrays_problems(index_dir: Path, sid: str, documents: int) -> list[Problem]:
    """Every array's size against its header, per-document arrays against
    the document count, a field's postings tables against each other."""
    folder = index_dir / ARRAYS_DIR / sid
    where = f"{ARRAYS_DIR}/{sid}"
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        version, counted = meta["version"], int(meta["docs"])
    except FileNotFoundError:
        return [Problem(sid, f"{where}/meta.json", "is missing (the segment's arrays are gone)", missing=True)]
    except Exception as exc:  # noqa: BLE001 - a damaged meta.json: bad JSON, keys or values
        return [Problem(sid, f"{where}/meta.json", f"cannot be read ({why(exc)})")]
    problems = []
    if version not in READABLE_VERSIONS:
        problems.append(Problem(sid, f"{where}/meta.json", f"arrays format {version!r} is not one this version reads"))
    if counted != documents:
        problems.append(Problem(sid, f"{where}/meta.json",
                                f"counts {counted:,} documents, the segment has {documents:,}"))
    shapes: dict[str, tuple[int, ...]] = {}
    for path in sorted(folder.glob("*.npy")):
        try:
            shape, dtype, offset = npy_header(path)
            expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            size = path.stat().st_size
        except (Damaged, OSError) as exc:
            problems.append(Problem(sid, f"{where}/{path.name}", str(exc) if isinstance(exc, Damaged) else why(exc)))
            continue
        if size != expected:
            problems.append(Problem(sid, f"{where}/{path.name}",
                                    f"holds {size:,} bytes, its header promises {expected:,}"))
            continue
        shapes[path.name] = shape
    for name, shape in shapes.items():
        if name.startswith(PER_DOCUMENT_PREFIXES) and shape[0] != documents:
            problems.append(Problem(sid, f"{where}/{name}", f"has {shape[0]:,} values for {documents:,} documents"))
        column = name.removeprefix("col.").removesuffix(".npy")
        if name.startswith("col.") and f"has.{column}.npy" not in shapes:  # a keyword column: codes
            problems += _labels_problems(folder / f"col.{column}.json", where, sid)
    for field in TEXT_FIELDS:
        problems += _tables_problems(folder, where, sid, field, shapes)
    return problems


def _labels_problems(path: Path, where: str, sid: str) -> list[Problem]:
    """A keyword column's labels: the JSON list its codes index."""
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [Problem(sid, f"{where}/{path.name}", "is missing", missing=True)]
    except Exception as exc:  # noqa: BLE001 - bad UTF-8 or JSON
        return [Problem(sid, f"{where}/{path.name}", f"cannot be read ({why(exc)})")]
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        return [Problem(sid, f"{where}/{path.name}", "is not a list of labels")]
    return []


def _tables_problems(folder: Path, where: str, sid: str, field: str,
                     shapes: dict[str, tuple[int, ...]]) -> list[Problem]:
    """A text field's postings tables agree in length; its terms' text ends
    where the last term's start says."""
    present = [s for s in TABLE_SUFFIXES if (folder / f"{field}.{s}").exists()]
    if not present:
        return []
    absent = [f"{field}.{s}" for s in TABLE_SUFFIXES if s not in present]
    if absent:
        return [Problem(sid, f"{where}/{absent[0]}", "is missing", missing=True)]
    if any(f"{field}.{s}" not in shapes for s in TABLE_SUFFIXES if s.endswith(".npy")):
        return []  # reported above, by file
    terms = shapes[f"{field}.hash.npy"][0]
    problems = []
    for suffix in PER_TERM:
        if shapes[f"{field}.{suffix}"][0] != terms:
            problems.append(Problem(sid, f"{where}/{field}.{suffix}",
                                    f"has {shapes[f'{field}.{suffix}'][0]:,} values for {terms:,} terms"))
    if shapes[f"{field}.tstart.npy"][0] != terms + 1:
        problems.append(Problem(sid, f"{where}/{field}.tstart.npy",
                                f"has {shapes[f'{field}.tstart.npy'][0]:,} values for {terms:,} terms (+1)"))
    if shapes[f"{field}.docs.npy"][0] != shapes[f"{field}.tf.npy"][0]:
        problems.append(Problem(sid, f"{where}/{field}.tf.npy", f"has {shapes[f'{field}.tf.npy'][0]:,} "
                                f"frequencies for {shapes[f'{field}.docs.npy'][0]:,} postings"))
    high = shapes.get(f"{field}.dochigh.npy")
    if high is not None and (len(high) != 2 or high[0] != terms):
        problems.append(Problem(sid, f"{where}/{field}.dochigh.npy", f"has shape {high} for {terms:,} terms"))
    if not problems and terms:
        end = _last_value(folder / f"{field}.tstart.npy")
        size = (folder / f"{field}.terms.bin").stat().st_size
        if end != size:
            problems.append(Problem(sid, f"{where}/{field}.terms.bin",
                                    f"holds {size:,} bytes, {field}.tstart.npy says {end:,}"))
    return problems


def _last_value(path: Path) -> int:
    shape, dtype, offset = npy_header(path)
    with open(path, "rb") as handle:
        handle.seek(offset + (shape[0] - 1) * dtype.itemsize)
        return int(np.frombuffer(handle.read(dtype.itemsize), dtype)[0])


def damaged(index_dir: Path, problems: list[Problem]) -> IndexDamaged:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return IndexDamaged(f"the index at {index_dir} is damaged: {problems[0]}{more}. Run "
                              f"`vnsearch check --index {index_dir}`, then restore a snapshot or rebuild it")
