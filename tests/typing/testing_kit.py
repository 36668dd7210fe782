"""Pins the types of brace.testing's chaos policy and event capture; never run."""

from __future__ import annotations

import datetime as dt
from typing import Never, assert_type

import brace
import brace.testing
from brace.testing import Chaos, ChaosStatistics, EventLog, capture_events

flaky = Chaos(fault=ConnectionError, rate=0.1, latency=(0.05, 0.2), seed=1)
canned = Chaos(result=b"", latency=dt.timedelta(milliseconds=5))


@flaky
async def fetch_flaky(url: str, *, retries_left: int = 3) -> bytes:
    return url.encode()


@Chaos(result=None, rate=0.5)
async def maybe(url: str) -> bytes:
    return url.encode()


def sync_function() -> int:
    return 1


async def check_testing() -> None:
    assert_type(flaky, Chaos[Never])
    assert_type(canned, Chaos[bytes])
    assert_type(await fetch_flaky("u", retries_left=1), bytes)
    assert_type(await maybe("u"), bytes | None)
    assert_type(await flaky.call(fetch_flaky, "u"), bytes)
    assert_type(await canned.call(maybe, "u"), bytes | None)
    async with flaky:
        pass
    with flaky.enabled(), brace.testing.enable_chaos():
        pass
    assert_type(flaky.statistics(), ChaosStatistics)
    assert_type(flaky.describe(), tuple[str, dict[str, object]])
    with capture_events(brace.RetryScheduled, name="fetch") as events:
        assert_type(events, EventLog)
    assert_type(events.of_type(brace.RetryScheduled), list[brace.RetryScheduled])
    assert_type(events.of_type(brace.ChaosInjected), list[brace.ChaosInjected])
    assert_type(events.of_type(), list[brace.Event])
    assert_type(events.retries(), list[float])
    assert_type(events[0], brace.Event)
    assert_type(
        brace.testing.assert_retried(events, times=3, delays=[0.1, 0.2, 0.4]),
        list[brace.RetryScheduled],
    )
    assert_type(brace.testing.assert_gave_up(events), brace.RetryGaveUp)
    assert_type(
        brace.testing.assert_emitted(events, brace.TimeoutFired, timeout=1.0),
        list[brace.TimeoutFired],
    )
    await fetch_flaky(1)  # type: ignore[arg-type]
    Chaos(fault=ValueError, result=1)  # type: ignore[call-overload]
    Chaos(fault=ValueError, rate="0.5")  # type: ignore[call-overload]
    Chaos(fault=ValueError)(sync_function)  # type: ignore[arg-type]
    capture_events(ValueError)  # type: ignore[arg-type]
    events.of_type(int)  # type: ignore[type-var]
    brace.testing.assert_retried(events, times="3")  # type: ignore[arg-type]
