"""CircuitBreaker: fail fast while a dependency is failing, probe, recover."""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from . import _events
from ._backoff import Backoff
from ._breaker_control import BreakerControl
from ._breaker_options import (
    NotAwaitable,
    check_min_calls,
    checked,
    describe_options,
    matcher,
    predicate,
    rate,
)
from ._breaker_snapshot import Persistence
from ._breaker_state import NEUTRAL
from ._breaker_types import CircuitBreakerStatistics, CircuitState
from ._breaker_window import FAILURE, SLOW, SUCCESS, CountWindow, TimeWindow
from ._errors import RejectedError, TimeoutError
from ._events import Listener
from ._introspect import is_async_callable
from ._time import Duration, check_count, seconds

__all__ = [
    "CircuitBreaker",
    "CircuitBreakerStatistics",
    "CircuitState",
    "CountWindow",
    "TimeWindow",
]

P = ParamSpec("P")
T = TypeVar("T")

# The open ``async with`` entries of the current task, innermost first, as an
# immutable linked list (child tasks copy the context and must not see their
# parent's entries change): (breaker, generation, probe, start, rest).
_Entry = tuple["CircuitBreaker", int, int, float, "_Entry | None"]
_entries: contextvars.ContextVar[_Entry | None] = contextvars.ContextVar(
    "brace_breaker_entries", default=None
)


class CircuitBreaker(Persistence, BreakerControl):
    """Fail calls fast while a dependency is failing, then probe it back to health.

    **Closed**, calls go through and their outcomes are recorded in a
    sliding *window*. Once the window holds *min_calls* calls, the breaker
    trips **open** when the share of failures reaches *failure_rate*, or
    the share of slow calls (at least *slow_call_duration* long) reaches
    *slow_call_rate*; with *consecutive_failures*, it also trips after that
    many failures in a row. Open, every call fails at once with
    :class:`~brace.CircuitOpen`, for *open_for* seconds (or the next delay
    of a :class:`~brace.Backoff`, so repeated trips open longer). Then it is
    **half-open**: at most *half_open_calls* probe calls run at once, and
    every other call still fails fast; *success_threshold* successful probes
    close it, and one failed (or slow) probe re-opens it. A probe permit
    expires after *probe_timeout* seconds, so a probe that never returns
    counts as failed instead of wedging the breaker.

    Which outcomes count: an exception matching *ignore* is neutral (neither
    failure nor success); a :class:`~brace.RejectedError` from an inner
    guard (a limiter, another breaker) is neutral unless *count_rejected*;
    a :class:`brace.TimeoutError` from a brace Timeout *inside* the breaker
    is a failure and a slow call; other exceptions matching *on* are
    failures, and the rest are successes (the dependency answered). With
    *failure_on_result*, a returned value can be a failure too.
    Cancellation from outside is neutral, and frees a probe's permit. The
    call's own exception always propagates unchanged.

    Use it as a decorator on ``async def`` functions, with :meth:`call`, or
    as ``async with`` (the exception leaving the block is the outcome). A
    closed breaker never yields to the event loop and, with a count window
    and no slow-call timing, does not even read the clock.

    A breaker is a mutable resource for the tasks of one event loop (asyncio
    or trio), constructible outside any loop. It needs no lock: every
    transition happens between two awaits, so it is atomic on the loop, and
    the protected call runs outside any critical section. It is not
    thread-safe.

    :meth:`describe` returns ``("breaker", options)``, the options as given
    (durations in seconds, exception types and callables by qualified name,
    the window and a Backoff by ``repr``).

    Args:
        name: Names the breaker in errors, events and snapshots.
        failure_rate: Trip when this fraction of the calls in the window
            failed, in (0, 1]; ``None`` disables the rule.
        window: :class:`CountWindow` (the last n calls) or
            :class:`TimeWindow` (the last n seconds).
        min_calls: Calls the window must hold before the rates are judged;
            by default 20, or the size of a smaller count window.
        consecutive_failures: Also trip after this many failures in a row
            (for a purely consecutive breaker, pass ``failure_rate=None``).
        slow_call_duration: Calls that take at least this long are slow;
            ``None`` (the default) times nothing.
        slow_call_rate: Trip when this fraction of the calls in the window
            was slow, in (0, 1]; only with *slow_call_duration*.
        open_for: How long to stay open: seconds, a timedelta, or a
            :class:`~brace.Backoff` whose delays grow with each re-opening
            until the breaker closes again (its jitter applies; use
            ``jitter="none"`` for exact durations).
        half_open_calls: How many probe calls may run at once.
        success_threshold: Successful probes needed to close.
        probe_timeout: Seconds after which a probe's permit expires and the
            probe counts as failed (default 60).
        on: Exception types (or a predicate) that are failures.
        ignore: Exception types (or a predicate) that are neutral; takes
            precedence over *on*.
        failure_on_result: ``predicate(result) -> bool`` marking returned
            values as failures (not consulted by ``async with``, whose
            block returns nothing).
        count_rejected: Count :class:`~brace.RejectedError` (from inner
            guards) by *on* instead of as neutral.
        force_closed: Metrics-only mode for dark launches (see
            :attr:`force_closed`).
        listeners: Callbacks for this breaker's events
            (:class:`~brace.CircuitStateChanged`,
            :class:`~brace.CircuitRejected`, :class:`~brace.CircuitWouldOpen`).
        rng: Randomness for the jitter of a Backoff *open_for*.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range, or no rule could ever trip
            the breaker.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_count_rejected",
        "_ignore",
        "_ignore_option",
        "_on",
        "_on_option",
        "_result_failed",
        "_window_config",
    )

    def __init__(
        self,
        *,
        name: str | None = None,
        failure_rate: float | None = 0.5,
        window: CountWindow | TimeWindow = CountWindow(100),  # noqa: B008  (immutable)
        min_calls: int | None = None,
        consecutive_failures: int | None = None,
        slow_call_duration: Duration | None = None,
        slow_call_rate: float = 1.0,
        open_for: Duration | Backoff = 5.0,
        half_open_calls: int = 1,
        success_threshold: int = 1,
        probe_timeout: Duration = 60.0,
        on: type[Exception]
        | tuple[type[Exception], ...]
        | Callable[[Exception], bool] = Exception,
        ignore: type[Exception]
        | tuple[type[Exception], ...]
        | Callable[[Exception], bool] = (),
        failure_on_result: Callable[[Any], bool] | None = None,
        count_rejected: bool = False,
        force_closed: bool = False,
        listeners: Iterable[Listener] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.name = checked(name, str, "name", "a str") if name is not None else None
        self.label = name or "<breaker>"
        self._failure_rate = (
            None if failure_rate is None else rate(failure_rate, "failure_rate")
        )
        self._window_config = checked(
            window,
            CountWindow | TimeWindow,
            "window",
            "brace.CountWindow(n) or brace.TimeWindow(seconds)",
        )
        self._window = window._recorder()
        self._timed_window = isinstance(window, TimeWindow)
        self._min_calls = check_min_calls(min_calls, window)
        if consecutive_failures is not None:
            check_count(consecutive_failures, "consecutive_failures")
        self._max_consecutive: float = (
            math.inf if consecutive_failures is None else consecutive_failures
        )
        self._slow_after = (
            None
            if slow_call_duration is None
            else seconds(slow_call_duration, "slow_call_duration", allow_zero=False)
        )
        slow_rate = rate(slow_call_rate, "slow_call_rate")
        self._slow_rate = None if self._slow_after is None else slow_rate
        rules = (failure_rate, consecutive_failures, self._slow_after)
        if all(rule is None for rule in rules):
            msg = (
                "no rule could ever open this breaker: set failure_rate, "
                "consecutive_failures or slow_call_duration"
            )
            raise ValueError(msg)
        if isinstance(open_for, Backoff):
            self._backoff: Backoff | None = open_for
            self._open_for = open_for.initial
        else:
            self._backoff = None
            self._open_for = seconds(open_for, "open_for", allow_zero=False)
        check_count(half_open_calls, "half_open_calls")
        self._half_open_calls = half_open_calls
        check_count(success_threshold, "success_threshold")
        self._success_threshold = success_threshold
        self._probe_timeout = seconds(probe_timeout, "probe_timeout", allow_zero=False)
        self._on_option = on
        self._on = matcher(on, "on=")
        self._ignore_option = ignore
        self._ignore = None if ignore == () else matcher(ignore, "ignore=")
        self._result_failed = predicate(failure_on_result, "failure_on_result")
        self._count_rejected = checked(
            count_rejected, bool, "count_rejected", "True or False"
        )
        self._force_closed = checked(
            force_closed, bool, "force_closed", "True or False"
        )
        self.listeners = _events.listeners(listeners)
        self._lean = self._slow_after is None and self._result_failed is None
        self._healthy_at = window.size if isinstance(window, CountWindow) else -1
        self._rng = (
            None
            if rng is None
            else checked(rng, random.Random, "rng", "a random.Random")
        )
        self._init_state()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.label!r} state={self._state.value}>"

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("breaker", options)``: the constructor's options and their values.

        .. versionadded:: 0.1
        """
        return "breaker", describe_options(self)

    # -- classification ---------------------------------------------------------

    def _classify(self, exc: Exception) -> int:
        if isinstance(exc, NotAwaitable):
            return NEUTRAL
        ignore = self._ignore
        if ignore is not None and ignore(exc):
            return NEUTRAL
        if isinstance(exc, RejectedError) and not self._count_rejected:
            return NEUTRAL
        if isinstance(exc, TimeoutError):
            return FAILURE | SLOW
        return FAILURE if self._on(exc) else SUCCESS

    def _failed(self, gen: int, probe: int, start: float, exc: Exception) -> None:
        code = NEUTRAL
        try:
            code = self._classify(exc)
        finally:
            # Even when a user predicate raised: a probe permit is freed.
            self._settle(gen, probe, start, code)

    def _returned(self, gen: int, probe: int, start: float, result: object) -> None:
        judge = self._result_failed
        code = NEUTRAL
        try:
            code = FAILURE if judge is not None and judge(result) else SUCCESS
        finally:
            self._settle(gen, probe, start, code)

    # -- the three spellings ------------------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function so that every call goes through."""
        if not is_async_callable(fn):
            msg = (
                f"CircuitBreaker can only guard async functions, and {fn!r} is not one"
            )
            raise TypeError(msg)

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if self._fast:
                gen = self._gen
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    self._failed(gen, 0, 0.0, exc)
                    raise
                if not self._healthy:
                    self._returned(gen, 0, 0.0, result)
                return result
            gen, probe, start = self._admit()
            try:
                result = await fn(*args, **kwargs)
            except Exception as exc:
                self._failed(gen, probe, start, exc)
                raise
            except BaseException:
                if probe:
                    self._settle(gen, probe, start, NEUTRAL)
                raise
            self._returned(gen, probe, start, result)
            return result

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` through the breaker.

        Raises:
            brace.CircuitOpen: The breaker is open, isolated, or half-open
                with every probe permit taken; *fn* was not called.
            TypeError: *fn* returned something that is not awaitable (a
                synchronous function, which has then run once); neutral.
        """
        if self._fast:
            gen = self._gen
            probe = 0
            start = 0.0
        else:
            gen, probe, start = self._admit()
        try:
            awaitable: object = fn(*args, **kwargs)
            if not inspect.isawaitable(awaitable):
                msg = (
                    f"CircuitBreaker.call needs an async function, and {fn!r} "
                    f"returned {type(awaitable).__name__}"
                )
                raise NotAwaitable(msg)
            result: T = await awaitable
        except Exception as exc:
            self._failed(gen, probe, start, exc)
            raise
        except BaseException:
            if probe:
                self._settle(gen, probe, start, NEUTRAL)
            raise
        if probe or not self._healthy:
            self._returned(gen, probe, start, result)
        return result

    async def __aenter__(self) -> None:
        if self._fast:
            _entries.set((self, self._gen, 0, 0.0, _entries.get()))
            return
        gen, probe, start = self._admit()
        _entries.set((self, gen, probe, start, _entries.get()))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = _entries.get()
        if entry is not None and entry[0] is self:
            _entries.set(entry[4])
        else:
            entry = self._unlink(entry)
        if exc is None:
            # A block has no result for failure_on_result to judge.
            if entry[2] or not self._healthy:
                self._settle(entry[1], entry[2], entry[3], SUCCESS)
        elif isinstance(exc, Exception):
            self._failed(entry[1], entry[2], entry[3], exc)
        elif entry[2]:
            self._settle(entry[1], entry[2], entry[3], NEUTRAL)

    def _unlink(self, entry: _Entry | None) -> _Entry:
        """Take this breaker's innermost entry from under other breakers' ones.

        Blocks interleave when an async generator holds one across a yield.
        """
        skipped: list[_Entry] = []
        while entry is not None and entry[0] is not self:
            skipped.append(entry)
            entry = entry[4]
        if entry is None:
            msg = "CircuitBreaker.__aexit__ without a matching __aenter__ in this task"
            raise RuntimeError(msg)
        rest = entry[4]
        for other in reversed(skipped):
            rest = (other[0], other[1], other[2], other[3], rest)
        _entries.set(rest)
        return entry
