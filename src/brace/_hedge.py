"""The Hedge policy: its options, their validation, and the decisions that
both drivers share (what a failure means, what the budget says, what to
report). The races themselves run in ``_hedge_asyncio`` (the primary
attempt inline in the caller's task) and ``_hedge_anyio`` (every attempt in
a task group, for trio and other anyio backends).
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import attrs

from . import _events
from ._budget import SupportsRetryBudget
from ._introspect import NotAwaitableError, awaitable_only, is_async_callable
from ._matching import compile_on
from ._quantile import LatencyWindow, parse_percentile
from ._time import Duration, check_count, check_name, seconds

if TYPE_CHECKING:
    import asyncio

    from ._hedge_asyncio import Scheduler

__all__ = ["Hedge"]

P = ParamSpec("P")
T = TypeVar("T")

On = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]

_log = logging.getLogger("brace")

MAX_HEDGES = 10
_DEFAULT_WINDOW = 100
_DEFAULT_MIN_SAMPLES = 20


def _delay(value: Duration | str) -> float | str:
    if isinstance(value, str):
        parse_percentile(value)  # validates; the fraction is kept privately
        return value
    return seconds(value, "delay")


def _initial_delay(value: Duration | None) -> float | None:
    return None if value is None else seconds(value, "initial_delay")


def _check_max_hedges(_: object, __: object, value: object) -> None:
    check_count(value, "max_hedges")
    assert isinstance(value, int)  # noqa: S101 (check_count ensured it)
    if value > MAX_HEDGES:
        msg = (
            f"max_hedges must be at most {MAX_HEDGES}, not {value}: every hedge "
            "is another copy of the same request"
        )
        raise ValueError(msg)


def _check_optional_count(
    _: object, attribute: attrs.Attribute[Any], value: object
) -> None:
    if value is not None:
        check_count(value, attribute.name)


def _check_bool(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"{attribute.name} must be True or False, not {value!r}"
        raise TypeError(msg)


def _check_budget(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, SupportsRetryBudget):
        msg = f"budget must be a RetryBudget (or None), not {value!r}"
        raise TypeError(msg)


def _label(value: object) -> object:
    """How describe() shows a callable option."""
    if isinstance(value, tuple):
        return tuple(_label(item) for item in value)
    qualname = getattr(value, "__qualname__", None)
    return qualname if isinstance(qualname, str) else repr(value)


class _Schedulers:
    """The hedging timers of one policy: one scheduler per event loop."""

    __slots__ = ("by_loop", "last")

    def __init__(self) -> None:
        # Weak values: a scheduler refers to its loop, so weak keys would
        # keep every loop alive. A scheduler lives while it is the last one
        # used, has a timer set on its loop, or has calls in flight.
        self.by_loop: weakref.WeakValueDictionary[
            asyncio.AbstractEventLoop, Scheduler
        ] = weakref.WeakValueDictionary()
        self.last: Scheduler | None = None


@attrs.frozen(kw_only=True)
class Hedge:
    """Start a backup attempt of a slow call; the first success wins.

    Use it as a decorator on ``async def`` functions (methods included), or
    with :meth:`call`. The call starts as usual (the *primary* attempt). If it has not
    finished after *delay* seconds, the same call starts again (a *hedge*),
    and again every *delay* seconds up to *max_hedges* hedges. The first
    attempt to succeed wins: its result is returned, and every other
    attempt is cancelled and awaited before the call returns, so no task
    outlives the call. If every attempt fails, the primary's exception
    propagates (with a note listing what the hedges raised).

    **Hedged calls must be idempotent**: several copies of the request may
    reach the server, and more than one of them may take effect before the
    losers are cancelled. Hedge reads, and writes that carry an idempotency
    key.

    On asyncio the primary runs inline in the calling task, and hedges in
    new tasks (with a copy of the caller's context); a primary that
    succeeds before *delay* costs no task at all. On trio (through anyio)
    every attempt runs in a task group. Cancelling the caller cancels every
    attempt and waits for them.

    One policy instance is safe to share between tasks. With a percentile
    *delay* it also keeps the recent latencies of its primaries, so use one
    instance per dependency.

    ``describe()`` returns ``("hedge", options)``, where *options* maps each
    constructor option to its value (durations in seconds, callables by
    qualified name, the budget by ``repr``).

    Args:
        delay: How long the primary (and then each hedge) may run before
            the next hedge starts: seconds (>= 0) or a timedelta, or a
            percentile of recent primary latencies such as ``"p95"``
            (``"p50"`` to ``"p99.9"``). ``0`` starts every attempt at once.
        max_hedges: How many hedges a call may start, from 1 to 10 (on top
            of the primary).
        on: Which failures of an attempt let the others carry on: an
            :class:`Exception` subclass, a tuple of them, or a predicate.
            Any other exception propagates at once and cancels the other
            attempts. Default: every :class:`Exception`.
        hedge_on_failure: When an attempt fails with a matching exception,
            start the next hedge at once instead of waiting for *delay*.
        initial_delay: With a percentile *delay*, the delay to use until
            *min_samples* primary latencies have been seen. Required then,
            and only then.
        window: With a percentile *delay*, how many recent primary
            latencies to keep (default 100).
        min_samples: With a percentile *delay*, how many latencies must be
            seen before the percentile is used (default 20).
        budget: A shared retry budget (:class:`SupportsRetryBudget`). Each
            hedge first asks ``budget.withdraw(error)``, with the failure
            that started it, or ``None`` when the delay started it; a
            refusal stops hedging for this call. A call that succeeds
            reports ``budget.deposit(attempts_started, last)``, with
            *last* what the last ``withdraw`` was given.
        name: Names the call in events and notes; defaults to the
            function's qualified name.
        listeners: Callbacks for this policy's events (:class:`HedgeStarted`,
            :class:`HedgeWon`).

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range, or *initial_delay*,
            *window* or *min_samples* is given without a percentile delay
            (or *initial_delay* is missing with one).

    .. versionadded:: 0.1
    """

    delay: float | str = attrs.field(converter=_delay)
    max_hedges: int = attrs.field(default=1, validator=_check_max_hedges)
    on: On = Exception
    hedge_on_failure: bool = attrs.field(default=True, validator=_check_bool)
    initial_delay: float | None = attrs.field(default=None, converter=_initial_delay)
    window: int | None = attrs.field(default=None, validator=_check_optional_count)
    min_samples: int | None = attrs.field(default=None, validator=_check_optional_count)
    budget: SupportsRetryBudget | None = attrs.field(
        default=None, validator=_check_budget
    )
    name: str | None = attrs.field(
        default=None, validator=lambda _, __, value: check_name(value, "a Hedge's")
    )
    listeners: tuple[_events.Listener, ...] = attrs.field(
        default=(), converter=_events.listeners
    )
    _matches: Callable[[Exception], bool] = attrs.field(
        init=False, repr=False, eq=False
    )
    # The delay when it is a fixed number of seconds, else None.
    _fixed: float | None = attrs.field(init=False, repr=False, eq=False)
    # The recent primary latencies, for a percentile delay, else None.
    _window: LatencyWindow | None = attrs.field(init=False, repr=False, eq=False)
    _schedulers: _Schedulers = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        setattr_ = functools.partial(object.__setattr__, self)
        setattr_("_matches", compile_on(self.on))
        setattr_("_schedulers", _Schedulers())
        if isinstance(self.delay, float):
            for option in ("initial_delay", "window", "min_samples"):
                if getattr(self, option) is not None:
                    msg = (
                        f"{option} only applies to a percentile delay such as "
                        f"delay='p95'; delay={self.delay:g} is fixed"
                    )
                    raise ValueError(msg)
            setattr_("_fixed", self.delay)
            setattr_("_window", None)
            return
        if self.initial_delay is None:
            msg = (
                f"delay={self.delay!r} needs initial_delay=: the delay to use "
                "until enough latencies have been seen"
            )
            raise ValueError(msg)
        window = _DEFAULT_WINDOW if self.window is None else self.window
        least = min(_DEFAULT_MIN_SAMPLES, window)
        min_samples = least if self.min_samples is None else self.min_samples
        if min_samples > window:
            msg = f"min_samples ({min_samples}) cannot exceed window ({window})"
            raise ValueError(msg)
        setattr_("_fixed", None)
        setattr_(
            "_window", LatencyWindow(window, parse_percentile(self.delay), min_samples)
        )

    # -- public API ------------------------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function so that its calls are hedged."""
        if not is_async_callable(fn):
            msg = (
                f"Hedge can only race async functions, and {fn!r} is not one; "
                "a synchronous call cannot be cancelled when another wins"
            )
            raise TypeError(msg)
        from ._hedge_asyncio import hedged

        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        wrapper = functools.wraps(fn)(hedged(self, fn, name))
        return cast("Callable[P, Coroutine[Any, Any, T]]", wrapper)

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)``, hedged under this policy.

        Raises:
            TypeError: *fn* returned something that is not awaitable.
        """
        from ._hedge_asyncio import hedged

        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        if is_async_callable(fn):
            return cast("T", await hedged(self, fn, name)(*args, **kwargs))
        try:
            result = await hedged(
                self, awaitable_only(fn, "Hedge", "only awaitables can be raced"), name
            )(*args, **kwargs)
        except NotAwaitableError as exc:
            raise exc.error from None
        return cast("T", result)

    def current_delay(self) -> float:
        """The hedging delay that a call starting now would use, in seconds.

        For a percentile delay: the percentile of the latencies in the
        window, or *initial_delay* while there are fewer than
        *min_samples*.
        """
        return self._delay_now()

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("hedge", options)``: this policy's kind and its options."""
        window = self._window
        return (
            "hedge",
            {
                "delay": self.delay,
                "max_hedges": self.max_hedges,
                "on": _label(self.on),
                "hedge_on_failure": self.hedge_on_failure,
                "initial_delay": self.initial_delay,
                "window": None if window is None else window._size,
                "min_samples": None if window is None else window._min,
                "budget": None if self.budget is None else repr(self.budget),
                "name": self.name,
                "listeners": tuple(_label(item) for item in self.listeners),
            },
        )

    # -- decisions shared by both drivers ------------------------------------

    def _delay_now(self) -> float:
        fixed = self._fixed
        if fixed is not None:
            return fixed
        assert self._window is not None  # noqa: S101
        assert self.initial_delay is not None  # noqa: S101
        value = self._window.value()
        return self.initial_delay if value is None else value

    def _fatal(self, error: BaseException) -> BaseException | None:
        """``None`` if *error* lets the other attempts carry on, else what
        to raise: the error itself, or the ``on`` predicate's own failure."""
        if not isinstance(error, Exception):
            return error
        try:
            matched = self._matches(error)
        except Exception as exc:
            if exc.__context__ is None:
                exc.__context__ = error
            return exc
        return None if matched else error

    def _withdraw(self, error: Exception | None) -> bool:
        budget = self.budget
        if budget is None:
            return True
        try:
            return bool(budget.withdraw(error))
        except Exception:
            # Runs in event-loop callbacks too, where raising would only
            # reach the loop's exception handler: refuse, loudly.
            _log.exception("brace: the budget of a Hedge failed; not hedging")
            return False

    def _succeeded(
        self,
        name: str,
        winner: int,
        attempts: int,
        last: Exception | None,
        elapsed: float,
    ) -> None:
        """Report a call that *winner* won, after *attempts* were started."""
        if self.budget is not None:
            self.budget.deposit(attempts, last)
        if attempts > 1 and (_events.subscribers or self.listeners):
            _events.emit(
                _events.HedgeWon(
                    name=name, attempt=winner, attempts=attempts, elapsed=elapsed
                ),
                self.listeners,
            )

    def _started(
        self,
        name: str,
        attempt: int,
        reason: str,
        delay: float,
        error: Exception | None,
    ) -> None:
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.HedgeStarted(
                    name=name, attempt=attempt, reason=reason, delay=delay, error=error
                ),
                self.listeners,
            )

    @staticmethod
    def _all_failed(
        primary: BaseException, hedges: list[BaseException]
    ) -> BaseException:
        """The primary's error, noting what the hedges raised."""
        if hedges:
            raised = ", ".join(
                f"{type(exc).__qualname__}({exc!s:.200})" for exc in hedges
            )
            plural = "s" if len(hedges) != 1 else ""
            primary.add_note(
                f"brace: every hedged attempt failed; this is the primary's "
                f"error, and the {len(hedges)} hedge{plural} raised {raised}"
            )
        return primary
