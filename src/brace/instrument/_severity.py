"""How loud each event is: the default log level of every brace event.

Hot-path events, those that a healthy service emits on many calls (a retry
scheduled, a wait for a slot, a hedge, a cache eviction), are at DEBUG:
Polly logged attempts at Information and measured CPU regressions for it
(Polly#2362). Calls turned away and policies that gave up are at WARNING,
a breaker opening is at ERROR, and state changes back to health are at
INFO, as in Polly's severities.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from brace import _events as ev

__all__ = ["LevelOverrides", "Levels", "default_level", "level_table", "lookup"]

DEBUG, INFO, WARNING, ERROR = (
    logging.DEBUG,
    logging.INFO,
    logging.WARNING,
    logging.ERROR,
)

# What the adapters look levels up in: a level, None (not logged), or a
# rule for events whose level depends on their fields.
# A rule takes the event of the class it is listed under.
Rule = Callable[[Any], int]
Levels = dict[type[ev.Event], "int | Rule | None"]
LevelOverrides = Mapping[type[ev.Event], "int | str | None"]

_BREAKER_STATES = {"open": ERROR, "half_open": WARNING, "closed": INFO}
_SAGA_STATUSES = {"completed": INFO, "compensated": WARNING}


def _circuit_state_changed(event: ev.CircuitStateChanged) -> int:
    # "isolated" is a person's decision, already known: WARNING.
    return _BREAKER_STATES.get(str(event.new), WARNING)


def _retry_gave_up(event: ev.RetryGaveUp) -> int:
    # A retry stopped by cancellation (a shutdown, a timeout around it) has
    # not failed; whatever cancelled it reports that.
    return INFO if event.reason == "cancelled" else WARNING


def _step_failed(event: ev.StepFailed) -> int:
    return INFO if event.cancelled else WARNING


def _saga_finished(event: ev.SagaFinished) -> int:
    return _SAGA_STATUSES.get(event.status, ERROR)


# Every event class in brace._events must appear here (a test checks it).
_DEFAULTS: Levels = {
    ev.RetryScheduled: DEBUG,
    ev.RetryGaveUp: _retry_gave_up,
    ev.TimeoutFired: WARNING,
    ev.TokenCancelled: INFO,
    ev.LimiterRejected: WARNING,
    ev.LimiterWaited: DEBUG,
    ev.QueueItemDropped: WARNING,
    ev.QueuePutRejected: WARNING,
    ev.RateLimitRejected: WARNING,
    ev.RateLimitWaited: DEBUG,
    ev.CircuitStateChanged: _circuit_state_changed,
    # One per call while open: the transition to open was the news.
    ev.CircuitRejected: DEBUG,
    ev.CircuitWouldOpen: WARNING,
    ev.RetryBudgetExhausted: WARNING,
    ev.FallbackUsed: WARNING,
    ev.HedgeStarted: DEBUG,
    ev.HedgeWon: DEBUG,
    ev.CacheEvicted: DEBUG,
    ev.CacheRefreshFailed: WARNING,
    ev.ChaosInjected: DEBUG,
    ev.RegistryEvicted: DEBUG,
    ev.StepStarted: DEBUG,
    ev.StepSucceeded: DEBUG,
    ev.StepFailed: _step_failed,
    ev.SagaFinished: _saga_finished,
}


def _resolve(entry: int | Rule | None, event: ev.Event) -> int | None:
    if entry is None or isinstance(entry, int):
        return entry
    return entry(event)


def default_level(event: ev.Event) -> int:
    """The level at which brace's adapters log *event* by default.

    Hot-path events (:class:`~brace.RetryScheduled`,
    :class:`~brace.LimiterWaited`, :class:`~brace.RateLimitWaited`,
    hedges, cache and registry evictions, chaos injections, steps that
    start or succeed, calls rejected by an open breaker) are at ``DEBUG``.
    Calls turned away, items dropped, retries that gave up, timeouts,
    fallbacks and failed steps are at ``WARNING``. A breaker that opens is
    at ``ERROR``, one that half-opens at ``WARNING``, one that closes at
    ``INFO``. See the table in :doc:`/howto/observability`.

    Args:
        event: Any brace event.

    Returns:
        A ``logging`` level; ``INFO`` for event classes brace added
        after this table.

    .. versionadded:: 0.1
    """
    for cls in type(event).__mro__:
        entry = _DEFAULTS.get(cls)
        if entry is not None:
            level = _resolve(entry, event)
            return INFO if level is None else level
    return INFO


def _check_level(cls: object, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, str):
        known = logging.getLevelNamesMapping()
        if value.upper() not in known:
            msg = (
                f"levels[{cls!r}] must be a logging level, such as "
                f"logging.INFO or 'INFO', or None; {value!r} is not one"
            )
            raise ValueError(msg)
        return known[value.upper()]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = (
            f"levels[{cls!r}] must be a logging level, such as logging.INFO "
            f"or 'INFO', or None to leave the event out; not {value!r}"
        )
        raise TypeError(msg)
    return value


def level_table(overrides: LevelOverrides | None) -> Levels:
    """The defaults with the user's *overrides*, checked, on top."""
    table: Levels = dict(_DEFAULTS)
    checked: object = overrides
    if checked is None:
        return table
    if not isinstance(checked, Mapping):
        msg = (
            "levels must be a mapping of brace event classes to logging "
            f"levels (or None), not {checked!r}"
        )
        raise TypeError(msg)
    items: list[tuple[object, object]] = list(checked.items())
    for cls, value in items:
        if not (isinstance(cls, type) and issubclass(cls, ev.Event)):
            msg = f"levels takes brace event classes as keys, not {cls!r}"
            raise TypeError(msg)
        table[cls] = _check_level(cls, value)
    return table


def lookup(table: Levels, event: ev.Event) -> int | None:
    """The level of *event* in *table*, or ``None`` when it is not logged."""
    cls = type(event)
    if cls in table:
        return _resolve(table[cls], event)
    # A subclass, or a class brace added later: cache what applies to it.
    for base in cls.__mro__[1:]:
        if base in table:
            entry = table[base]
            table[cls] = entry
            return _resolve(entry, event)
    table[cls] = INFO
    return INFO
