"""Clock and sleep access, duration conversion, and the test-time overrides.

All local timing reads the running event loop's clock (``loop.time()`` on
asyncio, the trio clock through anyio), never the wall clock, so a virtual
clock in tests governs every deadline, delay and expiry. Code outside an
event loop (the sync retry path) uses :func:`time.monotonic`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

import anyio
import attrs

__all__ = [
    "Duration",
    "InstantMode",
    "PyLoop",
    "async_sleep",
    "check_name",
    "find",
    "instant_mode",
    "loop_clock",
    "loop_time",
    "monotonic",
    "now",
    "seconds",
    "set_instant_mode",
]

Duration = float | int | dt.timedelta

# The C accelerated lookup that asyncio itself uses: returns None instead of
# raising when no asyncio loop runs in this thread, so it doubles as a cheap
# "are we on asyncio?" test. It still costs a getpid() system call (asyncio
# checks for forks), which is more than a whole fast path elsewhere, so the
# clock readers below remember the loop they found.
running_loop = asyncio._get_running_loop


class PyLoop(Protocol):
    """asyncio's own loops: ``_thread_id`` is set exactly while one runs."""

    _thread_id: int | None


monotonic = time.monotonic
_BASE_TIME = asyncio.BaseEventLoop.time
_get_ident = threading.get_ident
# The last of asyncio's own loops found running, with its clock; its
# ``_thread_id`` is a cheap check that it still runs in the calling thread.
# One tuple, read and replaced whole, so that a thread never pairs a loop
# with another thread's clock. Other asyncio loops (uvloop) and trio are
# looked up on every read.
_last_seen: list[tuple[PyLoop | None, Callable[[], float]]] = [(None, monotonic)]


def loop_clock(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """*loop*'s clock; :func:`time.monotonic` itself for asyncio's stock loops.

    ``BaseEventLoop.time`` is ``time.monotonic()`` in a Python method:
    calling the builtin directly saves that frame on every read.
    """
    return monotonic if type(loop).time is _BASE_TIME else loop.time


def find() -> tuple[
    PyLoop | None, Callable[[], float], asyncio.AbstractEventLoop | None
]:
    """Look up the running loop: ``(own loop or None, its clock, other loop)``.

    The clock of one of asyncio's own loops is :func:`time.monotonic` itself
    when the loop does not override ``time()`` (``BaseEventLoop.time`` is
    ``time.monotonic()``): calling it directly saves a Python frame.
    """
    loop, clock = _last_seen[0]
    if loop is not None and loop._thread_id == _get_ident():
        return loop, clock, None
    found = running_loop()
    if not isinstance(found, asyncio.BaseEventLoop):
        return None, now, found
    clock = loop_clock(found)
    loop = cast("PyLoop", found)
    _last_seen[0] = loop, clock
    return loop, clock, None


def now() -> float:
    """The current time of the running event loop's clock, in seconds.

    Outside any event loop it is :func:`time.monotonic`.
    """
    loop, clock = _last_seen[0]
    if loop is not None and loop._thread_id == _get_ident():
        return clock()
    found = running_loop()
    if found is None:
        try:
            return anyio.current_time()
        except RuntimeError:
            return monotonic()
    if isinstance(found, asyncio.BaseEventLoop):
        clock = loop_clock(found)
        _last_seen[0] = cast("PyLoop", found), clock
        return clock()
    return found.time()


# The name the rate limiters and registries use for the same cheap read.
loop_time = now


async def async_sleep(delay: float) -> None:
    """Sleep on whichever event loop runs (a zero delay still yields once)."""
    if running_loop() is not None:
        await asyncio.sleep(delay)
    else:
        await anyio.sleep(delay)


def seconds(value: object, what: str, *, allow_zero: bool = True) -> float:
    """Convert a duration to float seconds, rejecting nonsense at once.

    Raises:
        TypeError: *value* is not a number or a timedelta.
        ValueError: *value* is negative, not finite, or zero when that is
            not allowed.
    """
    if isinstance(value, dt.timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    else:
        msg = f"{what} must be seconds (a number) or a timedelta, not {value!r}"
        raise TypeError(msg)
    if math.isnan(result) or math.isinf(result):
        msg = f"{what} must be finite, not {result!r}"
        raise ValueError(msg)
    if result < 0 or (result == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{what} must be {bound} seconds, not {result!r}"
        raise ValueError(msg)
    return result


def check_count(value: object, what: str) -> None:
    """Reject anything but an int >= 1 (bools included) with a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{what} must be an int >= 1, not {value!r}"
        raise ValueError(msg)


def check_name(value: object, what: str) -> None:
    """Reject a ``name=`` that is neither a str nor ``None``."""
    if value is not None and not isinstance(value, str):
        msg = f"{what} name must be a str (or None), not {value!r}"
        raise TypeError(msg)


@attrs.frozen
class InstantMode:
    """The state behind :func:`brace.testing.instant`.

    Attributes:
        attempts: Cap on attempts per call, or ``None`` to keep each policy's.
    """

    attempts: int | None = None


# A process-wide switch rather than a context variable: test suites enable it
# from fixtures, and the tasks and threads a test starts must all see it.
_instant: InstantMode | None = None


def instant_mode() -> InstantMode | None:
    """The active instant mode, or ``None`` when delays are real."""
    return _instant


def set_instant_mode(mode: InstantMode | None) -> InstantMode | None:
    """Switch instant mode and return the previous state (for restoring)."""
    global _instant
    previous, _instant = _instant, mode
    return previous
