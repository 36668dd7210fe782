"""Pins the circuit breaker's public types; checked by mypy --strict, never run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine
from typing import Any, assert_type

import brace

cb = brace.CircuitBreaker(
    name="payments",
    window=brace.TimeWindow(dt.timedelta(seconds=30), buckets=10),
    open_for=brace.Backoff.exponential(jitter="none"),
    on=(ConnectionError, TimeoutError),
    failure_on_result=lambda result: result is None,
)


@cb
async def charge(amount: int, *, currency: str = "EUR") -> str:
    return f"{amount} {currency}"


async def use_breaker() -> None:
    coro = charge(1, currency="USD")
    _ = assert_type(coro, Coroutine[Any, Any, str])
    coro.close()
    assert_type(await cb.call(charge, 1), str)
    async with cb:
        pass
    assert_type(cb.state, brace.CircuitState)
    assert_type(cb.statistics(), brace.CircuitBreakerStatistics)
    assert_type(cb.statistics().retry_after, float | None)
    assert_type(cb.allows(), bool)
    assert_type(cb.snapshot(), dict[str, Any])
    assert_type(cb.describe(), tuple[str, dict[str, object]])
    cb.restore(cb.snapshot(), elapsed=dt.timedelta(seconds=1))
    cb.force_closed = True
    brace.CircuitBreaker(
        window=brace.CountWindow(50), consecutive_failures=5, open_for=10
    )
    await charge("1")  # type: ignore[arg-type]
    await cb.call(charge, "1")  # type: ignore[arg-type]
    brace.CircuitBreaker(window=100)  # type: ignore[arg-type]
    brace.CircuitBreaker("payments")  # type: ignore[call-arg]
    brace.CircuitBreaker(open_for="5s")  # type: ignore[arg-type]
    cb.force_closed = "yes"  # type: ignore[assignment]
