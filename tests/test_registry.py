"""Tests for brace.Registry: lazily built entries per key, in bounded memory."""

from __future__ import annotations

import datetime as dt
import gc
import warnings
from collections import OrderedDict
from typing import Any

import anyio
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import brace
from brace import _events, _registry
from brace._events import RegistryEvicted
from brace._limiter import ConcurrencyLimiter
from brace._queue import BoundedQueue
from brace._ratelimit import RateLimiter
from brace._registry import Registry, RegistryEntry, RegistryStatistics, has_holders


class Thing:
    """A stand-in entry: no statistics(), no describe()."""

    def __init__(self, key: object = None) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"Thing({self.key!r})"


class Busy:
    """An entry whose statistics report holders while *active* is set."""

    def __init__(self, key: object = None) -> None:
        self.key = key
        self.active = 0

    def statistics(self) -> Busy:
        return self

    def describe(self) -> tuple[str, dict[str, object]]:
        return ("limiter", {"key": self.key})


def _registry_of_things(**kwargs: Any) -> Registry[Any, Thing]:
    return Registry(Thing, **kwargs)


class FakeClock:
    """Stands in for the loop clock in synchronous tests."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A settable clock for the registry's idle times."""
    fake = FakeClock()
    monkeypatch.setattr(_registry, "loop_time", fake)
    return fake


class TestConstruction:
    """Arguments are checked at once, and the defaults are bounded."""

    def test_defaults(self) -> None:
        """max_keys defaults to 10,000; nothing idles out; no listeners."""
        reg: Registry[str, Thing] = Registry()
        assert (reg.max_keys, reg.idle_ttl, reg.name, reg.factory) == (
            10_000,
            None,
            None,
            None,
        )
        assert reg.listeners == ()
        assert reg.in_use is has_holders
        assert len(reg) == 0
        assert repr(reg) == "<Registry keys=0 max_keys=10000>"
        assert repr(Registry(name="hosts", max_keys=5)) == (
            "<Registry 'hosts' keys=0 max_keys=5>"
        )

    @pytest.mark.parametrize("value", [0, -1, 1.5, True, "3", None])
    def test_max_keys_must_be_a_positive_int(self, value: Any) -> None:
        """max_keys that is not an int >= 1 raises ValueError."""
        with pytest.raises(ValueError, match="max_keys"):
            Registry(max_keys=value)

    def test_idle_ttl_conversion_and_checks(self) -> None:
        """idle_ttl takes seconds or a timedelta, > 0."""
        assert Registry(idle_ttl=dt.timedelta(minutes=1)).idle_ttl == 60.0
        assert Registry(idle_ttl=2).idle_ttl == 2.0
        with pytest.raises(ValueError, match="idle_ttl"):
            Registry(idle_ttl=0)
        with pytest.raises(ValueError, match="idle_ttl"):
            Registry(idle_ttl=-1.0)
        with pytest.raises(TypeError, match="idle_ttl"):
            Registry(idle_ttl="1")  # type: ignore[arg-type]

    def test_factory_must_be_callable(self) -> None:
        """A factory that cannot be called raises TypeError."""
        with pytest.raises(TypeError, match="factory must be a callable"):
            Registry(42)  # type: ignore[arg-type]

    def test_factory_must_not_be_an_entry(self) -> None:
        """A resource passed as the factory is refused, with what to do."""
        with pytest.raises(TypeError, match="lambda key"):
            Registry(ConcurrencyLimiter(1))

    def test_a_class_is_a_factory(self) -> None:
        """A class, even one of resources, is a fine factory."""
        reg = Registry(Busy)
        assert isinstance(reg.get_or_create("a"), Busy)

    def test_in_use_must_be_callable(self) -> None:
        """in_use that cannot be called raises TypeError."""
        with pytest.raises(TypeError, match="in_use"):
            Registry(in_use=True)  # type: ignore[arg-type]

    def test_listeners_must_be_callable(self) -> None:
        """Listeners are checked like every policy's."""
        with pytest.raises(TypeError, match="listeners"):
            Registry(listeners=[1])  # type: ignore[list-item]


class TestLookups:
    """get_or_create, get, in, len, iteration and remove."""

    def test_builds_once_per_key(self) -> None:
        """The factory runs once per key, with the key; later calls share it."""
        calls: list[str] = []

        def make(key: str) -> Thing:
            calls.append(key)
            return Thing(key)

        reg = Registry(make)
        a = reg.get_or_create("a")
        assert a.key == "a"
        assert reg.get_or_create("a") is a
        b = reg.get_or_create("b")
        assert b is not a
        assert calls == ["a", "b"]
        assert reg.statistics().created == 2

    def test_factory_per_call(self) -> None:
        """A factory given to get_or_create wins over the registry's."""
        reg = Registry(Thing)
        special = Thing("special")
        assert reg.get_or_create("a", lambda key: special) is special
        assert reg.get_or_create("a", lambda key: Thing("ignored")) is special
        assert reg.get_or_create("b").key == "b"

    def test_no_factory_anywhere(self) -> None:
        """A missing key without any factory raises TypeError saying so."""
        reg: Registry[str, Thing] = Registry()
        with pytest.raises(TypeError, match="no factory"):
            reg.get_or_create("a")
        assert "a" not in reg

    def test_factory_per_call_is_checked(self) -> None:
        """A per-call factory that is an entry is refused like a default one."""
        reg: Registry[str, Any] = Registry()
        with pytest.raises(TypeError, match="lambda key"):
            reg.get_or_create("a", ConcurrencyLimiter(1))  # type: ignore[arg-type]

    def test_factory_returning_none(self) -> None:
        """A factory that returns None raises TypeError and stores nothing."""
        reg: Registry[str, Any] = Registry(lambda key: None)
        with pytest.raises(TypeError, match="returned None"):
            reg.get_or_create("a")
        assert len(reg) == 0
        assert reg.statistics().created == 0

    def test_async_factory(self) -> None:
        """An async factory raises TypeError, without a never-awaited warning."""

        async def make(key: str) -> Thing:
            return Thing(key)  # pragma: no cover - never awaited

        reg: Registry[str, Any] = Registry(make)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(TypeError, match="synchronously"):
                reg.get_or_create("a")
            gc.collect()
        assert "a" not in reg

    def test_factory_error_propagates(self) -> None:
        """A factory's exception propagates unchanged and nothing is stored."""
        error = RuntimeError("no config for host")

        def make(key: str) -> Thing:
            raise error

        reg = Registry(make)
        with pytest.raises(RuntimeError) as info:
            reg.get_or_create("a")
        assert info.value is error
        assert "a" not in reg

    def test_get_never_builds(self) -> None:
        """get() returns the entry, or None / the default, and builds nothing."""
        reg = Registry(Thing)
        assert reg.get("a") is None
        sentinel = Thing("default")
        assert reg.get("a", sentinel) is sentinel
        assert "a" not in reg
        a = reg.get_or_create("a")
        assert reg.get("a") is a
        assert reg.statistics().created == 1

    def test_contains_len_iter(self) -> None:
        """Membership, size and the keys, least recently used first."""
        reg = Registry(Thing)
        for key in "abc":
            reg.get_or_create(key)
        reg.get_or_create("a")
        assert "a" in reg
        assert "z" not in reg
        assert len(reg) == 3
        assert list(reg) == ["b", "c", "a"]

    def test_iteration_is_a_copy(self) -> None:
        """Removing entries while iterating is safe."""
        reg = Registry(Thing)
        for key in "abc":
            reg.get_or_create(key)
        for held in reg:
            reg.remove(held)
        assert len(reg) == 0

    def test_remove(self) -> None:
        """remove() returns the entry; holders keep it; the key starts afresh."""
        reg = Registry(Thing)
        held = reg.get_or_create("a")
        assert reg.remove("a") is held
        assert "a" not in reg
        assert reg.get_or_create("a") is not held
        assert reg.statistics().removed == 1
        with pytest.raises(KeyError, match="'zz' is not in the registry"):
            reg.remove("zz")

    def test_remove_ignores_in_use(self) -> None:
        """An explicit removal drops even an entry in use."""
        reg = Registry(Busy)
        entry = reg.get_or_create("a")
        entry.active = 1
        assert reg.remove("a") is entry
        assert "a" not in reg

    def test_get_counts_as_a_use(self) -> None:
        """get() refreshes recency, so the entry outlives untouched ones."""
        reg = Registry(Thing, max_keys=2)
        a = reg.get_or_create("a")
        reg.get_or_create("b")
        assert reg.get("a") is a
        reg.get_or_create("c")
        assert list(reg) == ["a", "c"]

    def test_unhashable_key(self) -> None:
        """An unhashable key raises TypeError from the dict, as with dicts."""
        reg: Registry[Any, Thing] = Registry(Thing)
        with pytest.raises(TypeError, match="unhashable"):
            reg.get_or_create([1])


class TestMaxKeys:
    """Least-recently-used eviction, which never drops an entry in use."""

    def test_evicts_least_recently_used(self) -> None:
        """A new key beyond max_keys evicts the entry unused the longest."""
        reg = Registry(Thing, max_keys=2)
        a = reg.get_or_create("a")
        reg.get_or_create("b")
        assert reg.get_or_create("a") is a  # "a" is now the most recent
        reg.get_or_create("c")
        assert list(reg) == ["a", "c"]
        s = reg.statistics()
        assert (s.keys, s.evictions, s.created) == (2, 1, 3)

    def test_evicted_entry_stays_valid(self) -> None:
        """A holder of an evicted entry keeps it; the key gets a new one."""
        reg: Registry[str, ConcurrencyLimiter] = Registry(
            lambda key: ConcurrencyLimiter(1), max_keys=1
        )
        old = reg.get_or_create("a")
        reg.get_or_create("b")
        old.acquire_nowait()
        old.release()
        new = reg.get_or_create("a")
        assert new is not old
        assert new.statistics().acquired == 0

    def test_eviction_event(self) -> None:
        """Evictions are reported with the key, the entry and the reason."""
        seen: list[_events.Event] = []
        reg = Registry(Thing, max_keys=1, name="hosts", listeners=[seen.append])
        a = reg.get_or_create("a")
        reg.get_or_create("b")
        assert seen == [
            RegistryEvicted(name="hosts", key="a", entry=a, reason="max_keys")
        ]

    def test_global_subscribers_get_events(self) -> None:
        """brace.subscribe receives the eviction; the default name is <registry>."""
        seen: list[RegistryEvicted] = []
        reg = Registry(Thing, max_keys=1)
        with brace.subscribe(seen.append, RegistryEvicted):
            reg.get_or_create("a")
            reg.get_or_create("b")
        assert [(e.name, e.key) for e in seen] == [("<registry>", "a")]

    def test_no_event_built_without_listeners(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Nobody listening: evictions build no event."""

        def boom(**kwargs: Any) -> None:
            raise AssertionError("built an event nobody listens to")

        monkeypatch.setattr(_events, "RegistryEvicted", boom)
        reg = Registry(Thing, max_keys=1)
        reg.get_or_create("a")
        reg.get_or_create("b")
        assert reg.statistics().evictions == 1

    def test_skips_limiter_with_slots_taken(self) -> None:
        """A limiter whose slot is held is not evicted; the next idle one is."""
        reg: Registry[str, ConcurrencyLimiter] = Registry(
            lambda key: ConcurrencyLimiter(1), max_keys=2
        )
        a = reg.get_or_create("a")
        reg.get_or_create("b")
        a.acquire_nowait()
        reg.get_or_create("c")
        assert list(reg) == ["a", "c"]  # "a" was passed over: it counts as used
        assert reg.get_or_create("a") is a
        a.release()
        reg.get_or_create("d")
        assert "c" not in reg
        assert reg.get_or_create("a") is a

    def test_grows_past_max_keys_while_all_in_use(self) -> None:
        """With every entry in use, a new key still gets one: the bound bends."""
        reg = Registry(Busy, max_keys=2)
        a, b = reg.get_or_create("a"), reg.get_or_create("b")
        a.active = b.active = 1
        reg.get_or_create("c")
        assert list(reg) == ["a", "b", "c"]
        assert reg.statistics().evictions == 0
        a.active = 0
        reg.get_or_create("d")
        # Back to max_keys: two entries evicted to make room for one, the
        # busy one passed over again.
        assert list(reg) == ["b", "d"]
        assert reg.statistics().evictions == 2

    def test_bounded_scan_past_busy_entries(self) -> None:
        """An insertion passes over at most 16 busy entries before growing."""
        reg = Registry(Busy, max_keys=20)
        for key in range(20):
            reg.get_or_create(key).active = 1
        reg.get_or_create(20)  # 16 busy ones checked, then grows
        assert len(reg) == 21
        assert list(reg)[:4] == [16, 17, 18, 19]

    def test_custom_in_use(self) -> None:
        """in_use decides what is kept: here, entries marked as precious."""
        precious = {"a"}
        reg = Registry(Thing, max_keys=1, in_use=lambda t: t.key in precious)
        a = reg.get_or_create("a")
        reg.get_or_create("b")
        assert "a" in reg
        reg.get_or_create("c")
        assert list(reg) == ["a", "c"]
        assert reg.get_or_create("a") is a


class TestHolders:
    """The default in_use test reads the entry's statistics()."""

    def test_plain_objects_are_never_in_use(self) -> None:
        """Without statistics(), an entry has no holders."""
        assert not has_holders(Thing())
        assert not has_holders(object())

    def test_limiter(self) -> None:
        """A limiter is in use while a slot is taken."""
        lim = ConcurrencyLimiter(1)
        assert not has_holders(lim)
        lim.acquire_nowait()
        assert has_holders(lim)
        lim.release()
        assert not has_holders(lim)

    @pytest.mark.anyio
    async def test_rate_limiter_with_waiter(self) -> None:
        """A rate limiter is in use while a task waits on it."""
        rl = RateLimiter(1, per=10.0)
        assert rl.try_acquire()
        assert not has_holders(rl)
        async with anyio.create_task_group() as tg:
            tg.start_soon(rl.acquire)
            await anyio.wait_all_tasks_blocked()
            assert has_holders(rl)
        assert not has_holders(rl)

    @pytest.mark.anyio
    async def test_queue_with_waiting_getter(self) -> None:
        """A queue is in use while a get waits, or while it holds items.

        Queued items did not count before: evicting such a queue lost them.
        """
        q: BoundedQueue[int] = BoundedQueue(1)
        assert not has_holders(q)
        q.put_nowait(1)
        assert has_holders(q)
        assert q.get_nowait() == 1
        assert not has_holders(q)
        async with anyio.create_task_group() as tg:
            tg.start_soon(q.get)
            await anyio.wait_all_tasks_blocked()
            assert has_holders(q)
            q.put_nowait(2)


class TestIdleTtl:
    """Entries unused for idle_ttl are dropped, on the loop clock."""

    @pytest.mark.anyio
    async def test_expires_on_the_loop_clock(self) -> None:
        """An entry unused for idle_ttl is gone; a use restarts its time."""
        seen: list[_events.Event] = []
        reg = Registry(Thing, idle_ttl=10.0, listeners=[seen.append])
        a = reg.get_or_create("a")
        b = reg.get_or_create("b")
        await anyio.sleep(6)
        assert reg.get_or_create("b") is b
        await anyio.sleep(4)  # "a" unused for 10 s, "b" for 4 s
        assert "a" not in reg
        assert len(reg) == 1
        assert list(reg) == ["b"]
        assert seen == [
            RegistryEvicted(name="<registry>", key="a", entry=a, reason="idle_ttl")
        ]
        assert reg.statistics().expirations == 1

    def test_lookup_of_an_expired_key_builds_afresh(self, clock: FakeClock) -> None:
        """get_or_create after idle_ttl gives a new entry (counted as expiry)."""
        reg = Registry(Thing, idle_ttl=5.0)
        a = reg.get_or_create("a")
        clock.t = 4.0
        assert reg.get_or_create("a") is a
        clock.t = 8.0
        assert reg.get_or_create("a") is a
        clock.t = 13.0
        assert reg.get_or_create("a") is not a
        assert reg.statistics().expirations == 1

    def test_get_of_an_expired_key(self, clock: FakeClock) -> None:
        """get() of an expired key drops it and returns the default."""
        reg = Registry(Thing, idle_ttl=5.0)
        a = reg.get_or_create("a")
        clock.t = 3.0
        assert reg.get("a") is a
        clock.t = 8.0
        assert "a" not in reg
        gone = Thing("gone")
        assert reg.get("a", gone) is gone
        assert reg.statistics().expirations == 1

    def test_contains_is_not_a_use(self, clock: FakeClock) -> None:
        """Asking `in` neither refreshes the entry nor drops it."""
        reg = Registry(Thing, idle_ttl=5.0)
        a = reg.get_or_create("a")
        clock.t = 4.0
        assert "a" in reg
        clock.t = 5.0
        assert "a" not in reg
        assert reg.remove("a") is a  # asking did not drop it

    def test_in_use_entries_do_not_expire(self, clock: FakeClock) -> None:
        """An entry in use outlives idle_ttl and counts as just used."""
        reg = Registry(Busy, idle_ttl=5.0)
        a = reg.get_or_create("a")
        a.active = 1
        reg.get_or_create("b")
        clock.t = 100.0
        assert "a" in reg
        assert reg.get("a") is a
        assert reg.get_or_create("a") is a
        assert len(reg) == 1  # "b" expired; "a" was kept
        a.active = 0
        clock.t = 104.0
        assert reg.get_or_create("a") is a  # used at 100: still fresh
        clock.t = 110.0
        assert reg.get_or_create("a") is not a

    def test_in_use_entry_at_the_front_of_the_sweep(self, clock: FakeClock) -> None:
        """A sweep passes over an idle in-use entry and drops those after it."""
        reg = Registry(Busy, idle_ttl=5.0)
        reg.get_or_create("a").active = 1
        reg.get_or_create("b")
        clock.t = 6.0
        assert list(reg) == ["a"]

    def test_sweep_bounded_by_busy_entries(self, clock: FakeClock) -> None:
        """A sweep stops after 16 busy entries; later sweeps get the rest."""
        reg = Registry(Busy, idle_ttl=5.0)
        for key in range(17):
            reg.get_or_create(key).active = 1
        reg.get_or_create("idle")
        clock.t = 10.0
        assert len(reg) == 18  # 16 busy passed over, then the sweep stopped
        assert len(reg) == 17  # the next one drops the idle entry

    def test_eviction_with_ttl_stamps_busy_entries(self, clock: FakeClock) -> None:
        """A busy entry passed over by an eviction counts as used now."""
        reg = Registry(Busy, max_keys=1, idle_ttl=5.0)
        a = reg.get_or_create("a")
        a.active = 1
        clock.t = 3.0
        reg.get_or_create("b")  # passes over "a", stamping it at 3.0
        a.active = 0
        clock.t = 7.0
        assert "a" in reg


class TestSnapshot:
    """snapshot() and statistics() for health checks."""

    def test_snapshot_reports_kind_statistics_and_use(self) -> None:
        """Kinds from describe(), statistics(), and in-use, in LRU order."""
        reg: Registry[str, Any] = Registry(max_keys=10)
        lim = reg.get_or_create("db", lambda key: ConcurrencyLimiter(2))
        lim.acquire_nowait()
        busy = reg.get_or_create("busy", Busy)
        plain = reg.get_or_create("plain", Thing)
        snap = reg.snapshot()
        assert list(snap) == ["db", "busy", "plain"]
        assert snap["db"].kind == "limiter"
        assert snap["db"].statistics == lim.statistics()
        assert snap["db"].in_use is True
        assert snap["busy"] == RegistryEntry(
            kind="limiter", statistics=busy, in_use=False
        )
        assert snap["plain"] == RegistryEntry(kind=None, statistics=None, in_use=False)
        assert plain.key == "plain"

    def test_snapshot_is_not_a_use(self) -> None:
        """Taking a snapshot leaves the recency order alone."""
        reg = Registry(Thing, max_keys=2)
        reg.get_or_create("a")
        reg.get_or_create("b")
        reg.snapshot()
        reg.get_or_create("c")
        assert list(reg) == ["b", "c"]

    def test_statistics(self) -> None:
        """The counters, as a frozen snapshot."""
        reg = Registry(Thing, max_keys=1)
        reg.get_or_create("a")
        reg.get_or_create("b")
        reg.remove("b")
        s = reg.statistics()
        assert s == RegistryStatistics(
            keys=0, max_keys=1, created=2, evictions=1, expirations=0, removed=1
        )
        with pytest.raises(AttributeError):
            s.keys = 3  # type: ignore[misc]


# -- a model-based check of the bounds ------------------------------------------


class RegistryMachine(RuleBasedStateMachine):
    """Registry against a reference LRU model with in-use entries and idle_ttl."""

    MAX_KEYS = 3
    TTL = 5.0

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self._patch = pytest.MonkeyPatch()
        self._patch.setattr(_registry, "loop_time", self.clock)
        self.events: list[tuple[object, str]] = []
        self.reg = Registry(
            Busy, max_keys=self.MAX_KEYS, idle_ttl=self.TTL, listeners=[self.record]
        )
        # key -> [entry, last use], least recently used first.
        self.model: OrderedDict[int, list[Any]] = OrderedDict()

    def teardown(self) -> None:
        self._patch.undo()

    def record(self, event: _events.Event) -> None:
        assert isinstance(event, RegistryEvicted)
        assert not event.entry.active, "dropped an entry in use"  # type: ignore[attr-defined]
        self.events.append((event.key, event.reason))

    # The reference: what the registry must do, written plainly.

    def _busy(self, key: int) -> bool:
        return bool(self.model[key][0].active)

    def _stale(self, key: int) -> bool:
        used: float = self.model[key][1]
        return self.clock.t - used >= self.TTL

    def _touch(self, key: int) -> None:
        self.model[key][1] = self.clock.t
        self.model.move_to_end(key)

    def _insert(self, key: int, dropped: list[tuple[object, str]]) -> None:
        while self.model:
            first = next(iter(self.model))
            if not self._stale(first):
                break
            if self._busy(first):
                self._touch(first)
                continue
            del self.model[first]
            dropped.append((first, "idle_ttl"))
        skips = 0
        while len(self.model) >= self.MAX_KEYS and skips < len(self.model):
            first = next(iter(self.model))
            if self._busy(first):
                self._touch(first)
                skips += 1
                continue
            del self.model[first]
            dropped.append((first, "max_keys"))

    @rule(key=st.integers(0, 5))
    def get_or_create(self, key: int) -> None:
        dropped: list[tuple[object, str]] = []
        old = self.model[key][0] if key in self.model else None
        if key in self.model and (self._busy(key) or not self._stale(key)):
            self._touch(key)
        else:
            if key in self.model:
                del self.model[key]
                dropped.append((key, "idle_ttl"))
            self._insert(key, dropped)
        self.events.clear()
        entry = self.reg.get_or_create(key)
        assert self.events == dropped
        if key in self.model:
            assert entry is old
        else:
            assert entry is not old
            self.model[key] = [entry, self.clock.t]

    @rule(key=st.integers(0, 5), busy=st.booleans())
    def set_busy(self, key: int, busy: bool) -> None:
        if key in self.model:
            self.model[key][0].active = int(busy)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(list(self.model)))
        entry = self.model.pop(key)[0]
        assert self.reg.remove(key) is entry

    @rule(dt=st.sampled_from([0.5, 2.0, 4.999, 5.0, 7.0]))
    def advance(self, dt: float) -> None:
        self.clock.t += dt

    @invariant()
    def same_order(self) -> None:
        assert list(self.reg._entries) == list(self.model)

    @invariant()
    def membership(self) -> None:
        for key in self.model:
            assert (key in self.reg) is (self._busy(key) or not self._stale(key))

    @invariant()
    def bounded(self) -> None:
        busy = sum(1 for key in self.model if self._busy(key))
        assert len(self.model) <= self.MAX_KEYS + busy


TestRegistryMachine = pytest.mark.slow(RegistryMachine.TestCase)
TestRegistryMachine.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None
)
