"""BoundedCache: an LRU cache with per-entry TTL on the event loop's clock.

Storage is an :class:`~collections.OrderedDict` in LRU order (oldest first)
of entries that carry their own expiry, plus a heap of expiries with lazy
deletion to find what has expired without scanning, the design of
cachetools' ``TLRUCache``. It is written out here rather than subclassed
because every cachetools lookup runs three or four Python frames (the
``__getitem__`` chain and its timer wrapper), which alone would cost more
than the whole budget of a cache hit in :func:`brace.cached`; here a hit is
one dictionary lookup and one ``move_to_end``.

Counting is defined by time, not by when the cache happens to notice: an
entry whose TTL runs out while it is in the cache is one expiration, an
entry pushed out by the size bound while still fresh is one eviction. Every
removal first drops what has expired, and :meth:`~BoundedCache.statistics`
does too, so the counts never depend on the order of calls.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar, overload

import attrs

from . import _events
from ._cache_clock import LoopClock
from ._events import Listener
from ._time import Duration, check_count, seconds

__all__ = ["BoundedCache", "CacheStatistics"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")

_INF = math.inf
_MISSING: Any = object()


@attrs.frozen
class CacheStatistics:
    """A snapshot of a :class:`BoundedCache`.

    Attributes:
        hits: Lookups that found a fresh value.
        misses: Lookups that found none (absent or expired).
        evictions: Fresh entries removed to make room (the size bound).
        expirations: Entries whose TTL ran out while they were cached.
        size: Entries cached now (expired ones are not counted).
        maxsize: The size bound.
        hit_rate: ``hits / (hits + misses)``, or ``0.0`` before any lookup.

    .. versionadded:: 0.1
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    size: int
    maxsize: int
    hit_rate: float


class _Entry:
    """One cached value. ``fresh_until`` is ``expires`` unless the value may
    be served stale (``cached(stale_while_revalidate=...)``) after it."""

    __slots__ = ("expires", "fresh_until", "key", "value")

    def __init__(
        self, key: Any, value: Any, fresh_until: float, expires: float
    ) -> None:
        self.key = key
        self.value = value
        self.fresh_until = fresh_until
        self.expires = expires


def _check_timer(value: object) -> None:
    if value is not None and not callable(value):
        msg = f"timer must be a callable returning seconds (or None), not {value!r}"
        raise TypeError(msg)


def _check_rng(value: object) -> random.Random | None:
    if value is not None and not callable(getattr(value, "random", None)):
        msg = f"rng must be a random.Random (or None), not {value!r}"
        raise TypeError(msg)
    return value  # type: ignore[return-value]


class BoundedCache(LoopClock, Generic[K, V]):
    """A cache of at most *maxsize* entries, least recently used out first.

    Entries may expire: after *ttl* seconds by default, or after the ``ttl``
    given to :meth:`set`, each lengthened by a random share of *ttl_jitter*
    so that entries set together do not all expire together. Expired
    entries are never returned, and are dropped before a fresh one is
    evicted to make room.

    Methods are synchronous and never wait. A lookup that finds a value
    makes it the most recently used; ``key in cache`` does not. Constructible
    outside a running loop; like every brace resource it serves the tasks of
    one event loop at a time and is not thread-safe.

    **Clock.** By default TTLs run on the clock of the running event loop,
    so a virtual clock in tests governs expiry; stock asyncio loops (and
    uvloop) keep time with :func:`time.monotonic`, as does code outside any
    loop. When the clock changes, because the cache is used from another
    loop with a clock of its own (a new virtual-time loop, a trio run),
    cached entries keep the time they had left. Pass *timer* to use one
    clock everywhere instead.

    Args:
        maxsize: The most entries the cache holds, >= 1.
        ttl: Default time to live of an entry, > 0, in seconds or as a
            timedelta; ``None``: entries do not expire unless :meth:`set`
            says so.
        ttl_jitter: Each TTL is lengthened by up to this many seconds,
            uniformly at random.
        timer: A clock to use instead of the event loop's, returning
            seconds (such as :func:`time.monotonic`).
        rng: The random source of the jitter, for reproducible expiries.
        name: Names the cache in events.
        eviction_events: Emit :class:`CacheEvicted` for every eviction and
            expiration. Off by default: a busy cache evicts on almost every
            write.
        listeners: Callbacks for this cache's events; they need
            *eviction_events*.

    Raises:
        TypeError: An argument of the wrong type.
        ValueError: An argument out of range, or *listeners* without
            *eviction_events*.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__weakref__",
        "_claims",
        "_data",
        "_evictions",
        "_expirations",
        "_heap",
        "_hits",
        "_jitter",
        "_maxsize",
        "_misses",
        "_notify",
        "_rng",
        "_seq",
        "_ttl",
        "listeners",
        "name",
    )

    def __init__(
        self,
        maxsize: int,
        *,
        ttl: Duration | None = None,
        ttl_jitter: Duration = 0.0,
        timer: Callable[[], float] | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
        eviction_events: bool = False,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_count(maxsize, "maxsize")
        self._maxsize = maxsize
        self._ttl = None if ttl is None else seconds(ttl, "ttl", allow_zero=False)
        self._jitter = seconds(ttl_jitter, "ttl_jitter")
        _check_timer(timer)
        self._rng = _check_rng(rng)
        flag: object = eviction_events
        if not isinstance(flag, bool):
            msg = f"eviction_events must be True or False, not {eviction_events!r}"
            raise TypeError(msg)
        self.name = name
        self.listeners: tuple[Listener, ...] = _events.listeners(listeners)
        if self.listeners and not eviction_events:
            msg = (
                "a BoundedCache only emits eviction events, which are off: pass "
                "eviction_events=True along with listeners="
            )
            raise ValueError(msg)
        self._notify = eviction_events
        self._data: OrderedDict[Any, _Entry] = OrderedDict()
        # (expires, sequence number, key) for entries that expire. Items of
        # entries replaced or removed since stay until popped or compacted;
        # they hold the key, not the entry, so that no evicted value is kept.
        self._heap: list[tuple[float, int, Any]] = []
        self._seq = itertools.count()
        self._hits = self._misses = self._evictions = self._expirations = 0
        self._init_clock(timer)
        # How many brace.cached functions store entries here (the first
        # one's keys are the bare arguments; see brace._cached).
        self._claims = 0

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        ttl = "" if self._ttl is None else f" ttl={self._ttl:g}"
        return f"<BoundedCache{name} size={len(self._data)}/{self._maxsize}{ttl}>"

    @property
    def maxsize(self) -> int:
        """The most entries the cache holds."""
        return self._maxsize

    @property
    def ttl(self) -> float | None:
        """The default time to live in seconds, or ``None``."""
        return self._ttl

    @property
    def ttl_jitter(self) -> float:
        """The most seconds by which a TTL is lengthened at random."""
        return self._jitter

    # -- lookups ------------------------------------------------------------------

    @overload
    def get(self, key: K, /) -> V | None: ...
    @overload
    def get(self, key: K, default: D, /) -> V | D: ...
    def get(self, key: K, default: Any = None, /) -> Any:
        """The value cached for *key*, or *default* if there is none.

        A hit makes the entry the most recently used; finding an expired
        entry removes it. Both count in :meth:`statistics`.
        """
        entry = self._data.get(key)
        if entry is not None:
            # The clock first: reading it may carry every expiry over to a
            # new loop's clock.
            if entry.expires == _INF or self._clock() < entry.expires:
                self._data.move_to_end(key)
                self._hits += 1
                return entry.value
            self._expired(entry)
        self._misses += 1
        return default

    def __contains__(self, key: object) -> bool:
        """Whether a fresh value is cached for *key* (not a lookup: the
        entry's recency and the statistics stay as they are)."""
        entry = self._data.get(key)
        return entry is not None and self._now() < entry.expires

    def __len__(self) -> int:
        """How many entries are cached (expired ones are dropped first)."""
        self._expire(self._now())
        return len(self._data)

    def keys(self) -> list[K]:
        """A snapshot of the cached keys, least recently used first."""
        self._expire(self._now())
        return list(self._data)

    # -- writes -------------------------------------------------------------------

    def set(self, key: K, value: V, *, ttl: Duration | None = None) -> None:
        """Cache *value* under *key*, replacing what was there.

        When the cache is full, expired entries go first, then the least
        recently used one.

        Args:
            key: Any hashable key.
            value: The value.
            ttl: This entry's time to live, > 0 (jittered like the
                default); ``None`` for the cache's default.
        """
        if ttl is not None:
            ttl = seconds(ttl, "ttl", allow_zero=False)
        self._put(key, value, ttl, 0.0, self._now())

    @overload
    def pop(self, key: K, /) -> V: ...
    @overload
    def pop(self, key: K, default: D, /) -> V | D: ...
    def pop(self, key: K, default: Any = _MISSING, /) -> Any:
        """Remove *key* and return its value, like ``dict.pop``.

        Raises:
            KeyError: No fresh value is cached for *key*, and no *default*
                was given.
        """
        entry = self._data.get(key)
        if entry is not None:
            if self._now() < entry.expires:
                del self._data[key]
                return entry.value
            self._expired(entry)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def clear(self) -> None:
        """Remove every entry (expired ones count as expirations)."""
        self._expire(self._now())
        self._data.clear()
        self._heap.clear()

    # -- statistics ---------------------------------------------------------------

    def statistics(self) -> CacheStatistics:
        """A consistent snapshot of the counters; see :class:`CacheStatistics`."""
        self._expire(self._now())
        lookups = self._hits + self._misses
        return CacheStatistics(
            hits=self._hits,
            misses=self._misses,
            evictions=self._evictions,
            expirations=self._expirations,
            size=len(self._data),
            maxsize=self._maxsize,
            hit_rate=self._hits / lookups if lookups else 0.0,
        )

    def reset_statistics(self) -> None:
        """Zero the hits, misses, evictions and expirations."""
        self._hits = self._misses = self._evictions = self._expirations = 0

    # -- the machinery (also used by brace.cached) --------------------------------

    def _rebase(self, delta: float) -> None:
        """Move every expiry by *delta*: entries keep the time they had left."""
        for entry in self._data.values():
            entry.fresh_until += delta
            entry.expires += delta
        self._compact()

    def _compact(self) -> None:
        """Rebuild the heap from the live entries that expire."""
        seq = self._seq
        heap = [
            (e.expires, next(seq), e.key)
            for e in self._data.values()
            if e.expires < _INF
        ]
        heapq.heapify(heap)
        self._heap = heap

    def _put(
        self, key: Any, value: Any, ttl: float | None, stale: float, now: float
    ) -> None:
        """Store an entry fresh for *ttl* (or the default), then servable stale
        for *stale* more seconds, as of *now*."""
        self._expire(now)
        if ttl is None:
            ttl = self._ttl
        if ttl is None:
            entry = _Entry(key, value, _INF, _INF)
        else:
            if self._jitter:
                ttl += (self._rng or random).random() * self._jitter
            fresh = now + ttl
            entry = _Entry(key, value, fresh, fresh + stale)
            heap = self._heap
            heapq.heappush(heap, (entry.expires, next(self._seq), key))
            if len(heap) > 2 * len(self._data) + 64:
                self._compact()
        data = self._data
        if key in data:
            data[key] = entry
            data.move_to_end(key)
            return
        if len(data) >= self._maxsize:
            _, victim = data.popitem(last=False)
            # Normally fresh (expired entries went first); one set on the
            # clock of another loop may have expired behind the heap's top.
            if victim.expires <= now:
                self._count_expired(victim)
            else:
                self._evictions += 1
                if self._notify and (_events.subscribers or self.listeners):
                    self._emit(victim, "size")
        data[key] = entry

    def _expire(self, now: float) -> None:
        """Drop every entry that has expired by *now*."""
        heap = self._heap
        data = self._data
        while heap and heap[0][0] <= now:
            expires, _, key = heapq.heappop(heap)
            entry = data.get(key)
            # An entry set since has another expiry (or the same one, when
            # it must go now all the same).
            if entry is not None and entry.expires == expires:
                del data[key]
                self._count_expired(entry)

    def _expired(self, entry: _Entry) -> None:
        """Drop one entry found expired (its heap item goes later)."""
        del self._data[entry.key]
        self._count_expired(entry)

    def _count_expired(self, entry: _Entry) -> None:
        self._expirations += 1
        if self._notify and (_events.subscribers or self.listeners):
            self._emit(entry, "expired")

    def _emit(self, entry: _Entry, reason: str) -> None:
        _events.emit(
            _events.CacheEvicted(
                name=self.name or "<cache>", key=entry.key, reason=reason
            ),
            self.listeners,
        )
