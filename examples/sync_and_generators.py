"""Retrying plain functions and generators.

The same ``@brace.retry`` decorator works on:

- plain (synchronous) functions: the backoff sleeps with ``time.sleep``;
- generators and async generators: a generator that fails *before its
  first item* (while connecting, say) is restarted with the same arguments.
  Once an item has reached the consumer, a restart would hand it out twice,
  so a later failure propagates unchanged with a note saying why it was not
  retried.

Run it with ``python examples/sync_and_generators.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import brace

QUICK = brace.Backoff.constant(0.01)


def log(event: brace.Event) -> None:
    if isinstance(event, brace.RetryScheduled):
        print(
            f"  {event.name}: attempt {event.attempt} failed ({event.exception_type})"
        )
    elif isinstance(event, brace.RetryGaveUp):
        print(f"  {event.name}: not retried ({event.reason})")


class Flaky:
    """Counts calls; the first *failures* ones fail."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def check(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionResetError(f"reset on call {self.calls}")


@brace.retry(on=ConnectionError, attempts=4, backoff=QUICK, listeners=[log])
def read_settings(server: Flaky) -> dict[str, int]:
    server.check()
    return {"workers": 8}


@brace.retry(on=ConnectionError, attempts=4, backoff=QUICK, listeners=[log])
def rows(db: Flaky, fail_after: int | None = None) -> Iterator[int]:
    db.check()  # "connecting": may fail before anything is yielded
    for n in range(1, 4):
        if fail_after is not None and n > fail_after:
            raise ConnectionResetError("connection lost mid-stream")
        yield n


@brace.retry(on=ConnectionError, attempts=4, backoff=QUICK, listeners=[log])
async def events(feed: Flaky) -> AsyncIterator[str]:
    await asyncio.sleep(0)
    feed.check()
    for name in ("created", "paid", "shipped"):
        yield name


def main() -> None:
    print("1. A plain function:")
    server = Flaky(failures=2)
    print(f"  -> {read_settings(server)} after {server.calls} calls")

    print("\n2. A generator that fails before its first item is restarted:")
    db = Flaky(failures=1)
    print(f"  -> {list(rows(db))} (the generator was started {db.calls} times)")

    print("\n3. A generator that fails after yielding is not:")
    received = []
    try:
        for row in rows(Flaky(failures=0), fail_after=2):
            print(f"  got row {row}")
            received.append(row)
    except ConnectionResetError as exc:
        print(f"  -> {exc!r} after receiving {received}")
        print(f"     note: {exc.__notes__[-1]}")

    print("\n4. Async generators follow the same rule:")

    async def consume() -> list[str]:
        return [name async for name in events(Flaky(failures=1))]

    print(f"  -> {asyncio.run(consume())}")


if __name__ == "__main__":
    main()
