"""The state of one hedged call on asyncio, once it has hedged (or may
hedge after its primary failed), and how it ends.

The primary attempt runs inline in the caller's task; hedges run in tasks
of their own. Everything here runs either in the caller's task (after the
primary ended) or in loop callbacks (timers, a hedge's completion), never
concurrently, so plain attributes need no locking.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._hedge import Hedge

__all__ = [
    "ARGS",
    "CANCELLING",
    "CONTEXT",
    "DEADLINE",
    "DELAY",
    "FN",
    "KWARGS",
    "NAME",
    "RACE",
    "START",
    "TASK",
    "Race",
    "settle",
]

_CancelledError = asyncio.CancelledError

# A pending call, as a list (the cheapest object to build on every call):
DEADLINE = 0  # loop time at which the first hedge is due
# None while the primary runs alone and may still be hedged; False once it
# cannot be (it finished, or the budget refused); the Race once hedged.
RACE = 1
TASK = 2  # the caller's task, which runs the primary
CANCELLING = 3  # task.cancelling() at entry, to tell whose cancellation
CONTEXT = 4  # a copy of the caller's context, for the hedges
START = 5
DELAY = 6
FN, ARGS, KWARGS, NAME = 7, 8, 9, 10


async def _attempt(fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
    return await fn(*args, **kwargs)


class Race:
    """The state of one call once it has hedged (or may hedge after failing)."""

    __slots__ = (
        "cancel_requested",
        "cancelling",
        "context",
        "decided",
        "delay",
        "elapsed",
        "entry",
        "errors",
        "fatal",
        "hedges",
        "last_withdraw",
        "loop",
        "policy",
        "primary_error",
        "primary_running",
        "refused",
        "started",
        "task",
        "timer",
        "value",
        "waiter",
        "winner",
    )

    def __init__(
        self,
        policy: Hedge,
        loop: asyncio.AbstractEventLoop,
        entry: list[Any],
        *,
        primary_running: bool,
    ) -> None:
        self.policy = policy
        self.loop = loop
        self.entry = entry
        self.task: asyncio.Task[Any] = entry[TASK]
        self.cancelling: int = entry[CANCELLING]
        self.context: contextvars.Context = entry[CONTEXT]
        self.delay: float = entry[DELAY]
        self.started = 1
        self.hedges: dict[asyncio.Task[Any], int] = {}
        self.primary_running = primary_running
        self.primary_error: BaseException | None = None
        self.errors: list[BaseException] = []
        self.last_withdraw: Exception | None = None
        self.decided = False
        self.refused = False
        self.winner = 0
        self.value: Any = None
        self.elapsed = 0.0
        self.fatal: BaseException | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.cancel_requested = False

    # -- starting hedges (loop callbacks and the caller's task) --------------

    def can_hedge(self) -> bool:
        return (
            not self.decided
            and not self.refused
            and self.started <= self.policy.max_hedges
        )

    def start_hedge(self, reason: str, error: Exception | None) -> bool:
        if not self.can_hedge():
            return False
        policy = self.policy
        if not policy._withdraw(error):
            self.refused = True
            self.cancel_timer()
            return False
        self.started += 1
        self.last_withdraw = error
        entry = self.entry
        policy._started(entry[NAME], self.started, reason, self.delay, error)
        task = self.loop.create_task(
            _attempt(entry[FN], entry[ARGS], entry[KWARGS]),
            context=self.context.copy(),
        )
        self.hedges[task] = self.started
        task.add_done_callback(self.hedge_done)
        return True

    def arm(self, when: float) -> None:
        self.timer = self.loop.call_at(when, self.on_timer)

    def arm_next(self) -> None:
        """Schedule the next hedge one delay from now, if one may start."""
        self.cancel_timer()
        if self.can_hedge():
            self.arm(self.loop.time() + self.delay)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def on_timer(self) -> None:
        self.timer = None
        if self.start_hedge("delay", None):
            self.arm_next()
        self.check_exhausted()

    def failed(self, error: Exception) -> None:
        """An attempt failed with an error that ``on`` matches."""
        if self.policy.hedge_on_failure and self.start_hedge("failure", error):
            self.arm_next()
        self.check_exhausted()

    # -- outcomes --------------------------------------------------------------

    def hedge_done(self, task: asyncio.Task[Any]) -> None:
        attempt = self.hedges.pop(task)
        # Always retrieve the outcome, so that a loser's late exception is
        # never logged as "never retrieved".
        error = None if task.cancelled() else task.exception()
        if self.decided:
            self.wake()
            return
        if task.cancelled():
            # Not by this race (it cancels only once decided): the attempt
            # just ended without an outcome.
            self.check_exhausted()
        elif error is None:
            self.decide(attempt, task.result(), None)
        else:
            fatal = self.policy._fatal(error)
            if fatal is not None:
                self.decide(0, None, fatal)
            else:
                self.errors.append(error)
                assert isinstance(error, Exception)  # noqa: S101 (_fatal said so)
                self.failed(error)

    def decide(self, winner: int, value: Any, fatal: BaseException | None) -> None:
        """End the race: *winner* won with *value*, or *fatal* ends it."""
        self.decided = True
        self.winner = winner
        self.value = value
        self.fatal = fatal
        self.cancel_timer()
        for task in self.hedges:
            task.cancel()
        self.elapsed = self.loop.time() - self.entry[START]
        window = self.policy._window
        if window is not None and (winner == 1 or (winner and self.primary_running)):
            # A primary beaten by a hedge took at least this long.
            window.add(self.elapsed)
        if self.primary_running:
            self.cancel_requested = True
            self.task.cancel()
        else:
            self.wake()

    def check_exhausted(self) -> None:
        """Decide "all failed" once nothing runs and nothing can start."""
        if (
            not self.decided
            and not self.primary_running
            and not self.hedges
            and self.timer is None
        ):
            self.decided = True
            self.wake()

    def abort(self) -> None:
        """Stop everything: the caller is going away (cancelled, interrupted)."""
        self.decided = True
        self.cancel_timer()
        for task in self.hedges:
            task.cancel()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the caller's side -----------------------------------------------------

    def primary_returned(self, value: Any) -> None:
        self.primary_running = False
        if self.cancel_requested:
            # Decided already; the primary swallowed the cancellation.
            self.cancel_requested = False
            self.task.uncancel()
        else:
            self.decide(1, value, None)

    def primary_raised(self, error: BaseException) -> BaseException | None:
        """Take in the primary's failure; return what must propagate now."""
        self.primary_running = False
        if self.cancel_requested:
            self.cancel_requested = False
            # Ours, unless someone else cancelled too (the count stays above
            # what it was at entry) or the primary raised something that no
            # cancellation explains (KeyboardInterrupt, SystemExit).
            if self.task.uncancel() > self.cancelling or not isinstance(
                error, Exception | _CancelledError
            ):
                return error
            return None
        if not isinstance(error, Exception):
            return error
        fatal = self.policy._fatal(error)
        if fatal is not None:
            self.decide(0, None, fatal)
        else:
            self.primary_error = error
            self.failed(error)
        return None

    async def conclude(self) -> Any:
        """Wait for the outcome, then for every hedge to end; deliver it."""
        if not self.decided:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            except BaseException as exc:
                self.abort()
                # A coroutine being closed must not await any more.
                if not isinstance(exc, GeneratorExit):
                    await self.drain()
                raise
        await self.drain()
        if self.winner:
            self.policy._succeeded(
                self.entry[NAME],
                self.winner,
                self.started,
                self.last_withdraw,
                self.elapsed,
            )
            return self.value
        if self.fatal is not None:
            raise self.fatal
        assert self.primary_error is not None  # noqa: S101
        raise self.policy._all_failed(self.primary_error, self.errors)

    async def drain(self) -> None:
        """Wait until every hedge task has finished (they are cancelled)."""
        interrupted: BaseException | None = None
        while self.hedges:
            self.waiter = self.loop.create_future()
            try:
                await self.waiter
            except _CancelledError as exc:
                # Cancelled while cleaning up: the hedges are cancelled
                # already; let them finish their own clean-up first, as
                # asyncio.TaskGroup does, then propagate.
                interrupted = exc
        if interrupted is not None:
            raise interrupted


async def settle(race: Race, value: Any, error: BaseException | None) -> Any:
    """Finish a call whose primary ended while a race existed."""
    if error is None:
        race.primary_returned(value)
    else:
        escape = race.primary_raised(error)
        if escape is not None:
            race.abort()
            # A coroutine being closed must not await any more.
            if not isinstance(escape, GeneratorExit):
                await race.drain()
            raise escape
    return await race.conclude()
