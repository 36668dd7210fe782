"""Retry on plain functions, generators, async generators and the block API."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

import brace
from brace import Backoff, Retry

NO_WAIT = Backoff.constant(0)


def flaky_sync(failures: int, exc: Exception | None = None) -> Any:
    state = {"calls": 0}

    def call(x: int = 1) -> int:
        state["calls"] += 1
        if state["calls"] <= failures:
            raise exc if exc is not None else OSError("down")
        return x * 2

    call.state = state  # type: ignore[attr-defined]
    return call


class TestSyncFunctions:
    def test_retries_a_plain_function(self) -> None:
        """A sync function is retried in place and returns its value."""
        fn = flaky_sync(2)
        assert Retry(on=OSError, backoff=NO_WAIT)(fn)(21) == 42
        assert fn.state["calls"] == 3

    def test_gives_up_with_a_note(self) -> None:
        """The sync path re-raises the last error with the same kind of note."""
        fn = flaky_sync(5)
        with pytest.raises(OSError) as info:
            Retry(on=OSError, attempts=2, backoff=NO_WAIT)(fn)()
        assert info.value.__notes__[0].startswith("brace: gave up after 2 attempts")

    def test_non_matching_error_propagates(self) -> None:
        """An error outside on= propagates after one call."""
        fn = flaky_sync(5, exc=KeyError("x"))
        with pytest.raises(KeyError):
            Retry(on=OSError)(fn)()
        assert fn.state["calls"] == 1

    def test_sleeps_with_real_time_between_attempts(self) -> None:
        """The sync path sleeps with time.sleep (1 ms here)."""
        fn = flaky_sync(1)
        assert Retry(on=OSError, backoff=Backoff.constant(0.001))(fn)() == 2

    def test_retry_on_result_sync(self) -> None:
        """Result predicates work for sync functions too."""
        values = iter([0, 0, 5])
        policy = Retry(on=OSError, backoff=NO_WAIT, retry_on_result=lambda r: r == 0)
        assert policy(lambda: next(values))() == 5

    def test_raise_for_result_sync(self) -> None:
        """RetryError for sync functions whose result stays unacceptable."""
        policy = Retry(
            on=OSError,
            attempts=2,
            backoff=NO_WAIT,
            retry_on_result=lambda r: True,
            raise_for_result=True,
        )
        with pytest.raises(brace.RetryError):
            policy(lambda: 1)()

    def test_attempt_timeout_rejected_for_sync_functions(self) -> None:
        """A sync call cannot be interrupted, so attempt_timeout is refused."""
        with pytest.raises(TypeError, match="attempt_timeout"):
            Retry(on=OSError, attempt_timeout=1)(lambda: 1)

    def test_sync_function_returning_a_coroutine_is_an_error(self) -> None:
        """A lambda returning a coroutine is caught instead of never awaited."""

        async def work() -> int:
            return 1

        with pytest.raises(TypeError, match="returned a coroutine"):
            # The lambda is the point: a sync function returning a coroutine.
            Retry(on=OSError)(lambda: work())()  # noqa: PLW0108

    def test_token_cancelled_from_another_thread_wakes_the_sleep(self) -> None:
        """cancel() from a thread ends a sync backoff sleep at once."""
        token = brace.CancelToken()
        fn = flaky_sync(10)
        policy = Retry(on=OSError, backoff=Backoff.constant(30), cancel=token)
        timer = threading.Timer(0.005, token.cancel, args=("stop",))
        timer.start()
        try:
            with pytest.raises(brace.Cancelled) as info:
                policy(fn)()
        finally:
            timer.cancel()
        assert info.value.reason == "stop"
        assert fn.state["calls"] == 1

    def test_cancelled_token_before_sync_call(self) -> None:
        """A cancelled token stops the sync call before its first attempt."""
        token = brace.CancelToken()
        token.cancel()
        fn = flaky_sync(0)
        with pytest.raises(brace.Cancelled):
            Retry(on=OSError, cancel=token)(fn)()
        assert fn.state["calls"] == 0

    def test_sync_deadline(self) -> None:
        """A sync deadline shorter than the delay gives up at once."""
        fn = flaky_sync(5)
        policy = Retry(on=OSError, deadline=0.5, backoff=Backoff.constant(10))
        with pytest.raises(OSError) as info:
            policy(fn)()
        assert "deadline" in info.value.__notes__[0]
        assert fn.state["calls"] == 1


class TestGenerators:
    def test_restarts_a_generator_that_fails_before_yielding(self) -> None:
        """A generator failing before its first item is restarted."""
        starts = []

        @Retry(on=OSError, backoff=NO_WAIT)
        def numbers(n: int) -> Iterator[int]:
            starts.append(n)
            if len(starts) < 3:
                raise OSError("not ready")
            yield from range(n)

        assert list(numbers(3)) == [0, 1, 2]
        assert starts == [3, 3, 3]

    def test_failure_after_first_item_is_not_retried(self) -> None:
        """Once an item was yielded, a failure propagates with a note."""
        starts = 0
        events: list[brace.Event] = []

        @Retry(on=OSError, backoff=NO_WAIT, listeners=[events.append])
        def items() -> Iterator[int]:
            nonlocal starts
            starts += 1
            yield 1
            yield 2
            raise OSError("midway")

        gen = items()
        assert next(gen) == 1
        assert next(gen) == 2
        with pytest.raises(OSError) as info:
            next(gen)
        assert starts == 1
        assert info.value.__notes__ == [
            (
                "brace: not retried: TestGenerators."
                "test_failure_after_first_item_is_not_retried.<locals>.items"
                " had already yielded 2 items"
            )
        ]
        assert [getattr(e, "reason", None) for e in events] == ["not_retryable"]

    def test_send_throw_close_and_return_value_are_forwarded(self) -> None:
        """The wrapper forwards send(), throw(), close() and the return value."""
        closed = []

        @Retry(on=OSError, backoff=NO_WAIT)
        def echo() -> Iterator[Any]:
            try:
                received = yield "ready"
                while True:
                    try:
                        received = yield f"got {received}"
                    except KeyError:
                        received = "thrown"
            finally:
                closed.append(True)

        gen = echo()
        assert next(gen) == "ready"
        assert gen.send("a") == "got a"
        assert gen.throw(KeyError()) == "got thrown"
        gen.close()
        assert closed == [True]

        @Retry(on=OSError)
        def returns() -> Iterator[int]:
            yield 1
            return

        assert list(returns()) == [1]

        @Retry(on=OSError)
        def empty() -> Iterator[int]:
            return
            yield  # pragma: no cover

        assert list(empty()) == []

    def test_generator_exhausts_attempts(self) -> None:
        """A generator that never starts gives up like a function."""

        @Retry(on=OSError, attempts=2, backoff=NO_WAIT)
        def never() -> Iterator[int]:
            raise OSError("x")
            yield  # pragma: no cover

        with pytest.raises(OSError) as info:
            list(never())
        assert "gave up after 2 attempts" in info.value.__notes__[0]

    def test_generator_non_matching_error(self) -> None:
        """A non-matching error before the first item propagates at once."""

        @Retry(on=OSError, backoff=NO_WAIT)
        def bad() -> Iterator[int]:
            raise KeyError("x")
            yield  # pragma: no cover

        with pytest.raises(KeyError):
            list(bad())

    def test_generator_configuration_errors(self) -> None:
        """retry_on_result and attempt_timeout make no sense on generators."""

        def gen() -> Iterator[int]:
            yield 1

        async def agen() -> AsyncIterator[int]:
            yield 1

        with pytest.raises(TypeError, match="retry_on_result"):
            Retry(on=OSError, retry_on_result=bool)(gen)
        with pytest.raises(TypeError, match="retry_on_result"):
            Retry(on=OSError, retry_on_result=bool)(agen)
        with pytest.raises(TypeError, match="attempt_timeout"):
            Retry(on=OSError, attempt_timeout=1)(gen)


@pytest.mark.anyio
class TestAsyncGenerators:
    async def test_restarts_before_first_item_and_delegates(self) -> None:
        """An async generator is restarted until it yields, then delegated to."""
        starts = 0

        @Retry(on=OSError, backoff=Backoff.constant(1))
        async def stream() -> AsyncIterator[int]:
            nonlocal starts
            starts += 1
            if starts < 3:
                raise OSError("connecting")
            for i in range(3):
                yield i

        begin = anyio.current_time()
        assert [i async for i in stream()] == [0, 1, 2]
        assert starts == 3
        assert anyio.current_time() - begin == 2

    async def test_failure_after_first_item_propagates_with_note(self) -> None:
        """No replay of items already consumed: the error propagates."""

        @Retry(on=OSError, backoff=NO_WAIT)
        async def stream() -> AsyncIterator[int]:
            yield 1
            raise OSError("midway")

        got = []
        with pytest.raises(OSError) as info:
            async for item in stream():
                got.append(item)  # noqa: PERF401 (items before the error count)
        assert got == [1]
        assert "had already yielded 1 item" in info.value.__notes__[0]

    async def test_asend_athrow_aclose_forwarded(self) -> None:
        """asend/athrow/aclose reach the wrapped async generator."""
        closed = []

        @Retry(on=OSError, backoff=NO_WAIT)
        async def echo() -> AsyncIterator[str]:
            try:
                received = yield "ready"
                while True:
                    try:
                        received = yield f"got {received}"
                    except KeyError:
                        received = "thrown"
            finally:
                closed.append(True)

        agen = echo()
        assert await agen.__anext__() == "ready"
        assert await agen.asend("a") == "got a"
        assert await agen.athrow(KeyError()) == "got thrown"
        await agen.aclose()
        assert closed == [True]

    async def test_empty_and_failing_async_generators(self) -> None:
        """Empty streams end; exhausted and non-matching ones raise."""

        @Retry(on=OSError)
        async def empty() -> AsyncIterator[int]:
            return
            yield  # pragma: no cover

        assert [i async for i in empty()] == []

        @Retry(on=OSError, attempts=2, backoff=NO_WAIT)
        async def never() -> AsyncIterator[int]:
            raise OSError
            yield  # pragma: no cover

        with pytest.raises(OSError):
            [i async for i in never()]

        @Retry(on=OSError, backoff=NO_WAIT)
        async def wrong() -> AsyncIterator[int]:
            raise KeyError
            yield  # pragma: no cover

        with pytest.raises(KeyError):
            [i async for i in wrong()]

    async def test_attempt_timeout_applies_to_the_first_item(self) -> None:
        """A stream that hangs before its first item is timed out and restarted."""
        starts = 0

        @Retry(on=OSError, attempt_timeout=1, backoff=NO_WAIT)
        async def stream() -> AsyncIterator[int]:
            nonlocal starts
            starts += 1
            if starts == 1:
                await anyio.sleep_forever()
            yield 7

        assert [i async for i in stream()] == [7]
        assert starts == 2

    async def test_token_cancels_async_generator_backoff(self) -> None:
        """A cancelled token ends an async generator's backoff sleep."""
        token = brace.CancelToken.after(0.5)

        @Retry(on=OSError, backoff=Backoff.constant(10), cancel=token)
        async def stream() -> AsyncIterator[int]:
            raise OSError
            yield  # pragma: no cover

        with pytest.raises(brace.Cancelled):
            [i async for i in stream()]


@pytest.mark.anyio
class TestBlockAPI:
    async def test_async_block_retries_until_success(self) -> None:
        """async for attempt ...: with attempt: retries the block."""
        calls = 0
        numbers = []
        begin = anyio.current_time()
        async for attempt in Retry(on=OSError, backoff=Backoff.constant(2)).attempts():
            with attempt:
                numbers.append(attempt.number)
                calls += 1
                if calls < 3:
                    raise OSError
        assert numbers == [1, 2, 3]
        assert anyio.current_time() - begin == 4

    async def test_async_block_gives_up_with_note_and_name(self) -> None:
        """The last error surfaces from the loop, named after the caller."""
        events: list[brace.Event] = []
        with pytest.raises(OSError) as info:
            async for attempt in Retry(
                on=OSError, attempts=2, backoff=NO_WAIT, listeners=[events.append]
            ).attempts():
                with attempt:
                    raise OSError("nope")
        assert "gave up after 2 attempts" in info.value.__notes__[0]
        assert events[0].name == (
            "TestBlockAPI.test_async_block_gives_up_with_note_and_name"
        )
        assert repr(attempt).startswith("<Attempt 2 of TestBlockAPI.")

    async def test_block_non_matching_error_propagates(self) -> None:
        """A non-matching error leaves the loop at once."""
        with pytest.raises(KeyError):
            async for attempt in Retry(on=OSError).attempts(name="x"):
                with attempt:
                    raise KeyError

    async def test_block_attempt_timeout(self) -> None:
        """attempt_timeout applies to each block; timed-out blocks are retried."""
        calls = 0
        async for attempt in Retry(
            on=OSError, attempt_timeout=1, backoff=NO_WAIT
        ).attempts():
            with attempt:
                calls += 1
                if calls == 1:
                    await anyio.sleep(10)
        assert calls == 2

    async def test_block_cancel_token(self) -> None:
        """A token cancelled during the block's backoff raises Cancelled."""
        token = brace.CancelToken.after(1)
        with pytest.raises(brace.Cancelled):
            async for attempt in Retry(
                on=OSError, backoff=Backoff.constant(5), cancel=token
            ).attempts():
                with attempt:
                    raise OSError

    async def test_block_budget_deposit(self) -> None:
        """A successful block reports to the budget."""

        class Budget:
            deposits: list[tuple[int, Exception | None]] = []  # noqa: RUF012

            def withdraw(self, error: Exception | None, /) -> bool:
                return True

            def deposit(self, attempts: int, last: Exception | None, /) -> None:
                self.deposits.append((attempts, last))

        budget = Budget()
        err = OSError()
        async for attempt in Retry(
            on=OSError, backoff=NO_WAIT, budget=budget
        ).attempts():
            with attempt:
                if attempt.number == 1:
                    raise err
        assert budget.deposits == [(2, err)]

    def test_sync_block(self) -> None:
        """for attempt in ...: works in sync code."""
        calls = 0
        for attempt in Retry(on=OSError, backoff=NO_WAIT).attempts():
            with attempt:
                calls += 1
                if calls < 2:
                    raise OSError
        assert calls == 2

    def test_sync_block_cancelled_and_timeouts_refused(self) -> None:
        """Sync blocks honour tokens and refuse attempt_timeout."""
        token = brace.CancelToken()
        threading.Timer(0.005, token.cancel).start()
        with pytest.raises(brace.Cancelled):
            for attempt in Retry(
                on=OSError, backoff=Backoff.constant(30), cancel=token
            ).attempts():
                with attempt:
                    raise OSError
        with pytest.raises(TypeError, match="attempt_timeout"):
            iter(Retry(on=OSError, attempt_timeout=1).attempts())
        with pytest.raises(TypeError, match="retry_on_result"):
            Retry(on=OSError, retry_on_result=bool).attempts()

    def test_block_that_never_runs_its_attempt_stops(self) -> None:
        """A loop body that skips `with attempt` counts as done."""
        seen = [attempt.number for attempt in Retry(on=OSError).attempts()]
        assert seen == [1]
