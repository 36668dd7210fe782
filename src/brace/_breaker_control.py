"""Manual control and inspection of a circuit breaker's state machine."""

from __future__ import annotations

from ._breaker_state import _CLOSED, _HALF_OPEN, _ISOLATED, _OPEN, BreakerCore
from ._breaker_types import CircuitBreakerStatistics, CircuitState

__all__ = ["BreakerControl"]


class BreakerControl(BreakerCore):
    """The public methods that read and steer the state machine."""

    __slots__ = ()

    @property
    def state(self) -> CircuitState:
        """The current state, with due time-driven transitions applied."""
        if self._state is not _CLOSED:
            self._refresh(self._clock())
        return self._state

    def allows(self) -> bool:
        """Whether a call made now would be let through (a query: no permit).

        .. versionadded:: 0.1
        """
        state = self.state
        if state is _CLOSED:
            return True
        return state is _HALF_OPEN and len(self._probes) < self._half_open_calls

    def isolate(self) -> None:
        """Open the breaker by hand: every call fails fast until :meth:`reset`.

        The state is :attr:`CircuitState.ISOLATED`, and
        :class:`~brace.CircuitOpen` says ``retry_after=inf``. Isolation
        overrides ``force_closed``. Idempotent.

        .. versionadded:: 0.1
        """
        if self._state is not _ISOLATED:
            self._move(_ISOLATED, self._clock(), "isolate")

    def reset(self) -> None:
        """Close the breaker and forget its history, whatever its state.

        The window, the consecutive-failure count and the growth of a
        :class:`~brace.Backoff` open duration start over; the totals in
        :meth:`statistics` (rejected, opened) are kept. Calls in flight
        from before the reset are not recorded.

        .. versionadded:: 0.1
        """
        self._move(_CLOSED, self._clock(), "reset")

    @property
    def force_closed(self) -> bool:
        """Whether the breaker is in metrics-only mode, for dark launches.

        Such a breaker records and reports, and never rejects: it stays
        closed, and a rule that fires emits :class:`~brace.CircuitWouldOpen`,
        counts in ``statistics().would_open`` and starts the window afresh.
        No call is ever failed fast, except after :meth:`isolate`. Setting
        it closes an open or half-open breaker at once; clearing it makes
        the rules take effect from the next call.
        """
        return self._force_closed

    @force_closed.setter
    def force_closed(self, value: bool) -> None:
        flag: object = value
        if not isinstance(flag, bool):
            msg = f"force_closed must be True or False, not {value!r}"
            raise TypeError(msg)
        self._force_closed = value
        if value and self._state in (_OPEN, _HALF_OPEN):
            self._move(_CLOSED, self._clock(), "force_closed")

    def statistics(self) -> CircuitBreakerStatistics:
        """A consistent snapshot of the state and the counters.

        .. versionadded:: 0.1
        """
        t = self._clock()
        self._refresh(t)
        if self._since is None:
            self._since = t
        window = self._window
        window.advance(t)
        calls = window.calls
        state = self._state
        return CircuitBreakerStatistics(
            state=state,
            calls=calls,
            failures=window.failures,
            slow_calls=window.slow,
            failure_rate=window.failures / calls if calls else 0.0,
            slow_call_rate=window.slow / calls if calls else 0.0,
            consecutive_failures=self._consecutive,
            rejected=self._rejected,
            opened=self._opened,
            would_open=self._would_open,
            probes=len(self._probes),
            time_in_state=t - self._since,
            retry_after=self._retry_after(t) if state in (_OPEN, _ISOLATED) else None,
            version=self._version,
        )
