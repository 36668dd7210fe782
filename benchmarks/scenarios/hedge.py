"""Hedge: the primary attempt succeeds before the hedging delay.

This is the path that every hedged call takes unless it is slow, so it is
the one whose overhead matters. No peer library hedges; the reference row
is the obvious hand-written design (run the primary as a task and wait for
it with a timeout), which brace avoids by running the primary inline. The
``asyncio_timeout`` row is for scale: the standard library's cheapest way
to be woken after a delay while awaiting inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import attrs

from benchmarks.registry import Batch, Row, Skip, at_most, faster, scenario
from benchmarks.scenarios._common import f, repeat
from brace._hedge import Hedge

DELAY = 0.1


def _task_wait() -> Batch:
    create_task = asyncio.create_task
    wait = asyncio.wait

    async def hedged(x: int) -> int:
        # The primary-wins path of a task-based hedge: the hedge would start
        # in the branch that is never taken here.
        primary = create_task(f(x))
        done, _ = await wait((primary,), timeout=DELAY)
        if not done:
            raise AssertionError("the primary did not win")
        return primary.result()

    return repeat(hedged, 1)


def _asyncio_timeout() -> Batch:
    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            async with asyncio.timeout(DELAY):
                result = await f(1)
        return result

    return batch


def _no_hedge(policy: Hedge) -> Callable[[], Awaitable[None]]:
    """A check that the row's policy never starts a hedge."""

    async def check() -> None:
        started: list[object] = []
        hedged = attrs.evolve(policy, listeners=[started.append])(f)
        for _ in range(100):
            await hedged(1)
        if started:
            raise AssertionError(f"the row hedged: {started[0]}")

    return check


@scenario(
    "hedge_primary_wins",
    order=75,
    title=(
        "`await f(x)` hedged after 100 ms; the primary returns at once, so no "
        "hedge starts; ns per call"
    ),
    baseline="bare",
    targets=(
        faster("brace", 5, "task_wait"),
        at_most("brace", 0.5, "asyncio_timeout"),
    ),
)
def hedge_primary_wins() -> list[Row | Skip]:
    fixed = Hedge(delay=DELAY)
    adaptive = Hedge(delay="p95", initial_delay=DELAY)
    return [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "task_wait",
            "hand-written: primary in `asyncio.create_task`, then "
            "`asyncio.wait((task,), timeout=0.1)`",
            _task_wait(),
            expect=1,
        ),
        Row(
            "asyncio_timeout",
            "for scale, a stdlib timer around an inline await: "
            "`async with asyncio.timeout(0.1): await f(x)`",
            _asyncio_timeout(),
            expect=1,
        ),
        Row(
            "brace",
            "`@brace.Hedge(delay=0.1)` on `f`, then `await f(x)`",
            repeat(fixed(f), 1),
            expect=1,
            check=_no_hedge(fixed),
        ),
        Row(
            "brace_p95",
            '`@brace.Hedge(delay="p95", initial_delay=0.1)` on `f`',
            repeat(adaptive(f), 1),
            expect=1,
            check=_no_hedge(adaptive),
        ),
    ]
