"""brace: an asyncio resilience toolkit.

Small, composable, typed primitives for ``async def`` code: retry with
backoff and jitter, timeouts and cancellation tokens, with more to come.
Everything public is importable from this module; ``brace.testing`` holds
the tools for tests.
"""

from ._attempts import Attempt, Attempts
from ._backoff import Backoff, Jitter
from ._budget import SupportsRetryBudget
from ._cancel import CallbackHandle, CancelToken
from ._errors import (
    BraceError,
    Cancelled,
    CircuitOpen,
    ErrorCode,
    LimiterFull,
    QueueClosed,
    QueueEmpty,
    QueueFull,
    RateLimited,
    RejectedError,
    RetryError,
    TimeoutError,
    is_transient,
)
from ._events import (
    Event,
    Listener,
    RetryGaveUp,
    RetryScheduled,
    Subscription,
    TimeoutFired,
    TokenCancelled,
    subscribe,
)
from ._retry import Retry, retry
from ._retry_after import parse_retry_after
from ._timeout import Timeout, timeout
from ._version import __version__

__all__ = [
    "Attempt",
    "Attempts",
    "Backoff",
    "BraceError",
    "CallbackHandle",
    "CancelToken",
    "Cancelled",
    "CircuitOpen",
    "ErrorCode",
    "Event",
    "Jitter",
    "LimiterFull",
    "Listener",
    "QueueClosed",
    "QueueEmpty",
    "QueueFull",
    "RateLimited",
    "RejectedError",
    "Retry",
    "RetryError",
    "RetryGaveUp",
    "RetryScheduled",
    "Subscription",
    "SupportsRetryBudget",
    "Timeout",
    "TimeoutError",
    "TimeoutFired",
    "TokenCancelled",
    "__version__",
    "is_transient",
    "parse_retry_after",
    "retry",
    "subscribe",
    "timeout",
]
