"""Registry: named, lazily built policies and resources, in bounded memory.

Entries live in an :class:`~collections.OrderedDict` in least-recently-used
order, so both bounds are cheap: the entry to evict for a new key is the
first one, and since every use moves an entry to the end and stamps it with
the (monotonic) loop clock, the idle entries are a prefix of the order and
expire by popping from the front until the first fresh one.

KeyedRateLimiter's key map (``_keyed``) is not reused: it is built around
RateLimiter (it stores the last use on the limiter, and knows when waiters
come and go because it runs their acquire), whereas a registry holds
arbitrary objects and can only ask them whether they are in use. Its cheap
loop clock (``_time.find``) is reused.
"""

from __future__ import annotations

import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

import attrs

from . import _events
from ._events import Listener
from ._time import Duration, _last_seen, check_count, loop_time, seconds

__all__ = ["Registry", "RegistryEntry", "RegistryStatistics"]

# T and E, not K and V: the docs build knows these as type variables.
T = TypeVar("T", bound=Hashable)
E = TypeVar("E")

# How many in-use entries one eviction may pass over before it gives up and
# lets the registry hold one entry too many: bounds the cost of an insertion
# when the least recently used entries are all busy.
_MAX_SKIPS = 16

# The statistics() fields that count tasks holding or waiting for a resource
# (ConcurrencyLimiter, RateLimiter, KeyedRateLimiter, BoundedQueue).
_HOLDER_FIELDS = ("active", "waiting", "waiting_putters", "waiting_getters")


_get_ident = threading.get_ident


def has_holders(entry: object) -> bool:
    """Whether *entry*'s ``statistics()`` reports tasks holding or awaiting it."""
    statistics = getattr(entry, "statistics", None)
    if not callable(statistics):
        return False
    snapshot = statistics()
    if any(getattr(snapshot, field, 0) for field in _HOLDER_FIELDS):
        return True
    # A queue's buffered items would go with it, and the next get_or_create
    # would hand consumers an empty one: nothing may be lost that way.
    # (A cache also reports a size, but dropping one only costs recomputes.)
    return hasattr(snapshot, "waiting_getters") and getattr(snapshot, "size", 0) > 0


@attrs.frozen(kw_only=True)
class RegistryStatistics:
    """A snapshot of a :class:`Registry`'s counters.

    Attributes:
        keys: Entries held now.
        max_keys: The bound on entries held (in-use entries aside).
        created: Entries built by a factory so far.
        evictions: Entries dropped to make room for a new key.
        expirations: Entries dropped after ``idle_ttl`` without use.
        removed: Entries dropped by :meth:`Registry.remove`.

    .. versionadded:: 0.1
    """

    keys: int
    max_keys: int
    created: int
    evictions: int
    expirations: int
    removed: int


@attrs.frozen(kw_only=True)
class RegistryEntry:
    """What :meth:`Registry.snapshot` reports about one entry.

    Attributes:
        kind: The first item of the entry's ``describe()`` (``"breaker"``,
            ``"limiter"``...), or ``None`` if it has no ``describe()``.
        statistics: The entry's ``statistics()`` snapshot, or ``None`` if it
            has no ``statistics()``.
        in_use: Whether the registry considers the entry in use now, which
            protects it from eviction.

    .. versionadded:: 0.1
    """

    kind: str | None
    statistics: object
    in_use: bool


class Registry(Generic[T, E]):
    """Named, lazily built policies and resources, one per key.

    Use it for "one circuit breaker per upstream host", "one rate limiter per
    tenant": ``registry.get_or_create(key)`` returns the key's entry, built
    by *factory* the first time and the same object afterwards. It is
    generic in the key and entry types (``Registry[str, CircuitBreaker]``).

    The registry is bounded: it holds at most *max_keys* entries, dropping
    the least recently used one to make room for a new key, and, with
    *idle_ttl*, drops entries unused for that long. A dropped entry is not
    closed or reset: callers that still hold it keep using it, and the next
    ``get_or_create()`` of its key builds a new one (so a dropped circuit
    breaker forgets its state, and a dropped rate limiter starts with a full
    bucket). Size *max_keys* above the number of keys in use at once, and
    *idle_ttl* above the longest state worth keeping (a breaker's
    ``open_for``, a limiter's refill time).

    Entries in use are never dropped: two limiters for one key would let
    twice the traffic through. By default an entry is in use when its
    ``statistics()`` reports tasks holding or waiting for it (``active``,
    ``waiting``, ``waiting_putters`` or ``waiting_getters`` above zero: a
    limiter with slots taken, a rate limiter or queue with waiters), and a
    :class:`BoundedQueue` that still holds items. Pass
    *in_use* to decide otherwise, for example to keep open breakers. An
    in-use entry counts as used, and the registry may then hold more than
    *max_keys* entries, by at most the number in use.

    Use a registry from one event loop thread. Every method is synchronous:
    factories build the entry without awaiting (as brace's resources are
    built).

    Args:
        factory: The default ``factory(key) -> entry`` of
            :meth:`get_or_create`.
        max_keys: Most entries held, an int >= 1.
        idle_ttl: If given, an entry not used for this long (seconds or a
            timedelta, on the loop clock) is dropped.
        in_use: ``in_use(entry) -> bool``: whether an entry must be kept
            even though a bound says drop it. Default: it has holders or
            waiters, as above.
        name: Names the registry in its repr and events.
        listeners: Callbacks for this registry's events
            (:class:`RegistryEvicted`).

    Raises:
        TypeError: *factory* or *in_use* is not callable, or *factory* is
            an entry rather than something that makes one.
        ValueError: *max_keys* or *idle_ttl* is out of range.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_created",
        "_entries",
        "_evictions",
        "_expirations",
        "_get",
        "_removed",
        "_touch",
        "_used",
        "factory",
        "idle_ttl",
        "in_use",
        "listeners",
        "max_keys",
        "name",
    )

    DEFAULT_MAX_KEYS = 10_000

    def __init__(
        self,
        factory: Callable[[T], E] | None = None,
        *,
        max_keys: int = DEFAULT_MAX_KEYS,
        idle_ttl: Duration | None = None,
        in_use: Callable[[E], bool] | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if factory is not None:
            _check_factory(factory)
        checked: object = in_use
        if checked is not None and not callable(checked):
            msg = f"in_use must be a callable entry -> bool (or None), not {in_use!r}"
            raise TypeError(msg)
        check_count(max_keys, "max_keys")
        self.factory = factory
        self.max_keys = max_keys
        self.idle_ttl = (
            None
            if idle_ttl is None
            else seconds(idle_ttl, "idle_ttl", allow_zero=False)
        )
        self.in_use: Callable[[E], bool] = has_holders if in_use is None else in_use
        self.name = name
        self.listeners = _events.listeners(listeners)
        # Entries in least-recently-used order; with idle_ttl, the loop time
        # of each key's last use beside them.
        self._entries: OrderedDict[T, E] = OrderedDict()
        self._used: dict[T, float] = {}
        # Bound once: the hit path is these two calls.
        self._get = self._entries.get
        self._touch = self._entries.move_to_end
        self._created = 0
        self._evictions = 0
        self._expirations = 0
        self._removed = 0

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Registry{name} keys={len(self._entries)} max_keys={self.max_keys}>"

    # -- lookups ----------------------------------------------------------

    def get_or_create(self, key: T, factory: Callable[[T], E] | None = None) -> E:
        """The entry of *key*, built by ``factory(key)`` if there is none.

        A lookup counts as a use: it makes the entry the most recently used
        and restarts its idle time.

        Args:
            key: Which entry.
            factory: Builds the entry for a new key; defaults to the
                registry's *factory*. Called at most once per stored entry.

        Raises:
            TypeError: No factory was given here nor to the registry, or the
                factory returned ``None`` or an awaitable.
        """
        entry = self._get(key)
        if entry is not None:
            self._touch(key)
            ttl = self.idle_ttl
            if ttl is None:
                return entry
            # loop_time(), inlined: this is the hit path of idle_ttl users.
            loop, clock = _last_seen[0]
            if loop is not None and loop._thread_id == _get_ident():
                t = clock()
            else:
                t = loop_time()
            used = self._used
            if t - used[key] < ttl or self.in_use(entry):
                used[key] = t
                return entry
            self._drop(key, "idle_ttl")
        return self._create(key, factory)

    def _create(self, key: T, factory: Callable[[T], E] | None) -> E:
        make = self.factory if factory is None else factory
        if make is None:
            msg = (
                f"{key!r} is not in the registry and no factory makes it: pass "
                "factory= to get_or_create() or to Registry()"
            )
            raise TypeError(msg)
        if factory is not None:
            _check_factory(factory)
        entry = make(key)
        made: object = entry
        if made is None or inspect.isawaitable(made):
            if inspect.iscoroutine(made):
                made.close()  # no "never awaited" warning on top of this error
            msg = (
                "a Registry factory must build and return the entry (synchronously), "
                f"but for {key!r} it returned {entry!r}"
            )
            raise TypeError(msg)
        self._created += 1
        ttl = self.idle_ttl
        if ttl is not None:
            t = loop_time()
            self._expire(t, ttl)
            self._used[key] = t
        self._make_room()
        self._entries[key] = entry
        return entry

    def get(self, key: T, default: E | None = None) -> E | None:
        """The entry of *key*, or *default* if there is none; never builds.

        Like :meth:`get_or_create`, finding the entry counts as a use.
        """
        entry = self._get(key)
        if entry is None:
            return default
        self._touch(key)
        ttl = self.idle_ttl
        if ttl is not None:
            t = loop_time()
            if t - self._used[key] >= ttl and not self.in_use(entry):
                self._drop(key, "idle_ttl")
                return default
            self._used[key] = t
        return entry

    def __contains__(self, key: object) -> bool:
        """Whether *key* has an entry; asking is not a use."""
        entry = self._entries.get(key)  # type: ignore[arg-type]
        if entry is None:
            return False
        ttl = self.idle_ttl
        return (
            ttl is None
            or loop_time() - self._used[key] < ttl  # type: ignore[index]
            or self.in_use(entry)
        )

    def __len__(self) -> int:
        """The number of entries held (idle ones past *idle_ttl* excluded)."""
        self._sweep()
        return len(self._entries)

    def __iter__(self) -> Iterator[T]:
        """The keys, least recently used first (a copy: safe to mutate)."""
        self._sweep()
        return iter(list(self._entries))

    def remove(self, key: T) -> E:
        """Drop *key*'s entry and return it.

        Holders of the entry can keep using it. It is removed even when in
        use: an explicit removal is a decision, not a bound.

        Raises:
            KeyError: *key* has no entry.
        """
        entry = self._entries.pop(key, None)
        if entry is None:
            msg = f"{key!r} is not in the registry"
            raise KeyError(msg)
        self._used.pop(key, None)
        self._removed += 1
        return entry

    # -- health checks ------------------------------------------------------

    def snapshot(self) -> dict[T, RegistryEntry]:
        """The state of every entry, for health checks and dashboards.

        For each key, in least-recently-used order: the entry's kind (from
        its ``describe()``), its ``statistics()`` snapshot, and whether it
        is in use. Taking a snapshot is not a use of the entries.
        """
        self._sweep()
        result: dict[T, RegistryEntry] = {}
        for key, entry in list(self._entries.items()):
            describe = getattr(entry, "describe", None)
            statistics = getattr(entry, "statistics", None)
            result[key] = RegistryEntry(
                kind=describe()[0] if callable(describe) else None,
                statistics=statistics() if callable(statistics) else None,
                in_use=bool(self.in_use(entry)),
            )
        return result

    def statistics(self) -> RegistryStatistics:
        """A snapshot of the registry's counters."""
        return RegistryStatistics(
            keys=len(self),
            max_keys=self.max_keys,
            created=self._created,
            evictions=self._evictions,
            expirations=self._expirations,
            removed=self._removed,
        )

    # -- bounds ---------------------------------------------------------------

    def _make_room(self) -> None:
        """Evict least recently used entries until a new one fits."""
        entries = self._entries
        skips = 0
        while len(entries) >= self.max_keys and skips < min(len(entries), _MAX_SKIPS):
            key = next(iter(entries))
            if self.in_use(entries[key]):
                # Busy counts as used: look at it again only after the others.
                entries.move_to_end(key)
                if self.idle_ttl is not None:
                    self._used[key] = loop_time()
                skips += 1
                continue
            self._drop(key, "max_keys")

    def _sweep(self) -> None:
        ttl = self.idle_ttl
        if ttl is not None and self._entries:
            self._expire(loop_time(), ttl)

    def _expire(self, t: float, ttl: float) -> None:
        """Drop the idle prefix of the LRU order (in-use entries are kept)."""
        entries, used = self._entries, self._used
        skips = 0
        while entries and skips < _MAX_SKIPS:
            key = next(iter(entries))
            if t - used[key] < ttl:
                return
            if self.in_use(entries[key]):
                used[key] = t
                entries.move_to_end(key)
                skips += 1
                continue
            self._drop(key, "idle_ttl")

    def _drop(self, key: T, reason: str) -> None:
        entry = self._entries.pop(key)
        self._used.pop(key, None)
        if reason == "max_keys":
            self._evictions += 1
        else:
            self._expirations += 1
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.RegistryEvicted(
                    name=self.name or "<registry>", key=key, entry=entry, reason=reason
                ),
                self.listeners,
            )


def _check_factory(factory: object) -> None:
    if not callable(factory):
        msg = f"factory must be a callable key -> entry, not {factory!r}"
        raise TypeError(msg)
    if not isinstance(factory, type) and (
        hasattr(factory, "statistics") or hasattr(factory, "describe")
    ):
        # Callable (a decorator), but it is one entry, not a maker of them.
        msg = (
            "factory must build a new entry for each key, not be one: pass "
            f"lambda key: ... instead of {factory!r}"
        )
        raise TypeError(msg)
