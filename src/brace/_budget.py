"""What a retry policy needs from a retry budget.

The budget implementations (``RetryBudget``, ``RetryQuota``) come with the
circuit-breaker work; the protocol is fixed now so that any object with these
two methods can be passed as ``Retry(budget=...)``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["SupportsRetryBudget"]


@runtime_checkable
class SupportsRetryBudget(Protocol):
    """What :class:`Retry` needs from a retry budget (``budget=``).

    A budget is shared by many calls to one dependency and caps the share of
    retries among them, so that retries cannot multiply the load on a
    dependency that is already failing. brace's ``RetryBudget`` (to come)
    will implement it; so can your own class.

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
