"""Steps and sagas: what naming a call and undoing it on failure cost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks.registry import Row, Skip, at_most, scenario
from benchmarks.scenarios._common import f, repeat
from brace._saga import Saga
from brace._step import step

AsyncFn = Callable[..., Awaitable[Any]]


def handrolled(fn: AsyncFn) -> AsyncFn:
    """The pass-through wrapper one writes by hand."""

    async def w(*a: Any, **k: Any) -> Any:
        return await fn(*a, **k)

    return w


@scenario(
    "step_call",
    order=86,
    title="`await s(x)` of a step of `async def f(x): return x`; ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.3, "handrolled"),
        at_most("brace_retry", 1.5, "retry"),
    ),
)
def step_call() -> list[Row | Skip]:
    retry = brace.Retry(on=ValueError, attempts=3)
    return [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "handrolled",
            "hand-written `async def w(*a, **k): return await f(*a, **k)`",
            repeat(handrolled(f), 1),
            expect=1,
        ),
        Row("brace", '`brace.step("s", f)`', repeat(step("s", f), 1), expect=1),
        Row(
            "retry",
            "`brace.Retry(on=ValueError, attempts=3)(f)`, no step",
            repeat(retry(f), 1),
            expect=1,
        ),
        Row(
            "brace_retry",
            '`brace.step("s", f, brace.Retry(on=ValueError, attempts=3))`',
            repeat(step("s", f, retry), 1),
            expect=1,
        ),
    ]


# -- sagas: three steps, each with a compensation ---------------------------


async def undo(result: object) -> None:
    """A compensation that does nothing (the bookkeeping is measured)."""


async def fails(x: object) -> object:
    raise ValueError("declined")


def handrolled_saga(last: AsyncFn, *, shielded: bool) -> AsyncFn:
    """The try/except saga with a list of compensations, written by hand.

    With *shielded*, the compensations run in a task of their own that a
    cancellation of the caller cannot interrupt (what brace does).
    """

    async def compensate(done: list[object]) -> list[Exception]:
        errors: list[Exception] = []
        for result in reversed(done):
            try:
                await undo(result)
            except Exception as exc:
                errors.append(exc)
        return errors

    async def run(x: object) -> object:
        done: list[object] = []
        try:
            done.append(await f(x))
            done.append(await f(x))
            done.append(await last(x))
        except Exception:
            if shielded:
                await asyncio.shield(asyncio.ensure_future(compensate(done)))
            else:
                await compensate(done)
            return "compensated"
        return "completed"

    return run


def brace_saga(last: AsyncFn) -> Saga[[object]]:
    return Saga(
        "s",
        [
            step("a", f, compensate=undo),
            step("b", f, compensate=undo),
            step("c", last, compensate=undo),
        ],
    )


def saga_row(name: str, what: str, saga: Saga[[object]], status: str) -> Row:
    """The row of ``await saga.run(1)``, checked to end with *status*."""

    async def check() -> None:
        result = await saga.run(1)
        assert result.status == status, result

    return Row(name, what, repeat(saga.run, 1), check=check)


@scenario(
    "saga_completed",
    order=87,
    title="a 3-step saga whose steps all succeed; ns per saga",
    baseline="handrolled",
    targets=(at_most("brace", 2.5, "handrolled"),),
)
def saga_completed() -> list[Row | Skip]:
    return [
        Row(
            "handrolled",
            "try/except over 3 awaits, appending each compensation to a list",
            repeat(handrolled_saga(f, shielded=False), 1),
            expect="completed",
        ),
        saga_row(
            "brace",
            "`brace.Saga` of 3 `brace.step(..., compensate=undo)`; `await saga.run(x)`",
            brace_saga(f),
            "completed",
        ),
    ]


@scenario(
    "saga_compensated",
    order=88,
    title=("a 3-step saga whose last step raises: two compensations run; ns per saga"),
    baseline="handrolled",
    targets=(at_most("brace", 2.0, "handrolled_shielded"),),
)
def saga_compensated() -> list[Row | Skip]:
    return [
        Row(
            "handrolled",
            "try/except, compensations awaited in reverse (not shielded)",
            repeat(handrolled_saga(fails, shielded=False), 1),
            expect="compensated",
        ),
        Row(
            "handrolled_shielded",
            "the same, compensations in a task behind `asyncio.shield`",
            repeat(handrolled_saga(fails, shielded=True), 1),
            expect="compensated",
        ),
        saga_row(
            "brace",
            "`brace.Saga` of 3 steps, the last failing; `await saga.run(x)`",
            brace_saga(fails),
            "compensated",
        ),
    ]
