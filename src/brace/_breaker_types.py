"""The public value types of the circuit breaker: its states and statistics."""

from __future__ import annotations

import enum

import attrs

__all__ = ["CircuitBreakerStatistics", "CircuitState"]


class CircuitState(enum.StrEnum):
    """The states of a :class:`~brace.CircuitBreaker`.

    A ``str`` enum: members compare equal to their values (``"closed"``
    and so on), which events and snapshots carry.

    .. versionadded:: 0.1
    """

    CLOSED = "closed"
    """Calls go through; outcomes are recorded and judged."""
    OPEN = "open"
    """Calls fail fast with :class:`~brace.CircuitOpen` until the open period ends."""
    HALF_OPEN = "half_open"
    """A few probe calls go through; their outcomes close or re-open the breaker."""
    ISOLATED = "isolated"
    """Opened by hand with ``isolate()``: calls fail fast until ``reset()``."""


@attrs.frozen
class CircuitBreakerStatistics:
    """A snapshot of a :class:`~brace.CircuitBreaker`.

    Attributes:
        state: The current state.
        calls: Calls in the window (those that counted: not ignored ones).
        failures: Failed calls in the window.
        slow_calls: Slow calls in the window (failed or not).
        failure_rate: ``failures / calls``, 0.0 for an empty window.
        slow_call_rate: ``slow_calls / calls``, 0.0 for an empty window.
        consecutive_failures: Failures since the last success while closed.
        rejected: Calls failed fast with CircuitOpen since construction.
        opened: How many times the breaker opened since construction
            (``isolate()`` not included).
        would_open: How many times a rule fired while ``force_closed``.
        probes: Probe calls running now (half-open).
        time_in_state: Seconds since the last transition (for the initial
            closed state: since the breaker first read the clock).
        retry_after: Seconds until a probe is let through when open,
            ``inf`` when isolated, otherwise ``None``.
        version: The state's version: +1 on every transition (see
            :meth:`~brace.CircuitBreaker.snapshot`).

    .. versionadded:: 0.1
    """

    state: CircuitState
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float
    slow_call_rate: float
    consecutive_failures: int
    rejected: int
    opened: int
    would_open: int
    probes: int
    time_in_state: float
    retry_after: float | None
    version: int
