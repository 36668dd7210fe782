"""ConcurrencyLimiter: a bulkhead with a bounded waiting room.

Slots are handed over, not competed for: a release with somebody waiting
gives its slot straight to the next waiter (``active`` does not drop), so a
newcomer can never overtake the queue, and the order is exactly the
configured one. Waiters that leave early (task cancelled, token cancelled,
evicted) are left in the deque and skipped when their turn comes, which keeps
every operation O(1) amortised; the deque is compacted when dead entries
outnumber live ones.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, ParamSpec, TypeVar

import attrs

from . import _events
from ._describe import shown
from ._errors import Cancelled, LimiterFull
from ._events import Listener
from ._introspect import is_async_callable
from ._limiter_waiter import Entry, Waiter, in_loop_thread
from ._time import check_count, now, running_loop

if TYPE_CHECKING:
    from ._cancel import CancelToken

__all__ = ["ConcurrencyLimiter", "LimiterStatistics"]

P = ParamSpec("P")
T = TypeVar("T")

_DEFAULT_MAX_WAITING = 1000

# What a waiter is told when it leaves the waiting room. Anything but
# _GRANTED means it holds no slot.
_GRANTED = 1
_EVICTED = 2
_TOKEN = 3


@attrs.frozen
class LimiterStatistics:
    """A snapshot of a :class:`ConcurrencyLimiter`.

    Attributes:
        active: Slots in use. Above *max_concurrent* only after a shrink,
            until enough holders release.
        waiting: Calls in the waiting room.
        acquired: Slots handed out since construction.
        rejected: Calls shed with :class:`~brace.LimiterFull` since
            construction, evicted waiters included.
        max_concurrent: The slot count.
        max_waiting: The size of the waiting room (``None``: unbounded).

    .. versionadded:: 0.1
    """

    active: int
    waiting: int
    acquired: int
    rejected: int
    max_concurrent: int
    max_waiting: int | None


def _check_max_waiting(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = (
            "max_waiting must be an int >= 0 (0: never wait), or None for an "
            f"unbounded waiting room, not {value!r}"
        )
        raise ValueError(msg)
    return value


class ConcurrencyLimiter:
    """Let at most *max_concurrent* calls run at once; queue or shed the rest.

    A bulkhead: a call takes a slot before it runs and gives it back when it
    ends, however it ends. When every slot is taken, calls wait in a waiting
    room of at most *max_waiting* entries, and are shed with
    :class:`brace.LimiterFull` when the room is full too. Use it as a
    decorator on ``async def`` functions, with :meth:`call`, as
    ``async with``, or through :meth:`acquire` and :meth:`release`.

    Waiters get slots strictly in *order*, and a slot freed while somebody
    waits goes to that waiter directly, so a newcomer never overtakes the
    queue. A call that finds a free slot never yields to the event loop.

    A waiter cancelled while it waits (task cancellation, a timeout, a
    cancel scope, the token given to :meth:`acquire`) leaves no trace: it is
    neither *waiting* nor *rejected*. One cancelled at the instant it was
    given a slot passes the slot on to the next waiter.

    A limiter is a mutable resource for the tasks of one event loop
    (asyncio or trio), constructible outside any loop; it is not
    thread-safe, except that the :class:`~brace.CancelToken` given to
    :meth:`acquire` may be cancelled from any thread.

    :meth:`describe` returns ``("limiter", options)``, its constructor
    options and their current values, for tests and :func:`brace.compose`.

    Args:
        max_concurrent: How many calls may run at once, >= 1. Adjustable
            later through the :attr:`max_concurrent` property.
        max_waiting: How many calls may wait for a slot: ``0`` never waits
            (reject at once when full), ``None`` sets no limit. The default,
            :attr:`DEFAULT_MAX_WAITING`, keeps overload from queueing
            without bound; pass ``None`` when the backlog is yours and
            finite, such as a batch of tasks gathered at once.
        order: ``"fifo"`` serves the oldest waiter first, and a full waiting
            room rejects newcomers. ``"lifo"`` serves the newest waiter
            first, and a full waiting room evicts the oldest waiter (it gets
            :class:`brace.LimiterFull`) to admit the newcomer: under
            overload, fresh requests are served and stale ones are shed.
        name: Names the limiter in errors and events.
        listeners: Callbacks for this limiter's events
            (:class:`LimiterRejected`, :class:`LimiterWaited`).

    Raises:
        ValueError: An argument is out of range.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_acquired",
        "_active",
        "_lifo",
        "_max",
        "_max_waiting",
        "_rejected",
        "_room",
        "_take",
        "_waiters",
        "_waiting",
        "listeners",
        "name",
    )

    DEFAULT_MAX_WAITING: ClassVar[int] = _DEFAULT_MAX_WAITING
    """The size of the waiting room when ``max_waiting`` is not given (1000)."""

    def __init__(
        self,
        max_concurrent: int,
        *,
        max_waiting: int | None = _DEFAULT_MAX_WAITING,
        order: Literal["fifo", "lifo"] = "fifo",
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_count(max_concurrent, "max_concurrent")
        self._max_waiting = _check_max_waiting(max_waiting)
        if order not in ("fifo", "lifo"):
            msg = f"order must be 'fifo' or 'lifo', not {order!r}"
            raise ValueError(msg)
        self._lifo = order == "lifo"
        self._max = max_concurrent
        self._room = sys.maxsize if max_waiting is None else max_waiting
        self._active = 0
        # Undecided waiters: in the deque and not yet granted, evicted or
        # released by their token, and not yet gone after a cancellation.
        self._waiting = 0
        self._acquired = 0
        self._rejected = 0
        # Compaction rewrites the deque in place, so this stays bound to it.
        self._waiters: deque[Entry] = deque()
        self._take = self._waiters.pop if self._lifo else self._waiters.popleft
        self.name = name
        self.listeners: tuple[Listener, ...] = _events.listeners(listeners)

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return (
            f"<ConcurrencyLimiter{name} active={self._active}/{self._max} "
            f"waiting={self._waiting}>"
        )

    @property
    def max_concurrent(self) -> int:
        """How many calls may run at once; assign to resize the limiter.

        Growing it admits waiters at once. Shrinking it never interrupts
        running calls: it takes effect as they release their slots.

        Raises:
            ValueError: The new value is not an int >= 1.
        """
        return self._max

    @max_concurrent.setter
    def max_concurrent(self, value: int) -> None:
        check_count(value, "max_concurrent")
        self._max = value
        while self._active < value and self._waiting and self._grant_next():
            self._active += 1

    @property
    def max_waiting(self) -> int | None:
        """The size of the waiting room, or ``None`` for an unbounded one."""
        return self._max_waiting

    @property
    def order(self) -> Literal["fifo", "lifo"]:
        """Which waiter is served first, ``"fifo"`` or ``"lifo"``."""
        return "lifo" if self._lifo else "fifo"

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("limiter", options)``: the constructor options, current values."""
        return "limiter", {
            "max_concurrent": self._max,
            "max_waiting": self._max_waiting,
            "order": self.order,
            "name": self.name,
            "listeners": shown(self.listeners),
        }

    def statistics(self) -> LimiterStatistics:
        """A consistent snapshot of the counters."""
        return LimiterStatistics(
            active=self._active,
            waiting=self._waiting,
            acquired=self._acquired,
            rejected=self._rejected,
            max_concurrent=self._max,
            max_waiting=self._max_waiting,
        )

    # -- acquiring and releasing ----------------------------------------------

    def acquire_nowait(self) -> None:
        """Take a free slot, or raise at once.

        Raises:
            brace.LimiterFull: Every slot is taken (waiters included: a
                call that does not wait never overtakes those that do).
        """
        if self._active < self._max:
            self._active += 1
            self._acquired += 1
            return
        raise self._reject("no_slot")

    async def acquire(self, *, cancel: CancelToken | None = None) -> None:
        """Take a slot, waiting for one if needed; pair with :meth:`release`.

        Args:
            cancel: Stops the wait when cancelled: the call then leaves the
                waiting room without a trace and raises
                :class:`brace.Cancelled`. Already cancelled: raises at once.

        Raises:
            brace.LimiterFull: No free slot and no room to wait, or (with
                ``order="lifo"``) evicted by a newer waiter.
            brace.Cancelled: *cancel* was cancelled before a slot came.
        """
        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
        if self._active < self._max:
            self._active += 1
            self._acquired += 1
            return
        await self._wait(cancel)

    def release(self) -> None:
        """Give a slot back: to the next waiter if any, else to the pool.

        Raises:
            RuntimeError: No slot is taken: more releases than acquisitions.
        """
        active = self._active
        if active <= 0:
            msg = (
                "ConcurrencyLimiter.release() called with no slot taken: "
                "release once per successful acquire"
            )
            raise RuntimeError(msg)
        if not (self._waiting and active <= self._max and self._grant_next()):
            self._active = active - 1

    # -- the three spellings ----------------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function so that every call takes a slot."""
        if not is_async_callable(fn):
            msg = (
                f"ConcurrencyLimiter can only guard async functions, and {fn!r} "
                "is not one; a synchronous call would hold the loop, not a slot"
            )
            raise TypeError(msg)

        # acquire() and release() are inlined here, in call() and in the
        # context manager: the two method calls would be a third of the
        # limiter's cost on the uncontended path.
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if self._active < self._max:
                self._active += 1
                self._acquired += 1
            else:
                await self._wait(None)
            try:
                return await fn(*args, **kwargs)
            finally:
                active = self._active
                if not (self._waiting and active <= self._max and self._grant_next()):
                    self._active = active - 1

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` holding a slot."""
        if self._active < self._max:
            self._active += 1
            self._acquired += 1
        else:
            await self._wait(None)
        try:
            return await fn(*args, **kwargs)
        finally:
            active = self._active
            if not (self._waiting and active <= self._max and self._grant_next()):
                self._active = active - 1

    async def __aenter__(self) -> None:
        if self._active < self._max:
            self._active += 1
            self._acquired += 1
            return
        await self._wait(None)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        active = self._active
        if not (self._waiting and active <= self._max and self._grant_next()):
            self._active = active - 1

    # -- the waiting room --------------------------------------------------------

    async def _wait(self, cancel: CancelToken | None) -> None:
        """Wait for a slot that a release or a resize hands over."""
        if self._waiting >= self._room and not (
            self._lifo and self._room and self._evict_oldest()
        ):
            raise self._reject("waiting_room_full")
        listening = _events.subscribers or self.listeners
        start = now() if listening else None
        loop = running_loop()
        if loop is not None:
            future: asyncio.Future[int] = loop.create_future()
            entry: Entry = future
        else:
            waiter = Waiter()
            entry = waiter
        self._waiters.append(entry)
        self._waiting += 1
        handle = None
        if cancel is not None:
            settle = functools.partial(self._token_cancelled, entry)
            handle = cancel.on_cancel(in_loop_thread(loop, settle))
        try:
            if loop is not None:
                outcome = await future
            else:
                await waiter.event.wait()
                outcome = waiter.outcome
        except BaseException:
            self._left(entry)
            raise
        finally:
            if handle is not None:
                handle.remove()
        if outcome == _GRANTED:
            self._acquired += 1
            if start is not None and (_events.subscribers or self.listeners):
                _events.emit(
                    _events.LimiterWaited(
                        name=self.name or "<limiter>", waited=now() - start
                    ),
                    self.listeners,
                )
            return
        if outcome == _EVICTED:
            raise LimiterFull(self.name)
        assert cancel is not None  # noqa: S101  (only a token says _TOKEN)
        raise Cancelled(cancel.reason)

    def _left(self, entry: Entry) -> None:
        """A waiter's task was cancelled (or interrupted): settle its entry."""
        # A cancelled asyncio task has cancelled its future already; a trio
        # entry, or a future interrupted by anything else, is still pending.
        if not entry.done():
            entry.cancel()
        if entry.cancelled():
            self._forget()
        elif entry.result() == _GRANTED:
            # Cancelled in the instant it was granted: pass the slot on.
            self.release()

    def _forget(self) -> None:
        """One undecided waiter left; compact the deque if mostly dead."""
        self._waiting -= 1
        waiters = self._waiters
        if len(waiters) > 2 * self._waiting + 32:
            live = [w for w in waiters if not w.done()]
            waiters.clear()
            waiters.extend(live)

    def _grant_next(self) -> bool:
        """Hand a slot to the next live waiter; ``False`` if there is none."""
        waiters = self._waiters
        take = self._take
        while waiters:
            entry = take()
            if not entry.done():
                self._waiting -= 1
                entry.set_result(_GRANTED)
                return True
        return False

    def _evict_oldest(self) -> bool:
        """Turn the oldest live waiter away; ``False`` if there is none."""
        waiters = self._waiters
        while waiters:
            entry = waiters.popleft()
            if not entry.done():
                self._waiting -= 1
                entry.set_result(_EVICTED)
                self._reject("evicted")
                return True
        return False

    def _token_cancelled(self, entry: Entry) -> None:
        """The token of a waiter was cancelled (runs in the loop's thread)."""
        if not entry.done():
            entry.set_result(_TOKEN)
            self._forget()

    def _reject(self, reason: str) -> LimiterFull:
        """Count a rejection, tell the listeners, return the error to raise."""
        self._rejected += 1
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.LimiterRejected(
                    name=self.name or "<limiter>",
                    reason=reason,
                    max_concurrent=self._max,
                    waiting=self._waiting,
                ),
                self.listeners,
            )
        return LimiterFull(self.name)
