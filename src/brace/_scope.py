"""Cancellable regions of the running task: the machinery under timeouts.

A scope is entered on construction and left with :meth:`exit`, which tells
whether the scope's *own* cancellation interrupted the region, so the caller
can replace the cancellation by its own error (``brace.TimeoutError``,
``brace.Cancelled``). Cancellation that comes from outside the scope is never
claimed and always propagates.

On asyncio the scope talks to the task directly (``Task.cancel`` with the
``cancelling``/``uncancel`` counters, as :func:`asyncio.timeout` does) at a
fraction of the cost of :func:`asyncio.timeout`; on other backends it wraps
:class:`anyio.CancelScope`.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType

import anyio

from ._time import running_loop

__all__ = ["AnyioScope", "AsyncioScope", "Scope", "open_scope"]

_current_task = asyncio.current_task
_CancelledError = asyncio.CancelledError

_ENTERED, _CANCELLED, _EXITED = 0, 1, 2


class AsyncioScope:
    """A cancellable region of an asyncio task (see the module docstring)."""

    __slots__ = ("_cancelling", "_handle", "_loop", "_state", "_task", "deadline")

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        task = _current_task(loop)
        if task is None:
            msg = "brace timeouts and cancel scopes must be used inside a task"
            raise RuntimeError(msg)
        self._loop = loop
        self._task = task
        self._cancelling = task.cancelling()
        self._state = _ENTERED
        if timeout is None:
            self.deadline = math.inf
            self._handle: asyncio.TimerHandle | None = None
        else:
            self.deadline = loop.time() + timeout
            self._handle = loop.call_at(self.deadline, self._fire)

    def _fire(self) -> None:
        if self._state == _ENTERED:
            self._state = _CANCELLED
            self._task.cancel()

    def cancel(self) -> None:
        """Cancel the region; safe from any task of the loop and any thread."""
        if self._state != _ENTERED:
            return
        if running_loop() is not self._loop:
            self._loop.call_soon_threadsafe(self._fire)
        elif _current_task(self._loop) is self._task:
            # The region cancels itself: deliver at its next suspension, so
            # a region that ends without awaiting leaves no stray
            # cancellation behind in the task.
            self._loop.call_soon(self._fire)
        else:
            self._fire()

    def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> bool:
        """Leave the region; ``True`` if its own cancellation ended it."""
        if self._handle is not None:
            self._handle.cancel()
        state, self._state = self._state, _EXITED
        if state != _CANCELLED:
            return False
        # Another cancellation requested while this region's was pending
        # (an outer timeout, task.cancel()) takes precedence: the count
        # stays above the level at entry and the CancelledError propagates.
        return self._task.uncancel() <= self._cancelling and exc_type is _CancelledError


class AnyioScope:
    """A cancellable region on a non-asyncio backend, through anyio."""

    __slots__ = ("_scope", "deadline")

    def __init__(self, timeout: float | None) -> None:
        self.deadline = math.inf if timeout is None else anyio.current_time() + timeout
        self._scope = anyio.CancelScope(deadline=self.deadline)
        self._scope.__enter__()

    def cancel(self) -> None:
        """Cancel the region."""
        self._scope.cancel()

    def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> bool:
        """Leave the region; ``True`` if its own cancellation ended it."""
        self._scope.__exit__(exc_type, exc, tb)
        return self._scope.cancelled_caught


Scope = AsyncioScope | AnyioScope


def open_scope(timeout: float | None) -> Scope:
    """Enter a cancellable region of the running task, on any backend."""
    loop = running_loop()
    if loop is not None:
        return AsyncioScope(loop, timeout)
    return AnyioScope(timeout)
