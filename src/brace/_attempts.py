"""The block API of Retry: ``async for attempt in policy.attempts()``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from ._retry_call import new_call, publish, withdraw
from ._scope import Scope, open_scope
from ._time import now

if TYPE_CHECKING:
    from ._retry import Retry
    from ._retry_call import Call, Published

__all__ = ["Attempt", "Attempts", "caller_name"]


def caller_name() -> str:
    """The qualified name of the function that called our caller's caller."""
    return sys._getframe(2).f_code.co_qualname


class Attempt:
    """One attempt of the block API; run its body in ``with attempt:``.

    A matching exception raised in the block is recorded and suppressed, and
    the loop goes on to the next attempt (or gives up, raising the last
    exception). Anything else propagates at once.

    Attributes:
        number: 1 for the first attempt.

    .. versionadded:: 0.1
    """

    __slots__ = ("_call", "_limit", "_owner", "_published", "_scope", "number")

    def __init__(self, owner: Attempts, call: Call) -> None:
        self._owner = owner
        self._call = call
        self.number = call.attempt
        self._scope: Scope | None = None
        self._limit = 0.0
        self._published: Published | None = None

    def __repr__(self) -> str:
        return f"<Attempt {self.number} of {self._owner.name}>"

    def __enter__(self) -> Attempt:
        owner = self._owner
        if owner.policy.attempt_timeout is not None:
            self._limit = owner.policy._attempt_limit(self._call)
            self._scope = open_scope(self._limit)
        self._published = publish(self._call)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        owner = self._owner
        published, self._published = self._published, None
        if published is not None:
            withdraw(published)
        scope, self._scope = self._scope, None
        if scope is not None and scope.exit(exc_type, exc, tb):
            assert exc is not None  # noqa: S101
            owner.error = self._call.timed_out(owner.policy, self._limit, exc)
            return True
        if exc is None:
            owner.error = None
            return False
        if isinstance(exc, Exception) and self._call.retryable(owner.policy, exc):
            owner.error = exc
            return True
        return False


class Attempts:
    """Iterates over :class:`Attempt` objects; see :meth:`Retry.attempts`.

    Supports ``async for`` (sleeps on the event loop) and ``for`` (sleeps
    with :func:`time.sleep`). Each object drives one retried operation.

    .. versionadded:: 0.1
    """

    __slots__ = ("_pending", "_retried_for", "call", "error", "name", "policy")

    def __init__(self, policy: Retry, name: str) -> None:
        if policy.retry_on_result is not None:
            msg = "retry_on_result has no result to look at in the attempts() block API"
            raise TypeError(msg)
        self.policy = policy
        self.name = name
        self.call: Call | None = None
        self.error: Exception | None = None
        self._retried_for: Exception | None = None
        self._pending: Attempt | None = None

    def __aiter__(self) -> Attempts:
        return self

    def __iter__(self) -> Attempts:
        if self.policy.attempt_timeout is not None:
            msg = "attempt_timeout needs async iteration (async for)"
            raise TypeError(msg)
        return self

    def _start(self, clock: Callable[[], float]) -> Attempt:
        if self.policy.cancel is not None:
            self.policy.cancel.raise_if_cancelled()
        self.call = new_call(self.policy, self.name, clock, True)
        self._pending = Attempt(self, self.call)
        return self._pending

    def _after(self, call: Call) -> float | None:
        """The delay before the next attempt, or ``None`` when done.

        Raises the last error (annotated) when the policy gives up.
        """
        if self._pending is None or self.error is None:
            # The last attempt succeeded (or never ran its block): done.
            if self._pending is not None:
                self._pending = None
                self.policy._succeeded(call, self._retried_for)
            return None
        plan = self.policy._plan(call, self.error, None)
        if isinstance(plan, str):
            self._pending = None
            self.policy._give_up(call, plan, self.error, None)
            raise AssertionError  # _give_up raises when there is an error
        return plan

    def _next_attempt(self, call: Call) -> Attempt:
        call.attempt += 1
        self._retried_for, self.error = self.error, None
        self._pending = Attempt(self, call)
        return self._pending

    async def __anext__(self) -> Attempt:
        call = self.call
        if call is None:
            return self._start(now)
        from ._retry import _sleep_async

        delay = self._after(call)
        if delay is None:
            raise StopAsyncIteration
        if self.policy._must_sleep(delay) and not await _sleep_async(
            delay, self.policy.cancel
        ):
            self._cancelled(call)
        return self._next_attempt(call)

    def __next__(self) -> Attempt:
        call = self.call
        if call is None:
            return self._start(time.monotonic)
        from ._retry import _sleep_sync

        delay = self._after(call)
        if delay is None:
            raise StopIteration
        if delay > 0 and not _sleep_sync(delay, self.policy.cancel):
            self._cancelled(call)
        return self._next_attempt(call)

    def _cancelled(self, call: Call) -> None:
        self._pending = None
        self.policy._give_up(call, "cancelled", self.error, None)
