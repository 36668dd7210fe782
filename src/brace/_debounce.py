"""Debounce and throttle for ``async def`` functions, with lodash's timing.

Calls are folded into *batches*. A batch is one execution of the function,
with the arguments of the batch's latest call, and every caller folded into
it awaits that execution's outcome. A batch is pending (collecting calls
until its deadline), then running, then done. Each execution runs in a task
of its own, so that no one caller's cancellation can cancel what the others
wait for; the task lives only while somebody waits for it. The timing rules
of the two decorators live in :mod:`brace._debounce_engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import types
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import attrs

from ._debounce_batch import DONE, join
from ._debounce_engine import Config, Engine
from ._introspect import is_async_callable
from ._time import Duration, seconds

__all__ = [
    "DebounceStatistics",
    "Debounced",
    "Throttled",
    "debounce",
    "throttle",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
T = TypeVar("T")
S = TypeVar("S")

_UNBOUND: Any = object()

# Lets ``inspect.iscoroutinefunction`` (3.12+) and
# ``asyncio.iscoroutinefunction`` recognise the wrappers as async functions.
_mark_coroutine = getattr(inspect, "markcoroutinefunction", None)
_asyncio_marker = getattr(asyncio.coroutines, "_is_coroutine", None)


@attrs.frozen
class DebounceStatistics:
    """A snapshot of a debounced or throttled function's state.

    For a method accessed through the class (``Doc.save.statistics()``), the
    figures add up every instance's state.

    Attributes:
        executions: Executions started so far; one that was cancelled
            because every caller stopped waiting is not counted.
        waiting: Callers waiting for an execution now.
        pending: Whether an execution is scheduled and has not started.
        running: Whether an execution is running now.

    .. versionadded:: 0.1
    """

    executions: int
    waiting: int
    pending: bool
    running: bool


class _Coalescing(Generic[P, T]):
    """What :class:`Debounced` and :class:`Throttled` share."""

    # The wrapped function's metadata (``__name__``, ``__doc__``...) lives
    # in ``__dict__``, which the bound copies share with the function-level
    # object: binding to an instance costs no dict copy.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_bound",
        "_config",
        "_engine",
        "_fn",
        "_instances",
    )

    def __init__(self, fn: Callable[P, Awaitable[T]], config: Config) -> None:
        for name in ("__module__", "__name__", "__qualname__", "__doc__"):
            with contextlib.suppress(AttributeError):
                setattr(self, name, getattr(fn, name))
        self.__dict__.update(getattr(fn, "__dict__", {}))
        self.__dict__.pop("__wrapped__", None)
        if _mark_coroutine is not None:  # pragma: no cover - Python 3.12+
            _mark_coroutine(self)
        if _asyncio_marker is not None:  # pragma: no branch - gone in 3.14
            self.__dict__["_is_coroutine"] = _asyncio_marker
        self._fn = fn
        self._config = config
        self._bound: Any = _UNBOUND
        self._engine = Engine(fn, config, _name_of(fn))
        # One engine per instance, keyed by identity (not equality: two equal
        # objects must not share a schedule), the instance held weakly so
        # that its schedule goes away with it.
        self._instances: dict[int, tuple[weakref.ref[Any], Engine]] = {}

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        """The decorated function (bound to the instance, for methods)."""
        if self._bound is _UNBOUND:
            return self._fn
        return types.MethodType(self._fn, self._bound)

    def __repr__(self) -> str:
        config = self._config
        return f"<{type(self).__name__} {_name_of(self._fn)} {config.describe()}>"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call the function, debounced or throttled: see the class."""
        if self._bound is not _UNBOUND:
            args = (self._bound, *args)  # type: ignore[assignment]
        engine = self._engine
        batch, loop = engine.admit(args, kwargs)
        if batch.state == DONE:  # dropped onto a finished execution
            return batch.outcome()  # type: ignore[no-any-return]
        if loop is None:
            return await batch.wait_anyio(engine.leave)  # type: ignore[no-any-return]
        # On asyncio, waited for in this frame: one coroutine per call.
        future = batch.add_waiter(loop)
        try:
            return await future  # type: ignore[no-any-return]
        except BaseException as exc:
            task = batch.quit(future, engine.leave)
            if task is not None and not isinstance(exc, GeneratorExit):
                await join(task)  # the last caller: wait for the run to unwind
            raise

    def _bind(self, obj: object) -> Any:
        instances = self._instances
        key = id(obj)
        entry = instances.get(key)
        if entry is None or entry[0]() is not obj:
            try:
                ref = weakref.ref(obj, functools.partial(_forget, instances, key))
            except TypeError:
                msg = (
                    f"{type(self).__name__} keeps one schedule per instance, held "
                    f"weakly, and {type(obj).__qualname__} instances cannot be "
                    "weakly referenced; add '__weakref__' to its __slots__"
                )
                raise TypeError(msg) from None
            entry = (ref, Engine(self._fn, self._config, _name_of(self._fn)))
            instances[key] = entry
        bound = object.__new__(type(self))
        bound.__dict__ = self.__dict__
        bound._fn = self._fn
        bound._config = self._config
        bound._bound = obj
        bound._engine = entry[1]
        bound._instances = instances
        return bound

    def _engines(self) -> list[Engine]:
        if self._bound is not _UNBOUND:
            return [self._engine]
        others = list(self._instances.values())
        return [self._engine, *(engine for _, engine in others)]

    def cancel(self, reason: object = None) -> None:
        """Cancel the scheduled execution, like lodash's ``.cancel()``.

        The callers waiting for it raise :class:`brace.Cancelled` with
        *reason*, and the function forgets its timing: the next call starts
        afresh (for a throttle, a leading call runs at once). An execution
        that is already running is not interrupted; its callers get its
        outcome. On the function accessed through its class, this cancels
        every instance's schedule.

        Args:
            reason: Carried by the :class:`brace.Cancelled` the callers get.
        """
        for engine in self._engines():
            engine.cancel(reason)

    async def flush(self) -> None:
        """Run the scheduled execution now, and wait until nothing runs.

        Like lodash's ``.flush()``: the pending execution starts at once
        (after the running one, if any, as executions never overlap) with
        the latest arguments. Returns when both have finished. Its outcome
        goes to its callers; ``flush()`` itself returns ``None`` and does not
        raise the execution's exception. Cancelling ``flush()`` only stops
        it waiting. On the function accessed through its class, this
        flushes every instance's schedule.
        """
        watched = [(engine, engine.flush_now()) for engine in self._engines()]
        for engine, batch in watched:
            if batch is not None:
                await engine.watch(batch)

    def pending(self) -> bool:
        """Whether an execution is scheduled and has not started yet."""
        return any(engine.pending is not None for engine in self._engines())

    def statistics(self) -> DebounceStatistics:
        """A snapshot of the current state; see :class:`DebounceStatistics`."""
        engines = self._engines()
        return DebounceStatistics(
            executions=sum(engine.executions for engine in engines),
            waiting=sum(engine.waiting() for engine in engines),
            pending=any(engine.pending is not None for engine in engines),
            running=any(engine.running is not None for engine in engines),
        )


def _name_of(fn: object) -> str:
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


def _forget(
    instances: dict[int, tuple[weakref.ref[Any], Engine]],
    key: int,
    ref: weakref.ref[Any],
) -> None:
    entry = instances.get(key)
    if entry is not None and entry[0] is ref:
        del instances[key]


class Debounced(_Coalescing[P, T]):
    """An ``async def`` function, debounced; made by :func:`debounce`.

    Awaiting a call returns the outcome of the execution the call was folded
    into: see :func:`debounce` for the timing and the rules.

    On a method, each instance has its own schedule (held weakly: the state
    goes away with the instance); calls through the class
    (``Doc.save(doc)``) share one schedule of their own.

    .. versionadded:: 0.1
    """

    __slots__ = ()

    @overload
    def __get__(
        self, obj: None, objtype: type[Any] | None = None
    ) -> Debounced[P, T]: ...

    @overload
    def __get__(
        self: Debounced[Concatenate[S, P2], T],
        obj: S,
        objtype: type[Any] | None = None,
    ) -> Debounced[P2, T]: ...

    def __get__(self, obj: object, objtype: type[Any] | None = None) -> Any:
        return self if obj is None else self._bind(obj)


class Throttled(_Coalescing[P, T]):
    """An ``async def`` function, throttled; made by :func:`throttle`.

    Awaiting a call returns the outcome of the execution that covered it:
    see :func:`throttle` for the timing and the rules. Methods have one
    schedule per instance, as with :class:`Debounced`.

    .. versionadded:: 0.1
    """

    __slots__ = ()

    @overload
    def __get__(
        self, obj: None, objtype: type[Any] | None = None
    ) -> Throttled[P, T]: ...

    @overload
    def __get__(
        self: Throttled[Concatenate[S, P2], T],
        obj: S,
        objtype: type[Any] | None = None,
    ) -> Throttled[P2, T]: ...

    def __get__(self, obj: object, objtype: type[Any] | None = None) -> Any:
        return self if obj is None else self._bind(obj)


def _check_async(fn: object, what: str) -> None:
    if not is_async_callable(fn):
        msg = (
            f"{what} decorates async functions, and {fn!r} is not one; "
            "make it 'async def'"
        )
        raise TypeError(msg)


def debounce(
    wait: Duration, *, max_wait: Duration | None = None
) -> Callable[[Callable[P, Awaitable[T]]], Debounced[P, T]]:
    """Run the function only once calls have stopped for *wait* seconds.

    lodash's ``_.debounce(func, wait, {maxWait})`` for ``async def``
    functions and methods: returns a decorator that makes a
    :class:`Debounced`. Calls are grouped into bursts, in which each call
    comes less than *wait* after the previous one. The function runs once,
    *wait* seconds after the burst's last call, with that call's arguments,
    and every caller of the burst gets the outcome of that execution: its
    return value, or its exception (the same object, never swallowed).

    With *max_wait*, a long burst also runs the function every *max_wait*
    seconds, counted from its first call, so no call waits longer than
    *max_wait*; a steady stream of calls runs exactly every *max_wait*.

    A call at the very instant an execution is due starts the next burst.
    Executions never overlap: one that falls due while the previous one
    runs starts when it finishes, with the latest arguments.

    Cancelling a caller only stops it waiting (its arguments still count).
    When every caller of a scheduled execution has gone, it is dropped;
    when every caller of a running one has gone, it is cancelled, and the
    last caller's cancellation completes once it has finished unwinding.

    Args:
        wait: The quiet time, > 0, in seconds or as a timedelta.
        max_wait: The longest a call waits for its execution: >= *wait*, or
            ``None`` for no limit.

    Raises:
        ValueError: *wait* is not > 0, or *max_wait* is less than *wait*.
        TypeError: A duration is not a number or a timedelta; or (from the
            decorator) the decorated function is not async.

    .. versionadded:: 0.1
    """
    wait_s = seconds(wait, "wait", allow_zero=False)
    max_s = None if max_wait is None else seconds(max_wait, "max_wait")
    if max_s is not None and max_s < wait_s:
        msg = (
            f"max_wait ({max_s:g} s) must be >= wait ({wait_s:g} s): a burst "
            "cannot run sooner than wait after its first call; raise max_wait "
            "or omit it"
        )
        raise ValueError(msg)
    config = Config.for_debounce(wait_s, max_s)

    def decorate(fn: Callable[P, Awaitable[T]], /) -> Debounced[P, T]:
        _check_async(fn, "debounce")
        return Debounced(fn, config)

    return decorate


def throttle(
    interval: Duration, *, leading: bool = True, trailing: bool = True
) -> Callable[[Callable[P, Awaitable[T]]], Throttled[P, T]]:
    """Run the function at most once every *interval* seconds.

    lodash's ``_.throttle(func, wait, {leading, trailing})`` for ``async
    def`` functions and methods: returns a decorator that makes a
    :class:`Throttled`. Executions start at least *interval* apart.

    - *leading*: a call made when the last execution started at least
      *interval* ago runs at once.
    - *trailing*: the calls that cannot run at once are folded into one
      execution at the end of the interval, with the latest call's
      arguments. With ``leading=False``, that is *interval* after the first
      call not covered yet.
    - ``trailing=False``: the calls that cannot run at once are dropped;
      each gets the outcome of the execution that opened the interval
      (waiting for it if it still runs), as lodash returns the last result.

    Every caller gets the outcome of the execution that covered its call:
    the return value or the exception (the same object, never swallowed).

    Where lodash's code breaks its documented promise of "at most once per
    interval", brace keeps it: a leading call never runs sooner than
    *interval* after a trailing execution, and the next interval counts
    from a trailing execution, so a steady stream runs exactly every
    *interval*. Ties, overlap and cancellation work as for
    :func:`debounce`; an execution cancelled because its callers all left
    does not count, and the next call may run at once.

    Args:
        interval: The least time between two executions' starts, > 0, in
            seconds or as a timedelta.
        leading: Run a call at once when the interval allows.
        trailing: Fold the calls that cannot run at once into a later
            execution, instead of dropping them.

    Raises:
        ValueError: *interval* is not > 0, or *leading* and *trailing* are
            both false (the function would never run).
        TypeError: *interval* is not a number or a timedelta, *leading* or
            *trailing* is not a bool; or (from the decorator) the decorated
            function is not async.

    .. versionadded:: 0.1
    """
    interval_s = seconds(interval, "interval", allow_zero=False)
    flags: tuple[tuple[str, object], ...] = (
        ("leading", leading),
        ("trailing", trailing),
    )
    for name, value in flags:
        if not isinstance(value, bool):
            msg = f"{name} must be True or False, not {value!r}"
            raise TypeError(msg)
    if not (leading or trailing):
        msg = (
            "throttle(leading=False, trailing=False) would never run the "
            "function; keep at least one of them True"
        )
        raise ValueError(msg)
    config = Config.for_throttle(interval_s, leading=leading, trailing=trailing)

    def decorate(fn: Callable[P, Awaitable[T]], /) -> Throttled[P, T]:
        _check_async(fn, "throttle")
        return Throttled(fn, config)

    return decorate
