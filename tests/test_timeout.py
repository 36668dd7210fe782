"""Tests for brace.Timeout: the three spellings, who reports when, cancellation."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import functools
import inspect
import math
from typing import Any

import anyio
import pytest

import brace
from brace import _timeout

pytestmark = pytest.mark.anyio


async def _sleep_then(delay: float, value: Any = "done") -> Any:
    await anyio.sleep(delay)
    return value


def _elapsed_since(start: float) -> float:
    return anyio.current_time() - start


# -- construction ------------------------------------------------------------


class TestConstruction:
    """Construction and decoration errors are raised at once."""

    @pytest.mark.parametrize("value", [0, 0.0, -1, -0.5, math.nan, math.inf, -math.inf])
    def test_rejects_bad_numbers(self, value: float) -> None:
        """Zero, negative and non-finite limits raise ValueError at construction."""
        with pytest.raises(ValueError, match="timeout"):
            brace.Timeout(value)

    @pytest.mark.parametrize("value", ["1", None, True, [1.0]])
    def test_rejects_non_numbers(self, value: Any) -> None:
        """A limit that is not a number or timedelta raises TypeError."""
        with pytest.raises(TypeError, match="timeout"):
            brace.Timeout(value)

    def test_rejects_zero_timedelta(self) -> None:
        """A zero timedelta is as invalid as 0."""
        with pytest.raises(ValueError, match="> 0"):
            brace.Timeout(dt.timedelta(0))

    def test_accepts_timedelta_and_int(self) -> None:
        """Timedeltas and ints convert to float seconds."""
        assert brace.Timeout(dt.timedelta(milliseconds=1500)).seconds == 1.5
        assert brace.Timeout(2).seconds == 2.0
        assert type(brace.Timeout(2).seconds) is float

    def test_function_spelling_is_the_same_object(self) -> None:
        """brace.timeout is the Timeout class itself."""
        assert brace.timeout is brace.Timeout
        assert brace.timeout(3) == brace.Timeout(3)

    def test_is_frozen(self) -> None:
        """The policy is immutable, so it is safe to share."""
        t = brace.Timeout(1)
        with pytest.raises(AttributeError):
            t.seconds = 2.0  # type: ignore[misc]

    def test_decorating_sync_function_raises(self) -> None:
        """Decorating a non-async function raises TypeError naming the problem."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async"):
            brace.Timeout(1)(sync)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            brace.Timeout(1)(lambda: None)  # type: ignore[arg-type,return-value]

    async def test_decorates_partials_and_async_callables(self) -> None:
        """Partials of async functions and objects with async __call__ decorate."""

        class Fetcher:
            async def __call__(self, delay: float) -> str:
                await anyio.sleep(delay)
                return "fetched"

        limited = brace.Timeout(2)(Fetcher())
        assert await limited(1) == "fetched"
        with pytest.raises(brace.TimeoutError):
            await limited(3)
        partial = brace.Timeout(2)(functools.partial(_sleep_then, value="p"))
        assert await partial(1) == "p"

    def test_decorator_keeps_signature(self) -> None:
        """The decorated function keeps its name, docs and signature."""

        async def fetch(url: str, *, retries: int = 3) -> bytes:
            """Fetch it."""
            return b""

        wrapped = brace.Timeout(1)(fetch)
        assert wrapped.__name__ == "fetch"
        assert wrapped.__doc__ == "Fetch it."
        assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(fetch)
        assert inspect.iscoroutinefunction(wrapped)


# -- the three spellings ------------------------------------------------------


async def test_decorator_returns_result_in_time() -> None:
    """A decorated call that finishes in time returns its value, args passed."""

    @brace.Timeout(5)
    async def work(a: int, *, b: int) -> int:
        await anyio.sleep(4)
        return a + b

    start = anyio.current_time()
    assert await work(1, b=2) == 3
    assert _elapsed_since(start) == 4.0


async def test_decorator_raises_timeout_error_at_deadline() -> None:
    """A decorated call that overruns raises brace.TimeoutError at the deadline."""

    @brace.Timeout(2)
    async def slow() -> None:
        await anyio.sleep(10)

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await slow()
    assert _elapsed_since(start) == 2.0
    err = info.value
    assert isinstance(err, builtins.TimeoutError)
    assert isinstance(err, brace.BraceError)
    assert err.timeout == 2.0
    assert err.code is brace.ErrorCode.TIMEOUT
    assert err.name is not None
    assert err.name.endswith("slow")
    assert "timed out after 2 s" in str(err)
    assert isinstance(err.__cause__, anyio.get_cancelled_exc_class())


async def test_call_passes_args_and_returns() -> None:
    """.call(fn, *args, **kwargs) forwards arguments and returns the result."""
    start = anyio.current_time()
    assert await brace.Timeout(3).call(_sleep_then, 1, value="v") == "v"
    assert _elapsed_since(start) == 1.0


async def test_call_raises_timeout_error_named_after_function() -> None:
    """.call() raises brace.TimeoutError named after the called function."""
    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await brace.Timeout(1.5).call(_sleep_then, 10)
    assert _elapsed_since(start) == 1.5
    assert info.value.timeout == 1.5
    assert info.value.name == "_sleep_then"


async def test_async_with_in_time() -> None:
    """async with lets a block that finishes in time run to completion."""
    start = anyio.current_time()
    async with brace.Timeout(3):
        await anyio.sleep(2.5)
    assert _elapsed_since(start) == 2.5
    # Nothing fires later: the deadline was disarmed at exit.
    await anyio.sleep(10)
    assert _elapsed_since(start) == 12.5


async def test_async_with_raises_at_deadline() -> None:
    """async with raises brace.TimeoutError when its deadline interrupts the block."""
    start = anyio.current_time()
    reached_end: list[bool] = []

    async def block() -> None:
        async with brace.Timeout(3):
            await anyio.sleep(5)
            reached_end.append(True)

    with pytest.raises(brace.TimeoutError) as info:
        await block()
    assert reached_end == []
    assert _elapsed_since(start) == 3.0
    assert info.value.timeout == 3.0
    assert info.value.name is None
    assert str(info.value).startswith("timed out after 3 s")


async def test_work_taking_exactly_the_limit_times_out() -> None:
    """Work due at the very deadline times out: the limit is exclusive."""
    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError):
        await brace.Timeout(2).call(_sleep_then, 2)
    assert _elapsed_since(start) == 2.0


async def test_name_overrides_function_name() -> None:
    """name= names the error instead of the function's qualified name."""
    with pytest.raises(brace.TimeoutError) as info:
        await brace.Timeout(1, name="db").call(_sleep_then, 2)
    assert info.value.name == "db"
    assert str(info.value).startswith("db timed out")


async def test_user_exception_passes_through_unwrapped() -> None:
    """An exception raised inside the limit propagates unchanged."""
    boom = ValueError("boom")

    @brace.Timeout(5)
    async def fails() -> None:
        await anyio.sleep(1)
        raise boom

    with pytest.raises(ValueError, match="boom") as info:
        await fails()
    assert info.value is boom
    with pytest.raises(ValueError, match="boom"):
        await brace.Timeout(5).call(fails)
    with pytest.raises(ValueError, match="boom"):
        async with brace.Timeout(5):
            raise boom
    # The deadlines were all disarmed: sleeping past them is fine.
    start = anyio.current_time()
    await anyio.sleep(10)
    assert _elapsed_since(start) == 10.0


async def test_timeout_error_is_catchable_and_task_continues() -> None:
    """After a caught TimeoutError the task keeps running normally."""
    with pytest.raises(brace.TimeoutError):
        async with brace.Timeout(1):
            await anyio.sleep(2)
    start = anyio.current_time()
    await anyio.sleep(3)
    assert _elapsed_since(start) == 3.0


async def test_timeout_around_task_group() -> None:
    """A timeout around a task group cancels the children and reports TimeoutError."""
    finished: list[int] = []

    async def child(n: int) -> None:
        await anyio.sleep(n)
        finished.append(n)

    async def block() -> None:
        async with brace.Timeout(2.5), anyio.create_task_group() as tg:
            for n in (1, 2, 3, 4):
                tg.start_soon(child, n)

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError):
        await block()
    assert _elapsed_since(start) == 2.5
    assert finished == [1, 2]


async def test_swallowed_cancellation_does_not_raise() -> None:
    """A function that swallows the cancellation returns its value, no TimeoutError."""
    cancelled = anyio.get_cancelled_exc_class()

    async def stubborn() -> str:
        try:
            await anyio.sleep(10)
        except cancelled:
            return "swallowed"
        return "slept"  # pragma: no cover - the sleep is always interrupted

    start = anyio.current_time()
    assert await brace.Timeout(1).call(stubborn) == "swallowed"
    assert _elapsed_since(start) == 1.0
    # No cancellation is left over for the rest of the task.
    await anyio.sleep(2)
    assert _elapsed_since(start) == 3.0


# -- outer cancellation passes through ---------------------------------------


async def test_outer_move_on_after_passes_through_decorator() -> None:
    """An enclosing move_on_after cancels a decorated call as cancellation."""

    @brace.Timeout(5)
    async def slow() -> None:
        await anyio.sleep(10)

    start = anyio.current_time()
    with anyio.move_on_after(1) as scope:
        await slow()
    assert scope.cancelled_caught
    assert _elapsed_since(start) == 1.0


async def test_outer_move_on_after_passes_through_call() -> None:
    """An enclosing move_on_after cancels .call() as cancellation."""
    start = anyio.current_time()
    with anyio.move_on_after(1) as scope:
        await brace.Timeout(5).call(_sleep_then, 10)
    assert scope.cancelled_caught
    assert _elapsed_since(start) == 1.0


async def test_outer_move_on_after_passes_through_async_with() -> None:
    """An enclosing move_on_after cancels an async with block as cancellation."""
    start = anyio.current_time()
    with anyio.move_on_after(1) as scope:
        async with brace.Timeout(5):
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert _elapsed_since(start) == 1.0


async def test_outer_move_on_after_with_equal_deadline_reports() -> None:
    """An enclosing anyio deadline equal to the Timeout's wins: no TimeoutError."""
    start = anyio.current_time()
    with anyio.move_on_after(2) as scope:
        async with brace.Timeout(2):
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert _elapsed_since(start) == 2.0


async def test_inner_move_on_after_with_equal_deadline() -> None:
    """An inner anyio deadline equal to the Timeout's: the outer Timeout reports."""
    reached: list[bool] = []

    async def block() -> None:
        async with brace.Timeout(2):
            with anyio.move_on_after(2):
                await anyio.sleep(10)
            reached.append(True)  # pragma: no cover - must not be reached

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await block()
    assert reached == []
    assert info.value.timeout == 2.0
    assert _elapsed_since(start) == 2.0


async def test_inner_move_on_after_shorter() -> None:
    """An inner anyio deadline that fires first is handled inside; no TimeoutError."""
    start = anyio.current_time()
    async with brace.Timeout(5):
        with anyio.move_on_after(1) as scope:
            await anyio.sleep(10)
        assert scope.cancelled_caught
        await anyio.sleep(1)
    assert _elapsed_since(start) == 2.0


async def test_outer_cancel_scope_cancelled_from_other_task() -> None:
    """CancelScope.cancel() from another task passes through as cancellation."""
    start = anyio.current_time()
    outcome: list[str] = []

    async def guarded(scope: anyio.CancelScope) -> None:
        with scope:
            try:
                await brace.Timeout(5).call(_sleep_then, 10)
            except brace.TimeoutError:  # pragma: no cover - must not happen
                outcome.append("timeout")
                raise
        outcome.append("cancelled" if scope.cancelled_caught else "finished")

    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()
        tg.start_soon(guarded, scope)
        await anyio.sleep(3)
        scope.cancel()
    assert outcome == ["cancelled"]
    assert _elapsed_since(start) == 3.0


async def test_task_group_cancel_while_running() -> None:
    """Cancelling a task group cancels timed calls in it, without TimeoutError."""
    errors: list[BaseException] = []

    async def worker() -> None:
        try:
            await brace.Timeout(5).call(_sleep_then, 10)
        except BaseException as exc:
            errors.append(exc)
            raise

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(worker)
        await anyio.sleep(1)
        tg.cancel_scope.cancel()
    assert _elapsed_since(start) == 1.0
    assert len(errors) == 3
    assert all(isinstance(e, anyio.get_cancelled_exc_class()) for e in errors)


# -- nesting -----------------------------------------------------------------


async def test_nested_inner_expires_passes_through_outer() -> None:
    """Only the inner expired: its TimeoutError passes through the outer unchanged."""
    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        async with brace.Timeout(10), brace.Timeout(2):
            await anyio.sleep(5)
    assert info.value.timeout == 2.0
    assert _elapsed_since(start) == 2.0


async def test_nested_inner_expires_outer_keeps_running() -> None:
    """After the inner's TimeoutError is handled, the outer still limits the rest."""
    inner_errors: list[tuple[float, float]] = []

    async def block() -> None:
        async with brace.Timeout(4):
            try:
                await brace.Timeout(1).call(_sleep_then, 5)
            except brace.TimeoutError as exc:
                inner_errors.append((exc.timeout, _elapsed_since(start)))
            await anyio.sleep(10)

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await block()
    assert inner_errors == [(1.0, 1.0)]
    assert info.value.timeout == 4.0
    assert _elapsed_since(start) == 4.0


async def test_nested_outer_expires_first() -> None:
    """The outer's deadline passes while the inner's has not: the outer reports."""
    inner_saw: list[BaseException] = []

    @brace.Timeout(10)
    async def inner() -> None:
        try:
            await anyio.sleep(20)
        except BaseException as exc:
            inner_saw.append(exc)
            raise

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await brace.Timeout(3).call(inner)
    assert info.value.timeout == 3.0
    assert _elapsed_since(start) == 3.0
    assert len(inner_saw) == 1
    assert isinstance(inner_saw[0], anyio.get_cancelled_exc_class())


async def test_nested_simultaneous_deadlines_outer_reports() -> None:
    """Equal deadlines: the outer reports, so no code between them runs past it."""
    ran_after_inner: list[float] = []

    async def block() -> None:
        async with brace.Timeout(3):
            await anyio.sleep(1)
            try:
                async with brace.Timeout(2):  # also due at start + 3
                    await anyio.sleep(10)
            except brace.TimeoutError:  # pragma: no cover - the outer must report
                ran_after_inner.append(anyio.current_time())
                raise

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await block()
    assert info.value.timeout == 3.0
    assert ran_after_inner == []
    assert _elapsed_since(start) == 3.0


async def test_same_instance_nested_in_itself() -> None:
    """One instance can be nested in itself; each entry has its own deadline."""
    t = brace.Timeout(2)

    async def block() -> None:
        async with t:
            await anyio.sleep(1)
            async with t:  # due at start + 3, after the outer's start + 2
                await anyio.sleep(1.5)

    start = anyio.current_time()
    with pytest.raises(brace.TimeoutError):
        await block()
    assert _elapsed_since(start) == 2.0
    # Both entries were popped: a fresh entry works normally.
    async with t:
        await anyio.sleep(1)


async def test_aexit_without_aenter_raises() -> None:
    """__aexit__ without a matching __aenter__ in this task raises RuntimeError."""
    t = brace.Timeout(1)
    with pytest.raises(RuntimeError, match="without a matching __aenter__"):
        await t.__aexit__(None, None, None)
    other = brace.Timeout(1)
    async with t:
        with pytest.raises(RuntimeError, match="without a matching"):
            await other.__aexit__(None, None, None)
    assert _timeout._entries.get() is None


# -- sharing -----------------------------------------------------------------


async def test_shared_instance_gives_each_task_its_own_deadline() -> None:
    """100 concurrent tasks share one Timeout; each gets its own deadline and result."""
    limit = brace.Timeout(5)
    outcomes: dict[int, tuple[str, Any, float]] = {}

    @limit
    async def job(i: int, delay: float) -> int:
        await anyio.sleep(delay)
        return i * 10

    async def run(i: int) -> None:
        started_after = (i % 8) * 0.25  # staggered entries, exact in binary
        delay = (i % 20) * 0.5  # 0.0 .. 9.5; never exactly 5.0 after the entry
        if delay == 5.0:
            delay = 5.5
        await anyio.sleep(started_after)
        t0 = anyio.current_time()
        try:
            if i % 3 == 0:
                result: Any = await job(i, delay)
            elif i % 3 == 1:
                result = await limit.call(_sleep_then, delay, i * 10)
            else:
                async with limit:
                    await anyio.sleep(delay)
                result = i * 10
        except brace.TimeoutError as exc:
            outcomes[i] = ("timeout", exc.timeout, anyio.current_time() - t0)
        else:
            outcomes[i] = ("ok", result, anyio.current_time() - t0)

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(run, i)

    assert len(outcomes) == 100
    for i, outcome in outcomes.items():
        delay = (i % 20) * 0.5
        if delay == 5.0:
            delay = 5.5
        if delay < 5:
            assert outcome == ("ok", i * 10, delay), i
        else:
            assert outcome == ("timeout", 5.0, 5.0), i


async def test_child_tasks_have_their_own_entries() -> None:
    """Tasks started inside async with can enter and leave the same policy."""
    t = brace.Timeout(10)
    done: list[int] = []

    async def child(n: int) -> None:
        async with t:
            await anyio.sleep(n)
        done.append(n)

    start = anyio.current_time()
    async with t, anyio.create_task_group() as tg:
        for n in (3, 1, 2):
            tg.start_soon(child, n)
    assert sorted(done) == [1, 2, 3]
    assert _elapsed_since(start) == 3.0


# -- events ------------------------------------------------------------------


async def test_timeout_fired_events_local_and_global() -> None:
    """TimeoutFired reaches the policy's listeners and global subscribers."""
    local: list[brace.Event] = []
    seen: list[brace.Event] = []
    sub = brace.subscribe(seen.append, brace.TimeoutFired)
    try:
        t = brace.Timeout(1, listeners=[local.append])
        assert t.listeners == (local.append,)
        with pytest.raises(brace.TimeoutError):
            await t.call(_sleep_then, 2)
        with pytest.raises(brace.TimeoutError):
            async with t:
                await anyio.sleep(2)
        # In time: no event.
        await t.call(_sleep_then, 0.5)
    finally:
        sub.unsubscribe()
    expected = [
        brace.TimeoutFired(name="_sleep_then", timeout=1.0),
        brace.TimeoutFired(name="<timeout>", timeout=1.0),
    ]
    assert local == expected
    assert seen == expected


async def test_no_event_for_outer_cancellation() -> None:
    """Outer cancellation emits no TimeoutFired event."""
    local: list[brace.Event] = []
    with anyio.move_on_after(1):
        await brace.Timeout(5, listeners=[local.append]).call(_sleep_then, 10)
    assert local == []


async def test_broken_listener_does_not_change_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged; the TimeoutError still propagates."""

    def broken(event: brace.Event) -> None:
        raise RuntimeError("listener bug")

    with pytest.raises(brace.TimeoutError):
        await brace.Timeout(1, name="n", listeners=[broken]).call(_sleep_then, 2)
    assert "listener" in caplog.text


# -- asyncio specifics ---------------------------------------------------------


@pytest.mark.asyncio
class TestAsyncio:
    """asyncio-only behaviour: task cancellation counters and asyncio's timeouts."""

    @staticmethod
    def _task() -> asyncio.Task[Any]:
        task = asyncio.current_task()
        assert task is not None
        return task

    async def test_no_leftover_cancellation_when_not_fired(self) -> None:
        """A timeout that did not fire leaves cancelling() at 0 and sleep(0) works."""
        await brace.Timeout(5).call(asyncio.sleep, 1)
        async with brace.Timeout(5):
            await asyncio.sleep(1)
        assert self._task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_no_leftover_cancellation_after_firing(self) -> None:
        """After a caught TimeoutError the task has no pending cancellation."""
        for _ in range(3):
            with pytest.raises(brace.TimeoutError):
                async with brace.Timeout(1):
                    await asyncio.sleep(2)
        assert self._task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_swallowed_cancellation_leaves_no_count(self) -> None:
        """A function that swallows CancelledError leaves no stray cancel count."""

        async def stubborn() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return "swallowed"
            return "slept"  # pragma: no cover - always interrupted

        assert await brace.Timeout(1).call(stubborn) == "swallowed"
        assert self._task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_task_with_earlier_swallowed_cancel_still_times_out(self) -> None:
        """A task whose cancel count is already 1 at entry still gets TimeoutError."""
        task = self._task()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1)  # swallowed without uncancel(): count stays 1
        assert task.cancelling() == 1
        with pytest.raises(brace.TimeoutError):
            await brace.Timeout(1).call(asyncio.sleep, 5)
        assert task.cancelling() == 1  # the earlier request is left alone
        task.uncancel()

    async def test_cancel_converted_to_other_error_passes(self) -> None:
        """If the code turns the cancellation into another error, that error wins."""

        async def converts() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise KeyError("cleanup failed") from None

        with pytest.raises(KeyError):
            await brace.Timeout(1).call(converts)
        assert self._task().cancelling() == 0
        await asyncio.sleep(0)

    async def test_task_cancel_passes_through(self) -> None:
        """task.cancel() from outside propagates as CancelledError, not TimeoutError."""
        loop = asyncio.get_running_loop()
        inner: list[BaseException] = []

        @brace.Timeout(5)
        async def slow() -> None:
            try:
                await asyncio.sleep(10)
            except BaseException as exc:
                inner.append(exc)
                raise

        task = asyncio.create_task(slow())
        start = loop.time()
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert loop.time() - start == 1.0
        assert [type(e) for e in inner] == [asyncio.CancelledError]

    async def test_task_cancel_at_the_deadline_wins(self) -> None:
        """task.cancel() in the same instant as the deadline stays a cancellation."""
        loop = asyncio.get_running_loop()

        async def body() -> None:
            async with brace.Timeout(2):
                # Scheduled after the Timeout's own timer, due at the same time.
                loop.call_at(loop.time() + 2, task.cancel)
                await asyncio.sleep(10)

        task = asyncio.create_task(body())
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        # The outer request is still counted: the Timeout only took back its own.
        assert task.cancelling() == 1

    async def test_cancel_task_before_it_starts(self) -> None:
        """A task cancelled before its first step never enters the timeout."""
        task = asyncio.create_task(brace.Timeout(1).call(asyncio.sleep, 5))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_asyncio_timeout_outside_passes_through(self) -> None:
        """An enclosing asyncio.timeout reports its own TimeoutError, not brace's."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(builtins.TimeoutError) as info:
            async with asyncio.timeout(1):
                await brace.Timeout(5).call(asyncio.sleep, 10)
        assert not isinstance(info.value, brace.TimeoutError)
        assert loop.time() - start == 1.0
        assert self._task().cancelling() == 0

    async def test_asyncio_timeout_outside_equal_deadline(self) -> None:
        """An enclosing asyncio.timeout with the same deadline reports, not brace."""

        async def block() -> None:
            async with asyncio.timeout(2), brace.Timeout(2):
                await asyncio.sleep(10)

        with pytest.raises(builtins.TimeoutError) as info:
            await block()
        assert not isinstance(info.value, brace.TimeoutError)
        assert self._task().cancelling() == 0

    async def test_asyncio_timeout_inside_passes_through(self) -> None:
        """An inner asyncio.timeout's TimeoutError passes through brace's Timeout."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(builtins.TimeoutError) as info:
            async with brace.Timeout(5), asyncio.timeout(1):
                await asyncio.sleep(10)
        assert not isinstance(info.value, brace.TimeoutError)
        assert loop.time() - start == 1.0

    async def test_brace_outside_asyncio_timeout(self) -> None:
        """brace's Timeout expiring outside an asyncio.timeout reports brace's error."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(brace.TimeoutError) as info:
            async with brace.Timeout(1), asyncio.timeout(5):
                await asyncio.sleep(10)
        assert info.value.timeout == 1.0
        assert loop.time() - start == 1.0
        assert self._task().cancelling() == 0

    async def test_asyncio_task_group_inside(self) -> None:
        """A Timeout around an asyncio.TaskGroup cancels the children and reports."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        children: list[asyncio.Task[None]] = []
        with pytest.raises(brace.TimeoutError):
            async with brace.Timeout(1), asyncio.TaskGroup() as tg:
                children.extend(tg.create_task(asyncio.sleep(n)) for n in (5, 6))
        assert loop.time() - start == 1.0
        assert all(child.cancelled() for child in children)
        assert self._task().cancelling() == 0

    async def test_wait_for_outside(self) -> None:
        """asyncio.wait_for around a timed call reports wait_for's TimeoutError."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(builtins.TimeoutError) as info:
            await asyncio.wait_for(brace.Timeout(5).call(asyncio.sleep, 10), 1)
        assert not isinstance(info.value, brace.TimeoutError)
        assert loop.time() - start == 1.0

    async def test_wait_for_inside(self) -> None:
        """brace's Timeout around asyncio.wait_for reports brace's error first."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(brace.TimeoutError):
            async with brace.Timeout(1):
                await asyncio.wait_for(asyncio.sleep(10), 5)
        assert loop.time() - start == 1.0
