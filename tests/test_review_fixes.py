"""Regression tests for defects found in review."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
from collections.abc import AsyncGenerator, Generator
from typing import Any

import anyio
import pytest

import brace
from brace.testing import VirtualTimeEventLoop


class Busy(Exception):
    """A failure that carries a server hint."""

    def __init__(self, hint: object) -> None:
        super().__init__(hint)
        self.hint = hint


class RecordingBudget:
    """A budget that always allows retries and records deposits."""

    def __init__(self) -> None:
        self.deposits: list[tuple[int, Exception | None]] = []

    def withdraw(self, error: Exception | None, /) -> bool:
        return True

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        self.deposits.append((attempts, last_error))


def _run_guarded(loop: VirtualTimeEventLoop, coro: Any) -> Any:
    """Run *coro* on *loop*, stopping it after 1 real second if it spins."""
    guard = threading.Timer(1.0, lambda: loop.call_soon_threadsafe(loop.stop))
    guard.start()
    try:
        return loop.run_until_complete(coro)
    finally:
        guard.cancel()
        loop.close()


# -- 1. virtual clock at large readings --------------------------------------


def test_virtual_loop_runs_timers_at_large_start() -> None:
    """A loop started at 1.7e9 still runs due timers."""
    loop = VirtualTimeEventLoop(start=1.7e9)

    async def main() -> float:
        before = loop.time()
        await asyncio.sleep(1)
        return loop.time() - before

    assert _run_guarded(loop, main()) == 1.0


def test_virtual_loop_runs_timers_after_sleeping_a_year() -> None:
    """After a year of virtual sleep, a one-second sleep still returns."""
    loop = VirtualTimeEventLoop()

    async def main() -> float:
        await asyncio.sleep(365 * 86400)
        await asyncio.sleep(1)
        return loop.time()

    assert _run_guarded(loop, main()) == 365 * 86400 + 1


# -- 2. Timeout exits out of order -------------------------------------------


@pytest.mark.asyncio
async def test_timeout_exit_out_of_order_disarms_its_timer() -> None:
    """Leaving timeouts out of order (A, B entered; A left first) leaks no timer."""
    a, b = brace.Timeout(5), brace.Timeout(100)
    await a.__aenter__()
    await b.__aenter__()
    await a.__aexit__(None, None, None)
    await b.__aexit__(None, None, None)
    await asyncio.sleep(60)  # past A's deadline: must not be cancelled
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


@pytest.mark.asyncio
async def test_timeout_exit_without_entry_raises() -> None:
    """__aexit__ with no entry of its own in this task raises RuntimeError."""
    with pytest.raises(RuntimeError):
        await brace.Timeout(5).__aexit__(None, None, None)


# -- 3. retry_after hints ----------------------------------------------------


def _hinted(hint: object, **kwargs: Any) -> Any:
    calls = 0

    @brace.Retry(
        on=Busy, attempts=2, retry_after=lambda e: e.hint, max_server_delay=60, **kwargs
    )
    async def f() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Busy(hint)
        return "ok"

    return f


@pytest.mark.anyio
async def test_negative_timedelta_hint_means_now() -> None:
    """A negative timedelta hint retries at once instead of raising ValueError."""
    start = anyio.current_time()
    assert await _hinted(dt.timedelta(seconds=-1))() == "ok"
    assert anyio.current_time() == start


@pytest.mark.anyio
async def test_non_finite_hint_falls_back_to_backoff() -> None:
    """An infinite or NaN hint is ignored: the backoff delay applies."""
    backoff = brace.Backoff.constant(2)
    for hint in (float("inf"), float("nan")):
        start = anyio.current_time()
        assert await _hinted(hint, backoff=backoff)() == "ok"
        assert anyio.current_time() - start == pytest.approx(2)


@pytest.mark.anyio
async def test_hint_jitter_never_exceeds_cap() -> None:
    """A hint above max_server_delay waits exactly the cap, jitter included."""
    start = anyio.current_time()
    assert await _hinted(1000.0)() == "ok"
    assert anyio.current_time() - start == pytest.approx(60)


@pytest.mark.anyio
async def test_hint_uses_given_rng() -> None:
    """The hint jitter draws from rng= even when it is a falsy-looking object."""

    class Rng(random.Random):
        def __bool__(self) -> bool:
            return False

        def random(self) -> float:
            return 1.0

    start = anyio.current_time()
    assert await _hinted(10.0, rng=Rng())() == "ok"
    assert anyio.current_time() - start == pytest.approx(11)


@pytest.mark.anyio
async def test_failing_retry_after_keeps_original_error() -> None:
    """When retry_after raises, the attempt's error is its __cause__."""
    original = Busy(1)

    def hint(error: Exception) -> float:
        raise KeyError("no header")

    async def f() -> None:
        raise original

    with pytest.raises(KeyError) as info:
        await brace.Retry(on=Busy, retry_after=hint).call(f)
    assert info.value.__cause__ is original


# -- 4. generators report the last retried error to the budget --------------


@pytest.mark.anyio
async def test_async_generator_deposits_last_error() -> None:
    """An async generator retried once deposits the retried error."""
    budget = RecordingBudget()
    errors: list[Exception] = []

    @brace.Retry(on=Busy, budget=budget, backoff=brace.Backoff.constant(0))
    async def gen() -> AsyncGenerator[int, None]:
        if not errors:
            errors.append(Busy(None))
            raise errors[0]
        yield 1

    assert [x async for x in gen()] == [1]
    assert budget.deposits == [(2, errors[0])]


def test_generator_deposits_last_error() -> None:
    """A sync generator retried once deposits the retried error."""
    budget = RecordingBudget()
    errors: list[Exception] = []

    @brace.Retry(on=Busy, budget=budget, backoff=brace.Backoff.constant(0))
    def gen() -> Generator[int, None, None]:
        if not errors:
            errors.append(Busy(None))
            raise errors[0]
        yield 1

    assert list(gen()) == [1]
    assert budget.deposits == [(2, errors[0])]


# -- 5. call() with a sync function -----------------------------------------


@pytest.mark.anyio
async def test_retry_call_rejects_sync_function() -> None:
    """Retry.call with a sync function raises TypeError, running it at most once."""
    ran: list[int] = []

    def charge(amount: int) -> str:
        ran.append(amount)
        return "receipt"

    with pytest.raises(TypeError, match="async function"):
        await brace.Retry(on=Exception).call(charge, 10)  # type: ignore[arg-type]
    assert len(ran) <= 1


@pytest.mark.anyio
async def test_retry_call_accepts_lambda_returning_coroutine() -> None:
    """A lambda returning a coroutine still works with Retry.call."""

    async def f(x: int) -> int:
        return x

    assert await brace.Retry(on=Exception).call(lambda: f(3)) == 3


@pytest.mark.anyio
async def test_timeout_call_rejects_sync_function() -> None:
    """Timeout.call with a sync function raises TypeError."""
    with pytest.raises(TypeError, match="async function"):
        await brace.Timeout(1).call(lambda: 1)  # type: ignore[arg-type,return-value]


# -- 6. construction-time validation -----------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"rng": 42}, {"rng": 0}, {"budget": 0.2}, {"cancel": True}],
    ids=["rng-int", "rng-zero", "budget-float", "cancel-bool"],
)
def test_retry_rejects_bad_collaborators(kwargs: dict[str, Any]) -> None:
    """rng=, budget= and cancel= of the wrong type fail at construction."""
    with pytest.raises(TypeError):
        brace.Retry(on=OSError, **kwargs)


def test_retry_accepts_good_collaborators() -> None:
    """Real rng, budget and cancel token are accepted."""
    brace.Retry(
        on=OSError,
        rng=random.Random(1),
        budget=RecordingBudget(),
        cancel=brace.CancelToken(),
    )
