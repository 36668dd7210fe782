"""The call context: current_attempt(), inherited deadlines, clipped timeouts.

Backend-neutral tests run on asyncio (virtual-time loop) and trio (autojumping
MockClock) and assert exact virtual times.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import attrs
import pytest
import trio
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import brace
from brace import Backoff, Retry, Timeout
from brace._context import (
    AttemptContext,
    Deadline,
    current_attempt,
    current_deadline,
)
from brace._pipeline import compose
from brace.testing import VirtualTimeEventLoop

NO_WAIT = Backoff.constant(0)
ONE_SECOND = Backoff.constant(1.0)
TWO_SECONDS = Backoff.constant(2.0)


def _now() -> float:
    return anyio.current_time()


def _seen() -> AttemptContext:
    attempt = current_attempt()
    assert attempt is not None
    return attempt


class Recorder:
    """Collects the events of one policy."""

    def __init__(self) -> None:
        self.events: list[brace.Event] = []

    def __call__(self, event: brace.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[brace.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


# -- current_attempt() ---------------------------------------------------------


def test_none_outside_any_retry() -> None:
    """Outside a retry there is no attempt and no deadline."""
    assert current_attempt() is None
    assert current_deadline() is None


def test_deadline_repr_and_left() -> None:
    """The internal deadline says whose it is and when it ends."""
    deadline = Deadline(12.5, 5.0, "fetch", lambda: 10.0)
    assert repr(deadline) == "<Deadline of fetch: 5 s, at 12.5>"
    assert deadline.left() == 2.5
    assert deadline.error is None


def test_attempt_exited_without_being_entered_withdraws_nothing() -> None:
    """A stray __exit__ (no __enter__) leaves the context alone."""
    attempts = Retry(on=ConnectionError, attempts=2).attempts()
    attempt = next(iter(attempts))
    assert attempt.__exit__(None, None, None) is False
    assert current_attempt() is None


def test_attempt_context_is_frozen_and_compares_by_value() -> None:
    """The snapshot is immutable; equal fields make equal snapshots."""
    ctx = AttemptContext(name="op", number=2)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ctx.number = 3  # type: ignore[misc]
    assert ctx == AttemptContext(name="op", number=2)
    assert ctx.remaining() is None
    assert ctx.snapshot() is ctx
    assert repr(ctx) == "AttemptContext(name='op', number=2, deadline=None)"


@pytest.mark.anyio
class TestCurrentAttempt:
    """What the protected code sees, on every path of the retry."""

    @pytest.mark.parametrize("backoff", [NO_WAIT, ONE_SECOND], ids=["zero", "one"])
    async def test_numbers_and_name_on_the_decorator_path(
        self, backoff: Backoff
    ) -> None:
        """Attempts are numbered from 1 under the function's qualified name."""
        seen: list[AttemptContext] = []

        @Retry(on=ConnectionError, attempts=3, backoff=backoff)
        async def flaky() -> str:
            seen.append(_seen())
            if len(seen) < 3:
                raise ConnectionError
            return "ok"

        assert await flaky() == "ok"
        name = flaky.__qualname__
        assert seen == [AttemptContext(name=name, number=n) for n in (1, 2, 3)]
        assert current_attempt() is None

    async def test_given_name_and_deadline(self) -> None:
        """name= names the operation; the deadline is the call start plus deadline."""
        seen: list[tuple[int, float | None, float | None]] = []

        @Retry(
            on=ConnectionError, attempts=3, backoff=ONE_SECOND, deadline=10, name="op"
        )
        async def flaky() -> None:
            ctx = _seen()
            assert ctx.name == "op"
            seen.append((ctx.number, ctx.deadline, ctx.remaining()))
            await anyio.sleep(0.5)
            raise ConnectionError

        start = _now()
        with pytest.raises(ConnectionError):
            await flaky()
        # Attempts at 0, 1.5 and 3 s; remaining() read as each starts.
        assert seen == [
            (1, start + 10, 10.0),
            (2, start + 10, 8.5),
            (3, start + 10, 7.0),
        ]

    async def test_snapshot_does_not_move_with_the_attempts(self) -> None:
        """A snapshot kept from attempt 1 still says 1 during attempt 2."""
        kept: list[AttemptContext] = []

        @Retry(on=ConnectionError, attempts=2, backoff=ONE_SECOND)
        async def flaky() -> int:
            kept.append(_seen())
            if len(kept) == 1:
                raise ConnectionError
            return kept[0].number

        assert await flaky() == 1
        assert [k.number for k in kept] == [1, 2]

    async def test_remaining_is_zero_once_the_deadline_passed(self) -> None:
        """remaining() never goes negative, even after an overshooting attempt."""
        left: list[float | None] = []

        @Retry(on=ConnectionError, attempts=1, deadline=2)
        async def slow() -> None:
            await anyio.sleep(3)
            left.append(_seen().remaining())

        await slow()
        assert left == [0.0]

    async def test_call_method_and_pipeline_call_publish_too(self) -> None:
        """Retry.call names the operation after fn; Pipeline.call after the pipeline."""

        async def probe() -> AttemptContext:
            return _seen()

        ctx = await Retry(on=OSError).call(probe)
        assert (ctx.name, ctx.number) == (probe.__qualname__, 1)
        ctx = await compose(Retry(on=OSError), name="payments").call(probe)
        assert (ctx.name, ctx.number) == ("payments", 1)
        ctx = await compose(Retry(on=OSError)).call(probe)
        assert ctx.name == "Pipeline.call"

    @pytest.mark.parametrize("outcome", ["success", "error"])
    async def test_nothing_leaks_after_the_call(self, outcome: str) -> None:
        """After success or failure the caller sees no attempt and no deadline."""

        @Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT, deadline=5)
        async def run() -> None:
            assert current_deadline() is not None
            if outcome == "error":
                raise ConnectionError

        @Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT)
        async def fast() -> None:
            if outcome == "error":
                raise ConnectionError

        for fn in (run, fast):
            if outcome == "error":
                with pytest.raises(ConnectionError):
                    await fn()
            else:
                await fn()
            assert current_attempt() is None
            assert current_deadline() is None

    async def test_nested_retries_shadow_and_restore(self) -> None:
        """The inner retry's attempt is current inside it; the outer's after it."""
        seen: list[tuple[str, int]] = []

        @Retry(on=ValueError, attempts=2, backoff=NO_WAIT, name="inner")
        async def inner() -> None:
            ctx = _seen()
            seen.append((ctx.name, ctx.number))
            if ctx.number == 1:
                raise ValueError

        @Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT, name="outer")
        async def outer() -> None:
            await inner()
            ctx = _seen()
            seen.append((ctx.name, ctx.number))
            if ctx.number == 1:
                raise ConnectionError

        await outer()
        assert seen == [
            ("inner", 1),
            ("inner", 2),
            ("outer", 1),
            ("inner", 1),
            ("inner", 2),
            ("outer", 2),
        ]

    async def test_child_tasks_see_the_attempt_and_the_deadline(self) -> None:
        """Tasks started during an attempt copy its context."""
        seen: list[tuple[int, float | None]] = []

        async def child() -> None:
            ctx = _seen()
            seen.append((ctx.number, ctx.remaining()))

        @Retry(on=ConnectionError, attempts=2, backoff=ONE_SECOND, deadline=10)
        async def parent() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(child)
            if len(seen) == 1:
                raise ConnectionError

        await parent()
        assert seen == [(1, 10.0), (2, 9.0)]

    async def test_block_api_publishes_inside_the_with_block_only(self) -> None:
        """``with attempt:`` publishes the attempt; between blocks there is none."""
        inside: list[int] = []
        between: list[AttemptContext | None] = []
        async for attempt in Retry(on=ConnectionError, attempts=3).attempts(name="blk"):
            between.append(current_attempt())
            with attempt:
                ctx = _seen()
                assert ctx.name == "blk"
                inside.append(ctx.number)
                if ctx.number < 3:
                    raise ConnectionError
        assert inside == [1, 2, 3]
        assert between == [None, None, None]
        assert current_attempt() is None

    async def test_async_generator_sees_it_until_the_first_item(self) -> None:
        """A retried async generator sees its attempt until it first yields."""
        seen: list[tuple[str, int | None]] = []

        @Retry(on=ConnectionError, attempts=3, backoff=NO_WAIT)
        async def rows() -> AsyncIterator[int]:
            ctx = _seen()
            seen.append(("start", ctx.number))
            if ctx.number < 2:
                raise ConnectionError
            yield 1
            after = current_attempt()
            seen.append(("after", None if after is None else after.number))
            yield 2

        assert [row async for row in rows()] == [1, 2]
        assert seen == [("start", 1), ("start", 2), ("after", None)]


def test_sync_retry_publishes_with_the_monotonic_clock() -> None:
    """A sync retry publishes its attempts; its deadline is on time.monotonic."""
    seen: list[AttemptContext] = []

    @Retry(on=ConnectionError, attempts=3, backoff=NO_WAIT, deadline=60)
    def flaky() -> str:
        seen.append(_seen())
        if len(seen) < 2:
            raise ConnectionError
        return "ok"

    before = time.monotonic()
    assert flaky() == "ok"
    assert [ctx.number for ctx in seen] == [1, 2]
    deadline = seen[0].deadline
    assert deadline is not None
    assert before + 60 <= deadline <= time.monotonic() + 60
    left = seen[0].remaining()
    assert left is not None
    assert 0 < left <= 60
    assert current_attempt() is None
    assert current_deadline() is None


def test_sync_block_api_and_generator_publish() -> None:
    """The sync block API and sync generators publish their attempts too."""
    numbers: list[int] = []
    for attempt in Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT).attempts():
        with attempt:
            numbers.append(_seen().number)
            if len(numbers) == 1:
                raise ConnectionError

    @Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT)
    def gen() -> Iterator[int]:
        numbers.append(_seen().number)
        if len(numbers) == 3:
            raise ConnectionError
        yield 7

    assert list(gen()) == [7]
    assert numbers == [1, 2, 1, 2]
    assert current_attempt() is None


@pytest.mark.anyio
async def test_sync_retry_inside_an_async_deadline_keeps_its_own_clock() -> None:
    """A sync retry never inherits a loop-clock deadline (another clock)."""
    seen: list[AttemptContext] = []

    @Retry(on=ConnectionError, attempts=2, backoff=NO_WAIT)
    def sync_step() -> None:
        seen.append(_seen())

    @Retry(on=ConnectionError, attempts=2, deadline=5)
    async def outer() -> None:
        sync_step()

    await outer()
    assert seen[0].deadline is None


# -- deadlines bind what is nested -------------------------------------------


@pytest.mark.anyio
class TestClipping:
    """Inner timeouts never outlive the retry's deadline."""

    async def test_timeout_decorator_is_clipped_and_ends_the_retry(self) -> None:
        """A clipped Timeout fires at the deadline; the retry gives up, annotated."""
        starts: list[float] = []
        recorder = Recorder()

        @Retry(
            on=(ConnectionError, TimeoutError),
            attempts=None,
            deadline=4.5,
            backoff=ONE_SECOND,
            listeners=[recorder],
        )
        @Timeout(2, listeners=[recorder])
        async def hangs() -> None:
            starts.append(_now())
            await anyio.sleep_forever()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await hangs()
        # Attempt 1 times out at 2 (its own limit), attempt 2 starts at 3 with
        # 1.5 s left and is cut at the deadline.
        assert [s - t0 for s in starts] == [0, 3]
        assert _now() - t0 == 4.5
        assert info.value.timeout == 1.5
        assert info.value.__notes__ == [
            "brace: gave up after 2 attempts over 4.5 s (deadline of 4.5 s)"
        ]
        fired = [e.timeout for e in recorder.of(brace.TimeoutFired)]
        assert fired == [2.0, 1.5]
        (gave_up,) = recorder.of(brace.RetryGaveUp)
        assert gave_up.reason == "deadline"

    async def test_clipped_timeout_ends_the_retry_whatever_on_says(self) -> None:
        """on= need not match TimeoutError: the deadline, not the call, failed."""
        calls = 0

        @Retry(on=ConnectionError, attempts=5, deadline=3, backoff=ONE_SECOND)
        @Timeout(2)
        async def fails_then_hangs() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                await anyio.sleep(1)
                raise ConnectionError
            await anyio.sleep_forever()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await fails_then_hangs()
        assert calls == 2
        assert _now() - t0 == 3
        assert info.value.timeout == 1
        assert info.value.__notes__ == [
            "brace: gave up after 2 attempts over 3 s (deadline of 3 s)"
        ]

    async def test_unclipped_timeout_is_an_ordinary_failure(self) -> None:
        """A timeout shorter than the time left acts per attempt, as before."""

        @Retry(on=ConnectionError, attempts=3, deadline=30, backoff=ONE_SECOND)
        @Timeout(2)
        async def hangs() -> None:
            await anyio.sleep_forever()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await hangs()
        # Not retried (on= does not match), not annotated: the attempt failed.
        assert _now() - t0 == 2
        assert not getattr(info.value, "__notes__", [])

    async def test_async_with_and_call_are_clipped(self) -> None:
        """The block form and Timeout.call are clipped like the decorator."""
        limits: list[float] = []

        @Retry(on=ConnectionError, attempts=1, deadline=1.5)
        async def block() -> None:
            async with Timeout(5):
                await anyio.sleep_forever()

        @Retry(on=ConnectionError, attempts=1, deadline=2.5)
        async def via_call() -> None:
            await Timeout(5).call(anyio.sleep_forever)

        for fn, limit in ((block, 1.5), (via_call, 2.5)):
            t0 = _now()
            with pytest.raises(brace.TimeoutError) as info:
                await fn()
            assert _now() - t0 == limit
            limits.append(info.value.timeout)
            assert "(deadline of" in info.value.__notes__[0]
        assert limits == [1.5, 2.5]

    async def test_timeouts_outside_any_deadline_are_untouched(self) -> None:
        """Without a deadline in force, every spelling keeps its own limit."""
        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            async with Timeout(2):
                await anyio.sleep_forever()
        assert (_now() - t0, info.value.timeout) == (2, 2.0)

        @Retry(on=ConnectionError, attempts=1)
        async def no_deadline() -> None:
            await Timeout(3).call(anyio.sleep_forever)

        with pytest.raises(brace.TimeoutError) as info:
            await no_deadline()
        assert (_now() - t0, info.value.timeout) == (5, 3.0)

    async def test_attempt_timeout_is_clipped_by_an_enclosing_deadline(self) -> None:
        """Retry's attempt_timeout obeys an enclosing retry's deadline too."""
        starts: list[float] = []

        @Retry(
            on=TimeoutError, attempts=5, attempt_timeout=2, backoff=NO_WAIT, name="in"
        )
        async def inner() -> None:
            starts.append(_now())
            await anyio.sleep_forever()

        @Retry(on=ValueError, attempts=2, deadline=3, name="out")
        async def outer() -> None:
            await inner()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await outer()
        assert [s - t0 for s in starts] == [0, 2]
        assert _now() - t0 == 3
        assert info.value.timeout == 1
        assert info.value.__notes__ == [
            "brace: gave up after 2 attempts over 3 s (deadline of 3 s of out)",
            "brace: gave up after 1 attempt over 3 s (deadline of 3 s)",
        ]

    async def test_nested_retry_never_sleeps_past_the_enclosing_deadline(
        self,
    ) -> None:
        """An inner retry without a deadline gives up when the outer's is near."""
        calls = 0

        @Retry(on=ConnectionError, attempts=10, backoff=TWO_SECONDS, name="in")
        async def inner() -> None:
            nonlocal calls
            calls += 1
            raise ConnectionError

        @Retry(on=ValueError, attempts=3, deadline=5, name="out")
        async def outer() -> None:
            await inner()

        t0 = _now()
        with pytest.raises(ConnectionError) as info:
            await outer()
        # Attempts at 0, 2, 4; the next (at 6) would start after the deadline.
        assert calls == 3
        assert _now() - t0 == 4
        assert info.value.__notes__ == [
            "brace: gave up after 3 attempts over 4 s (deadline of 5 s of out)"
        ]

    async def test_inner_deadline_shorter_than_the_outer_wins(self) -> None:
        """Each call is bound by the earlier of its own and the enclosing deadline."""
        seen: list[float | None] = []

        @Retry(on=ConnectionError, attempts=1, deadline=2)
        async def inner() -> None:
            seen.append(_seen().remaining())
            assert current_deadline() is not None
            await Timeout(10).call(anyio.sleep_forever)

        @Retry(on=ValueError, attempts=1, deadline=5)
        async def outer() -> None:
            seen.append(_seen().remaining())
            await anyio.sleep(1)
            await inner()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await outer()
        assert seen == [5.0, 2.0]
        assert _now() - t0 == 3
        assert info.value.__notes__[0].endswith("(deadline of 2 s)")

    async def test_enclosing_deadline_earlier_than_the_own_one_wins(self) -> None:
        """An inner retry with a longer deadline is still bound by the outer's."""
        seen: list[float | None] = []

        @Retry(on=ConnectionError, attempts=1, deadline=10, name="in")
        async def inner() -> None:
            seen.append(_seen().remaining())
            deadline = current_deadline()
            assert deadline is not None
            assert deadline.name == "out"
            await Timeout(10).call(anyio.sleep_forever)

        @Retry(on=ValueError, attempts=1, deadline=3, name="out")
        async def outer() -> None:
            await anyio.sleep(1)
            await inner()

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await outer()
        assert seen == [2.0]
        assert _now() - t0 == 3
        assert info.value.__notes__ == [
            "brace: gave up after 1 attempt over 2 s (deadline of 3 s of out)",
            "brace: gave up after 1 attempt over 3 s (deadline of 3 s)",
        ]

    async def test_child_task_timeouts_are_clipped(self) -> None:
        """A Timeout in a child task of the attempt is clipped as well."""

        @Retry(on=ValueError, attempts=1, deadline=2)
        async def parent() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(Timeout(9).call, anyio.sleep_forever)

        t0 = _now()
        with pytest.raises(BaseException) as info:
            await parent()
        assert _now() - t0 == 2
        assert info.group_contains(brace.TimeoutError)

    async def test_deadline_already_passed_cuts_at_the_first_suspension(
        self,
    ) -> None:
        """With no time left a clipped timeout of 0 fires at the first await."""

        @Retry(on=ValueError, attempts=1, deadline=1)
        async def late() -> None:
            await anyio.sleep(2)  # the attempt overshoots the deadline
            assert Timeout(5)._clip()[0] == 0.0
            await Timeout(5).call(anyio.sleep, 1)

        t0 = _now()
        with pytest.raises(brace.TimeoutError) as info:
            await late()
        assert _now() - t0 == 2
        assert info.value.timeout == 0.0


# -- cancellation --------------------------------------------------------------


@pytest.mark.anyio
class TestCancellation:
    """Cancellation passes through, and the context is withdrawn on the way."""

    async def test_cancel_during_a_clipped_timeout(self) -> None:
        """An outer cancel scope firing first is cancellation, not a timeout."""
        reached: list[float] = []

        @Retry(on=ConnectionError, attempts=2, deadline=10)
        @Timeout(5)
        async def hangs() -> None:
            await anyio.sleep_forever()

        t0 = _now()
        with anyio.move_on_after(3) as scope:
            try:
                await hangs()
            finally:
                reached.append(_now() - t0)
                assert current_attempt() is None
                assert current_deadline() is None
        assert scope.cancelled_caught
        assert reached == [3]

    async def test_cancel_while_sleeping_between_attempts(self) -> None:
        """A task group cancelled during the backoff leaves no context behind."""
        calls = 0

        @Retry(on=ConnectionError, attempts=3, backoff=Backoff.constant(10))
        async def flaky() -> None:
            nonlocal calls
            calls += 1
            raise ConnectionError

        async def sibling() -> None:
            await anyio.sleep(1)
            raise KeyError("sibling failed")

        t0 = _now()
        with pytest.raises(BaseException) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(flaky)
                tg.start_soon(sibling)
        assert info.group_contains(KeyError)
        assert not info.group_contains(ConnectionError)
        assert calls == 1
        assert _now() - t0 == 1
        assert current_attempt() is None

    async def test_cancel_at_the_instant_the_clipped_timeout_fires(self) -> None:
        """Outer cancellation due at the deadline wins over the clipped timeout."""
        ran: list[str] = []

        @Retry(on=ConnectionError, attempts=2, deadline=2)
        @Timeout(5)
        async def hangs() -> None:
            ran.append("attempt")
            await anyio.sleep_forever()

        t0 = _now()
        with anyio.move_on_after(2) as scope:
            await hangs()
        # Both are due at t=2; the enclosing scope's cancellation propagates.
        assert scope.cancelled_caught
        assert _now() - t0 == 2
        assert ran == ["attempt"]


@pytest.mark.asyncio
async def test_asyncio_timeout_around_a_retry_with_a_deadline() -> None:
    """asyncio.timeout outside reports its own TimeoutError, not brace's."""
    loop = asyncio.get_running_loop()

    @Retry(on=ConnectionError, attempts=2, deadline=10)
    @Timeout(5)
    async def hangs() -> None:
        await asyncio.sleep(100)

    start = loop.time()
    with pytest.raises(builtins.TimeoutError) as info:
        async with asyncio.timeout(3):
            await hangs()
    assert not isinstance(info.value, brace.TimeoutError)
    assert loop.time() - start == 3
    assert current_attempt() is None
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


@pytest.mark.asyncio
async def test_task_cancel_during_an_attempt_withdraws_the_context() -> None:
    """task.cancel() mid-attempt propagates; the context dies with the task."""
    inner: list[AttemptContext | None] = []

    @Retry(on=ConnectionError, attempts=3, deadline=10)
    async def hangs() -> None:
        inner.append(current_attempt())
        await asyncio.sleep(100)

    task = asyncio.create_task(hangs())
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert inner[0] is not None
    assert inner[0].number == 1
    assert current_attempt() is None


# -- a reference model of clipping ------------------------------------------------


def _model(
    deadline: int, limit: int, delay: int, durations: list[float | None]
) -> tuple[float, int, str]:
    """(elapsed, attempts, outcome) of hanging or failing attempts under clipping.

    Attempt k takes ``durations[k]`` seconds and then raises ConnectionError,
    or hangs (``None``, or past the list). Each runs under Timeout(*limit*)
    clipped to what is left of the retry's *deadline*.
    """
    t = 0.0
    attempts = 0
    while True:
        left = deadline - t
        cap = min(float(limit), left)
        took = durations[attempts] if attempts < len(durations) else None
        attempts += 1
        if took is not None:
            assume(took != cap)  # a tie: which timer runs first is unspecified
        if took is None or took > cap:
            t += cap
            if cap < limit:
                return t, attempts, "clipped"
            outcome = "timeout"
        else:
            t += took
            outcome = "error"
        if delay >= deadline - t:
            return t, attempts, outcome
        t += delay


async def _clipping_run(
    deadline: int, limit: int, delay: int, durations: list[float | None]
) -> tuple[float, int, str]:
    attempts = 0

    @Retry(
        on=(ConnectionError, TimeoutError),
        attempts=None,
        deadline=deadline,
        backoff=Backoff.constant(delay),
    )
    @Timeout(limit)
    async def step() -> None:
        nonlocal attempts
        took = durations[attempts] if attempts < len(durations) else None
        attempts += 1
        if took is None:
            await anyio.sleep_forever()
        await anyio.sleep(took)
        raise ConnectionError

    t0 = anyio.current_time()
    try:
        await step()
    except brace.TimeoutError as exc:
        outcome = "clipped" if exc.timeout < limit else "timeout"
        error: Exception = exc
    except ConnectionError as exc:
        outcome = "error"
        error = exc
    # Every give-up here is the deadline's doing, and says so.
    assert error.__notes__[0].endswith(f"(deadline of {deadline} s)")
    return anyio.current_time() - t0, attempts, outcome


def _run(backend: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if backend == "asyncio":
        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            return runner.run(main())  # type: ignore[arg-type]
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


# Eighths add up exactly in binary floating point: elapsed times are exact.
DURATIONS = st.lists(
    st.one_of(st.none(), st.integers(3, 40).map(lambda n: n / 8)), max_size=8
)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(
    deadline=st.integers(1, 12),
    limit=st.integers(1, 5),
    delay=st.integers(0, 2),
    durations=DURATIONS,
)
def test_clipping_matches_the_model(
    backend: str, deadline: int, limit: int, delay: int, durations: list[float | None]
) -> None:
    """Elapsed time, attempt count and outcome match a model of clipping."""
    expected = _model(deadline, limit, delay, durations)
    run = functools.partial(_clipping_run, deadline, limit, delay, durations)
    assert _run(backend, run) == expected
