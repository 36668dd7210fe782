"""The Retry policy: decisions, and the drivers for async and sync calls.

A :class:`Retry` is an immutable description. Everything that changes during
one call (attempt number, delay iterator, start time, deadline) lives in a
call state made for that call (:mod:`._retry_call`), so a single policy can
serve any number of concurrent callers.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    ParamSpec,
    TypeVar,
    cast,
)

import attrs

from . import _events
from ._backoff import Backoff
from ._budget import SupportsRetryBudget
from ._context import AttemptContext, AttemptSource, attempt_var, deadline_var
from ._describe import shown
from ._errors import Cancelled, RetryError
from ._introspect import NotAwaitableError, awaitable_only, is_async_callable
from ._matching import compile_on
from ._retry_call import Call as _Call
from ._retry_call import new_call as _call
from ._retry_call import publish as _publish
from ._retry_call import withdraw as _withdraw
from ._scope import open_scope
from ._time import (
    Duration,
    async_sleep,
    check_count,
    instant_mode,
    now,
    seconds,
)

if TYPE_CHECKING:
    from ._attempts import Attempts
    from ._cancel import CancelToken

__all__ = ["Retry", "retry"]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar(
    "F",
    # A string: staticmethod and classmethod are not subscriptable at runtime
    # on Python 3.11.
    bound="Callable[..., Any] | staticmethod[Any, Any] | classmethod[Any, Any, Any]",
)

On = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]


def _deadline(value: Duration | None) -> float | None:
    return None if value is None else seconds(value, "deadline", allow_zero=False)


def _attempt_timeout(value: Duration | None) -> float | None:
    if value is None:
        return None
    return seconds(value, "attempt_timeout", allow_zero=False)


def _max_server_delay(value: Duration) -> float:
    return seconds(value, "max_server_delay")


def _check_attempts(_: object, __: object, value: object) -> None:
    if value is not None:
        check_count(value, "attempts (or None for no limit)")


def _check_rng(_: object, __: object, value: Any) -> None:
    if value is not None and not callable(getattr(value, "random", None)):
        msg = f"rng must be a random.Random (or None), not {value!r}"
        raise TypeError(msg)


def _check_budget(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, SupportsRetryBudget):
        msg = f"budget must be a RetryBudget (or None), not {value!r}"
        raise TypeError(msg)


def _check_cancel(_: object, __: object, value: Any) -> None:
    from ._cancel import CancelToken  # here: avoids an import cycle

    if value is not None and not isinstance(value, CancelToken):
        msg = f"cancel must be a CancelToken (or None), not {value!r}"
        raise TypeError(msg)


_DEFAULT_BACKOFF = Backoff.exponential()
# Zero-delay retries up to this many attempts run in the decorator's own
# frame, with their attempt contexts made in advance.
_ZERO_LOOP_MAX = 16


@attrs.frozen(kw_only=True)
class Retry:
    """Retry a call that fails with a matching exception (or result).

    Use it as a decorator (on ``async def`` and plain functions, generators
    and async generators, methods, static- and classmethods), with
    :meth:`call`, or with the :meth:`attempts` block API. The policy is
    immutable and safe to share: every call has its own attempt count and
    its own delay sequence.

    Cancellation (asyncio's, trio's, anyio's), :class:`KeyboardInterrupt`,
    :class:`SystemExit` and :class:`GeneratorExit` are never retried, never
    shown to ``on`` predicates and never swallowed. When it gives up, the last
    exception propagates unchanged, its traceback intact, with a note such as
    ``brace: gave up after 3 attempts over 1.2 s``. (Without a *deadline*,
    brace reads the clock only once a retry waits, so times count from the
    first wait, and the note says ``over 1.2 s of retrying``; retries that
    never wait report no time at all.)

    Each attempt runs with its :class:`~brace.AttemptContext` published:
    :func:`brace.current_attempt` tells the protected code (and the
    policies nested in the retry) the attempt number, the operation's name
    and the deadline. A deadline binds everything nested in the retry: a
    :class:`Timeout` or *attempt_timeout* inside it is clipped to the time
    left, and a retry nested inside it never sleeps past it or starts an
    attempt after it. When a clipped timeout fires, the retry gives up at
    once, whatever *on* says, re-raising that :class:`brace.TimeoutError`
    with the deadline in its note (see :doc:`/howto/compose`).

    :meth:`describe` returns ``("retry", options)``, the constructor options
    and their values, for tests and for :func:`brace.compose`.

    Args:
        on: Which failures to retry: an :class:`Exception` subclass, a tuple
            of them, or a predicate called with the exception. An exception
            group is retried only if every exception in it matches (the
            predicate is called with each). Required: there is no catch-all
            default. ``on=()`` retries no exception, for policies that only
            retry on results (*retry_on_result*).
        attempts: Maximum number of attempts, >= 1, or ``None`` for no limit
            (then *deadline* or *cancel* must bound the retrying).
        backoff: The delays between attempts.
        deadline: Total time budget in seconds, from the start of the call.
            No sleep extends past it and no attempt starts after it: when the
            next delay would reach it, the call gives up at once. A running
            attempt is not interrupted (use *attempt_timeout*, an inner
            :class:`Timeout`, which it clips, or an outer :class:`Timeout`),
            so without those the overshoot is at most one attempt.
        attempt_timeout: Limit for each attempt, clipped to what is left of
            *deadline*. An attempt that exceeds it fails with
            :class:`brace.TimeoutError` and is retried.
        retry_on_result: Predicate over a returned value; ``True`` retries.
        raise_for_result: When results stay unacceptable, raise
            :class:`brace.RetryError` instead of returning the last result.
        retry_after: Server hint: called with the failed attempt's exception
            (or rejected result); returns seconds (or a timedelta) to wait
            instead of the backoff delay, or ``None``. See
            :func:`brace.parse_retry_after`. The hint is capped at
            *max_server_delay*, jittered upward by up to 10 % (never
            earlier than asked) and subject to *deadline*; a hint in the past
            means retry now.
        max_server_delay: Cap on server hints.
        budget: A shared :class:`SupportsRetryBudget`; when it refuses, the
            call gives up at once.
        rng: Random source for jitter, for reproducible delays. Give
            independent clients independent sources: clients seeded alike
            draw alike delays and retry in lockstep.
        cancel: A :class:`CancelToken`: once cancelled, no further attempt
            starts and a sleeping retry ends at once, raising
            :class:`brace.Cancelled` (chained to the last error). A running
            attempt is not interrupted; run it in ``token.scope()`` for that.
        name: Names the call in events and notes; defaults to the function's
            qualified name.
        listeners: Callbacks for this policy's events.

    Raises:
        TypeError: ``on`` is not exception types or a predicate.
        ValueError: Out-of-range values, or no bound on retrying at all.

    .. versionadded:: 0.1
    """

    on: On
    # Stored as max_attempts: the name "attempts" is the block-API method.
    max_attempts: int | None = attrs.field(
        default=3, alias="attempts", validator=_check_attempts
    )
    backoff: Backoff = attrs.field(
        default=_DEFAULT_BACKOFF, validator=attrs.validators.instance_of(Backoff)
    )
    deadline: float | None = attrs.field(default=None, converter=_deadline)
    attempt_timeout: float | None = attrs.field(
        default=None, converter=_attempt_timeout
    )
    retry_on_result: Callable[[Any], bool] | None = None
    raise_for_result: bool = False
    retry_after: Callable[[Any], Duration | None] | None = None
    max_server_delay: float = attrs.field(default=60.0, converter=_max_server_delay)
    budget: SupportsRetryBudget | None = attrs.field(
        default=None, validator=_check_budget
    )
    rng: random.Random | None = attrs.field(default=None, validator=_check_rng)
    cancel: CancelToken | None = attrs.field(default=None, validator=_check_cancel)
    name: str | None = None
    listeners: tuple[_events.Listener, ...] = attrs.field(
        default=(), converter=_events.listeners
    )
    _matches: Callable[[Exception], bool] = attrs.field(
        init=False, repr=False, eq=False
    )
    # The delay of a fixed schedule (constant, no jitter), so that retries
    # with it need no iterator; None for every other schedule.
    _fixed_delay: float | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_matches", compile_on(self.on))
        backoff = self.backoff
        fixed = backoff.kind == "constant" and backoff.jitter == "none"
        object.__setattr__(
            self,
            "_fixed_delay",
            max(backoff.minimum, backoff.initial) if fixed else None,
        )
        if self.on == () and self.retry_on_result is None:
            msg = "on=() retries no exception: give exception types, or retry_on_result"
            raise ValueError(msg)
        if self.max_attempts is None and self.deadline is None and self.cancel is None:
            msg = (
                "attempts=None retries forever: also set deadline= or cancel= "
                "to bound it"
            )
            raise ValueError(msg)
        for what in ("retry_on_result", "retry_after"):
            value = getattr(self, what)
            if value is not None and not callable(value):
                msg = f"{what} must be callable, not {value!r}"
                raise TypeError(msg)

    # -- decisions shared by every driver ----------------------------------

    def _plan(
        self, call: _Call, error: Exception | None, result: object
    ) -> float | str:
        """The delay before the next attempt, or the reason to give up."""
        deadline = call.limit
        if deadline is not None and error is not None and error is deadline.error:
            # A timeout clipped to the deadline fired: the deadline is up.
            return "deadline"
        limit = self.max_attempts
        mode = instant_mode()
        if mode is not None and mode.attempts is not None:
            limit = mode.attempts if limit is None else min(limit, mode.attempts)
        if limit is not None and call.attempt >= limit:
            return "attempts"
        if self.cancel is not None and self.cancel.cancelled:
            return "cancelled"
        delay = self._fixed_delay
        if delay is None:
            delays = call.delays
            if delays is None:
                delays = call.delays = self.backoff.delays(self.rng)
            delay = next(delays)
        if self.retry_after is not None:
            try:
                hint = self.retry_after(error if error is not None else result)
            except Exception as exc:
                # Keep the failed attempt's error reachable from the hint's.
                if error is not None and exc is not error:
                    raise exc from error
                raise
            if hint is not None:
                server = self._server_delay(hint)
                if server is not None:
                    delay = server
        if mode is not None:
            delay = 0.0
        if deadline is not None and delay >= deadline.left():
            return "deadline"
        if self.budget is not None and not self.budget.withdraw(error):
            return "budget"
        if delay > 0 and call.start is None:
            call.start = call.clock()
        if _events.subscribers or self.listeners:
            self._scheduled(call.name, call.attempt, delay, error, result)
        return delay

    def _scheduled(
        self,
        name: str,
        attempt: int,
        delay: float,
        error: Exception | None,
        result: object,
    ) -> None:
        _events.emit(
            _events.RetryScheduled(
                name=name,
                attempt=attempt,
                delay=delay,
                error=error,
                result=None if error is not None else result,
            ),
            self.listeners,
        )

    def _server_delay(self, hint: object) -> float | None:
        """The delay a server hint asks for; None to fall back to backoff."""
        if isinstance(hint, dt.timedelta):
            value = hint.total_seconds()
        elif isinstance(hint, int | float) and not isinstance(hint, bool):
            value = float(hint)
        else:
            value = seconds(hint, "retry_after hint")  # raises TypeError
        if math.isnan(value) or math.isinf(value):
            return None  # no usable hint: back off as usual
        # A negative hint (a date in the past): the server is ready now.
        capped = min(max(value, 0.0), self.max_server_delay)
        rng = self.rng if self.rng is not None else random
        # Upward only, never past the cap, never earlier than the server asked
        # (up to the cap).
        return min(capped + capped * 0.1 * rng.random(), self.max_server_delay)

    def _give_up(
        self, call: _Call, reason: str, error: Exception | None, result: Any
    ) -> Any:
        """Let the last outcome through, annotated; or raise for cancellation."""
        start = call.start
        elapsed = None if start is None else max(0.0, call.clock() - start)
        if _events.enabled(self.listeners):
            _events.emit(
                _events.RetryGaveUp(
                    name=call.name,
                    attempts=call.attempt,
                    elapsed=elapsed,
                    reason=reason,
                    error=error,
                    result=None if error is not None else result,
                ),
                self.listeners,
            )
        if reason == "cancelled":
            assert self.cancel is not None  # noqa: S101
            raise Cancelled(self.cancel.reason) from error
        if error is None:
            if self.raise_for_result:
                raise RetryError(
                    attempts=call.attempt, last_result=result, name=call.name
                )
            return result
        plural = "s" if call.attempt != 1 else ""
        note = f"brace: gave up after {call.attempt} attempt{plural}"
        if elapsed is not None:
            note += f" over {_format_seconds(elapsed)} s"
            if call.from_failure:
                note += " of retrying"
        if reason == "deadline":
            deadline = call.limit
            assert deadline is not None  # noqa: S101
            note += f" (deadline of {deadline.seconds:g} s"
            note += ")" if call.own_limit else f" of {deadline.name})"
        elif reason == "budget":
            note += " (retry budget exhausted)"
        error.add_note(note)
        raise error

    def _must_sleep(self, delay: float) -> bool:
        # A zero delay retries without yielding to the event loop, like a
        # hand-written loop; but an unbounded policy must not starve the
        # loop, so it always yields.
        return delay > 0 or self.max_attempts is None

    def _succeeded(self, call: _Call, last_error: Exception | None) -> None:
        if self.budget is not None:
            self.budget.deposit(call.attempt, last_error)

    def _attempt_limit(self, call: _Call) -> float:
        """The attempt timeout, clipped to what is left of the deadline."""
        assert self.attempt_timeout is not None  # noqa: S101
        deadline = call.limit
        if deadline is None:
            return self.attempt_timeout
        return max(0.0, min(self.attempt_timeout, deadline.left()))

    # -- the async driver --------------------------------------------------

    async def _attempt(
        self, call: _Call, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any
    ) -> T:
        if self.attempt_timeout is None:
            return await fn(*args, **kwargs)
        limit = self._attempt_limit(call)
        scope = open_scope(limit)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if scope.exit(type(exc), exc, exc.__traceback__):
                raise call.timed_out(self, limit, exc) from exc
            raise
        scope.exit(None)
        return result

    async def _run(
        self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any, name: str
    ) -> Any:
        call = _call(self, name, now, False)
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        published = _publish(call)
        try:
            # The retry loop runs outside the except clause so that later
            # errors do not get this one chained as their __context__.
            try:
                result = await self._attempt(call, fn, args, kwargs)
            except Exception as exc:
                error = exc
            else:
                if self.retry_on_result is None or not self.retry_on_result(result):
                    self._succeeded(call, None)
                    return result
                return await self._resume(call, fn, args, kwargs, None, result)
            return await self._resume(call, fn, args, kwargs, error, None)
        finally:
            _withdraw(published)

    async def _resume(
        self,
        call: _Call,
        fn: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: Any,
        error: Exception | None,
        result: Any,
    ) -> Any:
        """Carry on after a failed attempt, until success or giving up."""
        timed = self.attempt_timeout is not None
        while True:
            if error is not None and not call.retryable(self, error):
                raise error
            delay = self._plan(call, error, result)
            if isinstance(delay, str):
                return self._give_up(call, delay, error, result)
            if self._must_sleep(delay) and not await _sleep_async(delay, self.cancel):
                return self._give_up(call, "cancelled", error, result)
            call.attempt += 1
            try:
                if timed:
                    result = await self._attempt(call, fn, args, kwargs)
                else:
                    # Straight to the function: no extra coroutine per retry.
                    result = await fn(*args, **kwargs)
            except Exception as exc:
                error = exc
                continue
            if self.retry_on_result is not None and self.retry_on_result(result):
                error = None
                continue
            self._succeeded(call, error)
            return result

    # -- the sync driver ---------------------------------------------------

    def _run_sync(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, name: str
    ) -> Any:
        call = _call(self, name, time.monotonic, False)
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        published = _publish(call)
        try:
            return self._loop_sync(call, fn, args, kwargs, name)
        finally:
            _withdraw(published)

    def _loop_sync(
        self, call: _Call, fn: Callable[..., Any], args: Any, kwargs: Any, name: str
    ) -> Any:
        error: Exception | None = None
        result: Any = None
        while True:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if not call.retryable(self, exc):
                    raise
                error = exc
            else:
                if inspect.iscoroutine(result):
                    result.close()
                    msg = (
                        f"{name} returned a coroutine but was decorated as a "
                        "synchronous function; make it an async def so that "
                        "Retry awaits it"
                    )
                    raise TypeError(msg)
                if self.retry_on_result is None or not self.retry_on_result(result):
                    self._succeeded(call, error)
                    return result
                error = None
            plan = self._plan(call, error, result if error is None else None)
            if isinstance(plan, str):
                return self._give_up(call, plan, error, result)
            if plan > 0 and not _sleep_sync(plan, self.cancel):
                return self._give_up(call, "cancelled", error, result)
            call.attempt += 1

    # -- public API --------------------------------------------------------

    def __call__(self, fn: F, /) -> F:
        """Decorate a function so that its calls are retried."""
        if isinstance(fn, staticmethod):
            return staticmethod(self(fn.__func__))  # type: ignore[return-value]
        if isinstance(fn, classmethod):
            return classmethod(self(fn.__func__))  # type: ignore[return-value]
        target: object = fn
        if not callable(target):
            msg = f"Retry decorates functions, not {fn!r}"
            raise TypeError(msg)
        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        if inspect.isasyncgenfunction(fn):
            from ._generators import retry_async_generator

            return retry_async_generator(self, fn, name)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            from ._generators import retry_generator

            return retry_generator(self, fn, name)  # type: ignore[return-value]
        if is_async_callable(fn):
            return self._wrap_async(fn, name)  # type: ignore[return-value]
        if self.attempt_timeout is not None:
            msg = (
                f"attempt_timeout needs an async function; {name} is synchronous "
                "and cannot be interrupted"
            )
            raise TypeError(msg)
        run_sync = self._run_sync

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return run_sync(fn, args, kwargs, name)

        return sync_wrapper  # type: ignore[return-value]

    def _wrap_async(
        self, fn: Callable[..., Awaitable[Any]], name: str
    ) -> Callable[..., Awaitable[Any]]:
        if (
            self.deadline is None
            and self.attempt_timeout is None
            and self.retry_on_result is None
            and self.cancel is None
        ):
            # The common configuration gets a wrapper whose success path is
            # one try block around the call: nothing else runs unless the
            # first attempt fails.
            resume = self._resume
            matches = self._matches
            # Bounded zero-delay retries (a retry loop written by hand) stay
            # in this frame, so they cost about what a hand-written loop
            # does; anything else continues in _resume. Their attempt
            # contexts are made here, once, and the call's cell points at
            # each in turn (a store, where a ContextVar.set() would cost a
            # new context mapping per attempt).
            limit = self.max_attempts
            # A budget is asked before every retry, which _resume does.
            budget = self.budget
            deposit = None if budget is None else budget.deposit
            if (
                self._fixed_delay != 0
                or limit is None
                or limit > _ZERO_LOOP_MAX
                or budget is not None
            ):
                limit = 0  # not a zero-delay loop: straight to _resume
            contexts = tuple(
                AttemptContext(name=name, number=n) for n in range(1, limit + 1)
            ) or (AttemptContext(name=name, number=1),)
            first = contexts[0]
            listeners = self.listeners
            subscribers = _events.subscribers
            scheduled = self._scheduled
            run = self._run
            enclosing_deadline = deadline_var.get
            publish = attempt_var.set
            withdraw = attempt_var.reset

            @functools.wraps(fn)
            async def fast(*args: Any, **kwargs: Any) -> Any:
                if enclosing_deadline() is not None:
                    # An enclosing retry's deadline binds this call too.
                    return await run(fn, args, kwargs, name)
                cell: list[AttemptSource] = [first]
                token = publish(cell)
                try:
                    try:
                        result = await fn(*args, **kwargs)
                    except Exception as exc:
                        error = exc
                    else:
                        if deposit is not None:
                            deposit(1, None)
                        return result
                    attempt = 1
                    stop = limit if instant_mode() is None else 0
                    while attempt < stop:
                        # Decided here, not again in _resume: a predicate runs
                        # once per exception (it may log or count).
                        if not matches(error):
                            raise error
                        if subscribers or listeners:
                            scheduled(name, attempt, 0.0, error, None)
                        cell[0] = contexts[attempt]
                        attempt += 1
                        try:
                            return await fn(*args, **kwargs)
                        except Exception as exc:
                            error = exc
                    call = _Call(name, now, None)
                    call.attempt = attempt
                    cell[0] = call  # its attempt count moves on in place
                    return await resume(call, fn, args, kwargs, error, None)
                finally:
                    withdraw(token)

            return fast
        run = self._run

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await run(fn, args, kwargs, name)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)``, retrying it under this policy.

        Raises:
            TypeError: *fn* returned something that is not awaitable (a
                synchronous function); it has then run once, and is not
                retried. Decorate synchronous functions with the policy.
        """
        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        if is_async_callable(fn):
            return cast("T", await self._run(fn, args, kwargs, name))
        # A lambda or partial may still return a coroutine: check what each
        # call returns, and escape the retry loop when it is not awaitable.
        try:
            return cast(
                "T",
                await self._run(
                    awaitable_only(
                        fn, "Retry", "decorate sync functions with the policy instead"
                    ),
                    args,
                    kwargs,
                    name,
                ),
            )
        except NotAwaitableError as exc:
            raise exc.error from None

    def attempts(self, *, name: str | None = None) -> Attempts:
        """The block API: one context manager per attempt.

        ::

            async for attempt in Retry(on=OSError).attempts():
                with attempt:
                    await connect()

        Also iterable with a plain ``for`` in synchronous code. *name*
        defaults to the qualified name of the calling function.
        """
        from ._attempts import Attempts, caller_name

        return Attempts(self, name or self.name or caller_name())

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("retry", options)``: the constructor options and their values.

        Durations are float seconds, exception types and callables appear
        by qualified name, other objects by ``repr``. A new dict each time.
        """
        return "retry", {
            "on": shown(self.on),
            "attempts": self.max_attempts,
            "backoff": shown(self.backoff),
            "deadline": self.deadline,
            "attempt_timeout": self.attempt_timeout,
            "retry_on_result": shown(self.retry_on_result),
            "raise_for_result": self.raise_for_result,
            "retry_after": shown(self.retry_after),
            "max_server_delay": self.max_server_delay,
            "budget": shown(self.budget),
            "rng": shown(self.rng),
            "cancel": shown(self.cancel),
            "name": self.name,
            "listeners": shown(self.listeners),
        }


def _format_seconds(value: float) -> str:
    """Seconds for humans: 3 significant digits, never scientific notation."""
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}" if value >= 0.001 else "0"


async def _sleep_async(delay: float, token: CancelToken | None) -> bool:
    """Sleep *delay* seconds; ``False`` if *token* was cancelled meanwhile."""
    if token is None:
        await async_sleep(delay)
        return True
    try:
        with token.scope():
            await async_sleep(delay)
    except Cancelled:
        return False
    return True


def _sleep_sync(delay: float, token: CancelToken | None) -> bool:
    """Sleep *delay* seconds; ``False`` if *token* was cancelled meanwhile."""
    if token is None:
        time.sleep(delay)
        return True
    woken = threading.Event()
    handle = token.on_cancel(lambda _: woken.set())
    try:
        return not woken.wait(delay)
    finally:
        handle.remove()


retry = Retry
