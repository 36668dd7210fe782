"""Events: what brace's event emission costs with and without a listener."""

from __future__ import annotations

import brace
from benchmarks.registry import Row, Skip, scenario
from benchmarks.scenarios._common import repeat_fresh
from benchmarks.scenarios.retry import brace_two_failures

NO_LISTENER = "retry_two_failures_no_listener"
ONE_LISTENER = "retry_two_failures_one_listener"
# Events per call of the flaky function: one RetryScheduled per failure.
EVENTS_PER_CALL = 2


def _ignore(_: brace.Event) -> None:
    return None


def _subscribed() -> brace.Subscription:
    return brace.subscribe(_ignore)


async def _check_events_are_emitted() -> None:
    """The one-listener row must really build and deliver the events."""
    seen: list[brace.Event] = []
    fn = brace_two_failures()
    with brace.subscribe(seen.append):
        assert await fn([0]) == 3
    kinds = [type(event).__name__ for event in seen]
    assert kinds == ["RetryScheduled"] * EVENTS_PER_CALL, kinds


def _per_event(medians: dict[str, float]) -> list[str]:
    if NO_LISTENER not in medians or ONE_LISTENER not in medians:
        return []
    extra = (medians[ONE_LISTENER] - medians[NO_LISTENER]) / EVENTS_PER_CALL
    line = (
        f"Building and delivering one event to one listener costs about "
        f"{extra:,.0f} ns ({EVENTS_PER_CALL} `RetryScheduled` events per call); "
        "with no listener, no event object is built."
    )
    return [line]


@scenario(
    "events",
    order=40,
    title=(
        "brace's `retry_two_failures` row with no event listener, and with one "
        "global `brace.subscribe(lambda e: None)`; ns per successful call"
    ),
    baseline=NO_LISTENER,
    reference=None,
    notes=_per_event,
)
def events() -> list[Row | Skip]:
    fn = brace_two_failures()
    return [
        Row(
            NO_LISTENER,
            "brace `retry_two_failures` row, no listener registered",
            repeat_fresh(fn),
            expect=3,
        ),
        Row(
            ONE_LISTENER,
            "the same, with `brace.subscribe(lambda e: None)` active",
            repeat_fresh(fn),
            expect=3,
            around=_subscribed,
            check=_check_events_are_emitted,
        ),
    ]
