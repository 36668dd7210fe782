"""Hedged requests: cut the latency tail by sending a backup request.

Shows:

- a replicated read whose latency has a heavy tail (most requests take
  10-20 ms, 3 % get stuck for a second), called 1,000 times with and
  without ``brace.Hedge``: the hedge removes the tail for a few percent of
  extra requests;
- ``delay="p95"``: the hedging delay follows the observed 95th percentile
  of recent primary latencies (``current_delay()``);
- ``HedgeStarted`` / ``HedgeWon`` events, counted by a listener;
- what happens when every attempt fails (the primary's error, with a note);
- ``budget=``: a shared ``brace.RetryBudget`` caps hedges (and retries) at a
  share of the traffic.

Everything runs on ``brace.testing.VirtualTimeEventLoop``, so the simulated
seconds of latency take no real time. Hedged calls must be idempotent: a
read is; a write needs an idempotency key.

Run it with ``python examples/hedging.py``.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import brace
from brace.testing import VirtualTimeEventLoop

CALLS = 1_000


class Replica:
    """A read whose latency has a heavy tail, from a seeded random source."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.requests = 0

    async def read(self, key: str) -> str:
        self.requests += 1
        stuck = self.rng.random() < 0.03  # a GC pause, a slow disk, a lost packet
        await asyncio.sleep(1.0 if stuck else self.rng.uniform(0.010, 0.020))
        return f"value of {key}"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(fn: Callable[[str], Awaitable[str]], n: int) -> list[float]:
    loop = asyncio.get_running_loop()
    latencies = []
    for i in range(n):
        start = loop.time()
        await fn(f"user:{i}")
        latencies.append(loop.time() - start)
    return latencies


def report(label: str, latencies: list[float], requests: int) -> None:
    print(
        f"  {label:<11} p50 {percentile(latencies, 0.50) * 1000:6.1f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:6.1f} ms   "
        f"max {max(latencies) * 1000:6.1f} ms   "
        f"requests {requests} for {len(latencies)} calls"
    )


async def tail_latency() -> None:
    print("1. A fixed hedging delay cuts the tail:")
    plain = Replica(seed=7)
    report("no hedge", await timed(plain.read, CALLS), plain.requests)

    replica = Replica(seed=7)
    events: Counter[str] = Counter()
    hedge = brace.Hedge(
        delay=0.025, listeners=[lambda event: events.update([type(event).__name__])]
    )
    report("hedged", await timed(hedge(replica.read), CALLS), replica.requests)
    print(f"  events: {dict(events)}")


async def adaptive_delay() -> None:
    print("\n2. delay='p95' follows the observed latencies:")
    replica = Replica(seed=11)
    hedge = brace.Hedge(delay="p95", initial_delay=0.1, window=200)
    read = hedge(replica.read)
    print(f"  before any call: {hedge.current_delay() * 1000:.1f} ms (initial_delay)")
    latencies = await timed(read, CALLS)
    print(f"  after {CALLS} calls: {hedge.current_delay() * 1000:.1f} ms")
    report("hedged", latencies, replica.requests)


async def all_fail() -> None:
    print("\n3. When every attempt fails, the primary's error propagates:")
    attempt = 0

    @brace.Hedge(delay=0.05, max_hedges=2)
    async def flaky() -> str:
        nonlocal attempt
        attempt += 1
        number = attempt
        await asyncio.sleep(0.1)
        raise ConnectionResetError(f"attempt {number}: connection reset")

    try:
        await flaky()
    except ConnectionResetError as exc:
        print(f"  -> {exc}")
        for note in exc.__notes__:
            print(f"     note: {note}")


async def budgeted() -> None:
    print("\n4. A retry budget caps the extra load during an incident:")
    budget = brace.RetryBudget(ratio=0.1, min_per_second=1.0, ttl=10.0)
    replica = Replica(seed=3)

    async def degraded(key: str) -> str:
        replica.requests += 1
        await asyncio.sleep(0.2)  # every request is slow now
        return key

    read = brace.Hedge(delay=0.05, budget=budget)(degraded)
    await timed(read, 200)
    print(
        f"  200 calls sent {replica.requests} requests: the budget allowed "
        f"{replica.requests - 200} hedges, not 200"
    )


async def main() -> None:
    await tail_latency()
    await adaptive_delay()
    await all_fail()
    await budgeted()


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(main())
