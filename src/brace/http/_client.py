"""client(): an httpx.AsyncClient whose transports are all resilient."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from ._classify import IDEMPOTENT_METHODS, RETRYABLE_STATUS
from ._transport import ResilientTransport

if TYPE_CHECKING:
    # For annotations only: the docs then name the public classes.
    from brace._backoff import Backoff
    from brace._breaker import CircuitBreaker
    from brace._budget import SupportsRetryBudget
    from brace._events import Listener
    from brace._ratelimit import RateLimiter
    from brace._registry import Registry
    from brace._time import Duration

__all__ = ["client"]


def client(
    *,
    attempts: int | None = 3,
    backoff: Backoff | None = None,
    deadline: Duration | None = None,
    attempt_timeout: Duration | None = None,
    retry_methods: Iterable[str] = IDEMPOTENT_METHODS,
    retry_status: Iterable[int] = RETRYABLE_STATUS,
    idempotency_header: str | None = "Idempotency-Key",
    max_server_delay: Duration = 60.0,
    budget: SupportsRetryBudget | None = None,
    breakers: bool
    | Registry[str, CircuitBreaker]
    | Callable[[str], CircuitBreaker]
    | None = True,
    rate_limiters: Registry[str, RateLimiter]
    | Callable[[str], RateLimiter]
    | None = None,
    max_hosts: int = 1000,
    rng: random.Random | None = None,
    listeners: Iterable[Listener] = (),
    **options: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that sends through a :class:`ResilientTransport`.

    Takes the keyword options of :class:`ResilientTransport` (all but
    *inner*) and, as *options*, those of ``httpx.AsyncClient``
    (``base_url``, ``headers``, ``timeout``, ``limits``, ``verify``,
    ``proxy``, ``transport``, ``mounts``...). httpx builds the client as
    usual, proxies from the environment included; then every transport it
    routes requests to is wrapped, all sharing the same policies, breakers
    and rate limiters. Close it as usual (``async with`` or ``aclose()``).

    .. versionadded:: 0.1
    """
    http = httpx.AsyncClient(**options)
    # httpx has no public hook to wrap the transports it builds itself
    # (the default one, and the proxies' and mounts' ones).
    resilient = ResilientTransport(
        http._transport,
        attempts=attempts,
        backoff=backoff,
        deadline=deadline,
        attempt_timeout=attempt_timeout,
        retry_methods=retry_methods,
        retry_status=retry_status,
        idempotency_header=idempotency_header,
        max_server_delay=max_server_delay,
        budget=budget,
        breakers=breakers,
        rate_limiters=rate_limiters,
        max_hosts=max_hosts,
        rng=rng,
        listeners=listeners,
    )
    http._transport = resilient
    for pattern, transport in http._mounts.items():
        if transport is not None:
            http._mounts[pattern] = resilient._with_inner(transport)
    return http
