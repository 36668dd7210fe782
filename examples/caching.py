"""Caching async calls: single-flight, TTL, stale-while-revalidate.

Shows:

- ``@brace.cached()``: a hundred concurrent requests for one cold key make
  one call (single-flight), and later requests are answered from the cache
  without touching the event loop;
- ``ttl=``: values are fresh for a while, on the event loop's clock;
- ``stale_while_revalidate=``: once a value is past its TTL, callers still
  get it at once while one background refresh runs; a refresh that fails
  keeps the stale value and emits a ``CacheRefreshFailed`` event;
- ``cache_errors_for=``: an outage is remembered for a few seconds, so a
  failing backend is not hammered;
- cached methods (one set of entries per instance), ``cache_info()`` and
  ``brace.BoundedCache`` used directly.

It runs on brace's virtual-time event loop, so the minutes it covers take
milliseconds. Run it with ``python examples/caching.py``.
"""

from __future__ import annotations

import asyncio

import brace
from brace.testing import VirtualTimeEventLoop


class Database:
    """A slow backend that counts its queries and can be switched off."""

    def __init__(self) -> None:
        self.queries = 0
        self.down = False
        self.version = 1

    async def query(self, user_id: int) -> str:
        self.queries += 1
        await asyncio.sleep(0.2)
        if self.down:
            raise ConnectionError("database unreachable")
        return f"user {user_id} (v{self.version})"


db = Database()


def on_refresh_failed(event: brace.Event) -> None:
    if isinstance(event, brace.CacheRefreshFailed):
        print(
            f"  event: refresh failed ({event.exception_type}); "
            "still serving the stale value"
        )


@brace.cached(ttl=60, stale_while_revalidate=30, listeners=[on_refresh_failed])
async def load_user(user_id: int) -> str:
    return await db.query(user_id)


@brace.cached(ttl=60, cache_errors_for=5)
async def load_settings(user_id: int) -> str:
    return await db.query(user_id)


class Profiles:
    """Cached methods keep one set of entries per instance, held weakly."""

    def __init__(self, region: str) -> None:
        self.region = region

    @brace.cached(ttl=60)
    async def lookup(self, user_id: int) -> str:
        return f"{self.region}: {await db.query(user_id)}"


async def main() -> None:
    loop = asyncio.get_running_loop()

    print("1. Single-flight: concurrent callers of a cold key share one call:")
    before = db.queries
    results = await asyncio.gather(*(load_user(1) for _ in range(100)))
    calls = db.queries - before
    print(f"  -> {len(results)} concurrent requests -> {calls} call to the database")
    print(f"     every caller got {results[0]!r}")
    start = loop.time()
    for _ in range(1000):
        await load_user(1)
    print(f"  -> 1000 more calls answered from the cache in {loop.time() - start} s")

    print("\n2. stale_while_revalidate: past the TTL, the stale value at once:")
    db.version = 2
    await asyncio.sleep(60)  # the value is now stale
    start = loop.time()
    print(f"  -> {await load_user(1)!r}: stale value served at once", end="")
    print(f" (waited {loop.time() - start} s); a refresh runs in the background")
    await asyncio.sleep(1)
    print(f"  -> {await load_user(1)!r} once the refresh is done")

    print("\n3. A failed refresh keeps the stale value:")
    db.down = True
    await asyncio.sleep(60)
    print(f"  -> {await load_user(1)!r}")
    await asyncio.sleep(1)
    info = load_user.cache_info()
    print(
        f"  cache_info: {info.hits} hits, {info.misses} misses, "
        f"{info.stale} stale, {info.computations} calls, "
        f"{info.refresh_failures} failed refresh"
    )

    print("\n4. cache_errors_for: an outage is remembered for 5 s:")
    before = db.queries
    for attempt in range(3):
        try:
            await load_settings(7)
        except ConnectionError as exc:
            print(f"  attempt {attempt + 1}: {exc}")
    print(f"  -> {db.queries - before} call to the database for 3 attempts")
    db.down = False
    await asyncio.sleep(5)
    print(f"  -> after 5 s: {await load_settings(7)!r}")

    print("\n5. Methods: one set of entries per instance:")
    eu, us = Profiles("eu"), Profiles("us")
    print(f"  -> {await eu.lookup(3)!r} / {await us.lookup(3)!r}")
    print(f"  -> eu again, from the cache: {await eu.lookup(3)!r}")
    await load_user.aclose()  # stop background refreshes before the loop ends

    print("\n6. BoundedCache on its own: LRU with a TTL, and its statistics:")
    sessions: brace.BoundedCache[str, int] = brace.BoundedCache(2, ttl=30)
    sessions.set("alice", 1)
    sessions.set("bob", 2)
    sessions.get("alice")
    sessions.set("carol", 3)  # full: bob, the least recently used, goes
    print(f"  keys, least recently used first: {sessions.keys()}")
    await asyncio.sleep(30)
    print(f"  30 s later: {sessions.keys()}")
    stats = sessions.statistics()
    print(
        f"  statistics: {stats.hits} hit, {stats.evictions} eviction, "
        f"{stats.expirations} expirations"
    )


if __name__ == "__main__":
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(main())
