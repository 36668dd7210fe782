"""The sliding windows over which a circuit breaker measures its failure rate.

:class:`CountWindow` and :class:`TimeWindow` are immutable configuration: one
instance may be given to any number of breakers. Each breaker builds its own
recorder from it, which keeps running totals so that recording an outcome
and reading the rates are O(1) (subtract-on-evict, as in resilience4j).

Outcomes are small int codes with two flag bits, :data:`FAILURE` and
:data:`SLOW`; :data:`SUCCESS` is neither.
"""

from __future__ import annotations

import math
from typing import Protocol

import attrs

from ._time import Duration, check_count, seconds

__all__ = [
    "FAILURE",
    "SLOW",
    "SUCCESS",
    "CountWindow",
    "Recorder",
    "TimeWindow",
    "Window",
]

SUCCESS = 0
FAILURE = 1
SLOW = 2


def _size(value: int) -> int:
    check_count(value, "CountWindow size")
    return value


def _window_seconds(value: Duration) -> float:
    return seconds(value, "TimeWindow seconds", allow_zero=False)


def _buckets(value: int) -> int:
    check_count(value, "TimeWindow buckets")
    return value


class Recorder(Protocol):
    """What a breaker needs from its window's recorder (running totals)."""

    calls: int
    failures: int
    slow: int

    def record(self, code: int, t: float, /) -> None:
        """Add one outcome, recorded at loop time *t*."""

    def advance(self, t: float, /) -> None:
        """Drop what has aged out of the window by loop time *t*."""

    def clear(self) -> None:
        """Forget every outcome."""

    def dump(self, t: float, /) -> dict[str, object]:
        """The outcomes as JSON-compatible data, relative to loop time *t*."""

    def load(self, data: dict[str, object], t: float, /) -> bool:
        """Replace the outcomes by *data*, as dumped at loop time *t*.

        Returns ``False``, leaving the window empty, when *data* comes from
        a window of another shape that it cannot be carried over to.
        """


@attrs.frozen
class CountWindow:
    """Judge the breaker on its last *size* calls.

    A ring of *size* outcomes: each new call pushes the oldest one out. Calls
    are never aged out by time, so a quiet service keeps its last verdict.

    Attributes:
        size: How many of the latest calls count, >= 1.

    .. versionadded:: 0.1
    """

    size: int = attrs.field(converter=_size)

    def _recorder(self) -> Recorder:
        return _CountRecorder(self.size)


@attrs.frozen
class TimeWindow:
    """Judge the breaker on the calls of the last *seconds*.

    The window is a ring of *buckets* slices of ``seconds / buckets`` each;
    the oldest slice is dropped whole when time moves past it, so a call
    leaves the window between ``seconds - seconds / buckets`` and *seconds*
    after it was made. More buckets make the edge sharper and cost memory,
    never time: recording and reading are O(1).

    Attributes:
        seconds: The span of the window, > 0 (seconds or a timedelta).
        buckets: How many slices it moves by, >= 1.

    .. versionadded:: 0.1
    """

    seconds: float = attrs.field(converter=_window_seconds)
    buckets: int = attrs.field(default=10, kw_only=True, converter=_buckets)

    def _recorder(self) -> Recorder:
        return _TimeRecorder(self.seconds, self.buckets)


Window = CountWindow | TimeWindow


def _codes(data: dict[str, object], key: str) -> list[int]:
    value = data.get(key)
    if not isinstance(value, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 3 for c in value
    ):
        msg = f"window {key!r} must be a list of outcome codes 0..3, not {value!r}"
        raise ValueError(msg)
    return value


class _CountRecorder:
    __slots__ = ("_codes", "_pos", "_size", "calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._size = size
        self._codes = bytearray(size)
        self._pos = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, code: int, t: float, /) -> None:
        codes = self._codes
        pos = self._pos
        if self.calls == self._size:
            old = codes[pos]
            if old:
                if old & FAILURE:
                    self.failures -= 1
                if old & SLOW:
                    self.slow -= 1
        else:
            self.calls += 1
        codes[pos] = code
        if code:
            if code & FAILURE:
                self.failures += 1
            if code & SLOW:
                self.slow += 1
        pos += 1
        self._pos = 0 if pos == self._size else pos

    def advance(self, t: float, /) -> None:
        """Nothing ages out of a count window."""

    def clear(self) -> None:
        self._codes = bytearray(self._size)
        self._pos = self.calls = self.failures = self.slow = 0

    def dump(self, t: float, /) -> dict[str, object]:
        # Oldest first, so that replaying them rebuilds the same ring.
        start = self._pos if self.calls == self._size else 0
        codes = self._codes[start:] + self._codes[:start]
        return {"kind": "count", "size": self._size, "codes": list(codes[: self.calls])}

    def load(self, data: dict[str, object], t: float, /) -> bool:
        if data.get("kind") != "count":
            self.clear()
            return False
        codes = _codes(data, "codes")
        self.clear()
        # A window of another size still carries over: its newest outcomes.
        for code in codes[-self._size :]:
            self.record(code, t)
        return True


class _TimeRecorder:
    __slots__ = (
        "_bucket_calls",
        "_bucket_failures",
        "_bucket_slow",
        "_head",
        "_n",
        "_origin",
        "_seconds",
        "_width",
        "calls",
        "failures",
        "slow",
    )

    def __init__(self, span: float, buckets: int) -> None:
        self._seconds = span
        self._n = buckets
        self._width = span / buckets
        # Bucket k covers [origin + k*width, origin + (k+1)*width); the live
        # buckets are head-n+1 .. head, bucket k in slot k % n. The origin
        # is fixed by the first reading of the clock.
        self._origin: float | None = None
        self._head = 0
        self._bucket_calls = [0] * buckets
        self._bucket_failures = [0] * buckets
        self._bucket_slow = [0] * buckets
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def _index(self, t: float) -> int:
        if self._origin is None:
            self._origin = t
        return math.floor((t - self._origin) / self._width)

    def advance(self, t: float, /) -> None:
        index = self._index(t)
        head = self._head
        if index <= head:
            return
        n = self._n
        if index - head >= n:
            self._zero()
        else:
            calls, failures, slow = (
                self._bucket_calls,
                self._bucket_failures,
                self._bucket_slow,
            )
            for k in range(head + 1, index + 1):
                slot = k % n
                self.calls -= calls[slot]
                self.failures -= failures[slot]
                self.slow -= slow[slot]
                calls[slot] = failures[slot] = slow[slot] = 0
        self._head = index

    def record(self, code: int, t: float, /) -> None:
        self.advance(t)
        slot = self._head % self._n
        self._bucket_calls[slot] += 1
        self.calls += 1
        if code & FAILURE:
            self._bucket_failures[slot] += 1
            self.failures += 1
        if code & SLOW:
            self._bucket_slow[slot] += 1
            self.slow += 1

    def _zero(self) -> None:
        n = self._n
        self._bucket_calls = [0] * n
        self._bucket_failures = [0] * n
        self._bucket_slow = [0] * n
        self.calls = self.failures = self.slow = 0

    def clear(self) -> None:
        self._zero()

    def dump(self, t: float, /) -> dict[str, object]:
        self.advance(t)
        n = self._n
        buckets = []
        for age in range(n):
            slot = (self._head - age) % n
            buckets.append(
                [
                    self._bucket_calls[slot],
                    self._bucket_failures[slot],
                    self._bucket_slow[slot],
                ]
            )
        origin = t if self._origin is None else self._origin
        head_start = origin + self._head * self._width
        return {
            "kind": "time",
            "seconds": self._seconds,
            "buckets": buckets,
            "head_age": t - head_start,
        }

    def load(self, data: dict[str, object], t: float, /) -> bool:
        if data.get("kind") != "time":
            self._zero()
            return False
        rows = data.get("buckets")
        head_age = data.get("head_age")
        if (
            not isinstance(rows, list)
            or not isinstance(head_age, int | float)
            or isinstance(head_age, bool)
            or not 0 <= head_age < math.inf
        ):
            msg = "a time window needs 'buckets' (a list) and 'head_age' (seconds)"
            raise ValueError(msg)
        parsed: list[tuple[int, int, int]] = []
        for row in rows:
            if not (
                isinstance(row, list)
                and len(row) == 3
                and all(isinstance(v, int) and not isinstance(v, bool) for v in row)
                and 0 <= row[1] <= row[0]
                and 0 <= row[2] <= row[0]
            ):
                msg = f"a time window bucket is [calls, failures, slow], not {row!r}"
                raise ValueError(msg)
            parsed.append((row[0], row[1], row[2]))
        self._zero()
        if data.get("seconds") != self._seconds or len(rows) != self._n:
            # Buckets of another width cannot be re-sliced faithfully.
            return False
        # The newest bucket becomes bucket 0, started head_age ago; older
        # ones take the negative indices before it.
        self._origin = t - head_age
        self._head = 0
        n = self._n
        for age, (calls, failures, slow) in enumerate(parsed):
            slot = -age % n
            self._bucket_calls[slot] = calls
            self._bucket_failures[slot] = failures
            self._bucket_slow[slot] = slow
            self.calls += calls
            self.failures += failures
            self.slow += slow
        return True
