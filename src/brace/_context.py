"""The call context: which attempt of which operation runs, and until when.

A :class:`Retry` publishes its call in a context variable for as long as the
call runs, readable by the protected code (:func:`current_attempt`) and by
the policies nested inside the retry. When the retry has a deadline (its
own, or one inherited from an enclosing retry), it also publishes a
:class:`Deadline`, which nested timeouts read to clip themselves: no inner
timeout outlives the time the retry has left.

What is published is cheap to publish, not a snapshot: a one-item list, a
cell that the retry updates in place as its attempts go by. It holds an
:class:`AttemptContext` made in advance (once per decorated function) or,
once a call retries with a delay, the call's own mutable state;
:func:`current_attempt` makes the frozen snapshot when asked. So a retry
pays for one ``ContextVar.set()`` and ``reset()`` per call, and nothing per
attempt.

Two variables rather than one: the deadline is only set by calls that have
one, so the hot paths of a retry without a deadline and of a timeout outside
any deadline pay for one ``ContextVar.get()`` returning ``None``, and a
nested retry inherits the enclosing deadline without copying it.

Child tasks started by the protected code copy the context, so they see the
attempt and are bound by the deadline too; work that serves other callers
as well (a shared ``cached()`` computation) starts from
:func:`detached_context` instead.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Protocol

import attrs

__all__ = [
    "AttemptContext",
    "AttemptSource",
    "Deadline",
    "attempt_var",
    "current_attempt",
    "current_deadline",
    "deadline_var",
    "detached_context",
]


class Deadline:
    """The deadline of one retried call, shared with everything nested in it.

    Not public: policies read it from :data:`deadline_var`. *error* records
    the :class:`brace.TimeoutError` that a timeout clipped to this deadline
    raised, so that the retries around it recognise it as the deadline
    expiring (they stop, whatever their ``on=`` says) rather than as a
    failure of the call.
    """

    __slots__ = ("at", "clock", "error", "name", "seconds")

    def __init__(
        self, at: float, seconds: float, name: str, clock: Callable[[], float]
    ) -> None:
        self.at = at
        self.seconds = seconds
        self.name = name
        # The clock *at* was read from: the loop clock for async calls,
        # time.monotonic for sync ones. Only policies on the same clock
        # inherit the deadline.
        self.clock = clock
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Deadline of {self.name}: {self.seconds:g} s, at {self.at:g}>"

    def left(self) -> float:
        """Seconds until the deadline; negative once it has passed."""
        return self.at - self.clock()


@attrs.frozen(kw_only=True)
class AttemptContext:
    """The attempt in progress, as :func:`brace.current_attempt` returns it.

    A frozen snapshot, taken when :func:`~brace.current_attempt` is called:
    it does not change when the next attempt starts.

    Attributes:
        name: The operation: the retry's ``name=``, or the qualified name
            of the function it protects (for :meth:`Pipeline.call
            <brace.Pipeline.call>`, the pipeline's name).
        number: The attempt number, 1 for the first attempt.
        deadline: When the retry gives up, as an instant of the clock that
            :meth:`remaining` reads (the event loop's clock in async code,
            :func:`time.monotonic` in sync code), or ``None`` when no
            deadline applies. The earlier of the retry's own deadline and
            that of any retry around it.

    .. versionadded:: 0.1
    """

    name: str
    number: int
    deadline: float | None = None
    _limit: Deadline | None = attrs.field(
        default=None, alias="limit", repr=False, eq=False
    )

    def remaining(self) -> float | None:
        """Seconds left until :attr:`deadline` (0.0 once passed), or ``None``."""
        limit = self._limit
        if limit is None:
            return None
        return max(0.0, limit.left())

    def snapshot(self) -> AttemptContext:
        """Itself: an AttemptContext is a snapshot already."""
        return self


class AttemptSource(Protocol):
    """What a retry's cell holds: anything that can make an AttemptContext."""

    def snapshot(self) -> AttemptContext:
        """The attempt in progress, frozen."""
        ...


# The innermost retry's cell: a list of exactly one AttemptSource.
attempt_var: contextvars.ContextVar[list[AttemptSource] | None] = (
    contextvars.ContextVar("brace_attempt", default=None)
)
deadline_var: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "brace_deadline", default=None
)


def current_attempt() -> AttemptContext | None:
    """The attempt of a :class:`~brace.Retry` that the caller runs in.

    Call it from the protected function (or from anything it calls, child
    tasks included) to learn which attempt this is, what the operation is
    called, and how long is left before the retry's deadline::

        @brace.retry(on=OSError, attempts=3, deadline=10.0)
        async def fetch(url: str) -> bytes:
            attempt = brace.current_attempt()
            log.info("attempt %d of %s", attempt.number, attempt.name)
            return await http_get(url, timeout=attempt.remaining())

    Returns:
        The :class:`AttemptContext` of the innermost retry, or ``None``
        outside any retry. A new snapshot per call: it does not change when
        the next attempt starts.

    .. versionadded:: 0.1
    """
    cell = attempt_var.get()
    return None if cell is None else cell[0].snapshot()


def current_deadline() -> Deadline | None:
    """The deadline that bounds the running code, if any (for policies)."""
    return deadline_var.get()


def _detach() -> None:
    attempt_var.set(None)
    deadline_var.set(None)


def detached_context() -> contextvars.Context:
    """A copy of the current context without the retry's attempt and deadline.

    For work that outlives the call that started it, or serves other callers
    too (a shared cache computation, a background refresh): one caller's
    deadline must not cut it short, nor its attempt number label it.
    """
    context = contextvars.copy_context()
    context.run(_detach)
    return context
