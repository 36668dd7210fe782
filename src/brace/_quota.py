"""RetryQuota: the AWS SDKs' retry quota, a token bucket that successes refill.

The "standard" retry mode of the AWS SDKs (botocore ``retries/quota.py`` and
``retries/standard.py``): a bucket of 500 tokens per client, 5 per retry or
10 per retry after a timeout, 1 back for a call that needed no retry, and
the cost of the last retry back for a call that succeeded after retrying.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Iterable

import attrs

from . import _events
from ._events import Listener
from ._time import check_name

__all__ = ["RetryQuota", "RetryQuotaStatistics"]


@attrs.frozen
class RetryQuotaStatistics:
    """A snapshot of a :class:`RetryQuota`.

    Attributes:
        available: Tokens in the quota now.
        capacity: The most tokens it holds (and holds at the start).
        withdrawn: Retries allowed since construction.
        refused: Retries refused since construction.
        deposited: Successful calls reported since construction.

    .. versionadded:: 0.1
    """

    available: int
    capacity: int
    withdrawn: int
    refused: int
    deposited: int


def _tokens(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{what} must be an int >= {minimum} (tokens), not {value!r}"
        raise ValueError(msg)
    return value


def _is_timeout(error: Exception | None) -> bool:
    if isinstance(error, builtins.TimeoutError):
        # Also brace.TimeoutError and asyncio.TimeoutError.
        return True
    # Looked up lazily so that brace never imports httpx itself.
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(error, httpx.TimeoutException)


class RetryQuota:
    """Cap retries with a token bucket that successful calls refill (AWS SDKs).

    The retry quota of the AWS SDKs' standard retry mode, behind the same
    protocol as :class:`RetryBudget`: share one between every :class:`Retry`
    that calls one dependency. The quota starts full, with *capacity*
    tokens. Each retry takes *cost* tokens, or *timeout_cost* when it
    retries a timeout (a builtin :class:`TimeoutError`, which includes
    :class:`brace.TimeoutError`, or an ``httpx.TimeoutException``); when the
    tokens are short, :meth:`withdraw` refuses and the retry policy gives up
    at once. A call that succeeds on its first attempt gives back *refund*
    tokens; one that succeeds after retrying gives back what its last retry
    took. Tokens never exceed *capacity*, and a failed call gives nothing
    back.

    Unlike :class:`RetryBudget`, time plays no part: the quota drains while
    calls fail and refills only as calls succeed. With the defaults, a
    dependency that fails everything gets at most 100 retries (50 after
    timeouts) before retrying stops, and 5 (or 10) successes without retry
    pay for one more.

    A quota is a mutable resource for the tasks of one event loop (asyncio
    or trio) or one thread, constructible outside any loop; it is not
    thread-safe.

    Args:
        capacity: Tokens when full (and at the start), >= 1.
        cost: Tokens a retry takes, between 1 and *capacity*.
        timeout_cost: Tokens a retry after a timeout takes, between 1 and
            *capacity*.
        refund: Tokens a call that succeeded on its first attempt gives
            back, >= 0.
        name: Names the quota in events.
        listeners: Callbacks for this quota's events
            (:class:`RetryBudgetExhausted`).

    Raises:
        ValueError: A token count is not an int in range.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_available",
        "_capacity",
        "_cost",
        "_deposited",
        "_refund",
        "_refused",
        "_timeout_cost",
        "_withdrawn",
        "listeners",
        "name",
    )

    def __init__(
        self,
        *,
        capacity: int = 500,
        cost: int = 5,
        timeout_cost: int = 10,
        refund: int = 1,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_name(name, "a RetryQuota's")
        self._capacity = _tokens(capacity, "capacity", 1)
        self._cost = _tokens(cost, "cost", 1)
        self._timeout_cost = _tokens(timeout_cost, "timeout_cost", 1)
        self._refund = _tokens(refund, "refund", 0)
        for what, value in (("cost", cost), ("timeout_cost", timeout_cost)):
            if value > capacity:
                msg = (
                    f"{what}={value} is more than capacity={capacity}: no retry "
                    f"could ever be allowed; raise capacity or lower {what}"
                )
                raise ValueError(msg)
        self._available = capacity
        self._withdrawn = 0
        self._refused = 0
        self._deposited = 0
        self.name = name
        self.listeners: tuple[Listener, ...] = _events.listeners(listeners)

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        return (
            f"RetryQuota(capacity={self._capacity}, cost={self._cost}, "
            f"timeout_cost={self._timeout_cost}, refund={self._refund}{name})"
        )

    @property
    def capacity(self) -> int:
        """Tokens when full."""
        return self._capacity

    @property
    def cost(self) -> int:
        """Tokens a retry takes."""
        return self._cost

    @property
    def timeout_cost(self) -> int:
        """Tokens a retry after a timeout takes."""
        return self._timeout_cost

    @property
    def refund(self) -> int:
        """Tokens a call that needed no retry gives back."""
        return self._refund

    def cost_of(self, error: Exception | None) -> int:
        """The tokens a retry after *error* takes (``None``: a rejected result)."""
        return self._timeout_cost if _is_timeout(error) else self._cost

    def withdraw(self, error: Exception | None = None, /) -> bool:
        """Take the tokens of one retry after *error*; ``False`` if short.

        A refusal takes nothing.
        """
        amount = self._timeout_cost if _is_timeout(error) else self._cost
        available = self._available
        if amount <= available:
            self._available = available - amount
            self._withdrawn += 1
            return True
        self._refused += 1
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.RetryBudgetExhausted(
                    name=self.name or "<retry quota>",
                    error=error,
                    cost=amount,
                    available=available,
                ),
                self.listeners,
            )
        return False

    def deposit(
        self, attempts: int = 1, last_error: Exception | None = None, /
    ) -> None:
        """Report a successful call and refill the quota (up to *capacity*).

        Args:
            attempts: The attempt the call succeeded on: 1 gives back
                *refund* tokens; more gives back what the last retry took.
            last_error: The error the last retry was made for, which tells
                what that retry cost.
        """
        if attempts <= 1:
            amount = self._refund
        else:
            amount = self._timeout_cost if _is_timeout(last_error) else self._cost
        self._available = min(self._capacity, self._available + amount)
        self._deposited += 1

    def statistics(self) -> RetryQuotaStatistics:
        """A consistent snapshot of the counters."""
        return RetryQuotaStatistics(
            available=self._available,
            capacity=self._capacity,
            withdrawn=self._withdrawn,
            refused=self._refused,
            deposited=self._deposited,
        )
