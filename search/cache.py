"""A thread-safe least-recently-used map bounded in bytes.

Every cache of the read path is one of these, owned by one object, with its
bound taken from the engine's cache budget (``VNSEARCH_CACHE_MB``), so no
client can grow a server's memory by sending distinct queries or filters.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

DICT_ITEM_BYTES = 64  # a dict entry of small ints or short strings, with its key and value


def size_of(value: Any) -> int:
    """Bytes held by a cached value: numpy arrays by their buffers, tuples
    and lists by their items, dicts (of small ints) by their length."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    if isinstance(value, (tuple, list)):
        return sys.getsizeof(value) + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + DICT_ITEM_BYTES * len(value)
    return sys.getsizeof(value)


class ByteLRU:
    def __init__(self, limit_bytes: int):
        self.limit = max(0, int(limit_bytes))
        self.bytes = 0
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, value: Any) -> None:
        size = size_of(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.limit:
                return  # larger than the whole budget: not kept
            self._items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.limit:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        found = self.get(key)
        if found is None:
            found = make()
            self.put(key, found)
        return found
