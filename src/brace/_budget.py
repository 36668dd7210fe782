"""Retry budgets: what a retry policy needs from one, and the Finagle budget.

:class:`SupportsRetryBudget` is the protocol that ``Retry(budget=...)`` (and
hedging) calls. :class:`RetryBudget` implements it the way Finagle and
tower do: successes deposit a fraction of a retry, retries withdraw one, and
both expire after a time-to-live, kept in a fixed ring of time buckets (O(1)
amortised per operation, bounded memory). The AWS-style token quota is in
``_quota.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction
from typing import Protocol, runtime_checkable

import attrs

from . import _events
from ._events import Listener
from ._time import Duration, check_name, now, seconds

__all__ = ["RetryBudget", "RetryBudgetStatistics", "SupportsRetryBudget"]


@runtime_checkable
class SupportsRetryBudget(Protocol):
    """What :class:`Retry` needs from a retry budget (``budget=``).

    A budget is shared by many calls to one dependency and caps the share of
    retries among them, so that retries cannot multiply the load on a
    dependency that is already failing. :class:`RetryBudget` and
    :class:`RetryQuota` implement it; so can your own class.

    .. versionadded:: 0.1
    """

    def withdraw(self, error: Exception | None, /) -> bool:
        """Ask for one retry after *error* (``None``: a rejected result).

        Returns ``False`` to make the call give up at once.
        """

    def deposit(self, attempts: int, last_error: Exception | None, /) -> None:
        """Report a call that succeeded on attempt number *attempts*.

        *last_error* is the error that the final retry was made for, or
        ``None`` when the first attempt succeeded.
        """


# The time-to-live is cut into this many buckets: an entry expires between
# ttl - ttl/_BUCKETS and ttl after it was made (Finagle and tower use 10).
_BUCKETS = 10
# Ratios are kept as exact fractions with at most this denominator, so that
# deposits and withdrawals are integer units and never drift.
_MAX_DENOMINATOR = 1_000_000


@attrs.frozen
class RetryBudgetStatistics:
    """A snapshot of a :class:`RetryBudget`.

    Attributes:
        available: Whole retries the budget would allow right now.
        withdrawn: Retries allowed since construction.
        refused: Retries refused since construction.
        deposited: Successful calls reported since construction.

    .. versionadded:: 0.1
    """

    available: int
    withdrawn: int
    refused: int
    deposited: int


def _exact(value: float) -> Fraction:
    # Through the shortest decimal repr, so that 0.2 means 1/5 and 0.3 means
    # 3/10, not the binary fractions nearest to them.
    return Fraction(repr(value))


def _check_rate(value: object, what: str, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{what} must be a number, not {value!r}"
        raise TypeError(msg)
    result = float(value)
    if upper is not None and not 0 <= result <= upper:  # NaN fails too
        msg = f"{what} must be between 0 and {upper:g}, not {value!r}"
        raise ValueError(msg)
    if not (math.isfinite(result) and result >= 0):
        msg = f"{what} must be a finite number >= 0, not {value!r}"
        raise ValueError(msg)
    return result


class RetryBudget:
    """Cap retries at a share of recent successful calls (Finagle, tower).

    Share one budget between every :class:`Retry` that calls one dependency
    (``Retry(..., budget=budget)``). Each call that succeeds deposits
    *ratio* of a retry; each retry withdraws one. Both expire *ttl* seconds
    later, so the budget tracks recent traffic. On top of that, a reserve of
    ``min_per_second * ttl`` retries is always there, so that a client with
    little traffic can still retry. When the balance is short of one retry,
    :meth:`withdraw` refuses, and the retry policy gives up at once with its
    last error (the note says ``retry budget exhausted``).

    The guarantee: over any window of ``0.9 * ttl`` seconds (the shortest
    life of an entry, see below), retries never exceed
    ``min_per_second * ttl`` plus *ratio* times the successful calls of the
    last *ttl* seconds. Under a dependency that fails every call, nothing is
    deposited, and retries fall to ``min_per_second`` on average, whatever
    the number of callers and their ``attempts``.

    Time is kept in 10 buckets of ``ttl / 10``: a deposit or withdrawal
    expires when its bucket leaves the window, between ``0.9 * ttl`` and
    *ttl* after it was made. Time is the running event loop's clock
    (:func:`time.monotonic` outside one).

    A budget is a mutable resource for the tasks of one event loop (asyncio
    or trio) or one thread, constructible outside any loop; it is not
    thread-safe.

    Args:
        ratio: Retries allowed per successful call, between 0 and 1000 (0.2:
            one retry per five successes). Kept as an exact fraction, with a
            denominator up to one million.
        min_per_second: Retries allowed per second whatever the traffic,
            averaged over *ttl*, >= 0.
        ttl: How long a deposit or withdrawal counts, in seconds (> 0) or as
            a timedelta.
        name: Names the budget in events.
        listeners: Callbacks for this budget's events
            (:class:`RetryBudgetExhausted`).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range, or *ratio* and
            *min_per_second* are both so small that no retry could ever be
            allowed.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_bucket",
        "_current",
        "_deposit",
        "_deposited",
        "_min_per_second",
        "_origin",
        "_past",
        "_ratio",
        "_refused",
        "_reserve",
        "_slots",
        "_ttl",
        "_withdraw",
        "_withdrawn",
        "listeners",
        "name",
    )

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        ttl: Duration = 10.0,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_name(name, "a RetryBudget's")
        self._ratio = _check_rate(ratio, "ratio", 1000.0)
        self._min_per_second = _check_rate(min_per_second, "min_per_second")
        self._ttl = seconds(ttl, "ttl", allow_zero=False)
        share = _exact(self._ratio).limit_denominator(_MAX_DENOMINATOR)
        # Integer units: a success deposits share.numerator units and a retry
        # costs share.denominator, so the ratio holds exactly.
        self._deposit = share.numerator
        self._withdraw = share.denominator
        self._reserve = math.floor(
            _exact(self._min_per_second) * _exact(self._ttl) * self._withdraw
        )
        if self._deposit == 0 and self._reserve < self._withdraw:
            msg = (
                f"RetryBudget(ratio={ratio!r}, min_per_second={min_per_second!r}, "
                f"ttl={ttl!r}) could never allow a retry: raise ratio or "
                "min_per_second, or use Retry(attempts=1) to disable retries"
            )
            raise ValueError(msg)
        # The ring: _slots[b % _BUCKETS] holds the net units of bucket b for
        # the buckets still in the window, except the current one, whose
        # units are in _current. _past is the sum of _slots.
        self._slots = [0] * _BUCKETS
        self._past = 0
        self._current = 0
        # The current bucket's number (a whole float, as // gives it).
        self._bucket: float | None = None
        # Bucket numbers count from here; moved when the clock jumps back.
        self._origin = 0.0
        self._withdrawn = 0
        self._refused = 0
        self._deposited = 0
        self.name = name
        self.listeners: tuple[Listener, ...] = _events.listeners(listeners)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return (
            f"RetryBudget(ratio={self._ratio!r}, min_per_second="
            f"{self._min_per_second!r}, ttl={self._ttl!r}{name})"
        )

    @property
    def ratio(self) -> float:
        """Retries allowed per successful call."""
        return self._ratio

    @property
    def min_per_second(self) -> float:
        """Retries allowed per second whatever the traffic."""
        return self._min_per_second

    @property
    def ttl(self) -> float:
        """Seconds a deposit or withdrawal counts."""
        return self._ttl

    def _advance(self, t: float) -> None:
        """Move the ring to time *t*, expiring what left the window."""
        # Multiplied before dividing, so that round times land on bucket
        # edges exactly (1.0 // 0.1 is 9.0 in floating point).
        bucket = (t - self._origin) * _BUCKETS // self._ttl
        last = self._bucket
        if bucket == last:
            return
        if last is None:
            self._bucket = bucket
            return
        if bucket < last:
            # Another clock (a new event loop, a test's virtual clock): carry
            # on from here as if no time had passed, expiring nothing early.
            # (Should rounding put t just below bucket `last` now, the next
            # call lands here again, which is harmless.)
            self._origin = t - last * self._ttl / _BUCKETS
            return
        slots = self._slots
        elapsed = int(bucket - last)
        if elapsed >= _BUCKETS:
            slots[:] = [0] * _BUCKETS
            self._past = 0
        else:
            first = int(last)
            slots[first % _BUCKETS] = self._current
            past = self._past + self._current
            for b in range(first + 1, first + elapsed + 1):
                # Entering bucket b expires bucket b - _BUCKETS (same slot).
                i = b % _BUCKETS
                past -= slots[i]
                slots[i] = 0
            self._past = past
        self._current = 0
        self._bucket = bucket

    def withdraw(self, error: Exception | None = None, /) -> bool:
        """Take one retry from the budget; ``False`` (and no change) if short.

        Args:
            error: The exception the retry is for (only reported in the
                :class:`RetryBudgetExhausted` event).
        """
        self._advance(now())
        cost = self._withdraw
        balance = self._reserve + self._past + self._current
        if balance >= cost:
            self._current -= cost
            self._withdrawn += 1
            return True
        self._refused += 1
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.RetryBudgetExhausted(
                    name=self.name or "<retry budget>",
                    error=error,
                    cost=1,
                    available=max(0, balance // cost),
                ),
                self.listeners,
            )
        return False

    def deposit(
        self, attempts: int = 1, last_error: Exception | None = None, /
    ) -> None:
        """Report a successful call: it funds *ratio* of a future retry.

        Every successful call deposits the same, on whichever attempt it
        succeeded (as tower does), so *attempts* and *last_error* are
        accepted for the protocol and not used.
        """
        # On the success path of every budgeted call: the bucket test is
        # inlined, and now() reads a remembered loop's clock.
        t = now()
        if (t - self._origin) * _BUCKETS // self._ttl != self._bucket:
            self._advance(t)
        self._current += self._deposit
        self._deposited += 1

    def statistics(self) -> RetryBudgetStatistics:
        """A consistent snapshot of the counters, at the current time."""
        self._advance(now())
        balance = self._reserve + self._past + self._current
        return RetryBudgetStatistics(
            available=max(0, balance // self._withdraw),
            withdrawn=self._withdrawn,
            refused=self._refused,
            deposited=self._deposited,
        )
