"""Caches: the hit path, and 100 concurrent callers of one cold key."""

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
from benchmarks.scenarios._common import f, missing, repeat
from brace._cached import cached

MAXSIZE = 128
TTL = 600
CALLERS = 100

AsyncFn = Callable[..., Awaitable[Any]]


def cachetools_memoize(fn: AsyncFn) -> AsyncFn:
    """The memoizing wrapper one writes by hand around a cachetools TTLCache."""
    import cachetools
    from cachetools.keys import hashkey

    cache: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(maxsize=MAXSIZE, ttl=TTL)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = hashkey(*args, **kwargs)
        try:
            return cache[key]
        except KeyError:
            pass
        value = await fn(*args, **kwargs)
        cache[key] = value
        return value

    return wrapper


@scenario(
    "cache_hit",
    order=80,
    title=(
        "`await g(x)`, a memoized `async def f(x): return x` whose value is "
        f"cached (maxsize={MAXSIZE}, TTL {TTL} s where the cache has one); "
        "ns per call"
    ),
    baseline="bare",
    targets=(
        at_most("brace", 1.0, "cachetools_manual"),
        faster("brace", 1.3, "async_lru"),
    ),
)
def cache_hit() -> list[Row | Skip]:
    rows: list[Row | Skip] = [
        Row("bare", "`await f(x)`, not cached", repeat(f, 1), expect=1),
    ]
    if optional_import("cachetools") is None:
        rows.append(missing("cachetools_manual", "cachetools"))
    else:
        rows.append(
            Row(
                "cachetools_manual",
                "hand-written `async def` memoizer over `cachetools.TTLCache"
                f"(maxsize={MAXSIZE}, ttl={TTL})`, keys from `cachetools.keys.hashkey`",
                repeat(cachetools_memoize(f), 1),
                expect=1,
            )
        )
    async_lru = optional_import("async_lru")
    if async_lru is None:
        rows.append(missing("async_lru", "async-lru"))
    else:
        rows.append(
            Row(
                "async_lru",
                f"`@async_lru.alru_cache(maxsize={MAXSIZE}, ttl={TTL})`",
                repeat(async_lru.alru_cache(maxsize=MAXSIZE, ttl=TTL)(f), 1),
                expect=1,
            )
        )
    aiocache = optional_import("aiocache")
    if aiocache is None:
        rows.append(missing("aiocache", "aiocache"))
    else:
        rows.append(
            Row(
                "aiocache",
                f"`@aiocache.cached(ttl={TTL})` (in-memory, default timeout=5)",
                repeat(aiocache.cached(ttl=TTL)(f), 1),
                expect=1,
            )
        )
    rows.append(
        Row(
            "brace",
            f"`@brace.cached(maxsize={MAXSIZE}, ttl={TTL})`",
            repeat(cached(maxsize=MAXSIZE, ttl=TTL)(f), 1),
            expect=1,
        )
    )
    return rows


# -- 100 concurrent callers of one cold key -----------------------------------


class _Source:
    """The cached function: one loop iteration per call, counted."""

    def __init__(self) -> None:
        self.calls = 0

    async def load(self, key: int) -> int:
        self.calls += 1
        await asyncio.sleep(0)
        return key


# Calls made by one round of each row, recorded by the rows' checks.
_CALLS: dict[str, int] = {}


def _stampede(name: str, wrap: Callable[[AsyncFn], AsyncFn]) -> tuple[Batch, Any]:
    """A batch of rounds, each 100 callers gathered on a fresh key; returns
    the calls that the last round made. And the check that records them."""
    source = _Source()
    fn = wrap(source.load)
    keys = iter(range(10**12))

    async def batch(n: int) -> object:
        calls = 0
        for _ in range(n):
            key = next(keys)
            before = source.calls
            results = await asyncio.gather(*(fn(key) for _ in range(CALLERS)))
            assert results[-1] == key
            calls = source.calls - before
        return calls

    async def check() -> None:
        _CALLS[name] = int(await batch(1))  # type: ignore[call-overload]

    return batch, check


def _calls_made(medians: dict[str, float]) -> list[str]:
    if not _CALLS:
        return []
    made = ", ".join(f"`{name}` {calls}" for name, calls in _CALLS.items())
    took = ", ".join(f"`{name}` {ns / 1e3:,.0f} µs" for name, ns in medians.items())
    return [
        f"Calls of the function per round of {CALLERS} concurrent callers: {made}.",
        f"Wall time per round: {took}.",
    ]


@scenario(
    "cache_miss_coalesced",
    order=81,
    title=(
        f"{CALLERS} callers gathered at once on one cold key of a memoized "
        "`async def` that takes one loop iteration; ns per round (one call "
        f"= all {CALLERS} callers answered)"
    ),
    baseline="brace",
    reference=None,
    notes=_calls_made,
)
def cache_miss_coalesced() -> list[Row | Skip]:
    rows: list[Row | Skip] = []
    async_lru = optional_import("async_lru")
    if async_lru is None:
        rows.append(missing("async_lru", "async-lru"))
    else:
        batch, check = _stampede(
            "async_lru", async_lru.alru_cache(maxsize=MAXSIZE, ttl=TTL)
        )
        rows.append(
            Row(
                "async_lru",
                f"`@async_lru.alru_cache(maxsize={MAXSIZE}, ttl={TTL})` (coalesces)",
                batch,
                expect=1,
                check=check,
            )
        )
    aiocache = optional_import("aiocache")
    if aiocache is None:
        rows.append(missing("aiocache", "aiocache"))
    else:
        batch, check = _stampede("aiocache", aiocache.cached(ttl=TTL))
        rows.append(
            Row(
                "aiocache",
                f"`@aiocache.cached(ttl={TTL})` (does not coalesce: one call "
                "per caller)",
                batch,
                check=check,
            )
        )
    batch, check = _stampede("brace", cached(maxsize=MAXSIZE, ttl=TTL))
    rows.append(
        Row(
            "brace",
            f"`@brace.cached(maxsize={MAXSIZE}, ttl={TTL})` (single-flight)",
            batch,
            expect=1,
            check=check,
        )
    )
    return rows
