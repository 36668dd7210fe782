"""Telling what kind of callable a decorator was given."""

from __future__ import annotations

import inspect

__all__ = ["is_async_callable"]


def is_async_callable(fn: object) -> bool:
    """Whether calling *fn* returns a coroutine.

    Sees through :func:`functools.partial` (as :mod:`inspect` does) and also
    recognises objects whose ``__call__`` is an ``async def``.
    """
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004
    return not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)
