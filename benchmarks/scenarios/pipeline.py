"""compose(): four layers on the success path, against the layers standalone.

The target is that composing costs nothing of its own: a pipeline of a rate
limiter, a retry, a circuit breaker and a concurrency limiter costs at most
1.1 x what the four cost standalone. ``brace_sum_of_parts`` times the four
standalone layers in one row, each around its own ``await f(x)``, so it holds
three more bare calls than the pipeline does; the note below the table
removes them and compares overheads alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import brace
from benchmarks.registry import Batch, Row, Skip, at_most, optional_import, scenario
from benchmarks.scenarios._common import f, missing, repeat
from brace._limiter import ConcurrencyLimiter
from brace._pipeline import compose
from brace._ratelimit import RateLimiter

HUGE = 10**9  # units per second: the rate limiter never waits
SLOTS = 10
QUEUE = 100
LAYERS = 4

AsyncFn = Callable[..., Awaitable[Any]]


def _layers(breaker: Any) -> tuple[Any, ...]:
    """brace's four layers, fresh (each row gets its own resources)."""
    return (
        RateLimiter(HUGE, per=1.0),
        brace.Retry(on=ValueError, attempts=3),
        breaker.CircuitBreaker(name="bench"),
        ConcurrencyLimiter(SLOTS),
    )


def _sum_of_parts(parts: list[AsyncFn]) -> Batch:
    """A batch in which each call is one call of every standalone layer."""
    first, second, third, fourth = parts

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            await first(1)
            await second(1)
            await third(1)
            result = await fourth(1)
        return result

    return batch


def _pipe_call(pipe: Any) -> Batch:
    call = pipe.call

    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            result = await call(f, 1)
        return result

    return batch


def _hyx(modules: tuple[Any, ...]) -> Batch:
    """hyx's four, stacked; its token bucket needs a running loop to be made."""
    ratelimit, retry, breaker, bulkhead = modules
    made: list[AsyncFn] = []

    async def batch(n: int) -> object:
        if not made:
            made.append(
                ratelimit.tokenbucket(HUGE, 1)(
                    retry.retry(on=ValueError, attempts=3)(
                        breaker.consecutive_breaker()(
                            bulkhead.bulkhead(SLOTS, QUEUE)(f)
                        )
                    )
                )
            )
        fn = made[0]
        result = None
        for _ in range(n):
            result = await fn(1)
        return result

    return batch


def _notes(medians: dict[str, float]) -> list[str]:
    needed = ("bare", "brace", "brace_sum_of_parts")
    if not all(name in medians for name in needed):
        return []
    bare = medians["bare"]
    composed = medians["brace"] - bare
    parts = medians["brace_sum_of_parts"] - LAYERS * bare
    ratio = composed / parts
    status = "met" if ratio <= 1.1 else "**not met**"
    line = (
        f"Overheads alone: the pipeline adds {composed:,.0f} ns to `await f(x)`, "
        f"the four layers standalone add {parts:,.0f} ns in total "
        f"(`brace_sum_of_parts` minus {LAYERS} bare calls): "
        f"{ratio:.2f}x, target <= 1.1x: {status}."
    )
    return [line]


@scenario(
    "pipeline4",
    order=90,
    title=(
        "`await f(x)` through a rate limiter, a retry, a circuit breaker and a "
        "concurrency limiter, on the success path; ns per call"
    ),
    baseline="bare",
    targets=(at_most("brace", 1.1, "brace_sum_of_parts"),),
    notes=_notes,
)
def pipeline4() -> list[Row | Skip]:
    rows: list[Row | Skip] = [Row("bare", "`await f(x)`", repeat(f, 1), expect=1)]
    breaker = optional_import("brace._breaker")
    if breaker is None:
        reason = "brace._breaker (CircuitBreaker) is not there yet"
        rows += [Skip(name, reason) for name in ("brace_sum_of_parts", "brace")]
    else:
        rows += [
            Row(
                "brace_sum_of_parts",
                "each of the four alone around its own `f`, one call of each: "
                "`await rl(f)(x); await retry(f)(x); await breaker(f)(x); "
                "await limiter(f)(x)`",
                _sum_of_parts([layer(f) for layer in _layers(breaker)]),
                expect=1,
            ),
            Row(
                "brace",
                "`brace.compose(RateLimiter(10**9), Retry(on=ValueError, "
                "attempts=3), CircuitBreaker(name=...), ConcurrencyLimiter(10))` "
                "on `f`",
                repeat(compose(*_layers(breaker))(f), 1),
                expect=1,
            ),
            Row(
                "brace_call",
                "the same pipeline, `await pipe.call(f, x)`",
                _pipe_call(compose(*_layers(breaker))),
                expect=1,
            ),
        ]

    modules = tuple(
        optional_import(f"hyx.{name}")
        for name in ("ratelimit", "retry", "circuitbreaker", "bulkhead")
    )
    if any(module is None for module in modules):
        rows.append(missing("hyx", "hyx"))
    else:
        rows.append(
            Row(
                "hyx",
                "hyx's four stacked: `tokenbucket(10**9, 1)`, `retry(on=ValueError, "
                "attempts=3)`, `consecutive_breaker()`, `bulkhead(10, 100)`",
                _hyx(modules),
                expect=1,
            )
        )
    return rows
