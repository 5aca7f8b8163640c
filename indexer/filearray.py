"""A one-dimensional .npy file read slice by slice with pread, never mapped.

Postings and positions are most of an index's bytes. Mapped, every page a
query touched stayed in the process's page tables and counted in its PSS:
after the scale benchmark's query mix the two served processes held nearly
all of the postings they had touched (127 MB of a 40,000-article index, and
it grew with the archive). Read with pread, the bytes come from the kernel's
page cache, which every process on the machine shares and the kernel evicts
under pressure, into an array that the request frees. pread also releases
the GIL, where a page fault on a mapping held it.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import numpy as np


class ArraysMissing(OSError):
    """A format-3 segment whose arrays are gone or damaged: its text postings
    exist nowhere else."""


class TruncatedArray(ArraysMissing):
    """The file holds fewer bytes than its header promises."""


class FileArray:
    """Read-only, like a memory-mapped array: ``a[i:j]``, ``a[i]``, ``a[index]``
    and ``len(a)``; every read returns a new in-memory array. The open file
    keeps the data readable after a merge removes the file, as a mapping did."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            with open(os.dup(fd), "rb") as handle:
                version = np.lib.format.read_magic(handle)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
                offset = handle.tell()
            if fortran or len(shape) != 1 or dtype.hasobject:
                raise ValueError(f"{self.path}: not a flat array of numbers")
        except BaseException:
            os.close(fd)
            raise
        self.dtype: np.dtype = dtype
        self.length: int = int(shape[0])
        self._offset = offset
        self._fd = fd
        self._closer = weakref.finalize(self, os.close, fd)

    def __len__(self) -> int:
        return self.length

    @property
    def shape(self) -> tuple[int]:
        return (self.length,)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Items ``start`` to ``stop`` (clipped to the array, like a slice)."""
        start, stop = max(0, start), min(stop, self.length)
        out = np.empty(max(0, stop - start), dtype=self.dtype)
        view = out.data.cast("B")
        done, position = 0, self._offset + start * self.dtype.itemsize
        while done < len(view):
            got = os.preadv(self._fd, [view[done:]], position + done)
            if got <= 0:
                raise TruncatedArray(f"{self.path} ends {len(view) - done} bytes early")
            done += got
        return out

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            if key.step not in (None, 1):
                raise IndexError("FileArray slices have no step")
            start, stop, _ = key.indices(self.length)
            return self.read(start, stop)
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.length if key < 0 else 0)
            if not 0 <= i < self.length:
                raise IndexError(f"index {key} out of range for {self.length} items")
            return self.read(i, i + 1)[0]
        index = np.asarray(key)
        if index.dtype.kind not in "iu":
            raise IndexError("FileArray takes a slice, an integer or integer indices")
        if not len(index):
            return np.zeros(0, dtype=self.dtype)
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= self.length:
            raise IndexError(f"indices out of range for {self.length} items")
        return self.read(low, high + 1)[index - low]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        whole = self.read(0, self.length)
        return whole if dtype is None else whole.astype(dtype)

    def close(self) -> None:
        self._closer()
