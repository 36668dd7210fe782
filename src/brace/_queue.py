"""BoundedQueue: a bounded queue with an explicit overflow rule.

Items stay in the buffer until a consumer takes them. A put that finds
getters waiting wakes the first one and *promises* it an item: the promised
items are the front of the buffer, which later callers skip. A woken getter
takes the item whose position matches its place among the getters still
to resume (on asyncio always the first; trio resumes a batch in any order),
so waiting getters get items strictly in arrival order and an item is
never in two places. A getter cancelled after it was woken, before it
resumed, passes its promise to the next waiting getter; the item never left.
Waiting putters are admitted in arrival order: the get that makes room
moves the first putter's item into the buffer and wakes it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs

from . import _events
from ._errors import Cancelled, QueueClosed, QueueEmpty, QueueFull
from ._events import Listener
from ._queue_heap import HeapBuffer
from ._queue_waiters import Waiter, count_live, park, settle
from ._time import check_count

if TYPE_CHECKING:
    from typing import Self

    from ._cancel import CancelToken

__all__ = ["BoundedQueue", "Overflow", "QueueStatistics"]

T = TypeVar("T")
Overflow = Literal["block", "reject", "drop_oldest", "drop_newest"]
_OVERFLOWS = ("block", "reject", "drop_oldest", "drop_newest")
_log = logging.getLogger("brace")


@attrs.frozen(kw_only=True)
class QueueStatistics:
    """A snapshot of a :class:`BoundedQueue`'s state and counters.

    At every moment ``put == got + size + dropped``: every item a put
    handed to the queue was got, is still queued, or was dropped.

    Attributes:
        size: Items in the queue now.
        maxsize: The queue's capacity.
        put: Items handed to the queue by puts: accepted, or dropped on
            arrival by ``drop_newest``.
        got: Items taken out by gets.
        dropped: Items dropped by the overflow rule.
        rejected: Puts refused with :class:`brace.QueueFull`.
        waiting_putters: Puts waiting for room.
        waiting_getters: Gets waiting for an item.
        closed: Whether :meth:`BoundedQueue.close` was called.

    .. versionadded:: 0.1
    """

    size: int
    maxsize: int
    put: int
    got: int
    dropped: int
    rejected: int
    waiting_putters: int
    waiting_getters: int
    closed: bool


class BoundedQueue(Generic[T]):
    """A bounded FIFO (or priority) queue with an explicit overflow rule.

    ``BoundedQueue[int](100)`` holds at most 100 items. What a put does when
    the queue is full is the *overflow* rule:

    - ``"block"``: :meth:`put` waits for room; :meth:`put_nowait` raises
      :class:`brace.QueueFull`.
    - ``"reject"``: both raise :class:`brace.QueueFull`; nothing waits.
    - ``"drop_oldest"``: the item queued longest is dropped to make room.
    - ``"drop_newest"``: the item being put is dropped.

    Every drop is counted, passed to *on_drop*, and emitted as a
    :class:`~brace.QueueItemDropped` event; nothing disappears silently.
    Any number of producers and consumers may share the queue. Waiting
    getters are served, and waiting putters admitted, strictly in the order
    they started waiting. Cancelling a waiting :meth:`get` or :meth:`put`
    loses no item and duplicates none.

    After :meth:`close`, puts raise :class:`brace.QueueClosed`; gets return
    what is left, then raise :class:`brace.QueueClosed`, and ``async for``
    ends. Works on asyncio and on trio; constructible outside a running loop.

    Args:
        maxsize: The capacity, an int >= 1. There is no unbounded default.
        overflow: ``"block"``, ``"reject"``, ``"drop_oldest"`` or
            ``"drop_newest"``.
        on_drop: Called with each dropped item (drop rules only). An
            exception it raises is logged on the ``brace`` logger and
            ignored.
        priority: A key function: items come out smallest key first, like
            ``heapq``; items with equal keys come out in the order they
            were put. The drop rules still go by arrival order:
            ``drop_oldest`` drops the item queued longest, whatever its key,
            and ``drop_newest`` the item being put.
        name: Names the queue in events and ``repr``.
        listeners: Callbacks for this queue's events.

    Raises:
        ValueError: *maxsize* is not an int >= 1, *overflow* is not one of
            the four rules, or *on_drop* is given to a queue that never
            drops.
        TypeError: *on_drop*, *priority* or a listener is not callable.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__weakref__",
        "_blocks",
        "_closed",
        "_dropped",
        "_getters",
        "_got",
        "_items",
        "_maxsize",
        "_on_drop",
        "_overflow",
        "_promised",
        "_putters",
        "_rejected",
        "listeners",
        "name",
    )

    def __init__(
        self,
        maxsize: int,
        *,
        overflow: Overflow = "block",
        on_drop: Callable[[T], object] | None = None,
        priority: Callable[[T], Any] | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_count(maxsize, "maxsize")
        if overflow not in _OVERFLOWS:
            msg = f"overflow must be one of {', '.join(_OVERFLOWS)}; not {overflow!r}"
            raise ValueError(msg)
        # Checked through object: the annotations promise what users may
        # still get wrong at runtime.
        checked: tuple[object, object] = (on_drop, priority)
        if on_drop is not None:
            if not callable(checked[0]):
                msg = f"on_drop must be a callable taking the item, not {on_drop!r}"
                raise TypeError(msg)
            if not overflow.startswith("drop_"):
                msg = (
                    f"on_drop is never called by an overflow={overflow!r} queue, "
                    "which drops nothing; use drop_oldest or drop_newest"
                )
                raise ValueError(msg)
        if priority is not None and not callable(checked[1]):
            msg = f"priority must be a key function taking the item, not {priority!r}"
            raise TypeError(msg)
        self.name = name
        self.listeners = _events.listeners(listeners)
        self._maxsize = maxsize
        self._overflow: Overflow = overflow
        self._blocks = overflow == "block"
        self._on_drop = on_drop
        self._items: deque[T] | HeapBuffer[T] = (
            deque()
            if priority is None
            else HeapBuffer(priority, track_arrivals=overflow == "drop_oldest")
        )
        # Woken getters that have not resumed yet, in the order they were
        # woken; the first len(_promised) items are theirs.
        self._promised: deque[Waiter] = deque()
        self._getters: OrderedDict[Waiter, None] = OrderedDict()
        self._putters: OrderedDict[Waiter, T] = OrderedDict()
        self._closed = False
        # put is not counted: it is got + size + dropped at every moment,
        # which keeps a counter update off the fast path.
        self._got = self._dropped = self._rejected = 0

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        state = " closed" if self._closed else ""
        return (
            f"<BoundedQueue{name} {len(self._items)}/{self._maxsize} "
            f"overflow={self._overflow!r}{state}>"
        )

    @property
    def maxsize(self) -> int:
        """The capacity."""
        return self._maxsize

    @property
    def overflow(self) -> Overflow:
        """The overflow rule."""
        return self._overflow

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def qsize(self) -> int:
        """The number of items in the queue; also ``len(q)``."""
        return len(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        """Whether the queue holds no item."""
        return not len(self._items)

    def full(self) -> bool:
        """Whether the queue holds *maxsize* items."""
        return len(self._items) >= self._maxsize

    def statistics(self) -> QueueStatistics:
        """A frozen snapshot of the queue's size, counters and waiters."""
        return QueueStatistics(
            size=len(self._items),
            maxsize=self._maxsize,
            put=self._got + len(self._items) + self._dropped,
            got=self._got,
            dropped=self._dropped,
            rejected=self._rejected,
            waiting_putters=count_live(self._putters),
            waiting_getters=count_live(self._getters),
            closed=self._closed,
        )

    # -- putting ----------------------------------------------------------------

    def put_nowait(self, item: T) -> None:
        """Put *item* without waiting; a full queue applies its overflow rule.

        Raises:
            brace.QueueFull: The queue is full and its rule is ``block`` or
                ``reject``.
            brace.QueueClosed: The queue is closed.
        """
        items = self._items
        if len(items) < self._maxsize and not self._closed:
            items.append(item)
            if self._getters:
                self._wake_getter()
            return
        if self._closed:
            raise QueueClosed
        self._overflow_full(item)

    async def put(self, item: T, cancel: CancelToken | None = None) -> None:
        """Put *item*, waiting for room if the rule is ``block``.

        The other rules never wait: they act as :meth:`put_nowait`.

        Args:
            item: The item.
            cancel: A :class:`~brace.CancelToken`; when it is (or gets)
                cancelled before the item is accepted, the put raises
                :class:`brace.Cancelled` and the item is not added.

        Raises:
            brace.QueueFull: The queue is full and its rule is ``reject``.
            brace.QueueClosed: The queue is (or gets) closed before the item
                is accepted.
            brace.Cancelled: *cancel* was cancelled first.
        """
        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
        items = self._items
        if len(items) < self._maxsize and not self._closed:
            items.append(item)
            if self._getters:
                self._wake_getter()
            return
        if self._closed:
            raise QueueClosed
        if not self._blocks:
            self._overflow_full(item)
            return
        # Returns once _admit() has moved the item into the queue.
        # A putter cancelled at the instant it was admitted has its item
        # accepted: it stays queued and counted, as if the put had returned.
        await park(self._putters, item, cancel)

    def _overflow_full(self, item: T) -> None:
        overflow = self._overflow
        items = self._items
        if overflow == "drop_newest":
            dropped = item
        elif overflow == "drop_oldest":
            # Add first: a priority key that raises then leaves all as it was.
            items.append(item)
            dropped = (
                items.pop_oldest() if isinstance(items, HeapBuffer) else items.popleft()
            )
        else:
            self._rejected += 1
            if _events.subscribers or self.listeners:
                _events.emit(
                    _events.QueuePutRejected(
                        name=self.name or "<queue>", maxsize=self._maxsize
                    ),
                    self.listeners,
                )
            raise QueueFull(maxsize=self._maxsize)
        self._dropped += 1
        # The queue is consistent before any user code runs.
        on_drop = self._on_drop
        if on_drop is not None:
            try:
                on_drop(dropped)
            except Exception:
                _log.exception("on_drop callback %r of %r failed", on_drop, self)
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.QueueItemDropped(
                    name=self.name or "<queue>", item=dropped, overflow=overflow
                ),
                self.listeners,
            )

    # -- getting ----------------------------------------------------------------

    def get_nowait(self) -> T:
        """Remove and return the next item without waiting.

        Items promised to getters that were woken but have not resumed yet
        are not available.

        Raises:
            brace.QueueEmpty: No item is available.
            brace.QueueClosed: No item is available and the queue is closed.
        """
        items = self._items
        if items and not self._promised:
            item = items.popleft()
        else:
            promised = len(self._promised)
            if len(items) <= promised:
                raise QueueClosed if self._closed else QueueEmpty
            item = self._take_after(promised)
        self._got += 1
        if self._putters:
            self._admit()
        return item

    async def get(self, cancel: CancelToken | None = None) -> T:
        """Remove and return the next item, waiting for one if necessary.

        Args:
            cancel: A :class:`~brace.CancelToken`; when it is (or gets)
                cancelled before an item is handed over, the get raises
                :class:`brace.Cancelled` and takes nothing.

        Raises:
            brace.QueueClosed: The queue is closed and nothing is left.
            brace.Cancelled: *cancel* was cancelled first.
        """
        if cancel is not None and cancel.cancelled:
            raise Cancelled(cancel.reason)
        items = self._items
        promised = len(self._promised)
        if items and not promised:
            item = items.popleft()
        elif len(items) > promised:
            item = self._take_after(promised)
        else:
            if self._closed:
                raise QueueClosed
            waiter = await park(self._getters, None, cancel, self._pass_promise)
            promised_to = self._promised
            if promised_to[0] is waiter:
                promised_to.popleft()
                item = items.popleft()
            else:
                position = promised_to.index(waiter)
                del promised_to[position]
                item = self._take_after(position)
        self._got += 1
        if self._putters:
            self._admit()
        return item

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except QueueClosed:
            raise StopAsyncIteration from None

    def _take_after(self, skip: int) -> T:
        items = self._items
        if isinstance(items, HeapBuffer):
            return items.take_after(skip)
        item = items[skip]
        del items[skip]
        return item

    # -- closing ----------------------------------------------------------------

    def close(self) -> None:
        """Close the queue. Idempotent.

        Waiting and later puts raise :class:`brace.QueueClosed`; items
        already queued stay available to gets, which raise
        :class:`brace.QueueClosed` once the queue is empty.
        """
        if self._closed:
            return
        self._closed = True
        getters, self._getters = self._getters, OrderedDict()
        putters, self._putters = self._putters, OrderedDict()
        for waiter in (*getters, *putters):
            settle(waiter, QueueClosed())

    # -- waiting ----------------------------------------------------------------

    def _wake_getter(self) -> None:
        getters = self._getters
        while getters:
            waiter = getters.popitem(last=False)[0]
            if not waiter.done():
                self._promised.append(waiter)
                waiter.set_result(None)
                return

    def _admit(self) -> None:
        putters = self._putters
        items = self._items
        while putters and len(items) < self._maxsize:
            waiter, item = putters.popitem(last=False)
            if waiter.done():
                continue
            try:
                items.append(item)
            except Exception as exc:  # the priority key failed: that put fails
                waiter.set_result(exc)
                continue
            waiter.set_result(None)
            if self._getters:
                self._wake_getter()

    def _pass_promise(self, waiter: Waiter) -> None:
        # A getter cancelled at the instant it was woken: the item promised
        # to it is still at the front; promise it to the next getter.
        self._promised.remove(waiter)
        if self._getters:
            self._wake_getter()
