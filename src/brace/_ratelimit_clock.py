"""Reading the loop clock on the rate limiters' hot paths, cheaply.

``asyncio.get_running_loop()`` calls ``getpid()``, a system call that costs
more than everything else on a rate limiter's fast path together. So a
limiter remembers the asyncio loop that it last found running it, and
checks it with ``loop._thread_id``, which asyncio's own loops set exactly
while they run. Other asyncio loops (uvloop) are remembered and checked with
``is_running()``; trio is asked through anyio every time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

from ._time import now, running_loop

__all__ = ["PyLoop", "find", "loop_time", "monotonic"]


class PyLoop(Protocol):
    """asyncio's own loops: ``_thread_id`` is set exactly while one runs."""

    _thread_id: int | None


monotonic = time.monotonic
_BASE_TIME = asyncio.BaseEventLoop.time
_get_ident = threading.get_ident
# The last of asyncio's own loops found running, with its clock; shared so
# that limiters made in bulk (one per key) need not look it up each. One
# tuple, read and replaced whole, so that a thread never pairs a loop with
# another thread's clock.
_last_seen: list[tuple[PyLoop | None, Callable[[], float]]] = [(None, monotonic)]


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
    clock = monotonic if type(found).time is _BASE_TIME else found.time
    loop = cast("PyLoop", found)
    _last_seen[0] = loop, clock
    return loop, clock, None


def loop_time() -> float:
    """The loop clock; cheap while the loop last found still runs here."""
    loop, clock = _last_seen[0]
    if loop is not None and loop._thread_id == _get_ident():
        return clock()
    return now()
