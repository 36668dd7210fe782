"""The Timeout policy."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

import attrs

from . import _events
from ._context import Deadline, deadline_var
from ._describe import shown
from ._errors import TimeoutError
from ._introspect import is_async_callable
from ._scope import Scope, open_scope
from ._time import Duration, now, seconds

__all__ = ["Timeout", "timeout"]

P = ParamSpec("P")
T = TypeVar("T")

# The open ``async with`` entries of the current task, innermost first, as an
# immutable linked list: child tasks copy the context and must not see their
# parent's entries change under them. Each entry holds its timeout, its
# scope, the limit it applied and the deadline that clipped it (if any).
_Entry = tuple["Timeout", Scope, float, Deadline | None, "_Entry | None"]
_entries: contextvars.ContextVar[_Entry | None] = contextvars.ContextVar(
    "brace_timeout_entries", default=None
)


def _to_seconds(value: Duration) -> float:
    return seconds(value, "timeout", allow_zero=False)


@attrs.frozen
class Timeout:
    """Interrupt a call that takes longer than *seconds*.

    Use it as a decorator on ``async def`` functions, with :meth:`call`, or
    as ``async with``. One instance can be shared by any number of tasks:
    every call and every ``async with`` entry gets a fresh deadline.

    It raises :class:`brace.TimeoutError` only when its own deadline fired;
    cancellation from outside (an enclosing timeout, ``task.cancel()``)
    passes through as cancellation. With nested timeouts, the one whose
    deadline interrupted the code reports; if an enclosing deadline has
    passed too, the enclosing one reports, so no code between the two keeps
    running past it.

    Inside a :class:`Retry` that has a deadline, the limit is clipped to
    the time the retry has left (:meth:`AttemptContext.remaining
    <brace.AttemptContext.remaining>`): a per-attempt timeout never outlives
    the retry's deadline. When a clipped limit fires, the
    :class:`brace.TimeoutError` carries the limit that applied, and the
    retry takes it as its deadline running out: it gives up at once and
    re-raises it with the deadline in its note.

    :meth:`describe` returns ``("timeout", {"seconds": ..., "name": ...,
    "listeners": ...})``.

    Args:
        seconds: The time limit, > 0, in seconds or as a timedelta.
        name: Names the timeout in errors and events; defaults to the
            protected function's qualified name.
        listeners: Callbacks for this policy's events (:class:`TimeoutFired`).

    .. versionadded:: 0.1
    """

    seconds: float = attrs.field(converter=_to_seconds)
    name: str | None = attrs.field(default=None, kw_only=True)
    listeners: tuple[_events.Listener, ...] = attrs.field(
        default=(), kw_only=True, converter=_events.listeners
    )

    def _expired(
        self, name: str | None, limit: float, deadline: Deadline | None
    ) -> TimeoutError:
        name = self.name or name
        if _events.enabled(self.listeners):
            _events.emit(
                _events.TimeoutFired(name=name or "<timeout>", timeout=limit),
                self.listeners,
            )
        error = TimeoutError(timeout=limit, name=name)
        if deadline is not None:
            # Clipped: tell the retry that owns the deadline that it ran out.
            deadline.error = error
        return error

    def _clip(self) -> tuple[float, Deadline | None]:
        """The limit for a call starting now, and the deadline that clipped it."""
        deadline = deadline_var.get()
        if deadline is None or deadline.clock is not now:
            # No deadline, or a sync retry's (whose clock is not the loop's).
            return self.seconds, None
        left = deadline.left()
        if left >= self.seconds:
            return self.seconds, None
        return max(left, 0.0), deadline

    async def _clipped(
        self,
        fn: Callable[..., Awaitable[T]],
        args: Any,
        kwargs: Any,
        name: str | None,
    ) -> T:
        """The decorator's path under a deadline (kept off its fast path)."""
        limit, deadline = self._clip()
        scope = open_scope(limit)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if scope.exit(type(exc), exc, exc.__traceback__):
                raise self._expired(name, limit, deadline) from exc
            raise
        scope.exit(None)
        return result

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("timeout", options)``: the constructor options and their values."""
        return "timeout", {
            "seconds": self.seconds,
            "name": self.name,
            "listeners": shown(self.listeners),
        }

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function so that every call is limited."""
        if not is_async_callable(fn):
            msg = (
                f"Timeout can only interrupt async functions, and {fn!r} is not "
                "one; a synchronous call cannot be cancelled from outside"
            )
            raise TypeError(msg)
        limit = self.seconds
        name = getattr(fn, "__qualname__", None)
        expired = self._expired
        clipped = self._clipped
        enclosing_deadline = deadline_var.get

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if enclosing_deadline() is not None:
                return await clipped(fn, args, kwargs, name)
            scope = open_scope(limit)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                if scope.exit(type(exc), exc, exc.__traceback__):
                    raise expired(name, limit, None) from exc
                raise
            scope.exit(None)
            return result

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` within the time limit.

        Raises:
            TypeError: *fn* returned something that is not awaitable (a
                synchronous function, which has then run once).
        """
        limit, deadline = self._clip()
        scope = open_scope(limit)
        try:
            awaitable: object = fn(*args, **kwargs)
            if not inspect.isawaitable(awaitable):
                msg = (
                    f"Timeout.call needs an async function, and {fn!r} returned "
                    f"{type(awaitable).__name__}; a synchronous call cannot be "
                    "interrupted"
                )
                raise TypeError(msg)
            result: T = await awaitable
        except BaseException as exc:
            if scope.exit(type(exc), exc, exc.__traceback__):
                name = getattr(fn, "__qualname__", None)
                raise self._expired(name, limit, deadline) from exc
            raise
        scope.exit(None)
        return result

    async def __aenter__(self) -> None:
        if deadline_var.get() is None:
            limit, deadline = self.seconds, None
        else:
            limit, deadline = self._clip()
        scope = open_scope(limit)
        _entries.set((self, scope, limit, deadline, _entries.get()))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Usually the innermost entry is this one; when blocks interleave (an
        # async generator holding a timeout across a yield), unlink this
        # timeout's innermost entry from under the others, so that its timer
        # is always disarmed.
        skipped: list[_Entry] = []
        entry = _entries.get()
        while entry is not None and entry[0] is not self:
            skipped.append(entry)
            entry = entry[4]
        if entry is None:
            msg = "Timeout.__aexit__ without a matching __aenter__ in this task"
            raise RuntimeError(msg)
        rest = entry[4]
        for owner, other, limit, deadline, _ in reversed(skipped):
            rest = (owner, other, limit, deadline, rest)
        _entries.set(rest)
        if entry[1].exit(exc_type, exc, tb):
            raise self._expired(None, entry[2], entry[3]) from exc


timeout = Timeout
