"""cached(): async memoization on a BoundedCache, with single-flight.

The policy (:class:`Cached`) owns the cache, the computations in flight
and the background refreshes; each decorated function
(:class:`CachedFunction`) knows how to make its keys and holds the hit
path, which is pure bookkeeping: a dictionary lookup, a clock read when the
entry can expire, and ``move_to_end``. Everything else happens in
:meth:`Cached._miss`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, ParamSpec, TypeVar, overload

import attrs

from . import _events
from ._cache import BoundedCache
from ._cache_keys import Namespace, make_key
from ._cached_engine import Engine
from ._cached_function import (
    CachedClassMethod,
    CachedFunction,
    CachedStaticMethod,
    _name_of,
)
from ._events import Listener
from ._introspect import is_async_callable
from ._time import Duration, running_loop, seconds

__all__ = ["CacheInfo", "Cached", "cached"]

P = ParamSpec("P")
T = TypeVar("T")

_DEFAULT_MAXSIZE = 1024
_MISSING: Any = object()


@attrs.frozen
class CacheInfo:
    """A snapshot of a :func:`cached` policy, from ``fn.cache_info()``.

    *hits*, *misses*, *size* and *maxsize* are the cache's (shared with any
    other user of the same :class:`BoundedCache`); the rest count the
    policy's own work. A caller cancelled while it waits for a computation
    is counted nowhere.

    Attributes:
        hits: Calls answered with a cached value, fresh or stale.
        misses: Calls that waited for a computation (their own or a shared
            one), or got an error held by ``cache_errors_for``.
        size: Entries cached now.
        maxsize: The cache's size bound.
        computations: Calls of the function itself (refreshes included).
        coalesced: Calls that joined a computation already in flight.
        stale: Calls answered with a stale value (``stale_while_revalidate``).
        errors: Calls answered with an error held by ``cache_errors_for``.
        refresh_failures: Background refreshes that raised.
        in_flight: Computations running now.

    .. versionadded:: 0.1
    """

    hits: int
    misses: int
    size: int
    maxsize: int
    computations: int
    coalesced: int
    stale: int
    errors: int
    refresh_failures: int
    in_flight: int


def _optional_seconds(value: Duration | None, what: str) -> float | None:
    return None if value is None else seconds(value, what, allow_zero=False)


def _no_cache_options(**options: object) -> None:
    given = [name for name, value in options.items() if value is not None]
    if given:
        msg = (
            f"{', '.join(given)} configure the new cache that cached() makes "
            "when given none; set them on your BoundedCache instead"
        )
        raise ValueError(msg)


def _as_object(value: object) -> object:
    """*value*, typed as anything, for checks that its annotation rules out."""
    return value


class Cached(Engine):
    """Memoize ``async def`` functions in a :class:`BoundedCache`.

    ``@brace.cached()`` on an ``async def`` function (or method) caches its
    results by argument: a call whose value is cached returns it without
    calling the function and without yielding to the event loop. Calls that
    find nothing share one computation per key (*single-flight*): a hundred
    concurrent callers of a cold key make one call. Exceptions are not
    cached, unless *cache_errors_for* says so.

    The computation runs in a task of its own, so it survives the
    cancellation of any one caller; it is cancelled when every caller
    waiting for it has gone, and the last one's cancellation completes once
    it has finished unwinding. On trio it runs as a system task
    (:func:`trio.lowlevel.spawn_system_task`), the only kind of trio task
    that outlives its starter. It runs in the context of the caller that
    started it, minus that caller's retry attempt and deadline: it serves
    every caller of the key, so one caller's deadline does not cut it short
    (each caller's wait is still bound by its own).

    The object is a policy: a decorator, :meth:`call` for one-off calls
    (keyed by the function and the arguments) and :meth:`describe`, which
    returns ``("cache", options)``. Every function it decorates stores in
    its one cache, each under keys of its own. On methods, each instance
    has its own entries, keyed by identity and held weakly: caching never
    keeps an instance alive (instances must be weakly referenceable).

    Args:
        cache: The cache to store in, shared with whoever else uses it; by
            default a new one of *maxsize* entries.
        maxsize: The size of the new cache (default 1024); not with *cache*.
        ttl: How long values stay fresh, in seconds; by default the cache's
            TTL (for a new cache: none, values stay until evicted).
        ttl_jitter: The new cache's TTL jitter (see :class:`BoundedCache`);
            not with *cache*.
        key: Makes the cache key from the call's arguments (for a method,
            ``self`` first); the key is then used exactly as returned, so
            functions sharing a cache need keys that differ.
        stale_while_revalidate: For this many seconds after a value stops
            being fresh, calls still get it at once while one background
            refresh runs; a refresh that fails keeps the stale value and
            emits :class:`CacheRefreshFailed`. Needs a TTL. The refreshes
            run in tasks the policy owns: ``await aclose()`` stops them.
            Entries stay in the cache for the TTL plus this window, so
            direct reads of the cache (``cache.get()``) see them until the
            window ends.
        cache_errors_for: Remember an exception for this many seconds and
            raise it again to callers of the same key, instead of calling
            the function (negative caching).
        rng: The random source of a new cache's jitter.
        name: Names the policy in events; defaults to the function's
            qualified name.
        listeners: Callbacks for the policy's events
            (:class:`CacheRefreshFailed`).

    Raises:
        TypeError: An argument of the wrong type, such as a function passed
            as *cache* (write ``@brace.cached()``, with parentheses).
        ValueError: An argument out of range, or options that contradict
            each other.

    .. versionadded:: 0.1
    """

    __slots__ = ("_call_ns", "_errors_for", "_key")

    def __init__(
        self,
        cache: BoundedCache[Any, Any] | None = None,
        *,
        maxsize: int | None = None,
        ttl: Duration | None = None,
        ttl_jitter: Duration | None = None,
        key: Callable[..., Hashable] | None = None,
        stale_while_revalidate: Duration | None = None,
        cache_errors_for: Duration | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        seconds_ttl = _optional_seconds(ttl, "ttl")
        given: object = cache
        if given is None:
            cache = BoundedCache(
                _DEFAULT_MAXSIZE if maxsize is None else maxsize,
                ttl=seconds_ttl,
                ttl_jitter=0.0 if ttl_jitter is None else ttl_jitter,
                rng=rng,
                name=name,
            )
        elif not isinstance(given, BoundedCache):
            hint = (
                " (write @brace.cached(), with parentheses)" if callable(given) else ""
            )
            msg = f"cache must be a BoundedCache (or None), not {given!r}{hint}"
            raise TypeError(msg)
        else:
            _no_cache_options(maxsize=maxsize, ttl_jitter=ttl_jitter, rng=rng)
            cache = given
        if not (key is None or callable(_as_object(key))):
            msg = f"key must be a callable returning the cache key, not {key!r}"
            raise TypeError(msg)
        self._key = key
        swr = _optional_seconds(stale_while_revalidate, "stale_while_revalidate")
        if swr is not None and (seconds_ttl or cache.ttl) is None:
            msg = (
                "stale_while_revalidate serves values after their TTL: give "
                "ttl= (or a cache with a ttl)"
            )
            raise ValueError(msg)
        self._errors_for = _optional_seconds(cache_errors_for, "cache_errors_for")
        self._call_ns: Namespace | None = None
        super().__init__(
            cache,
            seconds_ttl,
            swr,
            self._errors_for,
            name,
            _events.listeners(listeners),
        )

    def __repr__(self) -> str:
        return f"<Cached {self._cache!r}>"

    @property
    def cache(self) -> BoundedCache[Any, Any]:
        """The cache the policy stores in."""
        return self._cache

    # -- the three spellings --------------------------------------------------

    @overload
    def __call__(
        self, fn: classmethod[Any, P, Awaitable[T]], /
    ) -> CachedClassMethod[P, T]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: staticmethod[P, Awaitable[T]], /
    ) -> CachedStaticMethod[P, T]: ...
    @overload
    def __call__(self, fn: Callable[P, Awaitable[T]], /) -> CachedFunction[P, T]: ...
    def __call__(self, fn: Any, /) -> Any:
        """Decorate an ``async def`` function, method, classmethod or
        staticmethod so that its results are cached."""
        if isinstance(fn, classmethod):
            return CachedClassMethod(self._decorate(fn.__func__))
        if isinstance(fn, staticmethod):
            return CachedStaticMethod(self._decorate(fn.__func__))
        return self._decorate(fn)

    def _decorate(self, fn: Any) -> CachedFunction[Any, Any]:
        if not is_async_callable(fn):
            msg = (
                f"cached() decorates async functions, and {fn!r} is not one; "
                "make it 'async def' (a cache of sync functions is "
                "functools.lru_cache or cachetools)"
            )
            raise TypeError(msg)
        return CachedFunction(self, fn, self._claim(_name_of(fn)))

    def _claim(self, name: str) -> Namespace | None:
        """The namespace of a new function's keys (see brace._cache_keys)."""
        if self._key is not None:
            return None
        cache = self._cache
        cache._claims += 1
        return None if cache._claims == 1 else Namespace(name)

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)``, cached by function and arguments.

        The key holds *fn* itself: pass the same function object each time
        (a bound method or a lambda made per call never hits, and keeps
        what it references alive until its entry goes).
        """
        if self._key is not None:
            key = self._key(*args, **kwargs)
        else:
            namespace = self._call_ns
            if namespace is None:
                namespace = self._call_ns = Namespace("Cached.call")
                self._cache._claims += 1
            key = (namespace, fn, make_key(args, kwargs))
        return await self._lookup(fn, _name_of(fn), key, args, kwargs)  # type: ignore[no-any-return]

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("cache", options)``: the policy's kind and its options.

        Durations are float seconds (``ttl`` is the one values get, the
        cache's when not given), callables are named by their qualified
        name, the cache and its random source by their ``repr``.
        """
        cache = self._cache
        return (
            "cache",
            {
                "cache": repr(cache),
                "maxsize": cache.maxsize,
                "ttl": self._ttl if self._ttl is not None else cache.ttl,
                "ttl_jitter": cache.ttl_jitter,
                "key": None if self._key is None else _name_of(self._key),
                "stale_while_revalidate": self._swr,
                "cache_errors_for": self._errors_for,
                "rng": None if cache._rng is None else repr(cache._rng),
                "name": self.name,
                "listeners": [_name_of(listener) for listener in self.listeners],
            },
        )

    # -- management -----------------------------------------------------------

    def cache_info(self) -> CacheInfo:
        """A snapshot of the counters; see :class:`CacheInfo`."""
        stats = self._cache.statistics()
        return CacheInfo(
            hits=stats.hits,
            misses=stats.misses,
            size=stats.size,
            maxsize=stats.maxsize,
            computations=self._computations,
            coalesced=self._coalesced,
            stale=self._stale,
            errors=self._errors_served,
            refresh_failures=self._refresh_failures,
            in_flight=self._running,
        )

    def cache_clear(self) -> None:
        """Empty the cache (shared with its other users) and the held errors.

        Computations in flight still answer their callers, but their results
        are not stored. The statistics stay; see
        :meth:`BoundedCache.reset_statistics`.
        """
        self._cache.clear()
        if self._errors is not None:
            self._errors.clear()
        for flight in list(self._flights.values()):
            flight.store = False
            flight.forget()

    async def aclose(self) -> None:
        """Stop the background refreshes, and wait until they have stopped.

        A refresh that a caller has meanwhile joined is left to finish for
        that caller. From now on no refresh starts in the background: values
        past their TTL are recomputed while the caller waits, as without
        ``stale_while_revalidate``. Idempotent.
        """
        self._closed = True
        loop = running_loop()
        flights = list(self._background)
        for flight in flights:
            flight.background = False
            if not flight.waiting:
                flight.cancel()
        for flight in flights:
            await flight.watch(loop)


cached = Cached
