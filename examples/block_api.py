"""The block API: retry a block of code, not a function.

When the code to retry is a few lines inside a bigger function, wrapping it
in a function just to decorate it is clumsy. ``Retry.attempts()`` yields one
``attempt`` per try; run the block in ``with attempt:``. A matching
exception is recorded and suppressed, and the loop moves on to the next
attempt after the backoff delay; after the last attempt it is re-raised,
unchanged, with a note. Anything ``on=`` does not match propagates at once.

- ``async for attempt in policy.attempts():`` sleeps on the event loop and
  supports ``attempt_timeout=``;
- ``for attempt in policy.attempts():`` is the synchronous form, for plain
  functions (it sleeps with ``time.sleep``).

Run it with ``python examples/block_api.py``.
"""

from __future__ import annotations

import asyncio
import time

import brace

POLICY = brace.Retry(
    on=(ConnectionError, TimeoutError),
    attempts=4,
    backoff=brace.Backoff.exponential(initial=0.01, maximum=0.05),
)


class FlakyPages:
    """A fake web site whose first *failures* requests fail."""

    def __init__(self, failures: int) -> None:
        self.failures = failures

    async def fetch(self, number: int) -> str:
        await asyncio.sleep(0)  # a real call would wait for the network here
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionResetError("connection reset")
        return f"page {number}"


async def async_form() -> None:
    print("1. async for ... with attempt:")
    site = FlakyPages(failures=2)
    pages = []
    async for attempt in POLICY.attempts():
        with attempt:
            print(f"  attempt {attempt.number}")
            # Everything in the block is retried together.
            pages = [await site.fetch(1), await site.fetch(2)]
    print(f"  -> {pages}")

    print("\n2. attempt_timeout= limits each attempt of the block:")
    hurried = brace.Retry(
        on=ConnectionError,
        attempts=3,
        attempt_timeout=0.05,
        backoff=brace.Backoff.constant(0.01),
    )
    calls = 0
    async for attempt in hurried.attempts():
        with attempt:
            calls += 1
            if calls == 1:
                print(f"  attempt {attempt.number}: hangs")
                await asyncio.sleep(10)
            print(f"  attempt {attempt.number}: answers at once")
    print(f"  -> done after {calls} attempts; the hang became a retried TimeoutError")

    print("\n3. When every attempt fails, the last error propagates:")
    try:
        async for attempt in POLICY.attempts(name="sync-inventory"):
            with attempt:
                raise ConnectionRefusedError(f"refused (attempt {attempt.number})")
    except ConnectionRefusedError as exc:
        print(f"  -> {exc!r}")
        print(f"     note: {exc.__notes__[-1]}")


def sync_form() -> None:
    print("\n4. The same in synchronous code: for ... with attempt:")
    state = {"tries": 0}

    def read_config() -> dict[str, str]:
        state["tries"] += 1
        if state["tries"] < 3:
            raise TimeoutError("NFS is slow today")
        return {"mode": "production"}

    started = time.monotonic()
    for attempt in POLICY.attempts():
        with attempt:
            print(f"  attempt {attempt.number}")
            config = read_config()
    elapsed = time.monotonic() - started
    print(f"  -> {config} after {elapsed * 1000:.0f} ms of time.sleep backoff")


def main() -> None:
    asyncio.run(async_form())
    sync_form()


if __name__ == "__main__":
    main()
