"""brace.http: what a resilient transport adds to an httpx request.

``http_get`` sends ``GET /`` over loopback to brace's fault server (no
faults), which runs on the benchmark's own event loop: a request costs a
few hundred microseconds, both ends included, and the rows differ only by
the client's transport. ``http_overhead`` takes the network out: the inner
transport answers from memory, so the difference is brace's own cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import httpx

import brace.http
from benchmarks.registry import Batch, Row, Skip, at_most, scenario
from brace.http._faultserver import FaultServer

T = TypeVar("T")


# Async generators suspended inside ``async with``: asyncio closes them when
# its loop shuts down (``shutdown_asyncgens``), which leaves each block, so
# the server and clients close cleanly although the runner has no teardown.
_HELD: list[AsyncIterator[Any]] = []  # strong references, for asyncio


async def _hold(manager: AbstractAsyncContextManager[T]) -> AsyncIterator[T]:
    async with manager as value:
        yield value


async def _enter(manager: AbstractAsyncContextManager[T]) -> T:
    """Enter *manager* now; leave it when the event loop shuts down."""
    held = _hold(manager)
    value = await anext(held)
    _HELD.append(held)
    return value


# The fault server of the running loop (a later run in the same process, on
# a new loop, starts its own).
_SERVER: dict[asyncio.AbstractEventLoop, FaultServer] = {}


async def _server_url() -> str:
    """The fault server's URL, started on first use (it needs the loop)."""
    loop = asyncio.get_running_loop()
    server = _SERVER.get(loop)
    if server is None:
        _SERVER.clear()
        server = _SERVER[loop] = await _enter(FaultServer(keep=1))
    return server.url


def _gets(make: Callable[[str], httpx.AsyncClient], *, local: bool) -> Batch:
    """A batch of ``await client.get("/")``, the client made on first use.

    *make* gets the base URL: the fault server's when *local*, else a name
    that no request resolves (the transport answers from memory).
    """
    clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    async def batch(n: int) -> object:
        loop = asyncio.get_running_loop()
        http = clients.get(loop)
        if http is None:
            url = await _server_url() if local else "http://bench.invalid"
            clients.clear()
            http = clients[loop] = await _enter(make(url))
        status = None
        for _ in range(n):
            status = (await http.get("/")).status_code
        return status

    return batch


def _overhead_notes(medians: dict[str, float]) -> list[str]:
    if "brace" not in medians or "httpx_plain" not in medians:
        return []
    extra = (medians["brace"] - medians["httpx_plain"]) / 1000
    line = (
        f"brace - httpx_plain: {extra:+,.1f} µs per request (difference of the "
        "medians; `python -m benchmarks.scenarios.http` gives the minimums)."
    )
    return [line]


@scenario(
    "http_get",
    order=90,
    title=(
        "`await client.get('/')` over loopback to brace's fault server (no "
        "faults, keep-alive), server on the same event loop; ns per request"
    ),
    baseline="httpx_plain",
    targets=(at_most("brace", 1.1, "httpx_plain"),),
    notes=_overhead_notes,
)
def http_get() -> list[Row | Skip]:
    return [
        Row(
            "httpx_plain",
            "`httpx.AsyncClient()`",
            _gets(lambda url: httpx.AsyncClient(base_url=url), local=True),
            expect=200,
        ),
        Row(
            "brace",
            "`brace.http.client()` (retries, default per-host breaker)",
            _gets(lambda url: brace.http.client(base_url=url), local=True),
            expect=200,
        ),
    ]


class _Memory(httpx.AsyncBaseTransport):
    """Answers every request at once, from memory."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"ok")


@scenario(
    "http_overhead",
    order=91,
    title=(
        "`await client.get('/')` with an inner transport that answers from "
        "memory: brace's own cost per request; ns per request"
    ),
    baseline="httpx_plain",
    targets=(at_most("brace", 1.5, "httpx_plain"),),
    notes=_overhead_notes,
)
def http_overhead() -> list[Row | Skip]:
    return [
        Row(
            "httpx_plain",
            "`httpx.AsyncClient(transport=memory)`",
            _gets(
                lambda url: httpx.AsyncClient(transport=_Memory(), base_url=url),
                local=False,
            ),
            expect=200,
        ),
        Row(
            "brace",
            "`brace.http.client(transport=memory)`",
            _gets(
                lambda url: brace.http.client(transport=_Memory(), base_url=url),
                local=False,
            ),
            expect=200,
        ),
    ]


async def _min_of_many(reps: int, calls: int) -> None:
    """Print min and median µs per request of every row, interleaved."""
    import statistics
    import time

    for build in (http_get, http_overhead):
        rows = [row for row in build() if isinstance(row, Row)]
        for row in rows:
            await row.batch(calls)  # warm-up (and connect)
        samples: dict[str, list[float]] = {row.name: [] for row in rows}
        for _ in range(reps):
            for row in rows:
                start = time.perf_counter_ns()
                await row.batch(calls)
                samples[row.name].append((time.perf_counter_ns() - start) / calls)
        low = {name: min(values) for name, values in samples.items()}
        print(f"{build.__name__}: {reps} interleaved batches of {calls} requests")
        for name, values in samples.items():
            print(
                f"  {name:12} min {low[name] / 1000:8.1f} µs"
                f"  median {statistics.median(values) / 1000:8.1f} µs"
            )
        extra = (low["brace"] - low["httpx_plain"]) / 1000
        print(f"  brace - httpx_plain, min: {extra:+.1f} µs")


if __name__ == "__main__":
    # python -m benchmarks.scenarios.http [reps] [calls]: min-of-many, since
    # the loopback rows are noisy enough to hide a few µs in their medians.
    import sys

    reps, calls = (int(arg) for arg in (sys.argv[1:] or ["200", "50"]))
    asyncio.run(_min_of_many(reps, calls))
