"""The mutable state of one retried call, and its place in the call context.

A :class:`~brace.Retry` is immutable; everything that changes during one
call (attempt number, delay iterator, start time, the deadline in force)
lives in a :class:`Call` made for that call. While the call runs, the call
itself is what its cell in :mod:`._context` holds: :func:`brace.current_attempt`
turns it into a frozen snapshot only when asked.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import _events
from ._context import AttemptContext, AttemptSource, Deadline, attempt_var, deadline_var
from ._errors import TimeoutError

if TYPE_CHECKING:
    from ._retry import Retry

__all__ = ["Call", "Published", "new_call", "publish", "withdraw"]

Published = tuple[
    contextvars.Token[list[AttemptSource] | None],
    contextvars.Token[Deadline | None] | None,
]


class Call:
    """The mutable state of one retried call."""

    __slots__ = (
        "attempt",
        "clock",
        "delays",
        "from_failure",
        "limit",
        "name",
        "own_limit",
        "start",
        "timeout_error",
    )

    def __init__(
        self,
        name: str,
        clock: Callable[[], float],
        start: float | None,
        limit: Deadline | None = None,
        *,
        own_limit: bool = False,
    ) -> None:
        self.name = name
        self.clock = clock
        self.attempt = 1
        self.delays: Iterator[float] | None = None
        # Policies with a deadline read the clock when the call starts. The
        # others read it only when they first wait (see Retry._plan): a call
        # that succeeds, or retries without waiting, never reads it.
        self.start = start
        self.from_failure = start is None
        # The deadline in force: the policy's own, or an enclosing retry's
        # when that one ends first (then own_limit is False).
        self.limit = limit
        self.own_limit = own_limit
        # The error of an attempt that hit attempt_timeout: always retryable,
        # whatever on= says, since this policy caused it.
        self.timeout_error: TimeoutError | None = None

    def snapshot(self) -> AttemptContext:
        """What :func:`brace.current_attempt` returns during this attempt."""
        limit = self.limit
        return AttemptContext(
            name=self.name,
            number=self.attempt,
            deadline=None if limit is None else limit.at,
            limit=limit,
        )

    def retryable(self, retry: Retry, error: Exception) -> bool:
        limit = self.limit
        return (
            error is self.timeout_error
            or (limit is not None and error is limit.error)
            or retry._matches(error)
        )

    def timed_out(
        self, retry: Retry, limit: float, cause: BaseException
    ) -> TimeoutError:
        """Record that the attempt hit the policy's attempt timeout."""
        error = TimeoutError(timeout=limit, name=self.name)
        error.__cause__ = cause
        self.timeout_error = error
        deadline = self.limit
        if deadline is not None and retry.attempt_timeout != limit:
            # Clipped: it was the deadline that ran out, not the attempt.
            deadline.error = error
        if _events.enabled(retry.listeners):
            _events.emit(
                _events.TimeoutFired(name=self.name, timeout=limit), retry.listeners
            )
        return error


def new_call(retry: Retry, name: str, clock: Callable[[], float], timed: bool) -> Call:
    """A call's state, timed from now if *timed*, else from its first failure.

    Calls with a deadline (their own, or one inherited from an enclosing
    retry on the same clock) are always timed from now.
    """
    outer = deadline_var.get()
    if outer is not None and outer.clock is not clock:
        # A sync retry inside async code (or the reverse): another clock.
        outer = None
    seconds = retry.deadline
    if not timed and outer is None and seconds is None:
        return Call(name, clock, None)
    start = clock()
    if seconds is not None:
        at = start + seconds
        if outer is None or at < outer.at:
            own = Deadline(at, seconds, name, clock)
            return Call(name, clock, start, own, own_limit=True)
    return Call(name, clock, start, outer)


def publish(call: Call) -> Published:
    """Publish *call*'s attempt, and its own deadline; undo with withdraw()."""
    token = attempt_var.set([call])
    if call.own_limit:
        return token, deadline_var.set(call.limit)
    return token, None


def withdraw(published: Published) -> None:
    """Undo publish(): restore the context variables as they were."""
    token, owned = published
    if owned is not None:
        deadline_var.reset(owned)
    attempt_var.reset(token)
