"""Typed events and the listeners that receive them.

Events are frozen value objects delivered synchronously, in the task that
caused them, to listeners registered globally (:func:`subscribe`) or on one
policy (``listeners=``). Emitting sites check :func:`enabled` first, so an
event object is only built when somebody listens: with no listener the cost
is one truth test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TypeVar, overload

import attrs

__all__ = [
    "Event",
    "LimiterRejected",
    "LimiterWaited",
    "Listener",
    "QueueItemDropped",
    "QueuePutRejected",
    "RateLimitRejected",
    "RateLimitWaited",
    "RetryGaveUp",
    "RetryScheduled",
    "Subscription",
    "TimeoutFired",
    "TokenCancelled",
    "emit",
    "subscribe",
]

_log = logging.getLogger("brace.events")


@attrs.frozen(kw_only=True)
class Event:
    """Base class of brace's events.

    Attributes:
        name: What emitted the event: the qualified name of the protected
            function, or the name given to the policy or resource.

    .. versionadded:: 0.1
    """

    name: str


def _type_name(exc: BaseException | None) -> str | None:
    return None if exc is None else type(exc).__qualname__


@attrs.frozen(kw_only=True)
class RetryScheduled(Event):
    """An attempt failed and another one is scheduled after *delay* seconds.

    Attributes:
        attempt: The number of the attempt that just failed (1 for the first).
        delay: Seconds until the next attempt starts.
        error: The exception of the failed attempt, or ``None`` when the
            attempt returned a result that ``retry_on_result`` rejected.
        result: The rejected result, when *error* is ``None``.

    .. versionadded:: 0.1
    """

    attempt: int
    delay: float
    error: BaseException | None = None
    result: object = None

    @property
    def exception_type(self) -> str | None:
        """The qualified name of *error*'s type, or ``None``."""
        return _type_name(self.error)


@attrs.frozen(kw_only=True)
class RetryGaveUp(Event):
    """A retry policy stopped retrying and let the last outcome through.

    Attributes:
        attempts: How many attempts were made.
        elapsed: Seconds from the start of the call to giving up; for
            policies without a deadline, from the first wait before a retry,
            and ``None`` if no retry waited (brace then never read the
            clock).
        reason: Why it stopped: ``"attempts"``, ``"deadline"``, ``"budget"``,
            ``"cancelled"`` or ``"not_retryable"`` (a generator had already
            yielded).
        error: The last exception, or ``None`` for a rejected result.
        result: The last rejected result, when *error* is ``None``.

    .. versionadded:: 0.1
    """

    attempts: int
    elapsed: float | None
    reason: str
    error: BaseException | None = None
    result: object = None

    @property
    def exception_type(self) -> str | None:
        """The qualified name of *error*'s type, or ``None``."""
        return _type_name(self.error)


@attrs.frozen(kw_only=True)
class TimeoutFired(Event):
    """A brace timeout expired and interrupted the protected code.

    Attributes:
        timeout: The timeout that expired, in seconds.

    .. versionadded:: 0.1
    """

    timeout: float


@attrs.frozen(kw_only=True)
class TokenCancelled(Event):
    """A :class:`~brace.CancelToken` was cancelled.

    Attributes:
        reason: The reason given to :meth:`~brace.CancelToken.cancel`.

    .. versionadded:: 0.1
    """

    reason: object


# -- limiter events (ConcurrencyLimiter) --


@attrs.frozen(kw_only=True)
class LimiterRejected(Event):
    """A :class:`~brace.ConcurrencyLimiter` shed a call (:class:`~brace.LimiterFull`).

    Attributes:
        reason: Why: ``"no_slot"`` (``acquire_nowait()`` found every slot
            taken), ``"waiting_room_full"`` (no free slot and no room left
            to wait in; always so with ``max_waiting=0``) or ``"evicted"``
            (``order="lifo"``: the oldest waiter was turned away to make
            room for a newer one).
        max_concurrent: The limiter's slot count at that moment.
        waiting: How many calls were waiting after the rejection.

    .. versionadded:: 0.1
    """

    reason: str
    max_concurrent: int
    waiting: int


@attrs.frozen(kw_only=True)
class LimiterWaited(Event):
    """A call waited for a :class:`~brace.ConcurrencyLimiter` slot and got it.

    Calls that find a free slot at once emit nothing, and neither does a
    wait that began before anybody listened (its start was not timed).

    Attributes:
        waited: Seconds spent in the waiting room, on the loop's clock.

    .. versionadded:: 0.1
    """

    waited: float


# -- queue events (BoundedQueue) --


@attrs.frozen(kw_only=True)
class QueueItemDropped(Event):
    """A :class:`~brace.BoundedQueue` dropped an item by its overflow rule.

    Attributes:
        item: The item that was dropped.
        overflow: The rule that dropped it: ``"drop_oldest"`` (an item that
            was queued) or ``"drop_newest"`` (the item being put).

    .. versionadded:: 0.1
    """

    item: object
    overflow: str


@attrs.frozen(kw_only=True)
class QueuePutRejected(Event):
    """A full :class:`~brace.BoundedQueue` refused a put with QueueFull.

    Raised by ``overflow="reject"`` queues, and by ``put_nowait`` on full
    ``overflow="block"`` queues.

    Attributes:
        maxsize: The queue's capacity.

    .. versionadded:: 0.1
    """

    maxsize: int


# -- rate limiter events (RateLimiter, KeyedRateLimiter) --


@attrs.frozen(kw_only=True)
class RateLimitRejected(Event):
    """A :class:`~brace.RateLimiter` refused a request without granting it.

    Emitted when ``try_acquire()`` returns ``False`` and when ``acquire()``
    raises :class:`~brace.RateLimited` because the wait would exceed
    ``max_wait``.

    Attributes:
        cost: The units asked for.
        retry_after: Seconds until they could be granted, behind the tasks
            already waiting.

    .. versionadded:: 0.1
    """

    cost: int
    retry_after: float


@attrs.frozen(kw_only=True)
class RateLimitWaited(Event):
    """A request waited for :class:`~brace.RateLimiter` capacity and got it.

    Requests granted at once emit nothing.

    Attributes:
        cost: The units granted.
        waited: Seconds spent waiting, on the loop's clock.

    .. versionadded:: 0.1
    """

    cost: int
    waited: float


Listener = Callable[[Event], object]
E = TypeVar("E", bound=Event)

# (callback, kinds) pairs; a list, not a dict, so one callback may be
# subscribed twice for different kinds and delivery order is registration
# order.
_subscribers: list[tuple[Callable[[Event], object], tuple[type[Event], ...]]] = []
# Hot paths test this name directly (``if subscribers or listeners``) to skip
# building events nobody receives; it is the same list object throughout.
subscribers = _subscribers


class Subscription:
    """A handle on a global subscription: remove it, or use it as a context.

    .. versionadded:: 0.1
    """

    __slots__ = ("_entry",)

    def __init__(
        self, entry: tuple[Callable[[Event], object], tuple[type[Event], ...]]
    ) -> None:
        self._entry = entry

    @property
    def active(self) -> bool:
        """Whether the callback still receives events."""
        return any(entry is self._entry for entry in _subscribers)

    def unsubscribe(self) -> None:
        """Stop delivering events to the callback. Idempotent."""
        for i, entry in enumerate(_subscribers):
            if entry is self._entry:
                del _subscribers[i]
                return

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unsubscribe()


@overload
def subscribe(callback: Callable[[Event], object], /) -> Subscription: ...
@overload
def subscribe(
    callback: Callable[[E], object], kind: type[E], /, *kinds: type[E]
) -> Subscription: ...
def subscribe(callback: Callable[[E], object], /, *kinds: type[E]) -> Subscription:
    """Deliver every event of the given kinds, from every policy, to *callback*.

    The callback runs synchronously where the event happens, so keep it quick;
    an exception it raises is logged on the ``brace.events`` logger and never
    changes the outcome of the call that emitted the event.

    Args:
        callback: Called with each matching event.
        *kinds: Event classes to receive (subclasses included); all events
            when none is given.

    Returns:
        A :class:`Subscription`; call :meth:`~Subscription.unsubscribe` or
        use it as a context manager to stop.

    .. versionadded:: 0.1
    """
    for kind in kinds:
        _check_event_class(kind)
    entry = (callback, kinds or (Event,))
    _subscribers.append(entry)  # type: ignore[arg-type]
    return Subscription(entry)  # type: ignore[arg-type]


def listeners(value: Iterable[Listener]) -> tuple[Listener, ...]:
    """Convert a policy's ``listeners=`` to a tuple, checking each is callable."""
    result = tuple(value)
    items: tuple[object, ...] = result
    for item in items:
        if not callable(item):
            msg = f"listeners must be callables taking an event, not {item!r}"
            raise TypeError(msg)
    return result


def _check_event_class(kind: object) -> None:
    if not (isinstance(kind, type) and issubclass(kind, Event)):
        msg = f"subscribe() takes brace event classes, not {kind!r}"
        raise TypeError(msg)


def enabled(local: tuple[Listener, ...] = ()) -> bool:
    """Whether emitting an event would reach anybody (check before building it)."""
    return bool(_subscribers or local)


def emit(event: Event, local: Iterable[Listener] = ()) -> None:
    """Deliver *event* to the policy's own listeners, then to global subscribers."""
    for callback in local:
        _deliver(callback, event)
    for callback, kinds in tuple(_subscribers):
        if isinstance(event, kinds):
            _deliver(callback, event)


def _deliver(callback: Callable[[Event], object], event: Event) -> None:
    try:
        callback(event)
    except Exception:
        # A broken listener must never turn a success into a failure, nor
        # change which exception a failed call raises.
        _log.exception("brace event listener %r failed on %r", callback, event)
