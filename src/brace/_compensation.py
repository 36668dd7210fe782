"""Running a saga's compensations to the end: shielded, each time-limited.

Compensations must finish even when the saga is cancelled. On trio (and
other anyio backends) a shielded :class:`anyio.CancelScope` does that. On
asyncio a scope cannot stop ``Task.cancel()`` (asyncio.timeout, task groups,
``task.cancel()``), so the compensations run in a task of their own, which
the saga waits for however often it is cancelled meanwhile. If anyio's
cancel scopes are what cancels it, they would cancel it again on every loop
iteration until the compensations end; a shielded anyio scope, entered at
the first cancellation, stops that.

Each compensation has its own time limit. In that task of their own, one
timer serves them all (see :class:`_Deadline`): a timer and a scope per
compensation would cost more than the rest of the failure path.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType
from typing import Any, cast

import anyio

from . import _events
from ._errors import TimeoutError
from ._scope import Scope, open_scope
from ._step import Step
from ._time import running_loop

__all__ = ["Pending", "compensate_shielded"]

# (step name, compensation, the step's result), in the order to run them.
Pending = list[tuple[str, Step[[Any], object], object]]

_subscribers = _events.subscribers


async def compensate_shielded(
    pending: Pending, limit: float | None
) -> tuple[dict[str, Exception], BaseException | None]:
    """Run *pending* to the end, whatever cancels the calling task.

    Returns the compensation errors by step name, and the cancellation
    that asyncio delivered meanwhile, if any (the caller re-raises it).
    """
    loop = running_loop()
    interrupted: BaseException | None = None
    if loop is None:
        with anyio.CancelScope(shield=True):
            errors = await _compensate(pending, limit)
        return errors, interrupted
    task = loop.create_task(_compensate(pending, limit))
    shield: anyio.CancelScope | None = None
    try:
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError as exc:
                interrupted = exc
                if shield is None:
                    shield = anyio.CancelScope(shield=True)
                    shield.__enter__()
    finally:
        if shield is not None:
            shield.__exit__(None, None, None)
    return task.result(), interrupted


async def _compensate(pending: Pending, limit: float | None) -> dict[str, Exception]:
    errors: dict[str, Exception] = {}
    loop = running_loop()
    deadline = None if limit is None or loop is None else _Deadline(loop, limit)
    try:
        for name, undo, result in pending:
            call = undo if (_subscribers or undo.listeners) else undo._call
            scope: _Deadline | Scope | None
            if deadline is not None:
                scope = deadline.start()
            else:
                scope = None if limit is None else open_scope(limit)
            try:
                await call(result)
            except Exception as exc:
                if scope is not None:
                    scope.exit(type(exc), exc, exc.__traceback__)
                errors[name] = exc
            except BaseException as exc:
                if scope is None or not scope.exit(type(exc), exc, exc.__traceback__):
                    raise
                # Its own time limit cut the compensation short.
                timed_out = TimeoutError(timeout=cast("float", limit), name=undo.name)
                timed_out.__cause__ = exc
                errors[name] = timed_out
            else:
                if scope is not None:
                    scope.exit(None)
    finally:
        if deadline is not None:
            deadline.close()
    return errors


class _Deadline:
    """The time limits of the compensations run in one asyncio task.

    Each compensation gets *limit* seconds from its start. One timer is
    kept, and moved lazily: when it fires before the running
    compensation's deadline (a later compensation started after it was
    set), it re-arms itself for that deadline. Cancelling and claiming the
    cancellation follow :class:`brace._scope.AsyncioScope`.
    """

    __slots__ = (
        "_fired",
        "_handle",
        "_level",
        "_limit",
        "_loop",
        "_task",
        "_when",
        "deadline",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        task = asyncio.current_task(loop)
        assert task is not None  # noqa: S101 - runs as its own task
        self._loop = loop
        self._task = task
        self._limit = limit
        self._level = task.cancelling()
        self._handle: asyncio.TimerHandle | None = None
        self._when = -math.inf
        self._fired = False
        self.deadline = math.inf

    def start(self) -> _Deadline:
        """Start the next compensation's time limit."""
        self.deadline = self._loop.time() + self._limit
        if self._handle is None:
            self._when = self.deadline
            self._handle = self._loop.call_at(self._when, self._fire)
        return self

    def _fire(self) -> None:
        if self.deadline > self._when:
            self._when = self.deadline
            self._handle = self._loop.call_at(self._when, self._fire)
            return
        self._handle = None
        self._fired = True
        self._task.cancel()

    def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> bool:
        """End a compensation; ``True`` if its time limit cut it short."""
        if not self._fired:
            return False
        self._fired = False
        return (
            self._task.uncancel() <= self._level and exc_type is asyncio.CancelledError
        )

    def close(self) -> None:
        """Disarm the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
