"""FIFO waiting rooms for BoundedQueue: a bare future on asyncio, anyio elsewhere.

A waiting room is an ordered dict of waiters (insertion order is arrival
order; removal of a cancelled waiter is O(1)). A waker pops the first waiter
that is not done and calls ``set_result`` on it: ``None`` means "served",
an exception instance means "raise this". A waiter that is cancelled after
it was served but before it resumed runs the room owner's hook, so that
whatever it was given is passed on rather than lost.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import Cancelled
from ._time import running_loop

if TYPE_CHECKING:
    from ._cancel import CancelToken

__all__ = ["EventWaiter", "Waiter", "count_live", "park", "settle"]


class EventWaiter:
    """A waiter for non-asyncio backends, shaped like the future it replaces."""

    __slots__ = ("_done", "_event", "_outcome")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._done = False
        self._outcome: BaseException | None = None

    def done(self) -> bool:
        return self._done

    def cancelled(self) -> bool:
        return False

    def result(self) -> BaseException | None:
        return self._outcome

    def set_result(self, outcome: BaseException | None) -> None:
        self._outcome = outcome
        self._done = True
        self._event.set()

    async def wait(self) -> BaseException | None:
        await self._event.wait()
        return self._outcome


Waiter = asyncio.Future[BaseException | None] | EventWaiter


def count_live(waiters: Iterable[Waiter]) -> int:
    """How many of *waiters* still wait (cancelled ones may linger briefly)."""
    return sum(1 for waiter in waiters if not waiter.done())


def settle(waiter: Waiter, outcome: BaseException) -> None:
    """Wake *waiter* with an exception to raise, unless it was served first."""
    if not waiter.done():
        waiter.set_result(outcome)


def _on_token(
    loop: asyncio.AbstractEventLoop | None, waiter: Waiter
) -> Callable[[object], None]:
    def cancelled(reason: object) -> None:
        if loop is None or running_loop() is loop:
            settle(waiter, Cancelled(reason))
        else:  # CancelToken.cancel() may run in another thread
            loop.call_soon_threadsafe(settle, waiter, Cancelled(reason))

    return cancelled


async def park(
    waiters: OrderedDict[Waiter, Any],
    value: object,
    cancel: CancelToken | None,
    served_then_cancelled: Callable[[Waiter], None] | None = None,
) -> Waiter:
    """Wait in *waiters* (holding *value*) until served; return the waiter.

    Raises the exception the waker sent instead (closed, token cancelled),
    or the task's cancellation; a waiter cancelled in the instant after it
    was served calls *served_then_cancelled* with itself before the
    cancellation propagates.
    """
    loop = running_loop()
    waiter: Waiter = loop.create_future() if loop is not None else EventWaiter()
    waiters[waiter] = value
    handle = None if cancel is None else cancel.on_cancel(_on_token(loop, waiter))
    try:
        if isinstance(waiter, EventWaiter):
            outcome = await waiter.wait()
        else:
            outcome = await waiter
    except BaseException:
        waiters.pop(waiter, None)
        if (
            served_then_cancelled is not None
            and waiter.done()
            and not waiter.cancelled()
            and waiter.result() is None
        ):
            served_then_cancelled(waiter)
        raise
    finally:
        if handle is not None:
            handle.remove()
    if outcome is not None:
        waiters.pop(waiter, None)
        raise outcome
    return waiter
