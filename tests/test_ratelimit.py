"""Tests for brace.RateLimiter: algorithms, FIFO waiting, max_wait, cancellation."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import math
import threading
from typing import Any

import anyio
import pytest

import brace
from brace import _events
from brace._ratelimit import RateLimiter
from brace.testing import VirtualTimeEventLoop

pytestmark = pytest.mark.anyio


def _now() -> float:
    return anyio.current_time()


def _at(expected: float) -> Any:
    """Equal to a virtual time, up to float rounding of the clocks."""
    return pytest.approx(expected, abs=1e-9)


async def _settle() -> None:
    """Let every other task run until it blocks (trio schedules in any order)."""
    await anyio.wait_all_tasks_blocked()


def _stats(rl: RateLimiter) -> tuple[int, int, int]:
    s = rl.statistics()
    return s.waiting, s.acquired, s.rejected


# -- construction ----------------------------------------------------------------


class TestConstruction:
    """Arguments are checked at once, with messages that say what to do."""

    def test_defaults(self) -> None:
        """The default is a token bucket with burst 1, built outside a loop."""
        rl = RateLimiter(5)
        assert (rl.rate, rl.per, rl.burst, rl.algorithm) == (
            5.0,
            1.0,
            1,
            "token_bucket",
        )
        assert (rl.segments, rl.max_wait, rl.name, rl.listeners) == (
            None,
            None,
            None,
            (),
        )
        s = rl.statistics()
        assert (s.available, s.capacity, s.waiting, s.acquired, s.rejected) == (
            1,
            1,
            0,
            0,
            0,
        )

    def test_durations(self) -> None:
        """per and max_wait accept timedeltas and ints, stored as float seconds."""
        rl = RateLimiter(
            2, dt.timedelta(milliseconds=500), max_wait=dt.timedelta(seconds=3)
        )
        assert (rl.per, rl.max_wait) == (0.5, 3.0)
        assert RateLimiter(1, 2, max_wait=0).max_wait == 0.0

    def test_window_defaults(self) -> None:
        """Windows take rate as the per-window limit; sliding ones 10 segments."""
        sliding = RateLimiter(10.0, algorithm="sliding_window")
        assert (sliding.segments, sliding.burst) == (10, None)
        assert sliding.statistics().capacity == 10
        fixed = RateLimiter(3, 2.0, algorithm="fixed_window")
        assert (fixed.segments, fixed.burst, fixed.statistics().capacity) == (
            None,
            None,
            3,
        )

    @pytest.mark.parametrize("rate", [0, -1, 0.0, math.nan, math.inf])
    def test_bad_rate_values(self, rate: float) -> None:
        """A rate that is not finite and > 0 raises ValueError."""
        with pytest.raises(ValueError, match="rate must be a finite number > 0"):
            RateLimiter(rate)

    @pytest.mark.parametrize("rate", ["5", None, True, [5]])
    def test_bad_rate_types(self, rate: Any) -> None:
        """A rate that is not a number raises TypeError."""
        with pytest.raises(TypeError, match="rate must be a number"):
            RateLimiter(rate)

    @pytest.mark.parametrize("algorithm", ["sliding_window", "fixed_window"])
    def test_window_rate_must_be_whole(self, algorithm: str) -> None:
        """A window limit must be a whole number of units."""
        with pytest.raises(ValueError, match="whole number"):
            RateLimiter(2.5, algorithm=algorithm)

    @pytest.mark.parametrize("per", [0, -1.0, math.nan, math.inf])
    def test_bad_per_values(self, per: float) -> None:
        """per must be finite and > 0."""
        with pytest.raises(ValueError, match="per"):
            RateLimiter(1, per)

    def test_bad_per_type(self) -> None:
        """per must be seconds or a timedelta."""
        with pytest.raises(TypeError, match="per"):
            RateLimiter(1, "1s")  # type: ignore[arg-type]

    def test_bad_algorithm(self) -> None:
        """An unknown algorithm names the known ones."""
        with pytest.raises(ValueError, match="token_bucket, sliding_window"):
            RateLimiter(1, algorithm="leaky")

    @pytest.mark.parametrize("burst", [0, -1, True, 1.5])
    def test_bad_burst(self, burst: Any) -> None:
        """burst must be an int >= 1."""
        with pytest.raises(ValueError, match="burst"):
            RateLimiter(1, burst=burst)

    @pytest.mark.parametrize("algorithm", ["sliding_window", "fixed_window"])
    def test_burst_is_for_token_buckets(self, algorithm: str) -> None:
        """burst with a window algorithm is an error, not silently ignored."""
        with pytest.raises(ValueError, match="burst applies to token_bucket only"):
            RateLimiter(1, burst=2, algorithm=algorithm)

    @pytest.mark.parametrize("algorithm", ["token_bucket", "fixed_window"])
    def test_segments_are_for_sliding_windows(self, algorithm: str) -> None:
        """segments with another algorithm is an error."""
        with pytest.raises(ValueError, match="segments applies to sliding_window"):
            RateLimiter(1, segments=4, algorithm=algorithm)

    @pytest.mark.parametrize("segments", [0, -2, False])
    def test_bad_segments(self, segments: Any) -> None:
        """segments must be an int >= 1."""
        with pytest.raises(ValueError, match="segments"):
            RateLimiter(1, algorithm="sliding_window", segments=segments)

    def test_bad_max_wait(self) -> None:
        """max_wait must be a duration >= 0."""
        with pytest.raises(ValueError, match="max_wait"):
            RateLimiter(1, max_wait=-1)
        with pytest.raises(TypeError, match="max_wait"):
            RateLimiter(1, max_wait="soon")  # type: ignore[arg-type]

    def test_bad_listeners(self) -> None:
        """Listeners must be callables."""
        with pytest.raises(TypeError, match="listeners"):
            RateLimiter(1, listeners=[42])  # type: ignore[list-item]
        assert RateLimiter(1, listeners=[print]).listeners == (print,)

    def test_repr(self) -> None:
        """repr names the rate, the algorithm and its parameters."""
        assert repr(RateLimiter(5, burst=3)) == (
            "<RateLimiter 5 per 1 s, token_bucket, burst=3, waiting=0>"
        )
        assert repr(RateLimiter(5, 2, algorithm="sliding_window", name="api")) == (
            "<RateLimiter 5 per 2 s, sliding_window, segments=10, name='api', "
            "waiting=0>"
        )
        assert repr(RateLimiter(5, algorithm="fixed_window")) == (
            "<RateLimiter 5 per 1 s, fixed_window, waiting=0>"
        )


class TestCost:
    """Costs are ints from 1 to the capacity; anything else fails at once."""

    @pytest.mark.parametrize("cost", [True, 1.0, "1", None])
    async def test_cost_type(self, cost: Any) -> None:
        """A cost that is not an int raises TypeError everywhere."""
        rl = RateLimiter(10, burst=5)
        with pytest.raises(TypeError, match="cost must be an int"):
            rl.try_acquire(cost)
        with pytest.raises(TypeError, match="cost must be an int"):
            await rl.acquire(cost)
        with pytest.raises(TypeError, match="cost must be an int"):
            rl.retry_after(cost)
        assert _stats(rl) == (0, 0, 0)

    @pytest.mark.parametrize("cost", [0, -3])
    async def test_cost_positive(self, cost: int) -> None:
        """A cost < 1 raises ValueError."""
        rl = RateLimiter(10, burst=5)
        with pytest.raises(ValueError, match="cost must be >= 1"):
            await rl.acquire(cost)

    @pytest.mark.parametrize(
        ("algorithm", "what"),
        [("token_bucket", "burst"), ("fixed_window", "rate per window")],
    )
    async def test_cost_over_capacity(self, algorithm: str, what: str) -> None:
        """A cost above the capacity raises instead of waiting forever."""
        rl = RateLimiter(
            5, algorithm=algorithm, **({"burst": 5} if what == "burst" else {})
        )
        for call in (rl.try_acquire, rl.retry_after):
            with pytest.raises(ValueError, match=f"capacity of 5 \\({what}\\)"):
                call(6)
        with pytest.raises(ValueError, match="could never be granted"):
            await rl.acquire(6)
        assert rl.try_acquire(5)


# -- the token bucket -----------------------------------------------------------


async def _grant_times(rl: RateLimiter, costs: list[int]) -> list[float]:
    start = _now()
    times = []
    for cost in costs:
        await rl.acquire(cost)
        times.append(_now() - start)
    return times


class TestTokenBucket:
    """GCRA timing, to the exact virtual instant."""

    async def test_smooth_by_default(self) -> None:
        """With the default burst of 1, requests are spaced per/rate apart."""
        rl = RateLimiter(10)
        assert await _grant_times(rl, [1] * 5) == [_at(k / 10) for k in range(5)]

    async def test_burst_then_rate(self) -> None:
        """A full bucket lets burst units go at once, then the rate applies."""
        rl = RateLimiter(2, burst=4)
        times = await _grant_times(rl, [1] * 7)
        assert times == [_at(t) for t in (0, 0, 0, 0, 0.5, 1.0, 1.5)]

    async def test_refills_to_burst_only(self) -> None:
        """A long pause refills the bucket to burst, never more."""
        rl = RateLimiter(1, burst=3)
        await rl.acquire(3)
        await anyio.sleep(100)
        assert rl.statistics().available == 3
        times = await _grant_times(rl, [1, 1, 1, 1])
        assert times == [_at(t) for t in (0, 0, 0, 1)]

    async def test_weighted_costs(self) -> None:
        """A cost of n waits for n units, FIFO with the others."""
        rl = RateLimiter(4, burst=4)
        assert await _grant_times(rl, [4, 2, 3]) == [_at(0), _at(0.5), _at(1.25)]

    async def test_partial_refill(self) -> None:
        """Capacity accrues continuously between requests."""
        rl = RateLimiter(10, burst=5)
        await rl.acquire(5)
        await anyio.sleep(0.25)
        assert rl.statistics().available == 2
        assert rl.retry_after(2) == 0.0
        assert rl.retry_after(3) == _at(0.05)
        assert rl.retry_after(5) == _at(0.25)
        assert rl.try_acquire(2)
        assert not rl.try_acquire(1)

    async def test_try_acquire_never_waits(self) -> None:
        """try_acquire takes what is there or returns False, counting both."""
        rl = RateLimiter(1, burst=2)
        start = _now()
        assert [rl.try_acquire() for _ in range(3)] == [True, True, False]
        assert _now() == start
        assert _stats(rl) == (0, 2, 1)

    async def test_fractional_rate(self) -> None:
        """A rate below one per period spaces requests more than per apart."""
        rl = RateLimiter(0.5, per=dt.timedelta(seconds=2))
        assert await _grant_times(rl, [1, 1, 1]) == [_at(0), _at(4), _at(8)]


async def test_long_run_has_no_drift() -> None:
    """Thousands of waits land exactly on the GCRA schedule, with no float drift."""
    rl = RateLimiter(3, per=0.1, burst=3)  # each cost-3 request moves TAT by 0.1 s
    start = _now()
    for _ in range(2000):
        await rl.acquire(3)
    elapsed = _now() - start
    # The 2000th request was granted at 1999 * 0.1 s, computed in one step.
    assert abs(elapsed - 199.9) <= 4 * math.ulp(199.9)
    naive = 0.0
    for _ in range(1999):
        naive += 3 * (0.1 / 3)
    assert abs(naive - 199.9) > 100 * math.ulp(199.9)  # what accumulation does


# -- FIFO ------------------------------------------------------------------------


async def test_large_request_is_not_starved() -> None:
    """aiolimiter's starvation scenario: the 10-unit request goes first, at 1 s."""
    # AsyncLimiter(10, 1) drained, a 10-unit request queued first, then three
    # streams of forty 1-unit requests: aiolimiter serves the big one at 13 s,
    # after every small one (research/python-peers.md, section 2.9).
    rl = RateLimiter(10, per=1.0, burst=10)
    await rl.acquire(10)
    start = _now()
    done: dict[str, float] = {}

    async def big() -> None:
        await rl.acquire(10)
        done["big"] = _now() - start

    async def stream(name: str) -> None:
        for _ in range(40):
            await rl.acquire(1)
        done[name] = _now() - start

    async with anyio.create_task_group() as tg:
        tg.start_soon(big)
        await _settle()
        for name in ("s1", "s2", "s3"):
            tg.start_soon(stream, name)
    assert done["big"] == _at(1.0)
    # Work-conserving: 130 units after the first burst take exactly 13 s.
    assert max(done.values()) == _at(13.0)
    assert _stats(rl) == (0, 122, 0)


async def test_waiters_are_served_in_arrival_order() -> None:
    """Mixed costs are granted strictly in arrival order."""
    rl = RateLimiter(2, burst=3)
    await rl.acquire(3)
    order: list[str] = []

    async def req(name: str, cost: int) -> None:
        await rl.acquire(cost)
        order.append(name)

    async with anyio.create_task_group() as tg:
        for name, cost in [("a", 3), ("b", 1), ("c", 2), ("d", 1)]:
            tg.start_soon(req, name, cost)
            await _settle()
    assert order == ["a", "b", "c", "d"]


async def test_try_acquire_does_not_jump_the_queue() -> None:
    """While a large request waits, try_acquire refuses even available units."""
    rl = RateLimiter(1, burst=3)
    await rl.acquire(3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(rl.acquire, 3)
        await anyio.sleep(1.5)  # 1.5 units available, the waiter needs 3
        assert not rl.try_acquire(1)
        s = rl.statistics()
        assert (s.available, s.waiting, s.rejected) == (0, 1, 1)
    assert _now() == _at(3.0)
    assert rl.try_acquire() is False  # the waiter took all three at 3 s


# -- max_wait --------------------------------------------------------------------


class TestMaxWait:
    """max_wait turns a long wait into an immediate RateLimited."""

    async def test_raises_at_once(self) -> None:
        """A wait beyond max_wait raises RateLimited with retry_after, at once."""
        rl = RateLimiter(1, burst=2, max_wait=1.5)
        await rl.acquire(2)
        start = _now()
        with pytest.raises(brace.RateLimited) as info:
            await rl.acquire(2)
        assert _now() == start
        assert info.value.retry_after == _at(2.0)
        assert isinstance(info.value, brace.RejectedError)
        assert _stats(rl) == (0, 1, 1)
        await rl.acquire(1)  # 1 s fits
        assert _now() - start == _at(1.0)

    async def test_zero_never_waits(self) -> None:
        """max_wait=0 grants what is available now and rejects the rest."""
        rl = RateLimiter(10, max_wait=0)
        await rl.acquire()
        with pytest.raises(brace.RateLimited) as info:
            await rl.acquire()
        assert info.value.retry_after == _at(0.1)

    async def test_counts_the_queue_ahead(self) -> None:
        """The wait includes every request already queued, FIFO."""
        rl = RateLimiter(1, max_wait=2.5)
        await rl.acquire()
        async with anyio.create_task_group() as tg:
            tg.start_soon(rl.acquire)  # granted at 1
            tg.start_soon(rl.acquire)  # granted at 2
            await _settle()
            assert rl.retry_after() == _at(3.0)
            with pytest.raises(brace.RateLimited) as info:
                await rl.acquire()
            assert info.value.retry_after == _at(3.0)
        assert _stats(rl) == (0, 3, 1)

    async def test_cancellation_shortens_the_estimate(self) -> None:
        """After a queued request is cancelled, the estimate is replanned."""
        rl = RateLimiter(1, max_wait=10)
        await rl.acquire()
        async with anyio.create_task_group() as tg:
            doomed = anyio.CancelScope()
            tg.start_soon(rl.acquire)
            await _settle()
            tg.start_soon(_acquire_in, doomed, rl, 1)
            await _settle()
            tg.start_soon(rl.acquire)
            await _settle()
            assert rl.retry_after() == _at(4.0)
            doomed.cancel()
            await _settle()
            assert rl.retry_after() == _at(3.0)
            await rl.acquire()
            assert _now() == _at(3.0)


async def _acquire_in(scope: anyio.CancelScope, rl: RateLimiter, cost: int) -> None:
    with scope:
        await rl.acquire(cost)


# -- cancellation -------------------------------------------------------------------


class TestCancellation:
    """A cancelled waiter takes nothing, leaves no trace and delays nobody."""

    async def test_move_on_after(self) -> None:
        """move_on_after while waiting: no trace, and the capacity stays."""
        rl = RateLimiter(1)
        await rl.acquire()
        with anyio.move_on_after(0.5) as scope:
            await rl.acquire()
        assert scope.cancelled_caught
        assert _stats(rl) == (0, 1, 0)
        assert rl.retry_after() == _at(0.5)
        await rl.acquire()
        assert _now() == _at(1.0)

    async def test_task_group_cancel(self) -> None:
        """Cancelling a task group of waiters leaves the limiter as before."""
        rl = RateLimiter(1, burst=2)
        await rl.acquire(2)
        async with anyio.create_task_group() as tg:
            for cost in (2, 1, 1):
                tg.start_soon(rl.acquire, cost)
            await anyio.sleep(0.5)
            assert rl.statistics().waiting == 3
            tg.cancel_scope.cancel()
        assert _stats(rl) == (0, 1, 0)
        await rl.acquire(2)
        assert _now() == _at(2.0)

    async def test_cancelled_head_does_not_delay_others(self) -> None:
        """When the head leaves, the next is served at its own earliest time."""
        rl = RateLimiter(1, burst=3)
        await rl.acquire(3)
        served: list[float] = []

        async def small() -> None:
            await rl.acquire(1)
            served.append(_now())

        async with anyio.create_task_group() as tg:
            big = anyio.CancelScope()
            tg.start_soon(_acquire_in, big, rl, 3)
            await _settle()
            tg.start_soon(small)
            await anyio.sleep(1.5)
            big.cancel()
        # The small request could have gone at 1 s: it goes as soon as the
        # big one is out of its way.
        assert served == [_at(1.5)]
        assert _stats(rl) == (0, 2, 0)

    async def test_cancelled_middle_waiter(self) -> None:
        """Cancelling a waiter in the middle serves those behind it earlier."""
        rl = RateLimiter(1)
        await rl.acquire()
        served: dict[str, float] = {}

        async def req(name: str) -> None:
            await rl.acquire()
            served[name] = _now()

        async with anyio.create_task_group() as tg:
            middle = anyio.CancelScope()
            tg.start_soon(req, "first")
            await _settle()
            tg.start_soon(_acquire_in, middle, rl, 1)
            await _settle()
            tg.start_soon(req, "last")
            await anyio.sleep(0.5)
            middle.cancel()
        assert served == {"first": _at(1.0), "last": _at(2.0)}
        assert _stats(rl) == (0, 3, 0)

    async def test_cancel_token_while_waiting(self) -> None:
        """A cancelled token ends the wait with brace.Cancelled, taking nothing."""
        rl = RateLimiter(1)
        await rl.acquire()
        token = brace.CancelToken()

        async def cancel_soon() -> None:
            await anyio.sleep(0.25)
            token.cancel("shutdown")

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            with pytest.raises(brace.Cancelled) as info:
                await rl.acquire(cancel=token)
        assert info.value.reason == "shutdown"
        assert _now() == _at(0.25)
        assert _stats(rl) == (0, 1, 0)
        assert rl.retry_after() == _at(0.75)

    async def test_cancelled_token_raises_at_once(self) -> None:
        """A token cancelled beforehand raises even if capacity is there."""
        rl = RateLimiter(1)
        token = brace.CancelToken()
        token.cancel("stop")
        with pytest.raises(brace.Cancelled):
            await rl.acquire(cancel=token)
        assert rl.try_acquire()

    async def test_token_unused_when_granted_at_once(self) -> None:
        """An active token does not slow or change an immediate grant."""
        rl = RateLimiter(1)
        await rl.acquire(cancel=brace.CancelToken())
        assert _stats(rl) == (0, 1, 0)

    async def test_token_wait_then_grant(self) -> None:
        """A waiter with an active token is granted normally."""
        rl = RateLimiter(2)
        await rl.acquire()
        await rl.acquire(cancel=brace.CancelToken())
        assert _now() == _at(0.5)

    async def test_cancel_at_the_instant_of_the_grant(self) -> None:
        """A cancel at the grant's instant either grants (and counts) or not."""
        rl = RateLimiter(1)
        await rl.acquire()
        outcome: list[str] = []

        async def waiter(scope: anyio.CancelScope) -> None:
            with scope:
                await rl.acquire()
                outcome.append("granted")
                return
            outcome.append("cancelled")

        async with anyio.create_task_group() as tg:
            scope = anyio.CancelScope()
            tg.start_soon(waiter, scope)
            await anyio.sleep(1.0)  # wakes at the same instant as the waiter
            scope.cancel()
        waiting, acquired, _ = _stats(rl)
        assert waiting == 0
        assert acquired == (2 if outcome == ["granted"] else 1)
        assert rl.retry_after() == _at(1.0 if outcome == ["granted"] else 0.0)


@pytest.mark.asyncio
async def test_asyncio_timeout_while_waiting() -> None:
    """asyncio.timeout cancels a waiter cleanly."""
    rl = RateLimiter(1)
    await rl.acquire()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await rl.acquire()
    assert _stats(rl) == (0, 1, 0)
    await rl.acquire()
    assert asyncio.get_running_loop().time() == _at(1.0)


@pytest.mark.asyncio
async def test_cancel_right_after_promotion() -> None:
    """A waiter cancelled after it was woken, before it ran, takes nothing."""
    rl = RateLimiter(1)
    await rl.acquire()
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def first() -> None:
        await rl.acquire()  # granted at 1 s, waking the second on its way out
        tasks[0].cancel()  # woken, not yet running

    head = asyncio.create_task(first())
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(rl.acquire()))
    await asyncio.sleep(0)
    third = asyncio.create_task(rl.acquire())
    await asyncio.sleep(0)
    await head
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    await third
    assert loop.time() == _at(2.0)
    assert _stats(rl) == (0, 3, 0)


@pytest.mark.asyncio
async def test_cancel_right_after_the_timer() -> None:
    """The head cancelled after its timer fired, before it ran, takes nothing."""
    rl = RateLimiter(1)
    await rl.acquire()
    loop = asyncio.get_running_loop()
    head = asyncio.create_task(rl.acquire())
    await asyncio.sleep(0)  # head's timer for t=1 is now in the heap
    # Due at the same instant and scheduled after it, so it runs right
    # after the timer resolved the head's future, before the head runs.
    loop.call_at(1.0, head.cancel)
    with pytest.raises(asyncio.CancelledError):
        await head
    assert loop.time() == _at(1.0)
    assert _stats(rl) == (0, 1, 0)
    assert rl.try_acquire()


@pytest.mark.asyncio
async def test_token_cancelled_from_another_thread() -> None:
    """A token cancelled in a worker thread ends the wait on the loop."""
    rl = RateLimiter(1)
    await rl.acquire()
    token = brace.CancelToken()
    loop = asyncio.get_running_loop()

    async def cancel_from_thread() -> None:
        await asyncio.sleep(0)
        await loop.run_in_executor(None, token.cancel, "thread")

    canceller = asyncio.create_task(cancel_from_thread())
    with pytest.raises(brace.Cancelled) as info:
        await rl.acquire(cancel=token)
    await canceller
    assert info.value.reason == "thread"
    assert _stats(rl) == (0, 1, 0)


# -- the shared shapes ------------------------------------------------------------


class TestShapes:
    """Decorator, call() and async with take one unit each."""

    def test_decorator_keeps_signature(self) -> None:
        """The decorated function keeps its name, docs and signature."""

        async def fetch(url: str, *, retries: int = 3) -> bytes:
            """Fetch it."""
            return b""

        for rl in (RateLimiter(1), RateLimiter(1, algorithm="fixed_window")):
            wrapped = rl(fetch)
            assert wrapped.__name__ == "fetch"
            assert wrapped.__doc__ == "Fetch it."
            assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
            assert inspect.signature(wrapped) == inspect.signature(fetch)
            assert inspect.iscoroutinefunction(wrapped)

    def test_decorating_sync_function_raises(self) -> None:
        """Only async functions can be decorated."""

        def sync() -> None:
            return None

        with pytest.raises(TypeError, match="try_acquire"):
            RateLimiter(1)(sync)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"burst": 2},
            {"algorithm": "fixed_window"},
            {"algorithm": "sliding_window", "segments": 2},
        ],
    )
    async def test_decorator_waits_its_turn(self, kwargs: dict[str, Any]) -> None:
        """Decorated calls pass their arguments and wait for capacity."""
        rl = RateLimiter(2, **kwargs)

        @rl
        async def double(x: int) -> tuple[int, float]:
            return 2 * x, _now()

        results = [await double(i) for i in range(3)]
        assert [r[0] for r in results] == [0, 2, 4]
        expected = {
            "token_bucket": (0, 0, 0.5),
            "fixed_window": (0, 0, 1.0),
            "sliding_window": (0, 0, 1.5),
        }[rl.algorithm]
        assert [r[1] for r in results] == [_at(t) for t in expected]
        assert _stats(rl) == (0, 3, 0)

    async def test_decorator_behind_a_waiter(self) -> None:
        """A decorated call queues behind waiters even when capacity is there."""
        rl = RateLimiter(1, burst=2)

        @rl
        async def now() -> float:
            return _now()

        await rl.acquire(2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(rl.acquire, 2)
            await anyio.sleep(1.5)
            assert await now() == _at(3.0)

    async def test_decorator_after_a_pause(self) -> None:
        """A decorated call after the bucket refilled takes the quickest path."""
        rl = RateLimiter(2, burst=2)

        @rl
        async def now() -> float:
            return _now()

        assert [await now(), await now()] == [_at(0), _at(0)]
        await anyio.sleep(5)
        assert [await now(), await now(), await now()] == [_at(5), _at(5), _at(5.5)]
        assert rl.statistics().acquired == 5

    async def test_decorates_partials(self) -> None:
        """functools.partial of an async function decorates."""

        async def add(a: int, b: int) -> int:
            return a + b

        assert await RateLimiter(5)(functools.partial(add, 1))(2) == 3

    async def test_call(self) -> None:
        """call() takes a unit, then awaits the function with its arguments."""
        rl = RateLimiter(1)

        async def echo(x: int, *, y: int) -> tuple[int, int]:
            return x, y

        assert await rl.call(echo, 1, y=2) == (1, 2)
        assert await rl.call(echo, 3, y=4) == (3, 4)
        assert _now() == _at(1.0)

    @pytest.mark.parametrize("algorithm", ["token_bucket", "fixed_window"])
    async def test_async_with(self, algorithm: str) -> None:
        """async with takes one unit per entry and waits when it must."""
        rl = RateLimiter(1, algorithm=algorithm)
        entered = []
        for _ in range(3):
            async with rl:
                entered.append(_now())
        assert entered == [_at(0), _at(1), _at(2)]
        assert _stats(rl) == (0, 3, 0)

    async def test_async_with_burst(self) -> None:
        """Entries within the burst all go at once."""
        rl = RateLimiter(1, burst=3)
        for _ in range(3):
            async with rl:
                assert _now() == _at(0)
        assert _stats(rl) == (0, 3, 0)

    async def test_async_with_does_not_swallow(self) -> None:
        """Exceptions in the block propagate."""
        with pytest.raises(KeyError):
            async with RateLimiter(1):
                raise KeyError("x")


# -- windows --------------------------------------------------------------------


class TestWindows:
    """Fixed and sliding windows, to the exact instant."""

    async def test_fixed_window(self) -> None:
        """Fixed windows reset at multiples of per on the loop clock."""
        rl = RateLimiter(3, per=2.0, algorithm="fixed_window")
        await anyio.sleep(1.5)
        times = await _grant_times(rl, [2, 1, 1, 3, 1])
        # Granted at 1.5 (window [0, 2)), then 2.0, 2.0, 4.0, 6.0.
        assert times == [_at(t - 1.5) for t in (1.5, 1.5, 2.0, 4.0, 6.0)]
        assert rl.statistics().available == 2
        assert rl.retry_after(3) == _at(2.0)
        await anyio.sleep(2)
        assert rl.statistics().available == 3

    async def test_sliding_window_holds_for_every_interval(self) -> None:
        """At most rate units per interval of per; a unit frees up within a segment."""
        rl = RateLimiter(4, per=1.0, algorithm="sliding_window", segments=4)
        await anyio.sleep(0.1)
        assert await _grant_times(rl, [2, 2]) == [_at(0), _at(0)]
        assert rl.retry_after(1) == _at(1.15)  # the segment of 0.1 ends at 0.25
        await anyio.sleep(0.5)  # t = 0.6
        assert rl.statistics().available == 0
        assert not rl.try_acquire()
        await anyio.sleep(0.65)  # t = 1.25: the first segment has left
        assert rl.statistics().available == 4
        assert rl.try_acquire(3)
        assert rl.retry_after(2) == _at(1.25)

    async def test_sliding_window_waits_are_fifo(self) -> None:
        """Waiters on a sliding window are served in order, at segment starts."""
        rl = RateLimiter(2, per=1.0, algorithm="sliding_window", segments=2)
        times = await _grant_times(rl, [1, 1, 2, 1, 1])
        assert times == [_at(t) for t in (0, 0, 1.5, 3.0, 3.0)]

    async def test_sliding_window_long_idle(self) -> None:
        """After a long pause every segment is forgotten."""
        rl = RateLimiter(2, per=1.0, algorithm="sliding_window", segments=3)
        await rl.acquire(2)
        await anyio.sleep(1000)
        assert rl.statistics().available == 2
        assert rl.try_acquire(2)


# -- events ----------------------------------------------------------------------


class TestEvents:
    """RateLimitRejected and RateLimitWaited, built only when listened to."""

    async def test_rejected_by_try_acquire(self) -> None:
        """A refused try_acquire emits RateLimitRejected with retry_after."""
        seen: list[_events.Event] = []
        rl = RateLimiter(2, name="api", listeners=[seen.append])
        assert rl.try_acquire()
        assert not rl.try_acquire()
        assert seen == [
            _events.RateLimitRejected(name="api", cost=1, retry_after=_at(0.5))
        ]

    async def test_rejected_by_max_wait(self) -> None:
        """RateLimited is announced by a RateLimitRejected event."""
        seen: list[_events.Event] = []
        rl = RateLimiter(1, max_wait=0.5)
        await rl.acquire()
        with _events.subscribe(seen.append), pytest.raises(brace.RateLimited):
            await rl.acquire()
        assert seen == [
            _events.RateLimitRejected(
                name="<ratelimiter>", cost=1, retry_after=_at(1.0)
            )
        ]

    async def test_waited(self) -> None:
        """A request that waited emits RateLimitWaited; immediate ones do not."""
        seen: list[_events.Event] = []
        rl = RateLimiter(4, burst=2, listeners=[seen.append])
        await rl.acquire(2)
        await rl.acquire(2)
        assert seen == [
            _events.RateLimitWaited(name="<ratelimiter>", cost=2, waited=_at(0.5))
        ]


# -- loops, threads ---------------------------------------------------------------


def test_reused_across_loops_reads_the_current_clock() -> None:
    """A limiter used on one loop, then another, reads the new loop's clock."""
    rl = RateLimiter(1)

    async def first() -> None:
        await rl.acquire()  # TAT = 1 on this loop's clock
        await asyncio.sleep(100)

    async def second() -> tuple[bool, float]:
        return rl.try_acquire(), rl.retry_after()

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(first())
    with asyncio.Runner(
        loop_factory=lambda: VirtualTimeEventLoop(start=0.25)
    ) as runner:
        # The first loop ended at 100; this one reads 0.25.
        assert runner.run(second()) == (False, 0.75)


def test_loops_in_two_threads() -> None:
    """Limiters on a loop in another thread never read this thread's loop."""
    other = VirtualTimeEventLoop(start=1000.0)
    thread = threading.Thread(target=other.run_forever)
    thread.start()
    try:
        theirs = RateLimiter(1)

        async def use_there() -> float:
            theirs.try_acquire()
            return theirs.retry_after()

        assert asyncio.run_coroutine_threadsafe(use_there(), other).result(5) == 1.0

        async def here() -> tuple[float, float]:
            mine = RateLimiter(1)
            assert mine.try_acquire()
            return mine.retry_after(), asyncio.get_running_loop().time()

        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            assert runner.run(here()) == (1.0, 0.0)
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()


def test_uvloop() -> None:
    """On uvloop (another asyncio loop class) the limiter works the same.

    The wait is proved by the limiter's refusal and its RateLimitWaited
    event, not by reading uvloop's clock: that clock has millisecond
    resolution, and a 1 ms wait sometimes read as 0.0 (a flaky assertion).
    """
    uvloop = pytest.importorskip("uvloop")
    waited: list[_events.Event] = []
    rl = RateLimiter(1000, burst=2, listeners=[waited.append])

    async def main() -> bool:
        await rl.acquire(2)
        refused = not rl.try_acquire()
        await rl.acquire()  # waits about 1 ms of real time
        return refused

    assert uvloop.run(main())
    assert rl.statistics().acquired == 2
    assert [type(e).__name__ for e in waited] == [
        "RateLimitRejected",
        "RateLimitWaited",
    ]


def test_outside_a_loop() -> None:
    """try_acquire and statistics work in synchronous code, on the monotonic clock."""
    rl = RateLimiter(1)
    assert rl.try_acquire()
    assert not rl.try_acquire()
    assert 0 < rl.retry_after() <= 1.0


@pytest.mark.asyncio
async def test_late_grant_replans() -> None:
    """A grant later than planned (a busy loop) replans the estimates behind it."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeEventLoop)
    rl = RateLimiter(1, max_wait=10)
    await rl.acquire()
    head = asyncio.create_task(rl.acquire())  # planned for t=1
    await asyncio.sleep(0)
    second = asyncio.create_task(rl.acquire())  # planned for t=2
    await asyncio.sleep(0)
    assert rl.retry_after() == _at(3.0)
    # The loop is held up for 5 s just as the head's timer fires.
    loop.call_at(1.0, loop.advance, 5.0)
    await head
    assert loop.time() == _at(6.0)
    assert rl.retry_after() == _at(2.0)  # second at 7, then 8: not 3
    await second
    assert loop.time() == _at(7.0)
