"""brace events as standard library :mod:`logging` records."""

from __future__ import annotations

import logging
from typing import Any

from brace import _events

from ._installation import Installation
from ._names import event_id, fields, spec
from ._severity import LevelOverrides, level_table, lookup

__all__ = ["install"]

# Per event class and field layout, built once each: the message template
# (also what error trackers group records by, so it is stable), then the
# event id and the record attribute names for the role and each field.
_Layout = tuple[type[_events.Event], tuple[str, ...]]
_templates: dict[_Layout, tuple[str, tuple[str, ...]]] = {}


def _template(layout: _Layout) -> tuple[str, tuple[str, ...]]:
    found = _templates.get(layout)
    if found is None:
        cls, keys = layout
        ident = event_id(cls)
        role = spec(cls).role
        text = " ".join([f"brace.{ident}", *(f"{key}=%s" for key in (role, *keys))])
        attributes = tuple(f"brace.{key}" for key in (role, *keys))
        found = _templates[layout] = (text, (ident, *attributes))
    return found


_Target = logging.Logger | logging.LoggerAdapter[Any]


def _target(logger: _Target | str | None) -> _Target:
    checked: object = logger
    if checked is None:
        return logging.getLogger("brace")
    if isinstance(checked, str):
        return logging.getLogger(checked)
    if isinstance(checked, logging.Logger | logging.LoggerAdapter):
        return checked
    msg = (
        "logger must be a logging.Logger, a logger name, or None for the "
        f"'brace' logger; not {logger!r}"
    )
    raise TypeError(msg)


def install(
    logger: logging.Logger | logging.LoggerAdapter[Any] | str | None = None,
    *,
    levels: LevelOverrides | None = None,
    exc_info: bool = False,
    values: bool = False,
) -> Installation:
    """Log every brace event on a standard library logger.

    Each event becomes one record, at the level given by
    :func:`~brace.instrument.default_level` unless *levels* says otherwise:
    hot-path events at ``DEBUG``, rejections and give-ups at ``WARNING``, a
    breaker opening at ``ERROR``. The message is the event id and its
    fields, ``key=value``::

        brace.retry_scheduled policy=fetch attempt=1 delay=0.25
        exception_type=ConnectError

    (on one line), and the same fields are set on the record as
    attributes named ``brace.event``, ``brace.policy``,
    ``brace.attempt``... (for formatters that emit JSON). Exceptions
    appear as their type's name only: no message, which may hold secrets,
    unless *exc_info*.

    Nothing is formatted, and no record is made, for events at a level the
    logger is not enabled for: with the logger at ``WARNING``, a retry's
    ``DEBUG`` events cost a dictionary lookup and
    ``logger.isEnabledFor()`` each (the emitting policy still builds the
    event, because a subscriber exists).

    Args:
        logger: The logger (or a :class:`logging.LoggerAdapter`), or its
            name; ``None`` for the ``"brace"`` logger.
        levels: Per-event-class overrides: ``{brace.RetryScheduled:
            logging.INFO}``; a level name such as ``"INFO"`` works too, and
            ``None`` leaves that event out.
        exc_info: Attach the event's exception to the record, so that
            handlers print its message and traceback.
        values: Include the user's values that events carry (rejected
            results, dropped queue items, cache keys, registry entries), as
            a shortened ``repr``.

    Returns:
        The :class:`~brace.instrument.Installation`; close it to stop.

    Raises:
        TypeError: *logger* or *levels* is not what is described above.
        ValueError: A level name is unknown.

    .. versionadded:: 0.1
    """
    target = _target(logger)
    table = level_table(levels)
    is_enabled = target.isEnabledFor
    log = target.log

    def on_event(event: _events.Event) -> None:
        cls = type(event)
        # Inlined lookup() for the common case, a fixed level: this is all
        # that an event below the logger's level costs.
        level = table.get(cls)
        if type(level) is not int:
            level = lookup(table, event)
            if level is None:
                return
        if not is_enabled(level):
            return
        pairs = fields(event, values=values)
        text, keys = _template((cls, tuple([key for key, _ in pairs])))
        name = event.name
        args: list[object] = [name]
        extra: dict[str, object] = {"brace.event": keys[0], keys[1]: name}
        for (_, value), key in zip(pairs, keys[2:], strict=True):
            # Delays and rates read better rounded to the microsecond.
            args.append(round(value, 6) if type(value) is float else value)
            extra[key] = value
        error = getattr(event, "error", None) if exc_info else None
        log(level, text, *args, extra=extra, exc_info=error)

    return Installation("logging", _events.subscribe(on_event))
