"""Helpers shared by the tests of brace.instrument: every event class, and a
sample instance of any of them (so that event classes added later are
covered by the completeness tests without anyone listing them)."""

from __future__ import annotations

import logging
from typing import Any

import attrs

from brace import _events


def event_classes() -> list[type[_events.Event]]:
    """Every concrete event class defined in brace._events, today."""
    return [
        value
        for value in vars(_events).values()
        if isinstance(value, type)
        and issubclass(value, _events.Event)
        and value is not _events.Event
    ]


def _value(field: attrs.Attribute[Any]) -> object:
    kind = str(field.type)
    if "BaseException" in kind:
        return ValueError("secret message")
    for prefix, value in (("float", 0.25), ("int", 2), ("bool", False), ("str", "x")):
        if kind.startswith(prefix):
            return value
    return "payload"


def sample(cls: type[_events.Event], **values: Any) -> _events.Event:
    """An instance of *cls*: *values* where given, plausible dummies elsewhere."""
    for field in attrs.fields(cls):
        if field.name not in values:
            values[field.name] = "sample" if field.name == "name" else _value(field)
    return cls(**values)


class ListHandler(logging.Handler):
    """Keeps every record it handles, formatted, for assertions."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.messages.append(record.getMessage())
