"""The errors brace raises itself, and the transient-error classifier.

The exceptions of a protected call pass through brace unchanged; only the
conditions that brace itself detects (a rejection, an expired timeout, a
cancelled token, an unacceptable result) are raised as these classes.
"""

from __future__ import annotations

import builtins
import enum
import errno
import math
import sys
from typing import Any

__all__ = [
    "BraceError",
    "Cancelled",
    "CircuitOpen",
    "ErrorCode",
    "LimiterFull",
    "QueueClosed",
    "QueueEmpty",
    "QueueFull",
    "RateLimited",
    "RejectedError",
    "RetryError",
    "TimeoutError",
    "is_transient",
]


class ErrorCode(enum.StrEnum):
    """Stable, machine-readable codes carried by every brace error as ``.code``.

    The values never change between releases, so they are safe to log, to put
    in metrics labels and to match on in other processes.

    .. versionadded:: 0.1
    """

    ERROR = "brace_error"
    REJECTED = "rejected"
    CIRCUIT_OPEN = "circuit_open"
    LIMITER_FULL = "limiter_full"
    RATE_LIMITED = "rate_limited"
    QUEUE_FULL = "queue_full"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    QUEUE_CLOSED = "queue_closed"
    QUEUE_EMPTY = "queue_empty"
    RETRY_ERROR = "retry_error"


class BraceError(Exception):
    """Base class of every error that brace raises itself.

    Catch it to handle every brace-originated condition at once. The protected
    call's own exceptions are never wrapped in it.

    .. versionadded:: 0.1
    """

    code: ErrorCode = ErrorCode.ERROR

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which the default exception
        # pickling (``cls(*self.args)``) cannot pass back.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[BraceError], args: tuple[Any, ...], state: dict[str, Any]
) -> BraceError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class RejectedError(BraceError):
    """A guard refused the call, so the protected code never ran.

    Rejections are immediate and cheap, and it is safe to retry them later.

    .. versionadded:: 0.1
    """

    code = ErrorCode.REJECTED


class CircuitOpen(RejectedError):
    """The circuit breaker *name* is open and fails calls fast.

    Attributes:
        name: The breaker's name.
        retry_after: Seconds until the breaker lets a probe call through.

    .. versionadded:: 0.1
    """

    code = ErrorCode.CIRCUIT_OPEN

    def __init__(self, name: str, *, retry_after: float) -> None:
        # No super().__init__(message): an open breaker raises this on every
        # rejected call, and most are caught without ever being printed, so
        # the message is built by __str__ only when somebody reads it.
        # (Exception.__new__ has already set args to (name,).)
        self.name = name
        self.retry_after = retry_after

    def __str__(self) -> str:
        if math.isinf(self.retry_after):
            return (
                f"circuit {self.name!r} is isolated: the call was not made; "
                "calls fail fast until the breaker is reset()"
            )
        return (
            f"circuit {self.name!r} is open: the call was not made; "
            f"a probe is allowed in {self.retry_after:.3f} s"
        )


class LimiterFull(RejectedError):
    """A concurrency limiter has no free slot and no room left to wait in.

    Attributes:
        name: The limiter's name, or ``None``.

    .. versionadded:: 0.1
    """

    code = ErrorCode.LIMITER_FULL

    def __init__(self, name: str | None = None) -> None:
        what = f"limiter {name!r}" if name else "the concurrency limiter"
        super().__init__(
            f"{what} is full and its waiting room too: the call was shed; "
            "retry later or raise max_concurrent/max_waiting"
        )
        self.name = name


class RateLimited(RejectedError):
    """A rate limiter would have to wait longer than allowed.

    Attributes:
        retry_after: Seconds until enough capacity is available.

    .. versionadded:: 0.1
    """

    code = ErrorCode.RATE_LIMITED

    def __init__(self, *, retry_after: float) -> None:
        super().__init__(
            f"rate limit reached: capacity is available in {retry_after:.3f} s"
        )
        self.retry_after = retry_after


class QueueFull(RejectedError):
    """A bounded queue is full and its overflow rule is ``reject``.

    Attributes:
        maxsize: The queue's capacity.

    .. versionadded:: 0.1
    """

    code = ErrorCode.QUEUE_FULL

    def __init__(self, *, maxsize: int) -> None:
        super().__init__(
            f"queue is full ({maxsize} items): the item was not added; "
            "retry later, or pick a drop_* overflow rule to shed load instead"
        )
        self.maxsize = maxsize


class TimeoutError(BraceError, builtins.TimeoutError):
    """A brace timeout expired before the protected call finished.

    Also a builtin :class:`TimeoutError`, so code that already handles
    timeouts keeps working. Raised only when brace's own deadline fired;
    cancellation from outside passes through as cancellation.

    Attributes:
        timeout: The timeout that expired, in seconds.

    .. versionadded:: 0.1
    """

    code = ErrorCode.TIMEOUT

    def __init__(self, *, timeout: float, name: str | None = None) -> None:
        what = f"{name} " if name else ""
        super().__init__(
            f"{what}timed out after {timeout:g} s; raise the timeout or make "
            "the call faster"
        )
        self.timeout = timeout
        self.name = name


class Cancelled(BraceError):
    """A :class:`~brace.CancelToken` was cancelled.

    This is cooperative cancellation asked for through a token, not the
    cancellation of the running task, which always propagates as the event
    loop's own exception.

    Attributes:
        reason: The reason given to :meth:`CancelToken.cancel`.

    .. versionadded:: 0.1
    """

    code = ErrorCode.CANCELLED

    def __init__(self, reason: object = None) -> None:
        super().__init__(
            "cancelled through a CancelToken"
            + ("" if reason is None else f": {reason}")
        )
        self.reason = reason


class QueueClosed(BraceError):
    """The queue is closed: no more puts, and no more items to get.

    .. versionadded:: 0.1
    """

    code = ErrorCode.QUEUE_CLOSED

    def __init__(self) -> None:
        super().__init__("the queue is closed")


class QueueEmpty(BraceError):
    """``get_nowait()`` found the queue empty.

    .. versionadded:: 0.1
    """

    code = ErrorCode.QUEUE_EMPTY

    def __init__(self) -> None:
        super().__init__("the queue is empty; use await get() to wait for an item")


class RetryError(BraceError):
    """Every attempt returned a result that the retry policy rejected.

    Raised only by policies configured to raise for results
    (``Retry(retry_on_result=..., raise_for_result=True)``); exceptions are
    always re-raised unchanged instead.

    Attributes:
        attempts: How many attempts were made.
        last_result: The result of the last attempt.

    .. versionadded:: 0.1
    """

    code = ErrorCode.RETRY_ERROR

    def __init__(self, *, attempts: int, last_result: object, name: str) -> None:
        super().__init__(
            f"{name}: the result was still unacceptable after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} (last result: "
            f"{last_result!r:.200})"
        )
        self.attempts = attempts
        self.last_result = last_result
        self.name = name


_TRANSIENT_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "EAGAIN",
        "EBUSY",
        "ECONNABORTED",
        "ECONNREFUSED",
        "ECONNRESET",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ENETDOWN",
        "ENETRESET",
        "ENETUNREACH",
        "EPIPE",
        "ETIMEDOUT",
    )
    if hasattr(errno, name)
)
_TRANSIENT_HTTP_STATUS = frozenset({408, 429, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """Tell whether *exc* is a failure that is likely to pass if retried.

    Transient: brace's rejections (:class:`RejectedError`), timeouts
    (builtin :class:`TimeoutError`, which includes :class:`brace.TimeoutError`
    and :class:`asyncio.TimeoutError`), connection errors, :class:`OSError`
    whose errno says the network or a resource was temporarily unavailable,
    and, when httpx is imported, its transport errors (but
    ``httpx.UnsupportedProtocol`` and ``httpx.LocalProtocolError``, which
    every attempt meets again) and ``httpx.HTTPStatusError`` for status 408,
    429, 502, 503 or 504 (``brace.http.RETRYABLE_STATUS``). An exception
    group is transient when every exception in it is. Cancellation and
    other :class:`BaseException` subclasses never are.

    Args:
        exc: The exception to classify.

    Returns:
        ``True`` when retrying is likely to help.

    .. versionadded:: 0.1
    """
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(inner) for inner in exc.exceptions)
    if not isinstance(exc, Exception):
        return False
    if isinstance(exc, RejectedError | builtins.TimeoutError | ConnectionError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    # Looked up lazily so that brace never imports httpx itself.
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(exc, httpx.TransportError):
            # Except the errors of the request itself (a URL scheme httpx
            # cannot send, a malformed header): every attempt meets them.
            permanent = (
                getattr(httpx, "UnsupportedProtocol", ()),
                getattr(httpx, "LocalProtocolError", ()),
            )
            return not isinstance(exc, permanent)
        if isinstance(exc, httpx.HTTPStatusError):
            return exc.response.status_code in _TRANSIENT_HTTP_STATUS
    return False
