"""CancelToken: cooperative cancellation with reasons, deadlines and links."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import _events
from ._errors import Cancelled
from ._scope import open_scope
from ._time import Duration, running_loop, seconds

__all__ = ["CallbackHandle", "CancelToken"]

_log = logging.getLogger("brace")


class CallbackHandle:
    """Returned by :meth:`CancelToken.on_cancel`; :meth:`remove` unregisters.

    .. versionadded:: 0.1
    """

    __slots__ = ("_callback", "_token")

    def __init__(
        self, token: CancelToken, callback: Callable[[object], object]
    ) -> None:
        self._token: CancelToken | None = token
        self._callback = callback

    def remove(self) -> bool:
        """Unregister the callback; ``True`` if it had not run yet. Idempotent."""
        token, self._token = self._token, None
        if token is None:
            return False
        with token._lock:
            # Read under the lock: cancel() swaps the list out under it and
            # then iterates it unlocked, so it must not be mutated after.
            callbacks = token._callbacks
            if callbacks is not None and self in callbacks:
                callbacks.remove(self)
                return True
        return False


class CancelToken:
    """A flag that cooperating code checks or waits on to stop early.

    A token is cancelled once, with an optional reason; the first reason
    wins. Code reacts by polling :attr:`cancelled`, calling
    :meth:`raise_if_cancelled`, awaiting :meth:`wait`, registering
    :meth:`on_cancel` callbacks, or running a block in :meth:`scope`, which
    interrupts the block and raises :class:`brace.Cancelled`. Policies that
    wait accept ``cancel=token``.

    On asyncio, :meth:`cancel` may be called from any thread: callbacks run
    in the calling thread, and waiting tasks are woken through their loop.
    On trio, call it only from the trio thread; from another thread, use
    ``trio.from_thread.run_sync(token.cancel, ...)``. Tokens need no running
    event loop, except :meth:`after`.

    Args:
        name: Names the token in events.

    .. versionadded:: 0.1
    """

    __slots__ = ("__weakref__", "_callbacks", "_lock", "_reason", "name")

    def __init__(self, *, name: str | None = None) -> None:
        self.name = name
        self._reason: object = None
        # None once cancelled: callbacks registered later run at once.
        self._callbacks: list[CallbackHandle] | None = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"cancelled, reason={self._reason!r}" if self.cancelled else "active"
        name = f" {self.name!r}" if self.name else ""
        return f"<CancelToken{name} {state}>"

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` has been called."""
        return self._callbacks is None

    @property
    def reason(self) -> object:
        """The reason passed to :meth:`cancel`, or ``None``."""
        return self._reason

    def cancel(self, reason: object = None) -> bool:
        """Cancel the token and run its callbacks, in registration order.

        A callback's exception is logged and does not stop the others.

        Args:
            reason: Anything that explains why; carried by
                :class:`brace.Cancelled` and :class:`TokenCancelled`.

        Returns:
            ``True`` if this call cancelled the token, ``False`` if it was
            already cancelled.
        """
        with self._lock:
            callbacks = self._callbacks
            if callbacks is None:
                return False
            self._reason = reason
            self._callbacks = None
        for handle in callbacks:
            handle._token = None
            try:
                handle._callback(reason)
            except Exception:
                _log.exception("CancelToken callback %r failed", handle._callback)
        if _events.enabled():
            _events.emit(
                _events.TokenCancelled(name=self.name or "<token>", reason=reason)
            )
        return True

    def on_cancel(self, callback: Callable[[object], object]) -> CallbackHandle:
        """Call ``callback(reason)`` when the token is cancelled.

        If it already is, the callback runs at once.

        Returns:
            A handle whose :meth:`~CallbackHandle.remove` unregisters it.
        """
        handle = CallbackHandle(self, callback)
        with self._lock:
            callbacks = self._callbacks
            if callbacks is not None:
                callbacks.append(handle)
                return handle
        handle._token = None
        callback(self._reason)
        return handle

    def raise_if_cancelled(self) -> None:
        """Raise :class:`brace.Cancelled` if the token is cancelled."""
        if self._callbacks is None:
            raise Cancelled(self._reason)

    async def wait(self) -> object:
        """Wait until the token is cancelled and return the reason.

        Cancelling the waiting task leaves nothing registered on the token.
        """
        if self._callbacks is None:
            return self._reason
        loop = running_loop()
        if loop is not None:
            future: asyncio.Future[None] = loop.create_future()

            def wake(_: object) -> None:
                if running_loop() is loop:
                    if not future.done():
                        future.set_result(None)
                else:
                    loop.call_soon_threadsafe(_set_if_pending, future)

            handle = self.on_cancel(wake)
            try:
                await future
            finally:
                handle.remove()
        else:
            import anyio

            event = anyio.Event()
            handle = self.on_cancel(lambda _: event.set())
            try:
                await event.wait()
            finally:
                handle.remove()
        return self._reason

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Run a block that is interrupted when the token is cancelled.

        On cancellation the block is cancelled at its next suspension point
        and :class:`brace.Cancelled` is raised when it exits. A block that is
        already running when the token is cancelled but never suspends
        again completes normally. Entering with a cancelled token raises at
        once. Works on asyncio and trio.

        Raises:
            brace.Cancelled: The token was cancelled.
        """
        self.raise_if_cancelled()
        region = open_scope(None)
        handle = self.on_cancel(lambda _: region.cancel())
        try:
            yield
        except BaseException as exc:
            handle.remove()
            if region.exit(type(exc), exc, exc.__traceback__):
                raise Cancelled(self._reason) from exc
            raise
        handle.remove()
        region.exit(None)

    @classmethod
    def after(
        cls, delay: Duration, *, reason: object = None, name: str | None = None
    ) -> CancelToken:
        """A token that cancels itself *delay* seconds from now.

        Must be called inside a running event loop (asyncio or trio): the
        delay is measured on that loop's clock.

        Args:
            delay: Seconds (or a timedelta) until cancellation.
            reason: The reason to cancel with; defaults to a message that
                names the delay.
            name: Names the token in events.
        """
        secs = seconds(delay, "delay")
        token = cls(name=name)
        why = reason if reason is not None else f"deadline of {secs:g} s passed"
        loop = running_loop()
        if loop is not None:
            timer = loop.call_later(secs, token.cancel, why)
            token.on_cancel(lambda _: timer.cancel())
            return token
        import anyio

        anyio.current_time()  # raises outside an event loop, as documented
        import trio  # only now: asyncio-only installs need not have trio

        async def expire() -> None:
            with trio.CancelScope() as scope:
                handle = token.on_cancel(lambda _: scope.cancel())
                await trio.sleep(secs)
                handle.remove()
                token.cancel(why)

        trio.lowlevel.spawn_system_task(expire)
        return token

    @classmethod
    def any(cls, *parents: CancelToken, name: str | None = None) -> CancelToken:
        """A token cancelled as soon as any of *parents* is, with its reason.

        The link holds the child weakly: a child that is garbage collected
        unregisters itself from its parents, so long-lived parents do not
        accumulate dead links.

        .. versionadded:: 0.1
        """
        child = cls(name=name)
        ref = weakref.ref(child)
        handles: list[CallbackHandle] = []

        def propagate(reason: object) -> None:
            linked = ref()
            if linked is not None:
                linked.cancel(reason)

        for parent in parents:
            if parent.cancelled:
                child.cancel(parent.reason)
                break
            handles.append(parent.on_cancel(propagate))
        finalizer = weakref.finalize(child, _remove_all, handles)
        child.on_cancel(lambda _: finalizer())
        return child


def _remove_all(handles: list[CallbackHandle]) -> None:
    for handle in handles:
        handle.remove()


def _set_if_pending(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)
