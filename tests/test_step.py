"""Tests for brace.step: a named call, its policies, its compensation, events."""

from __future__ import annotations

import asyncio
import functools
import inspect
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import brace
from brace import _events
from brace._events import StepFailed, StepStarted, StepSucceeded
from brace._step import Step, step

anyio_mark = pytest.mark.anyio


async def double(x: int, *, times: int = 2) -> int:
    return x * times


async def slow(delay: float, value: Any = "done") -> Any:
    await anyio.sleep(delay)
    return value


def tagging(tag: str, log: list[str]) -> Callable[[Callable[..., Any]], Any]:
    """A policy that records when its layer is entered and left."""

    def decorate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            log.append(f"{tag}>")
            try:
                return await fn(*args, **kwargs)
            finally:
                log.append(f"<{tag}")

        return wrapper

    return decorate


class TestConstruction:
    """step() checks its arguments when the step is made."""

    def test_step_keeps_what_it_was_given(self) -> None:
        """name, fn and policies are kept; the Step wraps fn for introspection."""
        retry = brace.Retry(on=OSError)
        s = step("double", double, retry)
        assert isinstance(s, Step)
        assert (s.name, s.fn, s.policies, s.compensate) == (
            "double",
            double,
            (retry,),
            None,
        )
        assert s.listeners == ()
        assert inspect.signature(s) == inspect.signature(double)
        assert inspect.iscoroutinefunction(type(s).__call__)

    def test_immutable(self) -> None:
        """Attributes cannot be changed after the policies were applied."""
        s = step("s", double)
        with pytest.raises(AttributeError, match="a Step is immutable"):
            s.policies = (brace.Retry(on=OSError),)
        assert s.policies == ()

    def test_repr(self) -> None:
        """The repr names the step, counts policies, names the compensation."""

        async def undo(result: int) -> None:
            pass

        assert repr(step("a", double)) == "<Step 'a' policies=0>"
        s = step("a", double, brace.Timeout(1), compensate=undo)
        assert repr(s) == "<Step 'a' policies=1 compensate='a.compensate'>"

    @pytest.mark.parametrize("name", [None, 3, b"x"])
    def test_name_must_be_a_str(self, name: Any) -> None:
        """A name that is not a str raises TypeError."""
        with pytest.raises(TypeError, match="step name must be a str"):
            step(name, double)

    def test_name_must_not_be_empty(self) -> None:
        """An empty name raises ValueError: it would name nothing in events."""
        with pytest.raises(ValueError, match="must not be empty"):
            step("", double)

    def test_fn_must_be_async(self) -> None:
        """A plain function raises TypeError naming the step."""

        def sync(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="step 'sync' needs an async function"):
            step("sync", sync)  # type: ignore[arg-type]

    @pytest.mark.parametrize("policy", [3, None, "retry"])
    def test_policy_must_be_callable(self, policy: Any) -> None:
        """A policy that is not a decorator raises TypeError."""
        with pytest.raises(TypeError, match="must be decorators"):
            step("s", double, policy)

    def test_policy_must_not_be_an_async_function(self) -> None:
        """An async function where a policy goes is a mistake, caught early."""
        with pytest.raises(TypeError, match="must be decorators"):
            step("s", double, double)

    def test_policy_must_return_a_function(self) -> None:
        """A 'policy' that returns a non-callable raises TypeError."""
        with pytest.raises(TypeError, match="must return the decorated function"):
            step("s", double, lambda fn: 42)

    def test_policy_errors_propagate(self) -> None:
        """A policy that refuses the function raises at once."""

        def refuse(fn: Any) -> Any:
            raise TypeError("cannot wrap this")

        with pytest.raises(TypeError, match="cannot wrap this"):
            step("s", double, refuse)

    def test_compensate_must_be_async(self) -> None:
        """A synchronous compensation raises TypeError."""

        def undo(result: int) -> None:
            pass

        with pytest.raises(TypeError, match="compensate of step 's'"):
            step("s", double, compensate=undo)  # type: ignore[arg-type]

    def test_plain_compensation_becomes_a_step(self) -> None:
        """A function compensation is wrapped in a step named '<name>.compensate'."""

        async def undo(result: int) -> None:
            pass

        s = step("charge", double, compensate=undo)
        assert isinstance(s.compensate, Step)
        assert s.compensate.name == "charge.compensate"
        assert s.compensate.fn is undo

    def test_step_compensation_is_kept(self) -> None:
        """A step given as the compensation is used as it is."""

        async def refund(result: int) -> None:
            pass

        undo = step("refund", refund, brace.Retry(on=OSError))
        assert step("charge", double, compensate=undo).compensate is undo

    def test_listeners_are_checked(self) -> None:
        """Non-callable listeners raise TypeError."""
        with pytest.raises(TypeError, match="listeners"):
            step("s", double, listeners=[1])  # type: ignore[list-item]

    def test_made_outside_a_loop(self) -> None:
        """Steps are module-level objects: no running loop is needed."""
        s = step("s", double, brace.Retry(on=OSError), brace.Timeout(1))
        assert s.name == "s"


class TestOrderChecks:
    """step() warns about the same policy orders as compose()."""

    def test_breaker_outside_the_retry_warns_at_the_callers_line(self) -> None:
        """A breaker listed before the retry it should count is flagged here."""
        breaker = brace.CircuitBreaker(name="db")
        with pytest.warns(brace.CompositionWarning) as caught:
            step("save", double, breaker, brace.Retry(on=OSError))
        assert caught[0].filename == __file__

    def test_pipelines_are_checked_layer_by_layer(self) -> None:
        """A pipeline among the policies is looked into, not taken as one layer."""
        inner = brace.compose(brace.Retry(on=OSError), check_order=False)
        with pytest.warns(brace.CompositionWarning):
            step("save", double, brace.CircuitBreaker(name="db"), inner)

    def test_the_recommended_order_is_quiet(self) -> None:
        """Timeout, retry, breaker, attempt timeout: no warning."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s = step(
                "save",
                double,
                brace.Timeout(10),
                brace.Retry(on=OSError, deadline=9),
                brace.CircuitBreaker(name="db"),
                brace.Timeout(1),
            )
        assert len(s.policies) == 4


@anyio_mark
class TestCalls:
    """Calling a step runs the function through its policies."""

    async def test_arguments_and_result(self) -> None:
        """Positional and keyword arguments reach fn; its result comes back."""
        s = step("double", double)
        assert await s(4) == 8
        assert await s(4, times=3) == 12

    async def test_policies_apply_outermost_first(self) -> None:
        """step(n, fn, a, b, c) behaves as a(b(c(fn))), the compose() order."""
        log: list[str] = []
        a, b, c = (tagging(t, log) for t in "abc")
        s = step("s", double, a, b, c)
        assert await s(1) == 2
        assert log == ["a>", "b>", "c>", "<c", "<b", "<a"]
        log.clear()
        assert await a(b(c(double)))(1) == 2
        by_hand = list(log)
        assert by_hand == ["a>", "b>", "c>", "<c", "<b", "<a"]

    async def test_retry_policy(self) -> None:
        """A Retry policy retries the step's function."""
        calls = 0

        async def flaky() -> str:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise ConnectionError("reset")
            return "ok"

        s = step(
            "flaky",
            flaky,
            brace.Retry(on=ConnectionError, backoff=brace.Backoff.constant(1.0)),
        )
        start = anyio.current_time()
        assert await s() == "ok"
        assert calls == 3
        assert anyio.current_time() - start == pytest.approx(2.0)

    async def test_retry_outside_timeout(self) -> None:
        """Retry outside a per-attempt Timeout: each attempt is cut at 1 s."""
        calls = 0

        async def hangs_twice() -> str:
            nonlocal calls
            calls += 1
            if calls < 3:
                await anyio.sleep(10)
            return "ok"

        s = step(
            "s",
            hangs_twice,
            brace.Retry(on=TimeoutError, backoff=brace.Backoff.constant(0)),
            brace.Timeout(1),
        )
        start = anyio.current_time()
        assert await s() == "ok"
        assert anyio.current_time() - start == pytest.approx(2.0)

    async def test_errors_pass_through_unchanged(self) -> None:
        """The function's exception leaves the step as it was raised."""
        error = ValueError("bad card")

        async def fail() -> None:
            raise error

        with pytest.raises(ValueError) as info:
            await step("s", fail)()
        assert info.value is error
        assert not getattr(error, "__notes__", None)

    async def test_a_step_is_an_async_callable(self) -> None:
        """Policies can wrap a step, as they wrap any async function."""
        s = step("slow", slow)
        with pytest.raises(brace.TimeoutError):
            await brace.Timeout(1)(s)(5)
        assert await brace.Timeout(1).call(s, 0.5) == "done"

    async def test_shared_between_tasks(self) -> None:
        """One step serves concurrent calls independently."""
        s = step("slow", slow)
        results: list[Any] = []

        async def run(delay: float, value: str) -> None:
            results.append(await s(delay, value))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, 2, "late")
            tg.start_soon(run, 1, "early")
        assert results == ["early", "late"]

    async def test_compensation_is_callable(self) -> None:
        """step.compensate(result) runs the compensation."""
        undone: list[int] = []

        async def undo(result: int) -> None:
            undone.append(result)

        s = step("double", double, compensate=undo)
        result = await s(21)
        assert s.compensate is not None
        await s.compensate(result)
        assert undone == [42]


@anyio_mark
class TestCancellation:
    """Cancellation passes through a step unchanged."""

    async def test_move_on_after(self) -> None:
        """anyio's move_on_after cancels a running step at the exact time."""
        s = step("slow", slow)
        with anyio.move_on_after(2) as scope:
            await s(10)
        assert scope.cancelled_caught
        assert anyio.current_time() == pytest.approx(2.0)

    async def test_task_group_cancel(self) -> None:
        """Cancelling a task group cancels the steps running in it."""
        s = step("slow", slow)
        finished: list[str] = []

        async def run() -> None:
            await s(10)
            finished.append("ran")  # pragma: no cover - cancelled first

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await anyio.sleep(1)
            tg.cancel_scope.cancel()
        assert finished == []


class TestAsyncioCancellation:
    """asyncio's own ways to cancel a step."""

    @pytest.mark.asyncio
    async def test_task_cancel(self) -> None:
        """task.cancel() cancels a step; CancelledError propagates."""
        task = asyncio.create_task(step("slow", slow)(10))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    @pytest.mark.asyncio
    async def test_asyncio_timeout_and_wait_for(self) -> None:
        """asyncio.timeout and wait_for cut a step at the exact time."""
        s = step("slow", slow)
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await s(10)
        assert loop.time() == 1.0
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(s(10), 2)
        assert loop.time() == 3.0


@anyio_mark
class TestEvents:
    """StepStarted, StepSucceeded, StepFailed: only when somebody listens."""

    async def test_success(self) -> None:
        """A step that returns reports its start and its elapsed time."""
        seen: list[_events.Event] = []
        s = step("slow", slow, listeners=[seen.append])
        assert await s(1.5) == "done"
        assert seen == [
            StepStarted(name="slow"),
            StepSucceeded(name="slow", elapsed=1.5),
        ]

    async def test_failure(self) -> None:
        """A step that raises reports the error and the elapsed time."""
        seen: list[_events.Event] = []
        error = KeyError("x")

        async def fail() -> None:
            await anyio.sleep(2)
            raise error

        with brace.subscribe(seen.append, StepFailed), pytest.raises(KeyError):
            await step("fail", fail)()
        assert seen == [StepFailed(name="fail", error=error, elapsed=2.0)]
        failed = seen[0]
        assert isinstance(failed, StepFailed)
        assert failed.exception_type == "KeyError"
        assert not failed.cancelled

    async def test_cancelled(self) -> None:
        """A cancelled step reports StepFailed with cancelled=True."""
        seen: list[_events.Event] = []
        s = step("slow", slow, listeners=[seen.append])
        with anyio.move_on_after(1):
            await s(10)
        assert len(seen) == 2
        failed = seen[1]
        assert isinstance(failed, StepFailed)
        assert failed.cancelled
        assert isinstance(failed.error, anyio.get_cancelled_exc_class())
        assert failed.elapsed == pytest.approx(1.0)

    async def test_nothing_built_without_listeners(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nobody listening: no event objects and no clock reads."""

        def boom(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("built an event nobody listens to")

        monkeypatch.setattr(_events, "StepStarted", boom)
        monkeypatch.setattr(_events, "StepSucceeded", boom)
        monkeypatch.setattr("brace._step.now", boom)
        assert await step("double", double)(2) == 4

    async def test_unsubscribed_mid_step(self) -> None:
        """A listener gone before the step ends gets only the start."""
        seen: list[_events.Event] = []
        sub = brace.subscribe(seen.append)

        async def leave() -> str:
            sub.unsubscribe()
            return "x"

        async def leave_failing() -> None:
            sub.unsubscribe()
            raise ValueError

        async def leave_then_wait() -> None:
            sub.unsubscribe()
            await anyio.sleep(5)

        assert await step("leave", leave)() == "x"
        sub = brace.subscribe(seen.append)
        with pytest.raises(ValueError):
            await step("fail", leave_failing)()
        sub = brace.subscribe(seen.append)
        with anyio.move_on_after(1):
            await step("wait", leave_then_wait)()
        assert seen == [
            StepStarted(name="leave"),
            StepStarted(name="fail"),
            StepStarted(name="wait"),
        ]
