"""Tests for brace.Hedge: options, the race on asyncio and trio (exact
virtual times), failures, budgets, the adaptive delay, events, and
cancellation from every direction with no attempt left running."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import gc
import inspect
import logging
import math
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import pytest
import trio
import trio.testing
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from brace import _events
from brace._hedge import Hedge
from brace._time import running_loop
from brace.testing import VirtualTimeEventLoop

anyio_mark = pytest.mark.anyio


class Boom(BaseException):
    """A BaseException that is not cancellation (like KeyboardInterrupt)."""


class Service:
    """A fake dependency: attempt *n* follows ``plan[n - 1]``.

    Each step is ``(latency, outcome)``: the attempt sleeps *latency*
    seconds, then returns *outcome*, or raises it if it is an exception.
    Records when each attempt started and how it ended.
    """

    def __init__(self, *plan: tuple[float, object]) -> None:
        self.plan = list(plan)
        self.started: list[float] = []
        self.ended: dict[int, str] = {}

    @property
    def running(self) -> int:
        return len(self.started) - len(self.ended)

    async def __call__(self) -> Any:
        number = len(self.started) + 1
        self.started.append(anyio.current_time())
        latency, outcome = self.plan[number - 1]
        try:
            await anyio.sleep(latency)
        except BaseException:
            self.ended[number] = "cancelled"
            raise
        if isinstance(outcome, BaseException):
            self.ended[number] = "raised"
            raise outcome
        self.ended[number] = "returned"
        return outcome


class FakeBudget:
    """A retry budget that allows *allow* withdrawals, recording every call."""

    def __init__(self, allow: float = math.inf) -> None:
        self.allow = allow
        self.withdrawals: list[Exception | None] = []
        self.deposits: list[tuple[int, Exception | None]] = []

    def withdraw(self, error: Exception | None, /) -> bool:
        self.withdrawals.append(error)
        return len(self.withdrawals) <= self.allow

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        self.deposits.append((attempts, last_error))


def _tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() if running_loop() is not None else set()


class Clocked:
    """Runs a hedged call, timing it and checking that nothing outlives it."""

    def __init__(self) -> None:
        self.before: set[asyncio.Task[Any]] = set()
        self.start = 0.0

    def __enter__(self) -> Clocked:
        self.before = _tasks()
        self.start = anyio.current_time()
        return self

    @property
    def elapsed(self) -> float:
        return anyio.current_time() - self.start

    def __exit__(self, *exc: object) -> None:
        assert _tasks() <= self.before, "a hedge task outlived the call"


def _events_of(kind: type[Any], events: list[_events.Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# -- construction -------------------------------------------------------------


class TestConstruction:
    """Bad options fail at construction with a message that says what to do."""

    @pytest.mark.parametrize("value", [-1, -0.1, math.nan, math.inf])
    def test_rejects_bad_delays(self, value: float) -> None:
        """Negative and non-finite delays raise ValueError."""
        with pytest.raises(ValueError, match="delay"):
            Hedge(delay=value)

    @pytest.mark.parametrize("value", [None, True, [1.0], b"p95"])
    def test_rejects_non_durations(self, value: Any) -> None:
        """A delay that is not a number, timedelta or string raises TypeError."""
        with pytest.raises(TypeError, match="delay"):
            Hedge(delay=value)

    @pytest.mark.parametrize("value", ["p49", "p100", "95", "fast", "p99.99"])
    def test_rejects_bad_percentiles(self, value: str) -> None:
        """Percentile strings outside p50..p99.9 raise ValueError."""
        with pytest.raises(ValueError, match="p95"):
            Hedge(delay=value, initial_delay=1.0)

    def test_converts_durations(self) -> None:
        """Timedeltas and ints become float seconds; 0 is allowed (parallel)."""
        assert Hedge(delay=dt.timedelta(milliseconds=250)).delay == 0.25
        assert type(Hedge(delay=2).delay) is float
        assert Hedge(delay=0).delay == 0.0
        pct = Hedge(delay="p95", initial_delay=dt.timedelta(seconds=1))
        assert pct.initial_delay == 1.0

    @pytest.mark.parametrize("value", [0, -1, 11, 1.5, True, "2"])
    def test_rejects_bad_max_hedges(self, value: Any) -> None:
        """max_hedges must be an int from 1 to 10."""
        with pytest.raises(ValueError, match="max_hedges"):
            Hedge(delay=1, max_hedges=value)

    def test_accepts_ten_hedges(self) -> None:
        """Ten hedges are the most allowed."""
        assert Hedge(delay=1, max_hedges=10).max_hedges == 10

    @pytest.mark.parametrize("value", [KeyboardInterrupt, (ValueError, 3), "x"])
    def test_rejects_bad_on(self, value: Any) -> None:
        """on= takes Exception types or a predicate."""
        with pytest.raises(TypeError, match="on="):
            Hedge(delay=1, on=value)

    def test_rejects_non_bool_hedge_on_failure(self) -> None:
        """hedge_on_failure must be a bool, not something truthy."""
        with pytest.raises(TypeError, match="hedge_on_failure"):
            Hedge(delay=1, hedge_on_failure=1)  # type: ignore[arg-type]

    def test_percentile_needs_initial_delay(self) -> None:
        """A percentile delay without initial_delay raises ValueError."""
        with pytest.raises(ValueError, match="initial_delay"):
            Hedge(delay="p95")

    @pytest.mark.parametrize(
        "option", [{"initial_delay": 1.0}, {"window": 10}, {"min_samples": 5}]
    )
    def test_percentile_options_need_percentile(self, option: dict[str, Any]) -> None:
        """Options of the adaptive delay are refused with a fixed delay."""
        with pytest.raises(ValueError, match="percentile"):
            Hedge(delay=0.5, **option)

    def test_min_samples_within_window(self) -> None:
        """min_samples may not exceed window; both must be ints >= 1."""
        with pytest.raises(ValueError, match="cannot exceed"):
            Hedge(delay="p90", initial_delay=1, window=5, min_samples=6)
        with pytest.raises(ValueError, match="window"):
            Hedge(delay="p90", initial_delay=1, window=0)
        with pytest.raises(ValueError, match="min_samples"):
            Hedge(delay="p90", initial_delay=1, min_samples=0)
        small = Hedge(delay="p90", initial_delay=1, window=5)
        assert small.describe()[1]["min_samples"] == 5

    def test_rejects_bad_initial_delay(self) -> None:
        """initial_delay is validated like any duration."""
        with pytest.raises(ValueError, match="initial_delay"):
            Hedge(delay="p90", initial_delay=-1)

    def test_rejects_non_budget(self) -> None:
        """budget= must implement withdraw() and deposit()."""
        with pytest.raises(TypeError, match="budget"):
            Hedge(delay=1, budget=object())  # type: ignore[arg-type]

    def test_rejects_non_callable_listener(self) -> None:
        """listeners must be callables."""
        with pytest.raises(TypeError, match="listeners"):
            Hedge(delay=1, listeners=[42])  # type: ignore[list-item]

    def test_is_frozen_and_comparable(self) -> None:
        """The policy is immutable; equal options make equal policies."""
        hedge = Hedge(delay=1)
        with pytest.raises(AttributeError):
            hedge.delay = 2.0  # type: ignore[misc]
        assert hedge == Hedge(delay=1.0)

    def test_decorating_sync_function_raises(self) -> None:
        """Only async functions can be raced."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async"):
            Hedge(delay=1)(sync)  # type: ignore[arg-type]

    def test_describe(self) -> None:
        """describe() gives the kind "hedge" and every option's value."""

        def listener(event: _events.Event) -> None:
            del event

        budget = FakeBudget()
        kind, options = Hedge(
            delay=0.25, max_hedges=2, on=(OSError, ValueError), budget=budget
        ).describe()
        assert kind == "hedge"
        assert options == {
            "delay": 0.25,
            "max_hedges": 2,
            "on": ("OSError", "ValueError"),
            "hedge_on_failure": True,
            "initial_delay": None,
            "window": None,
            "min_samples": None,
            "budget": repr(budget),
            "name": None,
            "listeners": (),
        }
        _, adaptive = Hedge(
            delay="p99",
            initial_delay=0.5,
            on=lambda exc: True,
            name="db",
            listeners=[listener],
        ).describe()
        assert adaptive["delay"] == "p99"
        assert adaptive["initial_delay"] == 0.5
        assert adaptive["window"] == 100
        assert adaptive["min_samples"] == 20
        assert adaptive["on"] == "TestConstruction.test_describe.<locals>.<lambda>"
        assert adaptive["listeners"] == (
            "TestConstruction.test_describe.<locals>.listener",
        )
        assert adaptive["name"] == "db"
        assert Hedge(delay=1, on=Exception).describe()[1]["on"] == "Exception"

    def test_describe_returns_a_new_dict(self) -> None:
        """Changing the returned options does not change the policy."""
        hedge = Hedge(delay=1)
        hedge.describe()[1]["delay"] = 9
        assert hedge.describe()[1]["delay"] == 1.0

    def test_current_delay(self) -> None:
        """current_delay() is the fixed delay, or initial_delay until enough
        latencies are seen, then their percentile."""
        assert Hedge(delay=0.3).current_delay() == 0.3
        hedge = Hedge(delay="p50", initial_delay=2.0, window=4, min_samples=2)
        assert hedge.current_delay() == 2.0
        assert hedge._window is not None
        hedge._window.add(1.0)
        assert hedge.current_delay() == 2.0
        hedge._window.add(3.0)
        assert hedge.current_delay() == 1.0

    def test_decorator_keeps_metadata(self) -> None:
        """The decorated function keeps its name, docstring and signature."""

        async def fetch(key: str, *, retries: int = 0) -> str:
            """Fetch a key."""
            return key

        wrapped = Hedge(delay=1)(fetch)
        assert wrapped.__name__ == "fetch"
        assert wrapped.__doc__ == "Fetch a key."
        assert inspect.signature(wrapped) == inspect.signature(fetch)
        assert inspect.iscoroutinefunction(wrapped)


# -- the race -----------------------------------------------------------------


@anyio_mark
class TestRace:
    """Who wins, when each attempt starts, what propagates (asyncio and trio)."""

    async def test_primary_wins_before_delay(self) -> None:
        """A primary that finishes before the delay is the only attempt."""
        events: list[_events.Event] = []
        svc = Service((0.5, "primary"))
        with Clocked() as clock:
            assert (
                await Hedge(delay=1, listeners=[events.append]).call(svc) == "primary"
            )
        assert clock.elapsed == 0.5
        assert svc.started == [clock.start]
        assert events == []

    async def test_hedge_wins(self) -> None:
        """After the delay a hedge starts; it wins and the primary is cancelled."""
        events: list[_events.Event] = []
        svc = Service((10, "primary"), (0.5, "hedge"))
        hedge = Hedge(delay=1, listeners=[events.append])
        with Clocked() as clock:
            assert await hedge.call(svc) == "hedge"
        assert clock.elapsed == 1.5
        assert [t - clock.start for t in svc.started] == [0, 1]
        assert svc.ended == {1: "cancelled", 2: "returned"}
        name = repr(svc)  # instances have no __qualname__
        assert events == [
            _events.HedgeStarted(name=name, attempt=2, reason="delay", delay=1.0),
            _events.HedgeWon(name=name, attempt=2, attempts=2, elapsed=1.5),
        ]
        assert isinstance(events[0], _events.HedgeStarted)
        assert events[0].exception_type is None

    async def test_primary_wins_after_hedging(self) -> None:
        """A primary that wins after a hedge started cancels the hedge."""
        events: list[_events.Event] = []
        svc = Service((1.5, "primary"), (10, "hedge"))
        with Clocked() as clock:
            result = await Hedge(delay=1, listeners=[events.append]).call(svc)
        assert result == "primary"
        assert clock.elapsed == 1.5
        assert svc.ended == {1: "returned", 2: "cancelled"}
        won = _events_of(_events.HedgeWon, events)
        assert won == [
            _events.HedgeWon(name=repr(svc), attempt=1, attempts=2, elapsed=1.5)
        ]

    async def test_hedges_are_spaced_by_delay(self) -> None:
        """With max_hedges=3, hedges start one delay apart until one wins."""
        svc = Service((10, 1), (10, 2), (0.25, 3), (10, 4))
        with Clocked() as clock:
            assert await Hedge(delay=1, max_hedges=3).call(svc) == 3
        assert clock.elapsed == 2.25
        assert [t - clock.start for t in svc.started] == [0, 1, 2]
        assert svc.ended == {1: "cancelled", 2: "cancelled", 3: "returned"}

    async def test_no_more_than_max_hedges(self) -> None:
        """Once max_hedges have started, the call waits for those attempts."""
        svc = Service((5, "primary"), (5, "hedge"))
        with Clocked() as clock:
            assert await Hedge(delay=1, max_hedges=1).call(svc) == "primary"
        assert clock.elapsed == 5
        assert len(svc.started) == 2

    async def test_all_fail_raises_primary_error(self) -> None:
        """When every attempt fails, the primary's error propagates, noted."""
        primary = ValueError("primary")
        svc = Service((3, primary), (0.5, ValueError("h1")), (0.5, OSError("h2")))
        with Clocked() as clock, pytest.raises(ValueError, match="primary") as info:
            await Hedge(delay=1, max_hedges=2).call(svc)
        assert info.value is primary
        assert clock.elapsed == 3
        # The first hedge failed at 1.5 and started the second at once.
        assert [t - clock.start for t in svc.started] == [0, 1, 1.5]
        assert info.value.__notes__ == [
            (
                "brace: every hedged attempt failed; this is the primary's error, "
                "and the 2 hedges raised ValueError(h1), OSError(h2)"
            )
        ]

    async def test_primary_fails_alone_without_note(self) -> None:
        """A primary that fails when no hedge can start raises unannotated."""
        error = ValueError("only")
        svc = Service((0.5, error))
        with Clocked() as clock, pytest.raises(ValueError) as info:
            await Hedge(delay=1, budget=FakeBudget(allow=0)).call(svc)
        assert info.value is error
        assert not hasattr(error, "__notes__")
        assert clock.elapsed == 0.5

    async def test_parallel_delay_zero(self) -> None:
        """delay=0 starts every attempt at once; the fastest wins."""
        events: list[_events.Event] = []
        svc = Service((3, 1), (2, 2), (1, 3))
        hedge = Hedge(delay=0, max_hedges=2, listeners=[events.append])
        with Clocked() as clock:
            assert await hedge.call(svc) == 3
        assert clock.elapsed == 1
        assert [t - clock.start for t in svc.started] == [0, 0, 0]
        assert svc.ended == {1: "cancelled", 2: "cancelled", 3: "returned"}
        started = _events_of(_events.HedgeStarted, events)
        assert [(e.attempt, e.reason, e.delay) for e in started] == [
            (2, "delay", 0.0),
            (3, "delay", 0.0),
        ]

    async def test_parallel_primary_wins(self) -> None:
        """In parallel mode the primary can win too."""
        svc = Service((1, "primary"), (2, "hedge"))
        with Clocked() as clock:
            assert await Hedge(delay=0).call(svc) == "primary"
        assert clock.elapsed == 1
        assert svc.ended == {1: "returned", 2: "cancelled"}

    async def test_parallel_all_fail(self) -> None:
        """In parallel mode, all failing still raises the primary's error."""
        svc = Service((2, ValueError("p")), (1, ValueError("h")))
        with Clocked() as clock, pytest.raises(ValueError, match="p"):
            await Hedge(delay=0).call(svc)
        assert clock.elapsed == 2

    async def test_failure_starts_next_hedge_at_once(self) -> None:
        """hedge_on_failure (default): a matched failure starts a hedge now."""
        events: list[_events.Event] = []
        error = OSError("reset")
        svc = Service((0.25, error), (0.5, "hedge"))
        hedge = Hedge(delay=1, on=OSError, listeners=[events.append])
        with Clocked() as clock:
            assert await hedge.call(svc) == "hedge"
        assert clock.elapsed == 0.75
        assert [t - clock.start for t in svc.started] == [0, 0.25]
        (started,) = _events_of(_events.HedgeStarted, events)
        assert started.reason == "failure"
        assert started.error is error
        assert started.exception_type == "OSError"

    async def test_failure_waits_for_delay_when_not_eager(self) -> None:
        """hedge_on_failure=False: a failed primary's hedge waits for the delay."""
        svc = Service((0.25, OSError()), (0.5, "hedge"))
        with Clocked() as clock:
            result = await Hedge(delay=1, hedge_on_failure=False).call(svc)
        assert result == "hedge"
        assert clock.elapsed == 1.5
        assert [t - clock.start for t in svc.started] == [0, 1]

    async def test_eager_hedge_resets_the_delay(self) -> None:
        """After a failure-started hedge, the next waits one full delay."""
        svc = Service((10, 1), (0.5, OSError()), (10, 3), (0.25, 4))
        with Clocked() as clock:
            assert await Hedge(delay=1, max_hedges=3).call(svc) == 4
        # hedge 2 at 1, fails at 1.5 -> hedge 3 at 1.5, hedge 4 at 2.5.
        assert [t - clock.start for t in svc.started] == [0, 1, 1.5, 2.5]
        assert clock.elapsed == 2.75

    async def test_unmatched_hedge_error_propagates_at_once(self) -> None:
        """A hedge error that on= does not match ends the call and cancels all."""
        svc = Service((10, "primary"), (0.5, KeyError("fatal")), (10, "h2"))
        with Clocked() as clock, pytest.raises(KeyError, match="fatal"):
            await Hedge(delay=1, max_hedges=2, on=OSError).call(svc)
        assert clock.elapsed == 1.5
        assert svc.ended == {1: "cancelled", 2: "raised"}
        assert len(svc.started) == 2

    async def test_unmatched_primary_error_propagates_at_once(self) -> None:
        """A primary error that on= does not match is raised without hedging."""
        svc = Service((0.5, KeyError("fatal")))
        with Clocked() as clock, pytest.raises(KeyError):
            await Hedge(delay=1, on=OSError).call(svc)
        assert clock.elapsed == 0.5
        assert len(svc.started) == 1

    async def test_unmatched_primary_error_cancels_hedges(self) -> None:
        """A fatal primary error after hedging cancels the running hedge."""
        svc = Service((1.5, KeyError("fatal")), (10, "hedge"))
        with Clocked() as clock, pytest.raises(KeyError):
            await Hedge(delay=1, on=OSError).call(svc)
        assert clock.elapsed == 1.5
        assert svc.ended == {1: "raised", 2: "cancelled"}

    async def test_unmatched_error_after_primary_failed(self) -> None:
        """A fatal hedge error while waiting (primary already failed) ends it."""
        svc = Service((0.25, OSError("p")), (0.5, KeyError("fatal")))
        with Clocked() as clock, pytest.raises(KeyError):
            await Hedge(delay=1, on=OSError).call(svc)
        assert clock.elapsed == 0.75

    async def test_predicate(self) -> None:
        """on= as a predicate decides per exception."""
        svc = Service((0.5, ValueError("retry me")), (0.5, "hedge"))
        hedge = Hedge(delay=1, on=lambda exc: "retry" in str(exc))
        assert await hedge.call(svc) == "hedge"
        svc = Service((0.5, ValueError("no")))
        with pytest.raises(ValueError, match="no"):
            await hedge.call(svc)

    async def test_failing_predicate_propagates(self) -> None:
        """A predicate that raises ends the call with its own error."""

        def broken(exc: Exception) -> bool:
            raise RuntimeError("predicate bug")

        error = ValueError("original")
        svc = Service((0.5, error))
        with pytest.raises(RuntimeError, match="predicate bug") as info:
            await Hedge(delay=1, on=broken).call(svc)
        assert info.value.__context__ is error
        svc = Service((10, "p"), (0.5, error))
        with pytest.raises(RuntimeError, match="predicate bug"):
            await Hedge(delay=1, on=broken).call(svc)

    async def test_exception_group_matched_per_leaf(self) -> None:
        """A group is a failure to hedge past only if every leaf matches."""
        group = ExceptionGroup("g", [OSError("a"), OSError("b")])
        svc = Service((0.5, group), (0.5, "hedge"))
        assert await Hedge(delay=1, on=OSError).call(svc) == "hedge"
        mixed = ExceptionGroup("g", [OSError("a"), KeyError("b")])
        with pytest.raises(ExceptionGroup):
            await Hedge(delay=1, on=OSError).call(Service((0.5, mixed)))

    async def test_base_exception_from_hedge_propagates(self) -> None:
        """A BaseException (not cancellation) from a hedge propagates at once."""
        svc = Service((10, "primary"), (0.5, Boom()))
        with Clocked() as clock, pytest.raises(Boom):
            await Hedge(delay=1).call(svc)
        assert clock.elapsed == 1.5
        assert svc.ended[1] == "cancelled"

    async def test_base_exception_from_primary_propagates(self) -> None:
        """A BaseException from the primary propagates after the hedges end."""
        svc = Service((1.5, Boom()), (10, "hedge"))
        with Clocked() as clock, pytest.raises(Boom):
            await Hedge(delay=1).call(svc)
        assert clock.elapsed == 1.5
        assert svc.ended == {1: "raised", 2: "cancelled"}

    async def test_loser_error_after_winner_is_ignored(self) -> None:
        """A loser that raises while being cancelled does not change the result."""
        cancelled = anyio.get_cancelled_exc_class()

        async def attempt(number: list[int]) -> str:
            number[0] += 1
            if number[0] == 1:
                await anyio.sleep(0.5)
                return "primary"
            try:
                await anyio.sleep(10)
            except cancelled:
                raise ValueError("cleanup failed") from None
            return "never"  # pragma: no cover

        with Clocked() as clock:
            assert await Hedge(delay=0).call(attempt, [0]) == "primary"
        assert clock.elapsed == 0.5

    async def test_primary_swallowing_cancellation(self) -> None:
        """A primary that ignores being cancelled still loses to the hedge."""
        cancelled = anyio.get_cancelled_exc_class()

        async def attempt(number: list[int]) -> str:
            number[0] += 1
            if number[0] == 2:
                await anyio.sleep(0.5)
                return "hedge"
            try:
                await anyio.sleep(10)
            except cancelled:
                return "primary, late"
            return "never"  # pragma: no cover

        with Clocked() as clock:
            assert await Hedge(delay=1).call(attempt, [0]) == "hedge"
        assert clock.elapsed == 1.5
        if running_loop() is not None:
            task = asyncio.current_task()
            assert task is not None
            assert task.cancelling() == 0
        await anyio.sleep(0)  # no stray cancellation is left pending

    async def test_decorated_function_and_arguments(self) -> None:
        """The decorator passes arguments to every attempt, and names events."""
        events: list[_events.Event] = []
        seen: list[tuple[str, int]] = []

        @Hedge(delay=1, listeners=[events.append])
        async def fetch(key: str, *, size: int) -> str:
            seen.append((key, size))
            await anyio.sleep(10 if len(seen) == 1 else 0.5)
            return f"{key}:{size}:{len(seen)}"

        assert await fetch("k", size=3) == "k:3:2"
        assert seen == [("k", 3), ("k", 3)]
        assert events[0].name.endswith("fetch")

    async def test_methods(self) -> None:
        """The decorator works on methods."""

        class Client:
            calls = 0

            @Hedge(delay=1, name="client")
            async def get(self, key: str) -> str:
                self.calls += 1
                return key * self.calls

        client = Client()
        assert await client.get("a") == "a"

    async def test_call_accepts_awaitable_returning_callables(self) -> None:
        """Hedge.call() takes a lambda that returns a coroutine."""
        svc = Service((10, "primary"), (0.5, "hedge"))

        def not_async() -> Coroutine[Any, Any, object]:
            return svc()

        assert await Hedge(delay=1).call(not_async) == "hedge"

    async def test_call_rejects_non_awaitable(self) -> None:
        """Hedge.call() on a function returning a plain value raises TypeError."""
        with pytest.raises(TypeError, match="async function"):
            await Hedge(delay=1).call(lambda: 42)  # type: ignore[arg-type,return-value]

    async def test_name_option(self) -> None:
        """name= names the events instead of the function."""
        events: list[_events.Event] = []
        svc = Service((10, "p"), (0.5, "h"))
        await Hedge(delay=1, name="db", listeners=[events.append]).call(svc)
        assert {e.name for e in events} == {"db"}

    async def test_global_subscribers_receive_events(self) -> None:
        """Events reach global subscribers, and a broken listener is harmless."""
        received: list[_events.Event] = []

        def broken(event: _events.Event) -> None:
            raise RuntimeError("listener bug")

        svc = Service((10, "p"), (0.5, "h"))
        with _events.subscribe(received.append, _events.HedgeStarted):
            assert await Hedge(delay=1, listeners=[broken]).call(svc) == "h"
        assert [type(e) for e in received] == [_events.HedgeStarted]

    async def test_context_is_copied_to_hedges(self) -> None:
        """Hedges see the caller's context variables; their changes stay theirs."""
        var: contextvars.ContextVar[str] = contextvars.ContextVar("var")
        var.set("caller")
        seen: list[str] = []

        async def attempt() -> str:
            seen.append(var.get())
            var.set("changed")
            await anyio.sleep(10 if len(seen) == 1 else 0.5)
            return "ok"

        assert await Hedge(delay=1, max_hedges=2).call(attempt) == "ok"
        assert seen == ["caller", "caller"]


# -- budgets ------------------------------------------------------------------


@anyio_mark
class TestBudget:
    """Hedges withdraw from a retry budget; a refusal stops hedging."""

    async def test_refusal_means_no_hedge(self) -> None:
        """When the budget refuses, the primary runs alone to the end."""
        budget = FakeBudget(allow=0)
        svc = Service((5, "primary"))
        with Clocked() as clock:
            assert await Hedge(delay=1, budget=budget).call(svc) == "primary"
        assert clock.elapsed == 5
        assert len(svc.started) == 1
        assert budget.withdrawals == [None]
        assert budget.deposits == [(1, None)]

    async def test_withdraw_and_deposit(self) -> None:
        """A delay-started hedge withdraws None; success deposits the count."""
        budget = FakeBudget()
        svc = Service((10, "p"), (0.5, "h"))
        assert await Hedge(delay=1, budget=budget).call(svc) == "h"
        assert budget.withdrawals == [None]
        assert budget.deposits == [(2, None)]

    async def test_failure_started_hedge_withdraws_the_error(self) -> None:
        """A failure-started hedge withdraws with that failure."""
        budget = FakeBudget()
        error = OSError("reset")
        svc = Service((0.5, error), (0.5, "h"))
        assert await Hedge(delay=1, budget=budget).call(svc) == "h"
        assert budget.withdrawals == [error]
        assert budget.deposits == [(2, error)]

    async def test_no_deposit_when_all_fail(self) -> None:
        """A call that fails deposits nothing."""
        budget = FakeBudget()
        svc = Service((0.5, OSError()), (0.5, OSError()))
        with pytest.raises(OSError):
            await Hedge(delay=1, budget=budget).call(svc)
        assert budget.deposits == []

    async def test_refusal_stops_later_hedges(self) -> None:
        """After one refusal, no further hedge is asked for."""
        budget = FakeBudget(allow=1)
        svc = Service((10, 1), (10, 2))
        with Clocked() as clock:
            assert await Hedge(delay=1, max_hedges=3, budget=budget).call(svc) == 1
        assert budget.withdrawals == [None, None]
        assert [t - clock.start for t in svc.started] == [0, 1]

    async def test_refusal_after_primary_failed(self) -> None:
        """A refused failure-started hedge ends the call with the primary's error."""
        budget = FakeBudget(allow=0)
        error = OSError("p")
        with Clocked() as clock, pytest.raises(OSError) as info:
            await Hedge(delay=1, budget=budget).call(Service((0.5, error)))
        assert info.value is error
        assert clock.elapsed == 0.5

    async def test_refusal_in_parallel_mode(self) -> None:
        """In parallel mode, only the hedges the budget allows start."""
        budget = FakeBudget(allow=1)
        svc = Service((3, 1), (2, 2), (1, 3))
        assert await Hedge(delay=0, max_hedges=2, budget=budget).call(svc) == 2
        assert len(svc.started) == 2

    async def test_failing_budget_is_logged_and_refuses(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A budget whose withdraw() raises means no hedge, and a log record."""

        class Broken(FakeBudget):
            def withdraw(self, error: Exception | None, /) -> bool:
                raise RuntimeError("budget bug")

        svc = Service((5, "primary"))
        with caplog.at_level(logging.ERROR, logger="brace"):
            assert await Hedge(delay=1, budget=Broken()).call(svc) == "primary"
        assert "budget of a Hedge failed" in caplog.text
        assert len(svc.started) == 1


# -- the adaptive delay -------------------------------------------------------


@anyio_mark
class TestAdaptiveDelay:
    """delay="pNN" hedges at a percentile of recent primary latencies."""

    async def test_initial_delay_then_percentile(self) -> None:
        """initial_delay applies until min_samples primaries were timed."""
        events: list[_events.Event] = []
        hedge = Hedge(
            delay="p50",
            initial_delay=5,
            window=3,
            min_samples=2,
            listeners=[events.append],
        )
        for latency in (1.0, 2.0):
            assert await hedge.call(Service((latency, "p"))) == "p"
        assert hedge.current_delay() == 1.0
        svc = Service((10, "p"), (0.5, "h"))
        with Clocked() as clock:
            assert await hedge.call(svc) == "h"
        assert clock.elapsed == 1.5
        (started,) = _events_of(_events.HedgeStarted, events)
        assert started.delay == 1.0
        # The beaten primary counts as at least 1.5 s.
        assert hedge._window is not None
        assert hedge._window.samples() == [1.0, 2.0, 1.5]

    async def test_refused_primary_is_timed(self) -> None:
        """A primary that ran alone because the budget refused is timed."""
        hedge = Hedge(
            delay="p90", initial_delay=1, min_samples=1, budget=FakeBudget(allow=0)
        )
        assert await hedge.call(Service((2.5, "p"))) == "p"
        assert hedge.current_delay() == 2.5

    async def test_failures_are_not_timed(self) -> None:
        """Failed primaries add no latency sample."""
        hedge = Hedge(delay="p90", initial_delay=1, min_samples=1)
        with pytest.raises(OSError):
            await hedge.call(Service((0.5, OSError()), (0.5, OSError())))
        assert hedge._window is not None
        assert len(hedge._window) == 0

    async def test_primary_winning_a_race_is_timed(self) -> None:
        """A primary that wins after hedging adds its full latency."""
        hedge = Hedge(delay="p90", initial_delay=1, min_samples=1)
        await hedge.call(Service((1.5, "p"), (10, "h")))
        assert hedge.current_delay() == 1.5

    async def test_dropping_delay_reorders_pending_calls(self) -> None:
        """A call whose delay dropped hedges before earlier, slower-delay calls."""
        hedge = Hedge(delay="p50", initial_delay=4, window=1, min_samples=1)
        starts: list[tuple[str, float]] = []
        t0 = anyio.current_time()

        async def hedged(label: str, delay_sample: float | None) -> None:
            if delay_sample is not None:
                assert hedge._window is not None
                hedge._window.add(delay_sample)
            calls = [0]

            async def attempt() -> str:
                calls[0] += 1
                starts.append((label, anyio.current_time() - t0))
                await anyio.sleep(20 if calls[0] == 1 else 0.5)
                return label

            assert await hedge.call(attempt) == label

        async with anyio.create_task_group() as group:
            group.start_soon(hedged, "a", None)  # delay 4
            await anyio.sleep(0)
            group.start_soon(hedged, "b", 6.0)  # delay 6: queued after a
            await anyio.sleep(0)
            group.start_soon(hedged, "c", 5.0)  # between a and b
            await anyio.sleep(0)
            group.start_soon(hedged, "d", 1.0)  # before all: re-arms
        hedge_starts = sorted(
            (t, label) for label, t in starts if (label, t) != (label, 0.0)
        )
        assert hedge_starts == [(1.0, "d"), (4.0, "a"), (5.0, "c"), (6.0, "b")]


# -- cancellation -------------------------------------------------------------


@anyio_mark
class TestCancellation:
    """Cancelling the caller cancels and awaits every attempt."""

    async def test_cancel_while_hedges_run(self) -> None:
        """move_on_after during the race cancels primary and hedges."""
        svc = Service((10, "p"), (10, "h1"), (10, "h2"))
        with Clocked() as clock:
            with anyio.move_on_after(2.5) as scope:
                await Hedge(delay=1, max_hedges=2).call(svc)
            assert svc.running == 0
        assert scope.cancelled_caught
        assert clock.elapsed == 2.5
        assert svc.ended == {1: "cancelled", 2: "cancelled", 3: "cancelled"}

    async def test_cancel_before_any_hedge(self) -> None:
        """Cancelled before the delay: nothing hedges, later or ever."""
        events: list[_events.Event] = []
        hedge = Hedge(delay=1, listeners=[events.append])
        svc = Service((10, "p"))
        with anyio.move_on_after(0.5):
            await hedge.call(svc)
        await anyio.sleep(5)  # past the delay: no hedge fires for it
        assert events == []
        assert len(svc.started) == 1

    async def test_cancel_while_waiting_for_hedges(self) -> None:
        """Cancelled after the primary failed, while hedges run."""
        svc = Service((0.5, OSError()), (10, "h"))
        with Clocked() as clock:
            with anyio.move_on_after(2) as scope:
                await Hedge(delay=1).call(svc)
            assert svc.running == 0
        assert scope.cancelled_caught
        assert clock.elapsed == 2
        assert svc.ended[2] == "cancelled"

    async def test_task_group_cancel(self) -> None:
        """Cancelling an enclosing task group cancels every attempt."""
        svc = Service((10, "p"), (10, "h"))
        with Clocked() as clock:
            async with anyio.create_task_group() as group:
                group.start_soon(Hedge(delay=1).call, svc)
                await anyio.sleep(1.5)
                group.cancel_scope.cancel()
            assert svc.running == 0
        assert clock.elapsed == 1.5
        assert svc.ended == {1: "cancelled", 2: "cancelled"}

    async def test_cancel_at_the_instant_a_hedge_wins(self) -> None:
        """A cancellation that arrives as a hedge wins is not swallowed."""
        with anyio.CancelScope() as scope:
            calls = [0]

            async def attempt() -> str:
                calls[0] += 1
                if calls[0] == 1:
                    await anyio.sleep(10)
                await anyio.sleep(0.5)
                scope.cancel()  # in the same step as the win
                return "hedge"

            with Clocked():
                await Hedge(delay=1).call(attempt)
            pytest.fail("the cancellation was swallowed")  # pragma: no cover
        assert scope.cancelled_caught

    async def test_cancel_at_the_instant_the_primary_wins(self) -> None:
        """A cancellation in the primary's last step propagates too."""
        with anyio.CancelScope() as scope:

            async def attempt() -> str:
                await anyio.sleep(0.5)
                scope.cancel()
                return "primary"

            with Clocked():
                await Hedge(delay=1).call(attempt)
                await anyio.sleep(0)  # the checkpoint where it is delivered
            pytest.fail("the cancellation was swallowed")  # pragma: no cover
        assert scope.cancelled_caught


class TestAsyncioCancellation:
    """asyncio's own cancellation: task.cancel(), asyncio.timeout, close()."""

    @pytest.mark.asyncio
    async def test_task_cancel_while_hedging(self) -> None:
        """task.cancel() during the race cancels all and leaves no task."""
        svc = Service((10, "p"), (10, "h"))
        before = asyncio.all_tasks()
        task = asyncio.create_task(Hedge(delay=1).call(svc))
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert svc.ended == {1: "cancelled", 2: "cancelled"}
        assert asyncio.all_tasks() <= before

    @pytest.mark.asyncio
    async def test_asyncio_timeout_around_hedges(self) -> None:
        """asyncio.timeout() turns the cancellation into its TimeoutError."""
        svc = Service((10, "p"), (10, "h"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(2):
                await Hedge(delay=1).call(svc)
        assert loop.time() - start == 2
        assert svc.ended == {1: "cancelled", 2: "cancelled"}

    @pytest.mark.asyncio
    async def test_cancel_in_the_step_a_hedge_wins(self) -> None:
        """task.cancel() just before the race cancels the primary propagates."""
        outer = asyncio.current_task()
        assert outer is not None
        inner: list[asyncio.Task[Any]] = []
        calls = [0]

        async def attempt() -> str:
            calls[0] += 1
            if calls[0] == 1:
                await asyncio.sleep(10)
            await asyncio.sleep(0.5)
            # Runs before the race's done callback, in the same iteration.
            asyncio.get_running_loop().call_soon(inner[0].cancel)
            return "hedge"

        task = asyncio.create_task(Hedge(delay=1).call(attempt))
        inner.append(task)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert outer.cancelling() == 0

    @pytest.mark.asyncio
    async def test_cancel_during_clean_up_waits_for_losers(self) -> None:
        """Cancelled while waiting for losers: they still end before it raises."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        ended: list[float] = []
        calls = [0]

        async def attempt() -> int:
            calls[0] += 1
            number = calls[0]
            if number == 3:
                await asyncio.sleep(0.5)
                return number
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if number == 2:
                    await asyncio.sleep(2)  # slow clean-up
                raise
            finally:
                ended.append(loop.time() - start)
            return number  # pragma: no cover

        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3):
                await Hedge(delay=1, max_hedges=2).call(attempt)
        # Hedge 3 won at 2.5; hedge 2 cleaned up until 4.5.
        assert loop.time() - start == 4.5
        assert sorted(ended) == [2.5, 4.5]

    @pytest.mark.asyncio
    async def test_cancel_before_delay_leaves_no_entry(self) -> None:
        """A call cancelled before its delay leaves nothing queued."""
        hedge = Hedge(delay=1)
        task = asyncio.create_task(hedge.call(Service((10, "p"))))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        scheduler = hedge._schedulers.last
        assert scheduler is not None
        assert not scheduler.queue

    @pytest.mark.asyncio
    async def test_closing_the_coroutine_while_racing(self) -> None:
        """Closing a hedged coroutine cancels its hedges without awaiting."""
        svc = Service((10, "p"), (10, "h"))
        coro = Hedge(delay=1).call(svc)
        coro.send(None)  # runs up to the primary's first suspension
        await asyncio.sleep(1.5)
        coro.close()
        await asyncio.sleep(0)
        assert svc.ended == {1: "cancelled", 2: "cancelled"}

    @pytest.mark.asyncio
    async def test_closing_the_coroutine_while_waiting(self) -> None:
        """Closing it after the primary failed cancels the running hedge."""
        svc = Service((0.5, OSError()), (10, "h"))
        coro = Hedge(delay=1).call(svc)
        # Drive it by hand (from this task): the primary's sleep, then the
        # primary's failure, which starts a hedge and waits for it.
        await asyncio.wait([coro.send(None)])
        coro.send(None)
        await asyncio.sleep(0.5)
        assert svc.running == 1
        coro.close()
        await asyncio.sleep(0)
        assert svc.ended == {1: "raised", 2: "cancelled"}

    @pytest.mark.asyncio
    async def test_outside_a_task(self) -> None:
        """Driving the coroutine outside any task is a clear RuntimeError."""
        hedged = Hedge(delay=1)(Service((1, "p")))
        coro = hedged()
        loop = asyncio.get_running_loop()
        result: list[BaseException] = []

        def drive() -> None:
            try:
                coro.send(None)
            except RuntimeError as exc:
                result.append(exc)

        loop.call_soon(drive)
        await asyncio.sleep(0.1)
        assert "inside a task" in str(result[0])

    @pytest.mark.asyncio
    async def test_loser_exception_is_retrieved(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A loser that fails after the winner is never "never retrieved"."""
        calls = [0]

        async def attempt() -> str:
            calls[0] += 1
            if calls[0] == 1:
                await asyncio.sleep(10)
            if calls[0] == 2:
                await asyncio.sleep(0.5)
                return "winner"
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                raise ValueError("late") from None
            return "never"  # pragma: no cover

        with caplog.at_level(logging.ERROR, logger="asyncio"):
            assert await Hedge(delay=1, max_hedges=2).call(attempt) == "winner"
            gc.collect()
        assert "never retrieved" not in caplog.text
        assert calls[0] == 2

    @pytest.mark.asyncio
    async def test_hedge_task_cancelled_by_someone_else(self) -> None:
        """A hedge task cancelled from outside just ends that attempt."""
        calls = [0]

        async def attempt() -> str:
            calls[0] += 1
            if calls[0] == 2:
                task = asyncio.current_task()
                assert task is not None
                asyncio.get_running_loop().call_soon(task.cancel)
            await asyncio.sleep(2 if calls[0] == 1 else 10)
            return "primary"

        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await Hedge(delay=1).call(attempt) == "primary"
        assert loop.time() - start == 2

    @pytest.mark.asyncio
    async def test_hedge_cancelled_by_someone_else_after_primary_failed(
        self,
    ) -> None:
        """If that was the last attempt, the primary's error propagates."""
        calls = [0]

        async def attempt() -> str:
            calls[0] += 1
            if calls[0] == 1:
                raise OSError("primary")
            task = asyncio.current_task()
            assert task is not None
            asyncio.get_running_loop().call_soon(task.cancel)
            await asyncio.sleep(10)
            return "never"  # pragma: no cover

        with pytest.raises(OSError, match="primary"):
            await Hedge(delay=1).call(attempt)


# -- the asyncio scheduler ----------------------------------------------------


class TestScheduler:
    """One timer per policy and loop serves every pending call."""

    @pytest.mark.asyncio
    async def test_only_slow_calls_hedge(self) -> None:
        """Concurrent calls finishing out of order: only slow ones hedge."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        events: list[tuple[float, _events.Event]] = []
        hedge = Hedge(
            delay=1, listeners=[lambda e: events.append((loop.time() - start, e))]
        )
        latencies = [0.5, 3, 0.25, 2.5, 0.75, 1.5]

        async def one(i: int) -> str:
            calls = [0]

            async def attempt() -> str:
                calls[0] += 1
                await asyncio.sleep(latencies[i] if calls[0] == 1 else 0.25)
                return f"{i}:{calls[0]}"

            return await hedge.call(attempt)

        results = await asyncio.gather(*(one(i) for i in range(len(latencies))))
        assert results == ["0:1", "1:2", "2:1", "3:2", "4:1", "5:2"]
        started = [t for t, e in events if isinstance(e, _events.HedgeStarted)]
        assert started == [1, 1, 1]
        assert loop.time() - start == 1.25

    @pytest.mark.asyncio
    async def test_timer_rearms_for_later_calls(self) -> None:
        """Calls started after others hedge at their own deadline."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        hedge_times: list[float] = []

        def listener(event: _events.Event) -> None:
            if isinstance(event, _events.HedgeStarted):
                hedge_times.append(loop.time() - start)

        hedge = Hedge(delay=1, listeners=[listener])

        async def slow(offset: float) -> None:
            await asyncio.sleep(offset)
            calls = [0]

            async def attempt() -> None:
                calls[0] += 1
                await asyncio.sleep(5 if calls[0] == 1 else 0.1)

            await hedge.call(attempt)

        await asyncio.gather(slow(0), slow(0.25), slow(0.5))
        assert hedge_times == [1, 1.25, 1.5]

    def test_two_loops_and_a_thread(self) -> None:
        """One policy serves calls on successive loops and in another thread."""
        hedge = Hedge(delay=1)

        async def main() -> tuple[object, float]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await hedge.call(Service((10, "p"), (0.5, "h")))
            return result, loop.time() - start

        outcome: list[object] = []

        def in_thread() -> None:
            with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
                outcome.append(runner.run(main()))

        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as first:
            assert first.run(main()) == ("h", 1.5)
            with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as second:
                assert second.run(main()) == ("h", 1.5)
            thread = threading.Thread(target=in_thread)
            thread.start()
            thread.join()
            assert outcome == [("h", 1.5)]
            # Back on the first loop, whose timer state was kept for it.
            assert first.run(main()) == ("h", 1.5)

    def test_policies_do_not_keep_loops_alive(self) -> None:
        """A loop that a policy served is freed once another loop is used."""
        hedge = Hedge(delay=1)
        loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []
        for _ in range(2):
            with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
                loops.append(weakref.ref(runner.get_loop()))
                assert runner.run(hedge.call(Service((0.5, "p")))) == "p"
            del runner
        gc.collect()
        assert loops[0]() is None

    def test_a_loop_that_moved_to_another_thread(self) -> None:
        """A loop now running in another thread is never taken for this one's."""
        hedge = Hedge(delay=1)

        async def main() -> tuple[object, float]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await hedge.call(Service((10, "p"), (0.5, "h")))
            return result, loop.time() - start

        first = VirtualTimeEventLoop()
        assert first.run_until_complete(main()) == ("h", 1.5)
        parked = threading.Event()
        gate: list[asyncio.Event] = []

        async def park() -> None:
            gate.append(asyncio.Event())
            parked.set()
            await gate[0].wait()

        # The first loop, whose scheduler the policy used last, now runs in
        # another thread while this thread runs a loop of its own.
        thread = threading.Thread(target=first.run_until_complete, args=(park(),))
        thread.start()
        parked.wait()
        try:
            with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
                assert runner.run(main()) == ("h", 1.5)
        finally:
            first.call_soon_threadsafe(gate[0].set)
            thread.join()
            first.close()

    def test_on_uvloop(self) -> None:
        """On uvloop (no _thread_id), the running loop is looked up each call."""
        uvloop = pytest.importorskip("uvloop")
        hedge = Hedge(delay=0.005)
        calls = [0]

        async def attempt() -> int:
            calls[0] += 1
            await asyncio.sleep(1 if calls[0] % 2 else 0)
            return calls[0]

        async def main() -> list[int]:
            return [await hedge.call(attempt), await hedge.call(attempt)]

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            assert runner.run(main()) == [2, 4]

    def test_on_a_real_clock(self) -> None:
        """On asyncio's own loop (its clock read directly), a hedge fires."""
        calls = [0]

        async def attempt() -> int:
            calls[0] += 1
            await asyncio.sleep(1 if calls[0] == 1 else 0)
            return calls[0]

        async def main() -> tuple[int, float]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            result = await Hedge(delay=0.005).call(attempt)
            return result, loop.time() - start

        with asyncio.Runner() as runner:  # a real loop: a few ms of real time
            result, elapsed = runner.run(main())
        assert result == 2
        assert 0.005 <= elapsed < 0.5

    @pytest.mark.asyncio
    async def test_calls_finishing_out_of_order_leave_nothing_queued(self) -> None:
        """Entries finished out of order are dropped once they reach the head."""
        hedge = Hedge(delay=1)
        results = await asyncio.gather(
            hedge.call(Service((0.75, "a"))),
            hedge.call(Service((0.5, "b"))),
            hedge.call(Service((0.25, "c"))),
        )
        assert list(results) == ["a", "b", "c"]
        scheduler = hedge._schedulers.last
        assert scheduler is not None
        assert not scheduler.queue

    @pytest.mark.asyncio
    async def test_failures_out_of_order_leave_nothing_queued(self) -> None:
        """Primaries failing before the delay, in any order, are dequeued."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        hedge = Hedge(delay=1)
        results = await asyncio.gather(
            hedge.call(Service((0.75, OSError()), (0.25, "a"))),
            hedge.call(Service((0.5, OSError()), (0.25, "b"))),
            hedge.call(Service((0.25, OSError()), (5, "c"))),
        )
        assert list(results) == ["a", "b", "c"]
        assert loop.time() - start == 5.25
        scheduler = hedge._schedulers.last
        assert scheduler is not None
        assert not scheduler.queue

    @pytest.mark.asyncio
    async def test_timer_run_early_still_hedges(self) -> None:
        """A loop may run a timer within its clock resolution before it is
        due: the calls it was set for are treated as due."""
        hedge = Hedge(delay=1)
        svc = Service((10, "p"), (0.5, "h"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        task = asyncio.create_task(hedge.call(svc))
        await asyncio.sleep(0.5)
        scheduler = hedge._schedulers.last
        assert scheduler is not None
        assert scheduler.armed == start + 1
        assert scheduler.handle is not None
        scheduler.handle.cancel()
        scheduler.fire()  # as the loop would, slightly early
        assert await task == "h"
        assert [t - start for t in svc.started] == [0, 0.5]


# -- trio-only cases ----------------------------------------------------------


def test_trio_cancel_during_clean_up_waits_for_losers() -> None:
    """On trio too, a loser's shielded clean-up finishes before cancellation."""
    ended: list[float] = []

    async def main() -> float:
        start = trio.current_time()
        calls = [0]

        async def attempt() -> int:
            calls[0] += 1
            number = calls[0]
            if number == 3:
                await trio.sleep(0.5)
                return number
            try:
                await trio.sleep(10)
            except trio.Cancelled:
                if number == 2:
                    with trio.CancelScope(shield=True):
                        await trio.sleep(2)
                raise
            finally:
                ended.append(trio.current_time() - start)
            return number  # pragma: no cover

        with trio.move_on_after(3) as scope:
            await Hedge(delay=1, max_hedges=2).call(attempt)
        assert scope.cancelled_caught
        return trio.current_time() - start

    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert elapsed == 4.5
    # The primary and hedge 2 were cancelled when hedge 3 won at 2.5.
    assert sorted(ended) == [2.5, 4.5]


def test_trio_base_exception_groups_stay_grouped() -> None:
    """Two BaseExceptions at once come out as the task group's group."""

    async def main() -> None:
        async def attempt() -> None:
            try:
                await trio.sleep(1)
            finally:
                raise Boom  # also while being cancelled

        await Hedge(delay=0).call(attempt)

    with pytest.raises(BaseExceptionGroup) as info:
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert [type(e) for e in info.value.exceptions] == [Boom, Boom]


# -- a reference model of the race --------------------------------------------


def _model(
    plan: list[tuple[float, str]],
    delay: float,
    max_hedges: int,
    eager: bool,
    allow: int,
) -> tuple[str, int, float, list[float]] | None:
    """What a hedged call must do, by event simulation; None on a tie."""
    starts = [0.0]
    running = {1}
    next_at = delay
    refused = False
    withdrawals = 0
    now = 0.0

    def start(at: float) -> None:
        nonlocal refused, withdrawals, next_at
        withdrawals += 1
        if withdrawals > allow:
            refused = True
            return
        starts.append(at)
        running.add(len(starts))
        next_at = at + delay

    while True:
        can = not refused and len(starts) <= max_hedges
        ends = sorted((starts[i - 1] + plan[i - 1][0], i) for i in running)
        times = [t for t, _ in ends] + ([next_at] if can else [])
        if not times:
            return ("all_failed", 1, now, starts)
        if len(set(times)) != len(times):
            return None
        if can and (not ends or next_at < ends[0][0]):
            now = next_at
            start(now)
            continue
        now, attempt = ends[0]
        running.remove(attempt)
        outcome = plan[attempt - 1][1]
        if outcome in ("ok", "fatal"):
            return (outcome, attempt, now, starts)
        if eager and can:
            start(now)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[Any, ...]:
    max_hedges = draw(st.integers(1, 3))
    plan = [
        (
            draw(st.integers(1, 200)) / 32,
            draw(st.sampled_from(["ok", "ok", "fail", "fatal"])),
        )
        for _ in range(max_hedges + 1)
    ]
    delay = draw(st.integers(1, 100)) / 32
    eager = draw(st.booleans())
    allow = draw(st.sampled_from([0, 1, 2, 10]))
    return plan, delay, max_hedges, eager, allow


class PlanError(Exception):
    """A failure on= matches."""


class FatalError(Exception):
    """A failure on= does not match."""


async def _run_plan(
    plan: list[tuple[float, str]],
    delay: float,
    max_hedges: int,
    eager: bool,
    allow: int,
) -> tuple[str, int, float, list[float]]:
    start = anyio.current_time()
    starts: list[float] = []
    hedge = Hedge(
        delay=delay,
        max_hedges=max_hedges,
        on=PlanError,
        hedge_on_failure=eager,
        budget=FakeBudget(allow=allow),
    )

    async def attempt() -> int:
        number = len(starts) + 1
        starts.append(anyio.current_time() - start)
        latency, outcome = plan[number - 1]
        await anyio.sleep(latency)
        if outcome == "fail":
            raise PlanError(number)
        if outcome == "fatal":
            raise FatalError(number)
        return number

    try:
        winner = await hedge.call(attempt)
    except PlanError as exc:
        return ("all_failed", exc.args[0], anyio.current_time() - start, starts)
    except FatalError as exc:
        return ("fatal", exc.args[0], anyio.current_time() - start, starts)
    return ("ok", winner, anyio.current_time() - start, starts)


@pytest.mark.parametrize(
    "backend",
    [
        ("asyncio", lambda: {"loop_factory": VirtualTimeEventLoop}),
        ("trio", lambda: {"clock": trio.testing.MockClock(autojump_threshold=0)}),
    ],
    ids=["asyncio", "trio"],
)
@settings(max_examples=50, deadline=None)
@given(scenario=_scenarios())
def test_matches_reference_model(
    backend: tuple[str, Callable[[], dict[str, Any]]], scenario: tuple[Any, ...]
) -> None:
    """Random plans of latencies and outcomes match an event simulation."""
    expected = _model(*scenario)
    assume(expected is not None)
    name, options = backend
    got = anyio.run(_run_plan, *scenario, backend=name, backend_options=options())
    assert got == expected


# -- the example ------------------------------------------------------------------


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> None:
    """brace.Hedge and its events, whether or not brace exports them yet."""
    import brace
    from brace import _budget

    names = {
        "Hedge": Hedge,
        "HedgeStarted": _events.HedgeStarted,
        "HedgeWon": _events.HedgeWon,
        "RetryBudget": getattr(_budget, "RetryBudget", None),
    }
    for name, value in names.items():
        monkeypatch.setattr(brace, name, getattr(brace, name, value), raising=False)


@pytest.mark.usefixtures("exported")
def test_example_runs_and_shows_what_it_claims(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """examples/hedging.py cuts the tail, adapts, notes failures, budgets."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "hedging.py"
    spec = importlib.util.spec_from_file_location("_brace_example_hedging", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(module.main())
    out = capsys.readouterr().out
    assert "no hedge    p50   14.9 ms   p99 1000.0 ms" in out
    assert "hedged      p50   14.9 ms   p99   41.9 ms" in out
    assert "requests 1030 for 1000 calls" in out
    assert "events: {'HedgeStarted': 30, 'HedgeWon': 30}" in out
    assert "before any call: 100.0 ms (initial_delay)" in out
    assert "after 1000 calls: 19.7 ms" in out
    assert "-> attempt 1: connection reset" in out
    assert "the 2 hedges raised ConnectionResetError(attempt 2" in out
    assert "the budget allowed 61 hedges, not 200" in out


def test_a_name_that_is_not_a_str_is_refused() -> None:
    """name= must be a str or None, as for the other policies."""
    with pytest.raises(TypeError, match="name must be a str"):
        Hedge(delay=0.1, name=1)  # type: ignore[arg-type]
