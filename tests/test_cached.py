"""Tests for brace.cached: memoization, single-flight, stale-while-revalidate,
negative caching, methods, and cancellation on asyncio and trio."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import functools
import gc
import inspect
import math
import random
import traceback
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import pytest

from brace import _events
from brace._cache import BoundedCache
from brace._cache_flight import Flight
from brace._cached import Cached, CacheInfo, cached
from brace._cached_function import CachedFunction
from brace._events import CacheRefreshFailed
from brace._introspect import is_async_callable
from brace.testing import VirtualTimeEventLoop


def now() -> float:
    return anyio.current_time()


class Source:
    """The function under cache: counts calls, takes *duration*, may fail.

    Returns ``(argument, call number)``, so each result says which call
    made it. *errors* are raised by the first calls, one each.
    """

    def __init__(self, duration: float = 0.0, errors: list[Exception] | None = None):
        self.duration = duration
        self.errors = list(errors or [])
        self.calls: list[Any] = []
        self.finished: list[float] = []
        self.cancelled = 0

    async def fetch(self, x: Any, *, extra: Any = None) -> tuple[Any, int]:
        """Fetch it."""
        self.calls.append(x if extra is None else (x, extra))
        number = len(self.calls)
        try:
            if self.duration:
                await anyio.sleep(self.duration)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.finished.append(now())
        if self.errors:
            raise self.errors.pop(0)
        return (x, number)


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run each call in a task of its own; outcomes (or exceptions) in order.

    Each call has started, and is waiting or done, before the next one
    starts (trio runs new tasks in no fixed order).
    """
    results: list[Any] = [None] * len(calls)

    async def run(
        i: int,
        call: Callable[[], Awaitable[Any]],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        task_status.started()
        try:
            results[i] = await call()
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            await tg.start(run, i, call)
    return results


# -- construction --------------------------------------------------------------


class TestConstruction:
    """Bad configuration fails at construction with a message that says why."""

    def test_cached_is_the_policy_class(self) -> None:
        """brace.cached is Cached, like brace.timeout is Timeout."""
        assert cached is Cached

    def test_bare_decorator_is_refused_with_a_hint(self) -> None:
        """@cached without parentheses gets a message that says to add them."""

        async def f() -> int:
            return 1

        with pytest.raises(
            TypeError, match=r"write @brace\.cached\(\), with parentheses"
        ):
            cached(f)  # type: ignore[arg-type]

    def test_cache_must_be_a_bounded_cache(self) -> None:
        """cache= takes a BoundedCache."""
        with pytest.raises(TypeError, match="cache must be a BoundedCache"):
            cached({})  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "option", [{"maxsize": 5}, {"ttl_jitter": 1.0}, {"rng": object()}]
    )
    def test_new_cache_options_conflict_with_a_given_cache(
        self, option: dict[str, Any]
    ) -> None:
        """Options for the new cache make no sense with a given one."""
        with pytest.raises(ValueError, match="set them on your BoundedCache"):
            cached(BoundedCache(5), **option)

    @pytest.mark.parametrize(
        "option", ["ttl", "stale_while_revalidate", "cache_errors_for"]
    )
    @pytest.mark.parametrize("value", [0, -1, math.nan])
    def test_durations_are_validated(self, option: str, value: float) -> None:
        """Every duration must be a positive finite number."""
        extra: dict[str, Any] = (
            {"ttl": 1.0} if option == "stale_while_revalidate" else {}
        )
        with pytest.raises(ValueError, match=option):
            cached(**{**extra, option: value})

    def test_stale_while_revalidate_needs_a_ttl(self) -> None:
        """Without a TTL nothing ever goes stale."""
        with pytest.raises(ValueError, match="give ttl="):
            cached(stale_while_revalidate=5)
        cached(BoundedCache(5, ttl=1), stale_while_revalidate=5)  # the cache's TTL

    def test_key_must_be_callable(self) -> None:
        """key= is a function of the arguments."""
        with pytest.raises(TypeError, match="key must be a callable"):
            cached(key="id")  # type: ignore[arg-type]

    def test_sync_functions_are_refused(self) -> None:
        """Only async functions are cached."""

        def sync(x: int) -> int:
            return x

        with pytest.raises(TypeError, match="async functions"):
            cached()(sync)  # type: ignore[arg-type]

    def test_defaults_and_the_new_cache(self) -> None:
        """A policy without cache= makes one of maxsize 1024 (or as told)."""
        assert cached().cache.maxsize == 1024
        policy = cached(maxsize=10, ttl=dt.timedelta(seconds=30), ttl_jitter=3)
        assert (policy.cache.maxsize, policy.cache.ttl, policy.cache.ttl_jitter) == (
            10,
            30.0,
            3.0,
        )
        shared: BoundedCache[Any, Any] = BoundedCache(3)
        assert cached(shared).cache is shared

    def test_describe(self) -> None:
        """describe() gives the kind "cache" and the options, durations in seconds."""

        def by_id(x: int) -> int:
            return x

        rng = random.Random(4)
        policy = cached(
            maxsize=10,
            ttl=dt.timedelta(seconds=60),
            key=by_id,
            stale_while_revalidate=30,
            cache_errors_for=5,
            rng=rng,
            name="users",
            listeners=[print],
        )
        assert policy.describe() == (
            "cache",
            {
                "cache": "<BoundedCache 'users' size=0/10 ttl=60>",
                "maxsize": 10,
                "ttl": 60.0,
                "ttl_jitter": 0.0,
                "key": by_id.__qualname__,
                "stale_while_revalidate": 30.0,
                "cache_errors_for": 5.0,
                "rng": repr(rng),
                "name": "users",
                "listeners": ["print"],
            },
        )
        kind, options = cached(BoundedCache(4, ttl=9)).describe()
        assert (kind, options["ttl"], options["key"], options["rng"]) == (
            "cache",
            9.0,
            None,
            None,
        )
        assert options is not cached().describe()[1]

    def test_wrapper_looks_like_the_function(self) -> None:
        """Name, docs, signature, __wrapped__ and async-ness are the function's."""
        source = Source()
        fn = cached()(source.fetch)
        assert fn.__name__ == "fetch"
        assert fn.__doc__ == "Fetch it."
        assert fn.__wrapped__ == source.fetch
        assert inspect.signature(fn) == inspect.signature(source.fetch)
        assert is_async_callable(fn)
        assert asyncio.iscoroutinefunction(fn)
        assert repr(fn).startswith("<CachedFunction Source.fetch <BoundedCache")
        assert repr(cached()).startswith("<Cached <BoundedCache")
        assert isinstance(fn, CachedFunction)
        assert fn.policy.cache is fn.cache


# -- memoization ---------------------------------------------------------------


@pytest.mark.anyio
class TestMemoization:
    """Values are cached by argument; failures are not."""

    async def test_second_call_is_a_hit(self) -> None:
        """The same arguments return the cached value without a call."""
        source = Source()
        fn = cached()(source.fetch)
        assert await fn(1) == (1, 1)
        assert await fn(1) == (1, 1)
        assert await fn(2) == (2, 2)
        assert source.calls == [1, 2]
        info = fn.cache_info()
        assert (info.hits, info.misses, info.computations, info.size) == (1, 2, 2, 2)

    async def test_keyword_arguments_are_part_of_the_key(self) -> None:
        """Keyword arguments key in name order; positional and keyword differ."""
        source = Source()
        fn = cached()(source.fetch)
        await fn(1, extra="a")
        await fn(1, extra="a")
        await fn(1, extra="b")
        await fn(x=1, extra="a")
        assert source.calls == [(1, "a"), (1, "b"), (1, "a")]

    async def test_exceptions_are_not_cached(self) -> None:
        """A failed call leaves nothing behind: the next call computes again."""
        source = Source(errors=[ConnectionError("down")])
        fn = cached()(source.fetch)
        with pytest.raises(ConnectionError):
            await fn(1)
        assert await fn(1) == (1, 2)
        assert fn.cache_info().misses == 2

    async def test_ttl_expires_on_the_loops_clock(self) -> None:
        """A value is fresh for exactly ttl seconds of (virtual) loop time."""
        source = Source()
        fn = cached(ttl=10)(source.fetch)
        await fn(1)
        await anyio.sleep(9.99)
        assert await fn(1) == (1, 1)
        await anyio.sleep(0.01)
        assert await fn(1) == (1, 2)
        assert fn.cache.statistics().expirations == 1

    async def test_a_hit_neither_yields_nor_allocates_a_waiter(self) -> None:
        """Hits never let another task run: no checkpoint, no future, no task."""
        fn = cached()(Source().fetch)
        await fn(1)
        ran = False

        async def other() -> None:
            nonlocal ran
            ran = True

        async with anyio.create_task_group() as tg:
            tg.start_soon(other)
            for _ in range(100):
                assert await fn(1) == (1, 1)
            assert not ran

    async def test_unhashable_arguments_get_a_hint(self) -> None:
        """An unhashable argument raises TypeError that says what to do."""
        fn = cached()(Source().fetch)
        with pytest.raises(TypeError, match=r"must be hashable.*or key= to make keys"):
            await fn([1])

    async def test_bad_arguments_fail_the_call(self) -> None:
        """Arguments the function does not take raise, and are not cached."""
        fn = cached()(Source().fetch)
        with pytest.raises(TypeError):
            await fn(1, 2)  # type: ignore[call-arg]
        assert fn.cache_info().size == 0

    async def test_key_function_is_used_verbatim(self) -> None:
        """key= makes the key, exactly: the cache can be read with it."""
        source = Source()
        users: BoundedCache[str, Any] = BoundedCache(10)
        fn = cached(users, key=lambda x, extra=None: f"user:{x}")(source.fetch)
        await fn(1, extra="ignored")
        await fn(1, extra="other")
        assert users.get("user:1") == (1, 1)
        assert source.calls == [(1, "ignored")]

    async def test_functions_sharing_a_cache_never_share_keys(self) -> None:
        """Two functions on one cache (or one policy) keep separate entries."""
        first, second = Source(), Source()
        policy = cached(maxsize=10)
        f = policy(first.fetch)
        g = policy(second.fetch)
        h = cached(policy.cache)(Source().fetch)
        assert await f(1) == (1, 1)
        assert await g(1) == (1, 1)
        assert await h(1) == (1, 1)
        assert await f(1) == await g(1)
        assert (len(first.calls), len(second.calls)) == (1, 1)
        assert len(policy.cache) == 3
        assert policy.cache.get((1,)) == (1, 1)  # the first function's bare key

    async def test_keys_read_well(self) -> None:
        """Keys beyond the bare arguments have readable parts (for keys())."""
        policy = cached()
        first = policy(Source().fetch)
        await first(1, extra=2)
        second = policy(Source().fetch)
        await second(1)
        await Service("s").load(1)
        keys = list(map(repr, policy.cache.keys()))
        assert keys == [
            "(1, <keywords>, ('extra', 2))",
            "(<keys of Source.fetch>, (1,))",
        ]
        assert "(<Service instance>, (1,))" in repr(Service.load.cache.keys())

    async def test_call_keys_by_function_and_arguments(self) -> None:
        """policy.call(fn, ...) caches per function; other functions miss."""
        first, second = Source(), Source()
        policy = cached()
        assert await policy.call(first.fetch, 1) == (1, 1)
        assert await policy.call(first.fetch, 1) == (1, 1)
        assert await policy.call(second.fetch, 1, extra=2) == (1, 1)
        decorated = policy(first.fetch)
        assert await decorated(1) == (1, 2)  # its own keys, apart from call()'s
        assert policy.cache_info().computations == 3

    async def test_call_with_a_key_function(self) -> None:
        """With key=, call() keys by what the key function returns."""
        source = Source()
        policy = cached(key=lambda x: x)
        await policy.call(source.fetch, 1)
        assert policy.cache.get(1) == (1, 1)
        assert await policy.call(source.fetch, 1) == (1, 1)

    async def test_call_accepts_any_awaitable_and_refuses_the_rest(self) -> None:
        """call() awaits what fn returns; something not awaitable is a TypeError."""
        policy = cached()
        loopish = Source()

        def returns_awaitable(x: int) -> Awaitable[Any]:
            return loopish.fetch(x)

        assert await policy.call(returns_awaitable, 3) == (3, 1)

        class Later:
            def __await__(self) -> Any:
                return loopish.fetch(4).__await__()

        assert await policy.call(Later) == (4, 2)
        with pytest.raises(TypeError, match="returned int, which is not awaitable"):
            await policy.call(lambda: 5)  # type: ignore[arg-type,return-value]

    async def test_ttl_with_a_given_cache(self) -> None:
        """ttl= with a shared cache sets this function's entries' TTL only."""
        shared: BoundedCache[Any, Any] = BoundedCache(10, ttl=100)
        short = cached(shared, ttl=5)(Source().fetch)
        default = cached(shared)(Source().fetch)
        await short(1)
        await default(1)
        await anyio.sleep(5)
        assert len(shared) == 1
        assert short.policy.describe()[1]["ttl"] == 5.0
        assert default.policy.describe()[1]["ttl"] == 100.0

    async def test_name_is_used_in_events_and_errors(self) -> None:
        """name= names the policy's events and its new cache."""
        heard: list[_events.Event] = []
        source = Source(errors=[])
        fn = cached(
            ttl=1, stale_while_revalidate=5, name="profiles", listeners=[heard.append]
        )(source.fetch)
        await fn(1)
        source.errors.append(KeyError("gone"))
        await anyio.sleep(1)
        await fn(1)
        await anyio.sleep(0.5)
        assert [e.name for e in heard] == ["profiles"]
        assert fn.cache.name == "profiles"

    async def test_invalidate(self) -> None:
        """invalidate() forgets one key; it says whether there was anything."""
        source = Source()
        fn = cached()(source.fetch)
        await fn(1, extra="e")
        assert fn.invalidate(1, extra="e")
        assert not fn.invalidate(1, extra="e")
        assert await fn(1, extra="e") == (1, 2)

    async def test_cache_clear(self) -> None:
        """cache_clear() empties the cache; the statistics stay."""
        source = Source()
        fn = cached()(source.fetch)
        await fn(1)
        await fn(2)
        fn.cache_clear()
        assert fn.cache_info().size == 0
        assert await fn(1) == (1, 3)
        assert fn.cache_info().misses == 3

    async def test_cache_info_is_a_snapshot(self) -> None:
        """cache_info() is a frozen CacheInfo."""
        fn = cached(maxsize=7)(Source().fetch)
        await fn(1)
        info = fn.cache_info()
        assert info == CacheInfo(
            hits=0,
            misses=1,
            size=1,
            maxsize=7,
            computations=1,
            coalesced=0,
            stale=0,
            errors=0,
            refresh_failures=0,
            in_flight=0,
        )
        with pytest.raises(AttributeError):
            info.hits = 3  # type: ignore[misc]


# -- single-flight ---------------------------------------------------------------


@pytest.mark.anyio
class TestSingleFlight:
    """Concurrent callers of one key share one computation."""

    async def test_a_hundred_callers_one_call(self) -> None:
        """100 concurrent callers of a cold key: 1 call, 100 equal results."""
        source = Source(duration=1)
        fn = cached()(source.fetch)
        start = now()
        results = await gather(*[functools.partial(fn, 7) for _ in range(100)])
        assert now() - start == 1
        assert results == [(7, 1)] * 100
        assert source.calls == [7]
        info = fn.cache_info()
        assert (info.misses, info.coalesced, info.computations, info.in_flight) == (
            100,
            99,
            1,
            0,
        )

    async def test_distinct_keys_compute_concurrently(self) -> None:
        """Single-flight is per key: other keys are not held up."""
        source = Source(duration=1)
        fn = cached()(source.fetch)
        start = now()
        assert await gather(lambda: fn(1), lambda: fn(2)) == [(1, 1), (2, 2)]
        assert now() - start == 1

    async def test_every_caller_gets_the_same_exception(self) -> None:
        """A failure reaches each caller, raised from the computation's frames."""
        source = Source(duration=1, errors=[ConnectionError("down")])
        fn = cached()(source.fetch)
        results = await gather(*[functools.partial(fn, 1) for _ in range(3)])
        assert results[0] is results[1] is results[2]
        assert isinstance(results[0], ConnectionError)
        frames = traceback.extract_tb(results[2].__traceback__)
        assert len(frames) < 12  # not piled up, caller after caller
        assert frames[-1].name == "fetch"
        assert fn.cache_info().size == 0

    async def test_the_computation_runs_in_the_first_callers_context(self) -> None:
        """Context variables of the caller that started it reach the function."""
        request: contextvars.ContextVar[str] = contextvars.ContextVar("request")

        async def whoami(x: int) -> str:
            await anyio.sleep(1)
            return request.get("none")

        fn = cached()(whoami)

        async def as_(name: str) -> str:
            request.set(name)
            return await fn(1)

        assert await gather(lambda: as_("first"), lambda: as_("second")) == [
            "first",
            "first",
        ]

    async def test_invalidated_during_the_computation(self) -> None:
        """Invalidation mid-flight: callers get the result; it is not stored."""
        source = Source(duration=2)
        fn = cached()(source.fetch)

        async def invalidate_later() -> bool:
            await anyio.sleep(1)
            return fn.invalidate(1)

        results = await gather(lambda: fn(1), invalidate_later, lambda: fn(1))
        assert results == [(1, 1), True, (1, 1)]
        assert fn.cache_info().size == 0
        assert await fn(1) == (1, 2)

    async def test_in_flight_counts_invalidated_computations(self) -> None:
        """in_flight counts a computation that still runs after invalidate()
        (failed before the fix: it counted only the ones new callers join)."""
        source = Source(duration=2)
        fn = cached()(source.fetch)

        async def check_later() -> tuple[bool, int]:
            await anyio.sleep(1)
            return fn.invalidate(1), fn.cache_info().in_flight

        results = await gather(lambda: fn(1), check_later)
        assert results == [(1, 1), (True, 1)]
        assert fn.cache_info().in_flight == 0

    async def test_cleared_during_the_computation(self) -> None:
        """cache_clear() mid-flight: the callers' result is not stored."""
        source = Source(duration=2)
        fn = cached()(source.fetch)

        async def clear_later() -> None:
            await anyio.sleep(1)
            fn.cache_clear()

        results = await gather(lambda: fn(1), clear_later)
        assert results == [(1, 1), None]
        assert fn.cache_info().size == 0


@pytest.mark.anyio
class TestCancellation:
    """The shared computation survives any one caller; the last one cancels it."""

    async def test_cancelled_caller_leaves_the_others_their_result(self) -> None:
        """One caller's timeout: the computation goes on for the others."""
        source = Source(duration=2)
        fn = cached()(source.fetch)

        async def impatient() -> Any:
            with anyio.move_on_after(1):
                return await fn(1)
            return "gave up"

        results = await gather(impatient, lambda: fn(1))
        assert results == ["gave up", (1, 1)]
        assert source.cancelled == 0
        info = fn.cache_info()
        # The caller who gave up left no trace.
        assert (info.misses, info.coalesced, info.computations) == (1, 1, 1)

    async def test_the_first_callers_cancellation_does_not_kill_it(self) -> None:
        """The caller that started the computation is cancelled; it still runs."""
        source = Source(duration=2)
        fn = cached()(source.fetch)
        async with anyio.create_task_group() as tg:
            starter = anyio.CancelScope()

            async def start() -> None:
                with starter:
                    await fn(1)

            tg.start_soon(start)
            await anyio.sleep(0.5)
            late = tg.start_soon
            results: list[Any] = []

            async def join() -> None:
                results.append(await fn(1))

            late(join)
            await anyio.sleep(0.5)
            starter.cancel()
        assert results == [(1, 1)]
        assert source.cancelled == 0
        assert fn.cache_info().misses == 1

    async def test_last_caller_gone_cancels_and_joins_the_computation(self) -> None:
        """Every caller gone: the computation is cancelled, and the last
        caller's cancellation completes only once it has unwound."""
        unwound: list[float] = []

        async def slow(x: int) -> int:
            try:
                await anyio.sleep(10)
            finally:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(1)
                    unwound.append(now())
            return x

        fn = cached()(slow)
        start = now()
        with anyio.move_on_after(2):
            await gather(lambda: fn(1), lambda: fn(1))
        assert now() - start == 3
        assert unwound == [start + 3]
        info = fn.cache_info()
        assert (info.in_flight, info.size, info.misses, info.computations) == (
            0,
            0,
            0,
            1,
        )

    async def test_after_abandonment_the_next_call_starts_afresh(self) -> None:
        """A computation abandoned by everyone is never joined again."""
        source = Source(duration=5)
        fn = cached()(source.fetch)
        with anyio.move_on_after(1):
            await fn(1)
        assert await fn(1) == (1, 2)
        assert source.cancelled == 1

    async def test_task_group_cancellation(self) -> None:
        """Callers in a cancelled task group leave; the computation stops."""
        source = Source(duration=5)
        fn = cached()(source.fetch)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(fn, 1)
            await anyio.sleep(1)
            tg.cancel_scope.cancel()
        assert source.cancelled == 1
        assert fn.cache_info().in_flight == 0

    async def test_fail_after_around_a_shared_computation(self) -> None:
        """anyio.fail_after on one caller raises TimeoutError there only."""
        source = Source(duration=2)
        fn = cached()(source.fetch)

        async def hurried() -> Any:
            with anyio.fail_after(1):
                return await fn(1)

        results = await gather(hurried, lambda: fn(1))
        assert isinstance(results[0], TimeoutError)
        assert results[1] == (1, 1)

    async def test_cancel_scope_at_the_instant_of_the_outcome(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A caller whose scope is cancelled just as the outcome arrives gets
        it (the wait had completed), then its cancellation; nothing leaks."""
        source = Source(duration=1)
        fn = cached()(source.fetch)
        scopes: list[anyio.CancelScope] = []
        original = Flight.resolve

        def resolve_then_cancel(self: Flight, value: Any, error: Any) -> None:
            original(self, value, error)
            scopes[0].cancel()

        monkeypatch.setattr(Flight, "resolve", resolve_then_cancel)
        got: list[Any] = []

        async def joiner() -> None:
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                got.append(await fn(1))
                await anyio.sleep(0)
                got.append("not reached")

        assert await gather(lambda: fn(1), joiner) == [(1, 1), None]
        assert got == [(1, 1)]
        info = fn.cache_info()
        assert (info.misses, info.coalesced, info.in_flight, info.size) == (2, 1, 0, 1)

    async def test_computation_cancelled_from_outside(self) -> None:
        """If the computation itself is cancelled, its callers get brace.Cancelled."""
        import brace

        source = Source(duration=5)
        fn = cached()(source.fetch)

        async def cancel_it() -> None:
            await anyio.sleep(1)
            flight = next(iter(fn.policy._flights.values()))
            if flight.task is not None:
                flight.task.cancel()
            else:
                flight.scope.cancel()

        results = await gather(lambda: fn(1), cancel_it)
        assert isinstance(results[0], brace.Cancelled)
        assert "shared computation was cancelled" in str(results[0])
        assert await fn(1) == (1, 2)


@pytest.mark.asyncio
async def test_asyncio_timeout_and_task_cancel() -> None:
    """asyncio.timeout and Task.cancel on callers behave like anyio's scopes."""
    source = Source(duration=2)
    fn = cached()(source.fetch)
    loop = asyncio.get_running_loop()
    start = loop.time()
    other = asyncio.ensure_future(fn(1))
    cancelled = asyncio.ensure_future(fn(1))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            await fn(1)
    cancelled.cancel()
    assert await other == (1, 1)
    assert cancelled.cancelled()
    assert loop.time() - start == 2
    info = fn.cache_info()
    # The timed-out caller started it and left; `other` joined and got it.
    assert (info.misses, info.coalesced, info.computations) == (1, 1, 1)


@pytest.mark.asyncio
async def test_task_cancel_of_the_last_caller_joins_the_computation() -> None:
    """Plain asyncio: the last caller's Task.cancel() completes after the
    computation has unwound."""
    unwound: list[float] = []
    loop = asyncio.get_running_loop()

    async def slow(x: int) -> int:
        try:
            await asyncio.sleep(10)
        finally:
            unwound.append(loop.time())
        return x

    fn = cached()(slow)
    caller = asyncio.ensure_future(fn(1))
    await asyncio.sleep(1)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert unwound == [1.0]
    assert fn.cache_info().in_flight == 0


@pytest.mark.asyncio
async def test_task_cancelled_at_the_instant_of_the_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Task.cancel() as the outcome arrives: the cancellation wins, the value
    is kept for the others, and the cancelled caller is counted nowhere."""
    source = Source(duration=1)
    fn = cached()(source.fetch)
    starter = asyncio.ensure_future(fn(1))
    await asyncio.sleep(0)
    joiner = asyncio.ensure_future(fn(1))
    original = Flight.resolve

    def resolve_then_cancel(self: Flight, value: Any, error: Any) -> None:
        original(self, value, error)
        joiner.cancel()

    monkeypatch.setattr(Flight, "resolve", resolve_then_cancel)
    assert await starter == (1, 1)
    with pytest.raises(asyncio.CancelledError):
        await joiner
    info = fn.cache_info()
    assert (info.misses, info.coalesced, info.size) == (1, 0, 1)


@pytest.mark.anyio
async def test_refresh_cancelled_before_it_started() -> None:
    """aclose() right after a refresh was started: closed cleanly, no warning."""
    source = Source(duration=1)
    fn = cached(ttl=1, stale_while_revalidate=10)(source.fetch)
    await fn(1)
    await anyio.sleep(1.5)
    assert await fn(1) == (1, 1)  # starts a refresh...
    await fn.aclose()  # ...cancelled before its first step
    assert source.calls == [1]
    assert fn.cache_info().in_flight == 0


@pytest.mark.asyncio
async def test_a_waiting_caller_closed_instead_of_cancelled() -> None:
    """A caller coroutine closed mid-wait (as by garbage collection) gives up
    its place without awaiting anything; alone, it stops the computation."""
    source = Source(duration=5)
    fn = cached()(source.fetch)
    caller = fn(1)
    caller.send(None)  # up to its wait for the computation
    await asyncio.sleep(0)  # the computation starts
    caller.close()
    await asyncio.sleep(0)
    assert source.cancelled == 1
    await asyncio.sleep(0)  # its task's done callback: the computation has ended
    assert fn.cache_info().in_flight == 0


def test_system_exit_in_the_computation_releases_its_callers() -> None:
    """SystemExit inside the computation ends the loop; its callers are not
    left waiting for an outcome that will never come."""

    async def exits(x: int) -> int:
        await asyncio.sleep(1)
        raise SystemExit(3)

    fn = cached()(exits)
    outcome: list[BaseException] = []

    async def main() -> None:
        try:
            await fn(1)
        except BaseException as exc:
            outcome.append(exc)
            raise

    with (
        pytest.raises(SystemExit),
        asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner,
    ):
        runner.run(main())
    assert len(outcome) == 1
    assert fn.cache_info().in_flight == 0


# -- stale-while-revalidate ------------------------------------------------------


@pytest.mark.anyio
class TestStaleWhileRevalidate:
    """After the TTL, the stale value is served while one refresh runs."""

    async def test_stale_value_at_once_then_the_refreshed_one(self) -> None:
        """Past the TTL: stale at once, one refresh, then the new value."""
        source = Source(duration=1)
        fn = cached(ttl=10, stale_while_revalidate=5)(source.fetch)
        await fn(1)  # done at t=1, fresh until t=11
        await anyio.sleep(10)
        start = now()
        assert await fn(1) == (1, 1)  # stale, served at once
        assert await fn(1) == (1, 1)  # a second stale hit: no second refresh
        assert now() == start
        await anyio.sleep(1.5)  # the refresh ended at t=12
        assert await fn(1) == (1, 2)
        info = fn.cache_info()
        assert (info.stale, info.computations, info.hits) == (2, 2, 3)

    async def test_too_old_to_serve_waits_for_a_computation(self) -> None:
        """Past TTL + stale window, callers wait as on a miss."""
        source = Source(duration=1)
        fn = cached(ttl=10, stale_while_revalidate=5)(source.fetch)
        await fn(1)
        await anyio.sleep(15)
        start = now()
        assert await fn(1) == (1, 2)
        assert now() - start == 1

    async def test_a_caller_past_the_window_joins_the_running_refresh(self) -> None:
        """A refresh in flight is shared with callers who find nothing servable."""
        source = Source(duration=3)
        fn = cached(ttl=10, stale_while_revalidate=2)(source.fetch)
        await fn(1)  # fresh until 13, servable until 15
        await anyio.sleep(11)
        assert await fn(1) == (1, 1)  # t=14: stale; the refresh ends at 17
        await anyio.sleep(1.5)
        assert await fn(1) == (1, 2)  # t=15.5: joins the refresh
        assert now() == 17
        info = fn.cache_info()
        assert (info.computations, info.coalesced) == (2, 1)

    async def test_failed_refresh_keeps_the_stale_value_and_tells(self) -> None:
        """A refresh that raises: stale value kept, event emitted, retried next call."""
        heard: list[CacheRefreshFailed] = []
        local: list[_events.Event] = []
        source = Source(duration=1, errors=[])
        fn = cached(ttl=10, stale_while_revalidate=5, listeners=[local.append])(
            source.fetch
        )
        await fn(1)
        source.errors.append(ConnectionError("down"))
        await anyio.sleep(10)
        with _events.subscribe(heard.append, CacheRefreshFailed):
            assert await fn(1) == (1, 1)  # t=11: the refresh fails at t=12
            await anyio.sleep(1.5)
        assert len(heard) == 1
        event = heard[0]
        assert (event.name, event.key, event.exception_type) == (
            "Source.fetch",
            (1,),
            "ConnectionError",
        )
        assert local == heard
        assert await fn(1) == (1, 1)  # still stale: a new refresh starts
        await anyio.sleep(1.5)
        assert await fn(1) == (1, 3)
        assert fn.cache_info().refresh_failures == 1

    async def test_held_error_holds_back_refreshes(self) -> None:
        """With cache_errors_for, a failed refresh is not retried in that window."""
        source = Source(duration=1)
        fn = cached(ttl=10, stale_while_revalidate=20, cache_errors_for=5)(source.fetch)
        await fn(1)
        source.errors.append(ConnectionError("down"))
        await anyio.sleep(10)
        await fn(1)  # t=11: starts the refresh, which fails at t=12
        await anyio.sleep(2)
        assert await fn(1) == (1, 1)
        assert len(source.calls) == 2  # no refresh while the error is held
        await anyio.sleep(5)
        assert await fn(1) == (1, 1)  # t=18: the hold is over, a refresh runs
        await anyio.sleep(1.5)
        assert await fn(1) == (1, 3)

    async def test_aclose_stops_refreshes_and_waits(self) -> None:
        """aclose() cancels the running refresh, waits, and stops serving stale."""
        source = Source(duration=5)
        fn = cached(ttl=10, stale_while_revalidate=20)(source.fetch)
        await fn(1)  # t=5, fresh until 15
        await anyio.sleep(11)
        await fn(1)  # stale: the refresh runs from t=16
        await anyio.sleep(1)
        start = now()
        await fn.aclose()
        assert now() == start
        assert source.cancelled == 1
        assert fn.cache_info().in_flight == 0
        assert await fn(1) == (1, 3)  # no stale value now: computed while waiting
        assert now() - start == 5
        await fn.aclose()  # idempotent

    async def test_aclose_stops_every_refresh(self) -> None:
        """aclose() stops the refreshes of several keys and waits for them all."""
        source = Source(duration=3)
        fn = cached(ttl=10, stale_while_revalidate=20)(source.fetch)
        await gather(lambda: fn(1), lambda: fn(2))
        await anyio.sleep(10)
        await fn(1)
        await fn(2)
        await anyio.sleep(1)
        await fn.aclose()
        assert source.cancelled == 2
        assert fn.cache_info().in_flight == 0

    async def test_aclose_leaves_a_joined_refresh_to_its_caller(self) -> None:
        """A refresh a caller waits for is finished for that caller, not cancelled."""
        source = Source(duration=4)
        fn = cached(ttl=10, stale_while_revalidate=1)(source.fetch)
        await fn(1)  # t=4, fresh until 14, servable until 15
        await anyio.sleep(10.5)
        await fn(1)  # stale: refresh until 18.5

        async def late() -> Any:
            await anyio.sleep(1)  # t=15.5: too old, joins the refresh
            return await fn(1)

        async def close() -> None:
            await anyio.sleep(2)
            await fn.aclose()

        assert await gather(late, close) == [(1, 2), None]
        assert now() == 18.5
        assert source.cancelled == 0

    async def test_no_stale_window_means_no_stale_values(self) -> None:
        """Without stale_while_revalidate an expired value is never served."""
        source = Source(duration=1)
        fn = cached(ttl=2)(source.fetch)
        await fn(1)
        await anyio.sleep(2)
        assert await fn(1) == (1, 2)
        assert fn.cache_info().stale == 0


def test_pending_refresh_at_shutdown_leaves_no_warning() -> None:
    """asyncio.run ending mid-refresh cancels it quietly: no orphan task,
    no "Task was destroyed but it is pending" (warnings are errors here)."""
    source = Source(duration=100)
    fn = cached(ttl=1, stale_while_revalidate=10)(source.fetch)

    async def main() -> Any:
        source.duration = 0
        await fn(1)
        source.duration = 100
        await asyncio.sleep(1)
        value = await fn(1)  # stale: starts a refresh...
        await asyncio.sleep(1)  # ...which is running when the loop ends
        return value

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        assert runner.run(main()) == (1, 1)
    assert (len(source.calls), source.cancelled) == (2, 1)
    assert fn.cache_info().in_flight == 0


def test_pending_refresh_at_trio_shutdown() -> None:
    """trio.run ending mid-refresh cancels the system task quietly."""
    import trio
    import trio.testing

    source = Source(duration=100)
    fn = cached(ttl=1, stale_while_revalidate=10)(source.fetch)

    async def main() -> Any:
        await fn(1)  # t=100, fresh until 101
        await trio.sleep(1.5)
        value = await fn(1)  # stale: a refresh starts
        await trio.sleep(1)
        return value

    clock = trio.testing.MockClock(autojump_threshold=0)
    assert trio.run(main, clock=clock) == (1, 1)
    assert source.cancelled == 1
    assert fn.cache_info().in_flight == 0


# -- negative caching -------------------------------------------------------------


@pytest.mark.anyio
class TestNegativeCaching:
    """cache_errors_for holds an exception back for a while."""

    async def test_error_is_raised_again_without_a_call(self) -> None:
        """Within the window the held error is raised; after it, a new call."""
        source = Source(errors=[ConnectionError("down")])
        fn = cached(cache_errors_for=5)(source.fetch)
        with pytest.raises(ConnectionError) as first:
            await fn(1)
        await anyio.sleep(4.9)
        with pytest.raises(ConnectionError) as second:
            await fn(1)
        assert second.value is first.value
        assert len(source.calls) == 1
        await anyio.sleep(0.1)
        assert await fn(1) == (1, 2)
        info = fn.cache_info()
        assert (info.errors, info.misses) == (1, 3)

    async def test_invalidate_drops_the_held_error(self) -> None:
        """invalidate() forgets a held error too."""
        source = Source(errors=[ConnectionError("down")])
        fn = cached(cache_errors_for=60)(source.fetch)
        with pytest.raises(ConnectionError):
            await fn(1)
        assert fn.invalidate(1)
        assert await fn(1) == (1, 2)

    async def test_clear_drops_held_errors(self) -> None:
        """cache_clear() forgets held errors."""
        source = Source(errors=[ConnectionError("down")])
        fn = cached(cache_errors_for=60)(source.fetch)
        with pytest.raises(ConnectionError):
            await fn(1)
        fn.cache_clear()
        assert await fn(1) == (1, 2)

    async def test_only_failures_are_held(self) -> None:
        """A success is cached as usual and not affected by the error window."""
        source = Source()
        fn = cached(cache_errors_for=60, ttl=1)(source.fetch)
        await fn(1)
        await anyio.sleep(1)
        assert await fn(1) == (1, 2)


# -- methods ---------------------------------------------------------------------


class Service:
    """A class with cached methods of every kind."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    @cached()
    async def load(self, x: int) -> tuple[str, int, int]:
        """Load x."""
        self.calls += 1
        return (self.name, x, self.calls)


@pytest.mark.anyio
class TestMethods:
    """Per-instance entries, held weakly; classmethods and staticmethods."""

    async def test_each_instance_has_its_own_entries(self) -> None:
        """Two instances, same argument: two entries, each computed once."""
        a, b = Service("a"), Service("b")
        assert await a.load(1) == ("a", 1, 1)
        assert await b.load(1) == ("b", 1, 1)
        assert await a.load(1) == ("a", 1, 1)
        assert (a.calls, b.calls) == (1, 1)

    async def test_calls_through_the_class_share_the_instances_entries(self) -> None:
        """Service.load(s, 1) and s.load(1) are the same entry."""
        s = Service("s")
        await s.load(1)
        assert await Service.load(s, 1) == ("s", 1, 1)
        assert Service.load.invalidate(s, 1)
        assert await s.load(1) == ("s", 1, 2)
        assert s.load.invalidate(1)
        assert not s.load.invalidate(1)

    async def test_the_instance_is_collectable_after_use(self) -> None:
        """Caching never keeps an instance alive."""
        s = Service("gone")
        await s.load(1)
        ref = weakref.ref(s)
        del s
        gc.collect()
        assert ref() is None
        assert len(Service.load._instances) == 0

    async def test_bound_function_looks_like_the_method(self) -> None:
        """The bound object keeps the metadata; __wrapped__ is the bound method."""
        s = Service("s")
        assert s.load.__name__ == "load"
        assert s.load.__doc__ == "Load x."
        assert s.load.__wrapped__ == Service.load.__wrapped__.__get__(s)
        assert isinstance(s.load, CachedFunction)

    async def test_instances_must_be_weakly_referenceable(self) -> None:
        """A class with __slots__ and no __weakref__ gets a clear error."""

        class Slotted:
            __slots__ = ()

            @cached()
            async def get(self) -> int:
                return 1

        with pytest.raises(TypeError, match="add '__weakref__' to its __slots__"):
            await Slotted().get()

    async def test_key_function_on_a_method_gets_self(self) -> None:
        """With key=, the key function sees self and owns the keying."""

        class Repo:
            def __init__(self, tenant: str) -> None:
                self.tenant = tenant

            @cached(key=lambda self, x: (self.tenant, x))
            async def get(self, x: int) -> str:
                return f"{self.tenant}:{x}"

        assert await Repo("t1").get(1) == "t1:1"
        assert Repo.get.cache.keys() == [("t1", 1)]
        assert await Repo("t1").get(1) == "t1:1"  # another instance, same key
        assert Repo.get.cache_info().hits == 1

    async def test_classmethod(self) -> None:
        """A cached classmethod (@cached() above @classmethod) keys per class.

        (mypy does not apply classmethod binding to decorated objects, so it
        sees the cls parameter: hence the ignores.)
        """

        class Base:
            calls = 0

            @cached()
            @classmethod
            async def kind(cls, x: int) -> tuple[str, int]:
                Base.calls += 1
                return (cls.__name__, x)

        class Derived(Base):
            pass

        assert await Base.kind(1) == ("Base", 1)  # type: ignore[call-arg,arg-type]
        assert await Derived.kind(1) == ("Derived", 1)  # type: ignore[call-arg,arg-type]
        assert await Base().kind(1) == ("Base", 1)
        assert Base.calls == 2
        info = Base.kind.cache_info()
        assert (info.hits, info.computations) == (1, 2)
        assert Base.kind.invalidate(1)  # type: ignore[call-arg,arg-type]
        assert await Base.kind(1) == ("Base", 1)  # type: ignore[call-arg,arg-type]
        assert Base.calls == 3
        assert Base.__dict__["kind"].__func__.__name__ == "kind"

    async def test_staticmethod(self) -> None:
        """A cached staticmethod is a plain cached function on the class."""

        class Maths:
            calls = 0

            @cached()
            @staticmethod
            async def double(x: int) -> int:
                Maths.calls += 1
                return 2 * x

        assert await Maths.double(21) == 42
        # mypy binds the instance, as for a method (see test_classmethod).
        assert await Maths().double(21) == 42  # type: ignore[call-arg]
        assert Maths.calls == 1
        assert Maths.__dict__["double"].__func__.__name__ == "double"
        assert Maths.double.invalidate(21)

    async def test_a_cached_function_stored_later_on_a_class_binds(self) -> None:
        """Assigned to a class after its creation, it still binds per instance."""

        class Late:
            pass

        async def get(self: Late, x: int) -> tuple[int, int]:
            return (id(self), x)

        Late.get = cached()(get)  # type: ignore[attr-defined]
        a = Late()
        assert await a.get(1) == (id(a), 1)  # type: ignore[attr-defined]
        assert await a.get(1) == (id(a), 1)  # type: ignore[attr-defined]
        assert Late.get.cache_info().hits == 1  # type: ignore[attr-defined]

    async def test_aclose_through_a_method(self) -> None:
        """Management methods work on the bound object too."""
        s = Service("s")
        await s.load(1)
        await s.load.aclose()
        s.load.cache_clear()
        assert s.load.cache_info().size == 0


# -- the example -----------------------------------------------------------------


def test_the_caching_example_runs_on_virtual_time(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/caching.py runs, fast, and shows what it says it shows."""
    import importlib.util
    import sys
    from pathlib import Path

    import brace
    from brace import _cached_function

    # Until the names are exported from brace itself.
    for name, value in {
        "cached": cached,
        "BoundedCache": BoundedCache,
        "CacheRefreshFailed": CacheRefreshFailed,
        "CachedFunction": _cached_function.CachedFunction,
    }.items():
        if not hasattr(brace, name):
            monkeypatch.setattr(brace, name, value, raising=False)
    path = Path(__file__).resolve().parent.parent / "examples" / "caching.py"
    spec = importlib.util.spec_from_file_location("_brace_example_caching", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(module.main())
    out = capsys.readouterr().out
    assert "100 concurrent requests -> 1 call to the database" in out
    assert "1000 more calls answered from the cache in 0.0 s" in out
    assert "'user 1 (v1)': stale value served at once (waited 0.0 s)" in out
    assert "'user 1 (v2)' once the refresh is done" in out
    assert "refresh failed (ConnectionError); still serving the stale value" in out
    assert "1 call to the database for 3 attempts" in out
    assert "after 5 s: 'user 7 (v2)'" in out
    assert "'eu: user 3 (v2)' / 'us: user 3 (v2)'" in out
    assert "keys, least recently used first: ['alice', 'carol']" in out
    assert "30 s later: []" in out
    assert "statistics: 1 hit, 1 eviction, 2 expirations" in out


@pytest.mark.anyio
async def test_a_callers_retry_deadline_does_not_bind_the_shared_computation() -> None:
    """The computation starts without the caller's attempt and deadline.

    Before the fix it inherited them, so its own Timeout(10) was clipped to
    the starting caller's 1 s deadline and failed every caller of the key.
    """
    import brace

    seen: list[object] = []

    @cached()
    async def load(key: int) -> int:
        seen.append(brace.current_attempt())
        async with brace.Timeout(10):
            await anyio.sleep(2)
        return key

    @brace.retry(on=OSError, deadline=1)
    async def impatient() -> int:
        assert brace.current_attempt() is not None
        return await load(7)

    start = now()
    assert await impatient() == 7
    assert now() - start == 2
    assert seen == [None]
