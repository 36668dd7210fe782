"""brace: an asyncio resilience toolkit.

Small, composable, typed primitives for ``async def`` code: retry with
backoff and jitter, timeouts, cancellation tokens, concurrency and rate
limiters, bounded queues, circuit breakers, retry budgets, fallback,
hedging and caches, composed into pipelines and steps. Everything public is
importable from this module; ``brace.testing`` holds the tools for tests,
``brace.http`` the httpx integration and ``brace.instrument`` the telemetry
adapters.
"""

from ._attempts import Attempt, Attempts
from ._backoff import Backoff, Jitter
from ._breaker import (
    CircuitBreaker,
    CircuitBreakerStatistics,
    CircuitState,
    CountWindow,
    TimeWindow,
)
from ._budget import RetryBudget, RetryBudgetStatistics, SupportsRetryBudget
from ._cache import BoundedCache, CacheStatistics
from ._cached import Cached, CacheInfo, cached
from ._cached_function import CachedFunction
from ._cancel import CallbackHandle, CancelToken
from ._context import AttemptContext, current_attempt
from ._debounce import (
    Debounced,
    DebounceStatistics,
    Throttled,
    debounce,
    throttle,
)
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
    CacheEvicted,
    CacheRefreshFailed,
    ChaosInjected,
    CircuitRejected,
    CircuitStateChanged,
    CircuitWouldOpen,
    Event,
    FallbackUsed,
    HedgeStarted,
    HedgeWon,
    LimiterRejected,
    LimiterWaited,
    Listener,
    QueueItemDropped,
    QueuePutRejected,
    RateLimitRejected,
    RateLimitWaited,
    RegistryEvicted,
    RetryBudgetExhausted,
    RetryGaveUp,
    RetryScheduled,
    SagaFinished,
    StepFailed,
    StepStarted,
    StepSucceeded,
    Subscription,
    TimeoutFired,
    TokenCancelled,
    subscribe,
)
from ._fallback import Fallback
from ._hedge import Hedge
from ._keyed import KeyedRateLimiter, KeyedRateLimiterStatistics
from ._limiter import ConcurrencyLimiter, LimiterStatistics
from ._pipeline import (
    CompositionWarning,
    Pipeline,
    Policy,
    compose,
)
from ._queue import BoundedQueue, Overflow, QueueStatistics
from ._quota import RetryQuota, RetryQuotaStatistics
from ._ratelimit import RateLimiter, RateLimiterStatistics
from ._registry import Registry, RegistryEntry, RegistryStatistics
from ._retry import Retry, retry
from ._retry_after import parse_retry_after
from ._saga import Saga
from ._saga_result import (
    SagaResult,
    SagaStatus,
    StepOutcome,
    StepStatus,
)
from ._step import Step, step
from ._timeout import Timeout, timeout
from ._version import __version__

__all__ = [
    "Attempt",
    "AttemptContext",
    "Attempts",
    "Backoff",
    "BoundedCache",
    "BoundedQueue",
    "BraceError",
    "CacheEvicted",
    "CacheInfo",
    "CacheRefreshFailed",
    "CacheStatistics",
    "Cached",
    "CachedFunction",
    "CallbackHandle",
    "CancelToken",
    "Cancelled",
    "ChaosInjected",
    "CircuitBreaker",
    "CircuitBreakerStatistics",
    "CircuitOpen",
    "CircuitRejected",
    "CircuitState",
    "CircuitStateChanged",
    "CircuitWouldOpen",
    "CompositionWarning",
    "ConcurrencyLimiter",
    "CountWindow",
    "DebounceStatistics",
    "Debounced",
    "ErrorCode",
    "Event",
    "Fallback",
    "FallbackUsed",
    "Hedge",
    "HedgeStarted",
    "HedgeWon",
    "Jitter",
    "KeyedRateLimiter",
    "KeyedRateLimiterStatistics",
    "LimiterFull",
    "LimiterRejected",
    "LimiterStatistics",
    "LimiterWaited",
    "Listener",
    "Overflow",
    "Pipeline",
    "Policy",
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
    "Registry",
    "RegistryEntry",
    "RegistryEvicted",
    "RegistryStatistics",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryBudgetStatistics",
    "RetryError",
    "RetryGaveUp",
    "RetryQuota",
    "RetryQuotaStatistics",
    "RetryScheduled",
    "Saga",
    "SagaFinished",
    "SagaResult",
    "SagaStatus",
    "Step",
    "StepFailed",
    "StepOutcome",
    "StepStarted",
    "StepStatus",
    "StepSucceeded",
    "Subscription",
    "SupportsRetryBudget",
    "Throttled",
    "TimeWindow",
    "Timeout",
    "TimeoutError",
    "TimeoutFired",
    "TokenCancelled",
    "__version__",
    "cached",
    "compose",
    "current_attempt",
    "debounce",
    "is_transient",
    "parse_retry_after",
    "retry",
    "step",
    "subscribe",
    "throttle",
    "timeout",
]
