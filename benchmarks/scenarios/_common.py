"""The protected functions and the batch builders shared by the scenarios."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from benchmarks.registry import Batch, Skip

T = TypeVar("T")


async def f(x: T) -> T:
    """The protected call of the success-path scenarios."""
    return x


async def flaky(state: list[int]) -> int:
    """Fail twice with ValueError, then return the attempt count (3).

    *state* is the call's own attempt counter: every retried attempt gets the
    same list, and every call a fresh one, so each call fails exactly twice.
    """
    state[0] += 1
    if state[0] < 3:
        raise ValueError("transient")
    return state[0]


def repeat(fn: Callable[[Any], Awaitable[Any]], arg: object) -> Batch:
    """A batch of ``await fn(arg)``."""

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            result = await fn(arg)
        return result

    return batch


def repeat_async_with(cm: Any) -> Batch:
    """A batch of ``async with cm: await f(1)`` with one shared *cm*."""

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            async with cm:
                result = await f(1)
        return result

    return batch


def repeat_fresh(fn: Callable[[list[int]], Awaitable[Any]]) -> Batch:
    """A batch of ``await fn([0])``: a fresh attempt counter per call."""

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            result = await fn([0])
        return result

    return batch


def missing(row: str, package: str) -> Skip:
    """The skip of a row whose peer library is not installed."""
    return Skip(row, f"{package} is not installed (pip install {package})")
