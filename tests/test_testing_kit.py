"""Tests for the testing kit: Chaos, enable_chaos, capture_events, EventLog and
the assertion helpers, on asyncio and trio, on virtual clocks."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import inspect
import math
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

import anyio
import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace import _chaos, _events
from brace._capture import (
    EventLog,
    assert_emitted,
    assert_gave_up,
    assert_retried,
    capture_events,
)
from brace._chaos import Chaos, ChaosStatistics, enable_chaos
from brace._events import ChaosInjected, RetryGaveUp, RetryScheduled, TimeoutFired

anyio_mark = pytest.mark.anyio
T = TypeVar("T")


class Recorder:
    """An async function that records its calls and returns *value*."""

    def __init__(self, value: Any = "real") -> None:
        self.value = value
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        return self.value


def _now() -> float:
    return anyio.current_time()


def _stats(**counts: float) -> ChaosStatistics:
    values: dict[str, Any] = dict.fromkeys(
        ("calls", "injected", "faults", "results", "latencies"), 0
    )
    values["latency_total"] = 0.0
    values.update(counts)
    return ChaosStatistics(**values)


# -- Chaos: construction ------------------------------------------------------


class TestChaosConstruction:
    """Bad options are rejected when the policy is built, with clear messages."""

    def test_needs_something_to_inject(self) -> None:
        """A Chaos with no fault, latency or result is a ValueError."""
        with pytest.raises(ValueError, match="something to inject"):
            Chaos()

    def test_fault_and_result_are_exclusive(self) -> None:
        """fault= and result= together are a ValueError suggesting two layers."""
        with pytest.raises(ValueError, match="two Chaos layers"):
            Chaos(fault=ValueError, result=1)  # type: ignore[call-overload]

    @pytest.mark.parametrize("rate", [-0.1, 1.5, math.nan, math.inf])
    def test_rejects_rates_outside_0_1(self, rate: float) -> None:
        """Rates outside [0, 1], NaN included, are a ValueError."""
        with pytest.raises(ValueError, match="rate"):
            Chaos(fault=ValueError, rate=rate)

    @pytest.mark.parametrize("rate", ["0.5", None, True])
    def test_rejects_non_numeric_rates(self, rate: Any) -> None:
        """A rate that is not a number (bools included) is a TypeError."""
        with pytest.raises(TypeError, match="rate"):
            Chaos(fault=ValueError, rate=rate)

    def test_accepts_int_rates(self) -> None:
        """0 and 1 as ints are valid rates, stored as floats."""
        assert Chaos(fault=ValueError, rate=0).describe()[1]["rate"] == 0.0
        assert Chaos(fault=ValueError, rate=1).describe()[1]["rate"] == 1.0

    @pytest.mark.parametrize(
        "latency", [-1, math.nan, math.inf, (2, 1), (0, -1), (1, 2, 3), (1,)]
    )
    def test_rejects_bad_latency_values(self, latency: Any) -> None:
        """Negative, infinite, inverted or malformed latencies are a ValueError."""
        with pytest.raises(ValueError, match="latency"):
            Chaos(latency=latency)

    @pytest.mark.parametrize("latency", ["1", [0.1, 0.2], ("a", 1)])
    def test_rejects_latency_of_wrong_type(self, latency: Any) -> None:
        """Latencies that are not durations (or a pair of them) are a TypeError."""
        with pytest.raises(TypeError, match="latency"):
            Chaos(latency=latency)

    def test_seed_and_rng_are_exclusive(self) -> None:
        """seed= and rng= together are a ValueError."""
        with pytest.raises(ValueError, match="not both"):
            Chaos(fault=ValueError, seed=1, rng=random.Random(1))

    @pytest.mark.parametrize("seed", ["1", 1.5, True])
    def test_rejects_bad_seeds(self, seed: Any) -> None:
        """A seed that is not an int is a TypeError."""
        with pytest.raises(TypeError, match="seed"):
            Chaos(fault=ValueError, seed=seed)

    def test_rejects_bad_rng(self) -> None:
        """An rng without random() and uniform() is a TypeError."""
        with pytest.raises(TypeError, match="rng"):
            Chaos(fault=ValueError, rng=object())  # type: ignore[call-overload]

    @pytest.mark.parametrize("enabled", ["false", 1, None])
    def test_enabled_must_be_a_bool(self, enabled: Any) -> None:
        """enabled= takes only True or False: a string from config is refused."""
        with pytest.raises(TypeError, match="enabled"):
            Chaos(fault=ValueError, enabled=enabled)

    def test_name_must_be_a_str(self) -> None:
        """A name that is not a str is a TypeError."""
        with pytest.raises(TypeError, match="name"):
            Chaos(fault=ValueError, name=3)  # type: ignore[call-overload]

    def test_listeners_must_be_callable(self) -> None:
        """A listener that is not callable is a TypeError."""
        with pytest.raises(TypeError, match="listeners"):
            Chaos(fault=ValueError, listeners=[1])  # type: ignore[list-item]

    @pytest.mark.parametrize(
        "fault", [KeyboardInterrupt(), KeyboardInterrupt, asyncio.CancelledError]
    )
    def test_fault_must_be_an_exception(self, fault: Any) -> None:
        """BaseExceptions that are not Exceptions (cancellation, exits) are refused."""
        with pytest.raises(TypeError, match="Exception"):
            Chaos(fault=fault)

    def test_fault_of_wrong_type(self) -> None:
        """A fault that is neither an exception nor a factory is a TypeError."""
        with pytest.raises(TypeError, match="factory"):
            Chaos(fault=42)  # type: ignore[call-overload]

    def test_fault_class_needing_arguments(self) -> None:
        """An exception class that needs arguments is refused, suggesting a factory."""

        class NeedsArgs(Exception):
            def __init__(self, code: int) -> None:
                super().__init__(code)

        with pytest.raises(TypeError, match=r"lambda: .*NeedsArgs"):
            Chaos(fault=NeedsArgs)

    def test_fault_instance_that_cannot_be_copied(self) -> None:
        """An instance that copy.copy cannot rebuild is refused: use a factory."""

        class Odd(Exception):
            def __init__(self, a: int, b: int) -> None:
                super().__init__(a + b)

        with pytest.raises(TypeError, match="factory"):
            Chaos(fault=Odd(1, 2))

    def test_decorating_sync_function(self) -> None:
        """Decorating a plain function is a TypeError naming the problem."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async"):
            Chaos(fault=ValueError)(sync)  # type: ignore[arg-type]

    def test_constructible_outside_a_loop_and_disabled(self) -> None:
        """A fresh policy is built without a loop and is off."""
        chaos = Chaos(fault=ValueError, rate=0.5, latency=1)
        assert not chaos.is_enabled
        assert chaos.statistics() == _stats()

    def test_unset_result_reads_well_in_signatures(self) -> None:
        """The default of result= shows as <unset> in help() and signatures."""
        default = inspect.signature(Chaos).parameters["result"].default
        assert repr(default) == "<unset>"

    def test_statistics_snapshot_is_frozen(self) -> None:
        """statistics() returns an immutable snapshot."""
        snapshot = Chaos(latency=1).statistics()
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            snapshot.calls = 3  # type: ignore[misc]


# -- Chaos: describe() and repr -------------------------------------------------


class TestDescribe:
    """describe() gives the kind "chaos" and every constructor option."""

    def test_defaults(self) -> None:
        """All options, with the defaults, for a fault given as a class."""
        assert Chaos(fault=ConnectionError).describe() == (
            "chaos",
            {
                "fault": "ConnectionError",
                "result": None,
                "rate": 1.0,
                "latency": None,
                "seed": None,
                "rng": None,
                "enabled": False,
                "name": None,
                "listeners": (),
            },
        )

    def test_every_option(self) -> None:
        """Instances by repr, factories and listeners by qualified name."""
        rng = random.Random(3)

        def make() -> Exception:
            return ValueError("x")

        def listen(event: brace.Event) -> None:
            pass

        _, options = Chaos(
            fault=make,
            rate=0.25,
            latency=(dt.timedelta(milliseconds=100), 2),
            rng=rng,
            enabled=True,
            name="db",
            listeners=[listen],
        ).describe()
        assert options == {
            "fault": make.__qualname__,
            "result": None,
            "rate": 0.25,
            "latency": (0.1, 2.0),
            "seed": None,
            "rng": repr(rng),
            "enabled": True,
            "name": "db",
            "listeners": (listen.__qualname__,),
        }

    def test_instance_result_and_fixed_latency(self) -> None:
        """A fault instance by repr, a result by repr, a fixed latency as a float."""
        fault = OSError("disk")
        assert Chaos(fault=fault).describe()[1]["fault"] == repr(fault)
        options = Chaos(result=None, latency=1, seed=7).describe()[1]
        assert options["result"] == "None"
        assert options["latency"] == 1.0
        assert type(options["latency"]) is float
        assert options["seed"] == 7

    def test_callable_without_qualname_by_repr(self) -> None:
        """A factory object without __qualname__ is described by its repr."""

        class Factory:
            def __call__(self) -> Exception:
                return ValueError()

            def __repr__(self) -> str:
                return "<factory>"

        assert Chaos(fault=Factory()).describe()[1]["fault"] == "<factory>"

    def test_describe_reflects_current_state(self) -> None:
        """enabled in describe() follows enable() and disable(); the dict is new."""
        chaos = Chaos(latency=1)
        first = chaos.describe()[1]
        chaos.enable()
        assert chaos.describe()[1]["enabled"] is True
        assert first["enabled"] is False

    def test_repr(self) -> None:
        """The repr shows the options that are set."""
        assert repr(Chaos(fault=ValueError, rate=0.5, name="db")) == (
            "Chaos(fault=ValueError, rate=0.5, enabled=False, name='db')"
        )
        assert repr(Chaos(result="x", latency=(1, 2))) == (
            "Chaos(result='x', rate=1.0, latency=(1.0, 2.0), enabled=False)"
        )


# -- Chaos: off until enabled -------------------------------------------------------


@anyio_mark
class TestSwitching:
    """Chaos only fires when its own switch or enable_chaos() is on."""

    async def test_disabled_by_default(self) -> None:
        """A new policy lets every call through untouched, counting nothing."""
        chaos = Chaos(fault=ConnectionError, latency=10)
        real = Recorder()
        start = _now()
        assert await chaos(real)(1) == "real"
        assert await chaos.call(real, 2, k=3) == "real"
        async with chaos:
            pass
        assert real.calls == [((1,), {}), ((2,), {"k": 3})]
        assert _now() == start
        assert chaos.statistics() == _stats()

    async def test_enable_and_disable(self) -> None:
        """enable() turns injection on, disable() turns it off again."""
        chaos = Chaos(result="fake")
        real = Recorder()
        chaos.enable()
        assert chaos.is_enabled
        assert await chaos.call(real) == "fake"
        chaos.disable()
        assert not chaos.is_enabled
        assert await chaos.call(real) == "real"
        assert chaos.statistics() == _stats(calls=1, injected=1, results=1)

    async def test_enabled_block_restores_previous_state(self) -> None:
        """with chaos.enabled() turns it on and restores the state, even on error."""
        chaos = Chaos(result="fake")
        with pytest.raises(KeyError), chaos.enabled():
            assert chaos.is_enabled
            assert await chaos.call(Recorder()) == "fake"
            raise KeyError
        assert not chaos.is_enabled
        chaos.enable()
        with chaos.enabled():
            pass
        assert chaos.is_enabled

    async def test_enabled_at_construction(self) -> None:
        """enabled=True fires from the first call."""
        assert await Chaos(result=1, enabled=True).call(Recorder()) == 1

    async def test_enable_chaos_turns_every_policy_on(self) -> None:
        """enable_chaos() fires every policy, even a disabled one, and nests."""
        a, b = Chaos(result="a"), Chaos(result="b")
        b.disable()
        with enable_chaos():
            with enable_chaos():
                assert a.is_enabled
                assert b.is_enabled
                assert await a.call(Recorder()) == "a"
            assert await b.call(Recorder()) == "b"
        assert _chaos._forced == 0
        assert not a.is_enabled
        assert await a.call(Recorder()) == "real"

    async def test_enable_chaos_and_own_switches(self) -> None:
        """Policies built, disabled or enabled inside a block keep their own state."""
        before = Chaos(result="x", enabled=True)
        with enable_chaos():
            inside = Chaos(result="y")
            assert inside.is_enabled
            inside.disable()
            assert inside.is_enabled
            with before.enabled():
                pass
            assert before.is_enabled
        assert before.is_enabled
        assert not inside.is_enabled
        inside.enable()
        assert await inside.call(Recorder()) == "y"

    async def test_enable_chaos_restores_on_error(self) -> None:
        """enable_chaos() closes its count even when the block raises."""
        with pytest.raises(ValueError), enable_chaos():
            raise ValueError
        assert _chaos._forced == 0
        assert not Chaos(latency=1).is_enabled


# -- Chaos: what it injects -----------------------------------------------------------


@anyio_mark
class TestInjection:
    """Faults, latency and results, on the loop's clock, exactly."""

    async def test_fault_class_raises_fresh_instances(self) -> None:
        """A fault class is raised as a new instance per call, with a note."""
        chaos = Chaos(fault=ConnectionError, enabled=True, name="db")
        real = Recorder()
        errors = []
        for _ in range(2):
            with pytest.raises(ConnectionError) as info:
                await chaos.call(real)
            errors.append(info.value)
        assert errors[0] is not errors[1]
        assert errors[0].__notes__ == ["brace: injected by chaos (db)"]
        assert real.calls == []
        assert chaos.statistics() == _stats(calls=2, injected=2, faults=2)

    async def test_fault_instance_is_copied(self) -> None:
        """An instance is copied per call: the template stays clean, notes kept."""
        template = OSError(5, "disk gone")
        template.add_note("from the template")
        chaos = Chaos(fault=template, enabled=True)
        raised = []
        for _ in range(2):
            with pytest.raises(OSError, match="disk gone") as info:
                await chaos.call(Recorder())
            raised.append(info.value)
        first, second = raised
        assert first is not template
        assert first is not second
        assert first.errno == 5
        assert template.__traceback__ is None
        assert template.__notes__ == ["from the template"]
        name = "Recorder"
        assert first.__notes__ == [
            "from the template",
            f"brace: injected by chaos ({name})",
        ]
        assert first.__notes__ == second.__notes__

    async def test_brace_error_instance_is_copied(self) -> None:
        """brace's own errors (keyword-only constructors) can be injected too."""
        chaos = Chaos(fault=brace.RateLimited(retry_after=2.0), enabled=True)
        with pytest.raises(brace.RateLimited) as info:
            await chaos.call(Recorder())
        assert info.value.retry_after == 2.0

    async def test_fault_factory(self) -> None:
        """A factory is called per injection, and its exception raised."""
        made: list[Exception] = []

        def make() -> Exception:
            made.append(TimeoutError(len(made)))
            return made[-1]

        chaos = Chaos(fault=make, enabled=True)
        for i in range(2):
            with pytest.raises(TimeoutError) as info:
                await chaos.call(Recorder())
            assert info.value is made[i]

    async def test_factory_returning_non_exception(self) -> None:
        """A factory that returns something else fails clearly, nothing counted."""
        chaos = Chaos(fault=lambda: "oops", enabled=True)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="returned 'oops'"):
            await chaos.call(Recorder())
        assert chaos.statistics() == _stats()

    async def test_fixed_latency_is_exact(self) -> None:
        """latency=2.5 delays the real call by exactly 2.5 s of virtual time."""
        chaos = Chaos(latency=dt.timedelta(seconds=2.5), enabled=True)
        seen: list[float] = []
        start = _now()

        @chaos
        async def work(x: int) -> int:
            seen.append(_now() - start)
            return x + 1

        assert await work(1) == 2
        assert seen == [2.5]
        assert chaos.statistics() == _stats(
            calls=1, injected=1, latencies=1, latency_total=2.5
        )

    async def test_latency_range_is_seeded_and_bounded(self) -> None:
        """A (low, high) latency is drawn uniformly from the seeded source."""
        chaos = Chaos(latency=(1, 3), seed=42, enabled=True)
        reference = random.Random(42)
        expected = [reference.uniform(1, 3) for _ in range(5)]
        elapsed = []
        for _ in range(5):
            start = _now()
            await chaos.call(Recorder())
            elapsed.append(_now() - start)
        assert elapsed == pytest.approx(expected, abs=1e-9)
        assert all(1 <= e <= 3 for e in elapsed)
        assert chaos.statistics().latency_total == pytest.approx(sum(expected))

    async def test_equal_range_bounds_do_not_draw(self) -> None:
        """A (2, 2) range is a fixed latency and consumes no random numbers."""
        rng = random.Random(0)
        state = rng.getstate()
        start = _now()
        await Chaos(latency=(2, 2), rng=rng, enabled=True).call(Recorder())
        assert _now() - start == 2.0
        assert rng.getstate() == state

    async def test_result_replaces_the_call(self) -> None:
        """result= is returned without calling the function."""
        chaos = Chaos(result=None, enabled=True)
        real = Recorder()

        @chaos
        async def load(key: str) -> str:
            return str(await real(key))

        assert await load("k") is None
        assert real.calls == []
        assert chaos.statistics() == _stats(calls=1, injected=1, results=1)

    async def test_latency_then_fault(self) -> None:
        """With latency and a fault, the call fails after the latency."""
        chaos = Chaos(fault=ConnectionError, latency=4, enabled=True)
        start = _now()
        with pytest.raises(ConnectionError):
            await chaos.call(Recorder())
        assert _now() - start == 4.0
        assert chaos.statistics() == _stats(
            calls=1, injected=1, faults=1, latencies=1, latency_total=4.0
        )

    async def test_latency_then_result(self) -> None:
        """With latency and a result, the result arrives after the latency."""
        start = _now()
        assert await Chaos(result=7, latency=1.5, enabled=True).call(Recorder()) == 7
        assert _now() - start == 1.5

    async def test_async_with_injects_latency_and_fault(self) -> None:
        """async with delays the block's start, or raises the fault on entry."""
        start = _now()
        async with Chaos(latency=3, enabled=True):
            assert _now() - start == 3.0
        chaos = Chaos(fault=ValueError, enabled=True)
        body_ran = False
        with pytest.raises(ValueError) as info:
            async with chaos:
                body_ran = True
        assert not body_ran
        assert info.value.__notes__ == ["brace: injected by chaos (<chaos>)"]

    async def test_async_with_refuses_result(self) -> None:
        """A Chaos with result= cannot guard a block, enabled or not."""
        with pytest.raises(TypeError, match="async with"):
            async with Chaos(result=1):
                pass

    async def test_rate_zero_never_fires(self) -> None:
        """rate=0 lets every call through, even when enabled, drawing nothing."""
        rng = random.Random(0)
        state = rng.getstate()
        chaos = Chaos(fault=ValueError, rate=0, rng=rng, enabled=True)
        for _ in range(20):
            assert await chaos.call(Recorder()) == "real"
        assert rng.getstate() == state
        assert chaos.statistics() == _stats(calls=20)

    async def test_same_seed_same_decisions(self) -> None:
        """Two policies with the same seed hit exactly the same calls."""

        async def outcomes(chaos: Chaos[str]) -> list[str]:
            return [await chaos.call(Recorder()) for _ in range(50)]

        a = await outcomes(Chaos(result="x", rate=0.3, seed=9, enabled=True))
        b = await outcomes(Chaos(result="x", rate=0.3, seed=9, enabled=True))
        c = await outcomes(Chaos(result="x", rate=0.3, seed=10, enabled=True))
        assert a == b
        assert a != c
        assert 0 < a.count("x") < 50

    async def test_decorator_keeps_the_signature(self) -> None:
        """The decorated function keeps its name, signature and wrapped original."""

        async def fetch(url: str, *, retries: int = 3) -> bytes:
            return url.encode()

        wrapped = Chaos(latency=1)(fetch)
        assert wrapped.__name__ == "fetch"
        assert wrapped.__wrapped__ is fetch  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(fetch)
        assert inspect.iscoroutinefunction(wrapped)

    async def test_events_name_and_order(self) -> None:
        """Latency then fault events, named after the function unless name= is set."""
        local: list[brace.Event] = []
        chaos = Chaos(
            fault=ValueError, latency=1, enabled=True, listeners=[local.append]
        )

        @chaos
        async def work() -> None:
            pass

        with pytest.raises(ValueError) as info:
            await work()
        assert [(e.name, e.kind) for e in local] == [  # type: ignore[attr-defined]
            (work.__qualname__, "latency"),
            (work.__qualname__, "fault"),
        ]
        assert local[0] == ChaosInjected(
            name=work.__qualname__, kind="latency", latency=1.0
        )
        assert local[1] == ChaosInjected(
            name=work.__qualname__, kind="fault", error=info.value
        )
        named = Chaos(result=3, enabled=True, name="cache", listeners=[local.append])
        await named.call(Recorder())
        assert local[2] == ChaosInjected(name="cache", kind="result", result=3)

    async def test_global_subscribers_get_events(self) -> None:
        """Global subscribers receive ChaosInjected too."""
        with capture_events(ChaosInjected) as events:
            await Chaos(latency=2, enabled=True, name="n").call(Recorder())
        assert events == [ChaosInjected(name="n", kind="latency", latency=2.0)]

    async def test_no_event_built_without_listeners(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nobody listening: no event object is built at all."""

        def forbidden(**kwargs: Any) -> None:
            raise AssertionError("event built with nobody listening")

        monkeypatch.setattr(_events, "ChaosInjected", forbidden)
        chaos = Chaos(fault=ValueError, latency=1, enabled=True)
        with pytest.raises(ValueError):
            await chaos.call(Recorder())
        assert await Chaos(result=1, enabled=True).call(Recorder()) == 1

    async def test_broken_listener_does_not_change_outcome(self) -> None:
        """A listener that raises is logged; the injected outcome is unchanged."""

        def broken(event: brace.Event) -> None:
            raise RuntimeError("listener bug")

        chaos = Chaos(result="fake", enabled=True, listeners=[broken])
        assert await chaos.call(Recorder()) == "fake"


def _without_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (no latency), without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast("T", done.value)
    coro.close()
    raise AssertionError("the coroutine suspended")


def test_without_loop_helper_notices_suspension() -> None:
    """The helper above fails loudly if a call does wait after all."""
    with pytest.raises(AssertionError, match="suspended"):
        _without_loop(asyncio.sleep(0))


@given(
    rate=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
@settings(max_examples=40, deadline=None)
def test_injection_count_matches_reference_draws(rate: float, seed: int) -> None:
    """Over 200 calls, the hits are exactly the draws below rate of the same seed."""
    chaos = Chaos(result="fake", rate=rate, seed=seed, enabled=True)
    outcomes = [_without_loop(chaos.call(Recorder())) for _ in range(200)]
    reference = random.Random(seed)
    if rate >= 1.0:
        expected = [True] * 200
    elif rate <= 0.0:
        expected = [False] * 200
    else:
        expected = [reference.random() < rate for _ in range(200)]
    assert [o == "fake" for o in outcomes] == expected
    hits = sum(expected)
    assert chaos.statistics() == _stats(calls=200, injected=hits, results=hits)


def test_seeded_rate_is_statistically_right() -> None:
    """A 10% rate over 10 000 seeded calls hits between 9% and 11% of them."""
    chaos = Chaos(result="fake", rate=0.1, seed=2024, enabled=True)
    for _ in range(10_000):
        _without_loop(chaos.call(Recorder()))
    assert 900 <= chaos.statistics().injected <= 1100


# -- Chaos: cancellation ----------------------------------------------------------


@anyio_mark
class TestCancellation:
    """A call cancelled during injected latency leaves no trace."""

    async def test_move_on_after_during_latency(self) -> None:
        """Cancelled at 1 s of a 5 s latency: no call, no count, no event."""
        chaos = Chaos(fault=ValueError, latency=5, enabled=True)
        real = Recorder()
        start = _now()
        with capture_events() as events, anyio.move_on_after(1) as scope:
            await chaos.call(real)
        assert scope.cancelled_caught
        assert _now() - start == 1.0
        assert real.calls == []
        assert chaos.statistics() == _stats()
        assert events == []

    async def test_task_group_cancel_during_latency(self) -> None:
        """A task group cancelled while its children sit in latency counts nothing."""
        chaos = Chaos(latency=10, enabled=True)
        real = Recorder()
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(chaos.call, real)
            await anyio.sleep(2)
            tg.cancel_scope.cancel()
        assert real.calls == []
        assert chaos.statistics() == _stats()

    async def test_cancel_at_the_instant_latency_ends(self) -> None:
        """Cancelled exactly when latency ends: counted iff the call went ahead."""
        chaos = Chaos(latency=3, enabled=True)
        real = Recorder()
        with anyio.move_on_after(3):
            await chaos.call(real)
        counted = chaos.statistics().calls
        assert counted == len(real.calls)
        assert chaos.statistics().latencies == counted

    async def test_cancelled_during_the_real_call_is_counted(self) -> None:
        """Once the latency is over and the call runs, the injection counts."""
        chaos = Chaos(latency=1, enabled=True)

        @chaos
        async def slow() -> None:
            await anyio.sleep(10)

        with anyio.move_on_after(5) as scope:
            await slow()
        assert scope.cancelled_caught
        assert chaos.statistics() == _stats(
            calls=1, injected=1, latencies=1, latency_total=1.0
        )

    async def test_outer_timeout_sees_latency(self) -> None:
        """brace.Timeout outside Chaos fires on injected latency, on time."""
        chaos = Chaos(latency=30, enabled=True)
        start = _now()
        with pytest.raises(brace.TimeoutError):
            await brace.Timeout(2).call(chaos.call, Recorder())
        assert _now() - start == 2.0
        assert chaos.statistics() == _stats()


@pytest.mark.asyncio
class TestAsyncioCancellation:
    """asyncio's own cancellation paths through injected latency."""

    async def test_asyncio_timeout(self) -> None:
        """asyncio.timeout() interrupts the latency; nothing is counted."""
        chaos = Chaos(fault=ValueError, latency=5, enabled=True)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await chaos.call(Recorder())
        assert loop.time() - start == 1.0
        assert chaos.statistics() == _stats()

    async def test_task_cancel(self) -> None:
        """task.cancel() during latency propagates CancelledError, no count."""
        chaos = Chaos(latency=5, enabled=True)
        task = asyncio.create_task(chaos.call(Recorder()))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert chaos.statistics() == _stats()

    async def test_cancel_after_latency_fired_before_resuming(self) -> None:
        """Cancelled when the latency timer has fired but the task not resumed."""
        loop = asyncio.get_running_loop()
        chaos = Chaos(result="fake", latency=3, enabled=True)
        start = loop.time()
        task = asyncio.create_task(chaos.call(Recorder()))
        await asyncio.sleep(0)  # the task is now in its latency sleep
        # Same deadline, scheduled later: runs right after the sleep's timer,
        # before the task gets to resume.
        loop.call_at(start + 3, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.time() - start == 3.0
        assert chaos.statistics() == _stats()

    async def test_wait_for(self) -> None:
        """asyncio.wait_for() times out during latency; nothing is counted."""
        chaos = Chaos(latency=5, enabled=True)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(chaos.call(Recorder()), 2)
        assert chaos.statistics() == _stats()


# -- Chaos inside other policies ------------------------------------------------------


@anyio_mark
class TestInsidePolicies:
    """Placed innermost, Chaos's faults look real to outer policies."""

    async def test_retry_retries_injected_faults(self) -> None:
        """A retry sees injected faults and retries them with its backoff."""
        chaos = Chaos(fault=ConnectionError, rate=0.5, seed=1, enabled=True)
        real = Recorder()

        @brace.retry(on=ConnectionError, attempts=10, backoff=brace.Backoff.constant(1))
        @chaos
        async def fetch() -> str:
            return str(await real())

        with capture_events(RetryScheduled) as events:
            assert await fetch() == "real"
        stats = chaos.statistics()
        assert stats.faults == len(events) == stats.calls - 1
        assert real.calls == [((), {})]

    async def test_instant_and_chaos_together(self) -> None:
        """instant() zeroes the retry delays; chaos still fails every attempt."""
        chaos = Chaos(fault=ConnectionError, enabled=True)
        policy = brace.Retry(
            on=ConnectionError, attempts=4, backoff=brace.Backoff.constant(60)
        )
        start = _now()
        with (
            brace.testing.instant(),
            capture_events() as events,
            pytest.raises(ConnectionError) as info,
        ):
            await policy.call(chaos.call, Recorder())
        assert _now() - start == 0
        assert_retried(events, times=3, delays=[0, 0, 0])
        assert_gave_up(events, reason="attempts", attempts=4, error=ConnectionError)
        assert info.value.__notes__[0].startswith("brace: injected by chaos")


# -- capture_events and EventLog ---------------------------------------------------


def _retry_events(name: str = "f") -> list[brace.Event]:
    return [
        RetryScheduled(name=name, attempt=1, delay=0.1, error=ValueError()),
        RetryScheduled(name=name, attempt=2, delay=0.2, error=ValueError()),
        RetryGaveUp(
            name=name, attempts=3, elapsed=0.3, reason="attempts", error=ValueError()
        ),
    ]


class TestCaptureEvents:
    """capture_events subscribes for the block only, filtered as asked."""

    def test_records_and_unsubscribes(self) -> None:
        """Events inside the block are recorded; the subscription ends on exit."""
        before = list(_events._subscribers)
        with capture_events() as events:
            assert len(_events._subscribers) == len(before) + 1
            _events.emit(TimeoutFired(name="t", timeout=1.0))
        _events.emit(TimeoutFired(name="late", timeout=1.0))
        assert _events._subscribers == before
        assert events == [TimeoutFired(name="t", timeout=1.0)]

    def test_unsubscribes_on_error(self) -> None:
        """A block that raises still unsubscribes."""
        before = list(_events._subscribers)
        with pytest.raises(KeyError), capture_events():
            raise KeyError
        assert _events._subscribers == before

    def test_kinds_filter(self) -> None:
        """Only the given event classes are recorded."""
        with capture_events(RetryGaveUp, TimeoutFired) as events:
            for event in _retry_events():
                _events.emit(event)
        assert events.kinds() == ["RetryGaveUp"]

    def test_name_filter(self) -> None:
        """name= records only events of that policy."""
        with capture_events(name="b") as events:
            for event in _retry_events("a") + _retry_events("b"):
                _events.emit(event)
        assert events.names() == ["b", "b", "b"]

    def test_bad_arguments_fail_at_call(self) -> None:
        """A kind that is not an event class, or a bad name, fails before the block."""
        with pytest.raises(TypeError, match="event class"):
            capture_events(ValueError)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="name"):
            capture_events(name=1)  # type: ignore[arg-type]
        assert _events._subscribers == []

    @pytest.mark.anyio
    async def test_real_retry_records_exact_delays(self) -> None:
        """A real retry with exponential backoff shows delays 0.1, 0.2, 0.4."""
        attempts = 0

        @brace.retry(
            on=ConnectionError,
            attempts=4,
            backoff=brace.Backoff.exponential(initial=0.1, jitter="none"),
        )
        async def fetch() -> str:
            nonlocal attempts
            attempts += 1
            raise ConnectionError(attempts)

        with capture_events() as events, pytest.raises(ConnectionError):
            await fetch()
        assert events.retries() == pytest.approx([0.1, 0.2, 0.4])
        assert_retried(events, times=3, delays=[0.1, 0.2, 0.4], name=fetch.__qualname__)
        gave_up = assert_gave_up(events, reason="attempts", attempts=4)
        assert gave_up.exception_type == "ConnectionError"


class TestEventLog:
    """EventLog is a read-only sequence with query helpers."""

    def test_sequence_protocol(self) -> None:
        """len, indexing, slicing, iteration, membership and equality."""
        items = _retry_events()
        log = EventLog(items)
        assert len(log) == 3
        assert log[0] is items[0]
        assert log[-1] is items[2]
        assert log[1:] == items[1:]
        assert list(log) == items
        assert items[1] in log
        assert log == items
        assert log == tuple(items)
        assert log == EventLog(items)
        assert log != items[:2]
        assert log != "abc"
        assert log != 3
        assert bool(EventLog()) is False

    def test_unhashable_and_repr(self) -> None:
        """Like a list, it is unhashable; its repr shows the events."""
        log = EventLog([TimeoutFired(name="t", timeout=1.0)])
        with pytest.raises(TypeError):
            hash(log)
        assert repr(log) == "EventLog([TimeoutFired(name='t', timeout=1.0)])"

    def test_append_is_a_listener(self) -> None:
        """log.append works as a policy listener and rejects non-events."""
        log = EventLog()
        brace.Timeout(1, listeners=[log.append])
        log.append(TimeoutFired(name="t", timeout=1.0))
        assert len(log) == 1
        with pytest.raises(TypeError, match="brace events"):
            log.append("event")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="brace events"):
            EventLog(["x"])  # type: ignore[list-item]

    def test_clear(self) -> None:
        """clear() forgets everything."""
        log = EventLog(_retry_events())
        log.clear()
        assert log == []

    def test_of_type(self) -> None:
        """of_type filters by classes (subclasses too) and by name."""
        log = EventLog(_retry_events("a") + _retry_events("b"))
        assert len(log.of_type(RetryScheduled)) == 4
        assert len(log.of_type(RetryScheduled, RetryGaveUp, name="a")) == 3
        assert len(log.of_type()) == 6
        assert len(log.of_type(name="b")) == 3
        assert log.of_type(brace.Event) == list(log)
        assert log.of_type(TimeoutFired) == []
        with pytest.raises(TypeError, match="event class"):
            log.of_type(int)  # type: ignore[type-var]

    def test_names_kinds_retries(self) -> None:
        """names(), kinds() and retries() read the log in order."""
        log = EventLog(_retry_events("a") + _retry_events("b"))
        assert log.names() == ["a"] * 3 + ["b"] * 3
        assert log.kinds() == ["RetryScheduled", "RetryScheduled", "RetryGaveUp"] * 2
        assert log.retries() == [0.1, 0.2, 0.1, 0.2]
        assert log.retries(name="b") == [0.1, 0.2]


# -- assertion helpers -------------------------------------------------------------


class TestAssertRetried:
    """assert_retried checks retry counts and delays, explaining failures."""

    def test_passes_and_returns_events(self) -> None:
        """Matching times and delays pass and return the RetryScheduled events."""
        events = _retry_events()
        found = assert_retried(events, times=2, delays=[0.1, 0.2])
        assert found == events[:2]
        assert assert_retried(events) == events[:2]
        assert assert_retried(events, times=2) == events[:2]
        assert assert_retried(events, delays=[0.1, 0.2 + 1e-12]) == events[:2]
        assert assert_retried(events, delays=[pytest.approx(0.1), 0.2]) == events[:2]
        assert assert_retried(iter(events), times=2) == events[:2]

    def test_zero_retries(self) -> None:
        """times=0 passes without retries and fails with them."""
        assert assert_retried([], times=0) == []
        assert assert_retried(EventLog(), delays=[]) == []
        with pytest.raises(AssertionError, match="expected 0 retries, but saw 2"):
            assert_retried(_retry_events(), times=0)

    def test_failure_lists_what_happened(self) -> None:
        """A wrong count names expected and actual delays and lists every event."""
        events = _retry_events()
        with pytest.raises(AssertionError) as info:
            assert_retried(events, times=3, delays=[0.1, 0.2, 0.4])
        message = str(info.value)
        assert message.splitlines()[0] == (
            "expected 3 retries with delays [0.1, 0.2, 0.4], "
            "but saw 2 retries with delays [0.1, 0.2]"
        )
        assert "events recorded (3):" in message
        for event in events:
            assert repr(event) in message

    def test_wrong_delays(self) -> None:
        """The right count with other delays fails."""
        with pytest.raises(AssertionError, match=r"with delays \[0.1, 0.3\]"):
            assert_retried(_retry_events(), delays=[0.1, 0.3])

    def test_no_retry_at_all(self) -> None:
        """With no expectation, at least one retry is required."""
        with pytest.raises(AssertionError) as info:
            assert_retried([TimeoutFired(name="t", timeout=1.0)])
        assert str(info.value).splitlines()[0] == (
            "expected at least one retry, but saw 0 retries"
        )
        with pytest.raises(AssertionError, match=r"\(none\)"):
            assert_retried([], name="x")

    def test_one_retry_wording_and_name(self) -> None:
        """Singular wording, and the name filter in the message."""
        events = _retry_events("a")[:1] + _retry_events("b")
        assert len(assert_retried(events, times=1, name="a")) == 1
        with pytest.raises(AssertionError) as info:
            assert_retried(events, times=1, name="b")
        assert str(info.value).splitlines()[0] == (
            "expected 1 retry of 'b', but saw 2 retries of 'b' with delays [0.1, 0.2]"
        )
        with pytest.raises(AssertionError, match="but saw 1 retry of 'a' with"):
            assert_retried(events, times=2, name="a")

    @pytest.mark.parametrize("times", [-1, True, 1.0, "2"])
    def test_bad_times(self, times: Any) -> None:
        """times must be an int >= 0."""
        with pytest.raises(ValueError, match="times"):
            assert_retried([], times=times)

    def test_inconsistent_arguments(self) -> None:
        """times unlike len(delays) is a ValueError; a str for delays a TypeError."""
        with pytest.raises(ValueError, match="disagrees"):
            assert_retried([], times=2, delays=[0.1])
        with pytest.raises(TypeError, match="delays"):
            assert_retried([], delays="0.1")


class TestAssertGaveUp:
    """assert_gave_up checks the one RetryGaveUp event."""

    def test_passes_and_returns_the_event(self) -> None:
        """Matching reason, attempts and error type pass; the event is returned."""
        events = _retry_events()
        assert assert_gave_up(events) is events[2]
        assert (
            assert_gave_up(events, reason="attempts", attempts=3, error=ValueError)
            is events[2]
        )
        assert assert_gave_up(events, error=(KeyError, ValueError)) is events[2]

    @pytest.mark.parametrize(
        ("kwargs", "wanted"),
        [
            ({"reason": "deadline"}, "reason 'deadline'"),
            ({"attempts": 5}, "attempts 5"),
            ({"error": KeyError}, "error <class 'KeyError'>"),
        ],
    )
    def test_mismatch(self, kwargs: dict[str, Any], wanted: str) -> None:
        """Any mismatching detail fails, saying how it did give up."""
        with pytest.raises(AssertionError) as info:
            assert_gave_up(_retry_events(), **kwargs)
        first = str(info.value).splitlines()[0]
        assert first == (
            f"expected one retrying call to give up with {wanted}, but it gave up "
            "with reason 'attempts' after 3 attempts, error ValueError()"
        )

    def test_none_or_several(self) -> None:
        """No give-up, or several, fail; name= picks one of several."""
        with pytest.raises(AssertionError, match="but 0 gave up"):
            assert_gave_up(_retry_events()[:2])
        both = _retry_events("a") + _retry_events("b")
        with pytest.raises(AssertionError, match="but 2 gave up"):
            assert_gave_up(both)
        assert assert_gave_up(both, name="b") is both[5]
        with pytest.raises(AssertionError, match="call of 'c' to give up"):
            assert_gave_up(both, name="c")


class TestAssertEmitted:
    """assert_emitted matches any event class by field values."""

    def _events(self) -> list[brace.Event]:
        return [
            ChaosInjected(name="db", kind="latency", latency=1.0),
            ChaosInjected(name="db", kind="fault", error=None),
            ChaosInjected(name="db", kind="fault", error=None),
            TimeoutFired(name="t", timeout=2.0),
        ]

    def test_matches(self) -> None:
        """Field filters, exact counts and at-least-one."""
        events = self._events()
        assert (
            assert_emitted(events, ChaosInjected, kind="fault", times=2) == events[1:3]
        )
        assert assert_emitted(events, ChaosInjected) == events[:3]
        assert assert_emitted(events, brace.Event, name="t") == events[3:]
        assert assert_emitted(events, ChaosInjected, kind="result", times=0) == []

    def test_failures(self) -> None:
        """A wrong count or no match fails with the expectation and the events."""
        events = self._events()
        with pytest.raises(AssertionError) as info:
            assert_emitted(events, ChaosInjected, kind="fault", times=1)
        assert str(info.value).splitlines()[0] == (
            "expected 1 x ChaosInjected(kind='fault'), but saw 2"
        )
        with pytest.raises(
            AssertionError, match=r"at least one TimeoutFired\(timeout=3"
        ):
            assert_emitted(events, TimeoutFired, timeout=3.0)

    def test_bad_arguments(self) -> None:
        """Unknown fields, non-event kinds and bad times are refused."""
        with pytest.raises(TypeError, match="no field 'colour'"):
            assert_emitted([], ChaosInjected, colour="red")
        with pytest.raises(TypeError, match="event class"):
            assert_emitted([], ValueError)  # type: ignore[type-var]
        with pytest.raises(ValueError, match="times"):
            assert_emitted([], ChaosInjected, times=-1)


def test_chaos_events_are_attrs_events() -> None:
    """ChaosInjected is a frozen brace event with the documented defaults."""
    event = ChaosInjected(name="n", kind="fault")
    assert isinstance(event, brace.Event)
    assert (event.latency, event.error, event.result) == (None, None, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.kind = "x"  # type: ignore[misc]
    assert copy.copy(event) == event


def test_public_names_reexported() -> None:
    """brace.testing re-exports the kit under its public names."""
    import brace.testing as t

    assert t.Chaos is Chaos
    assert t.ChaosStatistics is ChaosStatistics
    assert t.EventLog is EventLog
    assert t.capture_events is capture_events
    assert t.enable_chaos is enable_chaos
    assert (t.assert_retried, t.assert_gave_up, t.assert_emitted) == (
        assert_retried,
        assert_gave_up,
        assert_emitted,
    )
    helper: Callable[..., object] = t.instant
    assert callable(helper)
