"""KeyedRateLimiter: one RateLimiter per key, in bounded memory.

The limiters live in a cachetools LRU cache. A key whose limiter has tasks
waiting is *pinned*: moved out of the cache into a plain dict until its last
waiter leaves, so neither LRU eviction nor idle expiry can ever drop a
limiter that somebody waits on (and nobody can be handed a fresh limiter for
that key meanwhile). Idle expiry reads each limiter's last use, which the
keyed limiter records on it: cheaper than a TTL cache, which would have to
re-store the key on every use to restart its clock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import cachetools

from ._errors import RateLimited
from ._ratelimit import RateLimiter
from ._time import Duration, check_count, loop_time, seconds

if TYPE_CHECKING:
    from ._cancel import CancelToken

__all__ = ["KeyedRateLimiter", "KeyedRateLimiterStatistics"]

# T, not K: the docs build knows T as a type variable.
T = TypeVar("T", bound=Hashable)


@attrs.frozen(kw_only=True)
class KeyedRateLimiterStatistics:
    """A snapshot of a :class:`KeyedRateLimiter`.

    Attributes:
        keys: Keys held now (each with its own limiter).
        max_keys: The bound on the keys held, keys with waiters aside.
        waiting: Tasks waiting, over all keys.
        acquired: Requests granted, over all keys.
        rejected: Requests refused (``try_acquire()`` returning ``False``,
            :class:`~brace.RateLimited` raised), over all keys.
        evictions: Keys dropped because *max_keys* were held.
        expirations: Keys dropped because they were idle for *idle_ttl*.

    .. versionadded:: 0.1
    """

    keys: int
    max_keys: int
    waiting: int
    acquired: int
    rejected: int
    evictions: int
    expirations: int


class _Limiters(cachetools.LRUCache[Any, RateLimiter]):
    """The LRU cache of limiters: makes missing ones, counts evictions."""

    def __init__(self, maxsize: int, make: Callable[[Any], RateLimiter]) -> None:
        super().__init__(maxsize)
        self.make = make
        self.evictions = 0

    def __missing__(self, key: Any) -> RateLimiter:
        limiter = self[key] = self.make(key)
        return limiter

    def popitem(self) -> tuple[Any, RateLimiter]:
        item = super().popitem()
        self.evictions += 1
        return item


class KeyedRateLimiter(Generic[T]):
    """A separate :class:`RateLimiter` per key (per user, tenant, host...).

    Limiters are made on first use by ``factory(key)`` and kept in a
    least-recently-used cache of at most *max_keys* keys. When a new key
    arrives and the cache is full, the least recently used key is
    forgotten; when it comes back, it starts afresh with a full bucket.
    Forgetting a key whose bucket had refilled changes nothing; forgetting
    one that was still draining gives it at most one extra burst (one full
    window). Size *max_keys* above the number of keys active within one
    refill period and eviction never grants anything extra.

    A key with tasks waiting on it is never evicted nor expired: while it
    has waiters it is held outside the cache, so the number of keys held
    is at most *max_keys* plus the number of keys with waiters.

    Args:
        factory: Called with a new key, returns that key's
            :class:`RateLimiter` (a fresh one per key: a shared limiter would
            limit all keys together).
        max_keys: Most keys held, an int >= 1.
        idle_ttl: If given, a key not used for this long (seconds or a
            timedelta, on the loop clock) is dropped, as if evicted. Choose
            it at least as long as a full refill (``burst * per / rate``),
            so that dropping never grants extra capacity.
        name: Names the keyed limiter in its repr.

    Raises:
        TypeError: *factory* is not callable, or *idle_ttl* is not a duration.
        ValueError: *max_keys* or *idle_ttl* is out of range.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_acquired",
        "_cache",
        "_created",
        "_expirations",
        "_next_sweep",
        "_pinned",
        "_rejected",
        "_waiting",
        "factory",
        "idle_ttl",
        "max_keys",
        "name",
    )

    def __init__(
        self,
        factory: Callable[[T], RateLimiter],
        *,
        max_keys: int = 10_000,
        idle_ttl: Duration | None = None,
        name: str | None = None,
    ) -> None:
        checked: object = factory
        if isinstance(checked, RateLimiter):
            # Callable (it is a decorator), but one limiter for every key.
            msg = (
                "factory must make a new RateLimiter for each key, not be one: "
                f"pass lambda key: RateLimiter(...) instead of {factory!r}"
            )
            raise TypeError(msg)
        if not callable(checked):
            msg = f"factory must be a callable key -> RateLimiter, not {factory!r}"
            raise TypeError(msg)
        check_count(max_keys, "max_keys")
        self.factory = factory
        self.max_keys = max_keys
        self.idle_ttl = (
            None
            if idle_ttl is None
            else seconds(idle_ttl, "idle_ttl", allow_zero=False)
        )
        self.name = name
        self._cache = _Limiters(max_keys, self._new)
        self._pinned: dict[Any, list[Any]] = {}  # key -> [limiter, waiters]
        self._waiting = 0
        self._acquired = 0
        self._rejected = 0
        self._expirations = 0
        # Idle keys are found by sweeps, each after at least as many new
        # keys as half the cache holds (O(1) amortized per new key), and at
        # most once per idle_ttl. Lookups never hand out an idle limiter.
        self._created = 0
        self._next_sweep = -float("inf")

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<KeyedRateLimiter{name} keys={len(self)} max_keys={self.max_keys}>"

    def __len__(self) -> int:
        """The number of keys held now (idle ones past *idle_ttl* excluded)."""
        if self.idle_ttl is not None:
            self._sweep(loop_time())
        return len(self._cache) + len(self._pinned)

    def __contains__(self, key: object) -> bool:
        if key in self._pinned:
            return True
        if key not in self._cache:
            return False
        ttl = self.idle_ttl
        limiter: RateLimiter = cachetools.Cache.__getitem__(self._cache, key)
        return ttl is None or loop_time() - limiter._touched < ttl

    # -- keys -------------------------------------------------------------

    def _create(self, key: T) -> RateLimiter:
        limiter: object = self.factory(key)
        if not isinstance(limiter, RateLimiter):
            msg = (
                f"the factory of a KeyedRateLimiter must return a RateLimiter; "
                f"for key {key!r} it returned {limiter!r}"
            )
            raise TypeError(msg)
        return limiter

    def _new(self, key: T) -> RateLimiter:
        """Make a key's limiter, as the cache stores it (see _Limiters)."""
        limiter = self._create(key)
        if self.idle_ttl is not None:
            t = limiter._touched = loop_time()
            self._created += 1
            if t >= self._next_sweep and self._created > len(self._cache) // 2:
                self._sweep(t)
        return limiter

    def _sweep(self, t: float) -> None:
        """Drop every key idle for idle_ttl or longer."""
        ttl = self.idle_ttl
        assert ttl is not None  # noqa: S101
        cache = self._cache
        get = cachetools.Cache.__getitem__  # leaves the LRU order alone
        idle = [key for key in cache if t - get(cache, key)._touched >= ttl]
        for key in idle:
            del cache[key]
        self._expirations += len(idle)
        self._created = 0
        self._next_sweep = t + ttl

    def _limiter(self, key: T) -> RateLimiter:
        """The key's limiter, made and stored if it has none."""
        if self._pinned:
            entry = self._pinned.get(key)
            if entry is not None:
                limiter: RateLimiter = entry[0]
                return limiter
        # A missing key is made and stored by the cache's __missing__.
        limiter = self._cache[key]
        ttl = self.idle_ttl
        if ttl is not None:
            t = loop_time()
            if t - limiter._touched >= ttl:
                # Idle too long: dropped, exactly as if a sweep had done it.
                del self._cache[key]
                self._expirations += 1
                limiter = self._cache[key]
            limiter._touched = t
        return limiter

    # -- the limiter API, per key -------------------------------------------

    def try_acquire(self, key: T, cost: int = 1) -> bool:
        """Take *cost* units from *key*'s limiter if available now; never waits.

        Raises:
            TypeError: *cost* is not an int, or the factory misbehaved.
            ValueError: *cost* is < 1 or larger than the key's capacity.
        """
        if self._limiter(key).try_acquire(cost):
            self._acquired += 1
            return True
        self._rejected += 1
        return False

    async def acquire(
        self, key: T, cost: int = 1, cancel: CancelToken | None = None
    ) -> None:
        """Wait until *key*'s limiter grants *cost* units, FIFO per key.

        Args:
            key: Whose limit applies.
            cost: Units to take.
            cancel: A :class:`~brace.CancelToken` that abandons the wait.

        Raises:
            brace.RateLimited: The key's limiter has a ``max_wait`` and the
                wait would exceed it.
            brace.Cancelled: *cancel* was cancelled.
            TypeError: *cost* is not an int, or the factory misbehaved.
            ValueError: *cost* is < 1 or larger than the key's capacity.
        """
        limiter = self._limiter(key)
        if limiter._take_now(cost, cancel):
            self._acquired += 1
            return
        self._pin(key, limiter)
        try:
            await limiter._wait(cost, cancel)
        except RateLimited:
            self._rejected += 1
            raise
        finally:
            self._unpin(key, limiter)
        self._acquired += 1

    def _pin(self, key: T, limiter: RateLimiter) -> None:
        self._waiting += 1
        entry = self._pinned.get(key)
        if entry is not None:
            entry[1] += 1
            return
        self._cache.pop(key, None)
        self._pinned[key] = [limiter, 1]

    def _unpin(self, key: T, limiter: RateLimiter) -> None:
        self._waiting -= 1
        entry = self._pinned[key]
        entry[1] -= 1
        if not entry[1]:
            del self._pinned[key]
            if self.idle_ttl is not None:
                limiter._touched = loop_time()
            # Back in the cache, as the most recently used key.
            self._cache[key] = limiter

    def retry_after(self, key: T, cost: int = 1) -> float:
        """Seconds until *key* could be granted *cost* units (0.0: now).

        Asking about a key neither stores it nor counts as using it.

        Raises:
            TypeError: *cost* is not an int, or the factory misbehaved.
            ValueError: *cost* is < 1 or larger than the key's capacity.
        """
        entry = self._pinned.get(key)
        if entry is not None:
            limiter: RateLimiter = entry[0]
        elif key in self:
            limiter = cachetools.Cache.__getitem__(self._cache, key)
        else:
            limiter = self._create(key)
        return limiter.retry_after(cost)

    def statistics(self) -> KeyedRateLimiterStatistics:
        """A snapshot of the counters, over all keys."""
        return KeyedRateLimiterStatistics(
            keys=len(self),
            max_keys=self.max_keys,
            waiting=self._waiting,
            acquired=self._acquired,
            rejected=self._rejected,
            evictions=self._cache.evictions,
            expirations=self._expirations,
        )
