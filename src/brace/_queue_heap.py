"""The store behind a priority BoundedQueue: a heap that remembers arrivals.

Items come out smallest key first; a sequence number breaks ties, so items
with equal keys come out in arrival order and the items themselves are
never compared. For ``drop_oldest`` it also keeps the entries in arrival
order. An entry that leaves through one structure stays behind in the
other, marked ``_GONE``, and is skipped later; each structure is rebuilt
once it holds more stale entries than live ones, so every operation is
O(log n) amortized and memory stays O(size).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["HeapBuffer"]

T = TypeVar("T")
_GONE: Any = object()


class HeapBuffer(Generic[T]):
    """Items in key order, FIFO among equal keys; see the module docstring."""

    __slots__ = (
        "_arrivals",
        "_count",
        "_entries",
        "_key",
        "_seq",
        "_stale_arrivals",
        "_stale_entries",
    )

    def __init__(self, key: Callable[[T], Any], *, track_arrivals: bool) -> None:
        self._key = key
        # [key, sequence number, item]; item is _GONE once dropped as oldest.
        self._entries: list[list[Any]] = []
        self._seq = itertools.count()
        self._arrivals: deque[list[Any]] | None = deque() if track_arrivals else None
        self._count = 0
        self._stale_entries = 0
        self._stale_arrivals = 0

    def __len__(self) -> int:
        return self._count

    def append(self, item: T) -> None:
        """Add *item*; an exception from the key leaves the buffer unchanged."""
        entry = [self._key(item), next(self._seq), item]
        entries = self._entries
        try:
            heapq.heappush(entries, entry)
        except Exception:
            # A key that does not compare with the others: take the entry
            # back out so that the heap stays whole, and report the error.
            del entries[next(i for i, e in enumerate(entries) if e is entry)]
            heapq.heapify(entries)
            raise
        if self._arrivals is not None:
            self._arrivals.append(entry)
        self._count += 1

    def _pop_entry(self) -> list[Any]:
        entries = self._entries
        entry = heapq.heappop(entries)
        while entry[2] is _GONE:
            self._stale_entries -= 1
            entry = heapq.heappop(entries)
        return entry

    def _taken(self, entry: list[Any]) -> T:
        item: T = entry[2]
        self._count -= 1
        arrivals = self._arrivals
        if arrivals is not None:
            entry[2] = _GONE
            self._stale_arrivals += 1
            if self._stale_arrivals > self._count:
                self._arrivals = deque(e for e in arrivals if e[2] is not _GONE)
                self._stale_arrivals = 0
        return item

    def popleft(self) -> T:
        """Remove and return the item with the smallest key."""
        return self._taken(self._pop_entry())

    def take_after(self, skip: int) -> T:
        """Remove and return the item that comes right after the first *skip*."""
        kept = [self._pop_entry() for _ in range(skip)]
        entry = self._pop_entry()
        for other in kept:
            heapq.heappush(self._entries, other)
        return self._taken(entry)

    def pop_oldest(self) -> T:
        """Remove and return the item that arrived first (drop_oldest only)."""
        arrivals = self._arrivals
        if arrivals is None:
            msg = "pop_oldest() needs track_arrivals=True"
            raise RuntimeError(msg)
        entry = arrivals.popleft()
        while entry[2] is _GONE:
            self._stale_arrivals -= 1
            entry = arrivals.popleft()
        item: T = entry[2]
        entry[2] = _GONE
        self._count -= 1
        self._stale_entries += 1
        if self._stale_entries > self._count:
            self._entries = [e for e in self._entries if e[2] is not _GONE]
            heapq.heapify(self._entries)
            self._stale_entries = 0
        return item

    def items(self) -> list[T]:
        """The items in the order they would come out (for tests and debugging)."""
        return [e[2] for e in sorted(self._entries) if e[2] is not _GONE]
