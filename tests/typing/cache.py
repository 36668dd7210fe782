"""Pins the types of BoundedCache and cached(); checked, never run."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, assert_type

import brace


class User:
    pass


users: brace.BoundedCache[str, User] = brace.BoundedCache(
    1000, ttl=dt.timedelta(minutes=5), ttl_jitter=30, rng=random.Random(1)
)


@brace.cached(users, key=lambda uid, **_: f"user:{uid}", stale_while_revalidate=60)
async def load_user(uid: int, *, fresh: bool = False) -> User:
    return User()


@brace.cached(maxsize=100, ttl=60.0, cache_errors_for=5)
async def price(symbol: str) -> float:
    return 1.0


class Repo:
    @brace.cached()
    async def get(self, item: int) -> str:
        return str(item)

    @brace.cached()
    @staticmethod
    async def schema(version: int) -> str:
        return str(version)


async def check_cache() -> None:
    assert_type(users.get("a"), User | None)
    assert_type(users.get("a", 0), User | int)
    users.set("a", User(), ttl=10)
    assert_type(users.pop("a"), User)
    assert_type(users.pop("a", None), User | None)
    assert_type(users.keys(), list[str])
    assert_type("a" in users, bool)
    stats = users.statistics()
    assert_type(stats, brace.CacheStatistics)
    assert_type(stats.hit_rate, float)
    assert_type(users.ttl, float | None)
    users.set(1, User())  # type: ignore[arg-type]
    users.set("b", "not a user")  # type: ignore[arg-type]


async def check_cached() -> None:
    assert_type(await load_user(1), User)
    assert_type(await load_user(1, fresh=True), User)
    coro = price("X")
    _ = assert_type(coro, Coroutine[Any, Any, float])
    coro.close()
    as_callable: Callable[[str], Awaitable[float]] = price
    _ = as_callable
    assert_type(load_user.invalidate(1), bool)
    assert_type(price.cache_info(), brace.CacheInfo)
    assert_type(price.cache, brace.BoundedCache[Any, Any])
    load_user.cache_clear()
    await load_user.aclose()
    assert_type(await Repo().get(1), str)
    assert_type(await Repo.schema(1), str)
    assert_type(Repo().get.invalidate(1), bool)
    policy = brace.cached(ttl=1)
    assert_type(policy, brace.Cached)
    assert_type(await policy.call(price, "Y"), float)
    assert_type(policy.describe(), tuple[str, dict[str, object]])
    assert_type(brace.compose(brace.Retry(on=OSError), policy), brace.Pipeline)
    await load_user("1")  # type: ignore[arg-type]
    await price("X", 2)  # type: ignore[call-arg]
    load_user.invalidate("1")  # type: ignore[arg-type]
    await policy.call(price, 3)  # type: ignore[arg-type]
    brace.cached()(lambda: 1)  # type: ignore[arg-type,return-value]


def on_refresh_failed(event: brace.CacheRefreshFailed) -> None:
    assert_type(event.key, object)
    assert_type(event.error, BaseException)
    assert_type(event.exception_type, str)


def on_evicted(event: brace.CacheEvicted) -> None:
    assert_type(event.reason, str)
