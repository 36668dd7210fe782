"""Pins brace's public types; checked by mypy --strict, never executed.

Every ``# type: ignore[code]`` is a negative case: with ``warn_unused_ignores``
mypy fails if the error it expects stops happening.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, assert_type

import brace
from brace import Backoff, CancelToken, Retry, Timeout


@brace.retry(
    on=(ConnectionError, TimeoutError), attempts=5, backoff=Backoff.exponential()
)
async def fetch(url: str, *, retries_left: int = 3) -> bytes:
    return f"{url}#{retries_left}".encode()


@brace.retry(on=lambda exc: isinstance(exc, OSError), deadline=dt.timedelta(seconds=3))
def read(path: str) -> str:
    return path


@Retry(on=OSError)
def numbers(n: int) -> Iterator[int]:
    yield from range(n)


@Retry(on=OSError)
async def stream(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


@brace.timeout(2.0)
async def slow(x: int) -> str:
    return str(x)


class Service:
    @Retry(on=OSError)
    async def method(self, x: int) -> int:
        return x

    @Retry(on=OSError)
    @staticmethod
    async def static(x: int) -> int:
        return x

    @Retry(on=OSError)
    @classmethod
    async def klass(cls, x: int) -> int:
        return x


class Budget:
    def withdraw(self, error: Exception | None, /) -> bool:
        return True

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        pass


async def check() -> None:
    assert_type(await fetch("https://example.com"), bytes)
    coro = fetch("u")
    _ = assert_type(coro, Coroutine[Any, Any, bytes])
    coro.close()
    assert_type(await fetch("u", retries_left=1), bytes)
    assert_type(read("p"), str)
    assert_type(list(numbers(3)), list[int])
    assert_type([i async for i in stream(3)], list[int])
    assert_type(await slow(1), str)
    assert_type(await Service().method(1), int)
    assert_type(await Service.static(1), int)
    assert_type(await Service.klass(1), int)
    assert_type(await Retry(on=OSError).call(fetch, "u"), bytes)
    assert_type(await Timeout(1).call(slow, 2), str)

    policy = Retry(
        on=OSError,
        attempts=None,
        deadline=10,
        attempt_timeout=1.5,
        retry_on_result=lambda r: r is None,
        raise_for_result=True,
        retry_after=lambda exc: brace.parse_retry_after("3"),
        max_server_delay=30,
        budget=Budget(),
        rng=random.Random(1),
        cancel=CancelToken(),
        name="job",
        listeners=[print],
    )
    assert_type(policy.max_attempts, int | None)
    async for attempt in policy.attempts():
        with attempt:
            assert_type(attempt.number, int)
    for attempt2 in policy.attempts(name="sync"):
        with attempt2:
            pass
    async with Timeout(dt.timedelta(seconds=1)):
        pass

    token = CancelToken.any(CancelToken(), CancelToken.after(1.0))
    assert_type(token.cancel("why"), bool)
    handle = token.on_cancel(lambda reason: None)
    assert_type(handle.remove(), bool)
    assert_type(await token.wait(), object)
    with token.scope():
        pass

    def on_retry(event: brace.RetryScheduled) -> None:
        assert_type(event.delay, float)

    with brace.subscribe(on_retry, brace.RetryScheduled):
        pass
    assert_type(Backoff.exponential(jitter="decorrelated").delay(3), float)
    assert_type(brace.is_transient(OSError()), bool)
    assert_type(brace.ErrorCode.TIMEOUT.upper(), str)
    assert_type(brace.TimeoutError(timeout=1).code, brace.ErrorCode)

    # Negative cases: each line must keep failing type checks.
    await fetch(42)  # type: ignore[arg-type]
    await fetch("u", retries=1)  # type: ignore[call-arg]
    Backoff.exponential(jitter="random")  # type: ignore[arg-type]
    Backoff.constant("1s")  # type: ignore[arg-type]
    Retry(attempts=3)  # type: ignore[call-arg]
    Retry(on=OSError, deadline="soon")  # type: ignore[arg-type]
    brace.subscribe(on_retry, brace.TimeoutFired)  # type: ignore[arg-type]
    brace.subscribe(on_retry)  # type: ignore[arg-type]
    await Timeout(1).call(slow, "x")  # type: ignore[arg-type]
    await slow()  # type: ignore[call-arg]
