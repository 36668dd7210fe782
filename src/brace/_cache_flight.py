"""Single-flight computations for :func:`brace.cached`.

A flight is one call of the cached function whose outcome every caller of
its key shares. It runs in a task of its own (an asyncio task, a trio system
task: trio has no free-standing tasks, and a system task is the one kind
that outlives the caller that started it), so that no one caller's
cancellation can cancel what the others wait for. A flight is cancelled
when its last caller stops waiting, and that caller's cancellation
completes once the flight has finished unwinding; a background refresh has
no callers and runs to the end, or until ``aclose()``.

Waiting: on asyncio each caller awaits a bare future of its own (a shared
one would be cancelled along with the first caller that is); elsewhere an
``anyio.Event`` per flight.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio

from ._context import detached_context
from ._errors import Cancelled

__all__ = ["Flight", "join"]

Finish = Callable[["Flight", Any, "BaseException | None", bool], None]


class Flight:
    """One running computation of a key, and the callers awaiting it."""

    __slots__ = (
        "args",
        "background",
        "done",
        "error",
        "event",
        "futures",
        "gone",
        "key",
        "kwargs",
        "name",
        "refresh",
        "registry",
        "scope",
        "store",
        "task",
        "tb",
        "value",
        "waiting",
    )

    def __init__(
        self,
        key: Any,
        name: str,
        registry: dict[Any, Flight],
        *,
        refresh: bool = False,
    ) -> None:
        self.key = key
        self.name = name
        # The flights in progress, by key, where new callers find this one.
        self.registry = registry
        # Started to refresh a stale value: nobody waits for it at first,
        # and it is not cancelled when the last caller that joined it leaves.
        self.refresh = refresh
        self.background = refresh
        self.store = True  # cleared by invalidation: the outcome goes nowhere
        self.done = False
        self.waiting = 0
        self.futures: list[asyncio.Future[None]] = []
        self.gone = 0
        self.event: anyio.Event | None = None
        self.task: asyncio.Task[None] | None = None
        self.scope: Any = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.tb: Any = None

    def launch(
        self,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None,
        finish: Finish,
    ) -> None:
        """Start ``fn(*args, **kwargs)`` in a task of its own."""
        try:
            coro: Any = fn(*args, **kwargs)
        except Exception as exc:  # arguments that do not fit: the callers get it
            finish(self, None, exc, False)
            return
        if not inspect.iscoroutine(coro):
            if not inspect.isawaitable(coro):
                msg = (
                    f"cached() calls async functions, and {self.name} returned "
                    f"{type(coro).__name__}, which is not awaitable"
                )
                finish(self, None, TypeError(msg), False)
                return
            coro = _awaited(coro)
        if loop is not None:
            # The coroutine itself is the task (a task cancelled before it
            # starts still closes it). It serves every caller of the key, so
            # the starting caller's retry deadline must not bind it: each
            # caller's own wait is still bound by its own deadline.
            task = loop.create_task(
                coro, name=f"brace.cached {self.name}", context=detached_context()
            )
            self.task = task
            task.add_done_callback(functools.partial(_task_done, self, finish))
            return
        import trio

        self.event = anyio.Event()
        self.scope = trio.CancelScope()
        trio.lowlevel.spawn_system_task(
            self._run_trio,
            coro,
            finish,
            name=f"brace.cached {self.name}",
            context=detached_context(),
        )

    async def _run_trio(self, coro: Coroutine[Any, Any, Any], finish: Finish) -> None:
        # Trio always starts a task's coroutine, so the outcome is caught
        # here; the scope then swallows its own cancellation.
        with self.scope:
            if self.scope.cancel_called:  # given up before this task ran
                coro.close()
                finish(self, None, None, True)
                return
            try:
                value = await coro
            except Exception as exc:
                finish(self, None, exc, False)
            except BaseException:
                finish(self, None, None, True)
                raise
            else:
                finish(self, value, None, False)

    def forget(self) -> None:
        """Let new callers start a flight of their own from now on."""
        if self.registry.get(self.key) is self:
            del self.registry[self.key]

    def cancel(self) -> None:
        """Cancel the computation; its outcome, if any, is not kept."""
        self.store = False
        self.forget()
        # Only launched flights are cancelled: they have one or the other.
        if self.task is not None:
            self.task.cancel()
        else:
            self.scope.cancel()

    def resolve(self, value: Any, error: BaseException | None) -> None:
        """Record the outcome and wake every caller."""
        self.done = True
        self.value = value
        self.error = error
        if error is not None:
            self.tb = error.__traceback__
        futures, self.futures = self.futures, []
        for future in futures:
            if not future.done():
                future.set_result(None)
        if self.event is not None:
            self.event.set()

    def outcome(self) -> Any:
        """Return the shared value, or raise the shared exception."""
        error = self.error
        if error is not None:
            # From the stored traceback, so that each caller's raise starts
            # at the computation's frames instead of piling onto the last one.
            raise error.with_traceback(self.tb)
        return self.value

    # -- waiting --------------------------------------------------------------------

    async def wait(self, loop: asyncio.AbstractEventLoop | None) -> Any:
        """Wait for the outcome as one of the flight's callers."""
        if self.done:
            return self.outcome()
        if loop is None:
            return await self._wait_anyio()
        future: asyncio.Future[None] = loop.create_future()
        self.futures.append(future)
        self.waiting += 1
        try:
            await future
        except BaseException as exc:
            task = self._leave(future)
            # The last caller waits for the computation to unwind, unless its
            # own coroutine is being closed, and so cannot await anything.
            if task is not None and not isinstance(exc, GeneratorExit):
                await join(task)
            raise
        self.waiting -= 1
        return self.outcome()

    def _leave(self, future: asyncio.Future[None]) -> asyncio.Task[None] | None:
        """A caller stopped waiting; cancel the flight if it was the last."""
        self.waiting -= 1
        if not future.done():
            future.cancel()  # left without being cancelled: coroutine closed
        if self.done:
            return None  # cancelled at the instant the outcome arrived
        # Drop the futures of callers who left once they are half the list.
        self.gone += 1
        if self.gone * 2 > len(self.futures):
            self.futures = [f for f in self.futures if not f.done()]
            self.gone = 0
        if self.waiting or self.background:
            return None
        self.cancel()
        return self.task

    async def _wait_anyio(self) -> Any:
        event = self.event
        assert event is not None  # noqa: S101  (set by launch on these backends)
        self.waiting += 1
        try:
            await event.wait()
        except BaseException:
            self.waiting -= 1
            if not (self.done or self.waiting or self.background):
                self.cancel()
                with anyio.CancelScope(shield=True):
                    await event.wait()
            raise
        self.waiting -= 1
        return self.outcome()

    async def watch(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Wait until the flight is done, without being one of its callers."""
        if self.done:
            return
        if loop is None:
            assert self.event is not None  # noqa: S101
            await self.event.wait()
            return
        future: asyncio.Future[None] = loop.create_future()
        self.futures.append(future)
        await future


def cancelled_error(name: str) -> Cancelled:
    """What the callers of a flight cancelled from outside get."""
    error = Cancelled(None)
    error.args = (f"{name}: the shared computation was cancelled before it finished",)
    return error


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _task_done(flight: Flight, finish: Finish, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        finish(flight, None, None, True)
        return
    error = task.exception()
    if error is None:
        finish(flight, task.result(), None, False)
    elif isinstance(error, Exception):
        finish(flight, None, error, False)
    else:  # KeyboardInterrupt, SystemExit: already on their way out of the loop
        finish(flight, None, None, True)


async def join(task: asyncio.Task[Any]) -> None:
    """Wait for a cancelled computation to finish unwinding."""
    # Shielded from anyio's cancel scopes, which cancel the waiting task
    # again at every await until it has left them.
    with anyio.CancelScope(shield=True):
        await asyncio.wait((task,))
