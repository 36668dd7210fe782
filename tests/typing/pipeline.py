"""Pins the types of compose(), Pipeline, Policy and current_attempt(); never run."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, assert_type

import brace
from brace import Retry, Timeout

pipe = brace.compose(
    brace.RateLimiter(10),
    Timeout(30),
    Retry(on=OSError, attempts=3, deadline=20),
    brace.ConcurrencyLimiter(4),
    Timeout(2),
    name="fetch",
)
assert_type(pipe, brace.Pipeline)
assert_type(brace.compose(pipe, Retry(on=OSError), check_order=False), brace.Pipeline)
assert_type(pipe.describe(), list[tuple[str, dict[str, object]]])
assert_type(Retry(on=OSError).describe(), tuple[str, dict[str, object]])
assert_type(Timeout(1).describe(), tuple[str, dict[str, object]])
assert_type(brace.ConcurrencyLimiter(1).describe(), tuple[str, dict[str, object]])
assert_type(brace.RateLimiter(1).describe(), tuple[str, dict[str, object]])
policies: list[brace.Policy] = [
    pipe,
    Retry(on=OSError),
    Timeout(1),
    brace.ConcurrencyLimiter(1),
    brace.RateLimiter(1),
    brace.CircuitBreaker(name="db"),
    brace.Fallback(value=0),
]


@pipe
async def piped(url: str, *, retries: int = 3) -> bytes:
    return url.encode() * retries


def _piped_signature(fn: Callable[[str], Coroutine[Any, Any, bytes]]) -> None: ...


_piped_signature(piped)


async def use_pipeline() -> None:
    assert_type(await piped("x"), bytes)
    assert_type(await pipe.call(piped, "x", retries=1), bytes)
    await piped(1)  # type: ignore[arg-type]
    await piped("x", retry=2)  # type: ignore[call-arg]
    await pipe.call(piped, 1)  # type: ignore[arg-type]
    await pipe.call(piped)  # type: ignore[call-arg]
    attempt = brace.current_attempt()
    assert_type(attempt, brace.AttemptContext | None)
    if attempt is not None:
        assert_type(attempt.number, int)
        assert_type(attempt.name, str)
        assert_type(attempt.deadline, float | None)
        assert_type(attempt.remaining(), float | None)
        attempt.number = 2  # type: ignore[misc]


def sync_fn(x: int) -> int:
    return x


pipe(sync_fn)  # type: ignore[arg-type]
brace.compose(lambda fn: fn)  # type: ignore[arg-type]
brace.compose(Retry)  # type: ignore[arg-type]
brace.compose(Retry(on=OSError), name=1)  # type: ignore[arg-type]
brace.compose(Retry(on=OSError), check_order="no")  # type: ignore[arg-type]
warning: type[UserWarning] = brace.CompositionWarning
