"""`vnsearch snapshot DEST`: a consistent copy of the index, taken while a
server reads it and an editor writes to it.

A committed index is a table of contents (``_MAIN_<generation>.toc``: the
schema, the live segments and their deletions) and the files it names: each
segment's Whoosh file (``MAIN_<id>.seg``) and its arrays folder
(``arrays/MAIN_<id>/``). None of those files ever changes once committed;
a commit writes a new TOC and new segments, and a merge deletes the files of
the segments it replaced. So a snapshot only has to stop deletions for as
long as it takes to hard-link the latest TOC and its files: it holds the
index's write lock (waiting for a writer as writers do,
VNSEARCH_LOCK_TIMEOUT) for a few milliseconds, links, and releases it.
Readers never notice; a writer waits at most those milliseconds.

The links go straight into ``DEST.tmp`` when it is on the index's
filesystem (then the snapshot shares the files' blocks with the index, and
costs no space until merges replace them), otherwise into a staging folder
inside the index (``.snapshot-<pid>.tmp``, which Whoosh ignores), whose
files are then copied to ``DEST.tmp`` without the lock. ``--copy`` copies
even on the same filesystem (a snapshot that shares no blocks with the index).
``DEST.tmp`` is checked (the structural checks servers make), synced and
renamed to ``DEST``: a snapshot interrupted at any point leaves no ``DEST``.

Restoring is pointing ``--index`` (or VNSEARCH_INDEX) at ``DEST``: it holds
exactly the articles committed at the snapshot's generation.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from whoosh.index import TOC

from indexer import store
from indexer.arrays import ARRAYS_DIR
from indexer.integrity import COMPOUND_EXT, Problem, damaged, segment_problems

STAGING_PREFIX = ".snapshot-"  # Whoosh's clean-up skips names starting with a dot


class SnapshotError(store.IndexProblem):
    """The snapshot cannot be made where it was asked for; the message says why."""


@dataclass
class SnapshotSummary:
    source: Path
    dest: Path
    generation: int
    segments: int
    articles: int  # live documents
    files: int
    size_bytes: int
    linked: bool  # hard links (same filesystem) or copies
    lock_seconds: float
    seconds: float

    def line(self) -> str:
        how = "hard links" if self.linked else "copies"
        return (f"snapshot of {self.source} at generation {self.generation} -> {self.dest}: "
                f"{self.segments} segment(s), {self.articles:,} articles, {self.files} files, "
                f"{self.size_bytes / 1e6:,.1f} MB ({how}); lock held {self.lock_seconds * 1000:.0f} ms, "
                f"{self.seconds:.1f} s in all")


def snapshot(index_dir: str | os.PathLike[str] | None, dest: str | os.PathLike[str],
             lock_timeout: float | None = None, copy: bool = False) -> SnapshotSummary:
    """Write the index's latest commit to ``dest``, which must not exist."""
    started = time.monotonic()
    source = store.resolve_index_dir(index_dir)
    target = Path(dest)
    tmp = target.with_name(target.name + ".tmp")
    _refuse_bad_destination(source, target, tmp)
    ix = store.open_index(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.mkdir()
    same_filesystem = os.stat(tmp).st_dev == os.stat(source).st_dev
    stage = tmp if same_filesystem and not copy else source / f"{STAGING_PREFIX}{os.getpid()}.tmp"
    try:
        locked = time.monotonic()
        with store.write_lock(ix, source, lock_timeout):
            locked = time.monotonic()
            _remove_abandoned_stages(source)
            if stage != tmp:
                shutil.rmtree(stage, ignore_errors=True)  # this process's own, left by a failed attempt
            toc = ix._read_toc()  # the latest commit: none can happen while we hold the lock
            names = _committed_files(source, toc)
            for name in names:
                _link(source / name, stage / name)
        lock_seconds = time.monotonic() - locked
        if stage != tmp:
            for name in names:
                _copy(stage / name, tmp / name)
        problems = [p for segment in toc.segments for p in segment_problems(tmp, segment)]
        if problems:
            raise damaged(source, problems)
        size = sum((tmp / name).stat().st_size for name in names)
        _sync_folders(tmp, names)
        os.rename(tmp, target)
        _fsync_folder(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if stage != tmp:
            shutil.rmtree(stage, ignore_errors=True)
    return SnapshotSummary(source=source, dest=target, generation=toc.generation, segments=len(toc.segments),
                           articles=sum(s.doc_count() for s in toc.segments), files=len(names),
                           size_bytes=size, linked=stage == tmp, lock_seconds=lock_seconds,
                           seconds=time.monotonic() - started)


def _refuse_bad_destination(source: Path, target: Path, tmp: Path) -> None:
    if target.exists() or target.is_symlink():
        raise SnapshotError(f"{target} already exists: a snapshot never overwrites anything; "
                            "choose a new name (e.g. with the date)")
    if tmp.exists() or tmp.is_symlink():
        raise SnapshotError(f"{tmp} already exists (left by an interrupted snapshot?): remove it and run again")
    resolved, inside = source.resolve(), target.resolve()
    if inside == resolved or resolved in inside.parents:
        raise SnapshotError(f"{target} is inside the index {source}: put the snapshot elsewhere")


def _committed_files(source: Path, toc: TOC) -> list[str]:
    """The TOC and every file of its segments, relative to the index folder."""
    names = [TOC._filename(store.INDEX_NAME, toc.generation)]
    listing = sorted(os.listdir(source))
    for segment in toc.segments:
        sid = segment.segment_id()
        own = [name for name in listing if name.startswith(sid + ".")]
        if not own:
            raise damaged(source, [Problem(sid, sid + COMPOUND_EXT, "is missing", missing=True)])
        names += own
        arrays = source / ARRAYS_DIR / sid
        if arrays.is_dir():
            names += [f"{ARRAYS_DIR}/{sid}/{p.name}" for p in sorted(arrays.iterdir()) if p.is_file()]
    return names


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, target)


def _copy(source: Path, target: Path) -> None:
    """A copy made and synced: a snapshot on another disk is a backup only
    once its bytes are there."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folders(root: Path, names: list[str]) -> None:
    """The new names (links, files) are durable only once their folders are synced."""
    for folder in sorted({(root / name).parent for name in names} | {root}, key=lambda p: -len(p.parts)):
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_abandoned_stages(source: Path) -> None:
    """Staging folders of snapshots whose process died (they would keep the
    blocks of merged-away segments alive). Called holding the lock."""
    for stage in source.glob(f"{STAGING_PREFIX}*.tmp"):
        pid = stage.name.removeprefix(STAGING_PREFIX).removesuffix(".tmp")
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
