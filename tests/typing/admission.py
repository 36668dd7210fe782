"""Pins the types of the admission-control primitives; checked, never run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Coroutine
from typing import Any, Literal, assert_type

import brace
from brace import CancelToken, ConcurrencyLimiter

db = ConcurrencyLimiter(10, max_waiting=100, order="lifo", name="db", listeners=[print])


@db
async def query(sql: str, *, timeout: float = 1.0) -> list[str]:
    return [sql]


async def check_limiter() -> None:
    assert_type(await query("select 1", timeout=2.0), list[str])
    assert_type(await db.call(query, "select 2"), list[str])
    async with db:
        pass
    await db.acquire(cancel=CancelToken())
    db.acquire_nowait()
    db.release()
    limiter_stats = db.statistics()
    assert_type(limiter_stats, brace.LimiterStatistics)
    assert_type(limiter_stats.active, int)
    assert_type(limiter_stats.max_waiting, int | None)
    assert_type(db.max_concurrent, int)
    db.max_concurrent = 20
    assert_type(db.order, Literal["fifo", "lifo"])
    assert_type(ConcurrencyLimiter.DEFAULT_MAX_WAITING, int)
    unbounded = ConcurrencyLimiter(16, max_waiting=None)
    assert_type(unbounded.max_waiting, int | None)

    def on_shed(event: brace.LimiterRejected) -> None:
        assert_type(event.reason, str)

    with brace.subscribe(on_shed, brace.LimiterRejected):
        pass
    ConcurrencyLimiter(10, order="random")  # type: ignore[arg-type]
    ConcurrencyLimiter(10, 100)  # type: ignore[call-arg]
    await query(1)  # type: ignore[arg-type]
    await db.call(query, "s", retries=2)  # type: ignore[call-arg]
    db.max_concurrent = "3"  # type: ignore[assignment]
    await db.acquire(cancel=True)  # type: ignore[arg-type]
    brace.subscribe(on_shed, brace.LimiterWaited)  # type: ignore[arg-type]


async def check_queue() -> None:
    q = brace.BoundedQueue[int](10)
    q.put_nowait(1)
    await q.put(2, cancel=CancelToken())
    assert_type(q.get_nowait(), int)
    assert_type(await q.get(), int)
    assert_type(await q.get(cancel=CancelToken()), int)
    assert_type([x async for x in q], list[int])
    assert_type(len(q), int)
    assert_type(q.qsize(), int)
    assert_type(q.full(), bool)
    assert_type(q.empty(), bool)
    assert_type(q.closed, bool)
    assert_type(q.maxsize, int)
    assert_type(q.overflow, brace.Overflow)
    q.close()
    qstats = q.statistics()
    assert_type(qstats, brace.QueueStatistics)
    assert_type(qstats.dropped, int)
    jobs = brace.BoundedQueue[tuple[int, str]](
        5,
        overflow="drop_oldest",
        on_drop=lambda job: print(job[1]),
        priority=lambda job: job[0],
        name="jobs",
        listeners=[print],
    )
    assert_type(jobs.get_nowait(), tuple[int, str])
    annotated: brace.BoundedQueue[str] = brace.BoundedQueue(3, overflow="reject")
    assert_type(await annotated.get(), str)

    def on_drop(event: brace.QueueItemDropped) -> None:
        assert_type(event.item, object)
        assert_type(event.overflow, str)

    with brace.subscribe(on_drop, brace.QueueItemDropped):
        pass
    q.put_nowait("x")  # type: ignore[arg-type]
    await q.put("x")  # type: ignore[arg-type]
    brace.BoundedQueue[int](10, overflow="drop")  # type: ignore[arg-type]
    brace.BoundedQueue[int]("10")  # type: ignore[arg-type]
    brace.BoundedQueue[int](10, on_drop=lambda s: s.upper())  # type: ignore[attr-defined]
    brace.BoundedQueue[int](10, priority=1)  # type: ignore[arg-type]
    brace.subscribe(on_drop, brace.QueuePutRejected)  # type: ignore[arg-type]


api_limit = brace.RateLimiter(
    10,
    per=dt.timedelta(seconds=1),
    burst=5,
    algorithm="token_bucket",
    max_wait=2.0,
    name="api",
    listeners=[print],
)


@api_limit
async def limited(url: str, *, retries: int = 3) -> bytes:
    return url.encode()


async def rl_echo(x: int) -> str:
    return str(x)


def rl_sync_echo(x: int) -> str:
    return str(x)


async def check_ratelimit() -> None:
    assert_type(await limited("u", retries=1), bytes)
    await api_limit.acquire(2, cancel=CancelToken())
    assert_type(api_limit.try_acquire(), bool)
    assert_type(api_limit.retry_after(3), float)
    assert_type(await api_limit.call(rl_echo, 1), str)
    async with api_limit:
        pass
    stats = api_limit.statistics()
    assert_type(stats, brace.RateLimiterStatistics)
    assert_type(stats.available, int)
    brace.RateLimiter(30, algorithm="sliding_window", segments=20)
    per_user: brace.KeyedRateLimiter[str] = brace.KeyedRateLimiter(
        lambda user: brace.RateLimiter(5, burst=5), max_keys=1000, idle_ttl=60.0
    )
    await per_user.acquire("ann", cost=2, cancel=CancelToken())
    assert_type(per_user.try_acquire("ann"), bool)
    assert_type(per_user.retry_after("ann"), float)
    assert_type(per_user.statistics().evictions, int)

    def on_rejected(event: brace.RateLimitRejected) -> None:
        assert_type(event.retry_after, float)

    with brace.subscribe(on_rejected, brace.RateLimitRejected):
        pass
    await limited(42)  # type: ignore[arg-type]
    api_limit.try_acquire(1.5)  # type: ignore[arg-type]
    brace.RateLimiter(5, burst="3")  # type: ignore[arg-type]
    api_limit(rl_sync_echo)  # type: ignore[arg-type]
    per_user.try_acquire(42)  # type: ignore[arg-type]
    brace.KeyedRateLimiter(brace.RateLimiter(5))  # type: ignore[arg-type]
    await api_limit.call(rl_echo, "1")  # type: ignore[arg-type]


@brace.debounce(0.5, max_wait=dt.timedelta(seconds=2))
async def debounced_save(text: str, *, force: bool = False) -> int:
    return len(text)


@brace.throttle(1.0, trailing=False)
async def throttled_report(done: int) -> None:
    pass


class Editor:
    @brace.debounce(1.0)
    async def persist(self, text: str) -> bytes:
        return text.encode()

    @brace.throttle(2.0, leading=False)
    async def ping(self) -> str:
        return "pong"


async def check_debounce_and_throttle() -> None:
    assert_type(await debounced_save("x"), int)
    assert_type(await debounced_save("x", force=True), int)
    save_coro = debounced_save("x")
    _ = assert_type(save_coro, Coroutine[Any, Any, int])
    save_coro.close()
    assert_type(await throttled_report(3), None)
    assert_type(await Editor().persist("t"), bytes)
    assert_type(await Editor.persist(Editor(), "t"), bytes)
    assert_type(await Editor().ping(), str)
    bound: brace.Debounced[[str], bytes] = Editor().persist
    assert_type(await bound("t"), bytes)
    pinger: brace.Throttled[[], str] = Editor().ping
    assert_type(await pinger(), str)
    debounced_save.cancel()
    debounced_save.cancel(reason="shutdown")
    assert_type(await debounced_save.flush(), None)
    assert_type(debounced_save.pending(), bool)
    assert_type(throttled_report.statistics(), brace.DebounceStatistics)
    assert_type(throttled_report.statistics().executions, int)
    Editor.persist.cancel()
    await Editor().persist.flush()
    await debounced_save(1)  # type: ignore[arg-type]
    await debounced_save("x", forced=True)  # type: ignore[call-arg]
    await Editor().persist()  # type: ignore[call-arg]
    await throttled_report("3")  # type: ignore[arg-type]
    brace.debounce("1s")  # type: ignore[arg-type]
    brace.throttle(1, leading="yes")  # type: ignore[arg-type]
    brace.debounce(1)(lambda: None)  # type: ignore[arg-type,return-value]
    brace.throttle(1)(print)  # type: ignore[arg-type]
    unbound: brace.Debounced[[str], bytes] = Editor.persist  # type: ignore[assignment]
    del unbound
