"""Tests for brace.Saga: order, reverse compensation, shielding, the result."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace import _events
from brace._events import SagaFinished, StepFailed, StepStarted, StepSucceeded
from brace._saga import Saga
from brace._saga_result import SagaResult, StepOutcome
from brace._step import Step, step
from brace.testing import VirtualTimeEventLoop

anyio_mark = pytest.mark.anyio

Log = list[Any]


class Stop(BaseException):
    """A BaseException that is neither cancellation nor an interrupt."""


def forward(name: str, log: Log, *, fails: bool = False, delay: float = 0.0) -> Any:
    """A step function that logs, optionally waits, then fails or returns."""

    async def fn(ctx: dict[str, Any]) -> str:
        log.append(name)
        if delay:
            await anyio.sleep(delay)
        if fails:
            raise ValueError(f"{name} failed")
        ctx[name] = f"{name}-result"
        log.append(f"{name} done")
        return f"{name}-result"

    fn.__qualname__ = name
    return fn


def backward(name: str, log: Log, *, fails: bool = False, delay: float = 0.0) -> Any:
    """A compensation that logs its result, optionally waits, then fails or not."""

    async def undo(result: str) -> None:
        log.append(("undo", name, result))
        if delay:
            await anyio.sleep(delay)
        if fails:
            raise ConnectionError(f"undo {name} failed")
        log.append(("undone", name))

    return undo


def three(
    log: Log,
    *,
    fail: str | None = None,
    delay: float = 0.0,
    undo_delay: float = 0.0,
    **kwargs: Any,
) -> Saga[[dict[str, Any]]]:
    """Saga 'trip': flight, hotel, car; each compensated; *fail* raises."""
    return Saga(
        "trip",
        [
            step(
                name,
                forward(name, log, fails=name == fail, delay=delay),
                compensate=backward(name, log, delay=undo_delay),
            )
            for name in ("flight", "hotel", "car")
        ],
        **kwargs,
    )


def now() -> float:
    return anyio.current_time()


class TestConstruction:
    """Saga() checks its arguments."""

    def test_defaults_and_repr(self) -> None:
        """Steps are kept as a tuple; compensations get 30 s by default."""
        saga = three([])
        assert saga.name == "trip"
        assert [s.name for s in saga.steps] == ["flight", "hotel", "car"]
        assert isinstance(saga.steps, tuple)
        assert saga.compensation_timeout == 30.0 == Saga.DEFAULT_COMPENSATION_TIMEOUT
        assert saga.listeners == ()
        assert repr(saga) == "<Saga 'trip' steps=['flight', 'hotel', 'car']>"

    def test_steps_from_any_iterable(self) -> None:
        """A generator of steps is fine."""
        saga: Saga[[dict[str, Any]]] = Saga(
            "g", (step(n, forward(n, [])) for n in "ab")
        )
        assert [s.name for s in saga.steps] == ["a", "b"]

    def test_compensation_timeout(self) -> None:
        """compensation_timeout takes seconds, a timedelta or None; not 0."""
        saga = three([], compensation_timeout=dt.timedelta(seconds=5))
        assert saga.compensation_timeout == 5.0
        assert three([], compensation_timeout=None).compensation_timeout is None
        assert three([], compensation_timeout=2).compensation_timeout == 2.0
        with pytest.raises(ValueError, match="compensation_timeout"):
            three([], compensation_timeout=0)
        with pytest.raises(TypeError, match="compensation_timeout"):
            three([], compensation_timeout="5")

    def test_name(self) -> None:
        """The name must be a non-empty str."""
        s = step("a", forward("a", []))
        with pytest.raises(TypeError, match="saga name"):
            Saga(None, [s])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="saga name"):
            Saga("", [s])

    def test_needs_steps(self) -> None:
        """No steps: ValueError."""
        with pytest.raises(ValueError, match="at least one step"):
            Saga("empty", [])

    def test_a_list_not_one_step(self) -> None:
        """A single step, or a non-iterable, where the list goes: TypeError."""
        s = step("a", forward("a", []))
        with pytest.raises(TypeError, match="list of steps"):
            Saga("one", s)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="list of steps"):
            Saga("one", 42)  # type: ignore[arg-type]

    def test_only_steps(self) -> None:
        """A bare function among the steps: TypeError saying to use step()."""
        with pytest.raises(TypeError, match=r"brace\.step\(name, fn"):
            Saga("bare", [forward("a", [])])

    def test_distinct_names(self) -> None:
        """Two steps of one name: ValueError."""
        a = step("a", forward("a", []))
        with pytest.raises(ValueError, match="two steps named 'a'"):
            Saga("dup", [a, a])

    def test_listeners_are_checked(self) -> None:
        """Non-callable listeners raise TypeError."""
        with pytest.raises(TypeError, match="listeners"):
            three([], listeners=[None])


@anyio_mark
class TestRuns:
    """Completed and compensated runs, and what the result says."""

    async def test_completed(self) -> None:
        """Every step runs once, in order, with the run's arguments."""
        log: Log = []
        saga = three(log)
        ctx: dict[str, Any] = {}
        result = await saga.run(ctx)
        assert log == [
            "flight",
            "flight done",
            "hotel",
            "hotel done",
            "car",
            "car done",
        ]
        assert ctx == {n: f"{n}-result" for n in ("flight", "hotel", "car")}
        assert result.ok
        assert (result.name, result.status) == ("trip", "completed")
        assert (result.failed_step, result.error) == (None, None)
        assert result.statuses == dict.fromkeys(("flight", "hotel", "car"), "completed")
        assert result.results == ctx
        assert result.compensation_errors == {}
        assert result.steps[0] == StepOutcome(
            name="flight", status="completed", result="flight-result"
        )
        assert result["car"].result == "car-result"
        assert result.result_of(saga.steps[1]) == "hotel-result"
        result.raise_for_status()
        assert repr(result) == (
            "<SagaResult 'trip' completed {'flight': 'completed', "
            "'hotel': 'completed', 'car': 'completed'}>"
        )

    async def test_keyword_arguments(self) -> None:
        """Keyword arguments reach every step too."""
        seen: list[tuple[int, str]] = []

        async def record(n: int, *, who: str) -> None:
            seen.append((n, who))

        saga = Saga("kw", [step("a", record), step("b", record)])
        result = await saga.run(1, who="me")
        assert result.results == {"a": None, "b": None}
        assert seen == [(1, "me"), (1, "me")]

    async def test_failure_compensates_in_reverse(self) -> None:
        """The completed steps are undone last-first, each with its result."""
        log: Log = []
        saga = three(log, fail="car")
        result = await saga.run({})
        assert log == [
            "flight",
            "flight done",
            "hotel",
            "hotel done",
            "car",
            ("undo", "hotel", "hotel-result"),
            ("undone", "hotel"),
            ("undo", "flight", "flight-result"),
            ("undone", "flight"),
        ]
        assert not result.ok
        assert result.status == "compensated"
        assert result.statuses == {
            "flight": "compensated",
            "hotel": "compensated",
            "car": "failed",
        }
        assert result.failed_step == "car"
        assert isinstance(result.error, ValueError)
        assert result.error.__notes__ == [
            "brace: saga 'trip' failed at step 'car'; compensated 'hotel', 'flight'"
        ]
        assert result["car"].error is result.error
        assert result.results == {"flight": "flight-result", "hotel": "hotel-result"}
        with pytest.raises(ValueError, match="car failed") as info:
            result.raise_for_status()
        assert info.value is result.error

    async def test_steps_after_the_failure_are_skipped(self) -> None:
        """Later steps never run; nothing to undo when the first step fails."""
        log: Log = []
        saga = three(log, fail="flight")
        result = await saga.run({})
        assert log == ["flight"]
        assert result.status == "compensated"
        assert result.statuses == {
            "flight": "failed",
            "hotel": "skipped",
            "car": "skipped",
        }
        assert result["hotel"] == StepOutcome(name="hotel", status="skipped")
        assert result.error is not None
        assert result.error.__notes__ == [
            "brace: saga 'trip' failed at step 'flight'; nothing to compensate"
        ]
        for s in saga.steps[:2]:
            with pytest.raises(KeyError, match="has no result"):
                result.result_of(s)
        with pytest.raises(KeyError, match="has no step 'boat'"):
            result["boat"]
        with pytest.raises(KeyError, match="has no step 'boat'"):
            result.result_of(step("boat", forward("boat", [])))

    async def test_steps_without_compensation_stay_completed(self) -> None:
        """A completed step with nothing to undo keeps status 'completed'."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log)),
                step("email", forward("email", log)),
                step("b", forward("b", log, fails=True)),
            ],
        )
        result = await saga.run({})
        assert result.statuses == {
            "a": "compensated",
            "email": "completed",
            "b": "failed",
        }
        assert result.result_of(saga.steps[1]) == "email-result"
        assert log[-2:] == [("undo", "a", "a-result"), ("undone", "a")]

    @pytest.mark.parametrize("limit", [30.0, None])
    async def test_compensation_failure_is_collected(self, limit: float | None) -> None:
        """A failing compensation does not stop the others nor hide the error."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log)),
                step("b", forward("b", log), compensate=backward("b", log, fails=True)),
                step("c", forward("c", log, fails=True)),
            ],
            compensation_timeout=limit,
        )
        result = await saga.run({})
        assert result.status == "compensation_failed"
        assert result.statuses == {
            "a": "compensated",
            "b": "compensation_failed",
            "c": "failed",
        }
        assert ("undone", "a") in log
        errors = result.compensation_errors
        assert list(errors) == ["b"]
        assert isinstance(errors["b"], ConnectionError)
        assert result["b"].result == "b-result"
        assert isinstance(result.error, ValueError)
        assert result.error.__notes__ == [
            (
                "brace: saga 's' failed at step 'c'; compensated 'a'; compensation "
                "failed for 'b' (ConnectionError: undo b failed)"
            )
        ]

    async def test_compensation_with_its_own_retry(self) -> None:
        """A compensation made a step with a Retry is retried on its own."""
        attempts = 0

        async def refund(payment: str) -> None:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise OSError("bank down")

        undo = step(
            "refund",
            refund,
            brace.Retry(on=OSError, backoff=brace.Backoff.constant(2.0)),
        )
        log: Log = []
        saga = Saga(
            "pay",
            [
                step("charge", forward("charge", log), compensate=undo),
                step("ship", forward("ship", log, fails=True)),
            ],
        )
        start = now()
        result = await saga.run({})
        assert result.statuses == {"charge": "compensated", "ship": "failed"}
        assert attempts == 3
        assert now() - start == pytest.approx(4.0)

    async def test_compensation_timeout(self) -> None:
        """A hung compensation fails with TimeoutError; the next ones still run."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log, delay=1)),
                step("b", forward("b", log), compensate=backward("b", log, delay=99)),
                step("c", forward("c", log, fails=True)),
            ],
            compensation_timeout=5,
        )
        start = now()
        result = await saga.run({})
        assert now() - start == pytest.approx(6.0)
        assert result.statuses == {
            "a": "compensated",
            "b": "compensation_failed",
            "c": "failed",
        }
        error = result.compensation_errors["b"]
        assert isinstance(error, brace.TimeoutError)
        assert "b.compensate timed out after 5 s" in str(error)

    async def test_each_compensation_has_its_own_limit(self) -> None:
        """Two 3 s compensations under a 5 s limit both finish (6 s in all)."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log, delay=3)),
                step("b", forward("b", log), compensate=backward("b", log, delay=3)),
                step("c", forward("c", log, fails=True)),
            ],
            compensation_timeout=5,
        )
        result = await saga.run({})
        assert result.status == "compensated"
        assert now() == pytest.approx(6.0)

    async def test_last_compensation_times_out(self) -> None:
        """The last compensation to run can time out too."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log, delay=9)),
                step("b", forward("b", log, fails=True)),
            ],
            compensation_timeout=5,
        )
        result = await saga.run({})
        assert result.statuses == {"a": "compensation_failed", "b": "failed"}
        assert isinstance(result.compensation_errors["a"], brace.TimeoutError)
        assert now() == pytest.approx(5.0)

    async def test_compensation_that_swallows_its_timeout(self) -> None:
        """A compensation that ignores its time limit does not break the next."""

        async def stubborn(result: str) -> None:
            try:
                await anyio.sleep(9)
            except anyio.get_cancelled_exc_class():
                return  # swallowed: it counts as done

        saga = Saga(
            "s",
            [
                step("a", forward("a", []), compensate=backward("a", [], delay=9)),
                step("b", forward("b", []), compensate=stubborn),
                step("c", forward("c", [], fails=True)),
            ],
            compensation_timeout=5,
        )
        result = await saga.run({})
        assert result.statuses == {
            "a": "compensation_failed",
            "b": "compensated",
            "c": "failed",
        }
        assert isinstance(result.compensation_errors["a"], brace.TimeoutError)
        assert now() == pytest.approx(10.0)

    async def test_no_compensation_timeout(self) -> None:
        """compensation_timeout=None lets a long compensation finish."""
        log: Log = []
        saga = three(log, fail="car", undo_delay=100, compensation_timeout=None)
        start = now()
        result = await saga.run({})
        assert result.status == "compensated"
        assert now() - start == pytest.approx(200.0)

    async def test_step_timeout_policy_fails_the_step(self) -> None:
        """A step cut by its own Timeout fails like any other error."""
        log: Log = []
        saga = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log)),
                step("b", forward("b", log, delay=10), brace.Timeout(2)),
            ],
        )
        result = await saga.run({})
        assert result.statuses == {"a": "compensated", "b": "failed"}
        assert isinstance(result.error, brace.TimeoutError)
        assert now() == pytest.approx(2.0)

    async def test_concurrent_runs_are_independent(self) -> None:
        """One saga object runs concurrently; each run has its own result."""
        results: dict[str, SagaResult] = {}

        async def maybe_fail(ctx: dict[str, Any]) -> str:
            await anyio.sleep(ctx["delay"])
            if ctx["fail"]:
                raise ValueError(ctx["who"])
            who: str = ctx["who"]
            return who

        undone: list[str] = []

        async def undo(result: str) -> None:
            undone.append(result)

        saga = Saga(
            "s",
            [step("first", maybe_fail, compensate=undo), step("second", maybe_fail)],
        )

        async def run(who: str, delay: float, fail: bool) -> None:
            ctx = {"who": who, "delay": delay, "fail": fail}
            results[who] = await saga.run(ctx)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "x", 1.0, False)
            tg.start_soon(run, "y", 0.5, False)
        assert results["x"].ok
        assert results["y"].ok
        assert results["x"].result_of(saga.steps[0]) == "x"
        assert undone == []

    async def test_result_constructor(self) -> None:
        """SagaResult can be built directly and compares by what it says."""
        result = SagaResult(
            name="s",
            status="compensated",
            steps=[StepOutcome(name="a", status="compensated", result=1)],
            failed_step="b",
        )
        assert result.steps == (StepOutcome(name="a", status="compensated", result=1),)
        assert result.results == {"a": 1}
        assert result.failed_step == "b"
        result.raise_for_status()  # no error given: nothing to raise
        with pytest.raises(AttributeError):
            result.status = "completed"  # type: ignore[misc]


@anyio_mark
class TestCancellation:
    """A cancelled saga undoes what it did, shielded, then stays cancelled."""

    async def test_move_on_after_mid_step(self) -> None:
        """Cancelled in step 3: steps 2 and 1 are undone in full, then it ends."""
        log: Log = []
        seen: list[_events.Event] = []
        saga = three(log, delay=1, undo_delay=3, listeners=[seen.append])
        with anyio.move_on_after(2.5) as scope:
            await saga.run({})
        assert scope.cancelled_caught
        assert now() == pytest.approx(2.5 + 6)
        assert log == [
            "flight",
            "flight done",
            "hotel",
            "hotel done",
            "car",
            ("undo", "hotel", "hotel-result"),
            ("undone", "hotel"),
            ("undo", "flight", "flight-result"),
            ("undone", "flight"),
        ]
        (finished,) = seen
        assert isinstance(finished, SagaFinished)
        assert (finished.status, finished.failed_step, finished.cancelled) == (
            "compensated",
            "car",
            True,
        )
        assert isinstance(finished.error, anyio.get_cancelled_exc_class())
        assert finished.elapsed == pytest.approx(8.5)

    async def test_task_group_cancel(self) -> None:
        """Cancelling the task group mid-step runs the compensations first."""
        log: Log = []
        saga = three(log, delay=1, undo_delay=1)

        async with anyio.create_task_group() as tg:
            tg.start_soon(saga.run, {})
            await anyio.sleep(1.5)
            tg.cancel_scope.cancel()
        assert log[-3:] == [
            "hotel",
            ("undo", "flight", "flight-result"),
            ("undone", "flight"),
        ]
        assert now() == pytest.approx(2.5)

    async def test_cancelled_while_compensating(self) -> None:
        """A cancellation during the compensations waits for them, then wins."""
        log: Log = []
        saga = three(log, fail="car", undo_delay=2)
        with anyio.move_on_after(1) as scope:
            await saga.run({})
            pytest.fail("the cancellation was swallowed")  # pragma: no cover
        assert scope.cancelled_caught
        assert now() == pytest.approx(4.0)
        assert log[-1] == ("undone", "flight")

    async def test_cancelled_while_compensating_is_reported(self) -> None:
        """SagaFinished says cancelled=True when the run re-raises a cancellation
        that arrived while compensating (failed before the fix: False)."""
        log: Log = []
        seen: list[_events.Event] = []
        saga = three(log, fail="car", undo_delay=2, listeners=[seen.append])
        with anyio.move_on_after(1) as scope:
            await saga.run({})
        assert scope.cancelled_caught
        (finished,) = seen
        assert isinstance(finished, SagaFinished)
        assert (finished.status, finished.failed_step, finished.cancelled) == (
            "compensated",
            "car",
            True,
        )
        assert isinstance(finished.error, ValueError)
        assert finished.elapsed == pytest.approx(4.0)

    async def test_cancel_at_the_instant_a_step_returns(self) -> None:
        """Cancelled just as a step completes: undone if and only if it completed."""
        log: Log = []
        saga = three(log, delay=1, undo_delay=1)
        with anyio.move_on_after(2):  # the second step returns at 2.0 too
            await saga.run({})
        completed = [n for n in ("flight", "hotel", "car") if f"{n} done" in log]
        undone = [entry[1] for entry in log if entry[0] == "undone"]
        assert undone == list(reversed(completed))
        assert "flight" in completed
        assert "car" not in completed

    async def test_other_base_exceptions(self) -> None:
        """A step raising a BaseException: compensations run, it propagates."""
        log: Log = []

        async def stop(ctx: dict[str, Any]) -> None:
            raise Stop

        saga: Saga[[dict[str, Any]]] = Saga(
            "s",
            [
                step("a", forward("a", log), compensate=backward("a", log)),
                step("stop", stop),
            ],
        )
        with pytest.raises(Stop):
            await saga.run({})
        assert log[-1] == ("undone", "a")

    async def test_base_exception_in_a_compensation(self) -> None:
        """A BaseException from a compensation is not collected: it propagates."""

        async def undo(result: str) -> None:
            raise Stop

        saga: Saga[[dict[str, Any]]] = Saga(
            "s",
            [
                step("a", forward("a", []), compensate=undo),
                step("b", forward("b", [], fails=True)),
            ],
        )
        with pytest.raises(Stop):
            await saga.run({})


class TestAsyncioCancellation:
    """asyncio's cancellations cannot interrupt a compensation either."""

    @pytest.mark.asyncio
    async def test_task_cancel_mid_step(self) -> None:
        """task.cancel() mid-step: compensations run, CancelledError follows."""
        log: Log = []
        task = asyncio.create_task(three(log, delay=1, undo_delay=2).run({}))
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log[-2:] == [("undo", "flight", "flight-result"), ("undone", "flight")]
        assert asyncio.get_running_loop().time() == 3.5

    @pytest.mark.asyncio
    async def test_asyncio_timeout_mid_step(self) -> None:
        """asyncio.timeout mid-step: TimeoutError after the compensations."""
        log: Log = []
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2.5):
                await three(log, delay=1, undo_delay=2).run({})
        assert loop.time() == 6.5
        assert [e[1] for e in log if e[0] == "undone"] == ["hotel", "flight"]

    @pytest.mark.asyncio
    async def test_wait_for(self) -> None:
        """wait_for's timeout also waits for the compensations."""
        log: Log = []
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(three(log, delay=1, undo_delay=2).run({}), 1.5)
        assert loop.time() == 3.5
        assert log[-1] == ("undone", "flight")

    @pytest.mark.asyncio
    async def test_timeout_while_compensating(self) -> None:
        """asyncio.timeout firing during the compensations: they finish first."""
        log: Log = []
        loop = asyncio.get_running_loop()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await three(log, fail="car", undo_delay=2).run({})
        assert loop.time() == 4.0
        assert log[-1] == ("undone", "flight")

    @pytest.mark.asyncio
    async def test_repeated_cancellation_while_compensating(self) -> None:
        """Cancelled again and again while compensating: they still finish."""
        log: Log = []
        task = asyncio.create_task(three(log, delay=1, undo_delay=2).run({}))
        await asyncio.sleep(1.5)
        for _ in range(3):
            task.cancel()
            await asyncio.sleep(0.5)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert log[-1] == ("undone", "flight")
        assert asyncio.get_running_loop().time() == 3.5

    @pytest.mark.asyncio
    async def test_compensation_sees_the_context(self) -> None:
        """Compensations run with the caller's context variables."""
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
        seen: list[str] = []

        async def undo(result: str) -> None:
            seen.append(var.get())

        var.set("request-42")
        saga = Saga(
            "s",
            [
                step("a", forward("a", []), compensate=undo),
                step("b", forward("b", [], fails=True)),
            ],
        )
        await saga.run({})
        assert seen == ["request-42"]


@anyio_mark
class TestEvents:
    """SagaFinished, and the step events of steps and compensations."""

    async def test_completed(self) -> None:
        """A completed run reports its status and elapsed time."""
        seen: list[_events.Event] = []
        saga = three([], delay=1, listeners=[seen.append])
        await saga.run({})
        assert seen == [SagaFinished(name="trip", status="completed", elapsed=3.0)]

    async def test_compensated_and_step_events(self) -> None:
        """Step events name compensations '<step>.compensate'."""
        seen: list[_events.Event] = []
        with brace.subscribe(seen.append):
            result = await three([], fail="hotel").run({})
        names = [(type(e).__name__, e.name) for e in seen]
        assert names == [
            ("StepStarted", "flight"),
            ("StepSucceeded", "flight"),
            ("StepStarted", "hotel"),
            ("StepFailed", "hotel"),
            ("StepStarted", "flight.compensate"),
            ("StepSucceeded", "flight.compensate"),
            ("SagaFinished", "trip"),
        ]
        assert seen[-1] == SagaFinished(
            name="trip",
            status="compensated",
            failed_step="hotel",
            error=result.error,
            elapsed=0.0,
        )
        assert isinstance(seen[3], StepFailed)
        assert isinstance(seen[0], StepStarted)
        assert isinstance(seen[1], StepSucceeded)

    async def test_nothing_built_without_listeners(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nobody listening: no events, no clock reads."""

        def boom(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("built an event nobody listens to")

        monkeypatch.setattr(_events, "SagaFinished", boom)
        monkeypatch.setattr("brace._saga.now", boom)
        assert (await three([]).run({})).ok
        assert (await three([], fail="car").run({})).status == "compensated"

    async def test_step_listeners_use_the_observed_path(self) -> None:
        """A step's own listeners still hear it when it runs in a saga."""
        seen: list[_events.Event] = []
        saga = Saga("s", [step("a", forward("a", []), listeners=[seen.append])])
        await saga.run({})
        assert [type(e) for e in seen] == [StepStarted, StepSucceeded]


# -- every combination, against a plain model ---------------------------------


@settings(max_examples=40, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=5
    ),  # (has compensation, compensation fails) per step
    fail_at=st.none() | st.integers(0, 4),
)
def test_outcomes_match_the_model(
    plan: list[tuple[bool, bool]], fail_at: int | None
) -> None:
    """Statuses, compensation order and saga status, for any failure pattern."""
    if fail_at is not None and fail_at >= len(plan):
        fail_at = None
    log: Log = []
    steps: list[Step[[dict[str, Any]], Any]] = []
    for i, (has_undo, undo_fails) in enumerate(plan):
        name = f"s{i}"
        undo = backward(name, log, fails=undo_fails) if has_undo else None
        steps.append(
            step(name, forward(name, log, fails=i == fail_at), compensate=undo)
        )
    saga = Saga("model", steps)
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        result = runner.run(saga.run({}))

    expected: dict[str, str] = {}
    for i, (has_undo, undo_fails) in enumerate(plan):
        if fail_at is None or i < fail_at:
            if fail_at is None or not has_undo:
                expected[f"s{i}"] = "completed"
            else:
                expected[f"s{i}"] = (
                    "compensation_failed" if undo_fails else "compensated"
                )
        else:
            expected[f"s{i}"] = "failed" if i == fail_at else "skipped"
    assert result.statuses == expected
    undone = [
        entry[1] for entry in log if isinstance(entry, tuple) and entry[0] == "undo"
    ]
    before = plan[: fail_at if fail_at is not None else 0]
    assert undone == [f"s{i}" for i in reversed(range(len(before))) if plan[i][0]]
    if fail_at is None:
        assert result.status == "completed"
    elif "compensation_failed" in expected.values():
        assert result.status == "compensation_failed"
    else:
        assert result.status == "compensated"


# -- the example ---------------------------------------------------------------


def test_booking_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """examples/saga_booking.py runs and leaves nothing booked on failure."""
    import importlib.util
    import sys
    from pathlib import Path

    from brace import _registry

    # Until the names are exported from brace itself.
    for name, value in [
        ("Registry", _registry.Registry),
        ("Saga", Saga),
        ("SagaResult", SagaResult),
        ("step", step),
    ]:
        monkeypatch.setattr(brace, name, getattr(brace, name, value), raising=False)
    path = Path(__file__).resolve().parent.parent / "examples" / "saga_booking.py"
    spec = importlib.util.spec_from_file_location("_brace_example_saga", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # for its dataclasses
    spec.loader.exec_module(module)
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(module.main())
    out = capsys.readouterr().out
    assert out.count("  -> still booked: []") == 2
    assert "  -> still booked: ['inn-cy-1']" in out
    assert "compensation of hotel failed: inn: cancellation API is down" in out
    assert (
        "cancelled cars-bob-1\n    cancelled inn-bob-1\n    cancelled air-bob-1" in out
    )
    assert "TimeoutError after 0.7 s, compensations included" in out
    assert "still charged: {}" in out
    assert "  inn: limiter, in use: False, acquired 5" in out
