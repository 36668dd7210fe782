"""Pins the retry budget, quota and fallback types; checked by mypy --strict."""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine
from typing import Any, assert_type

import brace


class User:
    pass


@brace.Fallback(value=0)
async def count(table: str, *, exact: bool = False) -> int:
    return 1


@brace.Fallback(value=None)
async def load_user(uid: int) -> User:
    return User()


@brace.Fallback(value=[])
async def tags(uid: int) -> list[str]:
    return []


async def cached_name(exc: Exception) -> str:
    return "cached"


@brace.Fallback(factory=cached_name, on=(ConnectionError, TimeoutError), name="names")
async def name(uid: int) -> str:
    return "live"


@brace.Fallback(value=0)
async def mismatched() -> str:
    return "x"


def default_status(exc: Exception | None) -> str:
    return "unknown"


async def check_budgets() -> None:
    budget = brace.RetryBudget(
        ratio=0.2, min_per_second=10.0, ttl=dt.timedelta(seconds=10)
    )
    quota = brace.RetryQuota(capacity=500, cost=5, timeout_cost=10, refund=1, name="s3")
    for b in (budget, quota):
        assert_type(b.withdraw(None), bool)
        b.deposit(1, None)
    brace.Retry(on=OSError, budget=budget)
    brace.Retry(on=OSError, budget=quota)
    _: brace.SupportsRetryBudget = budget
    stats = budget.statistics()
    assert_type(stats, brace.RetryBudgetStatistics)
    assert_type(stats.available, int)
    assert_type(budget.ratio, float)
    assert_type(quota.statistics(), brace.RetryQuotaStatistics)
    assert_type(quota.statistics().capacity, int)
    assert_type(quota.cost_of(TimeoutError()), int)

    def on_exhausted(event: brace.RetryBudgetExhausted) -> None:
        assert_type(event.cost, int)
        assert_type(event.exception_type, str | None)

    with brace.subscribe(on_exhausted, brace.RetryBudgetExhausted):
        pass
    brace.RetryBudget(0.2)  # type: ignore[call-arg]
    brace.RetryBudget(ratio="0.2")  # type: ignore[arg-type]
    brace.RetryQuota(capacity=1.5)  # type: ignore[arg-type]
    budget.withdraw()
    brace.subscribe(on_exhausted, brace.FallbackUsed)  # type: ignore[arg-type]


async def check_fallback() -> None:
    assert_type(brace.Fallback(value=0), brace.Fallback[int])
    assert_type(brace.Fallback(factory=cached_name), brace.Fallback[str])
    assert_type(brace.Fallback(factory=lambda exc: 1.5), brace.Fallback[float])
    assert_type(
        brace.Fallback(factory=default_status, on_result=lambda r: r is None),
        brace.Fallback[str],
    )
    assert_type(await count("t", exact=True), int)
    coro = count("t")
    _ = assert_type(coro, Coroutine[Any, Any, int])
    coro.close()
    assert_type(await load_user(1), User | None)
    assert_type(await tags(1), list[str])
    assert_type(await name(1), str)
    assert_type(await mismatched(), str | int)
    assert_type(await brace.Fallback(value=None).call(name, 2), str | None)
    assert_type(brace.Fallback(value=1).describe(), tuple[str, dict[str, object]])

    def on_fallback(event: brace.FallbackUsed) -> None:
        assert_type(event.error, BaseException | None)

    with brace.subscribe(on_fallback, brace.FallbackUsed):
        pass

    # Negative cases: each line must keep failing type checks.
    brace.Fallback()  # type: ignore[call-overload]
    brace.Fallback(value=1, factory=cached_name)  # type: ignore[call-overload]
    brace.Fallback(0)  # type: ignore[call-overload]
    brace.Fallback(factory=cached_name, on_result=bool)  # type: ignore[arg-type]
    brace.Fallback(value=1, on="ValueError")  # type: ignore[call-overload]
    await count(1)  # type: ignore[arg-type]
    await brace.Fallback(value=0).call(count, "t", fast=True)  # type: ignore[call-arg]
    _text: str = await mismatched()  # type: ignore[assignment]
    _user: User = await load_user(1)  # type: ignore[assignment]
