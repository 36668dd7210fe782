"""Telling what kind of callable a decorator was given."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["NotAwaitableError", "awaitable_only", "is_async_callable"]


def is_async_callable(fn: object) -> bool:
    """Whether calling *fn* returns a coroutine.

    Sees through :func:`functools.partial` (as :mod:`inspect` does) and also
    recognises objects whose ``__call__`` is an ``async def``.
    """
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


class NotAwaitableError(BaseException):
    """Carries a TypeError out of a policy's loop, which must not handle it.

    ``.call(fn)`` may be given a lambda or partial that turns out not to
    return an awaitable. That TypeError must not be retried, raced or
    replaced by a fallback, so it travels as a BaseException the policies
    never catch, and ``.call()`` raises ``.error`` in its place.
    """

    def __init__(self, error: TypeError) -> None:
        super().__init__(error)
        self.error = error


def awaitable_only(
    fn: Callable[..., Any], policy: str, hint: str
) -> Callable[..., Awaitable[Any]]:
    """Wrap *fn* so that a non-awaitable result raises NotAwaitableError."""

    async def checked(*args: Any, **kwargs: Any) -> Any:
        awaitable = fn(*args, **kwargs)
        if not inspect.isawaitable(awaitable):
            msg = (
                f"{policy}.call needs an async function, and {fn!r} returned "
                f"{type(awaitable).__name__}; {hint}"
            )
            raise NotAwaitableError(TypeError(msg))
        return await awaitable

    return checked
