"""A resilient httpx client against a misbehaving server.

The example starts a local HTTP server whose paths fail on purpose (the
fault server that brace's own tests use), then sends requests through
``brace.http.client()``, an ``httpx.AsyncClient`` whose transport:

- retries idempotent requests on connection resets, hang-ups and 503s,
  waiting what ``Retry-After`` asks;
- gives the last response back when retries give up on a status, as a
  plain client would;
- does not resend a POST that may have reached the server, unless it
  carries an ``Idempotency-Key``;
- bounds each request with a total deadline;
- fails fast with ``brace.CircuitOpen`` once a host's circuit breaker opens.

Run it with ``python examples/http_client.py`` (it takes about a second).
"""

from __future__ import annotations

import asyncio
import random

import httpx

import brace
import brace.http
from brace.http._faultserver import (
    FaultServer,
    disconnect,
    reset,
    slow,
    unavailable,
)


def log(event: brace.Event) -> None:
    """Print each retry decision as it happens."""
    if isinstance(event, brace.RetryScheduled):
        what = (
            type(event.error).__name__
            if event.error is not None
            else f"status {event.result.status_code}"  # type: ignore[attr-defined]
        )
        print(f"    attempt {event.attempt}: {what}; retrying in {event.delay:.2f} s")
    elif isinstance(event, brace.CircuitStateChanged):
        print(f"    breaker {event.name}: {event.old} -> {event.new} ({event.reason})")


def breaker(host: str) -> brace.CircuitBreaker:
    """Open after 3 failures in a row, for 0.2 s (the default is gentler)."""
    return brace.CircuitBreaker(
        name=f"http {host}",
        failure_rate=None,
        consecutive_failures=3,
        open_for=0.2,
        on=brace.http.is_retryable_error,
        failure_on_result=brace.http.is_failure_response,
        listeners=[log],
    )


async def main() -> None:
    async with (
        FaultServer() as server,
        brace.http.client(
            base_url=server.url,
            attempts=4,
            backoff=brace.Backoff.exponential(
                initial=0.02, maximum=0.1, jitter="equal"
            ),
            deadline=0.5,
            rng=random.Random(3),
            listeners=[log],
        ) as http,
    ):
        print("1. GET through a reset, a 503 with Retry-After, and a hang-up:")
        server.script("/orders", reset(), unavailable(retry_after="0.05"), disconnect())
        got = await http.get("/orders")
        print(f"  -> {got.status_code} after {server.hits['/orders']} attempts")

        print("\n2. A service that stays down: the last response comes back:")
        server.always("/reports", unavailable())
        got = await http.get("/reports")
        print(f"  -> {got.status_code} {got.reason_phrase}, as httpx would return it")

        print("\n3. A POST that may have reached the server is not sent again:")
        server.script("/payments", reset())
        try:
            await http.post("/payments", json={"amount": 10})
        except httpx.ReadError as exc:
            print(f"  -> {type(exc).__name__}, with a note:\n     {exc.__notes__[0]}")
        server.script("/payments", reset())
        got = await http.post(
            "/payments", json={"amount": 10}, headers={"Idempotency-Key": "pay-42"}
        )
        print(f"  -> with an Idempotency-Key: {got.status_code} {got.text}")

        print("\n4. The deadline bounds the whole request:")
        server.always("/export", slow(5.0))
        try:
            await http.get("/export")
        except brace.TimeoutError as exc:
            print(f"  -> brace.TimeoutError: {exc}")

    print("\n5. A strict circuit breaker opens, fails fast, then probes:")
    async with (
        FaultServer() as server,
        brace.http.client(
            base_url=server.url,
            attempts=4,
            backoff=brace.Backoff.constant(0.01),
            breakers=breaker,
        ) as http,
    ):
        server.always("/search", unavailable())
        try:
            await http.get("/search")
        except brace.CircuitOpen as exc:
            print(f"  -> brace.CircuitOpen after {server.hits['/search']} attempts")
            print(f"     (a probe is allowed in {exc.retry_after:.1f} s)")
        await asyncio.sleep(0.2)
        server.clear()
        got = await http.get("/search")
        print(f"  -> after 0.2 s, the probe goes through: {got.status_code}")


if __name__ == "__main__":
    asyncio.run(main())
