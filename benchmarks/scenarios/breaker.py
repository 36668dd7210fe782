"""CircuitBreaker: the closed success path, and the cost of a fast rejection."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

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
from brace._breaker import CircuitBreaker
from brace._errors import CircuitOpen

# Long enough that no breaker leaves the open state during a run.
HOUR = 3600


class _Down(Exception):
    """The failure that trips each breaker open before timing."""


async def _fail(_: object = None) -> None:
    raise _Down


def _lazy_async_with(make: Callable[[], Awaitable[Any]]) -> Batch:
    """``async with`` a context manager that an async factory builds once."""
    held: list[Any] = []

    async def batch(n: int) -> object:
        if not held:
            held.append(await make())
        cm = held[0]
        result = None
        for _ in range(n):
            async with cm:
                result = await f(1)
        return result

    return batch


def _rejections(
    call: Callable[[], Awaitable[Any]],
    error: Any,
    setup: Callable[[], Awaitable[None]] | None = None,
) -> Batch:
    """A batch of calls that the open breaker rejects; returns how many were.

    *setup*, awaited once before the first batch, trips the breaker open.
    """
    pending = [setup] if setup is not None else []

    async def batch(n: int) -> object:
        if pending:
            await pending.pop()()
        rejected = 0
        for _ in range(n):
            try:
                await call()
            except error:
                rejected += 1
        return rejected

    return batch


async def _trip(call: Callable[[], Awaitable[Any]], times: int = 1) -> None:
    for _ in range(times):
        with contextlib.suppress(_Down):
            await call()


# -- closed --------------------------------------------------------------------


@scenario(
    "breaker_closed",
    order=60,
    title="`await f(x)` through a closed circuit breaker; ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.0, "purgatory"),
        faster("brace", 2, "circuitbreaker"),
        faster("brace", 2, "hyx"),
    ),
)
def breaker_closed() -> list[Row | Skip]:
    rows: list[Row | Skip] = [Row("bare", "`await f(x)`", repeat(f, 1), expect=1)]

    purgatory = optional_import("purgatory")
    if purgatory is None:
        rows.append(missing("purgatory", "purgatory"))
    else:
        factory = purgatory.AsyncCircuitBreakerFactory(
            default_threshold=5, default_ttl=30
        )
        rows.append(
            Row(
                "purgatory",
                "`async with brk: await f(x)`, "
                "`brk = await AsyncCircuitBreakerFactory().get_breaker('c')`",
                _lazy_async_with(lambda: factory.get_breaker("c")),
                expect=1,
            )
        )

    circuitbreaker = optional_import("circuitbreaker")
    if circuitbreaker is None:
        rows.append(missing("circuitbreaker", "circuitbreaker"))
    else:
        fn = circuitbreaker.circuit(
            failure_threshold=5, recovery_timeout=30, name="bench_closed"
        )(f)
        rows.append(
            Row(
                "circuitbreaker",
                "`@circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)`",
                repeat(fn, 1),
                expect=1,
            )
        )

    aiobreaker = optional_import("aiobreaker")
    if aiobreaker is None:
        rows.append(missing("aiobreaker", "aiobreaker"))
    else:
        breaker = aiobreaker.CircuitBreaker(
            fail_max=5, timeout_duration=dt.timedelta(seconds=30)
        )
        rows.append(
            Row(
                "aiobreaker",
                "`@aiobreaker.CircuitBreaker(fail_max=5)` on `f`",
                repeat(breaker(f), 1),
                expect=1,
            )
        )

    pybreaker = optional_import("pybreaker")
    if pybreaker is None:
        rows.append(missing("pybreaker", "pybreaker"))
    else:
        rows.append(
            Row(
                "pybreaker",
                "`with brk.calling(): await f(x)`, "
                "`brk = pybreaker.CircuitBreaker(fail_max=5)`",
                _pybreaker_calling(pybreaker.CircuitBreaker(fail_max=5)),
                expect=1,
            )
        )

    hyx = optional_import("hyx.circuitbreaker")
    if hyx is None:
        rows.append(missing("hyx", "hyx"))
    else:
        rows.append(
            Row(
                "hyx",
                "`@hyx.circuitbreaker.consecutive_breaker(failure_threshold=5)`",
                repeat(hyx.consecutive_breaker(failure_threshold=5)(f), 1),
                expect=1,
            )
        )

    rows += [
        Row(
            "brace",
            "`@cb` on `f`, `cb = CircuitBreaker()` (failure rate over the "
            "last 100 calls)",
            repeat(CircuitBreaker()(f), 1),
            expect=1,
        ),
        Row(
            "brace_async_with",
            "`async with cb: await f(x)`, the same kind of `cb`",
            repeat_async_with(CircuitBreaker()),
            expect=1,
        ),
    ]
    return rows


def _pybreaker_calling(breaker: Any) -> Batch:
    async def batch(n: int) -> object:
        result = None
        for _ in range(n):
            with breaker.calling():
                result = await f(1)
        return result

    return batch


# -- open ----------------------------------------------------------------------


async def _raise_ready(error: BaseException) -> None:
    raise error


@scenario(
    "breaker_open",
    order=61,
    title=(
        "A call that an open circuit breaker rejects, caught by the caller; "
        "ns per rejected call"
    ),
    baseline="bare",
    targets=(
        at_most("brace", 1.0, "purgatory"),
        at_most("brace", 1.0, "circuitbreaker"),
        at_most("brace", 1.0, "hyx"),
    ),
)
def breaker_open() -> list[Row | Skip]:
    ready = CircuitOpen("bench", retry_after=1.0)
    rows: list[Row | Skip] = [
        Row(
            "bare",
            "`await g()` where `g` raises a ready-made exception, caught",
            _rejections(lambda: _raise_ready(ready), CircuitOpen),
            expect=1,
        )
    ]

    purgatory = optional_import("purgatory")
    if purgatory is None:
        rows.append(missing("purgatory", "purgatory"))
    else:
        rows.append(_purgatory_open(purgatory))

    circuitbreaker = optional_import("circuitbreaker")
    if circuitbreaker is None:
        rows.append(missing("circuitbreaker", "circuitbreaker"))
    else:
        protected = circuitbreaker.circuit(
            failure_threshold=1, recovery_timeout=HOUR, name="bench_open"
        )(_fail)
        rows.append(
            Row(
                "circuitbreaker",
                "`@circuit(failure_threshold=1)`, tripped by one failure",
                _rejections(
                    protected,
                    circuitbreaker.CircuitBreakerError,
                    lambda: _trip(protected),
                ),
                expect=1,
            )
        )

    aiobreaker = optional_import("aiobreaker")
    if aiobreaker is None:
        rows.append(missing("aiobreaker", "aiobreaker"))
    else:
        breaker = aiobreaker.CircuitBreaker(timeout_duration=dt.timedelta(hours=1))
        breaker.open()
        guarded_f = breaker(f)
        rows.append(
            Row(
                "aiobreaker",
                "`@aiobreaker.CircuitBreaker()` on `f`, forced with `.open()`",
                _rejections(lambda: guarded_f(1), aiobreaker.CircuitBreakerError),
                expect=1,
            )
        )

    pybreaker = optional_import("pybreaker")
    if pybreaker is None:
        rows.append(missing("pybreaker", "pybreaker"))
    else:
        rows.append(_pybreaker_open(pybreaker))

    hyx = optional_import("hyx.circuitbreaker")
    hyx_errors = optional_import("hyx.circuitbreaker.exceptions")
    if hyx is None or hyx_errors is None:
        rows.append(missing("hyx", "hyx"))
    else:
        guarded = hyx.consecutive_breaker(
            exceptions=_Down, failure_threshold=1, recovery_time_secs=HOUR
        )(_fail)
        rows.append(
            Row(
                "hyx",
                "`@consecutive_breaker(failure_threshold=1)`, tripped by one failure",
                _rejections(guarded, hyx_errors.BreakerFailing, lambda: _trip(guarded)),
                expect=1,
            )
        )

    cb = CircuitBreaker(failure_rate=None, consecutive_failures=1, open_for=HOUR)
    protected_brace = cb(_fail)
    rows.append(
        Row(
            "brace",
            "`@cb` on `f`, `cb = CircuitBreaker(consecutive_failures=1)`, "
            "tripped by one failure",
            _rejections(protected_brace, CircuitOpen, lambda: _trip(protected_brace)),
            expect=1,
        )
    )
    return rows


def _purgatory_open(purgatory: Any) -> Row:
    factory = purgatory.AsyncCircuitBreakerFactory(
        default_threshold=1, default_ttl=HOUR
    )
    held: list[Any] = []

    async def rejected() -> None:
        async with held[0]:
            await f(1)

    async def setup() -> None:
        held.append(await factory.get_breaker("open"))
        try:
            async with held[0]:
                raise _Down
        except _Down:
            pass

    from purgatory.domain.model import OpenedState

    return Row(
        "purgatory",
        "`async with brk: await f(x)`, threshold 1, tripped by one failure",
        _rejections(rejected, OpenedState, setup),
        expect=1,
    )


def _pybreaker_open(pybreaker: Any) -> Row:
    breaker = pybreaker.CircuitBreaker(reset_timeout=HOUR)
    breaker.open()

    async def rejected() -> None:
        with breaker.calling():
            await f(1)

    return Row(
        "pybreaker",
        "`with brk.calling(): await f(x)`, forced with `.open()`",
        _rejections(rejected, pybreaker.CircuitBreakerError),
        expect=1,
    )
