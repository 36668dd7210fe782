"""When debounced and throttled functions run: the rules, as a state machine.

One :class:`Engine` holds the schedule of one decorated function (or of one
instance, for a method): at most one *pending* batch, collecting calls until
its deadline, and at most one *running* batch, since executions never
overlap. A batch that falls due while another runs waits for it, folding in
the calls made meanwhile, and starts the moment it finishes.

A debounce deadline moves with every call; the timer is not moved with it,
but re-armed when it fires early, as lodash does, so a call costs no timer
operation. The batches themselves, their timers, tasks and waiting, are in
:mod:`brace._debounce_batch`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import anyio
import attrs

from ._debounce_batch import PENDING, RUNNING, Batch, Timer, TrioTimer, cancelled
from ._time import running_loop

__all__ = ["Config", "Engine"]

_NEVER = -math.inf


@attrs.frozen
class Config:
    """The timing rules of one decorated function."""

    throttle: bool
    wait: float  # debounce's wait, throttle's interval
    max_wait: float  # math.inf for none
    leading: bool
    trailing: bool

    @classmethod
    def for_debounce(cls, wait: float, max_wait: float | None) -> Config:
        """lodash's debounce: the trailing edge, and an optional maxWait."""
        limit = math.inf if max_wait is None else max_wait
        return cls(
            throttle=False, wait=wait, max_wait=limit, leading=False, trailing=True
        )

    @classmethod
    def for_throttle(cls, interval: float, *, leading: bool, trailing: bool) -> Config:
        """lodash's throttle: at most one execution start per interval."""
        return cls(True, interval, interval, leading=leading, trailing=trailing)

    def describe(self) -> str:
        """The options, as the decorator took them."""
        if self.throttle:
            edges = f"leading={self.leading} trailing={self.trailing}"
            return f"interval={self.wait:g} {edges}"
        limit = None if self.max_wait == math.inf else f"{self.max_wait:g}"
        return f"wait={self.wait:g} max_wait={limit}"


def _trio_token() -> object:
    import trio

    return trio.lowlevel.current_trio_token()


class Engine:
    """The schedule of one debounced or throttled function (or instance)."""

    __slots__ = (
        "_clear",
        "_config",
        "_fn",
        "_key",
        "_loop",
        "_name",
        "executions",
        "last",
        "last_call",
        "last_start",
        "pending",
        "running",
    )

    def __init__(self, fn: Callable[..., Any], config: Config, name: str) -> None:
        self._fn = fn
        self._config = config
        self._name = name
        self._key: object = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clear: Timer | None = None
        self.pending: Batch | None = None
        self.running: Batch | None = None
        # Throttle without trailing: the execution that covers dropped calls.
        self.last: Batch | None = None
        self.last_call = _NEVER
        self.last_start = _NEVER
        self.executions = 0

    # -- clock and event loop ------------------------------------------------

    def _sync(self, loop: asyncio.AbstractEventLoop | None) -> float:
        """Bind to the running event loop and read its clock."""
        if loop is not None:
            if loop is not self._key:
                self._rebind(loop, loop)
            return loop.time()
        key = _trio_token()
        if key is not self._key:
            self._rebind(key, None)
        return anyio.current_time()

    def _rebind(self, key: object, loop: asyncio.AbstractEventLoop | None) -> None:
        # A new event loop (another asyncio.run(), the next test): what was
        # scheduled on the previous one can never complete on this one.
        self._key = key
        self._loop = loop
        self.pending = self.running = self.last = None
        self._clear = None
        self.last_call = self.last_start = _NEVER

    def _clock(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else anyio.current_time()

    def _arm(
        self, when: float, callback: Callable[[Batch], None], batch: Batch
    ) -> Timer:
        loop = self._loop
        if loop is not None:
            return loop.call_at(when, callback, batch)
        return TrioTimer(when, callback, batch)

    # -- calls ---------------------------------------------------------------

    def admit(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Batch, asyncio.AbstractEventLoop | None]:
        """Record a call; return the batch whose outcome the caller gets."""
        loop = running_loop()
        now = self._sync(loop)
        config = self._config
        pending = self.pending
        if pending is not None:
            if now >= pending.deadline and self.running is None:
                # Due at this very instant, and its timer has not run yet:
                # it runs with the calls it has; this call goes to the next.
                self._start(pending, now)
            else:
                pending.fold(args, kwargs)
                if not config.throttle:
                    if now < pending.deadline:
                        pending.deadline = min(
                            now + config.wait, pending.origin + config.max_wait
                        )
                    self.last_call = now
                return pending, loop
        if config.throttle:
            return self._admit_throttle(now, args, kwargs), loop
        # A new burst. max_wait counts from its first call, unless calls kept
        # coming since an execution that max_wait forced (lodash's
        # lastInvokeTime): then from that execution, so that a steady stream
        # runs exactly every max_wait.
        if (
            now - self.last_call >= config.wait
            or now - self.last_start >= config.max_wait
        ):
            origin = now
        else:
            origin = self.last_start
        batch = Batch(
            args, kwargs, min(now + config.wait, origin + config.max_wait), origin
        )
        batch.undo = self.last_call
        self.last_call = now
        self._schedule(batch)
        return batch, loop

    def _admit_throttle(
        self, now: float, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Batch:
        config = self._config
        ready = self.last_start + config.wait
        if config.leading and now >= ready:
            batch = Batch(args, kwargs, now, now)
            if self.running is None:
                self._start(batch, now)
            else:
                self.pending = batch  # due: starts when the running one ends
            return batch
        if config.trailing:
            deadline = ready if config.leading else max(now + config.wait, ready)
            batch = Batch(args, kwargs, deadline, now)
            self._schedule(batch)
            return batch
        # Dropped: the call gets the outcome of the execution that started
        # this interval, which is kept until the interval ends.
        last = self.last
        if last is None:  # pragma: no cover - now < ready implies an execution
            raise AssertionError("throttle: a dropped call without an execution")
        return last

    def _schedule(self, batch: Batch) -> None:
        self.pending = batch
        batch.timer = self._arm(batch.deadline, self._on_timer, batch)

    def _on_timer(self, batch: Batch) -> None:
        batch.timer = None
        if batch is not self.pending:
            return
        now = self._clock()
        if now < batch.deadline:
            # Calls moved the deadline since this timer was armed.
            batch.timer = self._arm(batch.deadline, self._on_timer, batch)
        elif self.running is None:
            self._start(batch, now)

    # -- executions ----------------------------------------------------------

    def _start(self, batch: Batch, now: float) -> None:
        if self.pending is batch:
            self.pending = None
        batch.disarm()
        batch.state = RUNNING
        batch.undo = self.last_start
        self.last_start = now
        self.running = batch
        self.executions += 1
        if not self._config.trailing:
            if self._clear is not None:
                self._clear.cancel()
                self._clear = None
            self.last = batch
        batch.launch(self._fn, self._loop, self._name, self._finish)

    def _finish(self, batch: Batch, result: Any, error: BaseException | None) -> None:
        batch.resolve(result, error)
        if self.running is not batch:
            return  # a batch of an event loop this engine has left
        self.running = None
        now = self._clock()
        if self.last is batch:
            ready = self.last_start + self._config.wait
            if now >= ready:
                self.last = None
            else:
                self._clear = self._arm(ready, self._forget_last, batch)
        pending = self.pending
        if pending is not None and now >= pending.deadline:
            self._start(pending, now)

    def _forget_last(self, batch: Batch) -> None:
        # The interval is over: no call can be dropped onto this outcome any
        # more, so stop holding it (and whatever its traceback references).
        self._clear = None
        if self.last is batch:
            self.last = None

    def _discard(self, batch: Batch, why: str, reason: object = None) -> None:
        """Give up a batch that has not started."""
        if self.pending is batch:
            self.pending = None
        batch.disarm()
        batch.resolve(None, cancelled(self._name, why, reason))

    def leave(self, batch: Batch) -> bool:
        """A caller stopped waiting; ``True`` if it must join the execution."""
        batch.waiting -= 1
        if batch.waiting:
            return False
        if batch.state == PENDING:
            # Nobody wants it any more: drop it, as if its calls never were.
            if self.pending is batch and not self._config.throttle:
                self.last_call = batch.undo
            self._discard(batch, "nobody waits for the execution any more")
            return False
        # Running: cancel it; it does not count as an execution.
        if self.running is batch:
            self.executions -= 1
            self.last_start = batch.undo
            if self.last is batch:
                self.last = None
        batch.cancel_run()
        return True

    # -- the wrapper's helpers ------------------------------------------------

    def cancel(self, reason: object) -> None:
        """Discard the pending batch (its callers get Cancelled) and reset."""
        pending = self.pending
        if pending is not None:
            why = "the scheduled execution was cancelled with cancel()"
            self._discard(pending, why, reason)
        if self._clear is not None:
            self._clear.cancel()
            self._clear = None
        self.last = None
        self.last_call = self.last_start = _NEVER

    def flush_now(self) -> Batch | None:
        """Make the pending batch due now; return the batch to wait for."""
        now = self._sync(running_loop())
        pending = self.pending
        if pending is None:
            return self.running
        pending.deadline = min(pending.deadline, now)
        if self.running is None:
            self._start(pending, now)
        return pending

    async def watch(self, batch: Batch) -> None:
        """Wait until *batch* is done, without being one of its callers."""
        await batch.watch(self._loop)

    def waiting(self) -> int:
        """How many callers wait now."""
        return sum(b.waiting for b in (self.pending, self.running) if b is not None)
