"""Retry basics: the decorator, ``on=``, ``attempts=``, backoff, and giving up.

Shows:

- ``@brace.retry(on=..., attempts=..., backoff=...)`` on an ``async def``;
- ``listeners=`` to watch each scheduled retry (attempt, delay, error);
- ``on=`` as a predicate, so only some errors of a type are retried;
- that an error ``on=`` does not match propagates at once, unretried;
- giving up: the last exception propagates unchanged, with a note that says
  how many attempts were made;
- ``retry_on_result=`` to retry on a returned value;
- seeded jitter, for reproducible delays.

Run it with ``python examples/retry_basics.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable

import brace

# Small delays so that the example runs in a fraction of a second; real
# services want an initial delay of 0.1 s or more.
FAST = brace.Backoff.exponential(initial=0.01, maximum=0.1, jitter="full")


def log(event: brace.Event) -> None:
    """Print what the retry policy decides, as it decides it."""
    if isinstance(event, brace.RetryScheduled):
        what = event.exception_type or f"result {event.result!r}"
        print(
            f"  {event.name}: attempt {event.attempt} failed ({what}), "
            f"retrying in {event.delay * 1000:.0f} ms"
        )
    elif isinstance(event, brace.RetryGaveUp):
        print(
            f"  {event.name}: gave up after {event.attempts} attempts ({event.reason})"
        )


class HTTPError(Exception):
    """A stand-in for an HTTP client's error, carrying a status code."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Fake:
    """A fake dependency that plays back a script: exceptions are raised,
    anything else is returned."""

    def __init__(self, script: Iterable[object]) -> None:
        self.script = iter(script)
        self.calls = 0

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(0)  # a real call would wait for the network here
        outcome = next(self.script)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


@brace.retry(on=ConnectionError, attempts=5, backoff=FAST, listeners=[log])
async def connect(db: Fake) -> object:
    return await db()


def server_error(exc: Exception) -> bool:
    """Retry 5xx responses; a 4xx will fail the same way every time."""
    return isinstance(exc, HTTPError) and exc.status >= 500


@brace.retry(on=server_error, attempts=5, backoff=FAST, listeners=[log])
async def get_user(api: Fake) -> object:
    return await api()


@brace.retry(on=OSError, attempts=3, backoff=FAST, listeners=[log])
async def read_sensor(sensor: Fake) -> object:
    return await sensor()


@brace.retry(
    # on= is required and takes no empty tuple: a predicate that matches
    # nothing says "retry on results only".
    on=lambda exc: False,
    retry_on_result=lambda state: state == "pending",
    attempts=5,
    backoff=brace.Backoff.constant(0.01),
    listeners=[log],
)
async def job_state(job: Fake) -> object:
    return await job()


async def main() -> None:
    print("1. A connection that fails twice, then works:")
    db = Fake([ConnectionRefusedError("refused"), ConnectionResetError("reset"), "ok"])
    print(f"  -> {await connect(db)} after {db.calls} attempts")

    print("\n2. on= as a predicate: the 5xx are retried, the 404 is not:")
    api = Fake([HTTPError(503), HTTPError(502), HTTPError(404)])
    try:
        await get_user(api)
    except HTTPError as exc:
        print(f"  -> {exc} propagated at once, after {api.calls} attempts")

    print("\n3. Giving up re-raises the last exception, unchanged, with a note:")
    sensor = Fake(TimeoutError(f"no answer #{n}") for n in range(1, 10))
    try:
        await read_sensor(sensor)
    except TimeoutError as exc:
        print(f"  -> {type(exc).__name__}: {exc}")
        for note in exc.__notes__:
            print(f"     note: {note}")

    print("\n4. retry_on_result= polls until the job is done:")
    job = Fake(["pending", "pending", "done"])
    print(f"  -> job is {await job_state(job)}")

    print("\n5. Seeded jitter: the same seed gives the same delays:")
    backoff = brace.Backoff.exponential(initial=0.1, maximum=2.0, jitter="full")
    first = [round(d, 3) for d in itertools.islice(backoff.delays(random.Random(1)), 5)]
    again = [round(d, 3) for d in itertools.islice(backoff.delays(random.Random(1)), 5)]
    print(f"  delays: {first}")
    assert first == again


if __name__ == "__main__":
    asyncio.run(main())
