"""The FIFO waiting room of a RateLimiter.

Only the waiter at the head of the queue ever takes capacity: it sleeps
until the algorithm says its cost fits, takes it, then wakes the next one.
Capacity is taken by the waiter itself once it runs again, never handed to
it while it sleeps, so a waiter cancelled at any moment (even just after it
was woken) has taken nothing and there is nothing to give back. A waiter
cancelled in the middle of the queue is only marked gone: nobody behind it
waits on its account, since each head plans its own wake-up from the
limiter's state when it reaches the head.

For ``max_wait`` and ``retry_after()`` the queue keeps a *plan*: a copy of
the algorithm advanced through every queued request at its earliest time.
It is extended in O(1) per new waiter, and rebuilt (O(queue)) only after a
cancellation, or after a grant whose effect differs from the plan's (a timer
that fired late enough to matter).

On asyncio a waiter waits on a bare future (and the head on a timer); on
other backends (trio) on an :class:`anyio.Event` and :func:`anyio.sleep_until`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

import anyio

from ._ratelimit_algorithms import Algorithm
from ._time import running_loop

if TYPE_CHECKING:
    from ._cancel import CancelToken

__all__ = ["WaitQueue"]


class _Waiter:
    __slots__ = ("cost", "gone", "mark", "signal")

    def __init__(self, cost: int) -> None:
        self.cost = cost
        # What wakes it when it becomes the head: set by _park before it
        # first awaits, so always set by the time anybody could promote it.
        self.signal: asyncio.Future[None] | anyio.Event | None = None
        self.gone = False
        self.mark = 0.0


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class WaitQueue:
    """The waiters of one limiter whose algorithm is *alg*, in FIFO order."""

    __slots__ = ("_alg", "_plan", "_plan_last", "_waiters", "waiting")

    def __init__(self, alg: Algorithm) -> None:
        self._alg = alg
        self._waiters: deque[_Waiter] = deque()
        self.waiting = 0  # live waiters; gone ones may still be queued
        self._plan: Algorithm | None = None
        self._plan_last = 0.0

    async def wait(self, cost: int, cancel: CancelToken | None, start: float) -> None:
        """Queue a request made at *start*; return once it is granted.

        Raises whatever interrupted the wait (cancellation, the token's
        :class:`brace.Cancelled`), having taken nothing.
        """
        waiter = _Waiter(cost)
        self._waiters.append(waiter)
        self.waiting += 1
        plan = self._plan
        if plan is not None:
            when = plan.earliest(max(start, self._plan_last), cost)
            plan.take(when, cost)
            waiter.mark = plan.mark()
            self._plan_last = when
        try:
            if cancel is None:
                await self._park(waiter)
            else:
                with cancel.scope():
                    await self._park(waiter)
        except BaseException:
            self._leave(waiter)
            raise

    async def _park(self, waiter: _Waiter) -> None:
        """Wait to reach the head of the queue, then for the cost to fit."""
        waiters = self._waiters
        loop = running_loop()
        if loop is None:
            while waiters[0] is not waiter:
                event = waiter.signal = anyio.Event()
                await event.wait()
            t = anyio.current_time()
            when = self._alg.earliest(t, waiter.cost)
            if when > t:
                await anyio.sleep_until(when)
                t = max(anyio.current_time(), when)
            self._grant(waiter, t)
            return
        while waiters[0] is not waiter:
            fut = waiter.signal = loop.create_future()
            await fut
        t = loop.time()
        when = self._alg.earliest(t, waiter.cost)
        if when > t:
            fut = loop.create_future()  # only the timer resolves this one
            timer = loop.call_at(when, _resolve, fut)
            try:
                await fut
            finally:
                timer.cancel()
            # asyncio may run a timer up to its clock resolution early.
            t = max(loop.time(), when)
        self._grant(waiter, t)

    def _grant(self, waiter: _Waiter, t: float) -> None:
        if not self._alg.take(t, waiter.cost):
            raise AssertionError("a rate limiter waiter woke before its cost fit")
        self._waiters.popleft()
        self.waiting -= 1
        if self._plan is not None and (
            not self.waiting or self._alg.mark() != waiter.mark
        ):
            self._plan = None
        self._promote()

    def _leave(self, waiter: _Waiter) -> None:
        """Take a waiter that was not granted out of the queue.

        Nothing can fail between a grant and the return from :meth:`wait`
        (no await, and a token's scope ends quietly), so a waiter that
        leaves has always taken nothing.
        """
        self.waiting -= 1
        self._plan = None
        if self._waiters[0] is waiter:
            self._waiters.popleft()
            self._promote()
        else:
            # Dropped when it reaches the head: O(1) now.
            waiter.gone = True

    def _promote(self) -> None:
        """Drop gone waiters from the head; wake the new head, if any."""
        waiters = self._waiters
        while waiters and waiters[0].gone:
            waiters.popleft()
        if waiters:
            signal = waiters[0].signal
            if isinstance(signal, asyncio.Future):
                _resolve(signal)
            else:
                assert signal is not None  # noqa: S101
                signal.set()

    def estimate(self, t: float, cost: int) -> float:
        """When a request of *cost* made at *t* would be granted, FIFO."""
        if not self.waiting:
            return self._alg.earliest(t, cost)
        plan = self._plan
        if plan is None:
            plan = self._replan(t)
        return plan.earliest(max(t, self._plan_last), cost)

    def _replan(self, t: float) -> Algorithm:
        plan = self._alg.copy()
        last = t
        for waiter in self._waiters:
            if not waiter.gone:
                last = plan.earliest(last, waiter.cost)
                plan.take(last, waiter.cost)
                waiter.mark = plan.mark()
        self._plan = plan
        self._plan_last = last
        return plan
