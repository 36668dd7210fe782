"""Tests for brace.ConcurrencyLimiter: slots, the waiting room, order,
resizing, rejection, events and cancellation on asyncio and trio."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace import _events
from brace._limiter import ConcurrencyLimiter, LimiterStatistics
from brace._limiter_waiter import Waiter
from brace._time import running_loop
from brace.testing import VirtualTimeEventLoop

anyio_mark = pytest.mark.anyio
# Every test that needs "let every task run until it blocks" sleeps this long:
# on the virtual clocks that is instant and exact.
STEP = 1.0


async def settle() -> None:
    """Run every other task until it blocks (virtual time moves by STEP)."""
    await anyio.sleep(STEP)


def stats(lim: ConcurrencyLimiter) -> tuple[int, int, int, int]:
    """(active, waiting, acquired, rejected)."""
    s = lim.statistics()
    return s.active, s.waiting, s.acquired, s.rejected


class Holder:
    """Tasks that take a slot through ``async with`` and hold it until told."""

    def __init__(self, lim: ConcurrencyLimiter) -> None:
        self.lim = lim
        self.log: list[tuple[str, object]] = []
        self.gates: dict[object, anyio.Event] = {}

    async def hold(self, key: object) -> None:
        gate = self.gates[key] = anyio.Event()
        try:
            async with self.lim:
                self.log.append(("in", key))
                await gate.wait()
        except brace.LimiterFull:
            self.log.append(("full", key))

    def let_go(self, key: object) -> None:
        self.gates[key].set()

    def entered(self) -> list[object]:
        return [key for what, key in self.log if what == "in"]

    def shed(self) -> list[object]:
        return [key for what, key in self.log if what == "full"]


def bursts(seq: Sequence[object], *ends: int) -> list[set[object]]:
    """*seq* cut at *ends*, each part as a set; the parts must cover *seq*."""
    assert len(seq) == (ends[-1] if ends else 0), seq
    starts = (0, *ends[:-1])
    return [set(seq[a:b]) for a, b in zip(starts, ends, strict=True)]


# -- construction --------------------------------------------------------------


class TestConstruction:
    """Bad configuration fails at construction with a message saying what to do."""

    @pytest.mark.parametrize("value", [0, -1, 1.5, True, "2", None])
    def test_rejects_bad_max_concurrent(self, value: Any) -> None:
        """max_concurrent must be an int >= 1."""
        with pytest.raises(ValueError, match="max_concurrent must be an int >= 1"):
            ConcurrencyLimiter(value)

    @pytest.mark.parametrize("value", [-1, 1.5, True, "10", math.inf])
    def test_rejects_bad_max_waiting(self, value: Any) -> None:
        """max_waiting must be an int >= 0 or None."""
        with pytest.raises(ValueError, match="max_waiting must be an int >= 0"):
            ConcurrencyLimiter(1, max_waiting=value)

    def test_rejects_bad_order(self) -> None:
        """order is 'fifo' or 'lifo', nothing else."""
        with pytest.raises(ValueError, match="order must be 'fifo' or 'lifo'"):
            ConcurrencyLimiter(1, order="random")  # type: ignore[arg-type]

    def test_rejects_non_callable_listener(self) -> None:
        """listeners must be callables."""
        with pytest.raises(TypeError, match="listeners must be callables"):
            ConcurrencyLimiter(1, listeners=[42])  # type: ignore[list-item]

    def test_defaults_and_properties(self) -> None:
        """Built outside a loop; bounded waiting room and FIFO by default."""
        lim = ConcurrencyLimiter(3)
        assert lim.max_concurrent == 3
        assert lim.max_waiting == ConcurrencyLimiter.DEFAULT_MAX_WAITING == 1000
        assert lim.order == "fifo"
        assert lim.name is None
        assert lim.listeners == ()
        assert lim.statistics() == LimiterStatistics(
            active=0,
            waiting=0,
            acquired=0,
            rejected=0,
            max_concurrent=3,
            max_waiting=1000,
        )
        unbounded = ConcurrencyLimiter(1, max_waiting=None, order="lifo", name="db")
        assert unbounded.max_waiting is None
        assert unbounded.statistics().max_waiting is None
        assert unbounded.order == "lifo"

    def test_statistics_is_frozen(self) -> None:
        """The snapshot cannot be changed."""
        snapshot = ConcurrencyLimiter(1).statistics()
        with pytest.raises(AttributeError):
            snapshot.active = 3  # type: ignore[misc]

    def test_repr(self) -> None:
        """repr shows the name, the slots in use and the waiters."""
        assert repr(ConcurrencyLimiter(2)) == (
            "<ConcurrencyLimiter active=0/2 waiting=0>"
        )
        lim = ConcurrencyLimiter(2, name="db")
        lim.acquire_nowait()
        assert repr(lim) == "<ConcurrencyLimiter 'db' active=1/2 waiting=0>"

    def test_decorating_sync_function_raises(self) -> None:
        """Only async functions can be guarded."""

        def sync() -> None:
            return None

        with pytest.raises(TypeError, match="only guard async functions"):
            ConcurrencyLimiter(1)(sync)  # type: ignore[arg-type]

    def test_decorator_keeps_signature(self) -> None:
        """The wrapper keeps name, docstring, signature and coroutine-ness."""

        async def fetch(url: str, *, tries: int = 3) -> bytes:
            """Fetch it."""
            return b""

        wrapped = ConcurrencyLimiter(1)(fetch)
        assert wrapped.__name__ == "fetch"
        assert wrapped.__doc__ == "Fetch it."
        assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(fetch)
        assert inspect.iscoroutinefunction(wrapped)

    @pytest.mark.parametrize("value", [0, -2, 2.5])
    def test_resize_below_one_raises(self, value: Any) -> None:
        """max_concurrent never goes below 1, and a failed resize changes nothing."""
        lim = ConcurrencyLimiter(4)
        with pytest.raises(ValueError, match="max_concurrent"):
            lim.max_concurrent = value
        assert lim.max_concurrent == 4


# -- the spellings and the slot's lifetime -----------------------------------------


@anyio_mark
class TestSpellings:
    """Decorator, call(), async with and acquire/release all take and give back."""

    async def test_decorator_passes_arguments_and_result(self) -> None:
        """A decorated call returns its result and frees its slot."""
        lim = ConcurrencyLimiter(2)
        seen: list[tuple[int, int]] = []

        @lim
        async def add(a: int, *, b: int) -> int:
            seen.append(stats(lim)[:2])
            return a + b

        assert await add(1, b=2) == 3
        assert seen == [(1, 0)]
        assert stats(lim) == (0, 0, 1, 0)

    async def test_call(self) -> None:
        """call() runs the function holding a slot, with its arguments."""
        lim = ConcurrencyLimiter(1)

        async def echo(x: int, *, y: str) -> str:
            assert lim.statistics().active == 1
            return f"{x}{y}"

        assert await lim.call(echo, 1, y="a") == "1a"
        assert stats(lim) == (0, 0, 1, 0)

    async def test_async_with(self) -> None:
        """async with holds a slot for the block."""
        lim = ConcurrencyLimiter(1)
        async with lim as entered:
            assert entered is None
            assert stats(lim) == (1, 0, 1, 0)
        assert stats(lim) == (0, 0, 1, 0)

    async def test_acquire_release(self) -> None:
        """acquire() and release() pair up; a free slot never yields."""
        lim = ConcurrencyLimiter(2)
        start = anyio.current_time()
        await lim.acquire()
        await lim.acquire(cancel=brace.CancelToken())
        assert stats(lim) == (2, 0, 2, 0)
        lim.release()
        lim.release()
        assert stats(lim) == (0, 0, 2, 0)
        assert anyio.current_time() == start

    async def test_method_decoration(self) -> None:
        """The decorator works on methods (self is passed through)."""
        lim = ConcurrencyLimiter(1)

        class Service:
            @lim
            async def get(self, x: int) -> int:
                return x * 2

        assert await Service().get(4) == 8

    async def test_decorates_partials_and_async_callables(self) -> None:
        """functools.partial of async functions and async __call__ objects work."""

        class Fetcher:
            async def __call__(self, x: int) -> int:
                return x + 1

        async def mul(a: int, b: int) -> int:
            return a * b

        lim = ConcurrencyLimiter(1)
        assert await lim(Fetcher())(1) == 2
        assert await lim(functools.partial(mul, 3))(4) == 12

    @pytest.mark.parametrize("spelling", ["decorator", "call", "async_with"])
    async def test_slot_released_when_call_raises(self, spelling: str) -> None:
        """The slot comes back when the protected call raises; the error passes."""
        lim = ConcurrencyLimiter(1)

        async def boom() -> None:
            raise KeyError("x")

        with pytest.raises(KeyError):
            if spelling == "decorator":
                await lim(boom)()
            elif spelling == "call":
                await lim.call(boom)
            else:
                async with lim:
                    await boom()
        assert stats(lim) == (0, 0, 1, 0)

    @pytest.mark.parametrize("spelling", ["decorator", "call", "async_with"])
    async def test_slot_released_when_call_cancelled(self, spelling: str) -> None:
        """A protected call cancelled while it runs gives its slot back."""
        lim = ConcurrencyLimiter(1)

        async def slow() -> None:
            await anyio.sleep(10)

        with anyio.move_on_after(1) as scope:
            if spelling == "decorator":
                await lim(slow)()
            elif spelling == "call":
                await lim.call(slow)
            else:
                async with lim:
                    await slow()
        assert scope.cancelled_caught
        assert stats(lim) == (0, 0, 1, 0)

    async def test_release_without_acquire_raises(self) -> None:
        """Releasing more than acquired is a clear RuntimeError, state intact."""
        lim = ConcurrencyLimiter(2)
        with pytest.raises(RuntimeError, match="no slot taken"):
            lim.release()
        await lim.acquire()
        lim.release()
        with pytest.raises(RuntimeError, match="release once per successful"):
            lim.release()
        assert stats(lim) == (0, 0, 1, 0)

    async def test_never_more_than_max_concurrent(self) -> None:
        """20 calls on 3 slots: at most 3 run at once, all finish, in 7 rounds."""
        lim = ConcurrencyLimiter(3, max_waiting=None)
        running = peak = 0

        @lim
        async def work() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await anyio.sleep(1)
            running -= 1

        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(work)
        assert peak == 3
        assert anyio.current_time() - start == 7.0
        assert stats(lim) == (0, 0, 20, 0)


# -- the waiting room and order ------------------------------------------------------


@anyio_mark
class TestWaitingRoom:
    """Bounded waiting, load shedding, FIFO and LIFO."""

    async def test_acquire_nowait_raises_when_full(self) -> None:
        """acquire_nowait sheds with LimiterFull when no slot is free."""
        lim = ConcurrencyLimiter(1, name="db")
        lim.acquire_nowait()
        with pytest.raises(brace.LimiterFull) as info:
            lim.acquire_nowait()
        assert info.value.name == "db"
        assert info.value.code is brace.ErrorCode.LIMITER_FULL
        assert isinstance(info.value, brace.RejectedError)
        assert "'db'" in str(info.value)
        assert stats(lim) == (1, 0, 1, 1)

    async def test_acquire_nowait_does_not_overtake_waiters(self) -> None:
        """With waiters queued, acquire_nowait still finds no free slot."""
        lim = ConcurrencyLimiter(1)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.hold, "a")
            await settle()
            tg.start_soon(h.hold, "b")
            await settle()
            h.let_go("a")
            # Whether or not "a" has released yet (the slot then went
            # straight to "b", not back to the pool), nothing is free.
            await anyio.sleep(0)
            with pytest.raises(brace.LimiterFull):
                lim.acquire_nowait()
            await settle()
            assert h.entered() == ["a", "b"]
            h.let_go("b")

    async def test_max_waiting_zero_never_waits(self) -> None:
        """max_waiting=0 rejects at once when every slot is taken."""
        lim = ConcurrencyLimiter(1, max_waiting=0)
        await lim.acquire()
        start = anyio.current_time()
        with pytest.raises(brace.LimiterFull):
            await lim.acquire()
        with pytest.raises(brace.LimiterFull):
            async with lim:
                pass
        assert anyio.current_time() == start
        assert stats(lim) == (1, 0, 1, 2)

    @pytest.mark.parametrize("order", ["fifo", "lifo"])
    async def test_max_waiting_zero_lifo_and_fifo(self, order: Any) -> None:
        """With no waiting room there is nobody to evict: LIFO rejects too."""
        lim = ConcurrencyLimiter(1, max_waiting=0, order=order)
        lim.acquire_nowait()
        with pytest.raises(brace.LimiterFull):
            await lim.acquire()

    async def test_full_waiting_room_sheds_newcomers_fifo(self) -> None:
        """FIFO: a full waiting room rejects the newcomer; waiters keep places."""
        lim = ConcurrencyLimiter(1, max_waiting=2)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            for key in "abcd":
                tg.start_soon(h.hold, key)
                await settle()
            assert h.shed() == ["d"]
            assert stats(lim) == (1, 2, 1, 1)
            for key in "abc":
                h.let_go(key)
                await settle()
        assert h.entered() == ["a", "b", "c"]
        assert stats(lim) == (0, 0, 3, 1)

    async def test_lifo_serves_newest_and_evicts_oldest(self) -> None:
        """LIFO: newest waiter first; a full room evicts the oldest waiter."""
        lim = ConcurrencyLimiter(1, max_waiting=3, order="lifo")
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            for key in "abcde":
                tg.start_soon(h.hold, key)
                await settle()
            # a runs; b, c, d waited; e arrived to a full room: b is evicted.
            assert h.shed() == ["b"]
            assert stats(lim) == (1, 3, 1, 1)
            for key in "aedc":
                h.let_go(key)
                await settle()
        assert h.entered() == ["a", "e", "d", "c"]
        assert stats(lim) == (0, 0, 4, 1)

    async def test_fifo_strict_under_bursts(self) -> None:
        """Waiters are granted in arrival order even when slots free in bursts."""
        lim = ConcurrencyLimiter(3, max_waiting=None)
        h = Holder(lim)
        keys = list(range(15))
        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(h.hold, key)
                await settle()  # arrive one after the other
            assert h.entered() == [0, 1, 2]
            # Three slots free in the same instant, then latecomers arrive
            # while the handed-over waiters have not run yet.
            for key in (0, 1, 2):
                h.let_go(key)
            tg.start_soon(h.hold, "late")
            await settle()
            # Tasks granted in the same instant start in the scheduler's
            # order (trio shuffles it on purpose), so compare each burst as
            # a set; asyncio runs them in grant order.
            assert bursts(h.entered(), 3, 6) == [{0, 1, 2}, {3, 4, 5}]
            lim.max_concurrent = 6  # a resize is a burst too
            await settle()
            assert bursts(h.entered(), 3, 6, 9) == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}]
            if running_loop() is not None:
                assert h.entered() == list(range(9))
            for key in range(3, 15):
                h.let_go(key)
                await settle()
            h.let_go("late")
        assert bursts(h.entered(), 3, 6, *range(9, 17)) == [
            {0, 1, 2},
            {3, 4, 5},
            {6, 7, 8},
            *({key} for key in [*keys[9:], "late"]),
        ]
        assert stats(lim) == (0, 0, 16, 0)


# -- resizing ------------------------------------------------------------------


@anyio_mark
class TestResize:
    """max_concurrent is adjustable while the limiter is in use."""

    async def test_grow_admits_waiters_at_once(self) -> None:
        """Growing the limit hands the new slots to waiters, in order, at once."""
        lim = ConcurrencyLimiter(1)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            for key in "abcd":
                tg.start_soon(h.hold, key)
                await settle()  # one after the other: a definite order
            lim.max_concurrent = 3
            assert stats(lim)[:2] == (3, 1)
            await settle()
            assert bursts(h.entered(), 1, 3) == [{"a"}, {"b", "c"}]
            lim.max_concurrent = 10
            await settle()
            assert bursts(h.entered(), 1, 3, 4) == [{"a"}, {"b", "c"}, {"d"}]
            for key in "abcd":
                h.let_go(key)
        assert stats(lim) == (0, 0, 4, 0)

    async def test_shrink_takes_effect_as_slots_are_released(self) -> None:
        """Shrinking never interrupts; new calls wait until active < new limit."""
        lim = ConcurrencyLimiter(3)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            for key in "abcde":
                tg.start_soon(h.hold, key)
                await settle()  # one after the other: a definite order
            lim.max_concurrent = 1
            assert lim.statistics().active == 3  # nobody interrupted
            h.let_go("a")
            await settle()
            assert stats(lim)[:2] == (2, 2)  # no handover above the limit
            h.let_go("b")
            await settle()
            assert stats(lim)[:2] == (1, 2)
            assert h.entered() == ["a", "b", "c"]
            h.let_go("c")
            await settle()
            assert h.entered() == ["a", "b", "c", "d"]
            assert stats(lim)[:2] == (1, 1)
            h.let_go("d")
            await settle()
            h.let_go("e")
        assert h.entered() == list("abcde")
        assert stats(lim) == (0, 0, 5, 0)

    async def test_grow_with_nobody_waiting(self) -> None:
        """Growing an idle limiter just raises the limit."""
        lim = ConcurrencyLimiter(1)
        lim.max_concurrent = 2
        lim.acquire_nowait()
        lim.acquire_nowait()
        assert stats(lim) == (2, 0, 2, 0)


# -- cancellation ----------------------------------------------------------------


@anyio_mark
class TestCancellation:
    """Cancelled waiters leave no trace and never leak or duplicate a slot."""

    async def test_cancelled_waiter_leaves_no_trace(self) -> None:
        """A waiter cancelled by move_on_after is neither waiting nor rejected."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        with anyio.move_on_after(1) as scope:
            await lim.acquire()
        assert scope.cancelled_caught
        assert stats(lim) == (1, 0, 1, 0)
        lim.release()  # nobody is waiting: the slot goes back to the pool
        assert stats(lim) == (0, 0, 1, 0)

    async def test_cancelled_decorated_waiter_runs_nothing(self) -> None:
        """A decorated call cancelled while waiting never runs the function."""
        lim = ConcurrencyLimiter(1)
        ran: list[int] = []

        @lim
        async def work(i: int) -> None:
            ran.append(i)
            await anyio.sleep(5)

        async with anyio.create_task_group() as tg:
            tg.start_soon(work, 1)
            await settle()
            with anyio.move_on_after(1):
                await work(2)
            with anyio.move_on_after(1):
                await lim.call(work, 3)
        assert ran == [1]
        assert stats(lim) == (0, 0, 1, 0)

    async def test_task_group_cancels_waiters(self) -> None:
        """A failing sibling cancels waiters through the task group: no trace."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()

        async def fail() -> None:
            await anyio.sleep(2)
            raise LookupError("sibling failed")

        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(lim.acquire)
                tg.start_soon(fail)
        assert info.group_contains(LookupError)
        assert stats(lim) == (1, 0, 1, 0)
        lim.release()
        assert stats(lim) == (0, 0, 1, 0)

    async def test_cancelled_middle_waiter_keeps_order(self) -> None:
        """Cancelling one waiter does not disturb the order of the others."""
        lim = ConcurrencyLimiter(1)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.hold, "a")
            await settle()
            b_scope = anyio.CancelScope()
            async with anyio.create_task_group() as inner:

                async def b() -> None:
                    with b_scope:
                        await h.hold("b")

                inner.start_soon(b)
                await settle()
                tg.start_soon(h.hold, "c")
                await settle()
                b_scope.cancel()
            assert stats(lim)[:2] == (1, 1)
            h.let_go("a")
            await settle()
            h.let_go("c")
        assert h.entered() == ["a", "c"]
        assert stats(lim) == (0, 0, 2, 0)

    async def test_release_and_cancel_in_the_same_instant(self) -> None:
        """A waiter cancelled as its slot arrives: no leak, no over-admission."""
        lim = ConcurrencyLimiter(1)
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.hold, "a")
            await settle()
            scope = anyio.CancelScope()

            async def b() -> None:
                with scope:
                    await h.hold("b")

            tg.start_soon(b)
            await settle()
            tg.start_soon(h.hold, "c")
            await settle()
            h.let_go("a")
            await anyio.sleep(0)  # "a" releases: the slot is handed to "b"
            scope.cancel()
            await settle()
            assert lim.statistics().active == 1
            h.let_go("c")
        # Whichever of b and c got the slot, exactly the slots taken came back.
        assert "c" in h.entered()
        assert stats(lim)[:2] == (0, 0)

    async def test_lifo_eviction_skips_departed_waiters(self) -> None:
        """The oldest waiter that already left is not evicted again."""
        lim = ConcurrencyLimiter(1, max_waiting=2, order="lifo")
        await lim.acquire()
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            with anyio.move_on_after(1):
                await lim.acquire()  # the oldest waiter: leaves after 1 s
            for key in "bc":
                tg.start_soon(h.hold, key)
                await settle()
            tg.start_soon(h.hold, "d")  # room full: evicts b, not the departed
            await settle()
            assert h.shed() == ["b"]
            lim.release()
            await settle()
            h.let_go("d")
            await settle()
            h.let_go("c")
        assert h.entered() == ["d", "c"]
        assert stats(lim) == (0, 0, 3, 1)

    async def test_many_cancelled_waiters_are_compacted(self) -> None:
        """Departed waiters do not pile up in memory while the limiter is full."""
        lim = ConcurrencyLimiter(1, max_waiting=None)
        await lim.acquire()
        h = Holder(lim)
        async with anyio.create_task_group() as tg:
            tg.start_soon(h.hold, "first")
            with anyio.CancelScope() as crowd:
                async with anyio.create_task_group() as inner:
                    for _ in range(500):
                        inner.start_soon(lim.acquire)
                    await settle()
                    tg.start_soon(h.hold, "last")
                    await settle()
                    crowd.cancel()
            await settle()
            assert lim.statistics().waiting == 2
            assert len(lim._waiters) <= 2 * 2 + 32
            lim.release()
            await settle()
            h.let_go("first")
            await settle()
            h.let_go("last")
        assert h.entered() == ["first", "last"]
        assert stats(lim) == (0, 0, 3, 0)


# -- cancel tokens -----------------------------------------------------------------


@anyio_mark
class TestCancelToken:
    """acquire(cancel=token)."""

    async def test_token_cancels_wait(self) -> None:
        """Cancelling the token while waiting raises Cancelled; no trace left."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        token = brace.CancelToken()

        async def cancel_later() -> None:
            await anyio.sleep(3)
            token.cancel("shutdown")

        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_later)
            with pytest.raises(brace.Cancelled) as info:
                await lim.acquire(cancel=token)
        assert info.value.reason == "shutdown"
        assert anyio.current_time() - start == 3.0
        assert stats(lim) == (1, 0, 1, 0)
        lim.release()
        assert stats(lim) == (0, 0, 1, 0)

    async def test_cancelled_token_raises_even_with_free_slot(self) -> None:
        """An already cancelled token raises at once and takes nothing."""
        lim = ConcurrencyLimiter(1)
        token = brace.CancelToken()
        token.cancel("stop")
        with pytest.raises(brace.Cancelled, match="stop"):
            await lim.acquire(cancel=token)
        assert stats(lim) == (0, 0, 0, 0)

    async def test_token_after_acquiring_is_ignored(self) -> None:
        """A token cancelled after the slot was granted changes nothing."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        token = brace.CancelToken()
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(lim.acquire, cancel=token))
            await settle()
            lim.release()  # handed to the waiter...
            token.cancel()  # ...which is cancelled in the same instant
            await settle()
        assert stats(lim) == (1, 0, 2, 0)
        lim.release()

    async def test_token_waiter_is_skipped_by_release(self) -> None:
        """A token-cancelled waiter gives way to the next one."""
        lim = ConcurrencyLimiter(1)
        h = Holder(lim)
        token = brace.CancelToken()
        outcome: list[str] = []

        async def waiter() -> None:
            try:
                await lim.acquire(cancel=token)
            except brace.Cancelled:
                outcome.append("cancelled")

        async with anyio.create_task_group() as tg:
            tg.start_soon(h.hold, "a")
            await settle()
            tg.start_soon(waiter)
            await settle()
            tg.start_soon(h.hold, "c")
            await settle()
            token.cancel()
            assert stats(lim)[:2] == (1, 1)
            h.let_go("a")
            await settle()
            h.let_go("c")
        assert outcome == ["cancelled"]
        assert h.entered() == ["a", "c"]

    async def test_token_cancelled_from_another_thread(self) -> None:
        """CancelToken.cancel() from a worker thread wakes the waiter safely."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        token = brace.CancelToken()
        outcome: list[object] = []

        async def waiter() -> None:
            try:
                await lim.acquire(cancel=token)
            except brace.Cancelled as exc:
                outcome.append(exc.reason)

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await settle()
            await anyio.to_thread.run_sync(token.cancel, "from thread")
        assert outcome == ["from thread"]
        assert stats(lim) == (1, 0, 1, 0)
        lim.release()

    async def test_listener_cancelling_token_during_admission(self) -> None:
        """A token cancelled by an event listener mid-acquire raises Cancelled."""
        token = brace.CancelToken()
        lim = ConcurrencyLimiter(
            1, max_waiting=1, order="lifo", listeners=[lambda _: token.cancel("x")]
        )
        await lim.acquire()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_swallow, lim.acquire())
            await settle()
            # The newcomer evicts the waiter; the eviction event cancels its
            # own token before it starts waiting.
            with pytest.raises(brace.Cancelled):
                await lim.acquire(cancel=token)
        assert stats(lim) == (1, 0, 1, 1)


# -- events ------------------------------------------------------------------------


@anyio_mark
class TestEvents:
    """Rejections and waits are reported as events."""

    async def test_rejection_events(self) -> None:
        """no_slot, waiting_room_full and evicted, to listeners= and subscribers."""
        local: list[_events.Event] = []
        lim = ConcurrencyLimiter(
            1, max_waiting=1, order="lifo", name="db", listeners=[local.append]
        )
        fifo = ConcurrencyLimiter(1, max_waiting=0)
        seen: list[_events.Event] = []
        with brace.subscribe(seen.append, _events.LimiterRejected):
            lim.acquire_nowait()
            with pytest.raises(brace.LimiterFull):
                lim.acquire_nowait()
            async with anyio.create_task_group() as tg:
                tg.start_soon(_swallow, lim.acquire())
                await settle()
                tg.start_soon(_swallow, lim.acquire())
                await settle()
                lim.release()
            fifo.acquire_nowait()
            with pytest.raises(brace.LimiterFull):
                await fifo.acquire()
        expected = [
            _events.LimiterRejected(
                name="db", reason="no_slot", max_concurrent=1, waiting=0
            ),
            _events.LimiterRejected(
                name="db", reason="evicted", max_concurrent=1, waiting=0
            ),
        ]
        # The evicting waiter got the slot released above, one step later.
        assert local == [*expected, _events.LimiterWaited(name="db", waited=STEP)]
        assert seen == [
            *expected,
            _events.LimiterRejected(
                name="<limiter>",
                reason="waiting_room_full",
                max_concurrent=1,
                waiting=0,
            ),
        ]

    async def test_waited_event_has_exact_wait(self) -> None:
        """A call that waited reports how long, on the loop's clock."""
        seen: list[_events.Event] = []
        lim = ConcurrencyLimiter(1, name="api", listeners=[seen.append])

        @lim
        async def work() -> None:
            await anyio.sleep(2.5)

        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            await anyio.sleep(0.5)
            tg.start_soon(work)
        assert seen == [_events.LimiterWaited(name="api", waited=2.0)]

    async def test_no_waited_event_if_nobody_listened_at_start(self) -> None:
        """A wait that began unobserved is not reported (its start is unknown)."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        seen: list[_events.Event] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lim.acquire)
            await settle()
            with brace.subscribe(seen.append):
                lim.release()
                await settle()
        assert seen == []
        lim.release()

    async def test_no_waited_event_if_listener_left(self) -> None:
        """A global subscriber gone by the time the slot comes gets nothing."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        seen: list[_events.Event] = []
        async with anyio.create_task_group() as tg:
            with brace.subscribe(seen.append):
                tg.start_soon(lim.acquire)
                await settle()
            lim.release()
        assert seen == []
        lim.release()


@anyio_mark
async def test_trio_entry_mimics_a_future() -> None:
    """The non-asyncio waiting-room entry answers like a future does."""
    granted = Waiter()
    assert not granted.done()
    granted.set_result(1)
    assert (granted.done(), granted.cancelled(), granted.result()) == (True, False, 1)
    assert granted.event.is_set()
    gone = Waiter()
    gone.cancel()
    assert (gone.done(), gone.cancelled()) == (True, True)
    assert not gone.event.is_set()


async def _swallow(aw: Awaitable[object]) -> None:
    with contextlib.suppress(brace.LimiterFull):
        await aw


# -- asyncio specifics -----------------------------------------------------------------


class TestAsyncio:
    """Cancellation paths that only asyncio's task model can reach."""

    @pytest.mark.asyncio
    async def test_cancel_at_the_instant_of_grant_hands_the_slot_on(self) -> None:
        """task.cancel() right after the handover passes the slot to the next."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        b = asyncio.create_task(lim.acquire())
        c = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        assert stats(lim)[:2] == (1, 2)
        lim.release()  # the slot is now b's...
        b.cancel()  # ...and b is cancelled before it could run
        with pytest.raises(asyncio.CancelledError):
            await b
        assert stats(lim)[:2] == (1, 0)
        await c  # b passed the slot on to c
        assert stats(lim) == (1, 0, 2, 0)
        lim.release()
        assert stats(lim)[:2] == (0, 0)

    @pytest.mark.asyncio
    async def test_cancel_at_grant_without_next_waiter_frees_slot(self) -> None:
        """With nobody else waiting, the refused slot goes back to the pool."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        b = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        lim.release()
        b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await b
        assert stats(lim) == (0, 0, 1, 0)

    @pytest.mark.asyncio
    async def test_release_skips_cancelled_but_not_yet_run_waiter(self) -> None:
        """A waiter cancelled but not yet resumed is skipped by a release."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        b = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        b.cancel()  # b's future is cancelled now; b runs its cleanup later
        lim.release()
        assert stats(lim)[:2] == (0, 1)
        with pytest.raises(asyncio.CancelledError):
            await b
        assert stats(lim) == (0, 0, 1, 0)

    @pytest.mark.asyncio
    async def test_room_counts_waiter_until_it_has_left(self) -> None:
        """A cancelled waiter holds its place in the room until its task runs."""
        lim = ConcurrencyLimiter(1, max_waiting=1, order="lifo")
        await lim.acquire()
        b = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        b.cancel()
        with pytest.raises(brace.LimiterFull):
            await lim.acquire()  # nobody alive to evict, and the room is full
        with pytest.raises(asyncio.CancelledError):
            await b
        assert stats(lim) == (1, 0, 1, 1)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("how", ["evicted", "token"])
    async def test_turned_away_and_cancelled_in_one_instant(self, how: str) -> None:
        """Task cancellation wins over an eviction or token in the same instant."""
        lim = ConcurrencyLimiter(1, max_waiting=1, order="lifo")
        await lim.acquire()
        token = brace.CancelToken()
        b = asyncio.create_task(lim.acquire(cancel=token))
        await asyncio.sleep(0)
        if how == "evicted":
            c = asyncio.create_task(lim.acquire())
            await asyncio.sleep(0)  # c evicts b; b has not run since
        else:
            token.cancel()
        b.cancel()
        with pytest.raises(asyncio.CancelledError):
            await b
        assert lim.statistics().rejected == (1 if how == "evicted" else 0)
        lim.release()
        if how == "evicted":
            await c
        assert stats(lim)[:2] == ((1, 0) if how == "evicted" else (0, 0))

    @pytest.mark.asyncio
    async def test_default_waiting_room_is_bounded(self) -> None:
        """Without max_waiting=, 1000 calls wait and the 1001st is shed."""
        lim = ConcurrencyLimiter(1)
        lim.acquire_nowait()
        waiters = [
            asyncio.create_task(lim.acquire())
            for _ in range(ConcurrencyLimiter.DEFAULT_MAX_WAITING)
        ]
        await asyncio.sleep(0)
        assert lim.statistics().waiting == ConcurrencyLimiter.DEFAULT_MAX_WAITING
        with pytest.raises(brace.LimiterFull):
            await lim.acquire()
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert stats(lim) == (1, 0, 1, 1)

    @pytest.mark.asyncio
    async def test_asyncio_timeout_and_wait_for(self) -> None:
        """asyncio.timeout and wait_for cancel a waiter without a trace."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await lim.acquire()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(lim.acquire(), 2)
        assert loop.time() - start == 3.0
        assert stats(lim) == (1, 0, 1, 0)

    @pytest.mark.asyncio
    async def test_asyncio_task_group(self) -> None:
        """An asyncio.TaskGroup whose child fails cancels the waiters cleanly."""
        lim = ConcurrencyLimiter(2)
        ran: list[int] = []

        @lim
        async def work(i: int) -> None:
            ran.append(i)
            await asyncio.sleep(10)

        async def fail() -> None:
            await asyncio.sleep(1)
            raise LookupError

        with pytest.raises(ExceptionGroup):
            async with asyncio.TaskGroup() as tg:
                for i in range(6):
                    tg.create_task(work(i))
                tg.create_task(fail())
        assert ran == [0, 1]
        assert stats(lim) == (0, 0, 2, 0)

    @pytest.mark.asyncio
    async def test_foreign_exception_thrown_into_wait(self) -> None:
        """An exception other than cancellation thrown into a wait leaves cleanly."""
        lim = ConcurrencyLimiter(1)
        await lim.acquire()
        coro = lim.acquire()
        fut = coro.send(None)  # runs up to the wait; yields the future
        assert isinstance(fut, asyncio.Future)
        with pytest.raises(LookupError):
            coro.throw(LookupError("interrupted"))
        assert fut.cancelled()
        assert stats(lim) == (1, 0, 1, 0)
        lim.release()
        assert stats(lim) == (0, 0, 1, 0)


# -- interleavings, against a reference model ---------------------------------------


class Model:
    """What the limiter must do, step by step, in plain Python."""

    def __init__(self, slots: int, room: int | None, lifo: bool) -> None:
        self.max = slots
        self.room = math.inf if room is None else room
        self.lifo = lifo
        self.active = 0
        self.waiters: list[int] = []
        self.acquired = 0
        self.rejected = 0
        self.granted: list[int] = []
        self.outcome: dict[int, str] = {}

    def _grant(self) -> None:
        w = self.waiters.pop() if self.lifo else self.waiters.pop(0)
        self.granted.append(w)
        self.outcome[w] = "held"
        self.acquired += 1
        assert self.active <= self.max

    def arrive(self, i: int) -> None:
        if self.active < self.max:
            self.active += 1
            self.acquired += 1
            self.granted.append(i)
            self.outcome[i] = "held"
        elif len(self.waiters) < self.room:
            self.waiters.append(i)
            self.outcome[i] = "waiting"
        elif self.lifo and self.room:
            gone = self.waiters.pop(0)
            self.outcome[gone] = "rejected"
            self.rejected += 1
            self.waiters.append(i)
            self.outcome[i] = "waiting"
        else:
            self.rejected += 1
            self.outcome[i] = "rejected"

    def nowait(self) -> bool:
        if self.active < self.max:
            self.active += 1
            self.acquired += 1
            return True
        self.rejected += 1
        return False

    def release(self) -> None:
        if self.waiters and self.active <= self.max:
            self._grant()
        else:
            self.active -= 1

    def leave(self, i: int, how: str) -> None:
        self.waiters.remove(i)
        self.outcome[i] = how

    def resize(self, n: int) -> None:
        self.max = n
        while self.active < self.max and self.waiters:
            self.active += 1
            self._grant()

    def next_waiter(self) -> int:
        return self.waiters[-1] if self.lifo else self.waiters[0]


# Arrivals and releases are weighted up so that most sequences build a
# queue for the other operations to act on; the int picks a waiter (cancel,
# token) or a new size (resize).
KINDS = [
    *["arrive"] * 4,
    *["release"] * 2,
    "nowait",
    "cancel",
    "token",
    "resize",
    "grant_cancel",
    "grant_token",
]
OPS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 7)), min_size=8, max_size=40
)


async def _interleave(
    slots: int, room: int | None, order: Any, ops: list[tuple[Any, ...]]
) -> None:
    """Apply *ops* to a limiter and to the model; compare after every step."""
    lim = ConcurrencyLimiter(slots, max_waiting=room, order=order)
    model = Model(slots, room, order == "lifo")
    outcome: dict[int, str] = {}
    granted: list[int] = []
    tokens: list[brace.CancelToken] = []
    on_asyncio = running_loop() is not None
    cancellers: list[Callable[[], object]] = []
    tasks: list[asyncio.Task[None]] = []
    steps: list[int] = []

    async def worker(i: int) -> None:
        try:
            await lim.acquire(cancel=tokens[i])
        except brace.LimiterFull:
            outcome[i] = "rejected"
        except brace.Cancelled:
            outcome[i] = "token"
        except anyio.get_cancelled_exc_class():
            outcome[i] = "cancelled"
            raise
        else:
            outcome[i] = "held"
            granted.append(i)

    async with anyio.create_task_group() as tg:

        def spawn(i: int) -> None:
            if on_asyncio:
                task = asyncio.create_task(worker(i))
                tasks.append(task)
                cancellers.append(task.cancel)
            else:
                scope = anyio.CancelScope()

                async def run() -> None:
                    with scope:
                        await worker(i)

                tg.start_soon(run)
                cancellers.append(scope.cancel)

        for op in ops:
            kind = op[0]
            if kind == "arrive":
                i = len(tokens)
                tokens.append(brace.CancelToken())
                spawn(i)
                model.arrive(i)
            elif kind == "release":
                if model.active:
                    lim.release()
                    model.release()
                else:
                    with pytest.raises(RuntimeError):
                        lim.release()
            elif kind == "nowait":
                if model.nowait():
                    lim.acquire_nowait()
                else:
                    with pytest.raises(brace.LimiterFull):
                        lim.acquire_nowait()
            elif kind in ("cancel", "token") and model.waiters:
                i = model.waiters[op[1] % len(model.waiters)]
                if kind == "cancel":
                    cancellers[i]()
                    model.leave(i, "cancelled")
                else:
                    tokens[i].cancel()
                    model.leave(i, "token")
            elif kind == "resize":
                size = 1 + op[1] % 4
                lim.max_concurrent = size
                model.resize(size)
            elif kind.startswith("grant_") and model.waiters and model.active:
                if model.active > model.max:
                    continue  # a release would not hand over: nothing to race
                i = model.next_waiter()
                lim.release()
                if kind == "grant_token":
                    tokens[i].cancel()  # too late: the slot is already i's
                    model.release()
                else:
                    cancellers[i]()
                    if on_asyncio:
                        # i refuses the slot and passes it on.
                        model.leave(i, "cancelled")
                        model.release()
                    else:
                        # trio had already rescheduled i: it keeps the slot.
                        model.release()
            await settle()
            s = lim.statistics()
            assert (s.active, s.waiting) == (model.active, len(model.waiters))
            assert (s.acquired, s.rejected) == (model.acquired, model.rejected)
            assert s.max_concurrent == model.max
            # Grants of one step happen in one instant; their tasks then
            # run in scheduler order. Across steps the order is exact.
            steps.append(len(model.granted))
            assert bursts(granted, *steps) == bursts(model.granted, *steps)
            if on_asyncio:
                assert granted == model.granted
            assert outcome == {k: v for k, v in model.outcome.items() if v != "waiting"}
        # Tear down: every waiter leaves, every slot comes back.
        for i in list(model.waiters):
            cancellers[i]()
            model.leave(i, "cancelled")
        await settle()
        while model.active:
            lim.release()
            model.release()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    s = lim.statistics()
    assert (s.active, s.waiting) == (0, 0)
    assert all(entry.done() for entry in lim._waiters)


def _run(backend: str, main: Callable[[], Awaitable[None]]) -> None:
    if backend == "asyncio":
        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            runner.run(main())  # type: ignore[arg-type]
    else:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


SIZES = {
    "slots": st.integers(1, 3),
    "room": st.one_of(st.none(), st.integers(0, 3)),
    "order": st.sampled_from(["fifo", "lifo"]),
    "ops": OPS,
}


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=30, deadline=None)
@given(**SIZES)
def test_interleavings_match_model(
    backend: str, slots: int, room: int | None, order: str, ops: list[Any]
) -> None:
    """Random acquire/release/cancel/resize sequences match the reference model."""
    _run(backend, functools.partial(_interleave, slots, room, order, ops))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=150, deadline=None)
@given(**SIZES)
def test_interleavings_match_model_thoroughly(
    backend: str, slots: int, room: int | None, order: str, ops: list[Any]
) -> None:
    """The same, with five times as many sequences (about a second each)."""
    _run(backend, functools.partial(_interleave, slots, room, order, ops))
