"""Chaos: what a fault-injection layer costs while it is off.

A Chaos layer may stay in production code, off; this measures that cost
against a hand-written pass-through decorator with the same on/off switch.
No Python peer ships fault injection as a policy, so there is no peer row.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Never, ParamSpec, TypeVar

from benchmarks.registry import Batch, Row, Skip, at_most, scenario
from benchmarks.scenarios._common import f, repeat
from brace.testing import Chaos

P = ParamSpec("P")
T = TypeVar("T")


def _hand_written() -> Row:
    enabled = False

    def inject(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if enabled:
                raise ConnectionError("injected")
            return await fn(*args, **kwargs)

        return wrapper

    return Row(
        "hand_written",
        "`await g(x)`, `g` a hand-written decorator: `if enabled: raise ...`, "
        "then `return await fn(*args, **kwargs)`",
        repeat(inject(f), 1),
        expect=1,
    )


def _calls(chaos: Chaos[Never]) -> Batch:
    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            result = await chaos.call(f, 1)
        return result

    return batch


@scenario(
    "chaos_disabled",
    order=95,
    title="`await f(x)` through a Chaos layer that is off (the default); ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.1, "hand_written"),
        at_most("brace_call", 1.3, "hand_written"),
    ),
)
def chaos_disabled() -> list[Row | Skip]:
    off = Chaos(fault=ConnectionError, rate=0.1)
    never = Chaos(fault=ConnectionError, rate=0.0, enabled=True)
    return [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        _hand_written(),
        Row(
            "brace",
            "`await g(x)`, `g = Chaos(fault=ConnectionError, rate=0.1)(f)`, off",
            repeat(off(f), 1),
            expect=1,
        ),
        Row(
            "brace_call",
            "`await chaos.call(f, x)`, the same layer, off",
            _calls(off),
            expect=1,
        ),
        Row(
            "brace_enabled_miss",
            "`await g(x)`, `g = Chaos(fault=..., rate=0.0, enabled=True)(f)`: "
            "on, never hits",
            repeat(never(f), 1),
            expect=1,
        ),
    ]
