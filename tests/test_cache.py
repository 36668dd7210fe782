"""Tests for BoundedCache: LRU, TTL on the loop's clock, counters, events."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import math
import random
import time
import tracemalloc
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from brace import _events
from brace._cache import BoundedCache, CacheStatistics
from brace._events import CacheEvicted
from brace.testing import VirtualTimeEventLoop


class Clock:
    """A hand-driven clock for ``timer=``."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def stats(cache: BoundedCache[Any, Any]) -> tuple[int, int, int, int, int]:
    """(hits, misses, evictions, expirations, size)."""
    s = cache.statistics()
    return (s.hits, s.misses, s.evictions, s.expirations, s.size)


# -- construction -------------------------------------------------------------


class TestConstruction:
    """Bad configuration fails at once, with a message that says what to do."""

    @pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, "3", None])
    def test_maxsize_must_be_a_positive_int(self, maxsize: Any) -> None:
        """maxsize is required and must be an int >= 1."""
        with pytest.raises(ValueError, match="maxsize must be an int >= 1"):
            BoundedCache(maxsize)

    @pytest.mark.parametrize("ttl", [0, -1, math.nan, math.inf, dt.timedelta(0)])
    def test_ttl_must_be_positive_and_finite(self, ttl: Any) -> None:
        """A TTL of zero, below zero or not finite is refused."""
        with pytest.raises(ValueError, match="ttl"):
            BoundedCache(10, ttl=ttl)

    @pytest.mark.parametrize("ttl", ["5", True, [1]])
    def test_ttl_must_be_a_duration(self, ttl: Any) -> None:
        """A TTL that is not seconds or a timedelta is a TypeError."""
        with pytest.raises(TypeError, match="ttl must be seconds"):
            BoundedCache(10, ttl=ttl)

    def test_durations_accept_timedelta(self) -> None:
        """TTL and jitter take timedeltas and store float seconds."""
        cache: BoundedCache[str, int] = BoundedCache(
            10, ttl=dt.timedelta(minutes=1), ttl_jitter=dt.timedelta(seconds=6)
        )
        assert (cache.ttl, cache.ttl_jitter, cache.maxsize) == (60.0, 6.0, 10)
        assert BoundedCache(1).ttl is None

    def test_jitter_must_not_be_negative(self) -> None:
        """Jitter only lengthens TTLs: a negative one is refused."""
        with pytest.raises(ValueError, match="ttl_jitter"):
            BoundedCache(10, ttl=1, ttl_jitter=-1)

    def test_timer_must_be_callable(self) -> None:
        """timer= is a clock function."""
        with pytest.raises(TypeError, match="timer must be a callable"):
            BoundedCache(10, timer=5.0)  # type: ignore[arg-type]

    def test_rng_must_be_a_random(self) -> None:
        """rng= needs a random() method."""
        with pytest.raises(TypeError, match=r"rng must be a random\.Random"):
            BoundedCache(10, rng=42)  # type: ignore[arg-type]

    def test_eviction_events_must_be_a_bool(self) -> None:
        """eviction_events is a flag, not a truthy value."""
        with pytest.raises(TypeError, match="eviction_events must be True or False"):
            BoundedCache(10, eviction_events=1)  # type: ignore[arg-type]

    def test_listeners_need_eviction_events(self) -> None:
        """Listeners on a cache whose events are off would never hear anything."""
        with pytest.raises(ValueError, match="eviction_events=True"):
            BoundedCache(10, listeners=[print])

    def test_listeners_must_be_callable(self) -> None:
        """Each listener must be callable."""
        with pytest.raises(TypeError, match="listeners must be callables"):
            BoundedCache(10, eviction_events=True, listeners=[1])  # type: ignore[list-item]

    def test_constructible_and_usable_outside_a_loop(self) -> None:
        """No running loop is needed: outside one, TTLs run on time.monotonic."""
        cache: BoundedCache[str, int] = BoundedCache(2, ttl=60)
        cache.set("a", 1)
        assert cache.get("a") == 1
        assert "a" in cache
        assert cache._clock is time.monotonic

    def test_subscriptable_for_types(self) -> None:
        """BoundedCache[K, V] works at runtime too (for annotations and aliases)."""
        cache = BoundedCache[str, int](3)
        cache.set("x", 1)
        assert cache.get("x") == 1

    def test_repr_names_size_and_ttl(self) -> None:
        """The repr says what the cache holds."""
        cache: BoundedCache[str, int] = BoundedCache(5, ttl=2, name="users")
        cache.set("a", 1)
        assert repr(cache) == "<BoundedCache 'users' size=1/5 ttl=2>"
        assert repr(BoundedCache(3)) == "<BoundedCache size=0/3>"


# -- the mapping --------------------------------------------------------------


class TestMapping:
    """get, set, pop, clear, in, len and keys."""

    def test_get_set_and_default(self) -> None:
        """get returns the value, or the default (None unless given)."""
        cache: BoundedCache[str, int] = BoundedCache(3)
        assert cache.get("a") is None
        assert cache.get("a", 7) == 7
        cache.set("a", 1)
        cache.set("a", 2)
        assert cache.get("a") == 2
        assert len(cache) == 1

    def test_pop_is_like_dict_pop(self) -> None:
        """pop returns and removes; a missing key raises unless a default is given."""
        cache: BoundedCache[str, int] = BoundedCache(3)
        cache.set("a", 1)
        assert cache.pop("a") == 1
        assert "a" not in cache
        assert cache.pop("a", None) is None
        with pytest.raises(KeyError):
            cache.pop("a")

    def test_clear_and_keys(self) -> None:
        """keys() is a snapshot, least recently used first; clear() empties."""
        cache: BoundedCache[int, str] = BoundedCache(5)
        for k in (3, 1, 2):
            cache.set(k, str(k))
        keys = cache.keys()
        assert keys == [3, 1, 2]
        cache.get(3)
        assert keys == [3, 1, 2]
        assert cache.keys() == [1, 2, 3]
        cache.clear()
        assert (len(cache), cache.keys()) == (0, [])

    def test_none_is_a_value(self) -> None:
        """A cached None is a hit, told apart from a miss by a default."""
        cache: BoundedCache[str, None] = BoundedCache(2)
        cache.set("a", None)
        missing = object()
        assert cache.get("a", missing) is None
        assert cache.statistics().hits == 1


class TestLRU:
    """The size bound evicts the least recently used entry."""

    def test_evicts_least_recently_used(self) -> None:
        """A lookup protects an entry; the oldest untouched one goes."""
        cache: BoundedCache[str, int] = BoundedCache(2)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.get("a")
        cache.set("c", 3)
        assert cache.keys() == ["a", "c"]
        assert stats(cache) == (1, 0, 1, 0, 2)

    def test_contains_does_not_touch(self) -> None:
        """``in`` is not a use: it changes neither order nor counters."""
        cache: BoundedCache[str, int] = BoundedCache(2)
        cache.set("a", 1)
        cache.set("b", 2)
        assert "a" in cache
        cache.set("c", 3)
        assert cache.keys() == ["b", "c"]
        assert stats(cache) == (0, 0, 1, 0, 2)

    def test_overwrite_makes_most_recent(self) -> None:
        """Setting an existing key refreshes it in LRU order without evicting."""
        cache: BoundedCache[str, int] = BoundedCache(2)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.set("a", 10)
        cache.set("c", 3)
        assert cache.keys() == ["a", "c"]
        assert cache.get("a") == 10

    def test_maxsize_one(self) -> None:
        """A cache of one keeps the last value set."""
        cache: BoundedCache[int, int] = BoundedCache(1)
        for i in range(5):
            cache.set(i, i)
        assert cache.keys() == [4]
        assert cache.statistics().evictions == 4


class TestTTL:
    """Expiry, on an injected clock here (the loop's clock further down)."""

    def test_entry_lives_until_its_ttl(self) -> None:
        """Fresh until exactly ttl seconds have passed, then gone."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(5, ttl=10, timer=clock)
        cache.set("a", 1)
        clock.advance(9.999)
        assert cache.get("a") == 1
        clock.advance(0.001)
        assert "a" not in cache
        assert cache.get("a") is None
        assert stats(cache) == (1, 1, 0, 1, 0)

    def test_per_entry_ttl_overrides_the_default(self) -> None:
        """set(ttl=) gives one entry its own TTL; None keeps the default."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(5, ttl=10, timer=clock)
        cache.set("short", 1, ttl=1)
        cache.set("long", 2, ttl=dt.timedelta(seconds=100))
        cache.set("default", 3, ttl=None)
        clock.advance(5)
        assert cache.keys() == ["long", "default"]
        clock.advance(10)
        assert cache.keys() == ["long"]

    def test_per_entry_ttl_without_a_default(self) -> None:
        """A cache without a TTL keeps entries, except those set with one."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(5, timer=clock)
        cache.set("forever", 1)
        cache.set("brief", 2, ttl=1)
        clock.advance(1e9)
        assert cache.keys() == ["forever"]

    @pytest.mark.parametrize("ttl", [0, -1, "1"])
    def test_per_entry_ttl_is_validated(self, ttl: Any) -> None:
        """set(ttl=) rejects what the constructor rejects."""
        cache: BoundedCache[str, int] = BoundedCache(5)
        with pytest.raises((ValueError, TypeError), match="ttl"):
            cache.set("a", 1, ttl=ttl)

    def test_expired_entries_go_before_fresh_ones_are_evicted(self) -> None:
        """At the size bound, an expired entry makes room, not the LRU one."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(2, timer=clock)
        cache.set("old", 1)
        cache.set("brief", 2, ttl=1)
        clock.advance(2)
        cache.set("new", 3)
        assert cache.keys() == ["old", "new"]
        assert stats(cache) == (0, 0, 0, 1, 2)

    def test_pop_of_an_expired_entry(self) -> None:
        """An expired entry pops as missing, and counts as an expiration."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(2, ttl=1, timer=clock)
        cache.set("a", 1)
        clock.advance(1)
        assert cache.pop("a", "gone") == "gone"
        with pytest.raises(KeyError):
            cache.pop("a")
        assert cache.statistics().expirations == 1

    def test_counts_do_not_depend_on_when_the_cache_looks(self) -> None:
        """Every entry that expired while cached counts once, whatever the calls."""
        clock = Clock()
        cache: BoundedCache[int, int] = BoundedCache(10, ttl=1, timer=clock)
        for i in range(5):
            cache.set(i, i)
        clock.advance(1)
        cache.get(0)  # found expired
        cache.set(1, 1)  # overwrites an expired entry
        cache.clear()  # the other three expired before the clear
        assert stats(cache) == (0, 1, 0, 5, 0)

    def test_jitter_spreads_expiries_reproducibly(self) -> None:
        """Each TTL is lengthened by up to ttl_jitter, drawn from rng."""
        clock = Clock()

        def expiries(seed: int) -> list[float]:
            cache: BoundedCache[int, int] = BoundedCache(
                100, ttl=10, ttl_jitter=5, timer=clock, rng=random.Random(seed)
            )
            for i in range(50):
                cache.set(i, i)
            return [cache._data[i].expires for i in range(50)]

        first = expiries(1)
        assert first == expiries(1)
        assert all(10 <= e <= 15 for e in first)
        assert len(set(first)) == 50

    def test_jitter_applies_to_per_entry_ttls(self) -> None:
        """A per-entry TTL is jittered like the default."""
        cache: BoundedCache[int, int] = BoundedCache(
            5, ttl_jitter=2, timer=Clock(), rng=random.Random(3)
        )
        cache.set(1, 1, ttl=1)
        assert 1 < cache._data[1].expires <= 3

    def test_jitter_without_rng_uses_the_random_module(self) -> None:
        """With no rng, jitter draws from the random module."""
        random.seed(7)
        cache: BoundedCache[int, int] = BoundedCache(
            5, ttl=1, ttl_jitter=1, timer=Clock()
        )
        cache.set(1, 1)
        random.seed(7)
        assert cache._data[1].expires == 1 + random.random()

    def test_heap_stays_bounded_under_rewrites(self) -> None:
        """Rewriting keys leaves stale heap items, compacted before they pile up."""
        clock = Clock()
        cache: BoundedCache[int, int] = BoundedCache(10, ttl=100, timer=clock)
        for i in range(10_000):
            cache.set(i % 3, i)
        assert len(cache._heap) <= 2 * 3 + 64 + 1
        assert cache.keys() == [1, 2, 0]  # 9,999 % 3 == 0 was set last


class TestStatistics:
    """The snapshot, hit rate and reset."""

    def test_snapshot_and_hit_rate(self) -> None:
        """statistics() is a frozen snapshot; hit_rate is hits over lookups."""
        cache: BoundedCache[str, int] = BoundedCache(4)
        assert cache.statistics().hit_rate == 0.0
        cache.set("a", 1)
        for key in ("a", "a", "a", "b"):
            cache.get(key)
        snapshot = cache.statistics()
        assert snapshot == CacheStatistics(
            hits=3,
            misses=1,
            evictions=0,
            expirations=0,
            size=1,
            maxsize=4,
            hit_rate=0.75,
        )
        with pytest.raises(AttributeError):
            snapshot.hits = 0  # type: ignore[misc]

    def test_reset_statistics_keeps_entries(self) -> None:
        """reset_statistics() zeroes the counters, not the contents."""
        cache: BoundedCache[str, int] = BoundedCache(1)
        cache.set("a", 1)
        cache.set("b", 2)
        cache.get("b")
        cache.get("a")
        cache.reset_statistics()
        assert stats(cache) == (0, 0, 0, 0, 1)


class TestEvents:
    """Eviction events are off by default and exact when on."""

    def test_off_by_default(self) -> None:
        """A global subscriber hears nothing from a default cache."""
        heard: list[_events.Event] = []
        clock = Clock()
        with _events.subscribe(heard.append):
            cache: BoundedCache[int, int] = BoundedCache(1, ttl=1, timer=clock)
            cache.set(1, 1)
            cache.set(2, 2)
            clock.advance(1)
            assert len(cache) == 0
        assert heard == []

    def test_evictions_and_expirations_when_on(self) -> None:
        """With eviction_events, each eviction and expiration is one event."""
        local: list[_events.Event] = []
        heard: list[CacheEvicted] = []
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(
            1,
            ttl=1,
            timer=clock,
            name="sessions",
            eviction_events=True,
            listeners=[local.append],
        )
        with _events.subscribe(heard.append, CacheEvicted):
            cache.set("a", 1)
            cache.set("b", 2)
            clock.advance(1)
            cache.get("b")
        assert heard == [
            CacheEvicted(name="sessions", key="a", reason="size"),
            CacheEvicted(name="sessions", key="b", reason="expired"),
        ]
        assert local == heard

    def test_unnamed_cache_and_no_listener(self) -> None:
        """An unnamed cache is '<cache>' in events; unheard events are not built."""
        heard: list[CacheEvicted] = []
        cache: BoundedCache[str, int] = BoundedCache(1, eviction_events=True)
        cache.set("a", 1)
        cache.set("b", 2)  # nobody listens: nothing built
        with _events.subscribe(heard.append, CacheEvicted):
            cache.set("c", 3)
        assert heard == [CacheEvicted(name="<cache>", key="b", reason="size")]

    def test_victim_expired_behind_the_heap_counts_as_expiration(self) -> None:
        """An LRU victim found expired is an expiration, not an eviction."""
        clock = Clock()
        cache: BoundedCache[str, int] = BoundedCache(1, timer=clock)
        cache.set("a", 1, ttl=1)
        cache._heap.clear()  # as after a clock change it has not seen
        clock.advance(2)
        cache.set("b", 2)
        assert stats(cache) == (0, 0, 0, 1, 1)


# -- the loop's clock ---------------------------------------------------------


@pytest.mark.anyio
async def test_ttl_runs_on_the_loops_virtual_clock() -> None:
    """On asyncio and trio, entries expire on the loop's (virtual) clock, exactly."""
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=30)
    cache.set("a", 1)
    await anyio.sleep(29.5)
    assert cache.get("a") == 1
    await anyio.sleep(0.5)
    assert cache.get("a") is None
    assert cache.statistics().expirations == 1


def test_entries_keep_their_time_left_on_another_loops_clock() -> None:
    """Moving to a loop with another clock keeps each entry's remaining TTL."""
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=10)

    async def first() -> None:
        await asyncio.sleep(100)
        cache.set("a", 1)
        await asyncio.sleep(4)

    async def second() -> None:
        cache.set("b", 2)  # synchronises: "a" has 6 s left
        await asyncio.sleep(5.9)
        assert cache.keys() == ["a", "b"]
        await asyncio.sleep(0.1)
        assert cache.keys() == ["b"]

    with asyncio.Runner(loop_factory=lambda: VirtualTimeEventLoop(start=1000)) as r:
        r.run(first())
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as r:
        r.run(second())


def test_stock_loops_share_time_monotonic() -> None:
    """Stock asyncio loops and code outside any loop all read time.monotonic."""
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=60)
    cache.set("outside", 0)

    async def inside() -> None:
        cache.set("inside", 1)

    asyncio.run(inside())
    asyncio.run(inside())
    assert cache._clock is time.monotonic
    assert cache.keys() == ["outside", "inside"]


def test_entries_keep_their_time_left_across_a_trio_run() -> None:
    """Entries set under trio's clock carry their time left out of the run."""
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=10)

    async def main() -> None:
        cache.set("a", 1)
        await trio.sleep(4)
        assert "a" in cache

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert cache.get("a") == 1
    assert cache._clock is time.monotonic  # back outside: 6 s left, for real
    assert 5.9 < cache._data["a"].expires - time.monotonic() <= 6


def test_lookups_in_a_new_loop_read_its_clock() -> None:
    """A lookup in a new virtual-time loop, before any write, reads that loop's
    clock: entries cached in the previous one do not outstay their TTL."""
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=10)

    async def first() -> None:
        cache.set("a", 1)
        await asyncio.sleep(5)

    async def second() -> None:
        assert cache.get("a") == 1  # 5 s left
        await asyncio.sleep(5)
        assert cache.get("a") is None

    for main in (first, second):
        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            runner.run(main())


def test_explicit_timer_is_used_everywhere() -> None:
    """With timer=, the loop's clock is never consulted."""
    clock = Clock(50.0)
    cache: BoundedCache[str, int] = BoundedCache(5, ttl=10, timer=clock)

    async def main() -> None:
        cache.set("a", 1)
        await asyncio.sleep(100)
        assert cache.get("a") == 1

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as r:
        r.run(main())
    assert cache._data["a"].expires == 60.0


# -- memory -------------------------------------------------------------------


class Payload:
    """A cached value that counts how many of its kind are alive."""

    __slots__ = ("n",)
    alive = 0

    def __init__(self, n: int) -> None:
        self.n = n
        Payload.alive += 1

    def __del__(self) -> None:
        Payload.alive -= 1


def _churn(
    cache: BoundedCache[int, Payload], start: int, keys: int, *, traced: bool = False
) -> int:
    """Push *keys* distinct keys through *cache*; the traced peak, if *traced*.

    Blocks allocated before tracing starts are not traced, even when freed
    during it, so the peak is what the new keys cost: at most a cache's
    worth of fresh entries, plus the heap's slack, however many keys pass.
    """
    gc.collect()
    if traced:
        tracemalloc.start()
    try:
        for i in range(start, start + keys):
            cache.set(i, Payload(i))
        return tracemalloc.get_traced_memory()[1] if traced else 0
    finally:
        if traced:
            tracemalloc.stop()


@pytest.mark.parametrize("ttl", [None, 60.0])
def test_memory_stays_bounded_under_churn(ttl: float | None) -> None:
    """Distinct keys through a full cache: nothing accumulates but the bound."""
    before = Payload.alive
    cache: BoundedCache[int, Payload] = BoundedCache(100, ttl=ttl, timer=Clock())
    _churn(cache, 0, 200)
    short = _churn(cache, 200, 600, traced=True)
    long = _churn(cache, 800, 1_200, traced=True)
    assert len(cache) == 100
    assert Payload.alive - before == 100  # evicted values are not kept
    assert len(cache._heap) <= 2 * 100 + 64
    assert long < 100 * 1_000  # ~280 bytes an entry, ~600 with a TTL's heap
    assert long < short * 1.1  # twice the keys, the same memory


@pytest.mark.slow
@pytest.mark.parametrize("ttl", [None, 300.0])
def test_a_million_keys_through_ten_thousand(ttl: float | None) -> None:
    """1,000,000 distinct keys through maxsize=10,000 leave 10,000 entries."""
    before = Payload.alive
    cache: BoundedCache[int, Payload] = BoundedCache(10_000, ttl=ttl, timer=Clock())
    _churn(cache, 0, 1_000_000)
    assert len(cache) == 10_000
    assert Payload.alive - before == 10_000
    assert len(cache._heap) <= 2 * 10_000 + 64
    assert _churn(cache, 1_000_000, 30_000, traced=True) < 10_000 * 700
