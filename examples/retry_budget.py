"""A retry storm, with and without a retry budget, on brace's virtual clock.

A dependency goes down for 30 seconds while 20 requests a second keep
arriving, each retried up to 4 times (``Retry(attempts=4)``). Without a
budget, every request makes its 4 attempts: the dependency, already
failing, gets 4 times its normal load. With a shared budget:

- :class:`brace.RetryBudget` (Finagle, tower) lets retries through at 20 %
  of recent successful calls plus 10 a second, so during the outage the
  extra load is about 10 retries a second, whatever the traffic;
- :class:`brace.RetryQuota` (the AWS SDKs) spends a bucket of 500 tokens,
  5 per retry, and gets them back only as calls succeed again.

When the dependency comes back, successes refill both, and retries are
allowed again. The whole minute of traffic runs on
:class:`brace.testing.VirtualTimeEventLoop`, so it takes a fraction of a
second. Run it with ``python examples/retry_budget.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import brace
from brace.testing import VirtualTimeEventLoop

RATE = 20  # requests per second
OUTAGE = (10.0, 40.0)  # the dependency fails everything in this window
DURATION = 60.0
ATTEMPTS = 4


class Unavailable(ConnectionError):
    """The dependency answered 503."""


class Dependency:
    """Fails every attempt during the outage; counts attempts per phase."""

    def __init__(self) -> None:
        self.attempts = {"before": 0, "outage": 0, "after": 0}
        self.start = asyncio.get_running_loop().time()

    async def call(self) -> str:
        now = asyncio.get_running_loop().time() - self.start
        await asyncio.sleep(0.01)
        if now < OUTAGE[0]:
            self.attempts["before"] += 1
            return "ok"
        if now < OUTAGE[1]:
            self.attempts["outage"] += 1
            raise Unavailable("503 Service Unavailable")
        self.attempts["after"] += 1
        return "ok"


async def traffic(budget: brace.SupportsRetryBudget | None) -> Dependency:
    """RATE requests a second for DURATION seconds, each under one Retry."""
    dependency = Dependency()
    policy = brace.Retry(
        on=Unavailable,
        attempts=ATTEMPTS,
        backoff=brace.Backoff.exponential(initial=0.05, maximum=1.0),
        budget=budget,
        rng=random.Random(7),  # the same jittered delays on every run
    )

    async def request() -> None:
        with contextlib.suppress(Unavailable):
            await policy.call(dependency.call)

    async with asyncio.TaskGroup() as tg:
        for _ in range(int(DURATION * RATE)):
            tg.create_task(request())
            await asyncio.sleep(1 / RATE)
    return dependency


def report(label: str, dependency: Dependency) -> None:
    outage_requests = int((OUTAGE[1] - OUTAGE[0]) * RATE)
    outage = dependency.attempts["outage"]
    print(
        f"{label:<12} attempts during the outage: {outage:>5} for "
        f"{outage_requests} requests ({outage / outage_requests:.2f}x the load)"
    )


async def main() -> None:
    print(
        f"{RATE} requests/s for {DURATION:g} s, each with up to {ATTEMPTS} "
        f"attempts; the dependency is down from t={OUTAGE[0]:g} s to "
        f"t={OUTAGE[1]:g} s.\n"
    )
    report("no budget", await traffic(None))

    budget = brace.RetryBudget(ratio=0.2, min_per_second=10.0, ttl=10.0)
    report("RetryBudget", await traffic(budget))
    stats = budget.statistics()
    print(
        f"{'':12} {stats.withdrawn} retries allowed, {stats.refused} refused; "
        f"at the end, {stats.available} retries available again"
    )

    quota = brace.RetryQuota()
    report("RetryQuota", await traffic(quota))
    tokens = quota.statistics()
    print(
        f"{'':12} {tokens.withdrawn} retries allowed, {tokens.refused} refused; "
        f"at the end, {tokens.available} of {tokens.capacity} tokens again"
    )


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(main())
