"""Fallback: the success path of a call guarded by a fallback value."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks.registry import (
    Batch,
    Row,
    Skip,
    at_most,
    faster,
    optional_import,
    scenario,
)
from benchmarks.scenarios._common import f, missing, repeat


def _inline() -> Batch:
    """try/except written around each call: no wrapper at all, the floor."""

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            try:
                result = await f(1)
            except (ConnectionError, TimeoutError):
                result = None
        return result

    return batch


def _hand_written(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The decorator one writes by hand: what any fallback decorator must be."""

    @functools.wraps(fn)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except (ConnectionError, TimeoutError):
            return None

    return guarded


@scenario(
    "fallback_success",
    order=35,
    title="`await f(x)` guarded by a fallback value, the call succeeds; ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.1, "hand_written"),
        faster("brace", 1.5, "hyx_fallback"),
    ),
)
def fallback_success() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "try_except",
            "`try: await f(x)` / `except (ConnectionError, TimeoutError)` inline",
            _inline(),
            expect=1,
        ),
        Row(
            "hand_written",
            "a hand-written decorator: `async def w(*args, **kwargs)` with "
            "`try: return await fn(*args, **kwargs)` / `except ...: return None`",
            repeat(_hand_written(f), 1),
            expect=1,
        ),
    ]
    hyx_fallback = optional_import("hyx.fallback")
    if hyx_fallback is None:
        rows.append(missing("hyx_fallback", "hyx"))
    else:

        async def default(*args: object, **kwargs: object) -> None:
            return None

        guarded = hyx_fallback.fallback(default, on=(ConnectionError, TimeoutError))(f)
        rows.append(
            Row(
                "hyx_fallback",
                "hyx `@fallback(handler, on=(ConnectionError, TimeoutError))`",
                repeat(guarded, 1),
                expect=1,
            )
        )
    rows += [
        Row(
            "brace",
            "`@brace.Fallback(value=None)` on `f` (default `on=`: transient errors)",
            repeat(brace.Fallback(value=None)(f), 1),
            expect=1,
        ),
        Row(
            "brace_call",
            "`await fb.call(f, x)`, one shared `fb = brace.Fallback(value=None)`",
            _call_batch(brace.Fallback(value=None)),
            expect=1,
        ),
    ]
    return rows


def _call_batch(policy: Any) -> Batch:
    call = policy.call

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            result = await call(f, 1)
        return result

    return batch
