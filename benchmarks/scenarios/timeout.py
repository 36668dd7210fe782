"""Timeout: a 10 s limit around a call that returns at once."""

from __future__ import annotations

import asyncio

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
from benchmarks.scenarios._common import f, missing, repeat, repeat_async_with

LIMIT = 10


def _asyncio_timeout() -> Batch:
    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            async with asyncio.timeout(LIMIT):
                result = await f(1)
        return result

    return batch


def _brace_async_with() -> Batch:
    return repeat_async_with(brace.Timeout(LIMIT))


@scenario(
    "timeout",
    order=30,
    title="`await f(x)` under a 10 s timeout that never fires; ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.1, "asyncio_timeout"),
        faster("brace", 2, "anyio_fail_after"),
    ),
)
def timeout() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "asyncio_timeout",
            "`async with asyncio.timeout(10): await f(x)`",
            _asyncio_timeout(),
            expect=1,
        ),
    ]

    anyio = optional_import("anyio")
    if anyio is None:
        rows.append(missing("anyio_fail_after", "anyio"))
    else:
        fail_after = anyio.fail_after

        async def batch(n: int) -> object:
            result = None
            for _ in range(n):
                with fail_after(LIMIT):
                    result = await f(1)
            return result

        rows.append(
            Row(
                "anyio_fail_after",
                "`with anyio.fail_after(10): await f(x)`",
                batch,
                expect=1,
            )
        )

    rows += [
        Row(
            "brace",
            "`@brace.Timeout(10)` on `f`, then `await f(x)`",
            repeat(brace.Timeout(LIMIT)(f), 1),
            expect=1,
        ),
        Row(
            "brace_async_with",
            "`async with t: await f(x)`, one shared `t = brace.Timeout(10)`",
            _brace_async_with(),
            expect=1,
        ),
    ]
    return rows
