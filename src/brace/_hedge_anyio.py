"""Hedging on trio and other anyio backends: every attempt in a task group.

The calling task runs the schedule (start a hedge when the delay passes or
an attempt fails) and the attempts run as children of one task group, so
structured concurrency gives the guarantees directly: leaving the group,
by any route, cancels and awaits every attempt. Performance is judged on
asyncio, which has its own driver (``_hedge_asyncio``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ._hedge import Hedge

__all__ = ["run"]


class _Race:
    """The state of one hedged call."""

    __slots__ = (
        "args",
        "changed",
        "decided",
        "elapsed",
        "errors",
        "fatal",
        "fn",
        "kwargs",
        "pending",
        "policy",
        "primary_done",
        "primary_error",
        "running",
        "start",
        "value",
        "winner",
    )

    def __init__(
        self,
        policy: Hedge,
        fn: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: Any,
        start: float,
    ) -> None:
        self.policy = policy
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.start = start
        self.changed = anyio.Event()
        self.running = 0
        self.primary_done = False
        self.primary_error: Exception | None = None
        self.errors: list[BaseException] = []
        # Failures that may start the next hedge at once (hedge_on_failure).
        self.pending: list[Exception] = []
        self.decided = False
        self.winner = 0
        self.value: Any = None
        self.elapsed = 0.0
        self.fatal: BaseException | None = None

    async def attempt(self, number: int) -> None:
        # self.running was counted up when the attempt was started.
        try:
            value = await self.fn(*self.args, **self.kwargs)
        except Exception as exc:
            self.running -= 1
            if number == 1:
                self.primary_done = True
            if not self.decided:
                self.failed(number, exc)
        else:
            self.running -= 1
            if not self.decided:
                self.decide(number, value, None)
            if number == 1:
                self.primary_done = True
        self.changed.set()

    def failed(self, number: int, error: Exception) -> None:
        fatal = self.policy._fatal(error)
        if fatal is not None:
            self.decide(0, None, fatal)
            return
        if number == 1:
            self.primary_error = error
        else:
            self.errors.append(error)
        if self.policy.hedge_on_failure:
            self.pending.append(error)

    def decide(self, winner: int, value: Any, fatal: BaseException | None) -> None:
        self.decided = True
        self.winner = winner
        self.value = value
        self.fatal = fatal
        self.elapsed = anyio.current_time() - self.start
        window = self.policy._window
        if window is not None and (winner == 1 or (winner and not self.primary_done)):
            # A primary beaten by a hedge took at least this long.
            window.add(self.elapsed)


async def run(
    policy: Hedge,
    fn: Callable[..., Awaitable[Any]],
    args: Any,
    kwargs: Any,
    name: str,
) -> Any:
    """Await a hedged call of ``fn(*args, **kwargs)``."""
    clock = anyio.current_time
    start = clock()
    delay = policy._delay_now()
    race = _Race(policy, fn, args, kwargs, start)
    started = 1
    last_withdraw: Exception | None = None
    refused = False
    escaped: BaseException | None = None
    try:
        async with anyio.create_task_group() as group:
            race.running = 1
            group.start_soon(race.attempt, 1)
            next_at = start + delay
            while not race.decided:
                can_hedge = not refused and started <= policy.max_hedges
                if not can_hedge:
                    race.pending.clear()
                    if race.running == 0:
                        break  # every attempt failed
                now = clock()
                if can_hedge and (race.pending or now >= next_at):
                    error = race.pending.pop(0) if race.pending else None
                    if not policy._withdraw(error):
                        refused = True
                        continue
                    started += 1
                    last_withdraw = error
                    reason = "delay" if error is None else "failure"
                    policy._started(name, started, reason, delay, error)
                    race.running += 1
                    group.start_soon(race.attempt, started)
                    next_at = now + delay
                    continue
                race.changed = anyio.Event()
                with anyio.CancelScope(deadline=next_at if can_hedge else math.inf):
                    await race.changed.wait()
            group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        # Only a BaseException other than cancellation (the attempts catch
        # every Exception) gets here, wrapped by the task group.
        if len(group_error.exceptions) != 1:
            raise
        escaped = group_error.exceptions[0]
    if escaped is not None:
        raise escaped
    if race.winner:
        policy._succeeded(name, race.winner, started, last_withdraw, race.elapsed)
        return race.value
    if race.fatal is not None:
        raise race.fatal
    assert race.primary_error is not None  # noqa: S101
    raise policy._all_failed(race.primary_error, race.errors)
