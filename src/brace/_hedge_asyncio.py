"""Hedging on asyncio: the primary attempt runs inline in the caller's task.

A coroutine that is already running cannot be moved into a task, and
starting every primary as a task (then ``asyncio.wait`` with a timeout)
costs a task, a timer and a wait per call, about 15 microseconds here. So
the primary is awaited directly by the caller, and only hedges get tasks.
When a hedge wins, the caller's task is cancelled the way
:func:`asyncio.timeout` does it (``Task.cancel``, then ``uncancel`` when
the cancellation arrives), which interrupts the primary and nothing else:
a cancellation from outside is never mistaken for it.

Calls that never hedge are the common case, so they do not get a timer
each either: one :class:`Scheduler` per policy and loop keeps the pending
calls in a deque ordered by deadline, behind a single loop timer. A call
appends a small list on entry and pops it on exit; the timer fires only at
the earliest deadline still pending, and starts the first hedge of every
call that is due. The rest of a hedged call (more hedges, the wait, the
clean-up) is per-call state in a ``_hedge_race.Race``.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from ._hedge_race import (
    DEADLINE,
    NAME,
    RACE,
    START,
    Race,
    settle,
)
from ._time import PyLoop, loop_clock, running_loop

if TYPE_CHECKING:
    from ._hedge import Hedge

__all__ = ["Scheduler", "hedged"]

_current_task = asyncio.current_task
_get_ident = threading.get_ident
_copy_context = contextvars.copy_context


def _deadline(entry: list[Any]) -> float:
    deadline: float = entry[DEADLINE]
    return deadline


class Scheduler:
    """Starts the first hedge of each due call of one policy on one loop."""

    __slots__ = (
        "__weakref__",
        "armed",
        "clock",
        "handle",
        "loop",
        "native",
        "policy",
        "queue",
    )

    def __init__(self, policy: Hedge, loop: asyncio.AbstractEventLoop) -> None:
        self.policy = policy
        self.loop = loop
        self.queue: deque[list[Any]] = deque()
        # The deadline that the loop timer is set for, or None if unset.
        self.armed: float | None = None
        self.handle: asyncio.TimerHandle | None = None
        # asyncio's own loops set _thread_id exactly while they run, which
        # tells cheaply whether this loop is the one running (hedged());
        # None for other loops (uvloop).
        self.native: PyLoop | None = (
            cast("PyLoop", loop) if isinstance(loop, asyncio.BaseEventLoop) else None
        )
        self.clock: Callable[[], float] = loop_clock(loop)

    def arm(self, deadline: float) -> None:
        self.armed = deadline
        self.handle = self.loop.call_at(deadline, self.fire)

    def add(self, entry: list[Any]) -> None:
        queue = self.queue
        deadline: float = entry[DEADLINE]
        if queue and deadline < queue[-1][DEADLINE]:
            # Only a percentile delay that just dropped gets here: a fixed
            # delay makes deadlines non-decreasing.
            queue.insert(bisect_right(queue, deadline, key=_deadline), entry)
        else:
            queue.append(entry)
        armed = self.armed
        if armed is None or deadline < armed:
            if self.handle is not None:
                self.handle.cancel()
            self.arm(deadline)

    def discard(self, entry: list[Any]) -> None:
        """Forget a call whose primary finished without being hedged."""
        entry[RACE] = False
        queue = self.queue
        # Calls usually finish in the order they started; others stay
        # queued until they reach the head (here or in fire()).
        if queue and queue[0] is entry:
            queue.popleft()
            while queue and queue[0][RACE] is False:
                queue.popleft()

    def fire(self) -> None:
        armed, self.armed, self.handle = self.armed, None, None
        loop = self.loop
        # The loop runs timers slightly early (within its clock
        # resolution): whatever this timer was set for is due.
        due = loop.time()
        if armed is not None and armed > due:
            due = armed
        queue = self.queue
        while queue:
            entry = queue[0]
            if entry[RACE] is not None:
                queue.popleft()
                continue
            if entry[DEADLINE] > due:
                self.arm(entry[DEADLINE])
                return
            queue.popleft()
            race = Race(self.policy, loop, entry, primary_running=True)
            if race.start_hedge("delay", None):
                entry[RACE] = race
                race.arm_next()
            else:
                entry[RACE] = False


async def _unhedged(
    scheduler: Scheduler, entry: list[Any], value: Any, error: BaseException | None
) -> Any:
    """Finish a call whose primary ended with no hedge started."""
    race = entry[RACE]
    if race is None:
        scheduler.discard(entry)
    elif race is not False:
        return await settle(race, value, error)
    policy = scheduler.policy
    loop = scheduler.loop
    if error is None:
        elapsed = loop.time() - entry[START]
        if policy._window is not None:
            policy._window.add(elapsed)
        policy._succeeded(entry[NAME], 1, 1, None, elapsed)
        return value
    fatal = policy._fatal(error)
    if fatal is not None or race is False:
        # Not a failure to hedge past, or the budget already said no.
        raise error if fatal is None else fatal
    assert isinstance(error, Exception)  # noqa: S101 (_fatal said so)
    race = Race(policy, loop, entry, primary_running=False)
    race.primary_error = error
    if policy.hedge_on_failure:
        race.failed(error)
    else:
        race.arm(entry[DEADLINE])
    return await race.conclude()


async def _parallel(
    policy: Hedge,
    loop: asyncio.AbstractEventLoop,
    task: asyncio.Task[Any],
    fn: Callable[..., Awaitable[Any]],
    args: Any,
    kwargs: Any,
    name: str,
) -> Any:
    """``delay=0``: every attempt starts at once."""
    start = loop.time()
    entry: list[Any] = [
        start, None, task, task.cancelling(), _copy_context(), start, 0.0,
        fn, args, kwargs, name,
    ]  # fmt: skip
    race = Race(policy, loop, entry, primary_running=True)
    while race.start_hedge("delay", None):
        pass
    try:
        value = await fn(*args, **kwargs)
    except BaseException as exc:
        error: BaseException | None = exc
    else:
        error = None
    return await settle(race, value if error is None else None, error)


def _scheduler(policy: Hedge, loop: asyncio.AbstractEventLoop) -> Scheduler:
    holder = policy._schedulers
    scheduler = holder.by_loop.get(loop)
    if scheduler is None:
        scheduler = holder.by_loop[loop] = Scheduler(policy, loop)
    holder.last = scheduler
    return scheduler


def hedged(
    policy: Hedge, fn: Callable[..., Awaitable[Any]], name: str
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """The hedged version of *fn* (without its metadata)."""
    holder = policy._schedulers
    fixed = policy._fixed
    window = policy._window
    record = None if window is None else window.add
    percentile = None if window is None else window.value
    initial_delay = policy.initial_delay or 0.0
    # With a percentile delay, _fixed is None and unused.
    fixed_delay = policy._fixed or 0.0
    budget = policy.budget

    async def hedged_call(*args: Any, **kwargs: Any) -> Any:
        scheduler = holder.last
        # Asking for the running loop costs a getpid() system call on
        # Python 3.11; the loop of the last call, if it is running in this
        # thread, is the same answer (a thread runs one loop at a time).
        if (
            scheduler is None
            or scheduler.native is None
            or scheduler.native._thread_id != _get_ident()
        ):
            running = running_loop()
            if running is None:
                from ._hedge_anyio import run

                return await run(policy, fn, args, kwargs, name)
            if scheduler is None or scheduler.loop is not running:
                scheduler = _scheduler(policy, running)
        loop = scheduler.loop
        task = _current_task(loop)
        if task is None:
            msg = "a Hedge must be awaited inside a task"
            raise RuntimeError(msg)
        if fixed == 0:
            return await _parallel(policy, loop, task, fn, args, kwargs, name)
        start = scheduler.clock()
        queue = scheduler.queue
        if percentile is not None:
            delay = percentile()
            if delay is None:
                delay = initial_delay
            entry: list[Any] = [
                start + delay, None, task, task.cancelling(), _copy_context(),
                start, delay, fn, args, kwargs, name,
            ]  # fmt: skip
            scheduler.add(entry)
        else:
            # Scheduler.add() inlined: with a fixed delay, deadlines only
            # grow, so the entry goes last and only an idle timer needs
            # arming.
            entry = [
                start + fixed_delay, None, task, task.cancelling(),
                _copy_context(), start, fixed_delay, fn, args, kwargs, name,
            ]  # fmt: skip
            queue.append(entry)
            if scheduler.armed is None:
                scheduler.arm(start + fixed_delay)
        try:
            value = await fn(*args, **kwargs)
        except BaseException as exc:
            error = exc
        else:
            if entry[RACE] is None:
                # The primary won alone, the common case: Scheduler.discard()
                # inlined (the entry is still queued, since fire() did not
                # take it).
                entry[RACE] = False
                if queue[0] is entry:
                    queue.popleft()
                    while queue and queue[0][RACE] is False:
                        queue.popleft()
                if record is not None:
                    record(scheduler.clock() - start)
                if budget is not None:
                    budget.deposit(1, None)
                return value
            return await _unhedged(scheduler, entry, value, None)
        return await _unhedged(scheduler, entry, None, error)

    return hedged_call
