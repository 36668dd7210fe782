"""Model-based test of BoundedCache: random operations against a reference.

The reference is a plain list in LRU order (oldest first) of ``[key, value,
expires]``, with the rules written out: an entry is fresh while
``now < expires``; time passing removes (and counts) every entry that
expires; a write to a full cache evicts the oldest entry. At random steps,
and at the end, the cache's contents, order and every counter must equal
the reference's.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
)

from brace._cache import BoundedCache

KEYS = st.integers(min_value=0, max_value=2)
TTLS = st.none() | st.sampled_from([0.5, 1.0, 2.0])
_MISSING = object()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Model:
    """The reference: explicit LRU list and TTL arithmetic."""

    def __init__(self, maxsize: int, ttl: float | None, jitter: float, seed: int):
        self.maxsize = maxsize
        self.ttl = ttl
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.now = 0.0
        self.entries: list[list[Any]] = []  # [key, value, expires], LRU first
        self.hits = self.misses = self.evictions = self.expirations = 0

    def find(self, key: int) -> int | None:
        for i, entry in enumerate(self.entries):
            if entry[0] == key:
                return i
        return None

    def advance(self, seconds: float) -> None:
        self.now += seconds
        kept = [e for e in self.entries if self.now < e[2]]
        self.expirations += len(self.entries) - len(kept)
        self.entries = kept

    def get(self, key: int) -> Any:
        i = self.find(key)
        if i is None:
            self.misses += 1
            return _MISSING
        entry = self.entries.pop(i)
        self.entries.append(entry)
        self.hits += 1
        return entry[1]

    def set(self, key: int, value: int, ttl: float | None) -> None:
        if ttl is None:
            ttl = self.ttl
        if ttl is None:
            expires = float("inf")
        else:
            if self.jitter:
                ttl += self.rng.random() * self.jitter
            expires = self.now + ttl
        i = self.find(key)
        if i is not None:
            del self.entries[i]
        elif len(self.entries) >= self.maxsize:
            del self.entries[0]
            self.evictions += 1
        self.entries.append([key, value, expires])

    def pop(self, key: int) -> Any:
        i = self.find(key)
        return _MISSING if i is None else self.entries.pop(i)[1]


class CacheMachine(RuleBasedStateMachine):
    """Drives a BoundedCache and the Model with the same operations."""

    cache: BoundedCache[int, int]
    model: Model
    clock: Clock

    @initialize(
        maxsize=st.integers(min_value=1, max_value=5),
        ttl=st.none() | st.sampled_from([1.0, 2.0]),
        jitter=st.sampled_from([0.0, 0.0, 1.5]),
        seed=st.integers(min_value=0, max_value=2**16),
    )
    def build(self, maxsize: int, ttl: float | None, jitter: float, seed: int) -> None:
        self.clock = Clock()
        self.cache = BoundedCache(
            maxsize,
            ttl=ttl,
            ttl_jitter=jitter,
            timer=self.clock,
            rng=random.Random(seed),
        )
        self.model = Model(maxsize, ttl, jitter, seed)
        self.values = iter(range(10**9))

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.model.advance(seconds)

    @precondition(lambda self: any(e[2] < float("inf") for e in self.model.entries))
    @rule()
    def advance_to_an_expiry(self) -> None:
        # Exactly to the instant the next entry expires: the boundary that
        # "fresh while now < expires" is about.
        soonest = min(e[2] for e in self.model.entries)
        self.advance(soonest - self.clock.now)

    @rule(key=KEYS)
    def get(self, key: int) -> None:
        assert self.cache.get(key, _MISSING) == self.model.get(key)

    @rule(key=KEYS, ttl=TTLS)
    def set(self, key: int, ttl: float | None) -> None:
        value = next(self.values)
        self.cache.set(key, value, ttl=ttl)
        self.model.set(key, value, ttl)

    @rule(key=KEYS)
    def pop(self, key: int) -> None:
        assert self.cache.pop(key, _MISSING) == self.model.pop(key)

    @rule(key=KEYS)
    def contains(self, key: int) -> None:
        assert (key in self.cache) == (self.model.find(key) is not None)

    @precondition(lambda self: self.model.entries)
    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.entries.clear()

    # A rule, not an invariant: statistics() drops what has expired, and
    # checking after every step would hide expired entries from the other
    # operations, which must each handle meeting one.
    @rule()
    def check(self) -> None:
        model = self.model
        stats = self.cache.statistics()
        assert self.cache.keys() == [e[0] for e in model.entries]
        assert {k: e.value for k, e in self.cache._data.items()} == {
            e[0]: e[1] for e in model.entries
        }
        assert (
            stats.hits,
            stats.misses,
            stats.evictions,
            stats.expirations,
            stats.size,
        ) == (
            model.hits,
            model.misses,
            model.evictions,
            model.expirations,
            len(model.entries),
        )
        lookups = model.hits + model.misses
        assert stats.hit_rate == (model.hits / lookups if lookups else 0.0)

    def teardown(self) -> None:
        if hasattr(self, "model"):
            self.check()


CacheMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
TestBoundedCacheAgainstModel = CacheMachine.TestCase
TestBoundedCacheAgainstModel.__doc__ = (
    "Random get/set/pop/in/clear/advance sequences keep BoundedCache equal to "
    "the reference model, contents, LRU order and every counter."
)
