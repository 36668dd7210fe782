"""Retry: the success path, and a call that fails twice before succeeding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import brace
from benchmarks.registry import (
    Row,
    Skip,
    at_most,
    faster,
    optional_import,
    scenario,
)
from benchmarks.scenarios._common import f, flaky, missing, repeat, repeat_fresh

AsyncFn = Callable[..., Awaitable[Any]]


def handrolled(fn: AsyncFn) -> AsyncFn:
    """The 3-attempt retry wrapper one writes by hand (no sleep)."""

    async def w(*a: Any, **k: Any) -> Any:
        for attempt in range(3):
            try:
                return await fn(*a, **k)
            except ValueError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    return w


@scenario(
    "retry_success",
    order=10,
    title="`async def f(x): return x` succeeds at the first attempt; ns per call",
    baseline="bare",
    targets=(
        at_most("brace", 1.5, "handrolled"),
        faster("brace", 30, "tenacity"),
        faster("brace", 20, "stamina"),
        faster("brace", 3, "backoff"),
        faster("brace", 1.5, "hyx"),
    ),
)
def retry_success() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "handrolled",
            "hand-written 3-attempt `async def w(*a, **k)` wrapper",
            repeat(handrolled(f), 1),
            expect=1,
        ),
        Row(
            "brace",
            "`@brace.retry(on=ValueError, attempts=3)` (default backoff)",
            repeat(brace.retry(on=ValueError, attempts=3)(f), 1),
            expect=1,
        ),
        Row(
            "brace_budget",
            "the same with a shared `budget=brace.RetryBudget()`",
            repeat(
                brace.retry(on=ValueError, attempts=3, budget=brace.RetryBudget())(f),
                1,
            ),
            expect=1,
        ),
    ]

    tenacity = optional_import("tenacity")
    if tenacity is None:
        rows.append(missing("tenacity", "tenacity"))
    else:
        fn = tenacity.retry(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_exponential_jitter(),
            reraise=True,
        )(f)
        rows.append(
            Row(
                "tenacity",
                "`@tenacity.retry(stop=stop_after_attempt(3), "
                "wait=wait_exponential_jitter(), reraise=True)`",
                repeat(fn, 1),
                expect=1,
            )
        )

    stamina = optional_import("stamina")
    if stamina is None:
        rows.append(missing("stamina", "stamina"))
    else:
        rows.append(
            Row(
                "stamina",
                "`@stamina.retry(on=ValueError, attempts=3)`",
                repeat(stamina.retry(on=ValueError, attempts=3)(f), 1),
                expect=1,
            )
        )

    backoff = optional_import("backoff")
    if backoff is None:
        rows.append(missing("backoff", "backoff"))
    else:
        fn = backoff.on_exception(backoff.expo, ValueError, max_tries=3)(f)
        rows.append(
            Row(
                "backoff",
                "`@backoff.on_exception(backoff.expo, ValueError, max_tries=3)`",
                repeat(fn, 1),
                expect=1,
            )
        )

    hyx_retry = optional_import("hyx.retry")
    if hyx_retry is None:
        rows.append(missing("hyx", "hyx"))
    else:
        rows.append(
            Row(
                "hyx",
                "`@hyx.retry.retry(on=ValueError, attempts=3)`",
                repeat(hyx_retry.retry(on=ValueError, attempts=3)(f), 1),
                expect=1,
            )
        )
    return rows


def brace_two_failures() -> AsyncFn:
    """brace's row of ``retry_two_failures`` (the events scenario reuses it)."""
    return brace.retry(on=ValueError, attempts=3, backoff=brace.Backoff.constant(0))(
        flaky
    )


@contextmanager
def _stamina_hooks_off() -> Iterator[None]:
    """Run without stamina's instrumentation hooks (logging, prometheus...)."""
    from stamina import instrumentation

    previous = instrumentation.get_on_retry_hooks()
    instrumentation.set_on_retry_hooks([])
    try:
        yield
    finally:
        instrumentation.set_on_retry_hooks(previous)


@scenario(
    "retry_two_failures",
    order=20,
    title=(
        "The call fails twice with ValueError, then succeeds; zero wait; "
        "ns per successful call (= 3 attempts)"
    ),
    baseline="handrolled",
    targets=(
        at_most("brace", 2, "handrolled"),
        faster("brace", 20, "tenacity"),
        faster("brace", 20, "stamina"),
    ),
)
def retry_two_failures() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row(
            "handrolled",
            "hand-written 3-attempt loop, no sleep between attempts",
            repeat_fresh(handrolled(flaky)),
            expect=3,
        ),
        Row(
            "brace",
            "`brace.retry(on=ValueError, attempts=3, "
            "backoff=brace.Backoff.constant(0))`",
            repeat_fresh(brace_two_failures()),
            expect=3,
        ),
    ]

    tenacity = optional_import("tenacity")
    if tenacity is None:
        rows.append(missing("tenacity", "tenacity"))
    else:
        fn = tenacity.retry(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_none(),
            retry=tenacity.retry_if_exception_type(ValueError),
            reraise=True,
        )(flaky)
        rows.append(
            Row(
                "tenacity",
                "`@tenacity.retry(stop=stop_after_attempt(3), wait=wait_none(), "
                "retry=retry_if_exception_type(ValueError), reraise=True)`",
                repeat_fresh(fn),
                expect=3,
            )
        )

    stamina = optional_import("stamina")
    if stamina is None:
        rows.append(missing("stamina", "stamina"))
    else:
        fn = stamina.retry(
            on=ValueError, attempts=3, wait_initial=0, wait_max=0, wait_jitter=0
        )(flaky)
        rows.append(
            Row(
                "stamina",
                "`@stamina.retry(on=ValueError, attempts=3, wait_initial=0, "
                "wait_max=0, wait_jitter=0)`, instrumentation hooks off",
                repeat_fresh(fn),
                expect=3,
                around=_stamina_hooks_off,
            )
        )

    backoff = optional_import("backoff")
    if backoff is None:
        rows.append(missing("backoff", "backoff"))
    else:
        fn = backoff.on_exception(
            backoff.constant,
            ValueError,
            interval=0,
            jitter=None,
            max_tries=3,
            logger=None,
        )(flaky)
        rows.append(
            Row(
                "backoff",
                "`@backoff.on_exception(backoff.constant, ValueError, interval=0, "
                "jitter=None, max_tries=3, logger=None)`",
                repeat_fresh(fn),
                expect=3,
            )
        )

    hyx_retry = optional_import("hyx.retry")
    if hyx_retry is None:
        rows.append(missing("hyx", "hyx"))
    else:
        fn = hyx_retry.retry(on=ValueError, attempts=3, backoff=0)(flaky)
        rows.append(
            Row(
                "hyx",
                "`@hyx.retry.retry(on=ValueError, attempts=3, backoff=0)`",
                repeat_fresh(fn),
                expect=3,
            )
        )
    return rows
