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
from ._debounce import Debounced, DebounceStatistics, Throttled, debounce, throttle
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
    LimiterRejected,
    LimiterWaited,
    Listener,
    QueueItemDropped,
    QueuePutRejected,
    RateLimitRejected,
    RateLimitWaited,
    RetryGaveUp,
    RetryScheduled,
    Subscription,
    TimeoutFired,
    TokenCancelled,
    subscribe,
)
from ._keyed import KeyedRateLimiter, KeyedRateLimiterStatistics
from ._limiter import ConcurrencyLimiter, LimiterStatistics
from ._queue import BoundedQueue, Overflow, QueueStatistics
from ._ratelimit import RateLimiter, RateLimiterStatistics
from ._retry import Retry, retry
from ._retry_after import parse_retry_after
from ._timeout import Timeout, timeout
from ._version import __version__

__all__ = [
    "Attempt",
    "Attempts",
    "Backoff",
    "BoundedQueue",
    "BraceError",
    "CallbackHandle",
    "CancelToken",
    "Cancelled",
    "CircuitOpen",
    "ConcurrencyLimiter",
    "DebounceStatistics",
    "Debounced",
    "ErrorCode",
    "Event",
    "Jitter",
    "KeyedRateLimiter",
    "KeyedRateLimiterStatistics",
    "LimiterFull",
    "LimiterRejected",
    "LimiterStatistics",
    "LimiterWaited",
    "Listener",
    "Overflow",
    "QueueClosed",
    "QueueEmpty",
    "QueueFull",
    "QueueItemDropped",
    "QueuePutRejected",
    "QueueStatistics",
    "RateLimitRejected",
    "RateLimitWaited",
    "RateLimited",
    "RateLimiter",
    "RateLimiterStatistics",
    "RejectedError",
    "Retry",
    "RetryError",
    "RetryGaveUp",
    "RetryScheduled",
    "Subscription",
    "SupportsRetryBudget",
    "Throttled",
    "Timeout",
    "TimeoutError",
    "TimeoutFired",
    "TokenCancelled",
    "__version__",
    "debounce",
    "is_transient",
    "parse_retry_after",
    "retry",
    "subscribe",
    "throttle",
    "timeout",
]
