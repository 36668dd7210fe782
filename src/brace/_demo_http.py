"""``python -m brace demo``: plain httpx and brace against one flaky server.

A fault-injecting HTTP server (:mod:`brace.http._faultserver`) runs on
127.0.0.1. The same seeded workload of GETs goes through it twice, with
bounded concurrency: once through a plain ``httpx.AsyncClient`` with a
per-request timeout, once through brace's client (retries that honour
``Retry-After``, per-attempt timeouts, a circuit breaker, a client-side rate
limiter) with a cache on the hot ``/catalog`` read path. Each run shows a
live progress line and what happens as it happens (the outage, breaker
transitions); a table sets the two runs side by side at the end.

The server's misbehaviour is drawn from a generator seeded from ``seed``,
so the pattern of faults is the same on every run with that seed; what the
numbers add up to still depends a little on the machine's speed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TextIO

import httpx

from ._backoff import Backoff
from ._breaker import CircuitBreaker, CountWindow
from ._cached import Cached
from ._demo_report import Progress, RunStats, failure_lines, table
from ._demo_scenario import Scenario, failure, workload
from ._errors import CircuitOpen
from ._events import CircuitStateChanged, Event, RateLimitWaited, RetryScheduled
from ._ratelimit import RateLimiter
from ._retry import Retry
from ._time import check_count, now
from .http._classify import is_failure_response, is_retryable_error
from .http._client import client
from .http._faultserver import FaultServer, ok, unavailable

__all__ = ["Scenario", "main", "run_http_demo"]

# The name of the retry that waits for an open breaker: its events are
# told apart from the HTTP retries' by it.
WAIT_NAME = "demo: wait for the breaker"

Fetch = Callable[[str, int], Awaitable[object]]


async def _get(http: httpx.AsyncClient, path: str, key: int) -> bytes:
    response = await http.get(path, params={"id": key})
    response.raise_for_status()
    return response.content


class _Tally:
    """A ``listeners=`` callback: counts what the brace client does."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def __call__(self, event: Event) -> None:
        run = self._run
        stats = run.stats
        if isinstance(event, RetryScheduled):
            if event.name == WAIT_NAME:
                stats.breaker_waits = (stats.breaker_waits or 0) + 1
                return
            stats.retries += 1
            result = event.result
            if isinstance(result, httpx.Response) and result.status_code == 429:
                stats.too_many += 1
        elif isinstance(event, CircuitStateChanged):
            stats.transitions = (stats.transitions or 0) + 1
            if event.new == "open":
                stats.opened += 1
            run.progress.note(
                f"  {now() - run.start:5.2f} s  breaker: {event.old} -> "
                f"{event.new} ({event.reason})"
            )
        elif isinstance(event, RateLimitWaited):
            stats.rate_waits = (stats.rate_waits or 0) + 1
            stats.rate_waited += event.waited


def _probe_hint(outcome: object) -> float | None:
    # Look again at most every 0.1 s: while a probe is in flight the breaker
    # says "a whole open period", though the probe usually settles sooner.
    if isinstance(outcome, CircuitOpen):
        return min(outcome.retry_after, 0.1)
    return None  # pragma: no cover - the wait retries CircuitOpen only


class _Run:
    """One client's pass over the workload, against the shared server."""

    def __init__(
        self,
        server: FaultServer,
        scenario: Scenario,
        seed: int,
        stats: RunStats,
        progress: Progress,
    ) -> None:
        self.server = server
        self.scenario = scenario
        self.seed = seed
        self.stats = stats
        self.progress = progress
        self.start = now()
        self._outage: asyncio.TimerHandle | None = None

    def program(self, seed: int) -> None:
        """Give the server its everyday faults (again)."""
        self.server.chaos("*", self.scenario.faults(), seed=seed)

    def _begin_outage(self) -> None:
        scenario = self.scenario
        # A proxy in front of a dead backend: it answers, after a while.
        down = unavailable(delay=scenario.latency)
        self.server.chaos("*", [(1.0, down)], seed=self.seed)
        self._outage = asyncio.get_running_loop().call_later(
            scenario.outage, self._end_outage
        )
        self.progress.note(
            f"  {now() - self.start:5.2f} s  outage: the server answers 503 to "
            f"everything for {scenario.outage:g} s"
        )

    def _end_outage(self) -> None:
        self._outage = None
        self.program(self.seed + 1)
        self.progress.note(f"  {now() - self.start:5.2f} s  outage over")

    async def _tick(self) -> None:
        progress, stats = self.progress, self.stats
        while True:
            await asyncio.sleep(progress.interval)
            progress.update(stats.done, stats.succeeded, now() - self.start)

    async def drive(
        self, work: Sequence[tuple[str, int]], concurrency: int, fetch: Fetch
    ) -> None:
        """Send *work* through *fetch* from *concurrency* workers."""
        server, scenario, stats = self.server, self.scenario, self.stats
        server.clear()
        server.limit("*", scenario.limit, scenario.limit_window)
        server.always("*", ok(delay=scenario.latency))
        self.program(self.seed)
        outage_at = int(len(work) * scenario.outage_at) if scenario.outage else -1
        todo = iter(enumerate(work))
        self.start = now()

        async def worker() -> None:
            # One shared iterator: the workers take the requests in order.
            for index, (path, key) in todo:
                if index == outage_at:
                    self._begin_outage()
                began = now()
                try:
                    await fetch(path, key)
                except Exception as exc:
                    reason = failure(exc)
                    stats.failures[reason] += 1
                    if reason.startswith("429"):
                        stats.too_many += 1
                else:
                    stats.succeeded += 1
                ended = now()
                stats.latencies.append(ended - began)
                self.progress.update(stats.done, stats.succeeded, ended - self.start)

        # On a terminal, redraw while no request completes (in the outage).
        ticker = asyncio.create_task(self._tick()) if self.progress.live else None
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(worker())
        finally:
            if ticker is not None:
                ticker.cancel()
                await asyncio.wait([ticker])
            if self._outage is not None:
                self._outage.cancel()
                self._outage = None
            self.progress.close()
        stats.elapsed = now() - self.start
        stats.sent = sum(server.hits.values())


async def _plain(run: _Run, work: Sequence[tuple[str, int]], concurrency: int) -> None:
    url, timeout = run.server.url, run.scenario.timeout
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        await run.drive(work, concurrency, lambda path, key: _get(http, path, key))


async def _brace(run: _Run, work: Sequence[tuple[str, int]], concurrency: int) -> None:
    scenario, stats = run.scenario, run.stats
    stats.transitions = stats.breaker_waits = stats.rate_waits = 0
    tally = _Tally(run)
    limiter = RateLimiter(
        scenario.client_rate, burst=scenario.burst, name="upstream", listeners=[tally]
    )

    def breaker(host: str) -> CircuitBreaker:
        return CircuitBreaker(
            name=f"http {host}",
            failure_rate=0.5,
            # Small, so that an outage trips it within a round or two of
            # requests: everyday faults (a few %) never come close to half.
            window=CountWindow(20),
            min_calls=10,
            open_for=scenario.open_for,
            on=is_retryable_error,
            failure_on_result=is_failure_response,
            listeners=[tally],
        )

    # When the breaker is open, wait for it (within a deadline) rather than
    # fail: a batch job would rather be late than lose the request.
    wait = Retry(
        on=CircuitOpen,
        attempts=None,
        deadline=scenario.wait_deadline,
        retry_after=_probe_hint,
        rng=random.Random(run.seed),
        name=WAIT_NAME,
        listeners=[tally],
    )
    http = client(
        base_url=run.server.url,
        timeout=scenario.timeout,
        attempts=scenario.attempts,
        backoff=Backoff.exponential(initial=0.02, maximum=0.25),
        deadline=scenario.request_deadline,
        attempt_timeout=scenario.attempt_timeout,
        breakers=breaker,
        rate_limiters=lambda host: limiter,
        rng=random.Random(run.seed),
        listeners=[tally],
    )

    async def resilient(path: str, key: int) -> bytes:
        return await wait.call(_get, http, path, key)

    catalog = Cached(maxsize=64, ttl=scenario.cache_ttl, name="catalog")(resilient)

    def fetch(path: str, key: int) -> Awaitable[bytes]:
        return catalog(path, key) if path == "/catalog" else resilient(path, key)

    async with http:
        try:
            await run.drive(work, concurrency, fetch)
        finally:
            await catalog.aclose()
    info = catalog.cache_info()
    stats.cache_hits, stats.cache_misses = info.hits, info.misses


async def main(
    requests: int, concurrency: int, seed: int, scenario: Scenario, out: TextIO
) -> list[RunStats]:
    """Run both clients over one workload; print the story and the table."""
    work = workload(requests, scenario, random.Random(seed))
    out.write(
        f"brace demo: {requests} GETs, {concurrency} at a time, against a "
        f"flaky server on 127.0.0.1 (seed {seed})\n"
        f"The server: {scenario.summary()}.\n"
    )
    runs = [
        (
            RunStats("plain httpx"),
            _plain,
            f"httpx.AsyncClient(timeout={scenario.timeout:g})",
        ),
        (
            RunStats("brace"),
            _brace,
            (
                f"brace.http.client(): {scenario.attempts} attempts (backoff, "
                f"Retry-After), {scenario.attempt_timeout:g} s per attempt,\n"
                f"      a circuit breaker, at most {scenario.client_rate:g} "
                f"requests/s; /catalog cached for {scenario.cache_ttl:g} s"
            ),
        ),
    ]
    async with FaultServer() as server:
        for number, (stats, go, what) in enumerate(runs, 1):
            out.write(f"\n[{number}/{len(runs)}] {stats.label}: {what}\n")
            progress = Progress(out, requests)
            await go(_Run(server, scenario, seed, stats, progress), work, concurrency)
    results = [stats for stats, _, _ in runs]
    out.write("\n")
    for line in table(results):
        out.write(line + "\n")
    out.write("\nWhy requests failed:\n")
    for line in failure_lines(results):
        out.write(line + "\n")
    return results


def run_http_demo(
    *,
    requests: int = 1500,
    concurrency: int = 10,
    seed: int = 1,
    scenario: Scenario | None = None,
    out: TextIO,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> list[RunStats]:
    """Run the HTTP demo on a new event loop; return both runs' statistics."""
    check_count(requests, "requests")
    check_count(concurrency, "concurrency")
    scenario = Scenario() if scenario is None else scenario
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main(requests, concurrency, seed, scenario, out))
