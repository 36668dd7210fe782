"""Retry on async functions, on asyncio and trio, on virtual clocks."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import brace
from brace import Backoff, Retry

pytestmark = pytest.mark.anyio

NO_WAIT = Backoff.constant(0)
ONE_SECOND = Backoff.constant(1.0)
DOUBLING = Backoff.exponential(initial=1.0, multiplier=2.0, maximum=60.0, jitter="none")


class Flaky:
    """Fails with *exc* for the first *failures* calls, then returns *value*."""

    def __init__(self, failures: int, exc: Exception | None = None, value: Any = 42):
        self.failures = failures
        self.exc = exc if exc is not None else ConnectionError("boom")
        self.value = value
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return self.value


async def test_success_first_time_makes_one_call() -> None:
    """A call that succeeds is made exactly once and returns its value."""
    flaky = Flaky(0)
    assert await Retry(on=ConnectionError)(flaky)() == 42
    assert flaky.calls == 1


async def test_retries_until_success_with_exact_delays() -> None:
    """Two failures cost exactly 1 s + 2 s of backoff on the virtual clock."""
    flaky = Flaky(2)
    start = anyio.current_time()
    assert await Retry(on=ConnectionError, backoff=DOUBLING)(flaky)() == 42
    assert anyio.current_time() - start == 3.0
    assert flaky.calls == 3


async def test_gives_up_reraising_the_last_exception_with_a_note() -> None:
    """After *attempts* failures the same exception object propagates, annotated."""
    errors = [ConnectionError(f"boom {i}") for i in range(3)]
    calls = 0

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise errors[calls - 1]

    await anyio.sleep(100)  # elapsed times must not be clock readings
    with pytest.raises(ConnectionError) as info:
        await Retry(on=ConnectionError, attempts=3, backoff=ONE_SECOND)(fails)()
    assert info.value is errors[2]
    assert info.value.__notes__ == [
        "brace: gave up after 3 attempts over 2 s of retrying"
    ]
    # The traceback still reaches the line that raised it.
    assert info.traceback[-1].name == "fails"
    # Earlier attempts' errors are not chained onto the last one.
    assert info.value.__context__ is None


async def test_note_counts_from_call_start_with_a_deadline() -> None:
    """With a deadline the clock is read at the start, so the note covers all."""

    async def slow_fail() -> None:
        await anyio.sleep(5)
        raise ConnectionError

    policy = Retry(on=ConnectionError, attempts=2, backoff=ONE_SECOND, deadline=100)
    await anyio.sleep(50)
    with pytest.raises(ConnectionError) as info:
        await policy(slow_fail)()
    assert info.value.__notes__ == ["brace: gave up after 2 attempts over 11 s"]


async def test_one_attempt_note_is_singular() -> None:
    """attempts=1 makes one call and says so in the note."""
    flaky = Flaky(5)
    with pytest.raises(ConnectionError) as info:
        await Retry(on=ConnectionError, attempts=1)(flaky)()
    assert flaky.calls == 1
    assert info.value.__notes__ == ["brace: gave up after 1 attempt"]


async def test_non_matching_exception_propagates_at_once_unannotated() -> None:
    """An exception outside on= is not retried and gets no note."""
    flaky = Flaky(5, exc=KeyError("nope"))
    with pytest.raises(KeyError) as info:
        await Retry(on=ConnectionError)(flaky)()
    assert flaky.calls == 1
    assert not hasattr(info.value, "__notes__")


async def test_on_accepts_a_tuple_and_subclasses() -> None:
    """A tuple of types matches any of them, subclasses included."""
    flaky = Flaky(2, exc=ConnectionResetError())
    policy = Retry(on=(ValueError, ConnectionError), backoff=NO_WAIT)
    assert await policy(flaky)() == 42


async def test_on_predicate_sees_the_exception() -> None:
    """A predicate decides per exception and only ever sees Exceptions."""
    seen: list[BaseException] = []

    def transient(exc: Exception) -> bool:
        seen.append(exc)
        return "retry" in str(exc)

    flaky = Flaky(1, exc=ValueError("please retry"))
    assert await Retry(on=transient, backoff=NO_WAIT)(flaky)() == 42
    assert [type(e) for e in seen] == [ValueError]

    stubborn = Flaky(1, exc=ValueError("fatal"))
    with pytest.raises(ValueError, match="fatal"):
        await Retry(on=transient, backoff=NO_WAIT)(stubborn)()
    assert stubborn.calls == 1


async def test_cancellation_is_never_retried_even_by_a_permissive_predicate() -> None:
    """Cancelling a running attempt ends the call, whatever on= says."""
    calls = 0
    seen: list[BaseException] = []

    def everything(exc: Exception) -> bool:
        seen.append(exc)
        return True

    @Retry(on=everything, attempts=5, backoff=ONE_SECOND)
    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    start = anyio.current_time()
    with anyio.move_on_after(5) as scope:
        await hangs()
    assert scope.cancelled_caught
    assert calls == 1
    assert seen == []
    assert anyio.current_time() - start == 5


async def test_cancellation_while_sleeping_between_attempts() -> None:
    """Cancelling during a backoff sleep ends the call at once, no more calls."""
    flaky = Flaky(10)
    start = anyio.current_time()
    with anyio.move_on_after(2.5) as scope:
        await Retry(on=ConnectionError, attempts=10, backoff=ONE_SECOND)(flaky)()
    assert scope.cancelled_caught
    assert flaky.calls == 3
    assert anyio.current_time() - start == 2.5


async def test_cancellation_inside_a_task_group() -> None:
    """A sibling's failure cancels a retrying task; the group sees only it."""
    flaky = Flaky(100)
    retrying = Retry(
        on=ConnectionError, attempts=None, deadline=1000, backoff=ONE_SECOND
    )

    async def boom() -> None:
        await anyio.sleep(3.5)
        raise RuntimeError("sibling failed")

    with pytest.raises(BaseExceptionGroup) as info:
        async with anyio.create_task_group() as tg:
            tg.start_soon(retrying(flaky))
            tg.start_soon(boom)
    assert info.group_contains(RuntimeError, match="sibling failed")
    assert not info.group_contains(ConnectionError)
    assert flaky.calls == 4


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
async def test_base_exceptions_pass_through_untouched(exc: BaseException) -> None:
    """KeyboardInterrupt, SystemExit and GeneratorExit are never retried."""
    calls = 0

    async def raises() -> None:
        nonlocal calls
        calls += 1
        raise exc

    with pytest.raises(type(exc)) as info:
        await Retry(on=lambda e: True, backoff=NO_WAIT)(raises)()
    assert info.value is exc
    assert calls == 1
    assert not hasattr(exc, "__notes__")


async def test_exception_group_retried_only_if_every_leaf_matches() -> None:
    """A group whose every leaf matches is retried; a mixed one is not."""
    same = Flaky(
        1, exc=ExceptionGroup("g", [OSError(), ExceptionGroup("h", [OSError()])])
    )
    mixed = Flaky(1, exc=ExceptionGroup("g", [OSError(), KeyError()]))
    on_os = Retry(on=OSError, backoff=NO_WAIT)
    assert await on_os(same)() == 42
    with pytest.raises(ExceptionGroup) as info:
        await on_os(mixed)()
    assert info.value is mixed.exc
    assert mixed.calls == 1


async def test_exception_group_with_a_predicate_checks_each_leaf() -> None:
    """A predicate is called with each leaf, never with the group."""
    seen: list[type[BaseException]] = []

    def record(exc: Exception) -> bool:
        seen.append(type(exc))
        return isinstance(exc, OSError)

    flaky = Flaky(1, exc=ExceptionGroup("g", [OSError(), TimeoutError()]))
    assert await Retry(on=record, backoff=NO_WAIT)(flaky)() == 42
    assert seen == [OSError, TimeoutError]


async def test_exhausted_exception_group_is_not_unwrapped() -> None:
    """Giving up on a group re-raises the group itself, annotated."""
    flaky = Flaky(5, exc=ExceptionGroup("g", [OSError()]))
    with pytest.raises(ExceptionGroup) as info:
        await Retry(on=OSError, attempts=2, backoff=NO_WAIT)(flaky)()
    assert info.value is flaky.exc
    assert "gave up after 2 attempts" in info.value.__notes__[0]


async def test_concurrent_callers_have_independent_state() -> None:
    """100 tasks through one decorated function: own attempts, own delays."""
    policy = Retry(on=ConnectionError, attempts=4, backoff=DOUBLING)
    counts: dict[int, int] = {}
    finished: dict[int, float] = {}

    @policy
    async def work(i: int) -> int:
        counts[i] = counts.get(i, 0) + 1
        if counts[i] <= i % 4:
            raise ConnectionError(i)
        return i

    start = anyio.current_time()

    async def run(i: int) -> None:
        if i % 4 == 3:
            # Three failures, then success on the fourth and last attempt.
            assert await work(i) == i
        else:
            assert await work(i) == i
        finished[i] = anyio.current_time() - start

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(run, i)
    for i in range(100):
        failures = i % 4
        assert counts[i] == failures + 1
        # 1 + 2 + 4 seconds for three failures: each task its own sequence.
        assert finished[i] == sum(2.0**k for k in range(failures))


async def test_jittered_delays_are_independent_per_call() -> None:
    """Two calls with the same seeded policy draw their own delay sequences."""
    scheduled: list[tuple[str, float]] = []
    policy = Retry(
        on=ConnectionError,
        attempts=3,
        backoff=Backoff.exponential(initial=1, maximum=10),
        listeners=[lambda e: scheduled.append((e.name, e.delay))],  # type: ignore[attr-defined]
    )
    first, second = Flaky(2), Flaky(2)

    async with anyio.create_task_group() as tg:
        tg.start_soon(policy.call, first)
        tg.start_soon(policy.call, second)
    assert first.calls == second.calls == 3
    assert len(scheduled) == 4
    for _, delay in scheduled:
        assert 0 <= delay <= 10


async def test_deadline_never_sleeps_past_it_and_gives_up_at_once() -> None:
    """With 1, 2, 4 s delays and a 5 s deadline, it gives up after 2 retries at t=3."""
    flaky = Flaky(100)
    start = anyio.current_time()
    policy = Retry(on=ConnectionError, attempts=None, deadline=5, backoff=DOUBLING)
    with pytest.raises(ConnectionError) as info:
        await policy(flaky)()
    # Attempts at t=0, 1, 3; the next delay (4 s) would end at t=7 > 5.
    assert flaky.calls == 3
    assert anyio.current_time() - start == 3.0
    assert info.value.__notes__ == [
        "brace: gave up after 3 attempts over 3 s (deadline of 5 s)"
    ]


async def test_deadline_overshoot_is_bounded_by_one_attempt() -> None:
    """A running attempt is not interrupted by the deadline; no new one starts."""
    calls = 0

    async def slow_fail() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep(4)
        raise ConnectionError

    start = anyio.current_time()
    with pytest.raises(ConnectionError):
        await Retry(on=ConnectionError, attempts=None, deadline=5, backoff=NO_WAIT)(
            slow_fail
        )()
    # Attempts start at t=0 and t=4 (< 5); the one at t=8 would be too late.
    assert calls == 2
    assert anyio.current_time() - start == 8


async def test_attempt_timeout_interrupts_and_retries() -> None:
    """A hanging attempt is cut at attempt_timeout and retried."""
    calls = 0

    async def hangs_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await anyio.sleep(100)
        return "done"

    policy = Retry(on=ConnectionError, attempt_timeout=2, backoff=ONE_SECOND)
    start = anyio.current_time()
    assert await policy(hangs_once)() == "done"
    assert calls == 2
    assert anyio.current_time() - start == 3


async def test_attempt_timeout_exhausted_raises_brace_timeout() -> None:
    """When every attempt times out, brace.TimeoutError propagates, annotated."""

    async def hangs() -> None:
        await anyio.sleep_forever()

    policy = Retry(on=ConnectionError, attempts=2, attempt_timeout=1.5, backoff=NO_WAIT)
    with pytest.raises(brace.TimeoutError) as info:
        await policy(hangs)()
    assert info.value.timeout == 1.5
    assert "gave up after 2 attempts" in info.value.__notes__[0]


async def test_attempt_timeout_is_clipped_to_the_deadline() -> None:
    """The last attempt's timeout never extends past the deadline."""
    starts: list[float] = []

    async def hangs() -> None:
        starts.append(anyio.current_time())
        await anyio.sleep_forever()

    policy = Retry(
        on=ConnectionError,
        attempts=None,
        deadline=5,
        attempt_timeout=2,
        backoff=NO_WAIT,
    )
    t0 = anyio.current_time()
    with pytest.raises(brace.TimeoutError) as info:
        await policy(hangs)()
    assert [s - t0 for s in starts] == [0, 2, 4]
    assert info.value.timeout == 1
    assert anyio.current_time() - t0 == 5


async def test_outer_cancellation_during_attempt_timeout_passes_through() -> None:
    """Cancellation from outside is not mistaken for the attempt timeout."""
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    policy = Retry(on=ConnectionError, attempt_timeout=10, backoff=NO_WAIT)
    with anyio.move_on_after(3) as scope:
        await policy(hangs)()
    assert scope.cancelled_caught
    assert calls == 1


async def test_retry_on_result_returns_the_last_result_when_exhausted() -> None:
    """An unacceptable result is retried, and the last one is returned."""
    results = iter([None, None, None])

    async def poll() -> object:
        return next(results)

    policy = Retry(on=OSError, attempts=3, retry_on_result=lambda r: r is None)
    assert await policy(poll)() is None


async def test_retry_on_result_until_acceptable() -> None:
    """Polling until the result is acceptable."""
    values = iter(["pending", "pending", "ready"])

    async def poll() -> str:
        return next(values)

    policy = Retry(
        on=OSError,
        attempts=5,
        backoff=ONE_SECOND,
        retry_on_result=lambda r: r != "ready",
    )
    start = anyio.current_time()
    assert await policy(poll)() == "ready"
    assert anyio.current_time() - start == 2


async def test_raise_for_result_raises_retry_error() -> None:
    """raise_for_result=True raises brace.RetryError carrying the last result."""

    async def poll() -> str:
        return "pending"

    policy = Retry(
        on=OSError,
        attempts=2,
        backoff=NO_WAIT,
        retry_on_result=lambda r: r == "pending",
        raise_for_result=True,
    )
    with pytest.raises(brace.RetryError) as info:
        await policy(poll)()
    assert info.value.attempts == 2
    assert info.value.last_result == "pending"
    assert info.value.code is brace.ErrorCode.RETRY_ERROR


async def test_mixed_errors_and_results() -> None:
    """An error then an unacceptable result then success: three attempts."""
    outcomes: list[Any] = [ConnectionError(), "bad", "good"]

    async def step() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return str(item)

    policy = Retry(
        on=ConnectionError, backoff=NO_WAIT, retry_on_result=lambda r: r == "bad"
    )
    assert await policy(step)() == "good"


class HTTPError(Exception):
    def __init__(self, retry_after: str | None) -> None:
        super().__init__("503")
        self.retry_after = retry_after


async def test_retry_after_hint_replaces_the_backoff_delay() -> None:
    """A server hint of 7 s is waited (jittered upward by at most 10 %)."""
    flaky = Flaky(1, exc=HTTPError("7"))
    policy = Retry(
        on=HTTPError,
        backoff=ONE_SECOND,
        retry_after=lambda exc: brace.parse_retry_after(exc.retry_after),
        rng=random.Random(1),
    )
    start = anyio.current_time()
    assert await policy(flaky)() == 42
    assert 7 <= anyio.current_time() - start <= 7.7


async def test_retry_after_hint_is_capped() -> None:
    """A hint above max_server_delay is cut down to it (then jittered up)."""
    flaky = Flaky(1, exc=HTTPError("3600"))
    policy = Retry(
        on=HTTPError,
        retry_after=lambda exc: brace.parse_retry_after(exc.retry_after),
        max_server_delay=10,
    )
    start = anyio.current_time()
    await policy(flaky)()
    assert 10 <= anyio.current_time() - start <= 11


async def test_retry_after_hint_beyond_deadline_gives_up_now() -> None:
    """A hint that would end past the deadline makes the call give up at once."""
    flaky = Flaky(1, exc=HTTPError("30"))
    policy = Retry(
        on=HTTPError,
        deadline=10,
        retry_after=lambda exc: brace.parse_retry_after(exc.retry_after),
    )
    start = anyio.current_time()
    with pytest.raises(HTTPError):
        await policy(flaky)()
    assert anyio.current_time() - start == 0
    assert flaky.calls == 1


async def test_retry_after_in_the_past_retries_now_and_none_falls_back() -> None:
    """A negative/zero hint retries at once; None uses the backoff delay."""
    hints: list[float | None] = [-5.0, None]
    flaky = Flaky(2, exc=HTTPError(None))
    policy = Retry(on=HTTPError, backoff=ONE_SECOND, retry_after=lambda _: hints.pop(0))
    start = anyio.current_time()
    assert await policy(flaky)() == 42
    assert anyio.current_time() - start == 1


class CountingBudget:
    """A budget that allows *allowed* retries and records what it was told."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.withdrawals: list[Exception | None] = []
        self.deposits: list[tuple[int, Exception | None]] = []

    def withdraw(self, error: Exception | None, /) -> bool:
        self.withdrawals.append(error)
        return len(self.withdrawals) <= self.allowed

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        self.deposits.append((attempts, last_error))


async def test_budget_is_consulted_and_refusal_gives_up() -> None:
    """A refused withdrawal gives up at once with a note saying why."""
    budget = CountingBudget(allowed=1)
    assert isinstance(budget, brace.SupportsRetryBudget)
    flaky = Flaky(5)
    with pytest.raises(ConnectionError) as info:
        await Retry(on=ConnectionError, attempts=5, backoff=NO_WAIT, budget=budget)(
            flaky
        )()
    assert flaky.calls == 2
    assert "retry budget exhausted" in info.value.__notes__[0]


async def test_budget_deposits_on_success() -> None:
    """Successes are reported with their attempt count and last retried error."""
    budget = CountingBudget(allowed=10)
    policy = Retry(on=ConnectionError, backoff=NO_WAIT, budget=budget)
    flaky = Flaky(1)
    await policy(Flaky(0))()
    await policy(flaky)()
    assert budget.deposits == [(1, None), (2, flaky.exc)]


async def test_cancel_token_stops_a_sleeping_retry_promptly() -> None:
    """Cancelling the token during a 100 s backoff raises brace.Cancelled at once."""
    token = brace.CancelToken()
    flaky = Flaky(10)
    policy = Retry(on=ConnectionError, backoff=Backoff.constant(100), cancel=token)
    result: list[BaseException] = []

    async def run() -> None:
        try:
            await policy(flaky)()
        except brace.Cancelled as exc:
            result.append(exc)

    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.sleep(3)
        token.cancel("shutdown")
    assert anyio.current_time() - start == 3
    assert flaky.calls == 1
    (exc,) = result
    assert isinstance(exc, brace.Cancelled)
    assert exc.reason == "shutdown"
    assert isinstance(exc.__cause__, ConnectionError)


async def test_cancelled_token_prevents_the_first_attempt() -> None:
    """A token cancelled before the call means no attempt starts at all."""
    token = brace.CancelToken()
    token.cancel("stop")
    flaky = Flaky(0)
    with pytest.raises(brace.Cancelled):
        await Retry(on=ConnectionError, cancel=token)(flaky)()
    assert flaky.calls == 0


async def test_token_cancelled_during_attempt_prevents_the_next_one() -> None:
    """The running attempt finishes; the retry after it does not start."""
    token = brace.CancelToken()

    async def fail_and_cancel() -> None:
        token.cancel("enough")
        raise ConnectionError

    with pytest.raises(brace.Cancelled) as info:
        await Retry(on=ConnectionError, cancel=token, backoff=NO_WAIT)(
            fail_and_cancel
        )()
    assert info.value.reason == "enough"


async def test_unbounded_attempts_with_a_token() -> None:
    """attempts=None with cancel= retries until the token is cancelled."""
    # 9.5, not 10: at a tie the order of two timers is backend-specific.
    token = brace.CancelToken.after(9.5)
    flaky = Flaky(1000)
    with pytest.raises(brace.Cancelled):
        await Retry(
            on=ConnectionError, attempts=None, cancel=token, backoff=ONE_SECOND
        )(flaky)()
    assert flaky.calls == 10


async def test_call_method() -> None:
    """.call(fn, *args, **kwargs) retries like the decorator."""
    seen: list[tuple[Any, ...]] = []

    async def add(a: int, b: int = 0) -> int:
        seen.append((a, b))
        if len(seen) < 2:
            raise ConnectionError
        return a + b

    assert await Retry(on=ConnectionError, backoff=NO_WAIT).call(add, 1, b=2) == 3
    assert seen == [(1, 2), (1, 2)]


async def test_events_carry_the_qualified_name_and_details() -> None:
    """RetryScheduled and RetryGaveUp name the function and the attempt."""
    events: list[brace.Event] = []

    class Service:
        @Retry(
            on=ConnectionError,
            attempts=3,
            backoff=ONE_SECOND,
            listeners=[events.append],
        )
        async def fetch(self) -> None:
            raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await Service().fetch()
    scheduled = [e for e in events if isinstance(e, brace.RetryScheduled)]
    gave_up = [e for e in events if isinstance(e, brace.RetryGaveUp)]
    assert [(e.name, e.attempt, e.delay, e.exception_type) for e in scheduled] == [
        (
            "test_events_carry_the_qualified_name_and_details.<locals>.Service.fetch",
            1,
            1.0,
            "ConnectionError",
        ),
        (
            "test_events_carry_the_qualified_name_and_details.<locals>.Service.fetch",
            2,
            1.0,
            "ConnectionError",
        ),
    ]
    (last,) = gave_up
    assert (last.attempts, last.reason, last.elapsed, last.exception_type) == (
        3,
        "attempts",
        2.0,
        "ConnectionError",
    )


async def test_global_subscription_sees_retry_events() -> None:
    """brace.subscribe receives events from every policy, filtered by kind."""
    got: list[brace.RetryScheduled] = []
    with brace.subscribe(got.append, brace.RetryScheduled):
        await Retry(on=ConnectionError, backoff=NO_WAIT, name="job")(Flaky(1))()
    await Retry(on=ConnectionError, backoff=NO_WAIT)(Flaky(1))()
    assert [(e.name, e.attempt) for e in got] == [("job", 1)]


async def test_listener_errors_never_change_the_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged; the call still succeeds."""

    def broken(event: brace.Event) -> None:
        raise RuntimeError("listener bug")

    policy = Retry(on=ConnectionError, backoff=NO_WAIT, listeners=[broken])
    assert await policy(Flaky(1))() == 42
    assert "listener bug" in caplog.text


async def test_methods_static_and_class_methods() -> None:
    """Retry works on methods and on static/class methods in either order."""
    log: list[str] = []
    flaky = Flaky(1)

    class Thing:
        @Retry(on=ConnectionError, backoff=NO_WAIT)
        async def method(self, x: int) -> int:
            log.append("method")
            return x + await flaky()

        @Retry(on=ConnectionError, backoff=NO_WAIT)
        @staticmethod
        async def static(x: int) -> int:
            log.append("static")
            return x

        @staticmethod
        @Retry(on=ConnectionError, backoff=NO_WAIT)
        async def static2(x: int) -> int:
            return x

        @Retry(on=ConnectionError, backoff=NO_WAIT)
        @classmethod
        async def klass(cls, x: int) -> str:
            return f"{cls.__name__}{x}"

    assert await Thing().method(1) == 43
    assert await Thing.static(2) == 2
    assert await Thing().static2(3) == 3
    assert await Thing.klass(4) == "Thing4"
    assert log == ["method", "method", "static"]


async def test_decorator_keeps_metadata() -> None:
    """functools.wraps: name, doc and __wrapped__ are kept."""

    @Retry(on=ConnectionError)
    async def documented(x: int) -> int:
        """Doc."""
        return x

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doc."
    assert documented.__wrapped__ is not None  # type: ignore[attr-defined]


async def test_instant_mode_zeroes_delays_and_caps_attempts() -> None:
    """brace.testing.instant() makes production policies instant in tests."""
    flaky = Flaky(10)
    policy = Retry(on=ConnectionError, attempts=5, backoff=Backoff.constant(100))
    start = anyio.current_time()
    with brace.testing.instant(attempts=2), pytest.raises(ConnectionError):
        await policy(flaky)()
    assert flaky.calls == 2
    assert anyio.current_time() - start == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"on": KeyboardInterrupt}, TypeError),
        ({"on": (ValueError, BaseException)}, TypeError),
        ({"on": ()}, ValueError),
        ({"on": "ValueError"}, TypeError),
        ({"on": ValueError, "attempts": 0}, ValueError),
        ({"on": ValueError, "attempts": True}, ValueError),
        ({"on": ValueError, "attempts": 2.5}, ValueError),
        ({"on": ValueError, "attempts": None}, ValueError),
        ({"on": ValueError, "deadline": 0}, ValueError),
        ({"on": ValueError, "deadline": -1}, ValueError),
        ({"on": ValueError, "attempt_timeout": float("nan")}, ValueError),
        ({"on": ValueError, "max_server_delay": -1}, ValueError),
        ({"on": ValueError, "backoff": 1.0}, TypeError),
        ({"on": ValueError, "retry_on_result": "yes"}, TypeError),
        ({"on": ValueError, "retry_after": 5}, TypeError),
    ],
)
async def test_bad_configuration_fails_at_construction(
    kwargs: dict[str, Any], error: type[Exception]
) -> None:
    """Bad input gets a clear error when the policy is built, not when used."""
    with pytest.raises(error):
        Retry(**kwargs)


async def test_configuration_is_immutable_and_comparable() -> None:
    """Policies are frozen value objects; timedelta durations are accepted."""
    import datetime as dt

    policy = Retry(on=ValueError, deadline=dt.timedelta(seconds=2), attempts=4)
    assert policy.deadline == 2.0
    assert policy.max_attempts == 4
    with pytest.raises(AttributeError):
        policy.deadline = 3  # type: ignore[misc]
    assert policy == Retry(on=ValueError, deadline=2.0, attempts=4)


async def test_decorating_a_non_callable_fails() -> None:
    """Decorating something that is not a function is a TypeError."""
    bad: Callable[..., Any] = 42  # type: ignore[assignment]
    with pytest.raises(TypeError):
        Retry(on=ValueError)(bad)


async def test_result_only_policy_with_empty_on() -> None:
    """on=() retries no exception but still retries results."""
    values = iter([0, 1])

    async def poll() -> int:
        return next(values)

    policy = Retry(on=(), backoff=NO_WAIT, retry_on_result=lambda r: r == 0)
    assert await policy(poll)() == 1
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        await policy(flaky)()
    assert flaky.calls == 1


async def test_attempt_timeout_emits_timeout_fired() -> None:
    """An attempt cut by attempt_timeout emits TimeoutFired for the function."""
    events: list[brace.Event] = []

    async def hangs() -> None:
        await anyio.sleep_forever()

    policy = Retry(
        on=OSError,
        attempts=2,
        attempt_timeout=1,
        backoff=NO_WAIT,
        listeners=[events.append],
    )
    with pytest.raises(brace.TimeoutError):
        await policy(hangs)()
    assert [type(e).__name__ for e in events] == [
        "TimeoutFired",
        "RetryScheduled",
        "TimeoutFired",
        "RetryGaveUp",
    ]


async def test_unbounded_zero_delay_retries_yield_to_the_loop() -> None:
    """attempts=None with zero delays still lets other tasks run."""
    other_ran: list[int] = []
    calls = 0

    async def fails_without_awaiting() -> int:
        nonlocal calls
        calls += 1
        if calls < 5:
            # Either task may start first; by the second attempt the retry
            # must have yielded at least once.
            assert calls == 1 or other_ran, "the retry loop starved the other task"
            raise OSError
        return calls

    async def other() -> None:
        other_ran.append(1)

    policy = Retry(on=OSError, attempts=None, deadline=10, backoff=NO_WAIT)
    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        tg.start_soon(policy.call, fails_without_awaiting)
    assert calls == 5


async def test_tiny_elapsed_times_are_readable_in_the_note() -> None:
    """Sub-millisecond durations print as 0, never in scientific notation."""
    flaky = Flaky(5)
    policy = Retry(on=ConnectionError, deadline=0.1, retry_after=lambda e: 30)
    with pytest.raises(ConnectionError) as info:
        await policy(flaky)()
    assert info.value.__notes__ == [
        "brace: gave up after 1 attempt over 0 s (deadline of 0.1 s)"
    ]


async def test_predicate_runs_once_per_exception_on_the_zero_delay_path() -> None:
    """A predicate that rejects an exception is called once, not twice."""
    seen: list[BaseException] = []

    def record(exc: Exception) -> bool:
        seen.append(exc)
        return False

    flaky = Flaky(1, exc=ValueError("no"))
    with pytest.raises(ValueError, match="no"):
        await Retry(on=record, backoff=NO_WAIT)(flaky)()
    assert seen == [flaky.exc]
