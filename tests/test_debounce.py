"""Tests for brace.debounce and brace.throttle, on asyncio and trio, on virtual time.

Timelines are played by caller tasks that each call at an exact virtual
time; the target function records when it ran and with which argument, and
returns ``(start time, argument)`` so that every caller's outcome says which
execution covered it.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import dataclasses
import datetime as dt
import functools
import gc
import heapq
import inspect
import itertools
import math
import re
import weakref
from collections.abc import Awaitable, Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import brace
from brace._debounce import Debounced, DebounceStatistics, Throttled, debounce, throttle
from brace._introspect import is_async_callable
from brace.testing import VirtualTimeEventLoop

Outcome = tuple[float, Any]


class Target:
    """An async function that records its executions: ``(start, argument)``.

    It takes *duration* seconds, then raises *error* if given, else returns
    ``(start, argument)``.
    """

    def __init__(self, duration: float = 0.0, error: Exception | None = None) -> None:
        self.duration = duration
        self.error = error
        self.runs: list[Outcome] = []
        self.finished: list[float] = []

    async def __call__(self, arg: Any, *, extra: Any = None) -> Outcome:
        start = anyio.current_time()
        value = arg if extra is None else (arg, extra)
        self.runs.append((start, value))
        if self.duration:
            await anyio.sleep(self.duration)
        self.finished.append(anyio.current_time())
        if self.error is not None:
            raise self.error
        return (start, value)


@dataclasses.dataclass
class Call:
    """One call of a timeline: at *at*, with argument *label*."""

    at: float
    label: str
    cancel_after: float | None = None


async def play(
    fn: Callable[[Any], Awaitable[Any]], calls: Sequence[Call]
) -> dict[str, tuple[Any, float]]:
    """Make each call at its time, each in its own task; collect the outcomes.

    Returns label -> (result or exception, time the caller got it). A caller
    whose *cancel_after* expired has ``"cancelled"`` as its outcome.
    """
    start = anyio.current_time()
    outcomes: dict[str, tuple[Any, float]] = {}

    async def caller(call: Call) -> None:
        await anyio.sleep_until(start + call.at)
        value: Any = "cancelled"
        with anyio.move_on_after(
            math.inf if call.cancel_after is None else call.cancel_after
        ):
            try:
                value = await fn(call.label)
            except Exception as exc:
                value = exc
        outcomes[call.label] = (value, anyio.current_time() - start)

    async with anyio.create_task_group() as tg:
        for call in calls:
            tg.start_soon(caller, call)
    return outcomes


def timeline(spec: str) -> list[Call]:
    """``"a@0 b@1"`` -> calls a at 0 and b at 1."""
    calls = []
    for item in spec.split():
        label, at = item.split("@")
        calls.append(Call(float(at), label))
    return calls


async def _identity(x: int) -> int:
    return x


# -- construction -----------------------------------------------------------------


class TestConstruction:
    """Bad options and non-async functions fail at decoration time."""

    @pytest.mark.parametrize("wait", [0, -1, math.nan, math.inf, dt.timedelta(0)])
    def test_debounce_rejects_bad_wait(self, wait: Any) -> None:
        """wait must be a finite number of seconds > 0."""
        with pytest.raises(ValueError, match="wait"):
            debounce(wait)

    @pytest.mark.parametrize("wait", ["1", None, True])
    def test_debounce_rejects_non_numbers(self, wait: Any) -> None:
        """A wait that is not a number or timedelta is a TypeError."""
        with pytest.raises(TypeError, match="wait"):
            debounce(wait)

    @pytest.mark.parametrize("max_wait", [0, 0.5, 0.999])
    def test_max_wait_below_wait_is_rejected(self, max_wait: float) -> None:
        """max_wait < wait raises ValueError saying what to do."""
        with pytest.raises(ValueError, match=r"max_wait .* must be >= wait"):
            debounce(1, max_wait=max_wait)

    def test_max_wait_must_be_a_duration(self) -> None:
        """max_wait goes through the same duration validation."""
        with pytest.raises(ValueError, match="max_wait"):
            debounce(1, max_wait=-1)
        with pytest.raises(TypeError, match="max_wait"):
            debounce(1, max_wait="2")  # type: ignore[arg-type]

    def test_durations_accept_timedelta(self) -> None:
        """Timedeltas convert to seconds, and the repr shows the options."""

        async def f() -> None:
            pass

        d = debounce(dt.timedelta(milliseconds=1500), max_wait=dt.timedelta(seconds=3))(
            f
        )
        assert "wait=1.5 max_wait=3" in repr(d)
        assert repr(debounce(2)(f)).endswith("f wait=2 max_wait=None>")
        t = throttle(dt.timedelta(seconds=2), trailing=False)(f)
        assert "interval=2 leading=True trailing=False" in repr(t)

    @pytest.mark.parametrize("interval", [0, -0.5, math.inf])
    def test_throttle_rejects_bad_interval(self, interval: float) -> None:
        """interval must be finite and > 0."""
        with pytest.raises(ValueError, match="interval"):
            throttle(interval)

    def test_throttle_needs_an_edge(self) -> None:
        """leading=False and trailing=False would never run: ValueError."""
        with pytest.raises(ValueError, match="never run"):
            throttle(1, leading=False, trailing=False)

    @pytest.mark.parametrize("flag", ["leading", "trailing"])
    def test_throttle_flags_must_be_bools(self, flag: str) -> None:
        """A truthy non-bool flag is a TypeError, not silently accepted."""
        with pytest.raises(TypeError, match=flag):
            throttle(1, **{flag: 1})  # type: ignore[arg-type]

    @pytest.mark.parametrize("decorator", [debounce(1), throttle(1)])
    def test_sync_functions_are_rejected(self, decorator: Any) -> None:
        """Decorating a non-async function raises TypeError naming the fix."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async def"):
            decorator(sync)
        with pytest.raises(TypeError, match="async"):
            decorator(lambda: None)

    def test_wrapper_looks_like_the_function(self) -> None:
        """Name, doc, signature, __wrapped__ and async-ness are kept."""

        async def fetch(url: str, *, retries: int = 3) -> bytes:
            """Fetch it."""
            return b""

        fetch.custom = "kept"  # type: ignore[attr-defined]
        for wrapped in (debounce(1)(fetch), throttle(1)(fetch)):
            assert wrapped.__name__ == "fetch"
            assert wrapped.__qualname__.endswith("fetch")
            assert wrapped.__doc__ == "Fetch it."
            assert wrapped.__module__ == __name__
            assert wrapped.__wrapped__ is fetch
            assert wrapped.custom == "kept"  # type: ignore[attr-defined]
            assert inspect.signature(wrapped) == inspect.signature(fetch)
            assert asyncio.iscoroutinefunction(wrapped)
            assert is_async_callable(wrapped)

    @pytest.mark.anyio
    async def test_partials_and_async_callables_decorate(self) -> None:
        """A partial of an async function and an async-callable object work."""
        debounced = debounce(1)(functools.partial(_identity, 7))
        assert isinstance(debounced, Debounced)
        assert "functools.partial" in repr(debounced)
        assert await debounced() == 7
        throttled = throttle(1)(Target())
        assert isinstance(throttled, Throttled)
        assert await throttled("x") == (1, "x")


# -- debounce ---------------------------------------------------------------------


@pytest.mark.anyio
class TestDebounce:
    """lodash's debounce timelines, exactly, on both backends."""

    async def test_runs_once_after_the_burst_with_the_last_call(self) -> None:
        """A burst runs once, wait after its last call; all callers get that run."""
        target = Target()
        f = debounce(3)(target)
        out = await play(f, timeline("a@0 b@1 c@2 d@10"))
        assert target.runs == [(5, "c"), (13, "d")]
        assert out == {
            "a": ((5, "c"), 5),
            "b": ((5, "c"), 5),
            "c": ((5, "c"), 5),
            "d": ((13, "d"), 13),
        }

    async def test_a_call_at_the_deadline_starts_the_next_burst(self) -> None:
        """A call at the instant an execution is due does not join it."""
        target = Target()
        f = debounce(2)(target)
        out = await play(f, timeline("a@0 b@2"))
        assert target.runs == [(2, "a"), (4, "b")]
        assert out["a"] == ((2, "a"), 2)
        assert out["b"] == ((4, "b"), 4)

    async def test_max_wait_forces_runs_in_a_steady_stream(self) -> None:
        """With max_wait, a stream runs every max_wait, then once at its end."""
        target = Target()
        f = debounce(2, max_wait=5)(target)
        out = await play(f, timeline("a@0 b@1 c@2 d@3 e@4 f@5 g@6 h@7"))
        assert target.runs == [(5, "e"), (9, "h")]
        assert {label: o[0] for label, o in out.items()} == {
            **dict.fromkeys("abcde", (5, "e")),
            **dict.fromkeys("fgh", (9, "h")),
        }

    async def test_max_wait_keeps_its_period_over_a_long_stream(self) -> None:
        """Calls every 2 s with wait=3, max_wait=10 run at 10, 20, then 25."""
        target = Target()
        f = debounce(3, max_wait=10)(target)
        await play(f, [Call(t, str(t)) for t in range(0, 23, 2)])
        assert target.runs == [(10, "8"), (20, "18"), (25, "22")]

    async def test_max_wait_counts_from_the_first_call_of_a_fresh_burst(self) -> None:
        """After a quiet gap, max_wait restarts at the next burst's first call."""
        target = Target()
        f = debounce(2, max_wait=3)(target)
        await play(f, timeline("a@0 b@1 c@2 d@10 e@11 f@12"))
        assert target.runs == [(3, "c"), (13, "f")]

    async def test_uses_the_last_calls_args_and_kwargs(self) -> None:
        """The execution gets the latest call's positional and keyword args."""
        target = Target()
        f = debounce(1)(target)
        async with anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(f, "first", extra="x"))
            await anyio.sleep(0.5)
            tg.start_soon(functools.partial(f, "second", extra="y"))
        assert target.runs == [(1.5, ("second", "y"))]

    async def test_exception_reaches_every_caller_of_the_burst(self) -> None:
        """The execution's exception, the same object, is raised in all callers."""
        error = ValueError("boom")
        target = Target(error=error)
        f = debounce(1)(target)
        out = await play(f, timeline("a@0 b@0.5"))
        assert out["a"][0] is error
        assert out["b"][0] is error
        assert out["a"][1] == out["b"][1] == 1.5
        target.error = None
        start = anyio.current_time()
        assert await f("after") == (start + 1, "after")

    async def test_each_caller_raises_from_the_execution_traceback(self) -> None:
        """A shared exception's traceback does not grow with each caller."""
        error = ValueError("boom")
        f = debounce(1)(Target(error=error))
        depths = []

        async def caller() -> None:
            try:
                await f("x")
            except ValueError as exc:
                tb, depth = exc.__traceback__, 0
                while tb is not None:
                    depth, tb = depth + 1, tb.tb_next
                depths.append(depth)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(caller)
        assert len(depths) == 5
        assert len(set(depths)) == 1

    async def test_bad_arguments_fail_every_caller_of_the_batch(self) -> None:
        """Arguments that do not fit raise TypeError in all the batch's callers."""
        target = Target()
        f = debounce(1)(target)
        with pytest.raises(TypeError, match="unexpected keyword"):
            await f("x", nope=1)  # type: ignore[call-arg]
        assert target.runs == []
        assert await f("ok") == (2.0, "ok")

    async def test_runs_in_the_context_of_the_last_call(self) -> None:
        """Context variables of the call whose arguments are used are visible."""
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="-")
        seen = []

        async def read(arg: str) -> None:
            seen.append((arg, var.get()))

        f = debounce(1)(read)

        async def caller(arg: str, value: str, delay: float) -> None:
            await anyio.sleep(delay)
            var.set(value)
            await f(arg)

        async with anyio.create_task_group() as tg:
            tg.start_soon(caller, "a", "ctx-a", 0)
            tg.start_soon(caller, "b", "ctx-b", 0.5)
        assert seen == [("b", "ctx-b")]


# -- throttle ---------------------------------------------------------------------


@pytest.mark.anyio
class TestThrottle:
    """Throttle's leading/trailing combinations, exactly, on both backends."""

    SPEC = "a@0 b@1 c@2 d@5 e@13"

    async def test_leading_and_trailing(self) -> None:
        """Leading call runs at once; the others fold into the interval's end."""
        target = Target()
        f = throttle(4)(target)
        out = await play(f, timeline(self.SPEC))
        assert target.runs == [(0, "a"), (4, "c"), (8, "d"), (13, "e")]
        assert out == {
            "a": ((0, "a"), 0),
            "b": ((4, "c"), 4),
            "c": ((4, "c"), 4),
            "d": ((8, "d"), 8),
            "e": ((13, "e"), 13),
        }

    async def test_leading_only_drops_calls_onto_the_last_execution(self) -> None:
        """Dropped calls get the outcome of the execution that opened the interval."""
        target = Target()
        f = throttle(4, trailing=False)(target)
        out = await play(f, timeline(self.SPEC))
        assert target.runs == [(0, "a"), (5, "d"), (13, "e")]
        assert out == {
            "a": ((0, "a"), 0),
            "b": ((0, "a"), 1),
            "c": ((0, "a"), 2),
            "d": ((5, "d"), 5),
            "e": ((13, "e"), 13),
        }

    async def test_trailing_only(self) -> None:
        """Without leading, a call runs interval after the first uncovered call."""
        target = Target()
        f = throttle(4, leading=False)(target)
        out = await play(f, timeline(self.SPEC))
        assert target.runs == [(4, "c"), (9, "d"), (17, "e")]
        assert out == {
            "a": ((4, "c"), 4),
            "b": ((4, "c"), 4),
            "c": ((4, "c"), 4),
            "d": ((9, "d"), 9),
            "e": ((17, "e"), 17),
        }

    async def test_a_steady_stream_runs_exactly_every_interval(self) -> None:
        """Calls every second with interval 4 run at 0, 4, 8, 12 (no drift)."""
        target = Target()
        f = throttle(4)(target)
        await play(f, [Call(t, str(t)) for t in range(12)])
        assert target.runs == [(0, "0"), (4, "3"), (8, "7"), (12, "11")]

    async def test_never_runs_twice_within_an_interval(self) -> None:
        """A leading call right after a trailing run waits (unlike lodash)."""
        target = Target()
        f = throttle(10)(target)
        out = await play(f, timeline("a@0 b@1 c@12"))
        assert target.runs == [(0, "a"), (10, "b"), (20, "c")]
        assert out["c"] == ((20, "c"), 20)

    async def test_dropped_call_waits_for_a_running_execution(self) -> None:
        """A call dropped while the covering execution runs awaits its result."""
        target = Target(duration=3)
        f = throttle(4, trailing=False)(target)
        out = await play(f, timeline("a@0 b@1"))
        assert target.runs == [(0, "a")]
        assert out == {"a": ((0, "a"), 3), "b": ((0, "a"), 3)}

    async def test_dropped_call_raises_the_executions_exception(self) -> None:
        """A call dropped onto a failed execution raises that same exception."""
        error = OSError("down")
        f = throttle(4, trailing=False)(Target(error=error))
        out = await play(f, timeline("a@0 b@1 c@4"))
        assert out["a"][0] is error
        assert out["b"] == (error, 1)
        assert out["c"][0] is error  # a new execution, failing the same way

    async def test_dropped_outcome_is_released_when_the_interval_ends(self) -> None:
        """The kept outcome is released at the interval's end, not held forever."""

        class Result:
            pass

        async def make() -> Result:
            return Result()

        f = throttle(4, trailing=False)(make)
        ref = weakref.ref(await f())
        await anyio.sleep(1)
        assert ref() is not None  # still covers dropped calls
        await anyio.sleep(3.5)
        gc.collect()
        assert ref() is None

    async def test_leading_failure_does_not_reach_trailing_callers(self) -> None:
        """Each caller gets the outcome of its own execution only."""
        calls = 0

        async def flaky(arg: str) -> str:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError(arg)
            return arg

        f = throttle(2)(flaky)
        out = await play(f, timeline("a@0 b@1"))
        assert isinstance(out["a"][0], ConnectionError)
        assert out["b"] == ("b", 2)

    async def test_timedelta_interval(self) -> None:
        """A timedelta interval works like float seconds."""
        target = Target()
        f = throttle(dt.timedelta(seconds=2))(target)
        await play(f, timeline("a@0 b@1"))
        assert target.runs == [(0, "a"), (2, "b")]


# -- executions never overlap -------------------------------------------------------


@pytest.mark.anyio
class TestNoOverlap:
    """An execution due while another runs starts when that one finishes."""

    async def test_debounce_waits_for_the_running_execution(self) -> None:
        """The next burst starts at the end of the slow one, with the latest args."""
        target = Target(duration=5)
        f = debounce(1)(target)
        out = await play(f, timeline("a@0 b@2 c@4"))
        assert target.runs == [(1, "a"), (6, "c")]
        assert target.finished == [6, 11]
        assert out == {"a": ((1, "a"), 6), "b": ((6, "c"), 11), "c": ((6, "c"), 11)}

    async def test_throttle_trailing_waits_then_restarts_the_interval(self) -> None:
        """A slow run delays the trailing one; the interval counts from its start."""
        target = Target(duration=5)
        f = throttle(2)(target)
        out = await play(f, timeline("a@0 b@1 c@3 d@6"))
        assert target.runs == [(0, "a"), (5, "c"), (10, "d")]
        assert out["b"] == ((5, "c"), 10)
        assert out["d"] == ((10, "d"), 15)

    async def test_leading_call_waits_for_a_slow_execution(self) -> None:
        """A leading call while a slow run lasts becomes due, folding later calls."""
        target = Target(duration=5)
        f = throttle(2, trailing=False)(target)
        out = await play(f, timeline("a@0 b@3 c@4"))
        assert target.runs == [(0, "a"), (5, "c")]
        assert out["b"] == out["c"] == ((5, "c"), 10)


# -- cancellation -----------------------------------------------------------------


@pytest.mark.anyio
class TestCancellation:
    """Callers that stop waiting never break what others wait for."""

    async def test_cancelled_caller_leaves_the_others_their_execution(self) -> None:
        """One caller cancelled while waiting; the others still get the run."""
        target = Target()
        f = debounce(3)(target)
        calls = [Call(0, "a", cancel_after=1), Call(2, "b")]
        out = await play(f, calls)
        assert out["a"] == ("cancelled", 1)
        assert out["b"] == ((5, "b"), 5)
        assert target.runs == [(5, "b")]

    async def test_a_cancelled_callers_arguments_still_count(self) -> None:
        """The latest call's arguments are used even if that caller left."""
        target = Target()
        f = debounce(3)(target)
        out = await play(f, [Call(0, "a"), Call(1, "b", cancel_after=1)])
        assert target.runs == [(4, "b")]
        assert out == {"a": ((4, "b"), 4), "b": ("cancelled", 2)}

    async def test_when_every_caller_leaves_nothing_runs(self) -> None:
        """A scheduled execution nobody waits for any more is dropped."""
        target = Target()
        f = debounce(3)(target)
        out = await play(
            f, [Call(0, "a", cancel_after=1), Call(1, "b", cancel_after=1)]
        )
        assert out == {"a": ("cancelled", 1), "b": ("cancelled", 2)}
        await anyio.sleep(10)
        assert target.runs == []
        assert f.statistics() == DebounceStatistics(
            executions=0, waiting=0, pending=False, running=False
        )
        start = anyio.current_time()
        await f("c")
        assert target.runs == [(start + 3, "c")]

    async def test_dropped_burst_leaves_no_trace_in_max_wait(self) -> None:
        """A burst all of whose callers left does not carry max_wait's count on."""
        target = Target()
        f = debounce(2, max_wait=3)(target)
        calls = [*timeline("x@0 y@1 z@2"), Call(3.5, "a", cancel_after=0.5)]
        out = await play(f, [*calls, *timeline("b@4.5 c@5.5")])
        # Had a's call counted, the stream would have continued from the run
        # at 3 and max_wait would have forced a run at 6.
        assert target.runs == [(3, "z"), (7.5, "c")]
        assert out["a"] == ("cancelled", 4)
        assert out["b"] == ((7.5, "c"), 7.5)

    async def test_running_execution_survives_one_callers_cancellation(self) -> None:
        """Cancelling one caller of a running execution does not cancel it."""
        target = Target(duration=5)
        f = debounce(3)(target)
        out = await play(f, [Call(0, "a", cancel_after=5), Call(0.5, "b")])
        assert out["a"] == ("cancelled", 5)
        assert out["b"] == ((3.5, "b"), 8.5)
        assert target.finished == [8.5]

    async def test_last_caller_gone_cancels_the_execution_and_joins_it(self) -> None:
        """The last caller's cancellation cancels the run and waits for its cleanup."""
        cleaned: list[float] = []

        async def slow(arg: str) -> str:
            try:
                await anyio.sleep(10)
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(1)
                    cleaned.append(anyio.current_time())
            return arg  # pragma: no cover - always cancelled here

        f = debounce(3)(slow)
        out = await play(f, [Call(0, "a", cancel_after=5)])
        assert cleaned == [6]
        assert out["a"] == ("cancelled", 6)
        assert f.statistics().executions == 0  # a cancelled run does not count
        assert not f.statistics().running

    async def test_abandoned_throttle_execution_does_not_count(self) -> None:
        """After an execution cancelled for lack of callers, the next call runs."""
        target = Target(duration=5)
        f = throttle(10, trailing=False)(target)
        out = await play(f, [Call(0, "a", cancel_after=1), Call(2, "b")])
        assert out["a"] == ("cancelled", 1)
        assert target.runs == [(0, "a"), (2, "b")]
        assert out["b"] == ((2, "b"), 7)

    async def test_dropped_caller_keeps_the_execution_alive(self) -> None:
        """A dropped call waiting on a running execution counts as its caller."""
        target = Target(duration=5)
        f = throttle(10, trailing=False)(target)
        out = await play(f, [Call(0, "a", cancel_after=1), Call(0.5, "b")])
        assert out["a"] == ("cancelled", 1)
        assert out["b"] == ((0, "a"), 5)
        assert target.finished == [5]

    async def test_task_group_cancellation_drops_the_schedule(self) -> None:
        """Cancelling a task group of callers drops their scheduled execution."""
        target = Target()
        f = throttle(4)(target)
        async with anyio.create_task_group() as tg:
            tg.start_soon(f, "a")
            tg.start_soon(f, "b")
            tg.start_soon(f, "c")
            await anyio.sleep(1)
            assert f.pending()
            tg.cancel_scope.cancel()
        assert not f.pending()
        await anyio.sleep(10)
        assert [arg for _, arg in target.runs] in (["a"], ["b"], ["c"])
        assert f.statistics().waiting == 0

    async def test_cancel_at_the_instant_the_outcome_arrives(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A caller cancelled as its outcome arrives: nothing leaks, others served."""
        error = LookupError("gone")
        f = debounce(1)(Target(error=error))
        scopes: dict[str, anyio.CancelScope] = {}
        got: dict[str, Any] = {}

        async def caller(label: str) -> None:
            with anyio.CancelScope() as scope:
                scopes[label] = scope
                try:
                    await f(label)
                except LookupError as exc:
                    got[label] = exc
                # The first to resume cancels the other, whose outcome has
                # arrived too but who has not resumed yet.
                for other, other_scope in scopes.items():
                    if other not in got:
                        other_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(caller, "first")
            await anyio.sleep(0.1)
            tg.start_soon(caller, "second")
        # Neither trio nor anyio interrupts a task that has been woken, so
        # the other caller gets the error too, or is cancelled if it had not.
        assert got
        assert all(value is error for value in got.values())
        assert f.statistics().waiting == 0
        gc.collect()
        await anyio.sleep(0)
        assert "never retrieved" not in caplog.text


# -- cancel(), flush(), pending(), statistics() -------------------------------------


@pytest.mark.anyio
class TestHelpers:
    """lodash's .cancel() and .flush(), plus pending() and statistics()."""

    async def test_cancel_raises_cancelled_in_the_waiting_callers(self) -> None:
        """cancel() drops the scheduled run; its callers raise brace.Cancelled."""
        target = Target()
        f = debounce(3)(target)

        async def cancel_at(t: float, reason: object = None) -> None:
            await anyio.sleep(t)
            f.cancel(reason)

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_at, 2, "user left")
            out = await play(f, timeline("a@0 b@1"))
        for label in "ab":
            error, at = out[label]
            assert isinstance(error, brace.Cancelled)
            assert error.reason == "user left"
            assert "cancel()" in str(error)
            assert "user left" in str(error)
            assert at == 2
        assert target.runs == []
        assert not f.pending()
        assert await f("c") == (5, "c")

    async def test_cancel_without_reason(self) -> None:
        """A cancel() without reason gives Cancelled(reason=None)."""
        f = throttle(3, leading=False)(Target())

        async def cancel_soon() -> None:
            await anyio.sleep(1)
            f.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            out = await play(f, timeline("a@0"))
        error = out["a"][0]
        assert isinstance(error, brace.Cancelled)
        assert error.reason is None
        assert str(error).endswith("cancelled with cancel()")
        assert f.statistics().executions == 0

    async def test_cancel_leaves_a_running_execution_alone(self) -> None:
        """cancel() discards the pending run only; the running one completes."""
        target = Target(duration=5)
        f = debounce(3)(target)

        async def cancel_at(t: float) -> None:
            await anyio.sleep(t)
            assert f.statistics().running
            f.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_at, 5)
            out = await play(f, timeline("a@0 b@4"))
        assert out["a"] == ((3, "a"), 8)
        assert isinstance(out["b"][0], brace.Cancelled)
        assert out["b"][1] == 5
        assert target.runs == [(3, "a")]

    async def test_cancel_resets_the_throttle_interval(self) -> None:
        """After cancel(), the next throttled call runs at once, as in lodash."""
        target = Target()
        f = throttle(10)(target)
        await f("a")
        await anyio.sleep(1)
        f.cancel()
        await f("b")
        assert target.runs == [(0, "a"), (1, "b")]

    async def test_cancel_releases_a_dropped_calls_outcome(self) -> None:
        """cancel() on a leading-only throttle forgets the kept outcome too."""
        target = Target()
        f = throttle(10, trailing=False)(target)
        assert await f("a") == (0, "a")
        await anyio.sleep(1)
        assert await f("dropped") == (0, "a")
        f.cancel()
        assert await f("b") == (1, "b")
        assert target.runs == [(0, "a"), (1, "b")]

    async def test_flush_runs_the_pending_execution_now(self) -> None:
        """flush() starts the scheduled run at once with the latest args."""
        target = Target(duration=1)
        f = debounce(10)(target)

        async def flush_at(t: float) -> None:
            await anyio.sleep(t)
            await f.flush()
            assert anyio.current_time() == 3  # waited for the run to finish

        async with anyio.create_task_group() as tg:
            tg.start_soon(flush_at, 2)
            out = await play(f, timeline("a@0 b@1"))
        assert target.runs == [(2, "b")]
        assert out == {"a": ((2, "b"), 3), "b": ((2, "b"), 3)}

    async def test_flush_does_not_raise_the_executions_error(self) -> None:
        """The execution's error goes to its callers; flush() returns None."""
        error = KeyError("k")
        f = throttle(5)(Target(error=error))

        async def flush_at(t: float) -> None:
            await anyio.sleep(t)
            assert await f.flush() is None

        async with anyio.create_task_group() as tg:
            tg.start_soon(flush_at, 2)
            out = await play(f, timeline("a@0 b@1"))
        assert out["b"] == (error, 2)

    async def test_flush_with_nothing_scheduled_returns_at_once(self) -> None:
        """flush() on an idle function returns at once."""
        f = debounce(1)(Target())
        start = anyio.current_time()
        await f.flush()
        assert anyio.current_time() == start

    async def test_flush_waits_for_a_running_execution(self) -> None:
        """With nothing pending, flush() waits for the running execution."""
        target = Target(duration=4)
        f = throttle(1)(target)
        async with anyio.create_task_group() as tg:
            tg.start_soon(f, "a")
            await anyio.sleep(1)
            await f.flush()
            assert anyio.current_time() == 4
        assert target.runs == [(0, "a")]

    async def test_flush_runs_a_blocked_execution_after_the_running_one(self) -> None:
        """Flushing while a run lasts starts the next one right after it."""
        target = Target(duration=4)
        f = debounce(10)(target)
        async with anyio.create_task_group() as tg:
            tg.start_soon(f, "a")
            await anyio.sleep(1)
            tg.start_soon(f.flush)  # a starts at 1 and runs until 5
            await anyio.sleep(1)
            tg.start_soon(f, "b")
            await anyio.sleep(1)
            await f.flush()  # b is due now, and starts when a finishes
            assert anyio.current_time() == 9
        assert target.runs == [(1, "a"), (5, "b")]

    async def test_cancelling_flush_only_stops_it_waiting(self) -> None:
        """A flush() that is cancelled leaves the execution running for its callers."""
        target = Target(duration=4)
        f = debounce(1)(target)
        async with anyio.create_task_group() as tg:
            tg.start_soon(f, "a")
            await anyio.sleep(0.5)
            with anyio.move_on_after(1):
                await f.flush()
            assert anyio.current_time() == 1.5
        assert target.finished == [4.5]

    async def test_pending_and_statistics(self) -> None:
        """pending() and statistics() follow the schedule."""
        target = Target(duration=2)
        f = debounce(1)(target)
        assert f.statistics() == DebounceStatistics(0, 0, False, False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(f, "a")
            tg.start_soon(f, "b")
            await anyio.sleep(0.5)
            assert f.pending()
            assert f.statistics() == DebounceStatistics(0, 2, True, False)
            await anyio.sleep(1)
            assert not f.pending()
            assert f.statistics() == DebounceStatistics(1, 2, False, True)
        assert f.statistics() == DebounceStatistics(1, 0, False, False)


# -- concurrency ------------------------------------------------------------------


@pytest.mark.anyio
async def test_many_concurrent_callers_share_one_execution() -> None:
    """A thousand tasks calling at once: one execution, one result for all."""
    target = Target()
    f = debounce(1)(target)
    results: list[Any] = []

    async def caller(i: int) -> None:
        results.append(await f(i))

    async with anyio.create_task_group() as tg:
        for i in range(1000):
            tg.start_soon(caller, i)
    assert len(target.runs) == 1
    assert len(results) == 1000
    assert len(set(results)) == 1
    assert results[0] == target.runs[0]


# -- methods ------------------------------------------------------------------------


class Doc:
    """A class with a debounced and a throttled method."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.saved: list[tuple[float, str]] = []

    @debounce(2)
    async def save(self, text: str) -> str:
        """Save the text."""
        self.saved.append((anyio.current_time(), text))
        return f"{self.name}:{text}"

    @throttle(3)
    async def ping(self) -> str:
        return self.name


@pytest.mark.anyio
class TestMethods:
    """Each instance has its own schedule; instances are not kept alive."""

    async def test_instances_are_independent(self) -> None:
        """Two instances' calls are debounced separately, with their own args."""
        a, b = Doc("a"), Doc("b")
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.save, "a1")
            tg.start_soon(b.save, "b1")
            await anyio.sleep(1)
            tg.start_soon(a.save, "a2")
        assert a.saved == [(3, "a2")]
        assert b.saved == [(2, "b1")]
        assert await a.ping() == "a"
        assert await b.ping() == "b"

    async def test_equal_instances_do_not_share(self) -> None:
        """Identity, not equality, picks the schedule (unhashable objects work)."""

        @dataclasses.dataclass
        class Point:
            x: int
            runs: list[int] = dataclasses.field(default_factory=list)

            @debounce(1)
            async def bump(self) -> int:
                self.runs.append(self.x)
                return self.x

        p, q = Point(1), Point(1)
        assert p == q
        async with anyio.create_task_group() as tg:
            tg.start_soon(p.bump)
            tg.start_soon(q.bump)
        assert p.runs == [1]
        assert q.runs == [1]

    async def test_instance_schedule_goes_away_with_the_instance(self) -> None:
        """The per-instance state is dropped when the instance is collected."""
        doc = Doc("tmp")
        assert await doc.save("x") == "tmp:x"
        ref = weakref.ref(doc)
        assert len(Doc.save._instances) >= 1
        before = len(Doc.save._instances)
        del doc
        gc.collect()
        assert ref() is None
        assert len(Doc.save._instances) == before - 1

    async def test_class_access_covers_every_instance(self) -> None:
        """Doc.save.cancel()/flush()/statistics() act on all instances."""
        a, b = Doc("a"), Doc("b")
        out: list[Any] = []

        async def call(doc: Doc, text: str) -> None:
            try:
                out.append(await doc.save(text))
            except brace.Cancelled:
                out.append("cancelled")

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, a, "1")
            tg.start_soon(call, b, "1")
            await anyio.sleep(0.5)
            assert Doc.save.pending()
            assert a.save.pending()
            assert Doc.save.statistics().waiting >= 2
            await Doc.save.flush()
        assert sorted(out) == ["a:1", "b:1"]
        assert a.saved == [(0.5, "1")]
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, a, "2")
            tg.start_soon(call, b, "2")
            await anyio.sleep(0.5)
            Doc.save.cancel("closing")
        assert out[2:] == ["cancelled", "cancelled"]
        assert not Doc.save.pending()

    async def test_bound_helpers_only_touch_their_instance(self) -> None:
        """a.save.cancel() leaves b's schedule alone."""
        a, b = Doc("a"), Doc("b")
        async with anyio.create_task_group() as tg:
            tg.start_soon(b.save, "kept")
            await anyio.sleep(0.5)
            a.save.cancel()
            await a.save.flush()
            assert b.save.pending()
        assert b.saved == [(2, "kept")]

    async def test_call_through_the_class(self) -> None:
        """Doc.save(doc, text) works, on one schedule shared by such calls."""
        doc = Doc("c")
        assert await Doc.save(doc, "x") == "c:x"

    def test_bound_wrapper_introspection(self) -> None:
        """doc.save has the method's name and a signature without self."""
        doc = Doc("d")
        assert doc.save.__name__ == "save"
        assert doc.save.__doc__ == "Save the text."
        assert list(inspect.signature(doc.save).parameters) == ["text"]
        assert isinstance(doc.save, Debounced)
        assert isinstance(doc.ping, Throttled)
        assert Doc.save.__get__(None, Doc) is Doc.save

    def test_slots_without_weakref_are_rejected(self) -> None:
        """Instances that cannot be weakly referenced get a clear TypeError."""

        class Slotted:
            __slots__ = ()

            @debounce(1)
            async def run(self) -> None:
                pass

        with pytest.raises(TypeError, match="__weakref__"):
            Slotted().run  # noqa: B018


# -- event loops --------------------------------------------------------------------


def _run(backend: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if backend == "asyncio":
        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            return runner.run(main())  # type: ignore[arg-type]
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_one_function_serves_successive_event_loops() -> None:
    """A module-level debounced function works across runs and backends."""
    target = Target()
    f = debounce(1)(target)

    async def main() -> Any:
        return await f("x")

    assert _run("asyncio", main) == (1, "x")
    assert _run("trio", main) == (1, "x")
    assert _run("asyncio", main) == (1, "x")


def test_state_left_on_a_dead_loop_does_not_leak_into_the_next() -> None:
    """Schedules stranded on an abandoned loop are forgotten by the next one.

    The old loop's timers and executions, when it runs again, touch nothing.
    """
    slow = Target(duration=5)
    pending_f = debounce(1)(Target())
    running_f = throttle(10, trailing=False)(slow)
    kept_f = throttle(10, trailing=False)(Target())
    old = VirtualTimeEventLoop()
    stranded = [
        old.create_task(pending_f("stranded")),  # its timer is due at 1
        old.create_task(running_f("stranded")),  # runs from 0 to 5
    ]
    assert old.run_until_complete(kept_f("old")) == (0, "old")  # kept until 10
    assert pending_f.pending()
    assert running_f.statistics().running

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def one(name: str, f: Callable[[str], Awaitable[Any]]) -> None:
            out[name] = await f("new")

        async with anyio.create_task_group() as tg:
            for name, f in (("p", pending_f), ("r", running_f), ("k", kept_f)):
                tg.start_soon(one, name, f)
        # Dropped onto this loop's execution, not the old loop's.
        out["dropped"] = await kept_f("dropped")
        return out

    assert _run("asyncio", main) == {
        "p": (1, "new"),
        "r": (0, "new"),
        "k": (0, "new"),
        "dropped": (0, "new"),
    }
    try:
        # The old loop's timer fires, its execution is given up by its last
        # caller, its kept outcome expires: the current schedules stay.
        old.run_until_complete(asyncio.sleep(2))
        assert not pending_f.pending()
        running_task = stranded[1]
        running_task.cancel()
        with pytest.raises(asyncio.CancelledError):
            old.run_until_complete(running_task)
        old.run_until_complete(asyncio.sleep(20))
        assert slow.finished == [5]  # the new loop's run only
        # The old loop's run counted when it started; it is not the current
        # engine's to take back.
        assert running_f.statistics() == DebounceStatistics(2, 0, False, False)
        assert kept_f.statistics() == DebounceStatistics(2, 0, False, False)
    finally:
        for task in stranded:
            task.cancel()
        old.run_until_complete(asyncio.gather(*stranded, return_exceptions=True))
        old.close()


def test_a_stale_weakref_callback_keeps_the_new_entry() -> None:
    """A late weakref callback of a dead instance never drops a newer entry."""
    from brace._debounce import _forget

    doc = Doc("new")
    doc.save  # noqa: B018 - registers the instance
    key = id(doc)
    entry = Doc.save._instances[key]

    class Gone:
        pass

    gone = Gone()
    stale = weakref.ref(gone)
    _forget(Doc.save._instances, key, stale)
    assert Doc.save._instances[key] is entry


# -- asyncio's own cancellation tools -------------------------------------------------


@pytest.mark.asyncio
class TestAsyncioCancellation:
    """task.cancel(), asyncio.timeout and wait_for around a waiting caller."""

    async def test_timeout_and_wait_for(self) -> None:
        """asyncio.timeout/wait_for cancel one caller; the other is served."""
        loop = asyncio.get_running_loop()
        target = Target()
        f = debounce(3)(target)
        keeper = asyncio.create_task(f("keeper"))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await f("timeout")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(f("wait_for"), 1)
        assert loop.time() == 2
        assert await keeper == (4, "wait_for")
        assert f.statistics().waiting == 0

    async def test_task_cancel_at_the_instant_the_outcome_arrives(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """task.cancel() on a caller whose outcome just arrived: it is cancelled."""
        error = LookupError("gone")
        f = debounce(1)(Target(error=error))
        tasks: list[asyncio.Task[Any]] = []

        async def first() -> None:
            with pytest.raises(LookupError):
                await f("first")
            tasks[1].cancel()  # its outcome arrived too; it has not resumed

        tasks.append(asyncio.create_task(first()))
        await asyncio.sleep(0.5)
        tasks.append(asyncio.create_task(f("second")))
        await tasks[0]
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]
        tasks.clear()
        gc.collect()
        await asyncio.sleep(0)
        assert "never retrieved" not in caplog.text
        assert f.statistics().waiting == 0

    async def test_a_closed_caller_coroutine_leaves_cleanly(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A caller whose coroutine is closed (its task destroyed) leaves no trace."""
        f = debounce(1)(Target())
        coro = f("x")
        assert isinstance(coro.send(None), asyncio.Future)  # now waiting
        assert f.statistics().waiting == 1
        coro.close()
        assert f.statistics() == DebounceStatistics(0, 0, False, False)
        gc.collect()
        await asyncio.sleep(2)
        assert "never retrieved" not in caplog.text

    async def test_closing_the_last_callers_coroutine_cancels_the_run(self) -> None:
        """A destroyed last caller of a running execution cancels it, unjoined."""
        target = Target(duration=10)
        f = throttle(5)(target)
        coro = f("x")
        assert isinstance(coro.send(None), asyncio.Future)  # running, waiting
        await asyncio.sleep(1)
        assert f.statistics().running
        coro.close()  # no await is possible while closing: no join
        assert f.statistics().running  # cancelled, still unwinding
        await asyncio.sleep(1)
        assert f.statistics() == DebounceStatistics(0, 0, False, False)
        assert target.finished == []

    async def test_callers_who_leave_do_not_pile_up(self) -> None:
        """A long burst with callers timing out keeps its waiter list short."""
        target = Target()
        f = debounce(1, max_wait=1000)(target)
        keeper = asyncio.create_task(f("keeper"))
        await asyncio.sleep(0)
        batch = f._engine.pending
        assert batch is not None
        for i in range(200):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(f(f"impatient {i}"), 0.5)
            assert len(batch.futures) <= 3
        assert await keeper == (100.5, "impatient 199")

    async def test_task_cancel_of_the_last_caller_cancels_the_run(self) -> None:
        """task.cancel() on the only caller of a running execution cancels it."""
        target = Target(duration=10)
        f = debounce(1)(target)
        task = asyncio.create_task(f("x"))
        await asyncio.sleep(2)
        assert f.statistics().running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not f.statistics().running
        assert target.finished == []


@pytest.mark.anyio
async def test_execution_given_up_before_its_task_ran_never_runs() -> None:
    """An execution whose only caller left before its task started never runs."""
    target = Target()
    f = throttle(5)(target)
    engine = f._engine
    # White-box: admit a leading call (its task is created, not yet run) and
    # have its caller leave in the same step, which a scheduler may do.
    batch, _ = engine.admit(("x",), {})
    batch.waiting += 1
    assert engine.leave(batch)  # the caller must join the cancelled run
    await engine.watch(batch)
    assert target.runs == []
    assert isinstance(batch.error, brace.Cancelled)
    assert "cancelled before it finished" in str(batch.error)
    assert f.statistics() == DebounceStatistics(0, 0, False, False)


# -- the reference model -------------------------------------------------------------


def model_debounce(times: list[int], wait: int, max_wait: int | None) -> list[Outcome]:
    """lodash's debounce, plainly: bursts split by gaps >= wait, cut every max_wait."""
    out: list[Outcome] = [(0, 0)] * len(times)
    limit = math.inf if max_wait is None else max_wait

    def settle(members: list[int], at: float) -> None:
        for k in members:
            out[k] = (at, members[-1])

    bursts: list[list[int]] = []
    for k, t in enumerate(times):
        if not bursts or t - times[k - 1] >= wait:
            bursts.append([])
        bursts[-1].append(k)
    for burst in bursts:
        origin = times[burst[0]]
        segment: list[int] = []
        for k in burst:
            if segment and times[k] >= origin + limit:
                settle(segment, origin + limit)
                origin, segment = origin + limit, []
            segment.append(k)
        settle(segment, min(times[segment[-1]] + wait, origin + limit))
    return out


def model_throttle(
    times: list[int], interval: int, leading: bool, trailing: bool
) -> list[Outcome]:
    """Throttle as documented: starts >= interval apart, leading/trailing edges."""
    out: list[Outcome] = [(0, 0)] * len(times)
    last_start = -math.inf
    last: Outcome = (0, 0)
    pending: tuple[float, list[int]] | None = None

    def run(members: list[int], at: float) -> None:
        nonlocal last_start, last
        last_start, last = at, (at, members[-1])
        for k in members:
            out[k] = last

    for k, t in enumerate(times):
        if pending is not None and t >= pending[0]:
            run(pending[1], pending[0])
            pending = None
        if pending is not None:
            pending[1].append(k)
        elif leading and t >= last_start + interval:
            run([k], t)
        elif trailing:
            pending = (last_start + interval if leading else t + interval, [k])
        else:
            out[k] = last
    if pending is not None:
        run(pending[1], pending[0])
    return out


async def _check_against_model(
    make: Callable[[Callable[[int], Awaitable[Outcome]]], Any],
    times: list[int],
    model: Callable[[list[int]], list[Outcome]],
) -> None:
    runs: list[Outcome] = []
    order: list[int] = []
    received: dict[int, tuple[Outcome, float]] = {}

    async def fn(k: int) -> Outcome:
        runs.append((anyio.current_time(), k))
        return (anyio.current_time(), k)

    f = make(fn)

    async def caller(k: int) -> None:
        await anyio.sleep_until(times[k])
        # Same step as the call: records the order calls at one instant took.
        order.append(k)
        received[k] = (await f(k), anyio.current_time())

    async with anyio.create_task_group() as tg:
        for k in range(len(times)):
            tg.start_soon(caller, k)
    # The model sees the calls in the order they were made; map back to ids.
    expected = model([times[k] for k in order])
    by_id = {order[pos]: (at, order[arg]) for pos, (at, arg) in enumerate(expected)}
    assert {k: r[0] for k, r in received.items()} == by_id
    for k, (outcome, when) in received.items():
        assert when == max(outcome[0], times[k])
    assert runs == sorted(set(by_id.values()))


TIMES = st.lists(st.integers(0, 40), min_size=1, max_size=20).map(sorted)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(
    times=TIMES,
    wait=st.integers(1, 6),
    extra=st.one_of(st.none(), st.integers(0, 12)),
)
def test_debounce_matches_the_reference_model(
    backend: str, times: list[int], wait: int, extra: int | None
) -> None:
    """Random call times: executions and outcomes match the lodash model."""
    max_wait = None if extra is None else wait + extra
    _run(
        backend,
        functools.partial(
            _check_against_model,
            debounce(wait, max_wait=max_wait),
            times,
            functools.partial(model_debounce, wait=wait, max_wait=max_wait),
        ),
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=40, deadline=None)
@given(
    times=TIMES,
    interval=st.integers(1, 6),
    edges=st.sampled_from([(True, True), (True, False), (False, True)]),
)
def test_throttle_matches_the_reference_model(
    backend: str, times: list[int], interval: int, edges: tuple[bool, bool]
) -> None:
    """Random call times: executions and outcomes match the throttle model."""
    leading, trailing = edges
    _run(
        backend,
        functools.partial(
            _check_against_model,
            throttle(interval, leading=leading, trailing=trailing),
            times,
            functools.partial(
                model_throttle, interval=interval, leading=leading, trailing=trailing
            ),
        ),
    )


def test_models_reproduce_the_documented_timelines() -> None:
    """The models agree with the hand-written timelines above (no circularity)."""
    assert model_debounce([0, 1, 2, 10], 3, None) == [(5, 2)] * 3 + [(13, 3)]
    assert model_debounce(list(range(8)), 2, 5) == [(5, 4)] * 5 + [(9, 7)] * 3
    spec = [0, 1, 2, 5, 13]
    assert model_throttle(spec, 4, True, True) == [
        (0, 0),
        (4, 2),
        (4, 2),
        (8, 3),
        (13, 4),
    ]
    assert model_throttle(spec, 4, True, False) == [(0, 0)] * 3 + [(5, 3), (13, 4)]
    assert model_throttle(spec, 4, False, True) == [(4, 2)] * 3 + [(9, 3), (17, 4)]


# -- lodash itself ------------------------------------------------------------------


def lodash_debounce(
    times: Sequence[Fraction],
    wait: Fraction,
    max_wait: Fraction | None,
    *,
    leading: bool,
    trailing: bool = True,
) -> tuple[list[tuple[Fraction, int]], set[Fraction]]:
    """lodash 4's debounce (which throttle calls), ported line by line.

    Runs on an exact discrete-event clock, calls before timers at one time.
    Returns the invocations (time, index of the arguments' call) and every
    time a timer was set for, to spot ties, whose order is undefined in JS.
    """
    maxing = max_wait is not None
    events = [(t, k, "call", k) for k, t in enumerate(times)]
    heapq.heapify(events)
    seq = itertools.count(len(times))
    timers: set[int] = set()
    scheduled: set[Fraction] = set()
    invokes: list[tuple[Fraction, int]] = []
    state: dict[str, Any] = {"args": None, "call": None, "invoke": Fraction(0)}
    timer: list[int | None] = [None]
    now = Fraction(0)

    def start_timer(delay: Fraction) -> int:
        ident = next(seq)
        timers.add(ident)
        scheduled.add(now + delay)
        heapq.heappush(events, (now + delay, ident, "timer", ident))
        return ident

    def invoke(time: Fraction) -> None:
        invokes.append((time, state["args"]))
        state["args"], state["invoke"] = None, time

    def should_invoke(time: Fraction) -> bool:
        if state["call"] is None:
            return True
        since_call, since_invoke = time - state["call"], time - state["invoke"]
        return (
            since_call >= wait
            or since_call < 0
            or (maxing and since_invoke >= max_wait)
        )

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "call":
            invoking = should_invoke(now)
            state["args"], state["call"] = payload, now
            if invoking and timer[0] is None:  # leadingEdge
                state["invoke"] = now
                timer[0] = start_timer(wait)
                if leading:
                    invoke(now)
            elif invoking and maxing:  # "handle invocations in a tight loop"
                timers.discard(timer[0])  # type: ignore[arg-type]
                timer[0] = start_timer(wait)
                invoke(now)
            elif timer[0] is None:
                timer[0] = start_timer(wait)
        elif payload in timers:  # timerExpired
            timers.discard(payload)
            if should_invoke(now):  # trailingEdge
                timer[0] = None
                if trailing and state["args"] is not None:
                    invoke(now)
                state["args"] = None
            else:
                waiting = wait - (now - state["call"])
                if maxing:
                    waiting = min(waiting, max_wait - (now - state["invoke"]))  # type: ignore[operator]
                timer[0] = start_timer(waiting)
    return invokes, scheduled


def continues_after_forced_run(
    times: list[int], wait: Fraction, max_wait: Fraction
) -> bool:
    """Whether a call continues a stream less than max_wait - wait after a
    max_wait-forced run: the one case where brace's debounce and lodash's part.
    """
    runs = sorted(set(model_debounce(times, wait, max_wait)))  # type: ignore[arg-type]
    for start, last in runs:
        later = [t for t in times if t >= start]
        if (
            later
            and later[0] - times[last] < wait
            and start + max_wait < later[0] + wait
        ):
            return True
    return False


@settings(max_examples=100, deadline=None)
@given(
    times=st.lists(st.integers(0, 120), min_size=1, max_size=15, unique=True).map(
        sorted
    ),
    wait=st.integers(1, 20),
    extra=st.one_of(st.none(), st.integers(0, 30)),
)
def test_debounce_is_lodash_away_from_two_corners(
    times: list[int], wait: int, extra: int | None
) -> None:
    """The debounce model equals lodash's code, bar ties and one max_wait corner."""
    w = wait + Fraction(137, 1000)  # off the integer grid: ties stay rare
    m = None if extra is None else w + extra + Fraction(291, 10000)
    invokes, scheduled = lodash_debounce(
        [Fraction(t) for t in times], w, m, leading=False
    )
    assume(not scheduled & set(times))
    assume(m is None or not continues_after_forced_run(times, w, m))
    assert invokes == sorted(set(model_debounce(times, w, m)))  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(
    times=st.lists(st.integers(0, 120), min_size=1, max_size=15, unique=True).map(
        sorted
    ),
    interval=st.integers(1, 20),
)
def test_leading_only_throttle_is_lodash(times: list[int], interval: int) -> None:
    """throttle(trailing=False) equals lodash's code wherever JS's order is defined."""
    i = interval + Fraction(137, 1000)
    invokes, scheduled = lodash_debounce(
        [Fraction(t) for t in times], i, i, leading=True, trailing=False
    )
    assume(not scheduled & set(times))
    assert invokes == sorted(set(model_throttle(times, i, True, False)))  # type: ignore[arg-type]


def test_where_throttle_departs_from_lodash() -> None:
    """The documented differences, on lodash's own code."""
    f = Fraction
    # lodash runs c at 12, 2 s after the trailing run at 10; brace waits.
    invokes, _ = lodash_debounce([f(0), f(1), f(12)], f(10), f(10), leading=True)
    assert invokes == [(0, 0), (10, 1), (12, 2)]
    assert model_throttle([0, 1, 12], 10, True, True) == [(0, 0), (10, 1), (20, 2)]
    # A steady stream: lodash restarts the interval at the first call after
    # a trailing run; brace keeps the period.
    stream = [f(k, 2) for k in range(0, 22, 3)]  # every 1.5 s until 10.5
    invokes, _ = lodash_debounce(stream, f(4), f(4), leading=True)
    assert [at for at, _ in invokes] == [0, 4, f(17, 2), 13]
    ours = model_throttle(stream, 4, True, True)  # type: ignore[arg-type]
    assert sorted({at for at, _ in ours}) == [0, 4, 8, 12]
    # trailing only: lodash runs a call at once if the last run is an
    # interval old and a timer is pending (its leading edge, although
    # leading=False); brace runs an interval after the first uncovered call.
    i = f(17137, 1000)
    invokes, _ = lodash_debounce([f(9), f(16), f(33), f(47)], i, i, leading=False)
    assert invokes == [(9 + i, 1), (47, 3)]
    ours = model_throttle([9, 16, 33, 47], i, False, True)  # type: ignore[arg-type]
    assert ours[2:] == [(33 + i, 3), (33 + i, 3)]


# -- the documentation's timelines ----------------------------------------------------


HOWTO = Path(__file__).resolve().parent.parent / "docs" / "howto" / "debounce.md"


def _doc_timelines() -> list[tuple[str, str]]:
    """Each timeline of the how-to page: (decorator line, block)."""
    blocks = re.findall(r"```text\n(@brace\..*?)```", HOWTO.read_text(), re.DOTALL)
    return [(block.splitlines()[0], block) for block in blocks]


def _parse_decorator(line: str) -> tuple[Any, float]:
    """``@brace.throttle(4, trailing=False)  ...`` -> (decorator, run time)."""
    match = re.match(
        r"@brace\.((?:debounce|throttle)\(.*?\))(?:, each run taking (\d+) s)?", line
    )
    assert match is not None, line
    call = ast.parse(match[1], mode="eval").body
    assert isinstance(call, ast.Call)
    assert isinstance(call.func, ast.Name)
    args = [ast.literal_eval(arg) for arg in call.args]
    kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    make = {"debounce": debounce, "throttle": throttle}[call.func.id]
    return make(*args, **kwargs), float(match[2] or 0)


def _events(row: str, origin: int) -> list[tuple[int, str]]:
    return [
        (col - origin, c) for col, c in enumerate(row) if col >= origin and c.isalpha()
    ]


def test_the_howto_has_timelines() -> None:
    """The how-to page shows the timelines the next test checks."""
    assert len(_doc_timelines()) == 6


@pytest.mark.anyio
@pytest.mark.parametrize(("header", "block"), _doc_timelines())
async def test_the_howto_timelines_are_what_the_code_does(
    header: str, block: str
) -> None:
    """Each ASCII timeline in docs/howto/debounce.md, played, runs as drawn."""
    decorator, duration = _parse_decorator(header)
    lines = block.splitlines()
    time_row = next(i for i, line in enumerate(lines) if line.startswith("time"))
    origin = lines[time_row].index("0")
    calls = _events(lines[time_row + 2], origin)
    runs = [(at, c) for at, c in _events(lines[time_row + 3], origin)]
    target = Target(duration=duration)
    await play(decorator(target), [Call(at, label) for at, label in calls])
    assert target.runs == runs
