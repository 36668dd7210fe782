"""The same primitives under trio.

brace reads the clock and sleeps through anyio, so retries, timeouts and
cancellation tokens work unchanged when the program runs under
``trio.run()``: backoff sleeps are trio sleeps, timeouts are trio cancel
scopes, and ``CancelToken.after`` measures its delay on trio's clock.

Run it with ``python examples/trio_example.py`` (needs ``pip install trio``).
"""

from __future__ import annotations

import sys

import brace

try:
    import trio
except ImportError:  # pragma: no cover - trio is an optional dependency
    trio = None


def log(event: brace.Event) -> None:
    if isinstance(event, brace.RetryScheduled):
        print(
            f"  attempt {event.attempt} failed ({event.exception_type}); "
            f"next in {event.delay * 1000:.0f} ms"
        )


class Flaky:
    """Fails the first *failures* calls; *hang* makes the first call hang."""

    def __init__(self, failures: int = 0, *, hang: bool = False) -> None:
        self.failures = failures
        self.hang = hang
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.hang and self.calls == 1:
            await trio.sleep(10)
        await trio.sleep(0.001)
        if self.calls <= self.failures:
            raise ConnectionResetError("connection reset")
        return "pong"


POLICY = brace.Retry(
    on=ConnectionError,
    attempts=4,
    backoff=brace.Backoff.exponential(initial=0.01, maximum=0.05),
    attempt_timeout=0.05,
    listeners=[log],
)


@brace.Timeout(0.03)
async def stuck() -> None:
    await trio.sleep(10)


async def main() -> None:
    print("1. Retry with backoff, under trio:")
    ping = Flaky(failures=2)
    print(f"  -> {await POLICY.call(ping)} after {ping.calls} attempts")

    print("\n2. attempt_timeout= cuts a hanging attempt short:")
    ping = Flaky(hang=True)
    print(f"  -> {await POLICY.call(ping)} after {ping.calls} attempts")

    print("\n3. Timeout as a decorator and as async with:")
    try:
        await stuck()
    except brace.TimeoutError as exc:
        print(f"  -> {exc}")
    try:
        async with brace.timeout(0.02):
            await trio.sleep(10)
    except TimeoutError as exc:
        print(f"  -> {exc}")

    print("\n4. CancelToken.after() and scope(), on trio's clock:")
    token = brace.CancelToken.after(0.02, reason="deadline for the batch")
    try:
        with token.scope():
            await trio.sleep(10)
    except brace.Cancelled as exc:
        print(f"  -> brace.Cancelled: {exc.reason}")

    print("\n5. A token cancelled from another task stops a sleeping retry:")
    stop = brace.CancelToken(name="stop")
    patient = brace.Retry(
        on=ConnectionError,
        attempts=10,
        backoff=brace.Backoff.constant(0.05),
        cancel=stop,
    )
    async with trio.open_nursery() as nursery:

        async def press_stop() -> None:
            await trio.sleep(0.03)
            stop.cancel("stop button")

        nursery.start_soon(press_stop)
        ping = Flaky(failures=100)
        try:
            await patient.call(ping)
        except brace.Cancelled as exc:
            print(f"  -> brace.Cancelled after {ping.calls} attempt(s): {exc.reason}")


if __name__ == "__main__":
    if trio is None:  # pragma: no cover
        print("trio is not installed; skipping (pip install trio)")
        sys.exit(0)
    trio.run(main)
