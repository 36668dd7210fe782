"""Recording brace's events in tests, and asserting on what they show.

The assertion helpers raise :class:`AssertionError` with a message that says
what was expected, what happened instead, and every event recorded, so a
failing test explains itself without a debugger.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn, TypeVar, overload

import attrs

from ._events import Event, RetryGaveUp, RetryScheduled, subscribe

__all__ = [
    "EventLog",
    "assert_emitted",
    "assert_gave_up",
    "assert_retried",
    "capture_events",
]

E = TypeVar("E", bound=Event)


class EventLog(Sequence[Event]):
    """A list of recorded events, with helpers to query it.

    :func:`capture_events` fills one; you can also build one and pass its
    :meth:`append` as a policy's listener::

        log = EventLog()
        policy = brace.Retry(on=OSError, listeners=[log.append])

    It compares equal to a list (or any sequence) of the same events.

    Args:
        events: Events to start with.

    .. versionadded:: 0.1
    """

    __slots__ = ("_events",)

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._events: list[Event] = []
        for event in events:
            self.append(event)

    def append(self, event: Event) -> None:
        """Record *event* (a listener: pass ``log.append`` to ``listeners=``)."""
        self._events.append(_checked_event(event))

    def clear(self) -> None:
        """Forget every recorded event."""
        self._events.clear()

    def __len__(self) -> int:
        return len(self._events)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        return self._events[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return self._events == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventLog({self._events!r})"

    @overload
    def of_type(self, *, name: str | None = None) -> list[Event]: ...
    @overload
    def of_type(
        self, kind: type[E], /, *kinds: type[E], name: str | None = None
    ) -> list[E]: ...
    def of_type(self, *kinds: type[Event], name: str | None = None) -> list[Any]:
        """The events of the given classes (subclasses included), in order.

        Args:
            *kinds: Event classes; all events when none is given.
            name: Keep only events of the policy or resource with this name.
        """
        wanted = kinds or (Event,)
        for kind in wanted:
            _check_event_class(kind)
        return [
            event
            for event in self._events
            if isinstance(event, wanted) and (name is None or event.name == name)
        ]

    def names(self) -> list[str]:
        """The ``name`` of every event (who emitted it), in order."""
        return [event.name for event in self._events]

    def kinds(self) -> list[str]:
        """The class name of every event, in order, e.g. ``"RetryScheduled"``."""
        return [type(event).__name__ for event in self._events]

    def retries(self, *, name: str | None = None) -> list[float]:
        """The delay of every scheduled retry, in order (see :func:`assert_retried`)."""
        return [event.delay for event in self.of_type(RetryScheduled, name=name)]


def capture_events(
    *kinds: type[Event], name: str | None = None
) -> AbstractContextManager[EventLog]:
    """Record the events that every brace policy emits inside a ``with`` block.

    ::

        with brace.testing.capture_events() as events:
            await fetch()
        brace.testing.assert_retried(events, delays=[0.1, 0.2])

    It subscribes globally (:func:`brace.subscribe`) on entry and
    unsubscribes on exit, so events from every task and thread are recorded
    while the block is open.

    Args:
        *kinds: Event classes to record (subclasses included); all events
            when none is given.
        name: Record only events of the policy or resource with this name.

    Returns:
        A context manager whose target is the :class:`EventLog`.

    Raises:
        TypeError: A kind is not a brace event class, or *name* is not a str.

    .. versionadded:: 0.1
    """
    for kind in kinds:
        _check_event_class(kind)
    return _capture(kinds, _checked_name(name))


@contextmanager
def _capture(kinds: tuple[type[Event], ...], name: str | None) -> Iterator[EventLog]:
    log = EventLog()
    record: Callable[[Event], None] = log.append
    if name is not None:

        def record(event: Event) -> None:
            if event.name == name:
                log.append(event)

    with subscribe(record, *kinds):
        yield log


def _checked_event(event: object) -> Event:
    if not isinstance(event, Event):
        msg = f"EventLog records brace events, not {event!r}"
        raise TypeError(msg)
    return event


def _checked_name(name: object) -> str | None:
    if name is not None and not isinstance(name, str):
        msg = f"name must be a str (or None), not {name!r}"
        raise TypeError(msg)
    return name


def _check_event_class(kind: object) -> None:
    if not (isinstance(kind, type) and issubclass(kind, Event)):
        msg = f"expected a brace event class, not {kind!r}"
        raise TypeError(msg)


# -- assertions ------------------------------------------------------------------


def _fail(expected: str, happened: str, events: Sequence[Event]) -> NoReturn:
    lines = [f"expected {expected}, but {happened}"]
    lines.append(f"events recorded ({len(events)}):")
    lines.extend(f"  {event!r}" for event in events)
    if not events:
        lines.append("  (none)")
    raise AssertionError("\n".join(lines))


def _of(name: str | None) -> str:
    return "" if name is None else f" of {name!r}"


def _same(actual: float, expected: object) -> bool:
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    # pytest.approx and similar objects compare with ==.
    return bool(expected == actual)


def _check_times(times: object) -> None:
    if times is not None and (
        isinstance(times, bool) or not isinstance(times, int) or times < 0
    ):
        msg = f"times must be an int >= 0 (or None), not {times!r}"
        raise ValueError(msg)


def assert_retried(
    events: Iterable[Event],
    *,
    times: int | None = None,
    delays: Sequence[object] | None = None,
    name: str | None = None,
) -> list[RetryScheduled]:
    """Assert that retries were scheduled: how many, and after which delays.

    Counts :class:`~brace.RetryScheduled` events: ``times=3`` means three
    retries (four attempts). With neither *times* nor *delays*, asserts at
    least one retry. Under :func:`~brace.testing.instant`, every delay is 0.

    Args:
        events: The recorded events, such as an :class:`EventLog`.
        times: The exact number of retries; ``0`` asserts none.
        delays: The exact delays in seconds, in order (compared with a
            tolerance of 1e-9), or objects such as ``pytest.approx(0.1)``.
        name: Only count retries of the policy with this name (by default
            the protected function's qualified name).

    Returns:
        The matching :class:`~brace.RetryScheduled` events.

    Raises:
        AssertionError: The retries differ; the message lists every event.
        ValueError: *times* is negative or disagrees with ``len(delays)``.

    .. versionadded:: 0.1
    """
    _check_times(times)
    if isinstance(delays, str | bytes):
        msg = f"delays must be a sequence of seconds, not {delays!r}"
        raise TypeError(msg)
    if times is not None and delays is not None and times != len(delays):
        msg = f"times={times} disagrees with the {len(delays)} delays given"
        raise ValueError(msg)
    recorded = list(events)
    found = [
        event
        for event in recorded
        if isinstance(event, RetryScheduled) and (name is None or event.name == name)
    ]
    actual = [event.delay for event in found]
    plural = "y" if len(found) == 1 else "ies"
    happened = f"saw {len(found)} retr{plural}{_of(name)}"
    if found:
        happened += f" with delays {actual}"
    if times is None and delays is None:
        if not found:
            _fail(f"at least one retry{_of(name)}", happened, recorded)
        return found
    count = len(delays) if delays is not None else times
    expected = f"{count} retr{'y' if count == 1 else 'ies'}{_of(name)}"
    if delays is not None:
        expected += f" with delays {list(delays)}"
    if len(found) != count or (
        delays is not None
        and not all(_same(a, e) for a, e in zip(actual, delays, strict=True))
    ):
        _fail(expected, happened, recorded)
    return found


def assert_gave_up(
    events: Iterable[Event],
    *,
    reason: str | None = None,
    attempts: int | None = None,
    error: type[BaseException] | tuple[type[BaseException], ...] | None = None,
    name: str | None = None,
) -> RetryGaveUp:
    """Assert that exactly one retrying call gave up, and how.

    Args:
        events: The recorded events, such as an :class:`EventLog`.
        reason: The expected :attr:`~brace.RetryGaveUp.reason`, such as
            ``"attempts"`` or ``"deadline"``.
        attempts: The expected number of attempts made.
        error: The expected class (or classes) of the last exception;
            ``None`` does not check it.
        name: Only consider the policy with this name; use it when several
            calls gave up.

    Returns:
        The :class:`~brace.RetryGaveUp` event.

    Raises:
        AssertionError: No call, or more than one, gave up, or it gave up
            differently; the message lists every event.

    .. versionadded:: 0.1
    """
    recorded = list(events)
    found = [
        event
        for event in recorded
        if isinstance(event, RetryGaveUp) and (name is None or event.name == name)
    ]
    wanted = [
        f"{what} {value!r}"
        for what, value in (("reason", reason), ("attempts", attempts))
        if value is not None
    ]
    if error is not None:
        wanted.append(f"error {error!r}")
    expected = f"one retrying call{_of(name)} to give up"
    if wanted:
        expected += " with " + ", ".join(wanted)
    if len(found) != 1:
        _fail(expected, f"{len(found)} gave up", recorded)
    event = found[0]
    if (
        (reason is not None and event.reason != reason)
        or (attempts is not None and event.attempts != attempts)
        or (error is not None and not isinstance(event.error, error))
    ):
        happened = (
            f"it gave up with reason {event.reason!r} after {event.attempts} "
            f"attempts, error {event.error!r}"
        )
        _fail(expected, happened, recorded)
    return event


def assert_emitted(
    events: Iterable[Event],
    kind: type[E],
    /,
    *,
    times: int | None = None,
    **fields: Any,
) -> list[E]:
    """Assert that events of a class, with the given field values, were emitted.

    ::

        assert_emitted(events, brace.ChaosInjected, kind="fault", times=2)

    Args:
        events: The recorded events, such as an :class:`EventLog`.
        kind: The event class (subclasses match too).
        times: The exact number of matching events; at least one when
            ``None``, none when ``0``.
        **fields: Field values the events must have (compared with ``==``).

    Returns:
        The matching events.

    Raises:
        AssertionError: The count differs; the message lists every event.
        TypeError: *kind* is not an event class, or has no such field.

    .. versionadded:: 0.1
    """
    _check_event_class(kind)
    _check_times(times)
    known = attrs.fields_dict(kind)
    for field in fields:
        if field not in known:
            msg = f"{kind.__name__} has no field {field!r}; it has {sorted(known)}"
            raise TypeError(msg)
    recorded = list(events)
    found = [
        event
        for event in recorded
        if isinstance(event, kind)
        and all(getattr(event, key) == value for key, value in fields.items())
    ]
    where = ", ".join(f"{key}={value!r}" for key, value in fields.items())
    what = f"{kind.__name__}({where})"
    if times is None:
        if not found:
            _fail(f"at least one {what}", "saw none", recorded)
    elif len(found) != times:
        _fail(f"{times} x {what}", f"saw {len(found)}", recorded)
    return found
