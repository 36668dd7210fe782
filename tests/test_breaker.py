"""Tests for brace.CircuitBreaker: options, transitions, half-open probes,
classification, cancellation on asyncio and trio, statistics, events,
force_closed, snapshots, and the three spellings."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import math
import random
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import anyio
import pytest

import brace
from brace import _events
from brace._breaker import (
    CircuitBreaker,
    CircuitBreakerStatistics,
    CircuitState,
    CountWindow,
    TimeWindow,
)
from brace._errors import CircuitOpen, LimiterFull
from brace._limiter import ConcurrencyLimiter

anyio_mark = pytest.mark.anyio
CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN
HALF_OPEN, ISOLATED = CircuitState.HALF_OPEN, CircuitState.ISOLATED


class Down(Exception):
    """The dependency failed."""


async def ok(value: object = "ok") -> object:
    return value


async def down() -> None:
    raise Down("unavailable")


async def sleep_then(delay: float, value: object = "ok") -> object:
    await anyio.sleep(delay)
    return value


def consecutive(n: int = 1, **options: Any) -> CircuitBreaker:
    """A breaker that opens after *n* failures in a row (10 s by default)."""
    options.setdefault("open_for", 10.0)
    return CircuitBreaker(failure_rate=None, consecutive_failures=n, **options)


async def fail(cb: CircuitBreaker, times: int = 1) -> None:
    """Make *times* failing calls through *cb*."""
    for _ in range(times):
        with pytest.raises(Down):
            await cb.call(down)


async def feed(cb: CircuitBreaker, pattern: str) -> None:
    """Calls through *cb*: "s" succeeds, "f" fails."""
    for kind in pattern:
        if kind == "s":
            await cb.call(ok)
        else:
            await fail(cb)


def run_without_yielding(awaitable: Awaitable[Any]) -> Any:
    """Drive a coroutine that must finish without ever suspending."""
    coro = awaitable.__await__()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the coroutine yielded to the event loop")


# -- construction --------------------------------------------------------------


class TestConstruction:
    """Bad options are refused at construction with a message saying why."""

    @pytest.mark.parametrize("rate", [0, 0.0, -0.5, 1.01, math.nan, math.inf])
    def test_rates_out_of_range(self, rate: float) -> None:
        """Rates are fractions in (0, 1]."""
        with pytest.raises(ValueError, match=r"failure_rate must be in \(0, 1\]"):
            CircuitBreaker(failure_rate=rate)
        with pytest.raises(ValueError, match="slow_call_rate"):
            CircuitBreaker(slow_call_rate=rate)

    @pytest.mark.parametrize("rate", ["0.5", True, [0.5]])
    def test_rates_of_the_wrong_type(self, rate: Any) -> None:
        """A rate that is not a number is a TypeError."""
        with pytest.raises(TypeError, match="failure_rate must be a number"):
            CircuitBreaker(failure_rate=rate)

    def test_window_must_be_a_window(self) -> None:
        """An int is not a window: say which classes to use."""
        with pytest.raises(TypeError, match=r"CountWindow\(n\) or brace.TimeWindow"):
            CircuitBreaker(window=100)  # type: ignore[arg-type]

    def test_min_calls_beyond_a_count_window(self) -> None:
        """min_calls above the window size could never be reached."""
        with pytest.raises(ValueError, match="exceeds the window's 10 calls"):
            CircuitBreaker(window=CountWindow(10), min_calls=11)

    @pytest.mark.parametrize("bad", [0, -1, 2.0, True])
    def test_counts_must_be_positive_ints(self, bad: Any) -> None:
        """Every count option is an int >= 1."""
        for option in (
            "min_calls",
            "consecutive_failures",
            "half_open_calls",
            "success_threshold",
        ):
            with pytest.raises(ValueError, match=option):
                CircuitBreaker(**{option: bad})

    def test_default_min_calls_fits_a_small_window(self) -> None:
        """Without min_calls, a count window smaller than 20 judges when full."""
        assert CircuitBreaker(window=CountWindow(5)).describe()[1]["min_calls"] == 5
        assert CircuitBreaker(window=TimeWindow(5)).describe()[1]["min_calls"] == 20
        assert CircuitBreaker().describe()[1]["min_calls"] == 20

    def test_a_breaker_that_could_never_open(self) -> None:
        """With every rule disabled, say which option to set."""
        with pytest.raises(ValueError, match="no rule could ever open"):
            CircuitBreaker(failure_rate=None)

    @pytest.mark.parametrize(
        "option", ["open_for", "probe_timeout", "slow_call_duration"]
    )
    @pytest.mark.parametrize("bad", [0, -1.0, math.nan, dt.timedelta(0)])
    def test_durations_must_be_positive(self, option: str, bad: Any) -> None:
        """Zero, negative and non-finite durations are refused."""
        with pytest.raises(ValueError, match=option):
            CircuitBreaker(**{option: bad})

    def test_durations_of_the_wrong_type(self) -> None:
        """A duration that is not seconds or a timedelta is a TypeError."""
        with pytest.raises(TypeError, match="open_for"):
            CircuitBreaker(open_for="5")  # type: ignore[arg-type]

    @pytest.mark.parametrize("option", ["on", "ignore"])
    @pytest.mark.parametrize(
        "bad", [KeyboardInterrupt, (Down, asyncio.CancelledError), "x"]
    )
    def test_matchers_take_exception_types(self, option: str, bad: Any) -> None:
        """on= and ignore= take Exception subclasses or a predicate."""
        with pytest.raises(TypeError, match=f"{option}="):
            CircuitBreaker(**{option: bad})

    @pytest.mark.parametrize(
        ("option", "bad", "message"),
        [
            ("name", 3, "name must be a str"),
            ("failure_on_result", "yes", "failure_on_result must be a predicate"),
            ("count_rejected", 1, "count_rejected must be True or False"),
            ("force_closed", "no", "force_closed must be True or False"),
            ("rng", 42, "rng must be a random.Random"),
            ("listeners", [1], "listeners must be callables"),
        ],
    )
    def test_wrong_types(self, option: str, bad: Any, message: str) -> None:
        """Each option of the wrong type says what it should be."""
        with pytest.raises(TypeError, match=message):
            CircuitBreaker(**{option: bad})

    def test_force_closed_setter_checks_its_type(self) -> None:
        """Assigning force_closed a non-bool is a TypeError."""
        cb = CircuitBreaker()
        with pytest.raises(TypeError, match="force_closed"):
            cb.force_closed = 1  # type: ignore[assignment]

    def test_decorating_a_sync_function(self) -> None:
        """Only async functions can be guarded."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async functions"):
            CircuitBreaker()(sync)  # type: ignore[arg-type]

    def test_built_and_inspected_outside_a_loop(self) -> None:
        """A breaker is built, inspected and controlled with no loop running."""
        cb = CircuitBreaker(name="db")
        assert cb.state is CLOSED
        assert cb.allows()
        assert cb.statistics().state is CLOSED
        assert repr(cb) == "<CircuitBreaker 'db' state=closed>"
        cb.isolate()
        assert repr(cb) == "<CircuitBreaker 'db' state=isolated>"
        cb.reset()
        assert cb.state is CLOSED

    def test_describe(self) -> None:
        """describe() gives the kind and every option, in plain values."""

        def is_404(exc: Exception) -> bool:
            return "404" in str(exc)

        def empty(result: object) -> bool:
            return not result

        backoff = brace.Backoff.exponential(initial=1, maximum=60, jitter="none")
        cb = CircuitBreaker(
            name="payments",
            failure_rate=0.25,
            window=TimeWindow(30),
            min_calls=5,
            consecutive_failures=3,
            slow_call_duration=dt.timedelta(seconds=2),
            slow_call_rate=0.75,
            open_for=backoff,
            half_open_calls=2,
            success_threshold=3,
            probe_timeout=20,
            on=(ConnectionError, Down),
            ignore=is_404,
            failure_on_result=empty,
            count_rejected=True,
            force_closed=True,
        )
        kind, options = cb.describe()
        assert kind == "breaker"
        assert options == {
            "name": "payments",
            "failure_rate": 0.25,
            "window": "TimeWindow(seconds=30.0, buckets=10)",
            "min_calls": 5,
            "consecutive_failures": 3,
            "slow_call_duration": 2.0,
            "slow_call_rate": 0.75,
            "open_for": repr(backoff),
            "half_open_calls": 2,
            "success_threshold": 3,
            "probe_timeout": 20.0,
            "on": ("ConnectionError", "Down"),
            "ignore": is_404.__qualname__,
            "failure_on_result": empty.__qualname__,
            "count_rejected": True,
            "force_closed": True,
        }
        defaults = CircuitBreaker().describe()[1]
        assert defaults["open_for"] == 5.0
        assert defaults["on"] == "Exception"
        assert defaults["ignore"] == ()
        assert defaults["consecutive_failures"] is None
        assert defaults["slow_call_duration"] is None
        assert defaults["window"] == "CountWindow(size=100)"
        assert cb.describe()[1] is not options  # a new dict every time


# -- transitions ----------------------------------------------------------------


@anyio_mark
class TestTransitions:
    """Closed -> open -> half-open -> closed, by the documented rules."""

    async def test_resilience4j_minimum_number_of_calls(self) -> None:
        """resilience4j: with min 10 calls, 9 failures of 9 calls do not open it."""
        cb = CircuitBreaker(window=CountWindow(10), min_calls=10, failure_rate=0.5)
        await fail(cb, 9)
        assert cb.state is CLOSED
        assert cb.statistics().failure_rate == 1.0
        await fail(cb)
        assert cb.state is OPEN

    async def test_resilience4j_rate_equal_to_threshold_opens(self) -> None:
        """resilience4j: a failure rate *equal* to the threshold opens it."""
        cb = CircuitBreaker(window=CountWindow(10), min_calls=10, failure_rate=0.5)
        await feed(cb, "sfsfsfsfs")
        assert cb.state is CLOSED
        await feed(cb, "f")  # 5 of 10
        assert cb.state is OPEN

    async def test_below_the_threshold_stays_closed(self) -> None:
        """4 failures in the last 10 calls stay below 50 %."""
        cb = CircuitBreaker(window=CountWindow(10), min_calls=10, failure_rate=0.5)
        await feed(cb, "ffffssssss")
        assert cb.state is CLOSED
        assert cb.statistics().failure_rate == 0.4

    async def test_the_window_slides(self) -> None:
        """Old failures leave the count window; new ones push the rate up."""
        cb = CircuitBreaker(window=CountWindow(4), min_calls=4, failure_rate=0.75)
        await feed(cb, "ffssss")  # the failures were pushed out
        assert cb.statistics().failures == 0
        await feed(cb, "fff")
        assert cb.state is OPEN

    async def test_a_success_can_complete_the_minimum(self) -> None:
        """The rate is judged after every call, successes included."""
        cb = CircuitBreaker(window=CountWindow(10), min_calls=4, failure_rate=0.5)
        await feed(cb, "ffs")
        assert cb.state is CLOSED  # 3 calls: not judged yet
        await feed(cb, "s")  # 2 of 4
        assert cb.state is OPEN

    async def test_decimal_thresholds_are_exact(self) -> None:
        """3 failures of 10 reach failure_rate=0.3 (no float rounding miss)."""
        cb = CircuitBreaker(window=CountWindow(10), min_calls=10, failure_rate=0.3)
        await feed(cb, "fffsssssss")
        assert cb.state is OPEN

    async def test_consecutive_failures(self) -> None:
        """A success resets the run; three failures in a row open it."""
        cb = consecutive(3)
        await feed(cb, "ffsff")
        assert cb.state is CLOSED
        assert cb.statistics().consecutive_failures == 2
        await feed(cb, "f")
        assert cb.state is OPEN

    async def test_consecutive_and_rate_rules_combine(self) -> None:
        """Either rule opens the breaker: whichever fires first."""
        cb = CircuitBreaker(
            window=CountWindow(4), min_calls=4, failure_rate=0.5, consecutive_failures=3
        )
        await feed(cb, "fsfs")
        assert cb.state is OPEN
        cb.reset()
        await feed(cb, "fff")
        assert cb.state is OPEN

    async def test_open_rejects_then_half_opens_after_open_for(self) -> None:
        """Open for exactly open_for; retry_after counts down on the loop clock."""
        cb = consecutive(1, open_for=10)
        start = anyio.current_time()
        await fail(cb)
        await anyio.sleep(4)
        ran: list[int] = []

        async def work() -> None:
            ran.append(1)

        with pytest.raises(CircuitOpen) as info:
            await cb.call(work)
        assert ran == []
        assert info.value.retry_after == 6.0
        assert info.value.name == "<breaker>"
        await anyio.sleep(6)
        assert cb.state is HALF_OPEN
        assert cb.statistics().time_in_state == 0.0
        assert anyio.current_time() - start == 10.0
        await cb.call(work)
        assert ran == [1]
        assert cb.state is CLOSED

    async def test_a_failed_probe_reopens(self) -> None:
        """One failed probe opens the breaker for another period."""
        cb = consecutive(1, open_for=5)
        await fail(cb)
        await anyio.sleep(5)
        await fail(cb)
        assert cb.state is OPEN
        assert cb.statistics().retry_after == 5.0
        assert cb.statistics().opened == 2

    async def test_success_threshold(self) -> None:
        """Three probes must succeed, one at a time, before it closes."""
        cb = consecutive(1, open_for=5, success_threshold=3)
        await fail(cb)
        await anyio.sleep(5)
        await feed(cb, "ss")
        assert cb.state is HALF_OPEN
        await feed(cb, "s")
        assert cb.state is CLOSED

    async def test_backoff_open_for_grows_until_closed(self) -> None:
        """A Backoff opens longer on each re-opening, and starts over once closed."""
        backoff = brace.Backoff.exponential(
            initial=1, multiplier=2, maximum=4, jitter="none"
        )
        cb = consecutive(1, open_for=backoff)
        periods = []
        await fail(cb)
        for _ in range(4):
            periods.append(cb.statistics().retry_after)
            await anyio.sleep(cb.statistics().retry_after or 0)
            await fail(cb)  # the probe fails
        assert periods == [1.0, 2.0, 4.0, 4.0]
        await anyio.sleep(4)
        await feed(cb, "s")  # closes
        await fail(cb)
        assert cb.statistics().retry_after == 1.0

    async def test_backoff_jitter_uses_the_given_rng(self) -> None:
        """Jittered open periods are drawn from rng=, so they repeat with a seed."""
        backoff = brace.Backoff.exponential(initial=1, maximum=8, jitter="full")

        async def periods(seed: int) -> list[float | None]:
            cb = consecutive(1, open_for=backoff, rng=random.Random(seed))
            found = []
            for _ in range(3):
                await fail(cb)
                found.append(cb.statistics().retry_after)
                cb.reset()
            return found

        first = await periods(7)
        assert first == await periods(7)
        assert all(p is not None and 0 <= p <= 1 for p in first)

    async def test_slow_call_rate(self) -> None:
        """Half of the calls at least slow_call_duration long open it."""
        events: list[_events.Event] = []
        cb = CircuitBreaker(
            window=CountWindow(4),
            min_calls=4,
            failure_rate=None,
            slow_call_duration=1.0,
            slow_call_rate=0.5,
            listeners=[events.append],
        )
        await cb.call(sleep_then, 0.5)
        await cb.call(sleep_then, 1.0)  # exactly the duration: slow
        await cb.call(sleep_then, 0.0)
        assert cb.statistics().slow_calls == 1
        assert cb.state is CLOSED
        await cb.call(sleep_then, 3.0)
        assert cb.state is OPEN
        assert isinstance(events[-1], _events.CircuitStateChanged)
        assert events[-1].reason == "slow_call_rate"

    async def test_exactly_slow_call_duration_is_slow_at_any_start(self) -> None:
        """A call of exactly slow_call_duration is slow even where t - start
        rounds below it (0.7 - 0.6 < 0.1); failed before the review fix."""
        cb = CircuitBreaker(
            window=CountWindow(1),
            failure_rate=None,
            slow_call_duration=0.1,
            slow_call_rate=1.0,
        )
        await anyio.sleep(0.6 - anyio.current_time() % 1.0)
        await cb.call(sleep_then, 0.1)
        assert cb.state is OPEN

    async def test_time_window_forgets_old_failures(self) -> None:
        """Failures older than the time window no longer count."""
        cb = CircuitBreaker(window=TimeWindow(10, buckets=10), min_calls=4)
        await feed(cb, "ff")
        await anyio.sleep(10)
        assert cb.statistics().calls == 0
        await feed(cb, "ffss")  # 2 of 4: the old two are gone
        assert cb.state is OPEN

    async def test_outcomes_of_an_earlier_state_are_ignored(self) -> None:
        """A call admitted while closed, ending after a full cycle, changes nothing."""
        cb = consecutive(1, open_for=1)
        async with anyio.create_task_group() as tg:

            async def straggler() -> None:
                with pytest.raises(Down):
                    await cb.call(_fail_after, 5.0)

            tg.start_soon(straggler)
            await anyio.sleep(0.5)
            await fail(cb)  # opens
            await anyio.sleep(1)
            await cb.call(ok)  # the probe closes it
            assert cb.state is CLOSED
        assert cb.state is CLOSED  # the straggler's failure was not recorded
        assert cb.statistics().calls == 0

    async def test_isolate_and_reset(self) -> None:
        """isolate() fails everything with retry_after=inf until reset()."""
        cb = CircuitBreaker(name="db")
        cb.isolate()
        cb.isolate()  # idempotent
        assert cb.state is ISOLATED
        assert not cb.allows()
        with pytest.raises(CircuitOpen) as info:
            await cb.call(ok)
        assert info.value.retry_after == math.inf
        assert cb.statistics().retry_after == math.inf
        await anyio.sleep(1e6)
        assert cb.state is ISOLATED
        cb.reset()
        assert await cb.call(ok) == "ok"

    async def test_reset_forgets_history_keeps_totals(self) -> None:
        """reset() closes and clears the window; rejected and opened remain."""
        cb = consecutive(2)
        await fail(cb, 2)
        with pytest.raises(CircuitOpen):
            await cb.call(ok)
        cb.reset()
        stats = cb.statistics()
        assert (stats.state, stats.calls, stats.consecutive_failures) == (CLOSED, 0, 0)
        assert (stats.rejected, stats.opened) == (1, 1)

    async def test_calls_run_concurrently(self) -> None:
        """No lock around the protected call: closed calls overlap freely."""
        cb = CircuitBreaker(slow_call_duration=100)
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(cb.call, sleep_then, 1.0)
        assert anyio.current_time() - start == 1.0


async def _fail_after(delay: float) -> None:
    await anyio.sleep(delay)
    raise Down("late")


# -- half-open probes ------------------------------------------------------------


@anyio_mark
class TestHalfOpen:
    """Exactly half_open_calls probes; permits expire; cancellation frees them."""

    @pytest.mark.parametrize("permits", [1, 3])
    async def test_flood_of_50_lets_exactly_the_permitted_probes_through(
        self, permits: int
    ) -> None:
        """50 concurrent callers in half-open: only *permits* reach the backend."""
        cb = consecutive(1, open_for=10, half_open_calls=permits)
        await fail(cb)
        await anyio.sleep(10)
        reached: list[int] = []
        release = anyio.Event()

        async def backend(i: int) -> int:
            reached.append(i)
            await release.wait()
            return i

        outcomes: dict[int, object] = {}

        async def caller(i: int) -> None:
            try:
                outcomes[i] = await cb.call(backend, i)
            except CircuitOpen as exc:
                outcomes[i] = exc

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(caller, i)
            await anyio.sleep(1)
            assert len(reached) == permits
            assert cb.statistics().probes == permits
            assert not cb.allows()
            release.set()
        rejected = [o for o in outcomes.values() if isinstance(o, CircuitOpen)]
        assert len(rejected) == 50 - permits
        assert sorted(o for o in outcomes.values() if isinstance(o, int)) == sorted(
            reached
        )
        assert cb.statistics().rejected == 50 - permits
        assert cb.state is CLOSED
        # A rejected caller was told to come back within the open period.
        assert all(0 < r.retry_after <= 10 for r in rejected)

    async def test_a_hung_probe_expires_and_counts_as_failed(self) -> None:
        """After probe_timeout the permit expires: re-open, then a fresh probe."""
        events: list[_events.Event] = []
        cb = consecutive(1, open_for=10, probe_timeout=30, listeners=[events.append])
        await fail(cb)
        await anyio.sleep(10)
        async with anyio.create_task_group() as tg:
            tg.start_soon(cb.call, sleep_then, 100.0)  # hangs for 100 s
            await anyio.sleep(30)
            assert cb.state is HALF_OPEN  # exactly at the deadline: not yet
            with pytest.raises(CircuitOpen) as info:
                await cb.call(ok)
            assert info.value.retry_after == 0.0
            await anyio.sleep(1)
            # Expired at t=30 s of half-open, re-opened for 10 s from then.
            assert cb.state is OPEN
            assert cb.statistics().retry_after == 9.0
            assert cb.statistics().time_in_state == 1.0
            await anyio.sleep(9)
            assert await cb.call(ok) == "ok"  # a fresh probe closes it
            assert cb.state is CLOSED
        # The hung probe finally returned: its late success changed nothing.
        assert cb.state is CLOSED
        reasons = [
            e.reason for e in events if isinstance(e, _events.CircuitStateChanged)
        ]
        assert reasons == [
            "consecutive_failures",
            "open_for_elapsed",
            "probe_timeout",
            "open_for_elapsed",
            "probes_succeeded",
        ]

    async def test_an_expiry_long_past_half_opens_again(self) -> None:
        """Transitions due long ago all apply, each at the instant it was due."""
        cb = consecutive(1, open_for=10, probe_timeout=5)
        await fail(cb)
        await anyio.sleep(10)
        async with anyio.create_task_group() as tg:
            tg.start_soon(cb.call, sleep_then, 1000.0)
            await anyio.sleep(100)  # expired at 5 s, re-opened until 15 s
            assert cb.state is HALF_OPEN
            assert cb.statistics().time_in_state == 85.0
            tg.cancel_scope.cancel()
        assert cb.statistics().probes == 0

    async def test_cancelled_probe_frees_its_permit(self) -> None:
        """A probe cancelled from outside is neutral and frees its permit."""
        cb = consecutive(1, open_for=10)
        await fail(cb)
        await anyio.sleep(10)
        with anyio.move_on_after(1) as scope:
            await cb.call(sleep_then, 5.0)
        assert scope.cancelled_caught
        stats = cb.statistics()
        assert (stats.state, stats.probes, stats.opened) == (HALF_OPEN, 0, 1)
        assert cb.allows()
        assert await cb.call(ok) == "ok"
        assert cb.state is CLOSED

    async def test_probe_cancelled_the_instant_it_was_admitted(self) -> None:
        """Cancellation pending when the probe is admitted frees the permit."""
        cb = consecutive(1, open_for=10)
        await fail(cb)
        await anyio.sleep(10)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await cb.call(sleep_then, 5.0)
        assert scope.cancelled_caught
        assert cb.statistics().probes == 0
        assert cb.state is HALF_OPEN

    async def test_task_group_cancels_probes(self) -> None:
        """A failing sibling cancels the probes: all permits come back."""
        cb = consecutive(1, open_for=10, half_open_calls=2)
        await fail(cb)
        await anyio.sleep(10)

        async def sibling() -> None:
            await anyio.sleep(1)
            raise LookupError("sibling failed")

        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(cb.call, sleep_then, 5.0)
                tg.start_soon(cb.call, sleep_then, 5.0)
                tg.start_soon(sibling)
        assert info.group_contains(LookupError)
        assert cb.statistics().probes == 0
        assert cb.state is HALF_OPEN

    async def test_a_neutral_probe_frees_its_permit(self) -> None:
        """An ignored exception from a probe neither closes nor re-opens."""
        cb = consecutive(1, open_for=10, ignore=KeyError)

        async def missing() -> None:
            raise KeyError("absent")

        await fail(cb)
        await anyio.sleep(10)
        with pytest.raises(KeyError):
            await cb.call(missing)
        assert cb.state is HALF_OPEN
        assert cb.statistics().probes == 0

    async def test_a_slow_probe_reopens(self) -> None:
        """A successful probe slower than slow_call_duration re-opens it."""
        events: list[_events.Event] = []
        cb = consecutive(
            1, open_for=10, slow_call_duration=2, listeners=[events.append]
        )
        await fail(cb)
        await anyio.sleep(10)
        assert await cb.call(sleep_then, 2.0) == "ok"
        assert cb.state is OPEN
        assert isinstance(events[-1], _events.CircuitStateChanged)
        assert events[-1].reason == "probe_slow"

    async def test_a_brace_timeout_inside_fails_the_probe(self) -> None:
        """brace.Timeout firing inside the breaker is a failed, slow probe."""
        cb = consecutive(1, open_for=10, on=ConnectionError)
        await fail(cb)  # Down does not match on=: a success, stays closed
        assert cb.state is CLOSED

        @cb
        @brace.Timeout(1)
        async def hang() -> None:
            await anyio.sleep(10)

        with pytest.raises(brace.TimeoutError):
            await hang()  # whatever on= says
        assert cb.state is OPEN
        assert cb.statistics().slow_calls == 1
        await anyio.sleep(10)
        with pytest.raises(brace.TimeoutError):
            await hang()
        assert cb.state is OPEN
        assert cb.statistics().opened == 2


# -- classification ----------------------------------------------------------------


@anyio_mark
class TestClassification:
    """What counts as a failure, a success, or nothing at all."""

    async def test_the_calls_exception_passes_through_unchanged(self) -> None:
        """The very exception object raised by the call reaches the caller."""
        cb = CircuitBreaker()
        error = Down("exact")

        async def raise_it() -> None:
            raise error

        with pytest.raises(Down) as info:
            await cb.call(raise_it)
        assert info.value is error
        assert not getattr(error, "__notes__", None)

    async def test_exceptions_not_matching_on_are_successes(self) -> None:
        """With on=ConnectionError, a ValueError means the dependency answered."""
        cb = consecutive(1, on=ConnectionError)

        async def bad_input() -> None:
            raise ValueError("400")

        with pytest.raises(ValueError):
            await cb.call(bad_input)
        stats = cb.statistics()
        assert (stats.state, stats.calls, stats.failures) == (CLOSED, 1, 0)

    async def test_on_predicate(self) -> None:
        """on= may be a predicate over the exception."""
        cb = consecutive(1, on=lambda exc: "unavailable" in str(exc))
        await fail(cb)
        assert cb.state is OPEN

    async def test_ignored_exceptions_are_neutral(self) -> None:
        """ignore= wins over on=: the call is not counted at all."""
        cb = consecutive(1, ignore=(KeyError, Down))
        with pytest.raises(Down):
            await cb.call(down)
        stats = cb.statistics()
        assert (stats.state, stats.calls) == (CLOSED, 0)

    async def test_inner_rejections_are_neutral_by_default(self) -> None:
        """A LimiterFull from an inner limiter is not the dependency failing."""
        lim = ConcurrencyLimiter(1, max_waiting=0)
        cb = consecutive(1)
        await lim.acquire()
        with pytest.raises(LimiterFull):
            await cb.call(lim.call, ok)
        assert (cb.state, cb.statistics().calls) == (CLOSED, 0)

        counting = consecutive(1, count_rejected=True)
        with pytest.raises(LimiterFull):
            await counting.call(lim.call, ok)
        assert counting.state is OPEN

    async def test_failure_on_result(self) -> None:
        """A returned value can be a failure; it is still returned."""
        cb = consecutive(2, failure_on_result=lambda r: r is None)
        assert await cb.call(ok, None) is None
        assert await cb.call(ok, 1) == 1
        assert cb.statistics().consecutive_failures == 0
        assert await cb.call(ok, None) is None
        assert await cb.call(ok, None) is None
        assert cb.state is OPEN

    async def test_a_raising_predicate_still_frees_the_probe(self) -> None:
        """A broken user predicate propagates, and the probe permit comes back."""

        def broken(exc: Exception) -> bool:
            raise RuntimeError("bug in predicate")

        # Open it by hand: the predicate would break the tripping call too.
        cb = consecutive(1, open_for=1, ignore=broken)
        cb._open(anyio.current_time(), "test")
        await anyio.sleep(1)
        with pytest.raises(RuntimeError, match="bug in predicate"):
            await cb.call(down)
        assert cb.statistics().probes == 0

        def broken_result(result: object) -> bool:
            raise RuntimeError("bug in result predicate")

        cb = consecutive(1, open_for=1, failure_on_result=broken_result)
        cb._open(anyio.current_time(), "test")
        await anyio.sleep(1)
        with pytest.raises(RuntimeError, match="result predicate"):
            await cb.call(ok)
        assert cb.statistics().probes == 0

    async def test_outside_cancellation_is_not_recorded(self) -> None:
        """A closed call cancelled from outside counts for nothing."""
        cb = consecutive(1)
        with anyio.move_on_after(1):
            await cb.call(sleep_then, 5.0)
        assert cb.statistics().calls == 0
        assert cb.state is CLOSED

    async def test_call_with_a_sync_function(self) -> None:
        """call() with a sync function: TypeError, neutral, permit freed."""
        cb = consecutive(1, open_for=1)
        await fail(cb)
        await anyio.sleep(1)

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="needs an async function"):
            await cb.call(sync)  # type: ignore[arg-type]
        stats = cb.statistics()
        assert (stats.state, stats.probes) == (HALF_OPEN, 0)

    async def test_exception_groups_fail_when_every_leaf_matches(self) -> None:
        """An ExceptionGroup is a failure when all its leaves match on=."""
        cb = consecutive(1, on=Down)

        async def group(*errors: Exception) -> None:
            raise ExceptionGroup("several", list(errors))

        with pytest.raises(ExceptionGroup):
            await cb.call(group, Down(), ValueError())
        assert cb.state is CLOSED
        with pytest.raises(ExceptionGroup):
            await cb.call(group, Down(), Down())
        assert cb.state is OPEN


# -- the three spellings -------------------------------------------------------------


@anyio_mark
class TestSpellings:
    """Decorator, call() and async with behave alike."""

    async def test_async_with_does_not_judge_a_result(self) -> None:
        """A clean async with block is a success; failure_on_result is never
        called with a made-up None; failed before the review fix."""
        judged: list[object] = []

        def is_error(response: Any) -> bool:
            judged.append(response)
            return bool(response.status >= 500)

        cb = consecutive(1, failure_on_result=is_error)
        async with cb:
            pass
        assert judged == []
        assert (cb.state, cb.statistics().calls) == (CLOSED, 1)

    async def test_decorator_keeps_the_signature(self) -> None:
        """functools.wraps: name, docstring, signature and __wrapped__ survive."""
        cb = CircuitBreaker()

        @cb
        async def fetch(url: str, *, retries: int = 0) -> str:
            """Fetch a URL."""
            return f"{url}:{retries}"

        assert fetch.__name__ == "fetch"
        assert fetch.__doc__ == "Fetch a URL."
        assert inspect.signature(fetch) == inspect.signature(fetch.__wrapped__)
        assert list(inspect.signature(fetch).parameters) == ["url", "retries"]
        assert await fetch("u", retries=2) == "u:2"

    async def test_decorated_methods_share_the_breaker(self) -> None:
        """A method decorated at class level uses one breaker for all instances."""
        cb = consecutive(2)

        class Client:
            @cb
            async def get(self) -> None:
                raise Down

        for client in (Client(), Client()):
            with pytest.raises(Down):
                await client.get()
        assert cb.state is OPEN

    async def test_call_passes_arguments(self) -> None:
        """call(fn, *args, **kwargs) forwards both."""

        async def add(a: int, b: int = 0) -> int:
            return a + b

        assert await CircuitBreaker().call(add, 1, b=2) == 3

    async def test_async_with_classifies_the_block(self) -> None:
        """The exception leaving the block is the outcome; none is a success."""
        cb = consecutive(2)
        async with cb:
            pass
        for _ in range(2):
            with pytest.raises(Down):
                async with cb:
                    raise Down
        assert cb.state is OPEN
        with pytest.raises(CircuitOpen):
            async with cb:
                pytest.fail("the block must not run")  # pragma: no cover

    async def test_async_with_probe_and_cancellation(self) -> None:
        """A probe block cancelled from outside frees its permit."""
        cb = consecutive(1, open_for=1)
        await fail(cb)
        await anyio.sleep(1)
        with anyio.move_on_after(1):
            async with cb:
                await anyio.sleep(5)
        assert cb.statistics().probes == 0
        async with cb:
            pass
        assert cb.state is CLOSED

    async def test_async_with_slow_timing(self) -> None:
        """Blocks are timed like calls when slow_call_duration is set."""
        cb = CircuitBreaker(
            window=CountWindow(2), failure_rate=None, slow_call_duration=1
        )
        for _ in range(2):
            async with cb:
                await anyio.sleep(1)
        assert cb.state is OPEN

    async def test_nested_and_interleaved_blocks(self) -> None:
        """Blocks of two breakers may exit in any order; entries stay paired."""
        a, b = consecutive(1, name="a"), consecutive(1, name="b")
        async with a, b:
            pass
        assert (a.state, b.state) == (CLOSED, CLOSED)

        async def gen() -> AsyncIterator[None]:
            async with a:
                yield

        agen = gen()
        await agen.__anext__()  # a's block is open
        with pytest.raises(Down):
            async with b:
                with pytest.raises(StopAsyncIteration):
                    await agen.__anext__()  # a's block exits inside b's
                raise Down
        assert (a.state, b.state) == (CLOSED, OPEN)

    async def test_decorator_probes(self) -> None:
        """Decorated probes: a cancelled one is neutral, a failed one re-opens."""
        cb = consecutive(1, open_for=1)
        guarded_sleep = cb(sleep_then)
        guarded_down = cb(down)
        with pytest.raises(Down):
            await guarded_down()
        await anyio.sleep(1)
        with anyio.move_on_after(1):
            await guarded_sleep(5.0)
        assert (cb.state, cb.statistics().probes) == (HALF_OPEN, 0)
        with pytest.raises(Down):
            await guarded_down()
        assert cb.state is OPEN
        await anyio.sleep(1)
        assert await guarded_sleep(0.5) == "ok"
        assert cb.state is CLOSED

    async def test_cancelled_while_closed_and_timed(self) -> None:
        """Timed closed calls and blocks cancelled from outside record nothing."""
        cb = CircuitBreaker(window=TimeWindow(10), slow_call_duration=1)
        with anyio.move_on_after(1):
            async with cb:
                await anyio.sleep(5)
        with anyio.move_on_after(1):
            await cb(sleep_then)(5.0)
        stats = cb.statistics()
        assert (stats.calls, stats.slow_calls) == (0, 0)

    async def test_exit_without_enter(self) -> None:
        """__aexit__ without a matching __aenter__ is a RuntimeError."""
        with pytest.raises(RuntimeError, match="without a matching __aenter__"):
            await CircuitBreaker().__aexit__(None, None, None)

    async def test_time_window_records_every_call(self) -> None:
        """With a time window each success is recorded (no skipping)."""
        cb = CircuitBreaker(window=TimeWindow(60))
        for _ in range(30):
            await cb.call(ok)
        async with cb:
            pass
        assert cb.statistics().calls == 31


class TestNoYield:
    """The breaker itself never suspends: closed, open and half-open."""

    def test_closed_paths_do_not_yield(self) -> None:
        """Decorator, call() and async with finish in one step when closed."""
        cb = CircuitBreaker(window=CountWindow(2))
        guarded = cb(ok)
        for _ in range(3):  # through the "healthy" skip too
            assert run_without_yielding(guarded("x")) == "x"
            assert run_without_yielding(cb.call(ok, "y")) == "y"
        assert run_without_yielding(cb.__aenter__()) is None
        assert run_without_yielding(cb.__aexit__(None, None, None)) is None

    def test_rejection_does_not_yield(self) -> None:
        """An open breaker raises CircuitOpen at the first step."""
        cb = CircuitBreaker()
        cb.isolate()
        with pytest.raises(CircuitOpen):
            run_without_yielding(cb(ok)())


# -- backend specifics ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_asyncio_timeout_around_a_probe() -> None:
    """asyncio.timeout outside a probe: the probe is neutral, its permit freed."""
    cb = consecutive(1, open_for=1)
    await fail(cb)
    await asyncio.sleep(1)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await cb.call(sleep_then, 5.0)
    assert cb.statistics().probes == 0
    assert cb.state is HALF_OPEN


@pytest.mark.asyncio
async def test_asyncio_task_cancel_during_a_probe() -> None:
    """task.cancel() on a running probe frees the permit for the next caller."""
    cb = consecutive(1, open_for=1)
    await fail(cb)
    await asyncio.sleep(1)
    task = asyncio.create_task(cb.call(sleep_then, 5.0))
    await asyncio.sleep(0)  # admitted, now waiting inside the call
    assert cb.statistics().probes == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cb.statistics().probes == 0
    assert await cb.call(ok) == "ok"
    assert cb.state is CLOSED


@pytest.mark.asyncio
async def test_asyncio_wait_for_and_gather() -> None:
    """wait_for cancels a probe neutrally; gather of many closed calls counts all."""
    cb = CircuitBreaker(window=TimeWindow(10))
    await asyncio.gather(*(cb.call(ok, i) for i in range(10)))
    assert cb.statistics().calls == 10
    cb2 = consecutive(1, open_for=1)
    await fail(cb2)
    await asyncio.sleep(1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(cb2.call(sleep_then, 5.0), 0.5)
    assert cb2.statistics().probes == 0


@pytest.mark.asyncio
async def test_asyncio_cancelled_before_starting_never_enters() -> None:
    """A task cancelled before its first step never takes a probe permit."""
    cb = consecutive(1, open_for=1)
    await fail(cb)
    await asyncio.sleep(1)
    task = asyncio.create_task(cb.call(ok))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = cb.statistics()
    assert (stats.state, stats.probes, stats.rejected) == (HALF_OPEN, 0, 0)


# -- statistics and events ---------------------------------------------------------


@anyio_mark
class TestStatistics:
    """statistics() on the virtual clock: exact times and counts."""

    async def test_counts_rates_and_time_in_state(self) -> None:
        """Every field, through a trip and a rejection."""
        cb = CircuitBreaker(
            window=CountWindow(4), min_calls=4, slow_call_duration=2, open_for=30
        )
        start = anyio.current_time()
        assert cb.statistics() == CircuitBreakerStatistics(
            state=CLOSED,
            calls=0,
            failures=0,
            slow_calls=0,
            failure_rate=0.0,
            slow_call_rate=0.0,
            consecutive_failures=0,
            rejected=0,
            opened=0,
            would_open=0,
            probes=0,
            time_in_state=0.0,
            retry_after=None,
            version=0,
        )
        await cb.call(sleep_then, 3.0)  # slow success
        await feed(cb, "sff")  # 2 of 4 failed: opens
        await anyio.sleep(4)
        with pytest.raises(CircuitOpen):
            await cb.call(ok)
        stats = cb.statistics()
        assert stats == CircuitBreakerStatistics(
            state=OPEN,
            calls=4,
            failures=2,
            slow_calls=1,
            failure_rate=0.5,
            slow_call_rate=0.25,
            consecutive_failures=2,
            rejected=1,
            opened=1,
            would_open=0,
            probes=0,
            time_in_state=4.0,
            retry_after=26.0,
            version=1,
        )
        assert anyio.current_time() - start == 7.0

    async def test_version_counts_transitions(self) -> None:
        """Every transition adds one to the version."""
        cb = consecutive(1, open_for=1)
        await fail(cb)  # closed -> open
        await anyio.sleep(1)
        await cb.call(ok)  # -> half-open -> closed
        cb.isolate()
        cb.reset()
        assert cb.statistics().version == 5

    async def test_allows_is_a_query(self) -> None:
        """allows() answers for each state and never takes a permit."""
        cb = consecutive(1, open_for=1)
        assert cb.allows()
        await fail(cb)
        assert not cb.allows()
        await anyio.sleep(1)
        assert cb.allows()
        assert cb.allows()
        assert cb.statistics().probes == 0


@anyio_mark
class TestEvents:
    """Transitions and rejections are reported, carrying the breaker's name."""

    async def test_transition_and_rejection_events(self) -> None:
        """Local listeners and global subscribers see the same events."""
        local: list[_events.Event] = []
        cb = consecutive(1, name="payments", open_for=5, listeners=[local.append])
        seen: list[_events.Event] = []
        with _events.subscribe(
            seen.append, _events.CircuitStateChanged, _events.CircuitRejected
        ):
            await fail(cb)
            with pytest.raises(CircuitOpen):
                await cb.call(ok)
            await anyio.sleep(5)
            await cb.call(ok)
            cb.isolate()
            cb.reset()
        assert seen == local
        assert local == [
            _events.CircuitStateChanged(
                name="payments",
                old="closed",
                new="open",
                reason="consecutive_failures",
                open_for=5.0,
            ),
            _events.CircuitRejected(name="payments", state="open", retry_after=5.0),
            _events.CircuitStateChanged(
                name="payments", old="open", new="half_open", reason="open_for_elapsed"
            ),
            _events.CircuitStateChanged(
                name="payments",
                old="half_open",
                new="closed",
                reason="probes_succeeded",
            ),
            _events.CircuitStateChanged(
                name="payments", old="closed", new="isolated", reason="isolate"
            ),
            _events.CircuitStateChanged(
                name="payments", old="isolated", new="closed", reason="reset"
            ),
        ]

    async def test_no_event_is_built_without_listeners(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With nobody listening, no event object is constructed."""

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("an event was built with nobody listening")

        for kind in ("CircuitStateChanged", "CircuitRejected", "CircuitWouldOpen"):
            monkeypatch.setattr(_events, kind, forbidden)
        cb = consecutive(1, open_for=1)
        await fail(cb)
        with pytest.raises(CircuitOpen):
            await cb.call(ok)
        await anyio.sleep(1)
        await cb.call(ok)
        dark = consecutive(1, force_closed=True)
        await fail(dark)
        assert dark.statistics().would_open == 1

    async def test_a_broken_listener_changes_nothing(self) -> None:
        """A listener that raises is logged; the call's outcome stands."""

        def broken(event: _events.Event) -> None:
            raise RuntimeError("listener bug")

        cb = consecutive(1, listeners=[broken])
        await fail(cb)
        with pytest.raises(CircuitOpen):
            await cb.call(ok)


@anyio_mark
class TestForceClosed:
    """Metrics-only mode: records and reports, never rejects."""

    async def test_reports_instead_of_opening(self) -> None:
        """A rule firing emits CircuitWouldOpen and starts the window afresh."""
        events: list[_events.Event] = []
        cb = CircuitBreaker(
            window=CountWindow(4),
            min_calls=4,
            force_closed=True,
            name="dark",
            listeners=[events.append],
        )
        await feed(cb, "ssff")
        assert cb.state is CLOSED
        assert events == [
            _events.CircuitWouldOpen(
                name="dark",
                reason="failure_rate",
                failure_rate=0.5,
                slow_call_rate=0.0,
                calls=4,
            )
        ]
        stats = cb.statistics()
        assert (stats.calls, stats.would_open, stats.opened) == (0, 1, 0)
        for _ in range(20):
            await fail(cb)  # never rejected
        assert cb.statistics().rejected == 0
        assert cb.statistics().would_open == 6  # one per window of 4

    async def test_switching_on_closes_and_off_enforces(self) -> None:
        """force_closed = True closes an open breaker; False enforces the rules."""
        events: list[_events.Event] = []
        cb = consecutive(1, listeners=[events.append])
        await fail(cb)
        cb.force_closed = True
        assert cb.force_closed
        assert cb.state is CLOSED
        assert isinstance(events[-1], _events.CircuitStateChanged)
        assert events[-1].reason == "force_closed"
        await fail(cb)
        assert cb.state is CLOSED
        cb.force_closed = False
        await fail(cb)
        assert cb.state is OPEN

    async def test_isolate_overrides_it(self) -> None:
        """isolate() rejects even a force_closed breaker."""
        cb = CircuitBreaker(force_closed=True)
        cb.isolate()
        cb.force_closed = True  # stays isolated
        with pytest.raises(CircuitOpen):
            await cb.call(ok)


# -- snapshot and restore ------------------------------------------------------------


@anyio_mark
class TestSnapshot:
    """State as plain data, relative times, versions, and validation."""

    async def test_open_breaker_round_trip(self) -> None:
        """An open breaker resumes its open period in another breaker."""
        cb = consecutive(3, name="db", open_for=30)
        await fail(cb, 3)
        await anyio.sleep(10)
        data = json.loads(json.dumps(cb.snapshot()))
        assert data == {
            "kind": "circuit_breaker",
            "format": 1,
            "name": "db",
            "version": 1,
            "state": "open",
            "time_in_state": 10.0,
            "open_remaining": 20.0,
            "open_duration": 30.0,
            "trips": 1,
            "half_open_successes": 0,
            "consecutive_failures": 3,
            "window": {"kind": "count", "size": 100, "codes": [1, 1, 1]},
        }
        await anyio.sleep(1000)  # the other process starts much later
        copy = consecutive(3, name="db", open_for=30)
        copy.restore(data)
        stats = copy.statistics()
        assert (stats.state, stats.retry_after, stats.version) == (OPEN, 20.0, 1)
        assert (stats.calls, stats.failures, stats.time_in_state) == (3, 3, 10.0)
        await anyio.sleep(20)
        assert copy.state is HALF_OPEN

    async def test_elapsed_counts_against_the_open_period(self) -> None:
        """restore(elapsed=...) subtracts time that passed in between."""
        cb = consecutive(1, open_for=30)
        await fail(cb)
        data = cb.snapshot()
        copy = consecutive(1, open_for=30)
        copy.restore(data, elapsed=dt.timedelta(seconds=12))
        assert copy.statistics().retry_after == 18.0
        late = consecutive(1, open_for=30)
        late.restore(data, elapsed=31)
        assert late.state is HALF_OPEN
        assert late.statistics().time_in_state == 1.0

    async def test_half_open_and_isolated_round_trip(self) -> None:
        """Half-open keeps its successes (not its probes); isolation survives."""
        cb = consecutive(1, open_for=1, success_threshold=3)
        await fail(cb)
        await anyio.sleep(1)
        await cb.call(ok)
        copy = consecutive(1, open_for=1, success_threshold=3)
        copy.restore(cb.snapshot())
        await feed(copy, "s")
        assert copy.state is HALF_OPEN
        await feed(copy, "s")
        assert copy.state is CLOSED
        cb.isolate()
        other = CircuitBreaker()
        other.restore(cb.snapshot())
        assert other.state is ISOLATED

    async def test_restore_emits_and_discards_calls_in_flight(self) -> None:
        """Restoring is a transition: calls admitted before are not recorded."""
        events: list[_events.Event] = []
        cb = consecutive(1, listeners=[events.append])
        source = consecutive(1)
        await fail(source)
        async with anyio.create_task_group() as tg:
            tg.start_soon(cb.call, sleep_then, 1.0)
            await anyio.sleep(0.5)
            cb.restore(source.snapshot())
            cb.reset()
        assert cb.statistics().calls == 0
        changes = [e for e in events if isinstance(e, _events.CircuitStateChanged)]
        assert [(e.reason, e.open_for) for e in changes] == [
            ("restore", 9.5),  # opened 0.5 s before the snapshot
            ("reset", None),
        ]

    async def test_version_is_adopted_then_incremented(self) -> None:
        """A restored breaker continues the record's version (compare-and-set)."""
        cb = consecutive(1, open_for=1)
        await fail(cb)
        await anyio.sleep(1)
        await cb.call(ok)  # version 3
        copy = consecutive(1, open_for=1)
        copy.restore(cb.snapshot())
        assert copy.statistics().version == 3
        await fail(copy)
        assert copy.snapshot()["version"] == 4

    async def test_force_closed_restores_closed(self) -> None:
        """A force_closed breaker given an open record stays closed."""
        cb = consecutive(1)
        await fail(cb)
        dark = consecutive(1, force_closed=True)
        dark.restore(cb.snapshot())
        assert dark.state is CLOSED

    async def test_other_window_shape_restores_the_state_only(self) -> None:
        """A record from a differently shaped time window restores an empty window."""
        cb = CircuitBreaker(window=TimeWindow(10), consecutive_failures=1)
        await fail(cb)
        copy = CircuitBreaker(window=TimeWindow(20), consecutive_failures=1)
        copy.restore(cb.snapshot())
        stats = copy.statistics()
        assert (stats.state, stats.calls) == (OPEN, 0)
        same = CircuitBreaker(window=TimeWindow(10), consecutive_failures=1)
        same.restore(json.loads(json.dumps(cb.snapshot())))
        assert same.statistics().failures == 1

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"kind": "other"}, "kind='circuit_breaker'"),
            ({"format": 2}, "unknown format 2"),
            ({"name": "other"}, "snapshot of breaker 'other'"),
            ({"state": "ajar"}, "unknown state 'ajar'"),
            ({"version": -1}, "'version' must be an int"),
            ({"trips": 1.5}, "'trips' must be an int"),
            ({"time_in_state": -1}, "'time_in_state' must be seconds"),
            ({"open_remaining": None}, "'open_remaining' must be seconds"),
            ({"open_duration": math.inf}, "'open_duration' must be seconds"),
            ({"window": []}, "'window' must be a dict"),
            ({"window": {"kind": "count", "codes": [9]}}, "outcome codes"),
        ],
    )
    async def test_bad_records_are_refused(
        self, change: dict[str, object], message: str
    ) -> None:
        """Malformed data raises ValueError and leaves the breaker as it was."""
        cb = consecutive(1, name="db")
        await fail(cb)
        target = consecutive(1, name="db")
        await feed(target, "s")
        with pytest.raises(ValueError, match=message):
            target.restore({**cb.snapshot(), **change})
        stats = target.statistics()
        assert (stats.state, stats.calls, stats.version) == (CLOSED, 1, 0)

    async def test_snapshot_of_a_fresh_breaker(self) -> None:
        """A breaker that never ran snapshots as closed, empty, version 0."""
        data = CircuitBreaker(window=TimeWindow(2, buckets=2)).snapshot()
        assert (data["state"], data["version"], data["time_in_state"]) == (
            "closed",
            0,
            0.0,
        )
        assert data["window"]["buckets"] == [[0, 0, 0], [0, 0, 0]]

    async def test_time_window_is_cleared_on_closing(self) -> None:
        """Closing starts a time window afresh, like a count window."""
        cb = CircuitBreaker(window=TimeWindow(60), consecutive_failures=2, open_for=1)
        await feed(cb, "sff")
        await anyio.sleep(1)
        await cb.call(ok)
        assert (cb.state, cb.statistics().calls) == (CLOSED, 0)

    async def test_not_a_dict(self) -> None:
        """A non-dict is refused."""
        with pytest.raises(ValueError, match="not a circuit breaker snapshot"):
            CircuitBreaker().restore([])  # type: ignore[arg-type]

    async def test_unnamed_breakers_accept_any_record(self) -> None:
        """Without a name on either side, no name check applies."""
        cb = consecutive(1, name="db")
        await fail(cb)
        anonymous = consecutive(1)
        anonymous.restore(cb.snapshot())
        assert anonymous.state is OPEN
