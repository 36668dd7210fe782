"""Tests for brace.KeyedRateLimiter: per-key limits in bounded memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import tracemalloc
from typing import Any

import anyio
import pytest

import brace
from brace._keyed import KeyedRateLimiter
from brace._ratelimit import RateLimiter
from brace.testing import VirtualTimeEventLoop

pytestmark = pytest.mark.anyio


def _now() -> float:
    return anyio.current_time()


def _at(expected: float) -> Any:
    return pytest.approx(expected, abs=1e-9)


def _per_second(burst: int = 1, **kwargs: Any) -> KeyedRateLimiter[Any]:
    return KeyedRateLimiter(lambda _: RateLimiter(1, burst=burst), **kwargs)


async def _settle() -> None:
    await anyio.wait_all_tasks_blocked()


class TestConstruction:
    """Arguments are checked at once."""

    def test_defaults(self) -> None:
        """max_keys defaults to 10,000 and keys never idle out by default."""
        keyed = _per_second()
        assert (keyed.max_keys, keyed.idle_ttl, keyed.name) == (10_000, None, None)
        assert len(keyed) == 0
        assert repr(keyed) == "<KeyedRateLimiter keys=0 max_keys=10000>"
        assert repr(_per_second(name="users", max_keys=5)) == (
            "<KeyedRateLimiter 'users' keys=0 max_keys=5>"
        )
        s = keyed.statistics()
        assert (s.keys, s.max_keys, s.waiting, s.acquired, s.rejected) == (
            0,
            10_000,
            0,
            0,
            0,
        )
        assert (s.evictions, s.expirations) == (0, 0)

    def test_factory_must_be_callable(self) -> None:
        """A factory that cannot be called is a TypeError."""
        with pytest.raises(TypeError, match="factory must be a callable"):
            KeyedRateLimiter(42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="lambda key: RateLimiter"):
            KeyedRateLimiter(RateLimiter(1))  # type: ignore[arg-type]

    @pytest.mark.parametrize("max_keys", [0, -1, True, 2.5])
    def test_bad_max_keys(self, max_keys: Any) -> None:
        """max_keys must be an int >= 1."""
        with pytest.raises(ValueError, match="max_keys"):
            _per_second(max_keys=max_keys)

    def test_idle_ttl(self) -> None:
        """idle_ttl is a duration > 0."""
        assert _per_second(idle_ttl=dt.timedelta(minutes=1)).idle_ttl == 60.0
        with pytest.raises(ValueError, match="idle_ttl"):
            _per_second(idle_ttl=0)
        with pytest.raises(TypeError, match="idle_ttl"):
            _per_second(idle_ttl="1m")

    async def test_factory_must_return_a_limiter(self) -> None:
        """A factory returning something else fails on first use, storing nothing."""
        keyed: KeyedRateLimiter[str] = KeyedRateLimiter(lambda key: key)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="must return a RateLimiter"):
            keyed.try_acquire("a")
        with pytest.raises(TypeError, match="must return a RateLimiter"):
            keyed.retry_after("a")
        assert len(keyed) == 0


class TestPerKey:
    """Each key has its own limiter."""

    async def test_keys_are_independent(self) -> None:
        """Draining one key leaves the others alone."""
        keyed = _per_second()
        assert keyed.try_acquire("a")
        assert not keyed.try_acquire("a")
        assert keyed.try_acquire("b")
        assert keyed.retry_after("a") == _at(1.0)
        assert keyed.retry_after("c") == 0.0
        assert "c" not in keyed  # asking does not store it
        assert ("a" in keyed, "b" in keyed, len(keyed)) == (True, True, 2)
        s = keyed.statistics()
        assert (s.keys, s.acquired, s.rejected) == (2, 2, 1)

    async def test_acquire_waits_per_key(self) -> None:
        """acquire() waits for its own key only, FIFO within the key."""
        keyed = _per_second(burst=2)
        granted: list[tuple[str, float]] = []

        async def req(key: str, cost: int) -> None:
            await keyed.acquire(key, cost)
            granted.append((key, _now()))

        async with anyio.create_task_group() as tg:
            for key, cost in [("a", 2), ("a", 2), ("b", 1), ("a", 1)]:
                tg.start_soon(req, key, cost)
                await _settle()
            assert keyed.statistics().waiting == 2
        assert granted == [("a", 0), ("b", 0), ("a", _at(2.0)), ("a", _at(3.0))]
        s = keyed.statistics()
        assert (s.keys, s.waiting, s.acquired) == (2, 0, 4)

    async def test_costs_are_checked(self) -> None:
        """Bad costs raise as they do on a RateLimiter."""
        keyed = _per_second(burst=2)
        with pytest.raises(ValueError, match="capacity of 2"):
            await keyed.acquire("a", 3)
        with pytest.raises(TypeError):
            keyed.try_acquire("a", 1.0)  # type: ignore[arg-type]

    async def test_max_wait_counts_as_rejected(self) -> None:
        """A key's max_wait raises RateLimited, counted by the keyed limiter."""
        keyed: KeyedRateLimiter[str] = KeyedRateLimiter(
            lambda _: RateLimiter(1, max_wait=0.5)
        )
        await keyed.acquire("a")
        with pytest.raises(brace.RateLimited):
            await keyed.acquire("a")
        s = keyed.statistics()
        assert (s.keys, s.waiting, s.acquired, s.rejected) == (1, 0, 1, 1)

    async def test_cancelled_waiter_leaves_no_trace(self) -> None:
        """A waiter cancelled on a key unpins it and takes nothing."""
        keyed = _per_second()
        await keyed.acquire("a")
        with anyio.move_on_after(0.5):
            await keyed.acquire("a")
        token = brace.CancelToken()
        token.cancel()
        with pytest.raises(brace.Cancelled):
            await keyed.acquire("a", cancel=token)
        s = keyed.statistics()
        assert (s.keys, s.waiting, s.acquired, s.rejected) == (1, 0, 1, 0)
        assert keyed.retry_after("a") == _at(0.5)


class TestEviction:
    """The LRU bound, and what forgetting a key can and cannot grant."""

    async def test_least_recently_used_goes(self) -> None:
        """With max_keys reached, a new key evicts the least recently used."""
        keyed = _per_second(max_keys=2)
        keyed.try_acquire("a")
        keyed.try_acquire("b")
        keyed.try_acquire("a")  # a is now the most recent
        keyed.try_acquire("c")
        assert ("a" in keyed, "b" in keyed, "c" in keyed) == (True, False, True)
        assert keyed.statistics().evictions == 1

    async def test_eviction_grants_at_most_one_burst(self) -> None:
        """A draining key forgotten and back gets one full bucket, no more."""
        keyed = _per_second(burst=3, max_keys=1)
        per_second = []
        for second in range(4):
            per_second.append(sum(keyed.try_acquire("a") for _ in range(10)))
            keyed.try_acquire(f"other-{second}")  # evicts "a"
            await anyio.sleep(1)
        # Kept, "a" would get 3, 1, 1, 1. Forgotten each second, it comes
        # back with a full bucket: one burst each time, never more.
        assert per_second == [3, 3, 3, 3]
        assert keyed.statistics().evictions == 7

    async def test_evicting_a_full_bucket_changes_nothing(self) -> None:
        """An idle key (its bucket full again) is the same forgotten or kept."""
        small = _per_second(burst=2, max_keys=1)
        large = _per_second(burst=2, max_keys=100)
        outcomes: dict[int, list[bool]] = {1: [], 100: []}
        for step in range(6):
            for keyed in (small, large):
                result = [keyed.try_acquire("a") for _ in range(3)]
                keyed.try_acquire(f"noise-{step}")
                outcomes[keyed.max_keys].extend(result)
            await anyio.sleep(2)  # a full refill
        assert outcomes[1] == outcomes[100]
        assert small.statistics().evictions > 0
        assert large.statistics().evictions == 0

    async def test_key_with_waiters_is_never_evicted(self) -> None:
        """Under key churn, a key that tasks wait on keeps its limiter."""
        keyed = _per_second(max_keys=1)
        await keyed.acquire("busy")
        granted: list[float] = []

        async def wait_busy() -> None:
            await keyed.acquire("busy")
            granted.append(_now())

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_busy)
            tg.start_soon(wait_busy)
            await _settle()
            for i in range(50):
                keyed.try_acquire(i)
            assert "busy" in keyed
            assert len(keyed) == 2  # max_keys, plus the key with waiters
            assert keyed.statistics().waiting == 2
            assert not keyed.try_acquire("busy")  # same limiter, still busy
            assert keyed.retry_after("busy") == _at(3.0)  # behind both waiters
        assert granted == [_at(1.0), _at(2.0)]
        # Back in the cache as the most recent key: the churn key went.
        assert ("busy" in keyed, len(keyed)) == (True, 1)
        assert keyed.retry_after("busy") == _at(1.0)


class TestIdleTTL:
    """Keys unused for idle_ttl are dropped, as if evicted."""

    async def test_idle_key_is_dropped(self) -> None:
        """A key unused for idle_ttl is gone, and comes back full."""
        keyed = _per_second(burst=2, idle_ttl=10)
        assert keyed.try_acquire("a", 2)
        await anyio.sleep(9.5)
        assert "a" in keyed
        await anyio.sleep(0.5)
        assert "a" not in keyed
        assert len(keyed) == 0
        assert keyed.statistics().expirations == 1

    async def test_use_restarts_the_clock(self) -> None:
        """Every use of a key restarts its idle clock."""
        keyed = _per_second(idle_ttl=3)
        for _ in range(5):
            keyed.try_acquire("a")
            await anyio.sleep(2)
        assert "a" in keyed
        assert keyed.statistics().expirations == 0

    async def test_lookup_of_an_expired_key(self) -> None:
        """Using a key past its idle_ttl gives it a fresh limiter."""
        keyed = KeyedRateLimiter(lambda _: RateLimiter(1, per=100), idle_ttl=10)
        assert keyed.try_acquire("a")
        assert not keyed.try_acquire("a")
        await anyio.sleep(10)
        assert keyed.try_acquire("a")  # a fresh bucket, though 100 s had not passed
        assert keyed.statistics().expirations == 1

    async def test_new_keys_sweep_idle_ones(self) -> None:
        """New keys drop idle ones from memory, not only from view."""
        keyed = _per_second(idle_ttl=1)
        for i in range(100):
            keyed.try_acquire(i)
        await anyio.sleep(2)
        for i in range(100, 160):
            keyed.try_acquire(i)
        assert len(keyed._cache) == 60
        assert keyed.statistics().expirations == 100

    async def test_waiting_keys_do_not_expire(self) -> None:
        """A key whose waiter waits longer than idle_ttl keeps its limiter."""
        keyed = KeyedRateLimiter(lambda _: RateLimiter(1, per=10), idle_ttl=2)
        await keyed.acquire("a")
        async with anyio.create_task_group() as tg:
            tg.start_soon(keyed.acquire, "a")
            await anyio.sleep(5)
            assert "a" in keyed
            assert not keyed.try_acquire("a")
        assert _now() == _at(10.0)
        assert keyed.statistics().expirations == 0
        assert keyed.retry_after("a") == _at(10.0)


async def test_many_keys_stay_bounded() -> None:
    """Twenty thousand distinct keys through max_keys=500 hold 500."""
    keyed = _per_second(max_keys=500)
    for i in range(20_000):
        assert keyed.try_acquire(i)
    s = keyed.statistics()
    assert (s.keys, s.evictions, s.acquired) == (500, 19_500, 20_000)


@pytest.mark.slow
def test_a_million_keys_in_bounded_memory() -> None:
    """1,000,000 distinct keys through max_keys=10,000: memory stays flat."""

    async def main() -> tuple[int, int, int]:
        keyed = KeyedRateLimiter(lambda _: RateLimiter(5), max_keys=10_000)
        try_acquire = keyed.try_acquire
        for i in range(800_000):
            try_acquire(i)
        gc.collect()
        tracemalloc.start()
        try:
            for i in range(800_000, 1_000_000):
                try_acquire(i)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return len(keyed), current, peak

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        keys, current, peak = runner.run(main())
    assert keys == 10_000
    # The last 200,000 keys replaced the cache's 10,000 limiters: what they
    # left allocated is one cache's worth (about 500 bytes a key), not 200,000.
    assert current < 10_000 * 1_000
    assert peak < 10_000 * 1_200
