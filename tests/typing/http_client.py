"""Pins the types of brace.http; checked by mypy --strict, never run."""

from __future__ import annotations

import datetime as dt
from typing import assert_type

import httpx

import brace
import brace.http


async def http_client() -> None:
    transport = brace.http.ResilientTransport(
        httpx.AsyncHTTPTransport(), attempts=3, deadline=dt.timedelta(seconds=10)
    )
    assert_type(transport, brace.http.ResilientTransport)
    http = brace.http.client(
        base_url="https://example.com",
        attempt_timeout=2.0,
        breakers=brace.http.default_breaker,
        rate_limiters=lambda host: brace.RateLimiter(10, per=1.0),
    )
    assert_type(http, httpx.AsyncClient)
    request = httpx.Request("GET", "https://example.com")
    response = await transport.handle_async_request(request)
    assert_type(response, httpx.Response)
    assert_type(brace.http.is_retryable_response(response), bool)
    assert_type(brace.http.is_retryable_error(ValueError()), bool)
    assert_type(brace.http.is_replayable(request), bool)
    assert_type(brace.http.retry_after(response), float | None)
    assert_type(brace.http.RETRYABLE_STATUS, frozenset[int])
    assert_type(brace.http.IDEMPOTENT_METHODS, frozenset[str])
    assert_type(brace.http.default_breaker("api:443"), brace.CircuitBreaker)
    brace.http.ResilientTransport(attempts="3")  # type: ignore[arg-type]
    brace.http.ResilientTransport(httpx.HTTPTransport())  # type: ignore[arg-type]
    brace.http.client(breakers="yes")  # type: ignore[arg-type]
    brace.http.client(deadline="soon")  # type: ignore[arg-type]
    brace.http.is_retryable_response(ValueError())  # type: ignore[arg-type]
