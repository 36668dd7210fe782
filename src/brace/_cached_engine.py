"""The work behind :class:`brace.cached` when a call finds no fresh value.

:class:`Engine` is the stateful half of the policy: the computations in
flight by key, the background refreshes, the errors held back, and the
counters. It serves stale values, joins or starts computations (see
:mod:`brace._cache_flight`) and stores their outcomes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from . import _events
from ._cache import _INF, BoundedCache
from ._cache_flight import Flight, cancelled_error
from ._events import Listener
from ._time import running_loop

__all__ = ["Engine"]

_MISSING: Any = object()


class Engine:
    """State and miss handling of a :class:`~brace._cached.Cached` policy."""

    __slots__ = (
        "_background",
        "_cache",
        "_closed",
        "_coalesced",
        "_computations",
        "_errors",
        "_errors_served",
        "_flights",
        "_refresh_failures",
        "_running",
        "_stale",
        "_swr",
        "_ttl",
        "listeners",
        "name",
    )

    def __init__(
        self,
        cache: BoundedCache[Any, Any],
        ttl: float | None,
        swr: float | None,
        errors_for: float | None,
        name: str | None,
        listeners: tuple[Listener, ...],
    ) -> None:
        self._cache = cache
        self._ttl = ttl
        self._swr = swr
        self._errors: BoundedCache[Any, tuple[BaseException, Any]] | None = None
        if errors_for is not None:
            self._errors = BoundedCache(
                cache.maxsize, ttl=errors_for, timer=cache._timer
            )
        self.name = name
        self.listeners = listeners
        self._flights: dict[Any, Flight] = {}
        self._background: set[Flight] = set()
        self._closed = False
        self._computations = self._coalesced = self._stale = 0
        self._errors_served = self._refresh_failures = 0
        # Computations not finished yet, including those that new callers no
        # longer find in _flights (invalidated, cleared, being cancelled).
        self._running = 0

    def _invalidate(self, key: Any) -> bool:
        found = self._cache.pop(key, _MISSING) is not _MISSING
        if self._errors is not None:
            found = self._errors.pop(key, None) is not None or found
        flight = self._flights.get(key)
        if flight is not None:
            # Its callers still get its outcome, computed before the
            # invalidation: it must not be stored as if computed after.
            flight.store = False
            flight.forget()
            found = True
        return found

    # -- misses ---------------------------------------------------------------

    async def _lookup(
        self, fn: Callable[..., Any], name: str, key: Any, args: Any, kwargs: Any
    ) -> Any:
        """The whole lookup, hit path included (for :meth:`call`)."""
        entry = self._cache._data.get(key)
        # The clock before the expiry: reading it may move every expiry
        # over to a new loop's clock.
        if entry is not None and (
            entry.fresh_until == _INF or self._cache._clock() < entry.fresh_until
        ):
            self._cache._data.move_to_end(key)
            self._cache._hits += 1
            return entry.value
        return await self._miss(fn, name, key, args, kwargs)

    async def _miss(
        self, fn: Callable[..., Any], name: str, key: Any, args: Any, kwargs: Any
    ) -> Any:
        """No fresh value at hand: serve a stale one, or compute."""
        cache = self._cache
        loop = running_loop()
        now = cache._sync(loop)
        entry = cache._data.get(key)
        if entry is not None:
            # The hit path has just found it past fresh_until.
            if now < entry.expires and not self._closed:
                cache._data.move_to_end(key)
                cache._hits += 1
                self._stale += 1
                if key not in self._flights and not (
                    self._errors is not None and key in self._errors
                ):
                    self._start(fn, name, key, args, kwargs, loop, refresh=True)
                return entry.value
            if now >= entry.expires:
                cache._expired(entry)
        if self._errors is not None:
            held = self._errors.get(key)
            if held is not None:
                cache._misses += 1
                self._errors_served += 1
                raise held[0].with_traceback(held[1])
        flight = self._flights.get(key)
        joined = flight is not None
        if flight is None:
            flight = self._start(fn, name, key, args, kwargs, loop)
        try:
            value = await flight.wait(loop)
        except Exception:
            self._count_miss(joined)
            raise
        self._count_miss(joined)
        return value

    def _count_miss(self, joined: bool) -> None:
        self._cache._misses += 1
        if joined:
            self._coalesced += 1

    def _start(
        self,
        fn: Callable[..., Any],
        name: str,
        key: Any,
        args: Any,
        kwargs: Any,
        loop: asyncio.AbstractEventLoop | None,
        *,
        refresh: bool = False,
    ) -> Flight:
        flight = Flight(key, self.name or name, self._flights, refresh=refresh)
        self._flights[key] = flight
        self._computations += 1
        self._running += 1
        if refresh:
            self._background.add(flight)
        flight.launch(fn, args, kwargs, loop, self._finish)
        return flight

    def _finish(
        self, flight: Flight, value: Any, error: BaseException | None, cancelled: bool
    ) -> None:
        """A computation ended: keep its outcome, then wake its callers."""
        flight.forget()
        self._running -= 1
        self._background.discard(flight)
        if cancelled:
            flight.resolve(None, cancelled_error(flight.name))
            return
        key = flight.key
        errors = self._errors
        if error is None:
            if flight.store:
                cache = self._cache
                cache._put(key, value, self._ttl, self._swr or 0.0, cache._now())
                if errors is not None:
                    errors.pop(key, None)
            flight.resolve(value, None)
            return
        if flight.store and errors is not None:
            errors.set(key, (error, error.__traceback__))
        if flight.refresh:
            self._refresh_failures += 1
            if _events.subscribers or self.listeners:
                _events.emit(
                    _events.CacheRefreshFailed(name=flight.name, key=key, error=error),
                    self.listeners,
                )
        flight.resolve(None, error)
