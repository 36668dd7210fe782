"""Tests for brace.testing: the virtual-time loop and instant retries."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import anyio
import pytest

import brace
from brace import _time, testing

T = TypeVar("T")


def _run(
    main: Callable[[], Coroutine[Any, Any, T]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] = (
        testing.VirtualTimeEventLoop
    ),
) -> T:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


# -- the virtual-time loop -----------------------------------------------------


class TestVirtualTimeEventLoop:
    """The loop's clock jumps to the next timer when every task is idle."""

    def test_sleep_jumps_with_runner(self) -> None:
        """sleep(3600) under asyncio.Runner returns at once, clock exactly +3600."""

        async def main() -> tuple[float, float]:
            loop = asyncio.get_running_loop()
            assert isinstance(loop, testing.VirtualTimeEventLoop)
            start = loop.time()
            await asyncio.sleep(3600)
            return start, loop.time()

        real_start = time.perf_counter()
        start, end = _run(main)
        assert end - start == 3600
        assert time.perf_counter() - real_start < 0.2

    def test_virtual_time_loop_factory(self) -> None:
        """virtual_time_loop() is a loop factory for asyncio.Runner."""

        async def main() -> float:
            await asyncio.sleep(10**6)  # beyond asyncio's one-day select cap
            return asyncio.get_running_loop().time()

        assert _run(main, loop_factory=testing.virtual_time_loop) == 10**6

    def test_start(self) -> None:
        """The clock starts at start= and is a float."""
        loop = testing.VirtualTimeEventLoop(start=100)
        try:
            assert loop.time() == 100.0
            assert type(loop.time()) is float
        finally:
            loop.close()

    def test_timers_fire_in_order(self) -> None:
        """Concurrent sleepers wake in deadline order at their exact times."""

        async def main() -> list[tuple[str, float]]:
            loop = asyncio.get_running_loop()
            woke: list[tuple[str, float]] = []

            async def sleeper(name: str, delay: float) -> None:
                await asyncio.sleep(delay)
                woke.append((name, loop.time()))

            await asyncio.gather(sleeper("c", 3), sleeper("a", 1), sleeper("b", 2))
            return woke

        assert _run(main) == [("a", 1.0), ("b", 2.0), ("c", 3.0)]

    def test_cancelled_timer_is_skipped(self) -> None:
        """A cancelled earlier timer does not stop the clock from jumping past it."""

        async def main() -> float:
            loop = asyncio.get_running_loop()
            handle = loop.call_later(5, lambda: None)
            handle.cancel()
            await asyncio.sleep(10)
            return loop.time()

        assert _run(main) == 10.0

    def test_policy_gives_virtual_loops(self) -> None:
        """VirtualTimePolicy().new_event_loop() gives a virtual-time loop."""
        loop = testing.VirtualTimePolicy().new_event_loop()
        try:
            assert isinstance(loop, testing.VirtualTimeEventLoop)
            assert loop.time() == 0.0
            assert loop.run_until_complete(asyncio.sleep(50, result="r")) == "r"
            assert loop.time() == 50.0
        finally:
            loop.close()

    def test_jump_without_timers_keeps_time(self) -> None:
        """With no timer scheduled, a jump leaves the clock where it is."""
        loop = testing.VirtualTimeEventLoop(start=7)
        try:
            loop._jump()
            assert loop.time() == 7.0
        finally:
            loop.close()


@pytest.mark.asyncio
class TestVirtualTimeInTasks:
    """advance() and real I/O on the running virtual loop."""

    async def test_advance_moves_clock_and_runs_due_timers(self) -> None:
        """advance() moves the clock; timers it passes run on the next turn."""
        loop = asyncio.get_running_loop()
        assert isinstance(loop, testing.VirtualTimeEventLoop)
        start = loop.time()
        sleeper = asyncio.create_task(asyncio.sleep(5))
        await asyncio.sleep(0)
        loop.advance(10)
        assert loop.time() - start == 10
        await sleeper  # already due: the clock neither jumps nor goes back
        assert loop.time() - start == 10

    async def test_advance_zero(self) -> None:
        """advance(0) is allowed and changes nothing."""
        loop = asyncio.get_running_loop()
        assert isinstance(loop, testing.VirtualTimeEventLoop)
        start = loop.time()
        loop.advance(0)
        assert loop.time() == start

    @pytest.mark.parametrize("bad", [-1, -0.001, math.nan, math.inf, -math.inf])
    async def test_advance_rejects_bad_values(self, bad: float) -> None:
        """advance() rejects negative and non-finite amounts, clock unchanged."""
        loop = asyncio.get_running_loop()
        assert isinstance(loop, testing.VirtualTimeEventLoop)
        start = loop.time()
        with pytest.raises(ValueError, match="advance"):
            loop.advance(bad)
        assert loop.time() == start

    async def test_run_in_executor_completes(self) -> None:
        """Real work in a worker thread completes and takes no virtual time."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        result = await loop.run_in_executor(None, sum, range(1000))
        assert result == sum(range(1000))
        assert loop.time() == start

    async def test_socket_io_completes(self) -> None:
        """Real socket I/O works on the virtual loop."""
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            reader = asyncio.create_task(loop.sock_recv(b, 5))
            await asyncio.sleep(0)
            await loop.sock_sendall(a, b"hello")
            assert await reader == b"hello"

    async def test_ready_io_is_served_before_jumping(self) -> None:
        """I/O that is ready is handled first; the clock does not jump past it."""
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(b, readable.set_result, None)
            sleeper = asyncio.create_task(asyncio.sleep(100))
            await asyncio.sleep(0)
            start = loop.time()
            a.send(b"x")
            try:
                await readable  # a timer is pending, but the socket is ready
            finally:
                loop.remove_reader(b)
            assert loop.time() == start
            await sleeper
            assert loop.time() - start == 100

    async def test_timers_jump_while_io_is_in_flight(self) -> None:
        """As documented, pending timers are jumped to while a thread still works."""
        loop = asyncio.get_running_loop()
        release = threading.Event()
        worker = loop.run_in_executor(None, release.wait, 1.0)
        start = loop.time()
        await asyncio.sleep(100)  # the worker is still blocked: time jumps
        assert loop.time() - start == 100
        assert not worker.done()
        release.set()
        assert await worker is True


# -- instant() -------------------------------------------------------------------


def _flaky(failures: int) -> tuple[list[float], Callable[[], Awaitable[str]]]:
    calls: list[float] = []

    async def fn() -> str:
        calls.append(anyio.current_time())
        if len(calls) <= failures:
            raise ValueError(len(calls))
        return "ok"

    return calls, fn


class TestInstant:
    """instant() zeroes retry delays and optionally caps attempts."""

    pytestmark = pytest.mark.anyio

    async def test_zeroes_delays(self) -> None:
        """A retry failing 4 times with 100 s backoff finishes at elapsed 0."""
        policy = brace.Retry(
            on=ValueError, attempts=5, backoff=brace.Backoff.constant(100)
        )
        calls, fn = _flaky(4)
        start = anyio.current_time()
        with testing.instant():
            assert await policy.call(fn) == "ok"
        assert len(calls) == 5
        assert anyio.current_time() - start == 0

    async def test_without_instant_delays_are_real(self) -> None:
        """The same retry without instant() waits 4 x 100 virtual seconds."""
        policy = brace.Retry(
            on=ValueError, attempts=5, backoff=brace.Backoff.constant(100)
        )
        calls, fn = _flaky(4)
        start = anyio.current_time()
        assert await policy.call(fn) == "ok"
        assert [c - start for c in calls] == [0, 100, 200, 300, 400]

    async def test_caps_attempts(self) -> None:
        """instant(attempts=2) stops a 5-attempt policy after 2 attempts."""
        policy = brace.Retry(
            on=ValueError, attempts=5, backoff=brace.Backoff.constant(100)
        )
        calls, fn = _flaky(4)
        with testing.instant(attempts=2), pytest.raises(ValueError, match="2"):
            await policy.call(fn)
        assert len(calls) == 2

    async def test_nests_and_restores(self) -> None:
        """Nested instant() blocks apply the innermost state and restore the outer."""
        policy = brace.Retry(
            on=ValueError, attempts=5, backoff=brace.Backoff.constant(100)
        )
        start = anyio.current_time()
        with testing.instant(attempts=2):
            with testing.instant():
                calls, fn = _flaky(4)
                assert await policy.call(fn) == "ok"
                assert len(calls) == 5
            calls, fn = _flaky(4)
            with pytest.raises(ValueError):
                await policy.call(fn)
            assert len(calls) == 2
        assert _time.instant_mode() is None
        assert anyio.current_time() - start == 0


def test_instant_state_and_restore_on_error() -> None:
    """instant() sets the process-wide mode and restores it even on error."""
    assert _time.instant_mode() is None
    seen: list[_time.InstantMode | None] = []

    def body() -> None:
        with testing.instant(attempts=3):
            seen.append(_time.instant_mode())
            raise KeyError

    with pytest.raises(KeyError):
        body()
    assert seen == [_time.InstantMode(attempts=3)]
    assert _time.instant_mode() is None


@pytest.mark.parametrize("attempts", [0, -1, True, False, 2.0, "2"])
def test_instant_rejects_bad_attempts(attempts: Any) -> None:
    """instant() rejects attempts that are not an int >= 1, before changing state."""
    block = testing.instant(attempts=attempts)
    with pytest.raises(ValueError, match="attempts"):
        block.__enter__()
    assert _time.instant_mode() is None


def test_public_names() -> None:
    """brace.testing exports exactly its documented tools."""
    assert sorted(testing.__all__) == [
        "Chaos",
        "ChaosStatistics",
        "EventLog",
        "VirtualTimeEventLoop",
        "VirtualTimePolicy",
        "assert_emitted",
        "assert_gave_up",
        "assert_retried",
        "capture_events",
        "enable_chaos",
        "instant",
        "virtual_time_loop",
    ]
