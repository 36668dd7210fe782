"""Batches of calls for debounce and throttle, and how they run and are awaited.

A batch is one execution of the decorated function, with the arguments of
the batch's latest call, and the callers awaiting its outcome. This module is
the event-loop plumbing: timers, the task an execution runs in, and the
waiting; :mod:`brace._debounce_engine` decides when batches start.

- Timers: on asyncio a ``loop.call_at`` handle; on trio a system task asleep
  in a cancel scope.
- Executions run in a task of their own (an asyncio task, a trio system
  task), so that no one caller's cancellation can cancel what the others
  wait for. The engine cancels the task when its last caller stops waiting.
- Waiting: on asyncio each caller awaits a bare future of its own (a shared
  one would be cancelled along with the first caller that is), in the
  wrapper's own frame; elsewhere an ``anyio.Event`` per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
from collections.abc import Callable, Coroutine
from typing import Any

import anyio

from ._errors import Cancelled

__all__ = ["DONE", "PENDING", "RUNNING", "Batch", "TrioTimer", "cancelled", "join"]

PENDING, RUNNING, DONE = 0, 1, 2

Finish = Callable[["Batch", Any, "BaseException | None"], None]


def cancelled(name: str, why: str, reason: object = None) -> Cancelled:
    """A :class:`brace.Cancelled` whose message says what was cancelled."""
    error = Cancelled(reason)
    tail = "" if reason is None else f": {reason}"
    error.args = (f"{name}: {why}{tail}",)
    return error


class TrioTimer:
    """``callback(arg)`` at *when* on trio, from a sleeping system task."""

    __slots__ = ("_arg", "_callback", "_scope")

    def __init__(
        self, when: float, callback: Callable[[Any], object], arg: Any
    ) -> None:
        import trio

        self._scope = trio.CancelScope(deadline=when)
        self._callback: Callable[[Any], object] | None = callback
        self._arg = arg
        trio.lowlevel.spawn_system_task(self._sleep, name="brace debounce timer")

    async def _sleep(self) -> None:
        import trio

        with self._scope:
            await trio.sleep_forever()
        callback = self._callback
        if callback is not None:
            self._callback = None
            callback(self._arg)

    def cancel(self) -> None:
        """Never call back; end the sleeping task."""
        self._callback = None
        self._scope.cancel()


Timer = asyncio.TimerHandle | TrioTimer


class Batch:
    """The calls folded into one execution, and the callers awaiting it."""

    __slots__ = (
        "abandoned",
        "args",
        "context",
        "deadline",
        "error",
        "event",
        "futures",
        "gone",
        "kwargs",
        "origin",
        "result",
        "scope",
        "state",
        "task",
        "tb",
        "timer",
        "undo",
        "waiting",
    )

    def __init__(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float,
        origin: float,
    ) -> None:
        self.args = args
        self.kwargs = kwargs
        # The execution runs in the context of the call whose arguments it
        # uses, so context variables (request ids, tracing) follow them.
        self.context: contextvars.Context | None = contextvars.copy_context()
        self.deadline = deadline
        self.origin = origin  # where debounce's max_wait is counted from
        self.state = PENDING
        self.waiting = 0  # callers waiting (flush() watches without counting)
        self.futures: list[asyncio.Future[Any]] = []
        self.gone = 0  # futures in the list whose caller left
        self.event: anyio.Event | None = None
        self.timer: Timer | None = None
        self.task: asyncio.Task[Any] | None = None
        self.scope: Any = None  # the trio execution's cancel scope
        self.abandoned = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.tb: Any = None
        # The engine's clock state before this batch, restored if the batch
        # is given up: the last call's time while pending, the last start
        # once running.
        self.undo = -math.inf

    def fold(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Take a later call's arguments (and context) for the execution."""
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()

    def disarm(self) -> None:
        """Cancel the timer, if one is set."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def outcome(self) -> Any:
        """Return the execution's result or raise its exception."""
        error = self.error
        if error is not None:
            # From the stored traceback, so that each caller's raise starts
            # at the execution's frames instead of piling onto the last one.
            raise error.with_traceback(self.tb)
        return self.result

    def resolve(self, result: Any, error: BaseException | None) -> None:
        """Record the outcome and wake every caller and watcher."""
        self.state = DONE
        self.args, self.kwargs, self.context = (), {}, None
        self.result = result
        self.error = error
        if error is not None:
            self.tb = error.__traceback__
        futures, self.futures = self.futures, []
        for future in futures:
            if not future.done():
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
        if self.event is not None:
            self.event.set()

    # -- running ------------------------------------------------------------------

    def launch(
        self,
        fn: Callable[..., Any],
        loop: asyncio.AbstractEventLoop | None,
        name: str,
        finish: Finish,
    ) -> None:
        """Start the execution in a task of its own; *finish* gets the outcome."""
        args, kwargs, context = self.args, self.kwargs, self.context
        self.args, self.kwargs, self.context = (), {}, None
        try:
            coro = fn(*args, **kwargs)
        except Exception as exc:  # arguments that do not fit: the callers get it
            finish(self, None, exc)
            return
        if loop is not None:
            task = loop.create_task(coro, context=context)
            self.task = task
            task.add_done_callback(functools.partial(_task_done, self, name, finish))
        else:
            import trio

            trio.lowlevel.spawn_system_task(
                self._run_trio, coro, name, finish, context=context, name=name
            )

    async def _run_trio(
        self, coro: Coroutine[Any, Any, Any], name: str, finish: Finish
    ) -> None:
        import trio

        with trio.CancelScope() as scope:
            self.scope = scope
            if self.abandoned:  # given up before this task got to run
                coro.close()
                finish(self, None, cancelled(name, _CANCELLED_RUN))
                return
            try:
                result = await coro
            except trio.Cancelled:
                finish(self, None, cancelled(name, _CANCELLED_RUN))
                raise
            except BaseException as exc:  # forwarded to every caller, not kept
                finish(self, None, exc)
            else:
                finish(self, result, None)

    def cancel_run(self) -> None:
        """Cancel the running execution (or, not started yet, prevent it)."""
        self.abandoned = True
        if self.task is not None:
            self.task.cancel()
        elif self.scope is not None:
            self.scope.cancel()

    # -- waiting ------------------------------------------------------------------

    def add_waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """A future of this caller's own, for the outcome, on asyncio."""
        future: asyncio.Future[Any] = loop.create_future()
        self.futures.append(future)
        self.waiting += 1
        return future

    def quit(
        self, future: asyncio.Future[Any], leave: Callable[[Batch], bool]
    ) -> asyncio.Task[Any] | None:
        """A caller left ``await future`` with an exception; tidy up after it.

        Returns the execution's task when this caller was the last one of a
        running execution, which *leave* has cancelled: the caller must
        :func:`join` it before its own cancellation goes on.
        """
        if not future.done():
            future.cancel()  # left without being cancelled: coroutine closed
        elif not future.cancelled():
            # Retrieved, also when this caller leaves with its own
            # cancellation at the instant the outcome arrived.
            future.exception()
        if self.state == DONE:
            return None
        # Drop the futures of callers who left once they are half the list:
        # a long burst with callers timing out must not grow it forever.
        self.gone += 1
        if self.gone * 2 > len(self.futures):
            self.futures = [f for f in self.futures if not f.done()]
            self.gone = 0
        return self.task if leave(self) else None

    async def wait_anyio(self, leave: Callable[[Batch], bool]) -> Any:
        """Await the outcome on other backends (trio), through anyio."""
        event = self.event
        if event is None:
            event = self.event = anyio.Event()
        self.waiting += 1
        try:
            await event.wait()
        except BaseException as exc:
            if (
                self.state != DONE
                and leave(self)
                and not isinstance(exc, GeneratorExit)
            ):
                with anyio.CancelScope(shield=True):
                    await event.wait()
            raise
        return self.outcome()

    async def watch(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Wait until the batch is done, without being one of its callers."""
        if self.state == DONE:
            return
        if loop is not None:
            future: asyncio.Future[Any] = loop.create_future()
            self.futures.append(future)
            with contextlib.suppress(Exception):  # its callers get the outcome
                await future
            return
        event = self.event
        if event is None:
            event = self.event = anyio.Event()
        await event.wait()


_CANCELLED_RUN = "the execution was cancelled before it finished"


async def join(task: asyncio.Task[Any]) -> None:
    """Wait for a cancelled execution to finish unwinding."""
    # Shielded from anyio's cancel scopes, which cancel the waiting task
    # again at every await until it has left them.
    with anyio.CancelScope(shield=True):
        await asyncio.wait((task,))


def _task_done(
    batch: Batch, name: str, finish: Finish, task: asyncio.Task[Any]
) -> None:
    if task.cancelled():
        finish(batch, None, cancelled(name, _CANCELLED_RUN))
        return
    error = task.exception()
    finish(batch, None if error is not None else task.result(), error)
