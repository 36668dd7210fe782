"""Tests for brace.Fallback: what it handles, what it never handles, factories."""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
from typing import Any

import anyio
import pytest

import brace
from brace import _events
from brace._events import FallbackUsed
from brace._fallback import Fallback

pytestmark = pytest.mark.anyio


class Boom(Exception):
    """A non-transient failure."""


def raising(exc: BaseException) -> Any:
    """An async function that raises *exc* after a checkpoint."""

    async def fail(*args: object, **kwargs: object) -> Any:
        await anyio.sleep(0)
        raise exc

    return fail


async def answer(x: int = 42) -> int:
    await anyio.sleep(0)
    return x


# -- construction --------------------------------------------------------------


class TestConstruction:
    """Exactly one of value/factory; everything else is checked at once."""

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({}, "exactly one of value= .* or factory="),
            ({"value": 1, "factory": str}, "not both"),
            ({"value": None, "factory": str}, "not both"),
            ({"factory": 3}, "factory must be callable"),
            ({"value": 1, "on_result": "bad"}, "on_result must be callable"),
            ({"value": 1, "name": 7}, "name must be a str"),
            ({"value": 1, "on": "ValueError"}, "on= takes"),
            ({"value": 1, "on": (ValueError, KeyboardInterrupt)}, "never retried"),
            ({"value": 1, "listeners": [1]}, "listeners"),
        ],
    )
    def test_rejects_bad_options(self, options: dict[str, Any], match: str) -> None:
        """Wrong combinations and types raise TypeError with a helpful message."""
        with pytest.raises(TypeError, match=match):
            Fallback(**options)

    def test_value_none_is_a_value(self) -> None:
        """value=None is a legitimate fallback, not 'no value'."""
        policy = Fallback(value=None)
        assert policy.factory is None
        assert policy.describe() == (
            "fallback",
            {
                "value": None,
                "on": "is_transient",
                "on_result": None,
                "name": None,
                "listeners": (),
            },
        )

    def test_is_frozen(self) -> None:
        """The policy is immutable, so it is safe to share."""
        policy = Fallback(value=1)
        with pytest.raises(AttributeError):
            policy.name = "x"  # type: ignore[misc]

    def test_repr(self) -> None:
        """The repr shows the fallback, on, on_result and name."""

        def is_empty(result: object) -> bool:
            return not result

        assert repr(Fallback(value=[1])) == "Fallback(value=[1], on=is_transient)"
        assert repr(
            Fallback(
                factory=str,
                on=(KeyError, Boom),
                on_result=is_empty,
                name="n",
            )
        ) == (
            "Fallback(factory=str, on=('KeyError', 'Boom'), "
            "on_result=TestConstruction.test_repr.<locals>.is_empty, name='n')"
        )

    def test_describe(self) -> None:
        """describe() gives the kind and the options, callables by name."""

        def cached(exc: Exception | None) -> str:
            return "cached"

        kind, options = Fallback(
            factory=cached,
            on=ConnectionError,
            on_result=callable,
            name="quotes",
            listeners=[print],
        ).describe()
        assert kind == "fallback"
        assert options == {
            "factory": "TestConstruction.test_describe.<locals>.cached",
            "on": "ConnectionError",
            "on_result": "callable",
            "name": "quotes",
            "listeners": ("print",),
        }
        assert Fallback(value={"a": 1}).describe()[1]["value"] == "{'a': 1}"
        assert Fallback(value=[]).describe()[1]["value"] == "[]"
        assert Fallback(value=b"x").describe()[1]["value"] == b"x"
        first = Fallback(value=0).describe()[1]
        first["value"] = 99
        assert Fallback(value=0).describe()[1]["value"] == 0

    def test_equality(self) -> None:
        """Two policies with the same options are equal."""
        assert Fallback(value=1, on=KeyError) == Fallback(value=1, on=KeyError)
        assert Fallback(value=1) != Fallback(value=2)


# -- the decorator -------------------------------------------------------------


class TestDecorator:
    """The decorator keeps the function's identity and rejects sync functions."""

    def test_keeps_signature(self) -> None:
        """Name, docstring, __wrapped__ and signature are kept."""

        async def fetch(url: str, *, retries: int = 3) -> bytes:
            """Fetch it."""
            return b""

        for policy in (Fallback(value=b""), Fallback(value=b"", on_result=bool)):
            wrapped = policy(fetch)
            assert wrapped.__name__ == "fetch"
            assert wrapped.__doc__ == "Fetch it."
            assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
            assert inspect.signature(wrapped) == inspect.signature(fetch)
            assert inspect.iscoroutinefunction(wrapped)

    def test_rejects_sync_functions_and_generators(self) -> None:
        """Synchronous functions and async generators raise TypeError at once."""

        def sync() -> int:
            return 1

        async def agen() -> Any:
            yield 1

        with pytest.raises(TypeError, match="async functions"):
            Fallback(value=0)(sync)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="async functions"):
            Fallback(value=0)(agen)

    async def test_decorates_partials_and_async_callables(self) -> None:
        """Partials of async functions and objects with async __call__ work."""

        class Client:
            async def __call__(self, fail: bool) -> str:
                await anyio.sleep(0)
                if fail:
                    raise ConnectionError
                return "live"

        guarded = Fallback(value="cached")(Client())
        assert await guarded(False) == "live"
        assert await guarded(True) == "cached"
        partial = Fallback(value=0)(functools.partial(answer, 7))
        assert await partial() == 7


# -- what is handled -----------------------------------------------------------


async def test_success_passes_through_with_arguments() -> None:
    """A call that succeeds returns its own value; arguments are passed on."""

    @Fallback(value=-1)
    async def add(a: int, *, b: int) -> int:
        await anyio.sleep(1)
        return a + b

    start = anyio.current_time()
    assert await add(1, b=2) == 3
    assert anyio.current_time() - start == 1


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(),
        TimeoutError(),
        brace.TimeoutError(timeout=1),
        brace.LimiterFull("db"),
        brace.CircuitOpen("payments", retry_after=1.0),
        OSError(errno.ECONNREFUSED, "refused"),
        ExceptionGroup("all transient", [ConnectionError(), TimeoutError()]),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_default_handles_rejections_and_transient_errors(
    error: Exception,
) -> None:
    """By default RejectedError and is_transient() errors fall back."""
    assert await Fallback(value="fallback")(raising(error))() == "fallback"


@pytest.mark.parametrize(
    "error",
    [
        Boom(),
        ValueError(),
        KeyError("k"),
        OSError(errno.ENOENT, "missing"),
        brace.RetryError(attempts=2, last_result=None, name="x"),
        ExceptionGroup("mixed", [ConnectionError(), Boom()]),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_default_lets_bugs_through(error: Exception) -> None:
    """Errors that are not transient propagate unchanged."""
    with pytest.raises(type(error)) as info:
        await Fallback(value="fallback")(raising(error))()
    assert info.value is error
    assert not getattr(info.value, "__notes__", None)


async def test_on_types_tuple_and_predicate() -> None:
    """on= takes a type, a tuple, or a predicate that sees the exception."""
    assert await Fallback(value=1, on=Boom)(raising(Boom()))() == 1
    assert await Fallback(value=2, on=(KeyError, Boom))(raising(KeyError()))() == 2
    seen: list[Exception] = []

    def only_404(exc: Exception) -> bool:
        seen.append(exc)
        return str(exc) == "404"

    policy = Fallback(value=3, on=only_404)
    assert await policy(raising(Boom("404")))() == 3
    with pytest.raises(Boom):
        await policy(raising(Boom("500")))()
    assert [str(e) for e in seen] == ["404", "500"]
    with pytest.raises(ConnectionError):
        await Fallback(value=4, on=Boom)(raising(ConnectionError()))()


async def test_groups_fall_back_only_when_every_leaf_matches() -> None:
    """An exception group is handled only if all its leaves are handled."""
    policy = Fallback(value="f", on=Boom)
    nested = ExceptionGroup("outer", [Boom(), ExceptionGroup("inner", [Boom()])])
    assert await policy(raising(nested))() == "f"
    with pytest.raises(ExceptionGroup):
        await policy(raising(ExceptionGroup("mixed", [Boom(), KeyError()])))()


async def test_token_cancellation_is_never_handled() -> None:
    """brace.Cancelled passes through even when on= would match it."""
    policy = Fallback(value="f", on=Exception)
    with pytest.raises(brace.Cancelled):
        await policy(raising(brace.Cancelled("stop")))()
    group = ExceptionGroup("g", [Boom(), brace.Cancelled("stop")])
    with pytest.raises(ExceptionGroup) as info:
        await policy(raising(group))()
    assert info.value is group
    assert await policy(raising(Boom()))() == "f"


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
async def test_base_exceptions_pass_through(error: BaseException) -> None:
    """KeyboardInterrupt, SystemExit and other BaseExceptions are never handled."""
    policy = Fallback(value="f", on=lambda exc: True)
    with pytest.raises(type(error)):
        await policy(raising(error))()


# -- value and factories -------------------------------------------------------


async def test_value_is_returned_as_is() -> None:
    """The same value object comes back, None included."""
    marker = object()
    assert await Fallback(value=marker)(raising(TimeoutError()))() is marker
    assert await Fallback(value=None)(raising(TimeoutError()))() is None


async def test_sync_factory_gets_the_exception() -> None:
    """A sync factory is called with the handled exception."""
    error = ConnectionResetError("reset")
    got: list[Exception] = []

    def factory(exc: Exception) -> str:
        got.append(exc)
        return f"default after {type(exc).__name__}"

    result = await Fallback(factory=factory)(raising(error))()
    assert result == "default after ConnectionResetError"
    assert got == [error]


async def test_async_factory_is_awaited() -> None:
    """An async factory is awaited; its time counts in the call."""

    async def from_cache(exc: Exception) -> str:
        await anyio.sleep(2)
        return "cached"

    start = anyio.current_time()
    assert await Fallback(factory=from_cache)(raising(TimeoutError()))() == "cached"
    assert anyio.current_time() - start == 2


async def test_factory_returning_an_awaitable_is_awaited() -> None:
    """A lambda that returns a coroutine counts as an async factory."""

    async def load(key: str) -> str:
        await anyio.sleep(0)
        return key

    policy = Fallback(factory=lambda exc: load("from lambda"))
    assert await policy(raising(TimeoutError()))() == "from lambda"


async def test_factory_error_propagates_with_the_original_as_context() -> None:
    """A failing factory's exception propagates; the handled one is its context."""
    original = ConnectionError("down")

    def factory(exc: Exception) -> str:
        raise KeyError("no cache")

    async def async_factory(exc: Exception) -> str:
        await anyio.sleep(0)
        raise KeyError("no cache")

    for fn in (factory, async_factory):
        with pytest.raises(KeyError) as info:
            await Fallback(factory=fn)(raising(original))()
        assert info.value.__context__ is original

    def reraise(exc: Exception) -> str:
        raise exc

    with pytest.raises(ConnectionError) as info2:
        await Fallback(factory=reraise)(raising(original))()
    assert info2.value is original


# -- on_result -----------------------------------------------------------------


async def test_on_result_replaces_a_rejected_result() -> None:
    """on_result=True falls back; the factory then gets None."""
    got: list[object] = []

    def factory(exc: Exception | None) -> int:
        got.append(exc)
        return 0

    @Fallback(factory=factory, on_result=lambda r: r < 0)
    async def balance(x: int) -> int:
        await anyio.sleep(0)
        return x

    assert await balance(5) == 5
    assert await balance(-5) == 0
    assert got == [None]
    assert await Fallback(value=9, on_result=lambda r: r is None).call(answer, 3) == 3


async def test_on_result_keeps_handling_exceptions() -> None:
    """With on_result, handled exceptions still fall back; others propagate."""
    policy = Fallback(value="f", on_result=lambda r: r == "bad")
    assert await policy(raising(TimeoutError()))() == "f"
    with pytest.raises(Boom):
        await policy(raising(Boom()))()


async def test_on_result_predicate_error_propagates() -> None:
    """A predicate that raises is a bug: its error propagates."""

    def broken(result: object) -> bool:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await Fallback(value=0, on_result=broken)(answer)()


# -- call() --------------------------------------------------------------------


async def test_call_falls_back_and_passes_arguments() -> None:
    """call() runs one call under the policy, with its arguments."""
    policy = Fallback(value=-1, on=Boom)
    assert await policy.call(answer, 5) == 5
    assert await policy.call(answer, x=6) == 6
    assert await policy.call(raising(Boom())) == -1
    assert await policy.call(lambda: answer(8)) == 8
    with pytest.raises(KeyError):
        await policy.call(raising(KeyError()))


async def test_call_rejects_sync_functions_unhandled() -> None:
    """A sync function's value raises TypeError, which on=Exception still lets by."""
    runs: list[int] = []

    def sync() -> int:
        runs.append(1)
        return 1

    with pytest.raises(TypeError, match="needs an async function"):
        await Fallback(value=0, on=Exception).call(sync)  # type: ignore[arg-type]
    assert runs == [1]


async def test_call_awaits_awaitables_that_are_not_coroutines() -> None:
    """call() accepts any awaitable, such as an object with __await__."""

    class Ready:
        def __init__(self, value: int) -> None:
            self.value = value

        def __await__(self) -> Any:
            yield from ()
            return self.value

    assert await Fallback(value=0).call(lambda: Ready(5)) == 5


async def test_call_handles_a_function_that_raises_before_awaiting() -> None:
    """A callable that raises instead of returning an awaitable is handled too."""

    def refuses() -> Any:
        raise ConnectionRefusedError

    assert await Fallback(value="f").call(refuses) == "f"


# -- events --------------------------------------------------------------------


async def test_fallback_used_event_to_listeners() -> None:
    """FallbackUsed names the function and carries the handled error."""
    seen: list[_events.Event] = []
    error = TimeoutError("slow")

    async def quote() -> str:
        raise error

    assert await Fallback(value="q", listeners=[seen.append])(quote)() == "q"
    (event,) = seen
    assert event == FallbackUsed(name=quote.__qualname__, error=error)
    assert isinstance(event, FallbackUsed)
    assert event.exception_type == "TimeoutError"


async def test_fallback_used_event_for_a_result_and_a_name() -> None:
    """A rejected result is in the event; name= overrides the function's name."""
    seen: list[FallbackUsed] = []
    policy = Fallback(value=0, on_result=lambda r: r > 40, name="quotes")
    with brace.subscribe(seen.append, FallbackUsed):
        assert await policy(answer)() == 0
        assert await policy.call(answer, 41) == 0
    assert [(e.name, e.error, e.result, e.exception_type) for e in seen] == [
        ("quotes", None, 42, None),
        ("quotes", None, 41, None),
    ]


async def test_event_comes_before_a_failing_factory() -> None:
    """The event is emitted even when the factory then fails."""
    seen: list[_events.Event] = []

    def factory(exc: Exception) -> int:
        raise KeyError

    with pytest.raises(KeyError):
        await Fallback(factory=factory, listeners=[seen.append]).call(
            raising(TimeoutError())
        )
    assert len(seen) == 1


async def test_no_event_is_built_without_listeners() -> None:
    """With nobody listening, falling back builds no event."""

    def boom(**_: object) -> None:
        raise AssertionError("event built")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_events, "FallbackUsed", boom)
        assert await Fallback(value=1)(raising(TimeoutError()))() == 1


# -- cancellation --------------------------------------------------------------


async def test_cancelled_while_running_is_never_replaced() -> None:
    """move_on_after cancels the call: no fallback value, no event, on time."""
    seen: list[_events.Event] = []
    result: list[object] = []

    @Fallback(value="f", on=lambda exc: True, listeners=[seen.append])
    async def slow() -> str:
        await anyio.sleep(10)
        return "done"

    start = anyio.current_time()
    with anyio.move_on_after(1) as scope:
        result.append(await slow())
    assert scope.cancelled_caught
    assert anyio.current_time() - start == 1
    assert result == []
    assert seen == []


async def test_cancelled_at_the_instant_the_call_returns() -> None:
    """Cancelled when the call completes: the real value or cancellation, never 'f'."""
    seen: list[_events.Event] = []
    result: list[object] = []

    @Fallback(value="f", on=lambda exc: True, listeners=[seen.append])
    async def exact() -> str:
        await anyio.sleep(1)
        return "done"

    with anyio.move_on_after(1):
        result.append(await exact())
    assert result in ([], ["done"])
    assert seen == []


async def test_cancelled_while_the_factory_runs() -> None:
    """Cancellation during an async factory propagates; nothing is returned."""
    result: list[object] = []

    async def slow_cache(exc: Exception) -> str:
        await anyio.sleep(10)
        return "cached"

    policy = Fallback(factory=slow_cache)
    with anyio.move_on_after(1) as scope:
        result.append(await policy.call(raising(TimeoutError())))
    assert scope.cancelled_caught
    assert result == []


async def test_task_group_cancellation_is_not_replaced() -> None:
    """A sibling's failure cancels the guarded task; only the sibling's error shows."""
    seen: list[_events.Event] = []

    @Fallback(value="f", on=lambda exc: True, listeners=[seen.append])
    async def waits() -> str:
        await anyio.sleep(10)
        return "done"

    async def sibling() -> None:
        await anyio.sleep(1)
        raise Boom("sibling")

    with pytest.raises(ExceptionGroup) as info:
        async with anyio.create_task_group() as tg:
            tg.start_soon(waits)
            tg.start_soon(sibling)
    assert [type(e) for e in info.value.exceptions] == [Boom]
    assert seen == []


@pytest.mark.asyncio
async def test_asyncio_timeout_outside_is_not_replaced() -> None:
    """An enclosing asyncio.timeout raises its TimeoutError, not the fallback."""

    @Fallback(value="f")
    async def slow() -> str:
        await asyncio.sleep(10)
        return "done"

    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await slow()
    assert loop.time() - start == 1


@pytest.mark.asyncio
async def test_asyncio_timeout_inside_is_a_handled_failure() -> None:
    """A timeout raised inside the call is a failure like any other (transient)."""

    @Fallback(value="f")
    async def slow() -> str:
        async with asyncio.timeout(1):
            await asyncio.sleep(10)
        return "done"

    assert await slow() == "f"


@pytest.mark.asyncio
async def test_task_cancel_is_not_replaced() -> None:
    """task.cancel() propagates as CancelledError through the fallback."""

    @Fallback(value="f", on=lambda exc: True)
    async def slow() -> str:
        await asyncio.sleep(10)
        return "done"

    task = asyncio.ensure_future(slow())
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_works_with_retry_inside() -> None:
    """Fallback outside Retry: the fallback sees only the retry's final failure."""
    calls: list[int] = []

    @Fallback(value="fallback")
    @brace.Retry(on=ConnectionError, attempts=3, backoff=brace.Backoff.constant(1))
    async def flaky() -> str:
        calls.append(1)
        raise ConnectionError("down")

    start = anyio.current_time()
    assert await flaky() == "fallback"
    assert len(calls) == 3
    assert anyio.current_time() - start == 2
