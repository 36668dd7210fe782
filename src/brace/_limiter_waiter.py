"""ConcurrencyLimiter's waiting-room entries, alike on asyncio and trio.

On asyncio an entry is a bare future from ``loop.create_future()``, the
cheapest waiter there is. On trio it is a :class:`Waiter`: an
:class:`anyio.Event` plus an outcome, offering the part of the future API
that waiting rooms use (``done``, ``set_result``, ``cancel``, ``cancelled``,
``result``), so the code that grants and skips entries is the same for both.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from ._time import running_loop

__all__ = ["GONE", "Entry", "Waiter", "in_loop_thread"]

GONE = -1
"""The outcome of a trio entry whose task left (it was cancelled)."""


class Waiter:
    """A waiting-room entry on trio; outcome ``0`` means still waiting."""

    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        import anyio

        self.event = anyio.Event()
        self.outcome = 0

    def done(self) -> bool:
        return self.outcome != 0

    def set_result(self, outcome: int) -> None:
        self.outcome = outcome
        self.event.set()

    def cancel(self) -> None:
        self.outcome = GONE

    def cancelled(self) -> bool:
        return self.outcome == GONE

    def result(self) -> int:
        return self.outcome


Entry = asyncio.Future[int] | Waiter


def in_loop_thread(
    loop: asyncio.AbstractEventLoop | None, fn: Callable[[], None]
) -> Callable[[object], None]:
    """A token callback that runs *fn* in the running loop's thread.

    :meth:`CancelToken.cancel` may be called from any thread and runs its
    callbacks there; waiting-room state belongs to the loop's thread. Called
    there, the callback runs *fn* at once; elsewhere it schedules *fn* on the
    loop (*loop* on asyncio; ``None`` means the running trio loop).
    """
    if loop is not None:

        def on_asyncio(_: object) -> None:
            if running_loop() is loop:
                fn()
            else:
                loop.call_soon_threadsafe(fn)

        return on_asyncio

    import trio  # the only other backend; imported lazily, like anyio

    owner = threading.get_ident()
    trio_token = trio.lowlevel.current_trio_token()

    def on_trio(_: object) -> None:
        if threading.get_ident() == owner:
            fn()
        else:
            trio_token.run_sync_soon(fn)

    return on_trio
