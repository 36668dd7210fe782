"""brace events as structlog key-value events."""

from __future__ import annotations

try:
    import structlog
    from structlog._config import BoundLoggerLazyProxy
except ImportError as exc:
    msg = 'brace.instrument.structlog needs structlog: pip install "brace[structlog]"'
    raise ImportError(msg, name=exc.name) from exc

import logging
from typing import Any

from brace import _events

from ._installation import Installation
from ._names import event_id, fields, spec
from ._severity import LevelOverrides, level_table, lookup

__all__ = ["install"]

_METHODS = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "error"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
)


def _method(level: int) -> str:
    """The structlog method for *level*: the standard level at or below it."""
    for floor, name in _METHODS:
        if level >= floor:
            return name
    return "debug"


def install(
    logger: Any = None,
    *,
    levels: LevelOverrides | None = None,
    exc_info: bool = False,
    values: bool = False,
) -> Installation:
    """Log every brace event as a structlog event.

    Each brace event becomes one structlog event named after it, with its
    fields as keys, at the level given by
    :func:`~brace.instrument.default_level` unless *levels* says otherwise::

        event='brace.retry_scheduled' policy='fetch' attempt=1 delay=0.25
        exception_type='ConnectError' log_level='debug'

    The event's ``name`` appears under the key that says what emitted it:
    ``policy``, ``breaker``, ``limiter``, ``queue``, ``cache``, ``token``,
    ``budget``, ``registry``, ``step`` or ``saga`` (never ``name``, which
    ``structlog.stdlib.render_to_log_kwargs`` cannot pass on).
    Exceptions appear as their type's name only, unless *exc_info*.

    When the logger can tell (``is_enabled_for()``: structlog's filtering
    loggers and its stdlib ``BoundLogger``), events below its level are
    dropped before anything is built for them.

    Args:
        logger: A structlog logger; ``None`` for
            ``structlog.get_logger("brace")``, which follows later
            ``structlog.configure()`` calls.
        levels: Per-event-class overrides, as for
            :func:`brace.instrument.logging.install`.
        exc_info: Pass the event's exception as ``exc_info``, so that
            processors render its message and traceback.
        values: Include the user's values that events carry (rejected
            results, dropped queue items, cache keys, registry entries), as
            a shortened ``repr``.

    Returns:
        The :class:`~brace.instrument.Installation`; close it to stop.

    Raises:
        TypeError: *levels* is not a mapping of event classes to levels.
        ValueError: A level name is unknown.

    .. versionadded:: 0.1
    """
    target: Any = structlog.get_logger("brace") if logger is None else logger
    # A lazy proxy assembles a new logger on every attribute access; bind()
    # assembles one (or returns the cached one) that serves the whole event.
    lazy = isinstance(target, BoundLoggerLazyProxy)
    table = level_table(levels)
    methods: dict[int, str] = {}

    def on_event(event: _events.Event) -> None:
        level = table.get(type(event))
        if type(level) is not int:
            level = lookup(table, event)
            if level is None:
                return
        bound = target.bind() if lazy else target
        # Looked up on the class: structlog's generic BoundLogger passes any
        # attribute it lacks on to the wrapped logger as a log call.
        if hasattr(type(bound), "is_enabled_for") and not bound.is_enabled_for(level):
            return
        method = methods.get(level)
        if method is None:
            method = methods[level] = _method(level)
        cls = type(event)
        kw: dict[str, Any] = {spec(cls).role: event.name}
        kw.update(fields(event, values=values))
        if exc_info:
            error = getattr(event, "error", None)
            if error is not None:
                kw["exc_info"] = error
        getattr(bound, method)("brace." + event_id(cls), **kw)

    return Installation("structlog", _events.subscribe(on_event))
