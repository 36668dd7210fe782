"""The scenarios behind ``python -m brace demo --basics``.

A fake order service runs in-process: it fails at random, is sometimes slow,
and can be scripted to misbehave on its first calls. Four short scenarios
call it through brace's primitives, log every retry decision as it happens,
and end with a plain-text summary table. Everything random is drawn from
generators seeded from one ``seed``, so a run is reproducible except for the
elapsed times.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable, Sequence
from typing import Literal, TextIO

import attrs

from ._backoff import Backoff
from ._cancel import CancelToken
from ._errors import BraceError, Cancelled, TimeoutError
from ._events import (
    Event,
    RetryGaveUp,
    RetryScheduled,
    TokenCancelled,
    subscribe,
)
from ._retry import Retry

__all__ = ["run_demo"]

Behaviour = Literal["ok", "fail", "slow"]


class ServiceUnavailable(Exception):
    """The fake service's "503 Service Unavailable"."""


class FlakyService:
    """An in-process stand-in for a remote order service.

    Args:
        rng: Decides which calls fail or are slow.
        failure_rate: Chance that a call fails.
        slow_rate: Chance that a call that does not fail is slow.
        slow_delay: How long a slow call takes, in seconds.
        latency: How long a normal call takes, in seconds.
        script: Behaviours for the first calls, before chance takes over,
            so that a scenario is sure to show what it is about.
        out: Where to announce slow calls, if anywhere.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        failure_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_delay: float = 1.0,
        latency: float = 0.005,
        script: Sequence[Behaviour] = (),
        out: TextIO | None = None,
    ) -> None:
        self._rng = rng
        self._out = out
        self._failure_rate = failure_rate
        self._slow_rate = slow_rate
        self._slow_delay = slow_delay
        self._latency = latency
        self._script = list(script)
        self.calls = 0

    def _next_behaviour(self) -> Behaviour:
        if self._script:
            return self._script.pop(0)
        # Both draws happen on every call so that the sequence of decisions
        # depends on the seed only, not on which branch was taken before.
        fails = self._rng.random() < self._failure_rate
        slow = self._rng.random() < self._slow_rate
        if fails:
            return "fail"
        return "slow" if slow else "ok"

    async def fetch_order(self, order_id: int) -> dict[str, object]:
        """Return the order, or fail the way a remote service would."""
        self.calls += 1
        behaviour = self._next_behaviour()
        if behaviour == "slow":
            if self._out is not None:
                print(
                    f"    call {self.calls} is slow: it would answer in "
                    f"{self._slow_delay:.3f} s",
                    file=self._out,
                )
            await asyncio.sleep(self._slow_delay)
        else:
            await asyncio.sleep(self._latency)
        if behaviour == "fail":
            if self._rng.random() < 0.5:
                raise ConnectionResetError("connection reset by peer")
            raise ServiceUnavailable("503 Service Unavailable")
        return {"id": order_id, "status": "shipped"}


@attrs.define
class _Row:
    scenario: str
    attempts: int = 0
    delays: list[float] = attrs.Factory(list)
    outcome: str = ""
    elapsed: float = 0.0


class _Recorder:
    """A ``listeners=`` callback: logs each retry decision and keeps the delays."""

    def __init__(
        self, row: _Row, out: TextIO, on_scheduled: Callable[[], object] | None = None
    ) -> None:
        self._row = row
        self._out = out
        self._on_scheduled = on_scheduled

    def __call__(self, event: Event) -> None:
        if isinstance(event, RetryScheduled):
            self._row.delays.append(event.delay)
            print(
                f"    attempt {event.attempt} failed with {_kind(event.error)}; "
                f"attempt {event.attempt + 1} in {event.delay:.3f} s",
                file=self._out,
            )
            if self._on_scheduled is not None:
                self._on_scheduled()
        elif isinstance(event, RetryGaveUp):
            plural = "" if event.attempts == 1 else "s"
            print(
                f"    gave up after {event.attempts} attempt{plural} ({event.reason})",
                file=self._out,
            )


def _kind(error: BaseException | None) -> str:
    if error is None:
        return "an unacceptable result"
    kind = type(error)
    # brace.TimeoutError shadows the builtin name: say which one it is.
    prefix = "brace." if isinstance(error, BraceError) else ""
    return prefix + kind.__qualname__


def _clock() -> float:
    # The loop's clock, not the wall clock: on a virtual-time loop the
    # reported elapsed times are virtual too, and so reproducible.
    return asyncio.get_running_loop().time()


async def _retry_with_backoff(rng: random.Random, out: TextIO) -> _Row:
    row = _Row("retry + backoff")
    print("\n[1] A flaky service: retry with jittered exponential backoff", file=out)
    # The first call always fails, so that the retry path always shows.
    service = FlakyService(
        random.Random(rng.getrandbits(32)),
        failure_rate=0.5,
        slow_rate=0.3,
        slow_delay=0.08,
        script=["fail"],
        out=out,
    )
    policy = Retry(
        on=(ConnectionError, ServiceUnavailable),
        attempts=6,
        backoff=Backoff.exponential(initial=0.05, maximum=0.4, jitter="full"),
        rng=random.Random(rng.getrandbits(32)),
        name="orders.fetch",
        listeners=[_Recorder(row, out)],
    )
    start = _clock()
    try:
        order = await policy.call(service.fetch_order, 1042)
    except (ConnectionError, ServiceUnavailable) as exc:
        row.outcome = f"gave up: {_kind(exc)}"
    else:
        row.outcome = f"ok: order {order['id']} {order['status']}"
    row.elapsed = _clock() - start
    row.attempts = service.calls
    print(f"    -> {row.outcome}", file=out)
    return row


async def _total_deadline(rng: random.Random, out: TextIO) -> _Row:
    row = _Row("total deadline")
    print("\n[2] A service in an outage: a total deadline of 0.5 s", file=out)
    service = FlakyService(random.Random(rng.getrandbits(32)), failure_rate=1.0)
    policy = Retry(
        on=(ConnectionError, ServiceUnavailable),
        # No attempt limit: the deadline alone decides when to stop.
        attempts=None,
        deadline=0.5,
        # Without jitter, so that the number of attempts that fit before the
        # deadline does not hinge on a delay landing a millisecond either
        # side of it on a real clock.
        backoff=Backoff.exponential(initial=0.05, maximum=0.4, jitter="none"),
        name="orders.fetch",
        listeners=[_Recorder(row, out)],
    )
    start = _clock()
    try:
        await policy.call(service.fetch_order, 1043)
    except (ConnectionError, ServiceUnavailable) as exc:
        row.outcome = f"gave up: {_kind(exc)} (deadline)"
        for note in getattr(exc, "__notes__", ()):
            print(f"    note on the exception: {note}", file=out)
    else:  # pragma: no cover - the service is down for good
        row.outcome = "ok"
    row.elapsed = _clock() - start
    row.attempts = service.calls
    print(f"    -> {row.outcome}", file=out)
    return row


async def _attempt_timeout(rng: random.Random, out: TextIO) -> _Row:
    row = _Row("attempt timeout")
    print(
        "\n[3] A slow response: a per-attempt timeout of 0.1 s cuts it short",
        file=out,
    )
    service = FlakyService(
        random.Random(rng.getrandbits(32)),
        failure_rate=0.2,
        slow_rate=0.3,
        slow_delay=1.0,
        script=["slow"],
        out=out,
    )
    policy = Retry(
        # brace.TimeoutError is not listed: attempt timeouts are always
        # retried, because this policy caused them.
        on=(ConnectionError, ServiceUnavailable),
        attempts=5,
        attempt_timeout=0.1,
        deadline=2.0,
        backoff=Backoff.exponential(initial=0.05, maximum=0.4, jitter="full"),
        rng=random.Random(rng.getrandbits(32)),
        name="orders.fetch",
        listeners=[_Recorder(row, out)],
    )
    start = _clock()
    try:
        order = await policy.call(service.fetch_order, 1044)
    except (ConnectionError, ServiceUnavailable, TimeoutError) as exc:
        row.outcome = f"gave up: {_kind(exc)}"
    else:
        row.outcome = f"ok: order {order['id']} {order['status']}"
    row.elapsed = _clock() - start
    row.attempts = service.calls
    print(f"    -> {row.outcome}", file=out)
    return row


async def _token_cancellation(rng: random.Random, out: TextIO) -> _Row:
    row = _Row("cancel token")
    print(
        "\n[4] Shutting down: another task cancels a CancelToken while the "
        "retry sleeps",
        file=out,
    )
    service = FlakyService(random.Random(rng.getrandbits(32)), failure_rate=1.0)
    shutdown = CancelToken(name="shutdown")
    second_retry_scheduled = asyncio.Event()

    def note_scheduled() -> None:
        if len(row.delays) == 2:
            second_retry_scheduled.set()

    policy = Retry(
        on=(ConnectionError, ServiceUnavailable),
        attempts=10,
        # A floor on the delay guarantees that there is a sleep to cut short.
        backoff=Backoff.exponential(
            initial=0.05, maximum=0.4, minimum=0.01, jitter="full"
        ),
        rng=random.Random(rng.getrandbits(32)),
        cancel=shutdown,
        name="orders.fetch",
        listeners=[_Recorder(row, out, note_scheduled)],
    )

    async def operator() -> None:
        # Waiting for an event rather than a fixed time makes the scenario
        # end the same way on any clock and for any seed.
        await second_retry_scheduled.wait()
        shutdown.cancel("operator asked to shut down")

    def on_token(event: TokenCancelled) -> None:
        print(f"    token {event.name!r} cancelled: {event.reason}", file=out)

    start = _clock()
    with subscribe(on_token, TokenCancelled):
        stopper = asyncio.create_task(operator())
        try:
            await policy.call(service.fetch_order, 1045)
        except Cancelled as exc:
            row.outcome = f"Cancelled: {exc.reason}"
        except (ConnectionError, ServiceUnavailable) as exc:  # pragma: no cover
            row.outcome = f"gave up: {_kind(exc)}"
        else:  # pragma: no cover - the service is down for good
            row.outcome = "ok"
        finally:
            stopper.cancel()
            await asyncio.wait([stopper])
    row.elapsed = _clock() - start
    row.attempts = service.calls
    print(f"    -> {row.outcome}", file=out)
    return row


def _table(rows: Sequence[_Row]) -> list[str]:
    header = ("scenario", "attempts", "delays (s)", "outcome", "elapsed")
    cells = [
        (
            row.scenario,
            str(row.attempts),
            ", ".join(f"{d:.3f}" for d in row.delays) or "-",
            row.outcome,
            f"{row.elapsed:.2f} s",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(5)]
    lines = []
    for line in [header, *cells]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
        if line is header:
            lines.append("  ".join("-" * w for w in widths))
    return [line.rstrip() for line in lines]


async def _main(seed: int, out: TextIO) -> int:
    rng = random.Random(seed)
    print(f"brace demo --basics (seed={seed}; rerun with --seed {seed})", file=out)
    rows = [
        await _retry_with_backoff(rng, out),
        await _total_deadline(rng, out),
        await _attempt_timeout(rng, out),
        await _token_cancellation(rng, out),
    ]
    print("\nSummary", file=out)
    for line in _table(rows):
        print(line, file=out)
    return 0


def run_demo(
    *,
    seed: int | None = None,
    out: TextIO | None = None,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Run the demo scenarios against a simulated flaky service.

    Shows retries with jittered exponential backoff, a total deadline, a
    per-attempt timeout and cancellation through a :class:`CancelToken`,
    then prints a summary table. On the default event loop it takes about a
    second of real time.

    Args:
        seed: Makes the run reproducible (all but the elapsed times); a
            random seed is picked and printed when omitted.
        out: Where to write; :data:`sys.stdout` at call time when omitted.
        loop_factory: Creates the event loop to run on, as for
            :class:`asyncio.Runner`; pass
            :class:`brace.testing.VirtualTimeEventLoop` to run without
            waiting in real time.

    Returns:
        The exit status: 0.

    .. versionadded:: 0.1
    """
    if seed is None:
        seed = random.randrange(1_000_000)
    stream = sys.stdout if out is None else out
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_main(seed, stream))
