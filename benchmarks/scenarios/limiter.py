"""ConcurrencyLimiter: the uncontended fast path, and 10,000 tasks on 16 slots."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.registry import (
    Batch,
    Row,
    Skip,
    at_most,
    faster,
    optional_import,
    scenario,
)
from benchmarks.scenarios._common import f, missing, repeat, repeat_async_with
from brace._limiter import ConcurrencyLimiter

SLOTS = 10
QUEUE = 100
TASKS = 10_000
CONTENDED_SLOTS = 16


@scenario(
    "limiter_uncontended",
    order=50,
    title=(
        "`await f(x)` holding a slot of a 10-slot limiter that is never full; "
        "ns per call"
    ),
    baseline="bare",
    targets=(
        at_most("brace", 1.0, "asyncio_semaphore"),
        at_most("brace_async_with", 1.0, "asyncio_semaphore"),
        faster("brace", 5, "anyio_capacity_limiter"),
        faster("brace", 2.5, "hyx_bulkhead"),
    ),
)
def limiter_uncontended() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`", repeat(f, 1), expect=1),
        Row(
            "asyncio_semaphore",
            "`async with sem: await f(x)`, `sem = asyncio.Semaphore(10)`",
            repeat_async_with(asyncio.Semaphore(SLOTS)),
            expect=1,
        ),
    ]

    anyio = optional_import("anyio")
    if anyio is None:
        rows.append(missing("anyio_capacity_limiter", "anyio"))
    else:
        rows.append(
            Row(
                "anyio_capacity_limiter",
                "`async with lim: await f(x)`, `lim = anyio.CapacityLimiter(10)`",
                repeat_async_with(anyio.CapacityLimiter(SLOTS)),
                expect=1,
            )
        )

    hyx_bulkhead = optional_import("hyx.bulkhead")
    if hyx_bulkhead is None:
        rows.append(missing("hyx_bulkhead", "hyx"))
    else:
        rows.append(
            Row(
                "hyx_bulkhead",
                "`@hyx.bulkhead.bulkhead(max_concurrency=10, max_capacity=100)` on `f`",
                repeat(hyx_bulkhead.bulkhead(SLOTS, QUEUE)(f), 1),
                expect=1,
            )
        )

    rows += [
        Row(
            "brace",
            "`@lim` on `f`, `lim = ConcurrencyLimiter(10, max_waiting=100)`",
            repeat(ConcurrencyLimiter(SLOTS, max_waiting=QUEUE)(f), 1),
            expect=1,
        ),
        Row(
            "brace_async_with",
            "`async with lim: await f(x)`, the same `lim`",
            repeat_async_with(ConcurrencyLimiter(SLOTS, max_waiting=QUEUE)),
            expect=1,
        ),
    ]
    return rows


# -- contended -----------------------------------------------------------------


class _Probe:
    """Counts finished tasks, and the peak number running at once."""

    def __init__(self) -> None:
        self.done = 0
        self.running = 0
        self.peak = 0

    async def work(self, _: object = None) -> None:
        """The protected call: one loop iteration."""
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0)
        self.running -= 1
        self.done += 1


Runner = Callable[[Callable[..., Awaitable[None]]], Awaitable[None]]


def _gather(
    wrap: Callable[[Callable[..., Awaitable[None]]], Callable[[], Any]],
) -> Runner:
    """Run TASKS tasks of ``wrap(work)()`` with ``asyncio.gather``."""

    async def run(work: Callable[..., Awaitable[None]]) -> None:
        call = wrap(work)
        await asyncio.gather(*(call() for _ in range(TASKS)))

    return run


def _contended(make: Callable[[], Runner], peak: range) -> tuple[Batch, Any]:
    """A batch of whole runs (returns tasks done), and the row's check."""
    runner = make()

    async def batch(n: int) -> object:
        probe = _Probe()
        for _ in range(n):
            probe.done = 0
            await runner(probe.work)
        return probe.done

    async def check() -> None:
        probe = _Probe()
        await make()(probe.work)
        assert probe.done == TASKS, probe.done
        assert probe.peak in peak, f"{probe.peak} tasks ran at once, not {peak}"

    return batch, check


def _no_limiter() -> Runner:
    return _gather(lambda work: work)


def _semaphore() -> Runner:
    sem = asyncio.Semaphore(CONTENDED_SLOTS)

    def wrap(work: Callable[..., Awaitable[None]]) -> Callable[[], Any]:
        async def call() -> None:
            async with sem:
                await work()

        return call

    return _gather(wrap)


def _capacity_limiter() -> Runner:
    import anyio

    lim = anyio.CapacityLimiter(CONTENDED_SLOTS)

    def wrap(work: Callable[..., Awaitable[None]]) -> Callable[[], Any]:
        async def call() -> None:
            async with lim:
                await work()

        return call

    return _gather(wrap)


def _aiometer() -> Runner:
    import aiometer

    async def run(work: Callable[..., Awaitable[None]]) -> None:
        await aiometer.run_on_each(work, range(TASKS), max_at_once=CONTENDED_SLOTS)

    return run


def _hyx() -> Runner:
    from hyx.bulkhead import bulkhead

    guard = bulkhead(CONTENDED_SLOTS, TASKS)
    return _gather(guard)


def _brace() -> Runner:
    lim = ConcurrencyLimiter(CONTENDED_SLOTS, max_waiting=None)
    return _gather(lim)


def _in_ms(medians: dict[str, float]) -> list[str]:
    if not medians:
        return []
    cells = ", ".join(f"`{name}` {ns / 1e6:,.1f} ms" for name, ns in medians.items())
    return [f"One call is a whole run of {TASKS:,} tasks: {cells}."]


@scenario(
    "limiter_contended",
    order=51,
    title=(
        f"{TASKS:,} tasks gathered at once on {CONTENDED_SLOTS} slots, each "
        "`await asyncio.sleep(0)` while holding a slot; ns per whole run "
        "(one call = all the tasks, done)"
    ),
    baseline="no_limiter",
    targets=(at_most("brace", 1.1, "asyncio_semaphore"),),
    notes=_in_ms,
)
def limiter_contended() -> list[Row | Skip]:
    full = range(CONTENDED_SLOTS, CONTENDED_SLOTS + 1)

    def row(name: str, what: str, make: Callable[[], Runner], peak: range) -> Row:
        batch, check = _contended(make, peak)
        return Row(name, what, batch, expect=TASKS, check=check)

    rows: list[Row | Skip] = [
        row(
            "no_limiter",
            "`asyncio.gather` of the tasks, unlimited",
            _no_limiter,
            range(TASKS, TASKS + 1),
        ),
        row(
            "asyncio_semaphore",
            "`async with sem:` in each task, `sem = asyncio.Semaphore(16)`",
            _semaphore,
            full,
        ),
    ]
    if optional_import("anyio") is None:
        rows.append(missing("anyio_capacity_limiter", "anyio"))
    else:
        rows.append(
            row(
                "anyio_capacity_limiter",
                "`async with lim:` in each task, `lim = anyio.CapacityLimiter(16)`",
                _capacity_limiter,
                full,
            )
        )
    if optional_import("aiometer") is None:
        rows.append(missing("aiometer", "aiometer"))
    else:
        rows.append(
            row(
                "aiometer",
                "`aiometer.run_on_each(work, range(10_000), max_at_once=16)`",
                _aiometer,
                # It starts one task per loop iteration: tasks this short
                # never overlap, so its peak is lower.
                range(1, CONTENDED_SLOTS + 1),
            )
        )
    if optional_import("hyx.bulkhead") is None:
        rows.append(missing("hyx_bulkhead", "hyx"))
    else:
        rows.append(
            row(
                "hyx_bulkhead",
                "`@hyx.bulkhead.bulkhead(16, 10_000)` on the task's function",
                _hyx,
                full,
            )
        )
    rows.append(
        row(
            "brace",
            "`@lim` on the task's function, "
            "`lim = ConcurrencyLimiter(16, max_waiting=None)`",
            _brace,
            full,
        )
    )
    return rows
