"""RateLimiter: a token bucket (GCRA) or window limit with a strict FIFO queue.

The arithmetic lives in :mod:`._ratelimit_algorithms`, the waiting room in
:mod:`._ratelimit_queue`; this module holds the public class and its fast
paths. While anybody waits, the fast paths (``try_acquire``, an uncontended
``acquire``) refuse to take capacity, so a stream of small requests can
never overtake a large one queued earlier.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import attrs

from . import _events
from ._describe import shown
from ._errors import Cancelled, RateLimited
from ._events import Listener
from ._introspect import is_async_callable
from ._ratelimit_algorithms import TokenBucket, build
from ._ratelimit_queue import WaitQueue
from ._time import Duration, PyLoop, find, monotonic, now, seconds

if TYPE_CHECKING:
    from ._cancel import CancelToken

__all__ = ["RateLimiter", "RateLimiterStatistics"]

P = ParamSpec("P")
T = TypeVar("T")


@attrs.frozen(kw_only=True)
class RateLimiterStatistics:
    """A snapshot of a :class:`RateLimiter`.

    Attributes:
        available: Units that :meth:`~RateLimiter.try_acquire` could take
            right now (0 while tasks wait: they come first).
        capacity: The most units one request may ask for: the burst of a
            token bucket, the limit of a window.
        waiting: Tasks waiting in :meth:`~RateLimiter.acquire`.
        acquired: Requests granted so far (waited for or not).
        rejected: Requests refused: ``try_acquire()`` returning ``False``
            and ``acquire()`` raising :class:`~brace.RateLimited`.

    .. versionadded:: 0.1
    """

    available: int
    capacity: int
    waiting: int
    acquired: int
    rejected: int


class RateLimiter:
    """Limit how often something happens: *rate* units per *per* seconds.

    Use it as a decorator on ``async def`` functions (one unit per call),
    with :meth:`call`, as ``async with limiter:`` (one unit), or directly
    through :meth:`acquire` and :meth:`try_acquire` with a *cost*.

    Three algorithms:

    - ``"token_bucket"`` (default): GCRA, exact. Sustains *rate* per *per*;
      after a quiet spell up to *burst* units may go at once. Over any
      interval of length ``L``, at most ``burst + rate * L / per`` units are
      granted. **The default burst is 1**: requests are spaced evenly
      (``per / rate`` apart) and never bunch up. Ask for bursts explicitly.
    - ``"sliding_window"``: at most *rate* units in *any* interval of length
      *per*, counted in *segments* slices; memory O(segments). Exact as an
      upper bound; a unit may count up to ``per / segments`` longer than
      *per* (see :doc:`/howto/ratelimit`).
    - ``"fixed_window"``: at most *rate* units in each window
      ``[k*per, (k+1)*per)`` of the loop clock; up to twice that can pass
      around a window boundary.

    Requests wait in one strict FIFO queue: a large request queued first is
    served before smaller ones that arrive after it, and
    :meth:`try_acquire` never takes capacity while anybody waits. The
    limiter is work-conserving: a waiter is granted at the earliest time its
    cost fits behind those ahead of it. Every bucket starts full.

    Costs are whole units: ints from 1 up to the capacity (the burst, or
    the window's *rate*). A larger cost could never be granted and raises
    :class:`ValueError` instead of waiting forever.

    A limiter belongs to one event loop at a time (asyncio or trio; it
    reads that loop's clock) and is not thread-safe. It may be created
    outside a running loop.

    :meth:`describe` returns ``("ratelimit", options)``, its constructor
    options and their values, for tests and :func:`brace.compose`.

    Args:
        rate: Units per *per*: a number > 0 for ``token_bucket``, a whole
            number for the window algorithms.
        per: The period, in seconds (> 0) or a timedelta.
        burst: ``token_bucket`` only: the bucket size, an int >= 1
            (default 1: no bursts).
        algorithm: ``"token_bucket"``, ``"sliding_window"`` or
            ``"fixed_window"``.
        segments: ``sliding_window`` only: slices per window, an int >= 1
            (default 10).
        max_wait: If given, :meth:`acquire` raises :class:`brace.RateLimited`
            at once, without waiting, when it would have to wait longer than
            this (seconds or a timedelta; 0 means never wait).
        name: Names the limiter in events.
        listeners: Callbacks for this limiter's events
            (:class:`~brace.RateLimitRejected`, :class:`~brace.RateLimitWaited`).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range, or does not apply to the
            chosen algorithm.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_acquired",
        "_alg",
        "_capacity",
        "_loop",
        "_other",
        "_queue",
        "_rejected",
        "_time",
        "_touched",
        "_waiting",
        "algorithm",
        "burst",
        "listeners",
        "max_wait",
        "name",
        "per",
        "rate",
        "segments",
    )

    def __init__(
        self,
        rate: float,
        per: Duration = 1.0,
        *,
        burst: int | None = None,
        algorithm: str = "token_bucket",
        segments: int | None = None,
        max_wait: Duration | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        alg, self.rate, self.per, self.burst, self.segments = build(
            algorithm, rate, per, burst, segments
        )
        self.algorithm = algorithm
        self._alg = alg
        self._capacity = alg.capacity
        self.max_wait = None if max_wait is None else seconds(max_wait, "max_wait")
        self.name = name
        self.listeners: tuple[Listener, ...] = (
            () if listeners == () else _events.listeners(listeners)
        )
        # The asyncio loop last seen running us, and its clock (see _clock).
        self._loop: PyLoop | None = None
        self._time: Callable[[], float] = monotonic
        self._other: asyncio.AbstractEventLoop | None = None
        self._queue: WaitQueue | None = None  # made for the first waiter
        self._waiting = 0
        self._acquired = 0
        self._rejected = 0
        self._touched = 0.0  # last use, kept by a KeyedRateLimiter with idle_ttl

    def __repr__(self) -> str:
        extra = ""
        if self.algorithm == "token_bucket":
            extra = f", burst={self.burst}"
        elif self.algorithm == "sliding_window":
            extra = f", segments={self.segments}"
        name = f", name={self.name!r}" if self.name else ""
        return (
            f"<RateLimiter {self.rate:g} per {self.per:g} s, "
            f"{self.algorithm}{extra}{name}, waiting={self._waiting}>"
        )

    # -- checks -----------------------------------------------------------

    def _bad_cost(self, cost: object) -> None:
        if isinstance(cost, bool) or not isinstance(cost, int):
            msg = f"cost must be an int number of units, not {cost!r}"
            raise TypeError(msg)
        if cost < 1:
            msg = f"cost must be >= 1, not {cost}"
            raise ValueError(msg)
        what = "burst" if self.algorithm == "token_bucket" else "rate per window"
        msg = (
            f"cost {cost} exceeds this limiter's capacity of {self._capacity} "
            f"({what}), so it could never be granted; raise the {what} or "
            "split the request"
        )
        raise ValueError(msg)

    # -- granting at once -------------------------------------------------

    def _clock(self) -> float:
        """The time, the slow way; only ever called while nobody waits.

        The fast paths read ``self._time()`` while ``self._loop`` is set and
        its ``_thread_id`` says it runs (see ``brace._time.find``). It is
        set here, and cleared whenever a task starts waiting, so a set
        ``_loop`` also means that nobody waits: one test covers both.
        """
        other = self._other
        if other is not None and other.is_running():
            return other.time()
        self._loop, clock, self._other = find()
        if self._loop is not None:
            self._time = clock
            return clock()
        return self._other.time() if self._other is not None else now()

    def try_acquire(self, cost: int = 1) -> bool:
        """Take *cost* units if they are available now; never waits.

        Returns ``False`` while other tasks wait, even if capacity exists:
        they were first.

        Raises:
            TypeError: *cost* is not an int.
            ValueError: *cost* is < 1 or larger than the capacity.
        """
        if cost.__class__ is not int or not 0 < cost <= self._capacity:
            self._bad_cost(cost)
        loop = self._loop
        if loop is not None and loop._thread_id is not None:
            t = self._time()
        elif self._waiting:
            t = None
        else:
            t = self._clock()
        if t is not None and self._alg.take(t, cost):
            self._acquired += 1
            return True
        self._rejected += 1
        if _events.subscribers or self.listeners:
            self._emit_rejected(cost)
        return False

    def _take_now(self, cost: int, cancel: CancelToken | None) -> bool:
        """The fast path of :meth:`acquire`: take *cost* now if nobody waits."""
        if cost.__class__ is not int or not 0 < cost <= self._capacity:
            self._bad_cost(cost)
        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
        loop = self._loop
        if loop is not None and loop._thread_id is not None:
            t = self._time()
        elif self._waiting:
            return False
        else:
            t = self._clock()
        if self._alg.take(t, cost):
            self._acquired += 1
            return True
        return False

    async def acquire(self, cost: int = 1, cancel: CancelToken | None = None) -> None:
        """Wait until *cost* units are granted, in FIFO order.

        Args:
            cost: Units to take, an int from 1 to the capacity.
            cancel: A :class:`~brace.CancelToken`: when it is cancelled while
                the request waits, the request leaves the queue having taken
                nothing and :class:`brace.Cancelled` is raised. A token that
                is already cancelled raises at once.

        Raises:
            brace.RateLimited: The wait would exceed ``max_wait``; raised
                at once, without waiting, with ``retry_after`` set.
            brace.Cancelled: *cancel* was cancelled.
            TypeError: *cost* is not an int.
            ValueError: *cost* is < 1 or larger than the capacity.
        """
        if not self._take_now(cost, cancel):
            await self._wait(cost, cancel)

    # -- waiting ----------------------------------------------------------

    async def _wait(self, cost: int, cancel: CancelToken | None) -> None:
        start = now()
        queue = self._queue
        if queue is None:
            queue = self._queue = WaitQueue(self._alg)
        if self.max_wait is not None:
            delay = queue.estimate(start, cost) - start
            if delay > self.max_wait:
                self._rejected += 1
                if _events.subscribers or self.listeners:
                    _events.emit(
                        _events.RateLimitRejected(
                            name=self.name or "<ratelimiter>",
                            cost=cost,
                            retry_after=delay,
                        ),
                        self.listeners,
                    )
                raise RateLimited(retry_after=delay)
        self._waiting += 1
        self._loop = None  # the fast paths must now see the queue
        try:
            await queue.wait(cost, cancel, start)
        finally:
            self._waiting -= 1
        self._acquired += 1
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.RateLimitWaited(
                    name=self.name or "<ratelimiter>", cost=cost, waited=now() - start
                ),
                self.listeners,
            )

    def retry_after(self, cost: int = 1) -> float:
        """Seconds until *cost* units could be granted, behind those waiting.

        0.0 when :meth:`try_acquire` would succeed now. Suits the HTTP
        ``Retry-After`` and ``RateLimit-Reset`` headers.

        Raises:
            TypeError: *cost* is not an int.
            ValueError: *cost* is < 1 or larger than the capacity.
        """
        if cost.__class__ is not int or not 0 < cost <= self._capacity:
            self._bad_cost(cost)
        t = now()
        queue = self._queue
        when = self._alg.earliest(t, cost) if queue is None else queue.estimate(t, cost)
        return max(0.0, when - t)

    def _emit_rejected(self, cost: int) -> None:
        _events.emit(
            _events.RateLimitRejected(
                name=self.name or "<ratelimiter>",
                cost=cost,
                retry_after=self.retry_after(cost),
            ),
            self.listeners,
        )

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("ratelimit", options)``: the constructor options and their values."""
        return "ratelimit", {
            "rate": self.rate,
            "per": self.per,
            "burst": self.burst,
            "algorithm": self.algorithm,
            "segments": self.segments,
            "max_wait": self.max_wait,
            "name": self.name,
            "listeners": shown(self.listeners),
        }

    def statistics(self) -> RateLimiterStatistics:
        """A snapshot of the limiter's counters and current capacity."""
        return RateLimiterStatistics(
            available=0 if self._waiting else self._alg.available(now()),
            capacity=self._capacity,
            waiting=self._waiting,
            acquired=self._acquired,
            rejected=self._rejected,
        )

    # -- the shared shapes -----------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function: each call takes one unit first."""
        if not is_async_callable(fn):
            msg = (
                f"RateLimiter decorates async functions, and {fn!r} is not one; "
                "call limiter.try_acquire() from synchronous code"
            )
            raise TypeError(msg)
        if isinstance(self._alg, TokenBucket):
            return self._wrap_bucket(fn, self._alg)
        take_now = self._take_now
        wait = self._wait

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if not take_now(1, None):
                await wait(1, None)
            return await fn(*args, **kwargs)

        return wrapper

    def _wrap_bucket(
        self, fn: Callable[P, Awaitable[T]], bucket: TokenBucket
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """The decorator's wrapper for the default algorithm, the hottest path.

        The same as the generic wrapper, with the first branch of
        :meth:`TokenBucket.take` (a full bucket, whatever the rate) inlined:
        a Python call is a fair part of the whole overhead.
        """
        limiter = self
        take = bucket.take
        wait = self._wait
        # TokenBucket.take computes ``1 * per / rate``: the same float.
        unit = bucket.per / bucket.rate

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            loop = limiter._loop
            if loop is not None and loop._thread_id is not None:
                t = limiter._time()
                if bucket.tat < t:
                    bucket._base = t
                    bucket._units = 1
                    bucket.tat = t + unit
                    limiter._acquired += 1
                    return await fn(*args, **kwargs)
                if take(t, 1):
                    limiter._acquired += 1
                    return await fn(*args, **kwargs)
            elif not limiter._waiting and take(limiter._clock(), 1):
                limiter._acquired += 1
                return await fn(*args, **kwargs)
            await wait(1, None)
            return await fn(*args, **kwargs)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Take one unit, then await ``fn(*args, **kwargs)``."""
        await self.acquire()
        return await fn(*args, **kwargs)

    async def __aenter__(self) -> None:
        loop = self._loop
        if loop is not None and loop._thread_id is not None:
            if self._alg.take(self._time(), 1):
                self._acquired += 1
                return
        elif not self._waiting and self._alg.take(self._clock(), 1):
            self._acquired += 1
            return
        await self._wait(1, None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
