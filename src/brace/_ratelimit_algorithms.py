"""The arithmetic of the rate limiters: GCRA, fixed and sliding windows.

Pure bookkeeping on times that the caller passes in: no clock, no waiting,
no validation (the limiter checks costs before they get here; every cost is
an int between 1 and :attr:`capacity`). Each algorithm answers, for a request
of *cost* units at time *t*:

- :meth:`take`: does it fit now? If so, record it.
- :meth:`earliest`: the first time ``>= t`` at which :meth:`take` succeeds,
  if nothing else is taken meanwhile. Computed with the very float
  expressions that :meth:`take` tests, so that taking at that time always
  succeeds: a waiter woken at its time never finds it "not quite yet".
- :meth:`available`: how many units fit now.

:meth:`mark` summarises the state after a take, so that a plan made ahead of
time can tell whether a real grant had the effect it planned for.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Protocol

from ._time import check_count, seconds

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "FixedWindow",
    "SlidingWindow",
    "TokenBucket",
    "build",
]


class Algorithm(Protocol):
    capacity: int

    def take(self, t: float, cost: int) -> bool: ...
    def earliest(self, t: float, cost: int) -> float: ...
    def available(self, t: float) -> int: ...
    def mark(self) -> float: ...
    def copy(self) -> Algorithm: ...


class TokenBucket:
    """GCRA: a token bucket kept as its theoretical arrival time (TAT).

    The TAT is the time at which the bucket would be full again. A request of
    *cost* units conforms at *t* when ``max(TAT, t) + cost*T - t <= burst*T``
    (``T = per / rate``, the emission interval), and then moves the TAT by
    ``cost*T``. The TAT is stored as ``base + units*per/rate`` with *units*
    an int counted since the bucket was last full: every TAT is computed
    afresh from that count in three float operations, so its error stays
    within a few units in the last place however many requests went by,
    unlike a float that accumulates ``+= T``.
    """

    __slots__ = ("_base", "_units", "burst", "capacity", "per", "rate", "tat")

    def __init__(self, rate: float, per: float, burst: int) -> None:
        self.rate = rate
        self.per = per
        self.burst = self.capacity = burst
        self._base = 0.0
        self._units = 0
        self.tat = -math.inf  # full

    def take(self, t: float, cost: int) -> bool:
        if self.tat < t:
            # Full (cost <= burst always fits): restart the count from now.
            # Not when the TAT is exactly now, as for a waiter woken at its
            # time with cost == burst: restarting there would add the float
            # TAT to the count, and its rounding errors would add up.
            self._base = t
            self._units = cost
            self.tat = t + cost * self.per / self.rate
            return True
        units = self._units + cost
        if t < self._base + (units - self.burst) * self.per / self.rate:
            return False
        self._units = units
        self.tat = self._base + units * self.per / self.rate
        return True

    def earliest(self, t: float, cost: int) -> float:
        if self.tat <= t:
            return t
        ready = self._base + (self._units + cost - self.burst) * self.per / self.rate
        return ready if ready > t else t

    def available(self, t: float) -> int:
        if self.tat <= t:
            return self.burst
        # Estimate, then settle on the exact boundary with take()'s own test.
        fits = self._fits
        n = (
            self.burst
            - self._units
            + math.floor((t - self._base) * self.rate / self.per)
        )
        n = min(max(n, 0), self.burst)
        while n > 0 and not fits(t, n):
            n -= 1
        while n < self.burst and fits(t, n + 1):
            n += 1
        return n

    def _fits(self, t: float, cost: int) -> bool:
        return (
            t >= self._base + (self._units + cost - self.burst) * self.per / self.rate
        )

    def mark(self) -> float:
        return self.tat

    def copy(self) -> TokenBucket:
        clone = TokenBucket(self.rate, self.per, self.burst)
        clone._base, clone._units, clone.tat = self._base, self._units, self.tat
        return clone


# The segment index of "before any request": far enough back that the first
# request rolls every slot away.
_LONG_AGO = -(1 << 62)


def _segment_start(index: int, length: float) -> float:
    """The first float time whose segment (``t // length``) is *index*."""
    start = index * length
    while start // length < index:
        start = math.nextafter(start, math.inf)
    return start


class FixedWindow:
    """At most *limit* units in each window ``[k*per, (k+1)*per)``."""

    __slots__ = ("_count", "_index", "capacity", "per")

    def __init__(self, limit: int, per: float) -> None:
        self.capacity = limit
        self.per = per
        self._index = -math.inf
        self._count = 0

    def take(self, t: float, cost: int) -> bool:
        index = t // self.per
        if index > self._index:
            self._index = index
            self._count = 0
        count = self._count + cost
        if count > self.capacity:
            return False
        self._count = count
        return True

    def earliest(self, t: float, cost: int) -> float:
        index = t // self.per
        if index > self._index or self._count + cost <= self.capacity:
            return t
        return _segment_start(int(self._index) + 1, self.per)

    def available(self, t: float) -> int:
        if t // self.per > self._index:
            return self.capacity
        return self.capacity - self._count

    def mark(self) -> float:
        return self._index

    def copy(self) -> FixedWindow:
        clone = FixedWindow(self.capacity, self.per)
        clone._index, clone._count = self._index, self._count
        return clone


class SlidingWindow:
    """At most *limit* units in any interval of length *per*, in segments.

    Time is cut into segments of ``per / segments``; a count is kept per
    segment, for the current one and the *segments* before it (memory
    O(segments)). A request fits when the units counted in those
    ``segments + 1`` segments leave room for it. The counted span always
    covers the last *per* seconds, so the limit holds for every interval of
    length *per*, exactly; the price of counting whole segments is that a
    unit keeps counting for between *per* and ``per + per/segments`` after
    it was granted, so requests may wait up to one segment longer than an
    exact sliding log would make them.
    """

    __slots__ = ("_counts", "_index", "_slots", "_total", "capacity", "segment")

    def __init__(self, limit: int, per: float, segments: int) -> None:
        self.capacity = limit
        segment = per / segments
        # Rounded up if need be, so that the counted span never falls short
        # of *per*, not even by a float's last bit.
        while Fraction(segment) * segments < Fraction(per):
            segment = math.nextafter(segment, math.inf)
        self.segment = segment
        self._slots = segments + 1
        self._counts = [0] * self._slots
        self._index = _LONG_AGO
        self._total = 0

    def _roll(self, index: int) -> None:
        counts, slots = self._counts, self._slots
        if index - self._index >= slots:
            counts[:] = [0] * slots
            self._total = 0
        else:
            for k in range(self._index + 1, index + 1):
                slot = k % slots
                self._total -= counts[slot]
                counts[slot] = 0
        self._index = index

    def take(self, t: float, cost: int) -> bool:
        index = int(t // self.segment)
        if index > self._index:
            self._roll(index)
        if self._total + cost > self.capacity:
            return False
        self._counts[self._index % self._slots] += cost
        self._total += cost
        return True

    def _counted(self, index: int) -> int:
        """Units still counted at segment *index* (>= the current one)."""
        slots = self._slots
        gone = index - self._index
        if gone >= slots:
            return 0
        total = self._total
        # The *gone* oldest segments fall out of the counted span.
        oldest = self._index - slots + 1
        for k in range(oldest, oldest + gone):
            total -= self._counts[k % slots]
        return total

    def earliest(self, t: float, cost: int) -> float:
        index = max(int(t // self.segment), self._index)
        counted = self._counted(index)
        if counted + cost <= self.capacity:
            return t
        slots = self._slots
        oldest = index - slots + 1  # the oldest segment counted at *index*
        while counted + cost > self.capacity:
            # One segment later, the oldest one no longer counts. It is
            # always a stored one: once those are all gone, the count is 0
            # and any cost fits.
            counted -= self._counts[oldest % slots]
            oldest += 1
            index += 1
        return _segment_start(index, self.segment)

    def available(self, t: float) -> int:
        index = max(int(t // self.segment), self._index)
        return self.capacity - self._counted(index)

    def mark(self) -> float:
        return self._index

    def copy(self) -> SlidingWindow:
        clone = SlidingWindow.__new__(SlidingWindow)
        clone.capacity, clone.segment, clone._slots = (
            self.capacity,
            self.segment,
            self._slots,
        )
        clone._counts = list(self._counts)
        clone._index, clone._total = self._index, self._total
        return clone


# -- construction, with the checks of RateLimiter's arguments -------------------

ALGORITHMS = ("token_bucket", "sliding_window", "fixed_window")
DEFAULT_SEGMENTS = 10
_INF = float("inf")


def _check_rate(rate: object, algorithm: str) -> float:
    # Keyed limiters build one limiter per key: plain numbers go fast.
    if (
        (rate.__class__ is float or rate.__class__ is int)
        and 0 < rate < _INF
        and (algorithm == "token_bucket" or rate == int(rate))
    ):
        return float(rate)
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        msg = f"rate must be a number of units per period, not {rate!r}"
        raise TypeError(msg)
    if not 0 < rate < _INF:
        msg = f"rate must be a finite number > 0, not {rate!r}"
        raise ValueError(msg)
    msg = (
        f"rate must be a whole number of units per window for "
        f"algorithm={algorithm!r}, not {rate!r}; use token_bucket for "
        "fractional rates"
    )
    raise ValueError(msg)


def build(
    algorithm: str,
    rate: object,
    per: object,
    burst: object,
    segments: object,
) -> tuple[Algorithm, float, float, int | None, int | None]:
    """Check a limiter's arguments; return its algorithm and the clean values.

    Returns:
        ``(algorithm, rate, per, burst, segments)``, with the defaults filled
        in for the chosen algorithm and ``None`` for the others.

    Raises:
        TypeError, ValueError: With a message that says what to pass instead.
    """
    if algorithm not in ALGORITHMS:
        msg = f"algorithm must be one of {', '.join(ALGORITHMS)}; not {algorithm!r}"
        raise ValueError(msg)
    rate_f = _check_rate(rate, algorithm)
    if (per.__class__ is float or per.__class__ is int) and 0 < per < _INF:
        per_f = float(per)
    else:
        per_f = seconds(per, "per", allow_zero=False)
    if burst is not None and algorithm != "token_bucket":
        msg = (
            f"burst applies to token_bucket only; a {algorithm} admits up to "
            "rate units per window"
        )
        raise ValueError(msg)
    if segments is not None and algorithm != "sliding_window":
        msg = f"segments applies to sliding_window only, not to {algorithm}"
        raise ValueError(msg)
    if algorithm == "token_bucket":
        if burst is None:
            burst = 1
        else:
            check_count(burst, "burst")
        assert isinstance(burst, int)  # noqa: S101
        return TokenBucket(rate_f, per_f, burst), rate_f, per_f, burst, None
    if algorithm == "sliding_window":
        if segments is None:
            segments = DEFAULT_SEGMENTS
        else:
            check_count(segments, "segments")
        assert isinstance(segments, int)  # noqa: S101
        window = SlidingWindow(int(rate_f), per_f, segments)
        return window, rate_f, per_f, None, segments
    return FixedWindow(int(rate_f), per_f), rate_f, per_f, None, None
