"""A bounded window of recent latencies and its exact quantile.

The adaptive hedging delay (``Hedge(delay="p95")``) needs, on every call,
the chosen percentile of the most recent primary latencies. The window keeps
the last *size* samples twice: in arrival order (a ring, to know which
sample to forget) and sorted (so that any quantile is one index away).
Adding a sample is a binary search and a ``memmove`` of at most *size*
pointers, done in C: about half a microsecond for a few hundred samples,
against several microseconds to sort or select on every read. Memory is
fixed at two lists of *size* floats.

Quantiles use the nearest-rank definition: the q-quantile of *n* samples is
the smallest sample with at least ``q * n`` samples at or below it, so it is
always an observed latency, never an interpolation.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, insort
from fractions import Fraction

__all__ = ["LatencyWindow", "parse_percentile"]

_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d+)?)")
_LOWEST = Fraction(50)
_HIGHEST = Fraction("99.9")


def parse_percentile(text: str) -> Fraction:
    """Turn ``"p95"`` or ``"p99.9"`` into the exact fraction 95/100, 999/1000.

    Raises:
        ValueError: The text is not ``"p"`` followed by a number from 50 to
            99.9.
    """
    match = _PERCENTILE.fullmatch(text)
    percent = Fraction(match.group(1)) if match else None
    if percent is None or not _LOWEST <= percent <= _HIGHEST:
        msg = (
            f"a percentile delay is 'p' and a number from 50 to 99.9, such as "
            f"'p95' or 'p99.9', not {text!r}"
        )
        raise ValueError(msg)
    return percent / 100


class LatencyWindow:
    """The last *size* samples and the *quantile* of them.

    Args:
        size: How many recent samples to keep (>= 1).
        quantile: The quantile to report, in (0, 1].
        min_samples: :meth:`value` is ``None`` until this many samples
            have been added (1 <= *min_samples* <= *size*).
    """

    __slots__ = ("_den", "_lock", "_min", "_next", "_num", "_ring", "_size", "_sorted")

    def __init__(self, size: int, quantile: Fraction, min_samples: int) -> None:
        self._size = size
        self._num = quantile.numerator
        self._den = quantile.denominator
        self._min = min_samples
        self._ring: list[float] = []
        self._sorted: list[float] = []
        self._next = 0
        # A policy may serve event loops in several threads: the two lists
        # must change together, and never be read half-changed.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, sample: float) -> None:
        """Record *sample*, forgetting the oldest one if the window is full."""
        ring = self._ring
        ordered = self._sorted
        with self._lock:
            if len(ring) < self._size:
                ring.append(sample)
            else:
                i = self._next
                del ordered[bisect_left(ordered, ring[i])]
                ring[i] = sample
                self._next = 0 if i + 1 == self._size else i + 1
            insort(ordered, sample)

    def value(self) -> float | None:
        """The quantile of the samples in the window; ``None`` if too few."""
        ordered = self._sorted
        with self._lock:
            n = len(ordered)
            if n < self._min:
                return None
            # Integer ceiling of quantile * n: exact for every percentile
            # that parse_percentile accepts, where float arithmetic is off
            # by one ulp often enough to pick the neighbouring sample.
            return ordered[-(-self._num * n // self._den) - 1]

    def samples(self) -> list[float]:
        """The samples in the window, oldest first."""
        with self._lock:
            return self._ring[self._next :] + self._ring[: self._next]
