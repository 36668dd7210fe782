"""The per-host circuit breakers and rate limiters of ResilientTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from brace import _breaker
from brace._registry import Registry

from ._classify import is_failure_response, is_retryable_error

if TYPE_CHECKING:
    # For annotations only: the docs then name the public classes
    # (brace.CircuitBreaker), not the private modules they live in.
    from brace._breaker import CircuitBreaker
    from brace._events import Listener
    from brace._ratelimit import RateLimiter

__all__ = ["breakers", "default_breaker", "rate_limiters"]


def default_breaker(host: str, listeners: Iterable[Listener] = ()) -> CircuitBreaker:
    """The circuit breaker that :class:`ResilientTransport` gives each host.

    Opens for 5 s when at least half of at least 20 attempts of the last
    30 s failed: with a retryable transport error or timeout
    (:func:`is_retryable_error`) or a failure status
    (:func:`is_failure_response`).
    """
    return _breaker.CircuitBreaker(
        name=f"http {host}",
        failure_rate=0.5,
        window=_breaker.TimeWindow(30.0),
        min_calls=20,
        open_for=5.0,
        on=is_retryable_error,
        failure_on_result=is_failure_response,
        listeners=listeners,
    )


def _not_closed(breaker: CircuitBreaker) -> bool:
    # Keeps a tripped breaker through the registry's bounds: evicting it
    # would let the traffic through to a failing host again.
    return breaker.state is not _breaker.CircuitState.CLOSED


def breakers(
    value: bool
    | Registry[str, CircuitBreaker]
    | Callable[[str], CircuitBreaker]
    | None,
    max_hosts: int,
    listeners: tuple[Listener, ...],
) -> Registry[str, CircuitBreaker] | None:
    if value is True:
        return Registry(
            lambda host: default_breaker(host, listeners),
            max_keys=max_hosts,
            in_use=_not_closed,
            name="http breakers",
        )
    if value is None or value is False:
        return None
    if isinstance(value, Registry):
        return value
    checked: object = value
    if not callable(checked):
        msg = (
            "breakers must be True (a default breaker per host), a callable "
            f"host -> CircuitBreaker, a Registry of them, or None, not {value!r}"
        )
        raise TypeError(msg)
    return Registry(value, max_keys=max_hosts, in_use=_not_closed, name="http breakers")


def rate_limiters(
    value: Registry[str, RateLimiter] | Callable[[str], RateLimiter] | None,
    max_hosts: int,
) -> Registry[str, RateLimiter] | None:
    if value is None or isinstance(value, Registry):
        return value
    checked: object = value
    if not callable(checked):
        msg = (
            "rate_limiters must be a callable host -> RateLimiter, a Registry "
            f"of them, or None, not {value!r}"
        )
        raise TypeError(msg)
    return Registry(value, max_keys=max_hosts, name="http rate limiters")
