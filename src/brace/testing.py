"""Tools for testing code that uses brace.

- :class:`VirtualTimeEventLoop`: an asyncio event loop whose clock jumps to
  the next timer whenever every task is idle, so ``sleep(3600)`` returns at
  once and timing assertions are exact.
- :func:`instant`: makes every brace backoff delay zero (and optionally caps
  attempts) for the duration of a ``with`` block.
- :class:`Chaos`: a policy that injects faults, latency or canned results,
  off until enabled; :func:`enable_chaos` turns every one on.
- :func:`capture_events`: records brace's events into an :class:`EventLog`;
  :func:`assert_retried`, :func:`assert_gave_up` and :func:`assert_emitted`
  check them, with failure messages that list what happened instead.

On trio, use ``trio.testing.MockClock(autojump_threshold=0)``: every brace
primitive reads the trio clock, so it follows the mock clock too.

The pytest plugin (loaded automatically once brace is installed) offers
these as fixtures: ``brace_instant``, ``brace_events``, ``brace_chaos``,
``brace_virtual_loop`` and ``brace_anyio_backend``, plus the
``--brace-virtual-time`` option for pytest-asyncio.

.. versionadded:: 0.1
"""

from __future__ import annotations

import asyncio
import math
import selectors
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._capture import (
    EventLog,
    assert_emitted,
    assert_gave_up,
    assert_retried,
    capture_events,
)
from ._chaos import Chaos, ChaosStatistics, enable_chaos
from ._time import InstantMode, check_count, set_instant_mode

__all__ = [
    "Chaos",
    "ChaosStatistics",
    "EventLog",
    "VirtualTimeEventLoop",
    "VirtualTimePolicy",
    "assert_emitted",
    "assert_gave_up",
    "assert_retried",
    "capture_events",
    "enable_chaos",
    "instant",
    "virtual_time_loop",
]


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that, instead of blocking until the next timer, jumps there."""

    loop: VirtualTimeEventLoop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None or timeout <= 0:
            # Nothing is scheduled (wait for real I/O, such as a worker
            # thread's result) or work is ready (just poll).
            return super().select(timeout)
        ready = super().select(0)
        if not ready:
            self.loop._jump()
        return ready


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on a virtual clock.

    ``loop.time()`` starts at *start* and only moves when every task is
    waiting for a timer: then it jumps straight to the earliest timer. Real
    I/O still works (sockets, pipes, worker threads), but takes no virtual
    time: time does not move while the loop waits for I/O with no timer
    pending, and jumps past pending timers while I/O is in flight. Keep real
    I/O out of tests that assert on timing.

    Args:
        start: The initial clock reading, in seconds.

    .. versionadded:: 0.1
    """

    def __init__(self, *, start: float = 0.0) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = float(start)
        self._sync_resolution()

    def _sync_resolution(self) -> None:
        # asyncio runs timers due by ``time() + _clock_resolution``: once the
        # clock is large, 1e-9 no longer changes the float and due timers
        # would never run, so keep the resolution above the clock's ulp.
        self._clock_resolution = max(1e-9, math.ulp(self._virtual_now) * 2)

    def time(self) -> float:
        """The virtual clock's current reading."""
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by *seconds*; due timers run next iteration."""
        # Written so that NaN fails too: a NaN or infinite clock never recovers.
        if not 0 <= seconds < float("inf"):
            msg = f"time only moves forward, finitely; cannot advance by {seconds!r}"
            raise ValueError(msg)
        self._virtual_now += seconds
        self._sync_resolution()

    def _jump(self) -> None:
        # asyncio drops cancelled timers from the head of the heap before it
        # computes the select timeout, so the head is the next live timer.
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        if scheduled:
            self._virtual_now = max(self._virtual_now, scheduled[0].when())
            self._sync_resolution()


class VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose new loops are :class:`VirtualTimeEventLoop`.

    For pytest-asyncio versions without the ``pytest_asyncio_loop_factories``
    hook: return it from an ``event_loop_policy`` fixture.

    .. versionadded:: 0.1
    """

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualTimeEventLoop()


def virtual_time_loop() -> VirtualTimeEventLoop:
    """A loop factory for ``asyncio.Runner``, anyio and pytest-asyncio.

    .. versionadded:: 0.1
    """
    return VirtualTimeEventLoop()


@contextmanager
def instant(*, attempts: int | None = None) -> Iterator[None]:
    """Make every brace retry delay zero inside the block.

    For your own test suites: code under test keeps its production retry
    policies, and the tests do not wait. Affects every thread and task of
    the process while active; nests, restoring the outer state on exit.

    Args:
        attempts: Also cap every retry policy at this many attempts.

    .. versionadded:: 0.1
    """
    if attempts is not None:
        check_count(attempts, "attempts")
    previous = set_instant_mode(InstantMode(attempts=attempts))
    try:
        yield
    finally:
        set_instant_mode(previous)
