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
    "CacheEvicted",
    "CacheRefreshFailed",
    "ChaosInjected",
    "CircuitRejected",
    "CircuitStateChanged",
    "CircuitWouldOpen",
    "Event",
    "FallbackUsed",
    "HedgeStarted",
    "HedgeWon",
    "LimiterRejected",
    "LimiterWaited",
    "Listener",
    "QueueItemDropped",
    "QueuePutRejected",
    "RateLimitRejected",
    "RateLimitWaited",
    "RegistryEvicted",
    "RetryBudgetExhausted",
    "RetryGaveUp",
    "RetryScheduled",
    "SagaFinished",
    "StepFailed",
    "StepStarted",
    "StepSucceeded",
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
            yielded, or ``brace.http`` could not send a streamed request
            body again).
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


# -- breaker events (CircuitBreaker) --


@attrs.frozen(kw_only=True)
class CircuitStateChanged(Event):
    """A :class:`~brace.CircuitBreaker` moved from one state to another.

    Attributes:
        old: The state it left, a :class:`~brace.CircuitState` (a ``str``).
        new: The state it entered.
        reason: Why: ``"failure_rate"``, ``"slow_call_rate"`` or
            ``"consecutive_failures"`` (a rule tripped it open),
            ``"open_for_elapsed"`` (open to half-open), ``"probe_failed"``,
            ``"probe_slow"`` or ``"probe_timeout"`` (a probe re-opened it),
            ``"probes_succeeded"`` (half-open to closed), or the manual
            ``"isolate"``, ``"reset"``, ``"force_closed"`` and ``"restore"``.
        open_for: When *new* is ``"open"``, how many seconds it stays open;
            otherwise ``None``.

    .. versionadded:: 0.1
    """

    old: str
    new: str
    reason: str
    open_for: float | None = None


@attrs.frozen(kw_only=True)
class CircuitRejected(Event):
    """A :class:`~brace.CircuitBreaker` failed a call fast with CircuitOpen.

    Attributes:
        state: The breaker's state: ``"open"``, ``"half_open"`` (every probe
            permit taken) or ``"isolated"``.
        retry_after: The ``retry_after`` of the :class:`~brace.CircuitOpen`
            raised (``inf`` when isolated).

    .. versionadded:: 0.1
    """

    state: str
    retry_after: float


@attrs.frozen(kw_only=True)
class CircuitWouldOpen(Event):
    """A ``force_closed`` breaker's rule fired, and the breaker stayed closed.

    Dark launches watch for this event: it is where the breaker would have
    opened had it been enforcing.

    Attributes:
        reason: The rule: ``"failure_rate"``, ``"slow_call_rate"`` or
            ``"consecutive_failures"``.
        failure_rate: The failure rate in the window at that moment.
        slow_call_rate: The slow-call rate in the window at that moment.
        calls: The calls in the window at that moment.

    .. versionadded:: 0.1
    """

    reason: str
    failure_rate: float
    slow_call_rate: float
    calls: int


# -- budget events (RetryBudget, RetryQuota) --


@attrs.frozen(kw_only=True)
class RetryBudgetExhausted(Event):
    """A :class:`~brace.RetryBudget` or :class:`~brace.RetryQuota` refused a retry.

    The retry policy that asked then gives up at once (its
    :class:`RetryGaveUp` says ``reason="budget"``).

    Attributes:
        error: The exception the retry was asked for, or ``None`` (a rejected
            result, or a hedge).
        cost: What the retry would have cost: 1 retry for a ``RetryBudget``,
            tokens for a ``RetryQuota``.
        available: What was left, in the same unit: whole retries for a
            ``RetryBudget``, tokens for a ``RetryQuota``.

    .. versionadded:: 0.1
    """

    error: BaseException | None = None
    cost: int
    available: int

    @property
    def exception_type(self) -> str | None:
        """The qualified name of *error*'s type, or ``None``."""
        return _type_name(self.error)


# -- fallback events (Fallback) --


@attrs.frozen(kw_only=True)
class FallbackUsed(Event):
    """A :class:`~brace.Fallback` replaced a failure with its fallback.

    Emitted before the fallback value is returned or its factory is called.

    Attributes:
        error: The exception that was handled, or ``None`` when ``on_result``
            rejected a returned value.
        result: The rejected value, when *error* is ``None``.

    .. versionadded:: 0.1
    """

    error: BaseException | None = None
    result: object = None

    @property
    def exception_type(self) -> str | None:
        """The qualified name of *error*'s type, or ``None``."""
        return _type_name(self.error)


# -- hedge events (Hedge) --


@attrs.frozen(kw_only=True)
class HedgeStarted(Event):
    """A :class:`~brace.Hedge` started another attempt of a call.

    Attributes:
        attempt: The number of the attempt just started (2 for the first
            hedge; the primary is 1).
        reason: Why: ``"delay"`` (the hedging delay passed with no result
            yet; with ``delay=0``, at once) or ``"failure"`` (an attempt
            failed with an exception that ``on`` matches).
        delay: The hedging delay in effect for this call, in seconds.
        error: The failure that started it, when *reason* is ``"failure"``.

    .. versionadded:: 0.1
    """

    attempt: int
    reason: str
    delay: float
    error: BaseException | None = None

    @property
    def exception_type(self) -> str | None:
        """The qualified name of *error*'s type, or ``None``."""
        return _type_name(self.error)


@attrs.frozen(kw_only=True)
class HedgeWon(Event):
    """An attempt of a hedged call succeeded first; the others were cancelled.

    Emitted only for calls that started at least one hedge: a primary that
    succeeds before the delay emits nothing.

    Attributes:
        attempt: The attempt that won (1 for the primary, 2 for the first
            hedge, ...).
        attempts: How many attempts had been started.
        elapsed: Seconds from the start of the call to the winning result.

    .. versionadded:: 0.1
    """

    attempt: int
    attempts: int
    elapsed: float


# -- cache events (BoundedCache, cached) --


@attrs.frozen(kw_only=True)
class CacheEvicted(Event):
    """A :class:`~brace.BoundedCache` dropped an entry on its own.

    Emitted only by caches built with ``eviction_events=True``; explicit
    removals (``pop``, ``clear``, invalidation) emit nothing.

    Attributes:
        key: The entry's key.
        reason: ``"size"`` (pushed out, least recently used, to make room)
            or ``"expired"`` (its time to live ran out).

    .. versionadded:: 0.1
    """

    key: object
    reason: str


@attrs.frozen(kw_only=True)
class CacheRefreshFailed(Event):
    """A background refresh of :func:`~brace.cached` failed.

    With ``stale_while_revalidate``, callers keep getting the stale value
    until it is too old to serve; the next call after this event starts
    another refresh (unless ``cache_errors_for`` holds the error back).

    Attributes:
        key: The cache key whose refresh failed.
        error: The exception the function raised.

    .. versionadded:: 0.1
    """

    key: object
    error: BaseException

    @property
    def exception_type(self) -> str:
        """The qualified name of *error*'s type."""
        return type(self.error).__qualname__


# -- pipeline events (compose, Pipeline) --


# -- chaos events (testing.Chaos) --


@attrs.frozen(kw_only=True)
class ChaosInjected(Event):
    """A :class:`~brace.testing.Chaos` policy injected something into a call.

    A call that gets latency and then a fault or result emits two events,
    the latency first, once it has been waited out.

    Attributes:
        kind: What was injected: ``"latency"`` (the call was delayed by
            *latency* seconds), ``"fault"`` (*error* was raised instead of
            calling) or ``"result"`` (*result* was returned instead of
            calling).
        latency: The injected delay in seconds, for ``"latency"``.
        error: The injected exception, for ``"fault"``.
        result: The injected result, for ``"result"``.

    .. versionadded:: 0.1
    """

    kind: str
    latency: float | None = None
    error: BaseException | None = None
    result: object = None


# -- registry events (Registry) --


@attrs.frozen(kw_only=True)
class RegistryEvicted(Event):
    """A :class:`~brace.Registry` dropped an entry to stay within its bounds.

    Callers that still hold the entry can keep using it; the next
    ``get_or_create()`` of the key builds a new one. Explicit
    :meth:`~brace.Registry.remove` calls emit nothing.

    Attributes:
        key: The key whose entry was dropped.
        entry: The dropped entry (close or flush it here if it needs that).
        reason: ``"max_keys"`` (the least recently used entry made room
            for a new key) or ``"idle_ttl"`` (unused for ``idle_ttl``).

    .. versionadded:: 0.1
    """

    key: object
    entry: object
    reason: str


# -- step events (step, Saga) --


@attrs.frozen(kw_only=True)
class StepStarted(Event):
    """A :func:`~brace.step` started (once per call, outside its policies).

    .. versionadded:: 0.1
    """


@attrs.frozen(kw_only=True)
class StepSucceeded(Event):
    """A :func:`~brace.step` returned.

    Attributes:
        elapsed: Seconds from the start of the step, retries included, on
            the loop's clock.

    .. versionadded:: 0.1
    """

    elapsed: float


@attrs.frozen(kw_only=True)
class StepFailed(Event):
    """A :func:`~brace.step` raised (after its policies gave up).

    Attributes:
        error: The exception that left the step.
        elapsed: Seconds from the start of the step, on the loop's clock.
        cancelled: ``True`` when the step was interrupted (task
            cancellation, ``KeyboardInterrupt``...) rather than failing with
            an :class:`Exception`.

    .. versionadded:: 0.1
    """

    error: BaseException
    elapsed: float
    cancelled: bool = False

    @property
    def exception_type(self) -> str:
        """The qualified name of *error*'s type."""
        return type(self.error).__qualname__


@attrs.frozen(kw_only=True)
class SagaFinished(Event):
    """A :class:`~brace.Saga` run ended: completed, or failed and unwound.

    Attributes:
        status: ``"completed"``, ``"compensated"`` (a step failed and every
            compensation succeeded) or ``"compensation_failed"``.
        failed_step: The name of the step that failed, or ``None``.
        error: That step's exception (a cancellation when the step was
            cancelled).
        elapsed: Seconds from the start of the run to the end of the
            compensations, on the loop's clock.
        cancelled: ``True`` when the run was cancelled, during a step or
            while compensating; it then re-raises the cancellation after
            compensating.

    .. versionadded:: 0.1
    """

    status: str
    failed_step: str | None = None
    error: BaseException | None = None
    elapsed: float
    cancelled: bool = False


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
