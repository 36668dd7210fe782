"""The public surface: exactly what __all__ says, all importable."""

from __future__ import annotations

import brace
import brace.testing

EXPECTED = {
    "BoundedQueue",
    "ConcurrencyLimiter",
    "DebounceStatistics",
    "Debounced",
    "Throttled",
    "debounce",
    "throttle",
    "LimiterRejected",
    "LimiterWaited",
    "QueueItemDropped",
    "QueuePutRejected",
    "RateLimitRejected",
    "RateLimitWaited",
    "KeyedRateLimiter",
    "KeyedRateLimiterStatistics",
    "LimiterStatistics",
    "Overflow",
    "QueueStatistics",
    "RateLimiter",
    "RateLimiterStatistics",
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
    "AttemptContext",
    "CacheEvicted",
    "CacheRefreshFailed",
    "ChaosInjected",
    "CircuitBreaker",
    "CircuitBreakerStatistics",
    "CircuitRejected",
    "CircuitState",
    "CircuitStateChanged",
    "CircuitWouldOpen",
    "CompositionWarning",
    "CountWindow",
    "Fallback",
    "FallbackUsed",
    "Hedge",
    "HedgeStarted",
    "HedgeWon",
    "Pipeline",
    "Policy",
    "Registry",
    "RegistryEntry",
    "RegistryEvicted",
    "RegistryStatistics",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryBudgetStatistics",
    "RetryQuota",
    "RetryQuotaStatistics",
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
    "TimeWindow",
    "compose",
    "current_attempt",
    "step",
    "BoundedCache",
    "CacheInfo",
    "CacheStatistics",
    "Cached",
    "CachedFunction",
    "cached",
}


def test_all_is_exactly_the_public_api() -> None:
    """__all__ lists the contract, sorted, and every name resolves."""
    assert set(brace.__all__) == EXPECTED
    assert brace.__all__ == sorted(brace.__all__)
    for name in brace.__all__:
        assert getattr(brace, name) is not None


def test_no_private_module_leaks_public_names() -> None:
    """Nothing public is defined outside __all__ (modules aside)."""
    # ("@py_builtins" and the like: pytest rewrites the asserts of the
    # package that provides its brace plugin, and adds those names.)
    public = {n for n in vars(brace) if not n.startswith(("_", "@"))}
    assert public - set(brace.__all__) <= {"http", "instrument", "testing"}


def test_function_spellings_are_the_classes() -> None:
    """brace.retry and brace.timeout are the same objects as the classes."""
    assert brace.retry is brace.Retry
    assert brace.timeout is brace.Timeout


def test_testing_module_api() -> None:
    """brace.testing exports its tools."""
    assert set(brace.testing.__all__) == {
        "Chaos",
        "ChaosStatistics",
        "EventLog",
        "VirtualTimeEventLoop",
        "VirtualTimePolicy",
        "assert_emitted",
        "assert_gave_up",
        "assert_retried",
        "capture_events",
        "enable_chaos",
        "instant",
        "virtual_time_loop",
    }
