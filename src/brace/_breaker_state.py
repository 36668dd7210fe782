"""The circuit breaker's state machine, without the ways of calling through it.

Everything here is synchronous: a breaker admits a call (:meth:`_admit`),
and later settles it (:meth:`_settle`) with an outcome code. The call
spellings in ``_breaker`` wrap these two around the protected call.

Time-driven transitions (open to half-open when the open period is over, a
probe permit that expired) are applied lazily, by :meth:`_refresh`, whenever
the breaker is asked something that depends on them; each takes effect at
the instant it was due, not at the instant it was noticed, so the state is a
function of the clock alone.

Every call carries the *generation* of the state it was admitted in; a
transition starts a new generation, and the outcome of a call from an older
one is ignored: a slow call admitted while closed cannot re-open a breaker
that has since been through half-open, and a probe whose permit expired
cannot close it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from . import _events
from ._backoff import Backoff
from ._breaker_types import CircuitState
from ._breaker_window import FAILURE, SLOW, SUCCESS, Recorder
from ._errors import CircuitOpen
from ._events import Listener
from ._time import now

__all__ = ["NEUTRAL", "BreakerCore"]

NEUTRAL = -1


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_ISOLATED = CircuitState.ISOLATED


class BreakerCore:
    """The state and the transitions of a circuit breaker (see the module doc)."""

    __slots__ = (
        "_backoff",
        "_clock",
        "_consecutive",
        "_failure_rate",
        "_fast",
        "_force_closed",
        "_gen",
        "_half_open_calls",
        "_healthy",
        "_healthy_at",
        "_lean",
        "_max_consecutive",
        "_min_calls",
        "_open_duration",
        "_open_for",
        "_open_until",
        "_opened",
        "_probe_seq",
        "_probe_timeout",
        "_probes",
        "_rejected",
        "_rng",
        "_since",
        "_slow_after",
        "_slow_rate",
        "_state",
        "_success_threshold",
        "_successes",
        "_timed_window",
        "_trips",
        "_version",
        "_window",
        "_would_open",
        "label",
        "listeners",
        "name",
    )

    _clock: Callable[[], float]
    _window: Recorder
    _state: CircuitState

    def _init_state(self) -> None:
        """Set up the mutable state (after the options were stored)."""
        self._clock = now
        self._state = _CLOSED
        # The decorator's fast path runs when ``_fast``: closed, nothing to
        # time and no result to judge. When also ``_healthy`` (a full count
        # window without a failure or a slow call), recording a success
        # would change nothing at all, so the fast path skips it.
        self._fast = self._lean
        self._healthy = False
        self._gen = 0
        self._version = 0
        self._since: float | None = None
        self._consecutive = 0
        self._trips = 0
        self._open_until = 0.0
        self._open_duration: float | None = None
        # Probe permits in flight: id -> deadline. Deadlines grow with the
        # ids, so the dict's first entry is always the one to expire first.
        self._probes: dict[int, float] = {}
        self._probe_seq = 0
        self._successes = 0
        self._rejected = 0
        self._opened = 0
        self._would_open = 0

    # -- transitions -----------------------------------------------------------

    def _move(
        self,
        new: CircuitState,
        t: float,
        reason: str,
        open_for: float | None = None,
    ) -> None:
        old = self._state
        self._state = new
        self._fast = new is _CLOSED and self._lean
        self._healthy = False
        self._gen += 1
        self._version += 1
        self._since = t
        self._probes.clear()
        self._successes = 0
        if new is _CLOSED:
            self._window.clear()
            self._consecutive = 0
            self._trips = 0
            self._open_duration = None
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.CircuitStateChanged(
                    name=self.label, old=old, new=new, reason=reason, open_for=open_for
                ),
                self.listeners,
            )

    def _open(self, t: float, reason: str) -> None:
        self._trips += 1
        backoff = self._backoff
        if backoff is None:
            duration = self._open_for
        else:
            duration = backoff.delay(
                self._trips, self._rng, previous=self._open_duration
            )
        self._open_duration = duration
        self._open_until = t + duration
        self._opened += 1
        self._move(_OPEN, t, reason, duration)

    def _trip(self, reason: str) -> None:
        """A rule fired while closed: open, or only report when force_closed."""
        if not self._force_closed:
            self._open(self._clock(), reason)
            return
        self._would_open += 1
        window = self._window
        if _events.subscribers or self.listeners:
            calls = window.calls
            _events.emit(
                _events.CircuitWouldOpen(
                    name=self.label,
                    reason=reason,
                    failure_rate=window.failures / calls if calls else 0.0,
                    slow_call_rate=window.slow / calls if calls else 0.0,
                    calls=calls,
                ),
                self.listeners,
            )
        # Start judging afresh, as an opening would: one report per bad
        # stretch, not one per call.
        window.clear()
        self._consecutive = 0
        self._healthy = False

    def _refresh(self, t: float) -> None:
        """Apply the transitions that time has made due by *t*."""
        while True:
            state = self._state
            if state is _OPEN:
                if t < self._open_until:
                    return
                self._move(_HALF_OPEN, self._open_until, "open_for_elapsed")
            elif state is _HALF_OPEN and self._probes:
                deadline = next(iter(self._probes.values()))
                if t <= deadline:
                    return
                self._open(deadline, "probe_timeout")
            else:
                return

    # -- admitting and settling calls -----------------------------------------

    def _admit(self) -> tuple[int, int, float]:
        """Let a call through or raise CircuitOpen: ``(generation, probe, t)``.

        *probe* is 0 for an ordinary call, else the probe permit's id.
        """
        t = self._clock()
        state = self._state
        if state is _OPEN and t < self._open_until:
            # The rejection path, inlined: it is the one taken under load.
            self._rejected += 1
            retry_after = self._open_until - t
            if _events.subscribers or self.listeners:
                self._rejected_event(retry_after)
            raise CircuitOpen(self.label, retry_after=retry_after)
        self._refresh(t)
        state = self._state
        if state is _CLOSED:
            return self._gen, 0, t
        if state is _HALF_OPEN and len(self._probes) < self._half_open_calls:
            self._probe_seq += 1
            self._probes[self._probe_seq] = t + self._probe_timeout
            return self._gen, self._probe_seq, t
        raise self._reject(t)

    def _retry_after(self, t: float) -> float:
        state = self._state
        if state is _OPEN:
            return self._open_until - t
        if state is _ISOLATED:
            return math.inf
        # Half-open with every permit taken: a probe usually settles well
        # within an open period, and its permit expires at the latest.
        deadline = next(iter(self._probes.values()))
        return max(0.0, min(self._open_duration or 0.0, deadline - t))

    def _reject(self, t: float) -> CircuitOpen:
        self._rejected += 1
        retry_after = self._retry_after(t)
        if _events.subscribers or self.listeners:
            self._rejected_event(retry_after)
        return CircuitOpen(self.label, retry_after=retry_after)

    def _rejected_event(self, retry_after: float) -> None:
        _events.emit(
            _events.CircuitRejected(
                name=self.label, state=self._state, retry_after=retry_after
            ),
            self.listeners,
        )

    def _settle(self, gen: int, probe: int, start: float, code: int) -> None:
        """Record the outcome *code* of a call admitted by :meth:`_admit`."""
        slow_after = self._slow_after
        if probe or slow_after is not None or self._timed_window:
            t = self._clock()
            # Against start + slow_after, as the loop computes a sleep's
            # deadline: t - start can round below a duration that was met.
            if slow_after is not None and code >= 0 and t >= start + slow_after:
                code |= SLOW
        else:
            t = 0.0
        if probe:
            self._settle_probe(gen, probe, t, code)
        elif gen == self._gen and code >= 0:
            self._record(code, t)

    def _settle_probe(self, gen: int, probe: int, t: float, code: int) -> None:
        self._refresh(t)
        if gen != self._gen:
            return  # its permit expired, or the breaker moved on by hand
        del self._probes[probe]
        if code == SUCCESS:
            self._successes += 1
            if self._successes >= self._success_threshold:
                self._move(_CLOSED, t, "probes_succeeded")
        elif code > 0:
            self._open(t, "probe_failed" if code & FAILURE else "probe_slow")

    def _record(self, code: int, t: float) -> None:
        """Judge the outcome of a call made while closed."""
        window = self._window
        window.record(code, t)
        if code & FAILURE:
            self._healthy = False
            self._consecutive += 1
            if self._consecutive >= self._max_consecutive:
                self._trip("consecutive_failures")
                return
        else:
            self._consecutive = 0
            if not (window.failures or window.slow):
                self._healthy = self._lean and window.calls == self._healthy_at
                return
            self._healthy = False
        calls = window.calls
        if calls < self._min_calls:
            return
        rate = self._failure_rate
        if rate is not None and window.failures / calls >= rate:
            self._trip("failure_rate")
            return
        rate = self._slow_rate
        if rate is not None and window.slow / calls >= rate:
            self._trip("slow_call_rate")

    # Set by CircuitBreaker.__init__ before _init_state().
    name: str | None
    label: str
    listeners: tuple[Listener, ...]
    _failure_rate: float | None
    _slow_rate: float | None
    _slow_after: float | None
    _min_calls: int
    _max_consecutive: float
    _half_open_calls: int
    _success_threshold: int
    _probe_timeout: float
    _open_for: float
    _backoff: Backoff | None
    _rng: random.Random | None
    _force_closed: bool
    _timed_window: bool
    _lean: bool
    _healthy_at: int
