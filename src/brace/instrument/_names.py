"""How events become names and fields, for every adapter alike.

Each event class has an id (``RetryScheduled`` is ``"retry_scheduled"``), a
role naming what emitted it (``"policy"``, ``"breaker"``, ``"limiter"``...,
the key under which the event's ``name`` appears in logs and the label name
in metrics), and the fields whose values come from a small closed set
(``reason``, ``state``...), safe as metric attributes.

:func:`fields` flattens an event for logs and span events. It never shows an
exception's message, only its type's qualified name, and it leaves out the
fields that hold the user's own values (results, queue items, cache keys,
registry entries) unless asked: those may be large or secret.
"""

from __future__ import annotations

import re
import reprlib
from typing import NamedTuple

import attrs

from brace import _events as ev

__all__ = [
    "PAYLOAD_FIELDS",
    "SPECS",
    "Spec",
    "event_id",
    "exception_type",
    "fields",
    "spec",
]


class Spec(NamedTuple):
    """What an adapter needs to know about one event class."""

    role: str
    labels: tuple[str, ...] = ()


# Every event class in brace._events must appear here (a test checks it):
# the role names the event's ``name``, the labels are the fields with a
# closed set of values. TokenCancelled.reason is the user's object, so not a
# label.
SPECS: dict[type[ev.Event], Spec] = {
    ev.RetryScheduled: Spec("policy"),
    ev.RetryGaveUp: Spec("policy", ("reason",)),
    ev.TimeoutFired: Spec("policy"),
    ev.TokenCancelled: Spec("token"),
    ev.LimiterRejected: Spec("limiter", ("reason",)),
    ev.LimiterWaited: Spec("limiter"),
    ev.QueueItemDropped: Spec("queue", ("overflow",)),
    ev.QueuePutRejected: Spec("queue"),
    ev.RateLimitRejected: Spec("limiter"),
    ev.RateLimitWaited: Spec("limiter"),
    ev.CircuitStateChanged: Spec("breaker", ("old", "new", "reason")),
    ev.CircuitRejected: Spec("breaker", ("state",)),
    ev.CircuitWouldOpen: Spec("breaker", ("reason",)),
    ev.RetryBudgetExhausted: Spec("budget"),
    ev.FallbackUsed: Spec("policy"),
    ev.HedgeStarted: Spec("policy", ("reason",)),
    ev.HedgeWon: Spec("policy"),
    ev.CacheEvicted: Spec("cache", ("reason",)),
    ev.CacheRefreshFailed: Spec("cache"),
    ev.ChaosInjected: Spec("policy", ("kind",)),
    ev.RegistryEvicted: Spec("registry", ("reason",)),
    ev.StepStarted: Spec("step"),
    ev.StepSucceeded: Spec("step"),
    ev.StepFailed: Spec("step", ("cancelled",)),
    ev.SagaFinished: Spec("saga", ("status", "cancelled")),
}

# An event class brace adds later still gets logged and counted, under a
# neutral role, until it gets its own entry.
_UNKNOWN = Spec("source")

# The fields that carry the user's values rather than brace's own.
PAYLOAD_FIELDS = frozenset({"result", "item", "key", "entry"})

_ids: dict[type[ev.Event], str] = {}
_plans: dict[type[ev.Event], tuple[str, ...]] = {}
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 200


def spec(cls: type[ev.Event]) -> Spec:
    """The :class:`Spec` of *cls* (or of its nearest listed base class)."""
    found = SPECS.get(cls)
    if found is not None:
        return found
    for base in cls.__mro__[1:]:
        found = SPECS.get(base)
        if found is not None:
            return found
    return _UNKNOWN


def event_id(cls: type[ev.Event]) -> str:
    """The snake_case id of an event class: ``"retry_scheduled"``."""
    name = _ids.get(cls)
    if name is None:
        name = _ids[cls] = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    return name


def exception_type(error: BaseException) -> str:
    """The qualified name of *error*'s class: what adapters show of it."""
    return type(error).__qualname__


def _plan(cls: type[ev.Event]) -> tuple[str, ...]:
    plan = _plans.get(cls)
    if plan is None:
        names = (field.name for field in attrs.fields(cls))
        plan = _plans[cls] = tuple(name for name in names if name != "name")
    return plan


def fields(event: ev.Event, *, values: bool = False) -> list[tuple[str, object]]:
    """The event's fields other than ``name``, as (key, value) pairs.

    Fields that are ``None`` are left out. Exceptions appear as their type's
    qualified name (the ``error`` field under the key ``exception_type``),
    ``str`` subclasses such as enum members as plain strings. The user's
    values (:data:`PAYLOAD_FIELDS`) appear, as a shortened ``repr``, only
    with *values*; other values that are not ``str``, ``int``, ``float`` or
    ``bool`` appear as a shortened ``repr``.
    """
    pairs: list[tuple[str, object]] = []
    for key in _plan(type(event)):
        value = getattr(event, key)
        if value is None:
            continue
        if key in PAYLOAD_FIELDS:
            if values:
                pairs.append((key, _repr.repr(value)))
            continue
        kind = type(value)
        if kind is str or kind is int or kind is float or kind is bool:
            pairs.append((key, value))
        elif isinstance(value, BaseException):
            pairs.append(
                ("exception_type" if key == "error" else key, exception_type(value))
            )
        elif isinstance(value, str):
            pairs.append((key, str(value)))
        elif isinstance(value, int | float):
            pairs.append((key, value))
        else:
            pairs.append((key, _repr.repr(value)))
    return pairs
