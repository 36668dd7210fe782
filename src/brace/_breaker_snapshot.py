"""A circuit breaker's state as plain data, and back.

The record is a JSON-compatible dict. Loop clocks are per process (the
asyncio loop's is ``time.monotonic()``, trio's has a random offset), so no
absolute time is stored: every time is a duration relative to the moment
the snapshot was taken. ``version`` goes up by one on every transition,
which is what a shared store needs for compare-and-set.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

from . import _events
from ._breaker_state import _CLOSED, _HALF_OPEN, _OPEN
from ._breaker_types import CircuitState
from ._time import Duration, seconds

if TYPE_CHECKING:
    from ._breaker_state import BreakerCore

__all__ = ["FORMAT", "Persistence", "dump_state", "load_state"]

FORMAT = 1
_KIND = "circuit_breaker"


def dump_state(core: BreakerCore) -> dict[str, Any]:
    """The snapshot of *core* (see :meth:`CircuitBreaker.snapshot`)."""
    t = core._clock()
    core._refresh(t)
    if core._since is None:
        core._since = t
    state = core._state
    return {
        "kind": _KIND,
        "format": FORMAT,
        "name": core.name,
        "version": core._version,
        "state": state.value,
        "time_in_state": t - core._since,
        "open_remaining": core._open_until - t if state is _OPEN else None,
        "open_duration": core._open_duration,
        "trips": core._trips,
        "half_open_successes": core._successes,
        "consecutive_failures": core._consecutive,
        "window": core._window.dump(t),
    }


def _bad(what: str) -> ValueError:
    return ValueError(f"not a circuit breaker snapshot: {what}")


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(f"{key!r} must be an int >= 0, not {value!r}")
    return value


def _optional_duration(data: dict[str, Any], key: str) -> float | None:
    return None if data.get(key) is None else _duration(data, key)


def _duration(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < math.inf
    ):
        raise _bad(f"{key!r} must be seconds >= 0, not {value!r}")
    return float(value)


def load_state(core: BreakerCore, data: object, elapsed: float) -> None:
    """Make *data* the state of *core*, *elapsed* seconds after it was taken."""
    if not isinstance(data, dict) or data.get("kind") != _KIND:
        raise _bad(f"expected a dict with kind={_KIND!r}")
    if data.get("format") != FORMAT:
        raise _bad(f"unknown format {data.get('format')!r} (this brace reads {FORMAT})")
    name = data.get("name")
    if name is not None and core.name is not None and name != core.name:
        msg = (
            f"this is a snapshot of breaker {name!r}, not of {core.name!r}: "
            "give each breaker its own key in the store"
        )
        raise ValueError(msg)
    try:
        state = CircuitState(str(data.get("state")))
    except ValueError:
        raise _bad(f"unknown state {data.get('state')!r}") from None
    version = _count(data, "version")
    trips = _count(data, "trips")
    successes = _count(data, "half_open_successes")
    consecutive = _count(data, "consecutive_failures")
    time_in_state = _duration(data, "time_in_state")
    open_duration = _optional_duration(data, "open_duration")
    remaining = _duration(data, "open_remaining") if state is _OPEN else 0.0
    window = data.get("window")
    if not isinstance(window, dict) or window.get("kind") not in ("count", "time"):
        raise _bad("'window' must be a dict of kind 'count' or 'time'")

    t = core._clock()
    taken = t - elapsed  # the snapshot's moment, on this process's clock
    # The window first: it validates the rest of the data before any change.
    core._window.load(window, taken)
    old = core._state
    core._state = state
    core._fast = state is _CLOSED and core._lean
    core._healthy = False
    core._gen += 1
    core._version = version
    core._since = taken - time_in_state
    core._probes.clear()
    core._successes = successes if state is _HALF_OPEN else 0
    core._trips = trips
    core._open_duration = open_duration
    core._open_until = taken + remaining
    core._consecutive = consecutive
    if old is not state and (_events.subscribers or core.listeners):
        _events.emit(
            _events.CircuitStateChanged(
                name=core.label,
                old=old,
                new=state,
                reason="restore",
                open_for=remaining if state is _OPEN else None,
            ),
            core.listeners,
        )
    core._refresh(t)
    if core._force_closed and core._state in (_OPEN, _HALF_OPEN):
        core._move(_CLOSED, t, "force_closed")


class Persistence:
    """The snapshot and restore methods of :class:`~brace.CircuitBreaker`."""

    __slots__ = ()

    def snapshot(self) -> dict[str, Any]:
        """The breaker's state as plain, JSON-compatible data.

        The dict holds the state, its ``version`` (incremented on every
        transition), the window's outcomes and the counts that drive the
        state machine, with every time stored as a duration *relative to
        the moment of the snapshot* (seconds left open, seconds in the
        state, age of the window's buckets), since loop clocks mean nothing
        in another process. Probes in flight are not included: they belong
        to this process.

        .. versionadded:: 0.1
        """
        return dump_state(cast("BreakerCore", self))

    def restore(self, data: dict[str, Any], /, *, elapsed: Duration = 0.0) -> None:
        """Take over the state of a :meth:`snapshot`, from any process.

        Args:
            data: What :meth:`snapshot` returned (after a JSON round trip
                too).
            elapsed: Seconds that passed since the snapshot was taken, by
                a clock you trust across processes; counted against the
                open period and the window. By default none did: a breaker
                restored after a restart resumes where it stopped.

        Raises:
            ValueError: *data* is not a snapshot of a circuit breaker.

        .. versionadded:: 0.1
        """
        load_state(cast("BreakerCore", self), data, seconds(elapsed, "elapsed"))
