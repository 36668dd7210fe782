"""The clock of a BoundedCache, kept in step with the running event loop.

TTLs run on the running loop's clock, so that a virtual clock in tests
governs expiry. Stock asyncio loops (and uvloop) keep time with
:func:`time.monotonic`, as does code outside any loop: a cache used from
them reads time.monotonic directly, at the cost of a C call. A cache used
where another clock rules (a virtual-time loop, a trio run) checks on every
reading that the loop running is still the one whose clock it reads, and
when the clock changes, moves every expiry over so that each entry keeps
the time it had left.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from ._time import running_loop

__all__ = ["MONOTONIC", "LoopClock"]

_STOCK_TIME = asyncio.BaseEventLoop.time
# The clock source of stock asyncio loops and of code outside any loop:
# their clocks are all time.monotonic, so moving between them needs no
# conversion.
MONOTONIC: Any = object()


def _clock_source(
    loop: asyncio.AbstractEventLoop | None,
) -> tuple[object, Callable[[], float]]:
    """Who keeps time in the running context, and a clock that reads it.

    The clock must stay callable after its loop has stopped: the cache
    reads it once more, to carry entries over to the next clock.
    """
    if loop is not None:
        kind = type(loop)
        # uvloop's time() is libuv's cached CLOCK_MONOTONIC reading, in
        # milliseconds: time.monotonic, a little fresher.
        if kind.time is _STOCK_TIME or kind.__module__ == "uvloop":
            return MONOTONIC, time.monotonic
        return loop, loop.time
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        # The clock object, not trio.current_time: it works outside the run.
        clock = trio.lowlevel.current_clock()
        return clock, clock.current_time
    return MONOTONIC, time.monotonic


class LoopClock:
    """The clock half of :class:`~brace._cache.BoundedCache` (a mixin)."""

    __slots__ = ("_clock", "_loop", "_source", "_time", "_timer")

    def _init_clock(self, timer: Callable[[], float] | None) -> None:
        self._timer = timer  # the user's clock, which then rules alone
        self._time: Callable[[], float] = timer or time.monotonic  # reads it
        # What lookups call: _time, or _now where the clock must be checked.
        self._clock: Callable[[], float] = self._time
        self._source: object = MONOTONIC  # who keeps the current clock's time
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop last seen

    def _rebase(self, delta: float) -> None: ...

    def _now(self) -> float:
        """The time now, synchronising with the running loop's clock."""
        return self._sync(running_loop())

    def _sync(self, loop: asyncio.AbstractEventLoop | None) -> float:
        """:meth:`_now`, for a caller that already knows the running loop."""
        if self._timer is not None:
            return self._timer()
        if loop is not None and loop is self._loop:
            return self._time()
        source, clock = _clock_source(loop)
        self._loop = loop
        if source is self._source:
            return self._time()
        now = clock()
        self._rebase(now - self._time())
        self._source, self._time = source, clock
        self._clock = clock if source is MONOTONIC else self._now
        return now
