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
from ._errors import TimeoutError
from ._introspect import is_async_callable
from ._scope import Scope, open_scope
from ._time import Duration, seconds

__all__ = ["Timeout", "timeout"]

P = ParamSpec("P")
T = TypeVar("T")

# The open ``async with`` entries of the current task, innermost first, as an
# immutable linked list: child tasks copy the context and must not see their
# parent's entries change under them.
_Entry = tuple["Timeout", Scope, "_Entry | None"]
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

    def _expired(self, name: str | None) -> TimeoutError:
        name = self.name or name
        if _events.enabled(self.listeners):
            _events.emit(
                _events.TimeoutFired(name=name or "<timeout>", timeout=self.seconds),
                self.listeners,
            )
        return TimeoutError(timeout=self.seconds, name=name)

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

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            scope = open_scope(limit)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                if scope.exit(type(exc), exc, exc.__traceback__):
                    raise expired(name) from exc
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
        scope = open_scope(self.seconds)
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
                raise self._expired(getattr(fn, "__qualname__", None)) from exc
            raise
        scope.exit(None)
        return result

    async def __aenter__(self) -> None:
        scope = open_scope(self.seconds)
        _entries.set((self, scope, _entries.get()))

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
        skipped: list[tuple[Timeout, Scope]] = []
        entry = _entries.get()
        while entry is not None and entry[0] is not self:
            skipped.append((entry[0], entry[1]))
            entry = entry[2]
        if entry is None:
            msg = "Timeout.__aexit__ without a matching __aenter__ in this task"
            raise RuntimeError(msg)
        rest = entry[2]
        for owner, other in reversed(skipped):
            rest = (owner, other, rest)
        _entries.set(rest)
        if entry[1].exit(exc_type, exc, tb):
            raise self._expired(None) from exc


timeout = Timeout
