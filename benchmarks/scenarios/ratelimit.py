"""Rate limiters: a limit that never waits, and 100,000 keys round-robin."""

from __future__ import annotations

import gc
import itertools
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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
from brace._keyed import KeyedRateLimiter
from brace._ratelimit import RateLimiter

HUGE = 10**9  # units per second: so high that nothing ever waits
KEYS = 100_000


def _aiolimiter(aiolimiter: Any) -> Batch:
    return repeat_async_with(aiolimiter.AsyncLimiter(HUGE, 1))


def _hyx(hyx: Any) -> Batch:
    """hyx's bucket needs a running loop to be made: made on the first batch."""
    made: list[Callable[[int], Awaitable[int]]] = []

    async def batch(n: int) -> object:
        if not made:
            made.append(hyx.tokenbucket(HUGE, 1)(f))
        limited = made[0]
        result = None
        for _ in range(n):
            result = await limited(1)
        return result

    return batch


def _limits_limiter(limits: Any) -> tuple[Any, Any]:
    from limits.aio.storage import MemoryStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    item = limits.parse(f"{HUGE}/second")
    return MovingWindowRateLimiter(MemoryStorage()), item


class _Fresh:
    """A peer limiter rebuilt before every batch (outside the timed region).

    limits' moving window keeps every hit of the last second in a list per
    key, and pyrate-limiter's in-memory bucket every hit until its leak
    thread runs: at a billion per second, both would time a list that grows
    from batch to batch. A fresh limiter per batch times each at an occupancy
    of one batch, as peer-overheads.md measured them.
    """

    def __init__(self, make: Callable[[], Any], close: Callable[[Any], None]) -> None:
        self.make = make
        self.close = close
        self.current = make()

    @contextmanager
    def around(self) -> Iterator[None]:
        self.close(self.current)
        self.current = self.make()
        yield


def _limits_nowait(limits: Any) -> tuple[Batch, Callable[[], Any]]:
    fresh = _Fresh(lambda: _limits_limiter(limits), lambda _: None)

    async def batch(n: int) -> object:
        limiter, item = fresh.current
        hit = limiter.hit
        result = None
        for _ in range(n):
            if await hit(item, "bench"):
                result = await f(1)
        return result

    return batch, fresh.around


def _pyrate(pyrate: Any) -> Any:
    return pyrate.Limiter(
        pyrate.InMemoryBucket([pyrate.Rate(HUGE, pyrate.Duration.SECOND)])
    )


def _pyrate_nowait(pyrate: Any) -> tuple[Batch, Callable[[], Any]]:
    fresh = _Fresh(lambda: _pyrate(pyrate), lambda limiter: limiter.close())

    async def batch(n: int) -> object:
        acquire = fresh.current.try_acquire_async
        result = None
        for _ in range(n):
            if await acquire("bench"):
                result = await f(1)
        return result

    return batch, fresh.around


@scenario(
    "ratelimit_nowait",
    order=70,
    title=(
        "`await f(x)` behind a rate limit of 10**9 per second, which never "
        "waits; ns per call"
    ),
    baseline="bare",
    targets=(
        at_most("brace", 1.0, "hyx_tokenbucket"),
        faster("brace", 2.5, "aiolimiter"),
    ),
)
def ratelimit_nowait() -> list[Row | Skip]:
    rows: list[Row | Skip] = [Row("bare", "`await f(x)`", repeat(f, 1), expect=1)]

    aiolimiter = optional_import("aiolimiter")
    if aiolimiter is None:
        rows.append(missing("aiolimiter", "aiolimiter"))
    else:
        rows.append(
            Row(
                "aiolimiter",
                "`async with AsyncLimiter(10**9, 1): await f(x)`",
                _aiolimiter(aiolimiter),
                expect=1,
            )
        )

    limits = optional_import("limits")
    if limits is None:
        rows.append(missing("limits_moving_window", "limits"))
    else:
        batch, around = _limits_nowait(limits)
        rows.append(
            Row(
                "limits_moving_window",
                "`if await MovingWindowRateLimiter(MemoryStorage()).hit(10**9/second, "
                "key): await f(x)` (limits.aio; fresh storage per batch)",
                batch,
                expect=1,
                around=around,
            )
        )

    pyrate = optional_import("pyrate_limiter")
    if pyrate is None:
        rows.append(missing("pyrate_limiter", "pyrate-limiter"))
    else:
        batch, around = _pyrate_nowait(pyrate)
        rows.append(
            Row(
                "pyrate_limiter",
                "`if await Limiter(InMemoryBucket([Rate(10**9, SECOND)]))"
                ".try_acquire_async(key): await f(x)` (fresh limiter per batch)",
                batch,
                expect=1,
                around=around,
            )
        )

    hyx = optional_import("hyx.ratelimit")
    if hyx is None:
        rows.append(missing("hyx_tokenbucket", "hyx"))
    else:
        rows.append(
            Row(
                "hyx_tokenbucket",
                "`@hyx.ratelimit.tokenbucket(10**9, 1)` decorating `f`",
                _hyx(hyx),
                expect=1,
            )
        )

    rows.append(
        Row(
            "brace",
            "`@brace.RateLimiter(10**9, per=1.0)` decorating `f` (token bucket, "
            "burst 1)",
            repeat(RateLimiter(HUGE, per=1.0)(f), 1),
            expect=1,
        )
    )
    rows.append(
        Row(
            "brace_async_with",
            "`async with` the same limiter: `await f(x)`",
            repeat_async_with(RateLimiter(HUGE, per=1.0)),
            expect=1,
        )
    )
    return rows


# -- keyed ---------------------------------------------------------------------

# Peak memory of one pass over every key, measured once per row before timing
# (by the row's check) and printed with the report; row name -> (peak, kept).
PEAK_MEMORY: dict[str, tuple[int, int]] = {}
_KEY_NAMES = [f"user-{i}" for i in range(KEYS)]


def _round_robin(made: tuple[KeyedCall, Callable[[], None]]) -> Batch:
    """A batch of calls for the next *n* keys, cycling through all of them."""
    call = made[0]
    keys = itertools.cycle(_KEY_NAMES)

    async def batch(n: int) -> object:
        result = None
        for key in itertools.islice(keys, n):
            result = await call(key)
        return result

    return batch


KeyedCall = Callable[[str], Awaitable[Any]]


def _peak(row: str, make: Callable[[], tuple[KeyedCall, Callable[[], None]]]) -> Any:
    """A row check: one pass over every key from a fresh limiter, traced."""

    async def check() -> None:
        gc.collect()
        tracemalloc.start()
        try:
            call, close = make()
            for key in _KEY_NAMES:
                await call(key)
            kept, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        close()
        PEAK_MEMORY[row] = (peak, kept)

    return check


def _memory_notes(medians: dict[str, float]) -> list[str]:
    head = (
        f"Memory of one pass over the {KEYS:,} keys, from a fresh limiter "
        "(tracemalloc; peak, and still held at the end):"
    )
    lines = [head, ""]
    for row in medians:
        if row in PEAK_MEMORY:
            peak, kept = PEAK_MEMORY[row]
            lines.append(
                f"- `{row}`: peak {peak / 2**20:,.1f} MiB, held "
                f"{kept / 2**20:,.1f} MiB ({kept / KEYS:,.0f} bytes per key)"
            )
    return lines if len(lines) > 2 else []


def _nothing() -> None:
    return None


def _brace_keyed() -> tuple[KeyedCall, Callable[[], None]]:
    keyed: KeyedRateLimiter[str] = KeyedRateLimiter(
        lambda _: RateLimiter(HUGE, per=1.0), max_keys=KEYS
    )
    return keyed.acquire, _nothing


def _limits_keyed(limits: Any) -> tuple[KeyedCall, Callable[[], None]]:
    limiter, item = _limits_limiter(limits)

    async def hit(key: str) -> bool:
        result: bool = await limiter.hit(item, key)
        return result

    return hit, _nothing


def _pyrate_keyed(pyrate: Any) -> tuple[KeyedCall, Callable[[], None]]:
    rates = [pyrate.Rate(HUGE, pyrate.Duration.SECOND)]
    clock = pyrate.MonotonicClock()

    class PerKey(pyrate.BucketFactory):  # type: ignore[misc,name-defined]
        """pyrate-limiter's per-key routing: one in-memory bucket per name."""

        def __init__(self) -> None:
            self.buckets: dict[str, Any] = {}

        def wrap_item(self, name: str, weight: int = 1) -> Any:
            return pyrate.RateItem(name, clock.now(), weight=weight)

        def get(self, item: Any) -> Any:
            bucket = self.buckets.get(item.name)
            if bucket is None:
                bucket = self.buckets[item.name] = self.create(
                    pyrate.InMemoryBucket, rates
                )
            return bucket

    limiter = pyrate.Limiter(PerKey())
    acquire = limiter.try_acquire_async

    async def call(key: str) -> bool:
        result: bool = await acquire(key)
        return result

    return call, limiter.close


@scenario(
    "ratelimit_keyed",
    order=71,
    title=(
        f"one acquire for the next of {KEYS:,} keys, round-robin, at 10**9 per "
        "second per key (never waits); ns per call, and memory for one pass"
    ),
    baseline="brace",
    reference=None,
    notes=_memory_notes,
)
def ratelimit_keyed() -> list[Row | Skip]:
    rows: list[Row | Skip] = []
    limits = optional_import("limits")
    if limits is None:
        rows.append(missing("limits_moving_window", "limits"))
    else:
        rows.append(
            Row(
                "limits_moving_window",
                "`await MovingWindowRateLimiter(MemoryStorage()).hit(10**9/second, "
                "key)` (limits.aio)",
                _round_robin(_limits_keyed(limits)),
                expect=True,
                check=_peak("limits_moving_window", lambda: _limits_keyed(limits)),
            )
        )
    pyrate = optional_import("pyrate_limiter")
    if pyrate is None:
        rows.append(missing("pyrate_limiter", "pyrate-limiter"))
    else:
        rows.append(
            Row(
                "pyrate_limiter",
                "`await Limiter(factory).try_acquire_async(key)`, a `BucketFactory` "
                "with one `InMemoryBucket([Rate(10**9, SECOND)])` per key",
                _round_robin(_pyrate_keyed(pyrate)),
                expect=True,
                check=_peak("pyrate_limiter", lambda: _pyrate_keyed(pyrate)),
            )
        )
    rows.append(
        Row(
            "brace",
            "`await KeyedRateLimiter(lambda k: RateLimiter(10**9, per=1.0), "
            f"max_keys={KEYS:,}).acquire(key)`",
            _round_robin(_brace_keyed()),
            expect=None,
            check=_peak("brace", _brace_keyed),
        )
    )
    return rows
