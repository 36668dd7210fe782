"""Pins the registry, step and saga types; checked by mypy --strict, never run."""

from __future__ import annotations

from typing import assert_type

import brace


class Trip:
    pass


async def book_flight(trip: Trip) -> str:
    return "flight-1"


async def cancel_flight(booking: str) -> None:
    pass


async def charge(trip: Trip) -> int:
    return 1


async def refund(payment: int) -> None:
    pass


async def add(x: int, y: int, *, scale: float = 1.0) -> float:
    return (x + y) * scale


def make_limiter(host: str) -> brace.ConcurrencyLimiter:
    return brace.ConcurrencyLimiter(2)


def registry_types() -> None:
    limiters: brace.Registry[str, brace.ConcurrencyLimiter] = brace.Registry(
        lambda key: brace.ConcurrencyLimiter(4), max_keys=100, idle_ttl=60.0
    )
    assert_type(limiters.get_or_create("db"), brace.ConcurrencyLimiter)
    assert_type(limiters.get("db"), brace.ConcurrencyLimiter | None)
    assert_type(limiters.remove("db"), brace.ConcurrencyLimiter)
    assert_type(list(limiters), list[str])
    assert_type(limiters.snapshot(), dict[str, brace.RegistryEntry])
    assert_type(limiters.statistics(), brace.RegistryStatistics)
    assert_type(
        brace.Registry(make_limiter), brace.Registry[str, brace.ConcurrencyLimiter]
    )
    limiters.get_or_create(42)  # type: ignore[arg-type]
    limiters.get_or_create("db", lambda key: "no")  # type: ignore[arg-type,return-value]
    brace.Registry(max_keys="10")  # type: ignore[arg-type]


async def step_types() -> None:
    s = brace.step("add", add, brace.Retry(on=OSError), brace.Timeout(1))
    assert_type(await s(1, 2, scale=2.0), float)
    assert_type(await brace.Timeout(1)(s)(1, 2), float)
    await s("1", 2)  # type: ignore[arg-type]
    await s(1, 2, factor=2)  # type: ignore[call-arg]
    brace.step("flight", book_flight, compensate=cancel_flight)
    brace.step("flight", book_flight, compensate=refund)  # type: ignore[arg-type]
    brace.step("charge", charge, compensate=brace.step("refund", refund))


async def saga_types() -> None:
    flight = brace.step("flight", book_flight, compensate=cancel_flight)
    saga = brace.Saga(
        "trip",
        [flight, brace.step("payment", charge, compensate=refund)],
        compensation_timeout=10.0,
    )
    result = await saga.run(Trip())
    assert_type(result, brace.SagaResult)
    assert_type(result.status, brace.SagaStatus)
    assert_type(result.statuses, dict[str, brace.StepStatus])
    assert_type(result["flight"], brace.StepOutcome)
    assert_type(result.result_of(flight), str)
    assert_type(result.error, Exception | None)
    await saga.run(42)  # type: ignore[arg-type]
    brace.Saga("mixed", [flight, brace.step("add", add)])  # type: ignore[arg-type]


def saga_event_types(
    done: brace.SagaFinished, failed: brace.StepFailed, evicted: brace.RegistryEvicted
) -> None:
    assert_type(done.status, str)
    assert_type(failed.exception_type, str)
    assert_type(evicted.key, object)
