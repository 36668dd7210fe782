"""Tests for brace.BoundedQueue: overflow rules, priority, FIFO hand-off,
closing, cancellation at every point, and the counters that prove nothing
is lost."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from brace import _events
from brace._cancel import CancelToken
from brace._errors import Cancelled, QueueClosed, QueueEmpty, QueueFull
from brace._events import QueueItemDropped, QueuePutRejected
from brace._queue import BoundedQueue, QueueStatistics
from brace._queue_heap import HeapBuffer
from brace.testing import VirtualTimeEventLoop

OVERFLOWS = ("block", "reject", "drop_oldest", "drop_newest")


def balanced(q: BoundedQueue[Any]) -> QueueStatistics:
    """The statistics, after checking that every item put is accounted for."""
    s = q.statistics()
    assert s.put == s.got + s.size + s.dropped, s
    assert s.size == len(q) <= q.maxsize
    return s


class Unorderable:
    """An item that refuses to be compared, to prove items never are."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __lt__(self, other: object) -> bool:
        raise AssertionError("items must never be compared")

    __gt__ = __le__ = __ge__ = __lt__

    def __repr__(self) -> str:
        return self.label


# -- construction ----------------------------------------------------------------


class TestConstruction:
    """Bad configuration fails at construction with a message saying what to do."""

    @pytest.mark.parametrize("maxsize", [0, -1, 1.5, True, None, "3"])
    def test_maxsize_must_be_a_positive_int(self, maxsize: Any) -> None:
        """No unbounded default: maxsize must be an int >= 1."""
        with pytest.raises(ValueError, match="maxsize must be an int >= 1"):
            BoundedQueue(maxsize)

    @pytest.mark.parametrize("overflow", ["drop", "BLOCK", "", None, 1])
    def test_overflow_must_be_a_known_rule(self, overflow: Any) -> None:
        """An unknown overflow rule raises ValueError listing the valid ones."""
        with pytest.raises(ValueError, match="block, reject, drop_oldest, drop_newest"):
            BoundedQueue[int](1, overflow=overflow)

    def test_on_drop_must_be_callable(self) -> None:
        """on_drop that is not callable raises TypeError."""
        with pytest.raises(TypeError, match="on_drop must be a callable"):
            BoundedQueue[int](1, overflow="drop_oldest", on_drop=3)  # type: ignore[arg-type]

    @pytest.mark.parametrize("overflow", ["block", "reject"])
    def test_on_drop_needs_a_drop_rule(self, overflow: Any) -> None:
        """on_drop on a queue that never drops is a mistake, not a silent no-op."""
        with pytest.raises(ValueError, match="use drop_oldest or drop_newest"):
            BoundedQueue[int](1, overflow=overflow, on_drop=print)

    def test_priority_must_be_callable(self) -> None:
        """A priority that is not a key function raises TypeError."""
        with pytest.raises(TypeError, match="priority must be a key function"):
            BoundedQueue[int](1, priority="size")  # type: ignore[arg-type]

    def test_listeners_must_be_callable(self) -> None:
        """Listeners go through the shared converter."""
        with pytest.raises(TypeError, match="listeners"):
            BoundedQueue[int](1, listeners=[1])  # type: ignore[list-item]

    def test_generic_subscription_works_at_runtime(self) -> None:
        """BoundedQueue[int](10) constructs outside a loop and reports itself."""
        q = BoundedQueue[int](10, name="jobs")
        assert q.maxsize == 10
        assert q.overflow == "block"
        assert not q.closed
        assert q.empty()
        assert not q.full()
        assert q.qsize() == len(q) == 0
        assert repr(q) == "<BoundedQueue 'jobs' 0/10 overflow='block'>"
        q.close()
        assert repr(q) == "<BoundedQueue 'jobs' 0/10 overflow='block' closed>"
        assert repr(BoundedQueue[int](1, overflow="reject")).startswith(
            "<BoundedQueue 0/1"
        )


# -- the synchronous API -----------------------------------------------------------


def test_fifo_order_size_and_counters() -> None:
    """Items come out in put order; size, full and the counters follow."""
    q = BoundedQueue[int](3)
    for i in range(3):
        q.put_nowait(i)
    assert q.full()
    assert len(q) == 3
    assert [q.get_nowait() for _ in range(3)] == [0, 1, 2]
    assert q.empty()
    assert balanced(q) == QueueStatistics(
        size=0,
        maxsize=3,
        put=3,
        got=3,
        dropped=0,
        rejected=0,
        waiting_putters=0,
        waiting_getters=0,
        closed=False,
    )


def test_get_nowait_on_empty_raises_queue_empty_then_closed() -> None:
    """Empty: QueueEmpty; empty and closed: QueueClosed."""
    q = BoundedQueue[int](1)
    with pytest.raises(QueueEmpty):
        q.get_nowait()
    q.close()
    with pytest.raises(QueueClosed):
        q.get_nowait()


def test_fast_paths_never_suspend() -> None:
    """put and get that need not wait finish at their first step, no await."""
    q = BoundedQueue[int](1)
    with pytest.raises(StopIteration):
        q.put(7).send(None)
    with pytest.raises(StopIteration) as info:
        q.get().send(None)
    assert info.value.value == 7


@pytest.mark.parametrize("overflow", ["block", "reject"])
def test_full_queue_rejects_with_queue_full(overflow: Any) -> None:
    """put_nowait on a full block or reject queue raises QueueFull and counts it."""
    events: list[_events.Event] = []
    q = BoundedQueue[int](1, overflow=overflow, name="q", listeners=[events.append])
    q.put_nowait(1)
    with pytest.raises(QueueFull) as info:
        q.put_nowait(2)
    assert info.value.maxsize == 1
    assert "queue is full (1 items)" in str(info.value)
    assert q.get_nowait() == 1
    assert balanced(q).rejected == 1
    assert events == [QueuePutRejected(name="q", maxsize=1)]


def test_drop_oldest_drops_the_item_queued_longest() -> None:
    """drop_oldest makes room by dropping the oldest item, reported three ways."""
    dropped: list[int] = []
    events: list[_events.Event] = []
    q = BoundedQueue[int](
        2, overflow="drop_oldest", on_drop=dropped.append, listeners=[events.append]
    )
    for i in range(5):
        q.put_nowait(i)
    assert dropped == [0, 1, 2]
    assert [q.get_nowait(), q.get_nowait()] == [3, 4]
    s = balanced(q)
    assert (s.put, s.got, s.dropped) == (5, 2, 3)
    assert events == [
        QueueItemDropped(name="<queue>", item=i, overflow="drop_oldest")
        for i in range(3)
    ]


def test_drop_newest_drops_the_item_being_put() -> None:
    """drop_newest keeps what is queued and drops the newcomer."""
    dropped: list[int] = []
    q = BoundedQueue[int](2, overflow="drop_newest", on_drop=dropped.append)
    for i in range(5):
        q.put_nowait(i)
    assert dropped == [2, 3, 4]
    assert [q.get_nowait(), q.get_nowait()] == [0, 1]
    assert balanced(q).dropped == 3


def test_drops_are_counted_without_on_drop() -> None:
    """Without on_drop a drop is still counted; nothing disappears silently."""
    q = BoundedQueue[int](1, overflow="drop_newest")
    q.put_nowait(1)
    q.put_nowait(2)
    assert balanced(q).dropped == 1


def test_failing_on_drop_is_logged_and_the_queue_stays_consistent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An on_drop that raises is logged; the drop and the put still happen."""
    seen: list[tuple[int, list[int]]] = []

    def on_drop(item: int) -> None:
        seen.append((item, [len(q), q.statistics().dropped]))
        raise RuntimeError("broken hook")

    q = BoundedQueue[int](1, overflow="drop_oldest", on_drop=on_drop)
    q.put_nowait(1)
    with caplog.at_level(logging.ERROR, logger="brace"):
        q.put_nowait(2)
    assert "on_drop callback" in caplog.text
    # The hook already saw the queue in its final state.
    assert seen == [(1, [1, 1])]
    assert q.get_nowait() == 2
    assert balanced(q).dropped == 1


def test_on_drop_may_use_the_queue() -> None:
    """on_drop runs after the queue is consistent, so it may put again."""
    q: BoundedQueue[str] = BoundedQueue(1, overflow="drop_newest", on_drop=None)
    retries: BoundedQueue[str] = BoundedQueue(
        2, overflow="drop_oldest", on_drop=lambda item: q.get_nowait()
    )
    q.put_nowait("x")
    retries.put_nowait("a")
    retries.put_nowait("b")
    retries.put_nowait("c")  # drops "a"; the hook takes "x" from q
    assert q.empty()
    assert [retries.get_nowait(), retries.get_nowait()] == ["b", "c"]


def test_no_event_is_built_without_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nobody listening, dropping and rejecting build no event object."""

    def boom(**kwargs: object) -> None:
        raise AssertionError("event built")

    monkeypatch.setattr(_events, "QueueItemDropped", boom)
    monkeypatch.setattr(_events, "QueuePutRejected", boom)
    q = BoundedQueue[int](1, overflow="drop_oldest")
    q.put_nowait(1)
    q.put_nowait(2)
    r = BoundedQueue[int](1, overflow="reject")
    r.put_nowait(1)
    with pytest.raises(QueueFull):
        r.put_nowait(2)


def test_global_subscribers_see_queue_events() -> None:
    """Drops and rejections reach brace.subscribe() subscribers, kind-filtered."""
    seen: list[_events.Event] = []
    with _events.subscribe(seen.append, QueueItemDropped):
        q = BoundedQueue[str](1, overflow="drop_newest", name="feed")
        q.put_nowait("a")
        q.put_nowait("b")
        r = BoundedQueue[str](1, overflow="reject")
        r.put_nowait("a")
        with pytest.raises(QueueFull):
            r.put_nowait("b")
    assert seen == [QueueItemDropped(name="feed", item="b", overflow="drop_newest")]


def test_close_keeps_items_for_draining() -> None:
    """After close, puts raise QueueClosed and gets drain what is left."""
    q = BoundedQueue[int](3)
    q.put_nowait(1)
    q.put_nowait(2)
    q.close()
    q.close()  # idempotent
    assert q.closed
    with pytest.raises(QueueClosed):
        q.put_nowait(3)
    with pytest.raises(QueueClosed):
        q.put(3).send(None)
    assert [q.get_nowait(), q.get_nowait()] == [1, 2]
    with pytest.raises(QueueClosed):
        q.get_nowait()
    s = balanced(q)
    assert s.closed
    assert s.put == 2


# -- priority ------------------------------------------------------------------------


def test_priority_smallest_key_first_and_fifo_among_equals() -> None:
    """Items come out by key, and in put order among equal keys."""
    q = BoundedQueue[tuple[int, str]](10, priority=lambda item: item[0])
    for item in [(2, "a"), (1, "b"), (2, "c"), (0, "d"), (1, "e"), (2, "f")]:
        q.put_nowait(item)
    out = [q.get_nowait()[1] for _ in range(6)]
    assert out == ["d", "b", "e", "a", "c", "f"]


def test_priority_never_compares_items() -> None:
    """Equal keys are ordered by a sequence number, never by the items."""
    q = BoundedQueue[Unorderable](4, priority=lambda item: 0)
    items = [Unorderable(c) for c in "abcd"]
    for item in items:
        q.put_nowait(item)
    assert [q.get_nowait() for _ in range(4)] == items


def test_priority_drop_oldest_goes_by_arrival_not_key() -> None:
    """drop_oldest drops the earliest arrival, even if it has the best key."""
    dropped: list[str] = []
    q = BoundedQueue[tuple[int, str]](
        2,
        overflow="drop_oldest",
        priority=lambda item: item[0],
        on_drop=lambda item: dropped.append(item[1]),
    )
    q.put_nowait((0, "urgent-but-old"))
    q.put_nowait((5, "low"))
    q.put_nowait((3, "mid"))
    assert dropped == ["urgent-but-old"]
    assert [q.get_nowait()[1], q.get_nowait()[1]] == ["mid", "low"]


def test_priority_drop_newest_drops_the_arrival_even_if_urgent() -> None:
    """drop_newest drops the item being put, whatever its key."""
    dropped: list[str] = []
    q = BoundedQueue[tuple[int, str]](
        1,
        overflow="drop_newest",
        priority=lambda item: item[0],
        on_drop=lambda item: dropped.append(item[1]),
    )
    q.put_nowait((5, "low"))
    q.put_nowait((0, "urgent"))
    assert dropped == ["urgent"]
    assert q.get_nowait()[1] == "low"


def test_priority_key_error_leaves_the_queue_unchanged() -> None:
    """A key that raises makes the put raise; nothing is added or counted."""

    def key(item: int) -> int:
        if item < 0:
            raise ValueError("negative")
        return item

    q = BoundedQueue[int](2, priority=key, overflow="drop_oldest")
    q.put_nowait(1)
    q.put_nowait(2)
    with pytest.raises(ValueError, match="negative"):
        q.put_nowait(-1)  # full: the drop must not happen either
    assert balanced(q).dropped == 0
    assert [q.get_nowait(), q.get_nowait()] == [1, 2]


def test_priority_incomparable_key_raises_and_heap_stays_whole() -> None:
    """A key that does not compare raises TypeError; later order is intact."""
    q = BoundedQueue[Any](10, priority=lambda item: item)
    for i in (5, 1, 4, 2, 3):
        q.put_nowait(i)
    with pytest.raises(TypeError):
        q.put_nowait("x")
    assert len(q) == 5
    assert [q.get_nowait() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert balanced(q).put == 5


def test_heap_buffer_memory_stays_bounded_under_drop_oldest() -> None:
    """Stale entries are compacted: the heap never holds much more than size."""
    q = BoundedQueue[int](4, overflow="drop_oldest", priority=lambda i: -(i % 7))
    buffer = q._items
    assert isinstance(buffer, HeapBuffer)
    for i in range(2000):
        q.put_nowait(i)
        if i % 3 == 0:
            q.get_nowait()
        assert len(buffer._entries) <= 2 * len(q) + 1
        assert buffer._arrivals is not None
        assert len(buffer._arrivals) <= 2 * len(q) + 1
    assert sorted(buffer.items(), key=lambda i: -(i % 7)) == buffer.items()
    balanced(q)


def test_heap_buffer_pop_oldest_needs_arrival_tracking() -> None:
    """pop_oldest on a buffer that does not track arrivals is a programming error."""
    buffer = HeapBuffer[int](lambda i: i, track_arrivals=False)
    buffer.append(1)
    with pytest.raises(RuntimeError, match="track_arrivals"):
        buffer.pop_oldest()


# -- a reference model of the synchronous API ---------------------------------------


class QueueMachine(RuleBasedStateMachine):
    """put_nowait/get_nowait/close against a plain-list model, for all rules."""

    @initialize(
        maxsize=st.integers(1, 4),
        overflow=st.sampled_from(OVERFLOWS),
        prioritized=st.booleans(),
    )
    def setup(self, maxsize: int, overflow: Any, prioritized: bool) -> None:
        self.dropped: list[tuple[int, int]] = []
        self.prioritized = prioritized
        self.q = BoundedQueue[tuple[int, int]](
            maxsize,
            overflow=overflow,
            on_drop=self.dropped.append if overflow.startswith("drop") else None,
            priority=(lambda item: item[0]) if prioritized else None,
        )
        self.model: list[tuple[int, int]] = []  # arrival order; item = (key, seq)
        self.model_dropped: list[tuple[int, int]] = []
        self.seq = itertools.count()
        self.closed = False
        self.rejected = 0

    def _next(self) -> tuple[int, int]:
        if self.prioritized:
            return min(self.model)
        return self.model[0]

    @rule(key=st.integers(0, 3))
    def put(self, key: int) -> None:
        """A put follows the overflow rule exactly."""
        item = (key, next(self.seq))
        overflow = self.q.overflow
        if self.closed:
            with pytest.raises(QueueClosed):
                self.q.put_nowait(item)
            return
        if len(self.model) < self.q.maxsize:
            self.q.put_nowait(item)
            self.model.append(item)
        elif overflow in ("block", "reject"):
            with pytest.raises(QueueFull):
                self.q.put_nowait(item)
            self.rejected += 1
        elif overflow == "drop_newest":
            self.q.put_nowait(item)
            self.model_dropped.append(item)
        else:
            self.q.put_nowait(item)
            self.model.append(item)
            self.model_dropped.append(self.model.pop(0))

    @rule()
    def get(self) -> None:
        """A get returns the model's next item, or the right error."""
        if not self.model:
            with pytest.raises(QueueClosed if self.closed else QueueEmpty):
                self.q.get_nowait()
            return
        expected = self._next()
        assert self.q.get_nowait() == expected
        self.model.remove(expected)

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self) -> None:
        """Closing changes what puts and empty gets raise."""
        self.q.close()
        self.closed = True

    @invariant()
    def agrees(self) -> None:
        """Size, drops and counters agree with the model at every step."""
        if not hasattr(self, "q"):
            return
        s = balanced(self.q)
        assert s.size == len(self.model)
        assert self.dropped == self.model_dropped
        assert s.dropped == len(self.model_dropped)
        assert s.rejected == self.rejected
        assert s.closed == self.closed


TestQueueMachine = pytest.mark.slow(QueueMachine.TestCase)
TestQueueMachine.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)


# -- waiting, on asyncio and trio ------------------------------------------------------


@pytest.mark.anyio
class TestWaiting:
    """Blocking puts and gets, FIFO hand-off, closing: the same on both backends."""

    async def test_put_waits_for_room(self) -> None:
        """A put on a full block queue returns when a get makes room."""
        q = BoundedQueue[int](1)
        q.put_nowait(1)
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:

            async def consume_later() -> None:
                await anyio.sleep(5)
                assert q.get_nowait() == 1

            tg.start_soon(consume_later)
            await q.put(2)
            assert anyio.current_time() - start == 5
        assert q.get_nowait() == 2
        balanced(q)

    async def test_get_waits_for_an_item(self) -> None:
        """A get on an empty queue returns the next item put."""
        q = BoundedQueue[str](1)
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:

            async def produce_later() -> None:
                await anyio.sleep(3)
                q.put_nowait("x")

            tg.start_soon(produce_later)
            assert await q.get() == "x"
            assert anyio.current_time() - start == 3

    @pytest.mark.parametrize("overflow", ["reject", "drop_newest", "drop_oldest"])
    async def test_non_blocking_rules_never_wait(self, overflow: Any) -> None:
        """put() under reject and drop rules acts at once, without waiting."""
        q = BoundedQueue[int](1, overflow=overflow)
        await q.put(1)
        start = anyio.current_time()
        if overflow == "reject":
            with pytest.raises(QueueFull):
                await q.put(2)
        else:
            await q.put(2)
        assert anyio.current_time() == start
        assert await q.get() == (2 if overflow == "drop_oldest" else 1)

    async def test_waiting_getters_are_served_in_arrival_order(self) -> None:
        """Getters that wait get the items in the order they started waiting."""
        q = BoundedQueue[int](5)
        results: list[tuple[int, int]] = []

        async def getter(n: int) -> None:
            results.append((n, await q.get()))

        async with anyio.create_task_group() as tg:
            for n in range(4):
                tg.start_soon(getter, n)
                await anyio.sleep(1)  # so that arrival order is unambiguous
            for item in (10, 11, 12, 13):
                q.put_nowait(item)
        assert sorted(results) == [(0, 10), (1, 11), (2, 12), (3, 13)]

    async def test_waiting_putters_are_admitted_in_arrival_order(self) -> None:
        """Putters that wait for room are admitted in the order they arrived."""
        q = BoundedQueue[int](1)
        q.put_nowait(0)
        async with anyio.create_task_group() as tg:
            for n in range(1, 5):
                tg.start_soon(q.put, n)
                await anyio.sleep(1)
            assert q.statistics().waiting_putters == 4
            assert [await q.get() for _ in range(5)] == [0, 1, 2, 3, 4]
        balanced(q)

    async def test_put_nowait_cannot_jump_ahead_of_waiting_putters(self) -> None:
        """While putters wait, the queue stays full: put_nowait gets QueueFull."""
        q = BoundedQueue[int](1)
        q.put_nowait(0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(q.put, 1)
            await anyio.sleep(1)
            assert q.get_nowait() == 0  # admits the waiting putter's 1 at once
            with pytest.raises(QueueFull):
                q.put_nowait(2)
        assert q.get_nowait() == 1

    async def test_get_nowait_cannot_take_an_item_promised_to_a_getter(self) -> None:
        """An item promised to a woken getter is not available to other gets."""
        q = BoundedQueue[int](5)
        got: list[int] = []

        async def getter() -> None:
            got.append(await q.get())

        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await anyio.sleep(1)
            q.put_nowait(1)  # promised to the waiting getter
            with pytest.raises(QueueEmpty):
                q.get_nowait()
            q.put_nowait(2)
            q.put_nowait(3)
            assert q.get_nowait() == 2  # skips the promised item
            assert await q.get() == 3  # so does get(), which need not wait
        assert got == [1]
        balanced(q)

    async def test_close_wakes_waiting_getters_and_putters(self) -> None:
        """close() makes every waiting get and put raise QueueClosed."""
        q = BoundedQueue[int](1)
        full = BoundedQueue[int](1)
        full.put_nowait(0)
        errors: list[str] = []

        async def wait_on(fn: Callable[[], Awaitable[object]]) -> None:
            try:
                await fn()
            except QueueClosed:
                errors.append("closed")

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_on, q.get)
            tg.start_soon(wait_on, q.get)
            tg.start_soon(wait_on, lambda: full.put(1))
            await anyio.sleep(1)
            assert q.statistics().waiting_getters == 2
            q.close()
            full.close()
        assert errors == ["closed"] * 3
        assert q.statistics().waiting_getters == 0
        assert full.statistics().waiting_putters == 0
        assert full.get_nowait() == 0  # the waiting putter's item never went in
        assert balanced(full).put == 1

    async def test_async_for_drains_then_ends_on_close(self) -> None:
        """async for yields every item, including those left at close, then stops."""
        q = BoundedQueue[int](2)

        async def produce() -> None:
            for i in range(6):
                await q.put(i)
            q.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            assert [item async for item in q] == list(range(6))
        with pytest.raises(QueueClosed):
            await q.get()

    async def test_priority_getters_get_the_best_item_at_hand(self) -> None:
        """A woken getter takes the smallest key queued when it resumes."""
        q = BoundedQueue[int](5, priority=lambda i: i)
        got: list[int] = []

        async def getter() -> None:
            got.append(await q.get())

        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            tg.start_soon(getter)
            await anyio.sleep(1)
            for i in (9, 8, 1, 7):
                q.put_nowait(i)
            assert q.get_nowait() == 8  # the two best are promised to the getters
        assert sorted(got) == [1, 7]
        assert q.get_nowait() == 9

    async def test_blocked_putter_whose_key_fails_gets_the_error(self) -> None:
        """A waiting put whose priority key raises at admission fails alone."""

        def key(item: int) -> int:
            if item < 0:
                raise ValueError("bad key")
            return item

        q = BoundedQueue[int](1, priority=key)
        q.put_nowait(5)
        outcomes: list[str] = []

        async def put(item: int) -> None:
            try:
                await q.put(item)
            except ValueError:
                outcomes.append(f"{item} failed")
            else:
                outcomes.append(f"{item} ok")

        async with anyio.create_task_group() as tg:
            tg.start_soon(put, -1)
            await anyio.sleep(1)
            tg.start_soon(put, 3)
            await anyio.sleep(1)
            assert q.get_nowait() == 5
        assert sorted(outcomes) == ["-1 failed", "3 ok"]
        assert q.get_nowait() == 3
        balanced(q)


# -- cancellation, on asyncio and trio -----------------------------------------------


@pytest.mark.anyio
class TestCancellation:
    """Cancelling a waiting get or put loses nothing and leaves no trace."""

    async def test_cancelled_get_leaves_no_trace(self) -> None:
        """A get cancelled by move_on_after is gone; the next item is not lost."""
        q = BoundedQueue[int](1)
        with anyio.move_on_after(2) as scope:
            await q.get()
        assert scope.cancelled_caught
        assert q.statistics().waiting_getters == 0
        q.put_nowait(1)
        assert q.get_nowait() == 1
        assert balanced(q).got == 1

    async def test_cancelled_put_adds_nothing(self) -> None:
        """A put cancelled while waiting for room does not add its item."""
        q = BoundedQueue[int](1)
        q.put_nowait(1)
        start = anyio.current_time()
        with anyio.move_on_after(2) as scope:
            await q.put(2)
        assert scope.cancelled_caught
        assert anyio.current_time() - start == 2
        s = balanced(q)
        assert (s.put, s.waiting_putters, s.size) == (1, 0, 1)
        assert q.get_nowait() == 1
        with pytest.raises(QueueEmpty):
            q.get_nowait()

    async def test_cancel_in_the_middle_of_the_line(self) -> None:
        """Cancelling one waiting getter hands its turn to the next in line."""
        q = BoundedQueue[int](2)
        got: list[tuple[str, int]] = []

        async def getter(name: str) -> None:
            got.append((name, await q.get()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(getter, "a")
            await anyio.sleep(1)
            async with anyio.create_task_group() as inner:
                inner.start_soon(getter, "b")
                await anyio.sleep(1)
                inner.cancel_scope.cancel()
            tg.start_soon(getter, "c")
            await anyio.sleep(1)
            q.put_nowait(1)
            q.put_nowait(2)
        assert sorted(got) == [("a", 1), ("c", 2)]

    async def test_cancel_right_after_the_item_is_handed_over(self) -> None:
        """Cancelled as the item arrives: it is got once or stays queued."""
        q = BoundedQueue[int](1)
        got: list[int] = []
        async with anyio.create_task_group() as tg:

            async def getter() -> None:
                with anyio.CancelScope() as scope:
                    scopes.append(scope)
                    got.append(await q.get())

            scopes: list[anyio.CancelScope] = []
            tg.start_soon(getter)
            await anyio.sleep(1)
            q.put_nowait(42)
            scopes[0].cancel()
        left = [q.get_nowait()] if len(q) else []
        assert got + left == [42]
        balanced(q)

    async def test_task_group_failure_cancels_waiters_without_loss(self) -> None:
        """A sibling's failure cancels waiting producers and consumers cleanly."""
        q = BoundedQueue[int](1)
        q.put_nowait(0)

        async def fail() -> None:
            await anyio.sleep(1)
            raise RuntimeError("sibling failed")

        with pytest.raises(BaseExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(q.put, 1)
                tg.start_soon(q.put, 2)
                tg.start_soon(fail)
        assert info.group_contains(RuntimeError)
        s = balanced(q)
        assert (s.size, s.put, s.waiting_putters) == (1, 1, 0)

    async def test_mass_cancellation_leaves_no_waiters(self) -> None:
        """Hundreds of waiters cancelled at once all leave; the queue still works."""
        q = BoundedQueue[int](1)
        with anyio.move_on_after(1):
            async with anyio.create_task_group() as tg:
                for _ in range(300):
                    tg.start_soon(q.get)
        assert q.statistics().waiting_getters == 0
        assert not q._getters
        q.put_nowait(1)
        assert await q.get() == 1

    async def test_cancelled_and_served_in_the_same_instant(self) -> None:
        """A getter cancelled, then handed an item before it resumes, keeps nothing."""
        q = BoundedQueue[int](1)
        got: list[int] = []
        scope = anyio.CancelScope()

        async def getter() -> None:
            with scope:
                got.append(await q.get())

        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await anyio.sleep(1)
            scope.cancel()
            q.put_nowait(5)  # before the getter has run again
        assert got == []
        assert q.get_nowait() == 5
        s = balanced(q)
        assert (s.got, s.waiting_getters) == (1, 0)
        assert not q._promised

    async def test_token_cancels_a_waiting_get(self) -> None:
        """cancel= token: a waiting get raises brace.Cancelled with the reason."""
        q = BoundedQueue[int](1)
        token = CancelToken()
        async with anyio.create_task_group() as tg:

            async def cancel_later() -> None:
                await anyio.sleep(2)
                token.cancel("shutdown")

            tg.start_soon(cancel_later)
            start = anyio.current_time()
            with pytest.raises(Cancelled) as info:
                await q.get(cancel=token)
            assert info.value.reason == "shutdown"
            assert anyio.current_time() - start == 2
        assert q.statistics().waiting_getters == 0
        q.put_nowait(1)
        assert q.get_nowait() == 1

    async def test_token_cancels_a_waiting_put(self) -> None:
        """cancel= token: a waiting put raises brace.Cancelled, item not added."""
        q = BoundedQueue[int](1)
        q.put_nowait(1)
        token = CancelToken()
        async with anyio.create_task_group() as tg:

            async def cancel_later() -> None:
                await anyio.sleep(2)
                token.cancel("stop")

            tg.start_soon(cancel_later)
            with pytest.raises(Cancelled):
                await q.put(2, cancel=token)
        s = balanced(q)
        assert (s.size, s.put, s.waiting_putters) == (1, 1, 0)

    async def test_cancelled_token_refuses_at_once(self) -> None:
        """A token cancelled beforehand makes put and get raise at once."""
        q = BoundedQueue[int](2)
        q.put_nowait(1)
        token = CancelToken()
        token.cancel("no")
        with pytest.raises(Cancelled):
            await q.get(cancel=token)
        with pytest.raises(Cancelled):
            await q.put(2, cancel=token)
        assert balanced(q).size == 1

    async def test_token_cancelled_after_the_get_is_served_changes_nothing(
        self,
    ) -> None:
        """A token cancelled once the item was handed over does not undo it."""
        q = BoundedQueue[int](1)
        token = CancelToken()
        got: list[int] = []
        async with anyio.create_task_group() as tg:

            async def getter() -> None:
                got.append(await q.get(cancel=token))

            tg.start_soon(getter)
            await anyio.sleep(1)
            q.put_nowait(7)
            token.cancel("late")
        assert got == [7]
        assert not token._callbacks  # the get unregistered itself


# -- asyncio: cancellation at the instant of being served -----------------------------


@pytest.mark.asyncio
class TestAsyncioInstantOfGrant:
    """asyncio can cancel a task whose waiter is already done: nothing is lost."""

    async def test_getter_cancelled_after_being_served_passes_item_on(self) -> None:
        """The promised item goes to the next waiting getter."""
        q = BoundedQueue[str](2)
        first = asyncio.create_task(q.get())
        second = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.put_nowait("a")  # served: first
        first.cancel()  # before it resumes
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == "a"
        s = balanced(q)
        assert (s.got, s.size, s.waiting_getters) == (1, 0, 0)

    async def test_getter_cancelled_after_being_served_leaves_item_queued(
        self,
    ) -> None:
        """With nobody else waiting, the item simply stays at the front."""
        q = BoundedQueue[str](2)
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.put_nowait("a")
        q.put_nowait("b")
        getter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await getter
        assert [q.get_nowait(), q.get_nowait()] == ["a", "b"]
        assert not q._promised
        balanced(q)

    async def test_drop_oldest_while_a_getter_is_served(self) -> None:
        """Dropping the promised item hands the getter the next one instead."""
        q = BoundedQueue[str](1, overflow="drop_oldest")
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.put_nowait("stale")
        q.put_nowait("fresh")  # drops "stale", which was promised
        assert await getter == "fresh"
        assert balanced(q).dropped == 1

    async def test_putter_cancelled_after_being_admitted_keeps_its_item(self) -> None:
        """An admitted item stays queued and counted though the put is cancelled."""
        q = BoundedQueue[str](1)
        q.put_nowait("a")
        putter = asyncio.create_task(q.put("b"))
        await asyncio.sleep(0)
        assert q.get_nowait() == "a"  # admits "b"
        putter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await putter
        assert q.get_nowait() == "b"
        assert balanced(q).put == 2

    async def test_waiters_cancelled_before_they_run_are_skipped(self) -> None:
        """A cancelled task's waiter still in line is passed over, not served."""
        q = BoundedQueue[str](1)
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        getter.cancel()
        q.put_nowait("a")  # the cancelled getter has not left the line yet
        assert not q._promised
        putter = asyncio.create_task(q.put("b"))
        await asyncio.sleep(0)
        putter.cancel()
        assert q.get_nowait() == "a"  # must not admit the cancelled put's "b"
        for task in (getter, putter):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert q.empty()
        assert balanced(q).put == 1

    async def test_admitted_item_goes_to_a_waiting_getter(self) -> None:
        """With putters and getters both waiting, an admitted item is promised."""
        q = BoundedQueue[str](1)
        first = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        # Both start before first resumes: they find the queue full, and
        # its one item promised.
        putter = asyncio.create_task(q.put("b"))
        second = asyncio.create_task(q.get())
        q.put_nowait("a")
        await asyncio.sleep(0)
        assert q.statistics().waiting_putters == 0  # admitted when first took "a"
        assert await first == "a"
        assert await second == "b"
        await putter
        assert balanced(q).got == 2

    async def test_served_then_token_cancelled_then_task_cancelled(self) -> None:
        """A waiter woken by its token and cancelled before resuming is clean."""
        q = BoundedQueue[int](1)
        token = CancelToken()
        getter = asyncio.create_task(q.get(cancel=token))
        await asyncio.sleep(0)
        token.cancel()
        getter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await getter
        assert q.statistics().waiting_getters == 0
        q.put_nowait(1)
        assert q.get_nowait() == 1

    async def test_asyncio_timeout_and_wait_for(self) -> None:
        """asyncio.timeout and wait_for cancel waits and report TimeoutError."""
        q = BoundedQueue[int](1)
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3):
                await q.get()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.get(), 2)
        q.put_nowait(1)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(q.put(2), 1)
        assert loop.time() - start == 6
        s = balanced(q)
        assert (s.size, s.waiting_getters, s.waiting_putters) == (1, 0, 0)

    async def test_token_cancelled_from_another_thread(self) -> None:
        """CancelToken.cancel() from a worker thread wakes the waiting get."""
        q = BoundedQueue[int](1)
        token = CancelToken()
        getter = asyncio.create_task(q.get(cancel=token))
        await asyncio.sleep(0)
        thread = threading.Thread(target=token.cancel, args=("from thread",))
        thread.start()
        with pytest.raises(Cancelled, match="from thread"):
            await getter
        thread.join()
        assert q.statistics().waiting_getters == 0


# -- random interleavings -------------------------------------------------------------


# Cancellations aim at the oldest or newest live getter or putter, where the
# interesting instants are (a waiter just served, a putter just admitted).
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.booleans(), st.booleans()),
        st.tuples(st.just("get"), st.booleans(), st.booleans()),
        st.tuples(st.just("cancel"), st.sampled_from(["get", "put"]), st.booleans()),
        st.tuples(st.just("token"), st.integers(0, 3)),
        st.just(("step",)),
    ),
    min_size=20,
    max_size=60,
)


class Tasks:
    """Spawn, cancel and step tasks on asyncio (raw tasks) or trio."""

    def __init__(self, backend: str, nursery: Any = None) -> None:
        self.backend = backend
        self.nursery = nursery
        # role -> cancel functions of the tasks still running, oldest first
        self.live: dict[str, list[Callable[[], object]]] = {"get": [], "put": []}
        self.tasks: list[asyncio.Task[None]] = []

    def spawn(self, role: str, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        live = self.live[role]
        if self.backend == "asyncio":

            async def run() -> None:
                try:
                    await fn(*args)
                finally:
                    live.remove(task.cancel)

            task = asyncio.ensure_future(run())
            self.tasks.append(task)
            live.append(task.cancel)
        else:
            scope = trio.CancelScope()

            async def run_trio() -> None:
                try:
                    with scope:
                        await fn(*args)
                finally:
                    live.remove(scope.cancel)

            self.nursery.start_soon(run_trio)
            live.append(scope.cancel)

    def cancel(self, role: str, oldest: bool) -> None:
        live = self.live[role]
        if live:
            live[0 if oldest else -1]()

    async def step(self) -> None:
        if self.backend == "asyncio":
            await asyncio.sleep(0)
        else:
            await trio.lowlevel.checkpoint()

    async def finish(self) -> None:
        for live in self.live.values():
            for cancel in list(live):
                cancel()
        if self.backend == "asyncio":
            await asyncio.gather(*self.tasks, return_exceptions=True)


def check_interleaving(
    backend: str,
    maxsize: int,
    overflow: Any,
    prioritized: bool,
    ops: list[Any],
    close_at: int | None,
) -> None:
    dropped: list[int] = []
    got: list[int] = []
    outcome: dict[int, str] = {}
    counter = itertools.count()
    tokens: list[CancelToken] = []
    q = BoundedQueue[int](
        maxsize,
        overflow=overflow,
        on_drop=dropped.append if overflow.startswith("drop") else None,
        priority=(lambda i: i % 3) if prioritized else None,
    )

    def token(wanted: bool) -> CancelToken | None:
        if not wanted:
            return None
        tokens.append(CancelToken())
        return tokens[-1]

    async def putter(item: int, tok: CancelToken | None) -> None:
        try:
            await q.put(item, cancel=tok)
        except (QueueFull, QueueClosed, Cancelled) as exc:
            outcome[item] = type(exc).__name__
        except BaseException:
            outcome[item] = "cancelled"
            raise
        else:
            outcome[item] = "ok"

    async def getter(tok: CancelToken | None) -> None:
        with contextlib.suppress(QueueClosed, Cancelled):
            got.append(await q.get(cancel=tok))

    async def drive(tasks: Tasks) -> None:
        for index, op in enumerate(ops):
            kind = op[0]
            if kind == "put":
                item = next(counter)
                if op[1]:
                    tasks.spawn("put", putter, item, token(op[2]))
                else:
                    try:
                        q.put_nowait(item)
                    except (QueueFull, QueueClosed) as exc:
                        outcome[item] = type(exc).__name__
                    else:
                        outcome[item] = "ok"
            elif kind == "get":
                if op[1]:
                    tasks.spawn("get", getter, token(op[2]))
                else:
                    with contextlib.suppress(QueueEmpty, QueueClosed):
                        got.append(q.get_nowait())
            elif kind == "cancel":
                tasks.cancel(op[1], op[2])
            elif kind == "token" and tokens:
                tokens[-1 - op[1] % len(tokens)].cancel("token")
            elif kind == "step":
                await tasks.step()
            if close_at == index:
                q.close()
            balanced(q)
            assert len(q._promised) <= len(q)
        await tasks.finish()

    if backend == "asyncio":

        async def main() -> None:
            await drive(Tasks("asyncio"))

        with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
            runner.run(main())
    else:

        async def trio_main() -> None:
            async with trio.open_nursery() as nursery:
                await drive(Tasks("trio", nursery))

        trio.run(trio_main)

    stats = balanced(q)
    assert stats.waiting_getters == stats.waiting_putters == 0
    q.close()
    left: list[int] = []
    while True:
        try:
            left.append(q.get_nowait())
        except QueueClosed:
            break
    delivered = Counter(got + left + dropped)
    assert all(n == 1 for n in delivered.values()), delivered  # no duplicates
    for item, result in outcome.items():
        if result == "ok":
            assert delivered[item] == 1, (item, outcome)
        elif result != "cancelled":  # refused: it never entered the queue
            assert item not in delivered, (item, result)
    assert set(delivered) <= set(outcome)
    stats = q.statistics()
    assert stats.got == len(got) + len(left)
    assert stats.dropped == len(dropped)
    assert stats.put == len(delivered)
    assert stats.rejected == sum(r == "QueueFull" for r in outcome.values())
    assert not q._promised


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    maxsize=st.integers(1, 3),
    overflow=st.sampled_from(OVERFLOWS),
    prioritized=st.booleans(),
    ops=OPS,
    close_at=st.none() | st.integers(0, 60),
)
def test_random_interleavings_lose_and_duplicate_nothing(
    backend: str,
    maxsize: int,
    overflow: Any,
    prioritized: bool,
    ops: list[Any],
    close_at: int | None,
) -> None:
    """Random puts, gets, cancels and closes: each item got once, kept or dropped."""
    check_interleaving(backend, maxsize, overflow, prioritized, ops, close_at)
