"""`vnsearch check`: read the whole index and report every problem found,
by segment and file.

It starts with the structural checks a server makes before it opens a
segment (indexer/integrity.py: the compound file's directory, every array
against its header and the document count), then reads what those cannot
vouch for:

- every stored document, decoded (zlib's checksum catches a flipped byte);
- every keyword posting list (id, author, category, ...): readable, in
  ascending order, within the segment, as long as its term says; and the id
  field has exactly one posting per document;
- the text postings tables of each field: the terms' hashes sorted, their
  postings ranges (``first``, ``df``) tiling ``docs``/``tf`` exactly,
  document numbers within the segment and ascending per term (after the
  16-bit blocks of ``dochigh``), and ``pos`` holding exactly the positions
  the placed terms' frequencies call for, where ``pfirst`` says;
- keyword columns' codes within their labels; deletions within the segment.

A failure anywhere is reported and the check goes on with the next part and
the next segment; it never ends with a traceback. Postings are read in
chunks of CHUNK postings with pread (indexer/filearray.py), so memory stays
bounded by the per-term and per-document tables (what a server maps anyway)
plus a chunk, whatever the index's size.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from indexer import postings, store
from indexer.arrays import ARRAYS_DIR, FORMAT_VERSION, TEXT_FIELDS
from indexer.filearray import FileArray
from indexer.integrity import (
    COMPOUND_EXT,
    STORED_COLUMN,
    Problem,
    has_arrays,
    readable_arrays,
    requires_arrays,
    segment_problems,
    why,
)
from indexer.postings import NO_POSITIONS, term_chunks

CHUNK = 1 << 20  # postings read at a time (~30 MB of temporaries)
ID_FIELD = "id"  # one posting per document, deleted ones included, until a merge drops them


@dataclass
class CheckResult:
    index: Path
    generation: int = -1
    segments: int = 0
    documents: int = 0  # deleted ones included: what the segments hold
    live: int = 0
    size_bytes: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    committed_since: bool = False  # a writer committed (and may have merged files away) meanwhile

    def line(self) -> str:
        segments = len({p.segment for p in self.problems if p.segment})
        verdict = (f"{len(self.problems)} problem(s)" + (f" in {segments} segment(s)" if segments else "")
                   if self.problems else "no problems found")
        if self.committed_since and any(p.missing for p in self.problems):
            verdict += ("; the index was written to during the check, so missing files may have been "
                        "merged away: check a snapshot instead")
        return (f"{self.index}: generation {self.generation}, {self.segments} segment(s), "
                f"{self.documents:,} documents ({self.live:,} live), {self.size_bytes / 1e6:,.1f} MB "
                f"checked in {self.seconds:.1f} s: {verdict}")


def check_index(index_dir: str | Path | None = None,
                report: Callable[[Problem], None] | None = None) -> CheckResult:
    """Check the index at ``index_dir``; ``report`` hears each problem as it is found."""
    started = time.monotonic()
    path = store.resolve_index_dir(index_dir)
    if not store.index_exists(path):
        raise store.IndexMissing(f"no index at {path}")
    result = CheckResult(path)

    def found(problem: Problem) -> None:
        result.problems.append(problem)
        if report is not None:
            report(problem)

    storage = FileStorage(str(path), supports_mmap=False)  # plain reads: no segment copied into memory
    generation = TOC._latest_generation(storage, store.INDEX_NAME)
    result.generation = generation
    toc_name = TOC._filename(store.INDEX_NAME, generation)
    try:
        toc = TOC.read(storage, store.INDEX_NAME, gen=generation)
    except Exception as exc:  # noqa: BLE001 - a damaged TOC raises anything unpickling does
        found(Problem("", toc_name, f"cannot be read ({why(exc)})"))
        result.seconds = time.monotonic() - started
        return result
    for segment in toc.segments:
        sid = segment.segment_id()
        result.segments += 1
        result.documents += segment.doc_count_all()
        result.live += segment.doc_count()
        try:
            result.size_bytes += _size(path, sid)
            for problem in check_segment(path, storage, toc.schema, segment, toc_name):
                found(problem)
        except Exception as exc:  # noqa: BLE001 - report, and go on with the next segment
            found(Problem(sid, sid, f"could not be checked to the end ({why(exc)})"))
    result.seconds = time.monotonic() - started
    result.committed_since = TOC._latest_generation(storage, store.INDEX_NAME) != generation
    return result


def _size(path: Path, sid: str) -> int:
    files = list(path.glob(f"{sid}.*")) + list((path / ARRAYS_DIR / sid).glob("*"))
    return sum(f.stat().st_size for f in files if f.is_file())


def check_segment(path: Path, storage: Any, schema: Any, segment: Any, toc_name: str) -> Iterator[Problem]:
    """The structural checks, then the contents of whichever files passed them."""
    structural = segment_problems(path, segment, optional_arrays=True)
    yield from structural
    in_arrays = [p.file.startswith(ARRAYS_DIR + "/") for p in structural]
    if all(in_arrays):
        yield from _whoosh_contents(storage, schema, segment)
    folder = path / ARRAYS_DIR / segment.segment_id()
    if not any(in_arrays) and (requires_arrays(segment) or (has_arrays(segment) and readable_arrays(folder))):
        yield from _arrays_contents(path, segment)
    count = segment.doc_count_all()
    outside = [d for d in segment.deleted_docs() if not 0 <= d < count]
    if outside:
        yield Problem(segment.segment_id(), toc_name,
                      f"deletes {len(outside):,} document(s) the segment does not have (e.g. {outside[0]})")


# -- Whoosh's files: stored documents and keyword postings -------------------------

def _whoosh_contents(storage: Any, schema: Any, segment: Any) -> Iterator[Problem]:
    sid = segment.segment_id()
    compound = segment.is_compound()
    stored_file = sid + (COMPOUND_EXT if compound else f".{STORED_COLUMN}.col")
    terms_file = sid + (COMPOUND_EXT if compound else ".trm")
    try:
        files = segment.open_compound_file(storage) if compound else storage
    except Exception as exc:  # noqa: BLE001
        yield Problem(sid, stored_file, f"cannot be opened ({why(exc)})")
        return
    try:
        codec = segment.codec()
        try:
            perdoc = codec.per_document_reader(files, segment)
        except Exception as exc:  # noqa: BLE001
            yield Problem(sid, stored_file, f"the stored documents cannot be opened ({why(exc)})")
        else:
            try:
                yield from _stored_problems(perdoc, segment, schema, stored_file)
            finally:
                perdoc.close()
        try:
            terms = W3Codec.terms_reader(codec, files, segment)  # Whoosh's own terms, not the arrays
        except Exception as exc:  # noqa: BLE001
            yield Problem(sid, terms_file, f"the keyword terms cannot be opened ({why(exc)})")
        else:
            try:
                yield from _keyword_problems(terms, segment, schema, terms_file)
            finally:
                terms.close()
    finally:
        if files is not storage:
            files.close()


def _stored_problems(perdoc: Any, segment: Any, schema: Any, where: str) -> Iterator[Problem]:
    """Every stored document decodes, to a dict with its id."""
    sid, count = segment.segment_id(), segment.doc_count_all()
    unreadable, first_error, without_id = 0, "", 0
    examples: list[str] = []
    wants_id = ID_FIELD in schema.stored_names()
    for docnum in range(count):
        try:
            fields = perdoc.stored_fields(docnum)
            if not isinstance(fields, dict):
                raise TypeError(f"a {type(fields).__name__}, not a dict")
        except Exception as exc:  # noqa: BLE001 - whatever damaged bytes decode to
            first_error = first_error or why(exc)
            unreadable += 1
            if len(examples) < 5:
                examples.append(str(docnum))
            continue
        if wants_id and not fields.get(ID_FIELD):
            without_id += 1
    if unreadable:
        shown = ", ".join(examples) + (", ..." if unreadable > len(examples) else "")
        yield Problem(sid, where, f"{unreadable:,} of {count:,} stored documents cannot be read "
                                  f"(document {shown}: {first_error})")
    if without_id:
        yield Problem(sid, where, f"{without_id:,} stored documents have no {ID_FIELD!r}")


def _keyword_problems(terms: Any, segment: Any, schema: Any, where: str) -> Iterator[Problem]:
    """Every posting list of Whoosh's terms (the keyword fields in format 3)
    reads back in order, within the segment, as long as its term says."""
    sid, count = segment.segment_id(), segment.doc_count_all()
    bad: dict[str, tuple[int, str]] = {}  # field -> (terms with a problem, the first)
    per_field: dict[str, int] = {}

    def note(fieldname: str, text: bytes, problem: str) -> None:
        seen, first = bad.get(fieldname, (0, f"{text[:40]!r}: {problem}"))
        bad[fieldname] = (seen + 1, first)

    try:
        items = terms.items()
        for (fieldname, text), info in items:
            if fieldname not in schema:
                note(fieldname, text, "a field the schema does not have")
                continue
            try:
                matcher = terms.matcher(fieldname, text, schema[fieldname].format)
                ids = np.fromiter(matcher.all_ids(), dtype=np.int64)
            except Exception as exc:  # noqa: BLE001
                note(fieldname, text, f"cannot be read ({why(exc)})")
                continue
            per_field[fieldname] = per_field.get(fieldname, 0) + len(ids)
            if len(ids) != info.doc_frequency():
                note(fieldname, text, f"{len(ids)} postings, its term says {info.doc_frequency()}")
            elif len(ids) and (int(ids[0]) < 0 or int(ids[-1]) >= count or bool(np.any(np.diff(ids) <= 0))):
                note(fieldname, text, f"document numbers out of order or past {count:,}")
    except Exception as exc:  # noqa: BLE001 - the term table itself is damaged
        yield Problem(sid, where, f"the keyword terms cannot be read to the end ({why(exc)})")
    for fieldname, (seen, first) in sorted(bad.items()):
        yield Problem(sid, where, f"{seen:,} {fieldname!r} posting list(s) are wrong (first: {first})")
    if ID_FIELD in schema and ID_FIELD not in bad and per_field.get(ID_FIELD, 0) != count:
        yield Problem(sid, where, f"the {ID_FIELD!r} field has {per_field.get(ID_FIELD, 0):,} postings "
                                  f"for {count:,} stored documents")


# -- the arrays ---------------------------------------------------------------------

def _arrays_contents(path: Path, segment: Any) -> Iterator[Problem]:
    sid, count = segment.segment_id(), segment.doc_count_all()
    folder = path / ARRAYS_DIR / sid
    where = f"{ARRAYS_DIR}/{sid}"
    version = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["version"]
    for codes_path in sorted(folder.glob("col.*.npy")):
        labels_path = codes_path.with_suffix(".json")
        if not labels_path.exists():
            continue  # a numeric column
        labels = json.loads(labels_path.read_text(encoding="utf-8"))
        try:
            codes = np.asarray(FileArray(codes_path))
        except Exception as exc:  # noqa: BLE001
            yield Problem(sid, f"{where}/{codes_path.name}", f"cannot be read ({why(exc)})")
            continue
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(labels)):
            yield Problem(sid, f"{where}/{codes_path.name}", f"has codes outside its {len(labels)} labels")
    for name in TEXT_FIELDS:
        if (folder / f"{name}.hash.npy").exists():
            try:
                yield from _postings_problems(folder, where, sid, name, count, version)
            except Exception as exc:  # noqa: BLE001
                yield Problem(sid, f"{where}/{name}.*", f"the postings could not be checked ({why(exc)})")


def _postings_problems(folder: Path, where: str, sid: str, name: str, count: int,
                       version: int) -> Iterator[Problem]:
    """One text field's postings tables, the postings read chunk by chunk."""
    def table(suffix: str) -> FileArray:
        return FileArray(folder / f"{name}.{suffix}")

    def at(suffix: str, message: str) -> Problem:
        return Problem(sid, f"{where}/{name}.{suffix}", message)

    hashes = np.asarray(table("hash.npy"))
    if len(hashes) > 1 and bool(np.any(hashes[1:] < hashes[:-1])):
        yield at("hash.npy", "the term hashes are not sorted (lookups would miss terms)")
    df = np.asarray(table("df.npy")).astype(np.int64)
    first = np.asarray(table("first.npy")).astype(np.int64)
    pfirst = np.asarray(table("pfirst.npy")).astype(np.int64)
    tstart = np.asarray(table("tstart.npy")).astype(np.int64)
    docs, tf, pos = table("docs.npy"), table("tf.npy"), table("pos.npy")
    if len(tstart) and (int(tstart[0]) != 0 or bool(np.any(np.diff(tstart) < 0))):
        yield at("tstart.npy", "the terms' starts are not in order from 0")
    if bool(np.any(df < 0)):
        yield at("df.npy", "has negative document frequencies")
        return
    order = np.lexsort((df, first))  # storage order (terms left without postings by a merge first)
    counts = df[order]
    starts = np.cumsum(counts) - counts
    if int(counts.sum()) != len(docs):
        yield at("df.npy", f"the terms' document frequencies add up to {int(counts.sum()):,}, "
                           f"{name}.docs.npy holds {len(docs):,} postings")
        return
    if not np.array_equal(first[order], starts):
        yield at("first.npy", "the terms' postings ranges overlap or leave gaps")
        return
    high = np.load(folder / f"{name}.dochigh.npy", mmap_mode="r") if (folder / f"{name}.dochigh.npy").exists() else None
    placed_only = version == FORMAT_VERSION  # format 2 laid its positions out otherwise
    if placed_only and bool(np.any((pfirst < 0) & (pfirst != NO_POSITIONS))):
        yield at("pfirst.npy", "has starts that are neither positions nor 'no positions'")
        placed_only = False
    positions = 0
    reported: set[str] = set()
    for i, j in term_chunks(counts, CHUNK):
        slots = order[i:j]
        start, stop = int(starts[i]), int(starts[j - 1] + counts[j - 1])
        chunk_counts = counts[i:j]
        chunk_docs = docs.read(start, stop).astype(np.int64)
        if high is not None:
            rows = np.asarray(high[slots], dtype=np.int64)
            if bool(np.any(np.diff(rows, axis=1, prepend=0, append=chunk_counts[:, None]) < 0)):
                yield at("dochigh.npy", "a term's block starts are out of order or past its postings")
                return
            chunk_docs = _full_doc_numbers(rows, chunk_counts, chunk_docs)
        term = np.repeat(np.arange(j - i), chunk_counts)
        if len(chunk_docs) and int(chunk_docs.max()) >= count and "range" not in reported:
            reported.add("range")
            yield at("docs.npy", f"has document numbers past the segment's {count:,} documents")
        if bool(np.any((term[1:] == term[:-1]) & (np.diff(chunk_docs) <= 0))) and "order" not in reported:
            reported.add("order")
            yield at("docs.npy", "a term's postings are not in ascending document order")
        if not placed_only:
            continue
        running = np.concatenate(([0], np.cumsum(tf.read(start, stop).astype(np.int64))))
        local = starts[i:j] - start
        sums = running[local + chunk_counts] - running[local]  # each term's frequencies, summed
        placed = pfirst[slots] >= 0
        wanted = np.where(placed, sums, 0)
        expected = positions + np.cumsum(wanted) - wanted
        if bool(np.any(placed & (pfirst[slots] != expected))) and "pfirst" not in reported:
            reported.add("pfirst")
            yield at("pfirst.npy", "a term's positions do not start where the frequencies before it end")
        positions += int(wanted.sum())
    if placed_only and positions != len(pos):
        yield at("pos.npy", f"holds {len(pos):,} positions, the placed terms' frequencies call for {positions:,}")


def _full_doc_numbers(rows: np.ndarray, counts: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Document numbers from their low 16 bits and each term's block starts
    (as SegmentArrays._doc_numbers reads them)."""
    counts = counts.astype(np.int64)
    bounds = np.concatenate([np.zeros((len(counts), 1), np.int64), rows, counts[:, None]], axis=1)
    steps = np.diff(bounds, axis=1)
    block = np.repeat(np.tile(np.arange(bounds.shape[1] - 1, dtype=np.int64), len(counts)), steps.ravel())
    return (block << postings.DOC_BLOCK_BITS) | low
