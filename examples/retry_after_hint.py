"""Honouring a server's ``Retry-After`` hint.

A rate-limited HTTP API answers ``429 Too Many Requests`` (or ``503``) with
a ``Retry-After`` header: either seconds (``"0.2"``) or an HTTP-date. With
``retry_after=``, brace waits what the server asked instead of its own
backoff delay:

- ``brace.parse_retry_after`` turns the header into seconds (``None`` when
  the header is missing or garbage, so the backoff applies);
- the hint is jittered *upward* by up to 10 %: never back earlier than asked;
- ``max_server_delay=`` caps what a server may ask for;
- the deadline still wins: a hint that would end past it makes the call give
  up at once instead of sleeping in vain.

Run it with ``python examples/retry_after_hint.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping

import brace


class HTTPStatusError(Exception):
    """A fake HTTP client error that carries the response headers."""

    def __init__(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = dict(headers or {})


class RateLimitedAPI:
    """Answers the given errors in turn, then 200."""

    def __init__(self, *errors: HTTPStatusError) -> None:
        self.errors = list(errors)

    async def get(self, path: str) -> str:
        await asyncio.sleep(0)
        if self.errors:
            raise self.errors.pop(0)
        return f"200 OK {path}"


def retryable(exc: Exception) -> bool:
    return isinstance(exc, HTTPStatusError) and exc.status in {429, 503}


def server_hint(exc: object) -> float | None:
    """Seconds the server asked us to wait, or None to use the backoff."""
    if isinstance(exc, HTTPStatusError):
        return brace.parse_retry_after(exc.headers.get("Retry-After"))
    return None


def log(event: brace.Event) -> None:
    if isinstance(event, brace.RetryScheduled):
        assert isinstance(event.error, HTTPStatusError)
        header = event.error.headers.get("Retry-After", "(none)")
        print(
            f"  {event.error} with Retry-After {header!r}: "
            f"next attempt in {event.delay:.3f} s"
        )
    elif isinstance(event, brace.RetryGaveUp):
        plural = "" if event.attempts == 1 else "s"
        print(f"  gave up after {event.attempts} attempt{plural} ({event.reason})")


POLICY = brace.Retry(
    on=retryable,
    attempts=5,
    backoff=brace.Backoff.constant(0.01),
    retry_after=server_hint,
    max_server_delay=0.2,
    listeners=[log],
)


async def main() -> None:
    print("1. parse_retry_after understands both forms of the header:")
    now = dt.datetime(2015, 10, 21, 7, 27, 30, tzinfo=dt.UTC)
    for value in ["0.05", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", None]:
        print(f"  {value!r:35} -> {brace.parse_retry_after(value, now=now)}")

    print("\n2. The hint replaces the backoff delay (jitter only adds to it):")
    api = RateLimitedAPI(
        HTTPStatusError(429, {"Retry-After": "0.05"}),
        HTTPStatusError(503),  # no header: the 0.01 s backoff applies
    )
    print(f"  -> {await POLICY.call(api.get, '/users')}")

    print("\n3. max_server_delay caps a greedy hint (120 s becomes 0.2 s + jitter):")
    api = RateLimitedAPI(HTTPStatusError(429, {"Retry-After": "120"}))
    print(f"  -> {await POLICY.call(api.get, '/reports')}")

    print("\n4. A hint past the deadline: give up now rather than sleep in vain:")
    hurried = brace.Retry(
        on=retryable,
        attempts=5,
        deadline=0.1,
        retry_after=server_hint,
        listeners=[log],
    )
    api = RateLimitedAPI(HTTPStatusError(503, {"Retry-After": "30"}))
    try:
        await hurried.call(api.get, "/export")
    except HTTPStatusError as exc:
        print(f"  -> {exc}; {exc.__notes__[-1]}")


if __name__ == "__main__":
    asyncio.run(main())
