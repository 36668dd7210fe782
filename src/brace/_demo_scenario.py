"""The demo's server, workload and clients' settings, as one value.

:class:`Scenario` says how the fault server misbehaves and how the brace
client is configured; :func:`workload` draws the requests to send from a
seeded generator; :func:`failure` names the ways a request fails, for the
table.
"""

from __future__ import annotations

import random

import attrs
import httpx

from ._errors import CircuitOpen
from .http._faultserver import Fault, ok, reset, slow, unavailable

__all__ = ["Scenario", "failure", "workload"]


@attrs.frozen(kw_only=True)
class Scenario:
    """The server's misbehaviour and the clients' settings (durations in s).

    The server answers each request after *latency* (or *slow_latency*, for
    a *slow_share* of them); a *reset_share* of requests get their
    connection reset, an *unavailable_share* get a 503 with
    ``Retry-After: unavailable_retry_after``, a *stall_share* get no answer
    for *stall* seconds. Beyond *limit* requests per *limit_window* it
    answers 429 with the seconds left in the window as ``Retry-After``.
    Once *outage_at* of the requests have been sent, it answers 503 to
    everything for *outage* seconds.

    A *catalog_share* of the requests read one of *catalog_items* catalog
    entries (the hot path the brace client caches for *cache_ttl*); the
    others read distinct orders.
    """

    latency: float = 0.015
    slow_latency: float = 0.05
    slow_share: float = 0.2
    reset_share: float = 0.02
    unavailable_share: float = 0.03
    unavailable_retry_after: float = 0.05
    stall_share: float = 0.01
    stall: float = 1.5
    limit: int = 35
    limit_window: float = 0.1
    outage_at: float = 0.3
    outage: float = 0.8
    catalog_share: float = 0.3
    catalog_items: int = 12
    # Both clients: httpx's own timeout on each request.
    timeout: float = 0.5
    # The brace client.
    attempts: int = 4
    attempt_timeout: float = 0.25
    request_deadline: float = 2.0
    wait_deadline: float = 3.0
    client_rate: float = 340.0
    burst: int = 1
    open_for: float = 0.4
    cache_ttl: float = 0.5

    def faults(self) -> list[tuple[float, Fault]]:
        """The server's random faults, as ``FaultServer.chaos`` takes them."""
        return [
            (self.reset_share, reset()),
            (
                self.unavailable_share,
                unavailable(retry_after=f"{self.unavailable_retry_after:g}"),
            ),
            (self.stall_share, slow(self.stall)),
            (self.slow_share, ok(delay=self.slow_latency)),
        ]

    def summary(self) -> str:
        """The server's misbehaviour, in a sentence."""
        return (
            f"{self.reset_share:.0%} connection resets, "
            f"{self.unavailable_share:.0%} 503s with Retry-After, "
            f"{self.stall_share:.0%} stalls of {self.stall:g} s, "
            f"a limit of {self.limit} requests per {self.limit_window:g} s "
            f"(then 429), and an outage of {self.outage:g} s "
            f"{self.outage_at:.0%} of the way in"
        )


def workload(
    requests: int, scenario: Scenario, rng: random.Random
) -> list[tuple[str, int]]:
    """The requests to send, in order: ``(path, id)`` pairs."""
    items = range(scenario.catalog_items)
    # A few catalog entries are much hotter than the rest, as in real life.
    weights = [1 / (rank + 1) for rank in items]
    work = []
    for order in range(requests):
        if rng.random() < scenario.catalog_share:
            work.append(("/catalog", rng.choices(items, weights)[0]))
        else:
            work.append(("/orders", 1000 + order))
    return work


def failure(exc: Exception) -> str:
    """A short name for why a request failed."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return f"{response.status_code} {response.reason_phrase}".rstrip()
    if isinstance(exc, CircuitOpen):
        return "circuit open"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "connection lost"
    return type(exc).__name__
