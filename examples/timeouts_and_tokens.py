"""Timeouts and cancellation tokens.

Shows:

- ``brace.Timeout`` as a decorator, with ``.call()`` and as ``async with``;
  it raises ``brace.TimeoutError``, which is also the builtin
  ``TimeoutError``, so existing ``except TimeoutError`` clauses keep working;
- ``brace.CancelToken``: ``scope()`` interrupts a block when the token is
  cancelled and raises ``brace.Cancelled`` with the reason;
- ``CancelToken.after(seconds)``: a token that cancels itself;
- ``CancelToken.any(a, b)``: a linked token, cancelled when any parent is;
- ``on_cancel()`` callbacks and ``await token.wait()``.

Run it with ``python examples/timeouts_and_tokens.py``.
"""

from __future__ import annotations

import asyncio

import brace


def log(event: brace.Event) -> None:
    if isinstance(event, brace.TimeoutFired):
        print(f"  event: {event.name} timed out after {event.timeout} s")


@brace.Timeout(0.05, listeners=[log])
async def slow_query() -> str:
    await asyncio.sleep(10)  # far longer than the timeout allows
    return "rows"


async def quick_query() -> str:
    await asyncio.sleep(0.01)
    return "rows"


async def main() -> None:
    print("1. Timeout as a decorator:")
    try:
        await slow_query()
    except brace.TimeoutError as exc:
        print(f"  -> {exc}")
        print(f"     also a builtin TimeoutError: {isinstance(exc, TimeoutError)}")

    print("\n2. Timeout.call() and async with brace.timeout(...):")
    print(f"  -> quick_query within 1 s: {await brace.Timeout(1.0).call(quick_query)}")
    try:
        async with brace.timeout(0.03):
            await quick_query()
            print("  first query done inside the block")
            await asyncio.sleep(10)
            print("  (never printed)")
    except TimeoutError as exc:
        print(f"  -> the block was interrupted: {exc}")

    print("\n3. CancelToken.after() with scope(): a self-cancelling block:")
    token = brace.CancelToken.after(0.03, reason="took too long")
    try:
        with token.scope():
            await asyncio.sleep(10)
    except brace.Cancelled as exc:
        print(f"  -> brace.Cancelled: reason={exc.reason!r}")

    print("\n4. CancelToken.any(): stop on shutdown OR on a watchdog, whichever first:")
    shutdown = brace.CancelToken(name="shutdown")
    watchdog = brace.CancelToken.after(5.0, reason="watchdog")
    either = brace.CancelToken.any(shutdown, watchdog, name="either")
    handle = either.on_cancel(lambda reason: print(f"  on_cancel callback: {reason}"))

    async def worker() -> None:
        reason = await either.wait()
        print(f"  worker woke up: {reason}")

    waiting = asyncio.create_task(worker())
    asyncio.get_running_loop().call_later(0.02, shutdown.cancel, "SIGTERM")
    await waiting
    print(f"  the watchdog itself is still active: {not watchdog.cancelled}")
    assert not handle.remove()  # the callback already ran
    watchdog.cancel("no longer needed")  # stop its timer

    print("\n5. A token passed to a retry policy stops it between attempts:")
    stop = brace.CancelToken.after(0.06, reason="user pressed stop")
    policy = brace.Retry(
        on=ConnectionError,
        attempts=None,  # no limit: the token bounds the retrying
        backoff=brace.Backoff.constant(0.04),
        cancel=stop,
    )
    attempts = 0

    async def flaky() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionResetError

    try:
        await policy.call(flaky)
    except brace.Cancelled as exc:
        print(f"  -> brace.Cancelled after {attempts} attempts: {exc.reason}")
        print(f"     caused by the last error: {exc.__cause__!r}")


if __name__ == "__main__":
    asyncio.run(main())
