"""Chaos: a policy that injects faults, latency and canned results.

A Chaos layer is off until somebody turns it on, per instance or for the
whole process, so one left in production code by mistake never fires. While
off, a call through it costs one truth test: it does not even count calls.
"""

from __future__ import annotations

import functools
import random
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Generic, Never, ParamSpec, TypeVar, cast, overload

import attrs

from . import _events
from ._chaos_options import (
    check_enabled,
    check_name,
    fault_factory,
    latency_range,
    probability,
    random_source,
)
from ._describe import shown
from ._events import Listener
from ._introspect import is_async_callable
from ._time import Duration, async_sleep

__all__ = ["Chaos", "ChaosStatistics", "enable_chaos"]

P = ParamSpec("P")
T = TypeVar("T")
# The type of the fake result= (Never when there is none).
F = TypeVar("F")


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
# What _inject returns when the real call should go ahead.
_PROCEED: Any = _Unset()

# How many enable_chaos() blocks are open, in any task or thread, and every
# live policy, so that opening and closing a block can set each policy's
# one-attribute switch: the hot path then tests a single attribute.
_forced = 0
_policies: weakref.WeakSet[Chaos[Any]] = weakref.WeakSet()
_lock = threading.Lock()


@contextmanager
def enable_chaos() -> Iterator[None]:
    """Turn on every :class:`Chaos` policy of the process inside the block.

    For test suites whose code under test builds its own Chaos layers: the
    policies fire while the block is open, whatever their own *enabled*
    state, in every task and thread. Blocks nest.

    .. versionadded:: 0.1
    """
    global _forced  # noqa: PLW0603
    with _lock:
        _forced += 1
        for policy in _policies:
            policy._on = True
    try:
        yield
    finally:
        with _lock:
            _forced -= 1
            for policy in _policies:
                policy._on = policy._enabled or _forced > 0


@attrs.frozen
class ChaosStatistics:
    """A snapshot of a :class:`Chaos` policy's counters.

    A call cancelled during injected latency is not counted at all.

    Attributes:
        calls: Calls made through the policy while it was enabled, hit or
            not (calls while it is off are not counted, to keep that path
            free).
        injected: Calls that something was injected into (the *rate* draw
            hit while the policy was enabled).
        faults: Calls failed with the injected *fault*.
        results: Calls answered with the injected *result*.
        latencies: Calls delayed by the injected *latency*.
        latency_total: Seconds of latency injected, in all.

    .. versionadded:: 0.1
    """

    calls: int
    injected: int
    faults: int
    results: int
    latencies: int
    latency_total: float


def _name_of(fn: object) -> str:
    # Callable objects have no __qualname__; their class names them well
    # enough, where a repr would put a memory address in every event.
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else type(fn).__qualname__


class Chaos(Generic[F]):
    """Inject faults, latency or canned results into calls, for tests.

    Put it innermost, right around the call, so that every outer policy
    (retry, breaker, timeout, fallback) sees the injected failure exactly as
    it would see a real one. Use it as a decorator on ``async def``
    functions, with :meth:`call`, or as ``async with`` (without *result*).

    **It does nothing until enabled**: pass ``enabled=True``, call
    :meth:`enable`, use ``with chaos.enabled():``, or turn on every Chaos of
    the process with :func:`enable_chaos`. No environment variable turns it
    on, so a layer left in production code by mistake stays inert.

    Each call draws once: with probability *rate*, the call is delayed by
    *latency* (when given) and then fails with *fault*, or returns *result*
    instead of running, or, with latency alone, runs late. Latency sleeps on
    the running loop's clock, so it follows virtual time on asyncio and
    trio. A call cancelled during injected latency leaves no trace in the
    statistics. Each injected fault is a fresh exception carrying the note
    ``brace: injected by chaos (<name>)``.

    ``describe()`` returns ``("chaos", options)``: the constructor options
    and their current values (*fault* and *rng* by repr or qualified name,
    *result* by repr, or ``None`` when not given; *latency* as float
    seconds or a ``(low, high)`` pair).

    Args:
        fault: Raised instead of calling: an exception instance (copied for
            each injection), an Exception subclass (instantiated without
            arguments) or a factory returning an exception instance.
        rate: The probability, from 0 to 1, that a call is hit.
        latency: Seconds (or a timedelta) to wait before the hit call, or a
            ``(low, high)`` pair to draw each delay uniformly from.
        result: Returned instead of calling; the decorated function's return
            type widens to include its type. Exclusive with *fault*.
        seed: Seeds a private :class:`random.Random`, for reproducible runs.
        rng: The random source to draw from; exclusive with *seed*.
        enabled: Whether the policy fires from the start.
        name: Names the policy in events and notes; defaults to the
            protected function's qualified name.
        listeners: Callbacks for this policy's events (:class:`~brace.ChaosInjected`).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range, nothing to inject was
            given, or both *fault* and *result* were.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__weakref__",
        "_calls",
        "_enabled",
        "_fault",
        "_faults",
        "_injected",
        "_latencies",
        "_latency",
        "_latency_total",
        "_make_fault",
        "_on",
        "_rate",
        "_result",
        "_results",
        "_rng",
        "_rng_option",
        "_seed",
        "listeners",
        "name",
    )

    @overload
    def __init__(
        self: Chaos[Never],
        *,
        fault: Exception | type[Exception] | Callable[[], Exception] | None = None,
        rate: float = 1.0,
        latency: Duration | tuple[Duration, Duration] | None = None,
        seed: int | None = None,
        rng: random.Random | None = None,
        enabled: bool = False,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    @overload
    def __init__(
        self: Chaos[F],
        *,
        result: F,
        rate: float = 1.0,
        latency: Duration | tuple[Duration, Duration] | None = None,
        seed: int | None = None,
        rng: random.Random | None = None,
        enabled: bool = False,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    def __init__(
        self,
        *,
        fault: Exception | type[Exception] | Callable[[], Exception] | None = None,
        result: Any = _UNSET,
        rate: float = 1.0,
        latency: Duration | tuple[Duration, Duration] | None = None,
        seed: int | None = None,
        rng: random.Random | None = None,
        enabled: bool = False,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if fault is not None and result is not _UNSET:
            msg = (
                "fault= and result= are alternatives; stack two Chaos layers "
                "to inject both"
            )
            raise ValueError(msg)
        self._latency = latency_range(latency)
        if fault is None and result is _UNSET and self._latency is None:
            msg = "Chaos needs something to inject: fault=, latency= or result="
            raise ValueError(msg)
        self._make_fault = None if fault is None else fault_factory(fault)
        self._fault: object = fault
        self._result: object = result
        self._rate = probability(rate)
        self._rng = random_source(seed, rng)
        self._rng_option = rng
        self._seed = seed
        self._enabled = check_enabled(enabled)
        with _lock:
            self._on = enabled or _forced > 0
            _policies.add(self)
        self.name = check_name(name)
        self.listeners: tuple[Listener, ...] = _events.listeners(listeners)
        self._calls = self._injected = self._faults = 0
        self._results = self._latencies = 0
        self._latency_total = 0.0

    def __repr__(self) -> str:
        options = self.describe()[1]
        text = ", ".join(
            f"{key}={value!s}" if key in ("fault", "result") else f"{key}={value!r}"
            for key, value in options.items()
            if value is not None and key != "listeners"
        )
        return f"Chaos({text})"

    # -- switching on and off --------------------------------------------------

    @property
    def is_enabled(self) -> bool:
        """Whether calls are hit now (this policy's switch or :func:`enable_chaos`)."""
        return self._on

    def _switch(self, enabled: bool) -> None:
        with _lock:
            self._enabled = enabled
            self._on = enabled or _forced > 0

    def enable(self) -> None:
        """Start injecting."""
        self._switch(True)

    def disable(self) -> None:
        """Stop injecting (:func:`enable_chaos` blocks still override it)."""
        self._switch(False)

    @contextmanager
    def enabled(self) -> Iterator[None]:
        """Enable the policy inside a ``with`` block, then restore its state."""
        previous = self._enabled
        self._switch(True)
        try:
            yield
        finally:
            self._switch(previous)

    # -- introspection -----------------------------------------------------------

    def statistics(self) -> ChaosStatistics:
        """A consistent snapshot of the counters."""
        return ChaosStatistics(
            calls=self._calls,
            injected=self._injected,
            faults=self._faults,
            results=self._results,
            latencies=self._latencies,
            latency_total=self._latency_total,
        )

    def describe(self) -> tuple[str, dict[str, object]]:
        """The policy kind, ``"chaos"``, and its options (see the class)."""
        latency: object = None
        if self._latency is not None:
            low, high = self._latency
            latency = low if low == high else (low, high)
        return "chaos", {
            "fault": shown(self._fault),
            "result": None if self._result is _UNSET else repr(self._result),
            "rate": self._rate,
            "latency": latency,
            "seed": self._seed,
            "rng": shown(self._rng_option),
            "enabled": self._enabled,
            "name": self.name,
            "listeners": shown(self.listeners),
        }

    # -- the three spellings -----------------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T | F]]:
        """Decorate an ``async def`` function with fault injection."""
        if not is_async_callable(fn):
            msg = (
                f"Chaos can only wrap async functions, and {fn!r} is not one; "
                "injected latency needs an event loop to wait on"
            )
            raise TypeError(msg)
        name = self.name or _name_of(fn)

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T | F:
            if self._on:
                outcome = await self._inject(name)
                if outcome is not _PROCEED:
                    return cast("F", outcome)
            return await fn(*args, **kwargs)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T | F:
        """Await ``fn(*args, **kwargs)`` through the policy."""
        if self._on:
            name = self.name or _name_of(fn)
            outcome = await self._inject(name)
            if outcome is not _PROCEED:
                return cast("F", outcome)
        return await fn(*args, **kwargs)

    async def __aenter__(self) -> None:
        if self._result is not _UNSET:
            msg = (
                "a Chaos with result= cannot guard an async with block, which "
                "has no result to replace; use it as a decorator or with call()"
            )
            raise TypeError(msg)
        if self._on:
            await self._inject(self.name or "<chaos>")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    # -- injection ---------------------------------------------------------------

    async def _inject(self, name: str) -> object:
        """Draw, and inject what is configured; _PROCEED to run the call."""
        rate = self._rate
        if rate < 1.0 and (rate <= 0.0 or self._rng.random() >= rate):
            self._calls += 1
            return _PROCEED
        delay: float | None = None
        if self._latency is not None:
            low, high = self._latency
            delay = low if low == high else self._rng.uniform(low, high)
            # Cancelled here, the call never happened as far as the
            # counters and events are concerned.
            await async_sleep(delay)
        error = None if self._make_fault is None else self._make_fault()
        self._calls += 1
        self._injected += 1
        notify = _events.enabled(self.listeners)
        if delay is not None:
            self._latencies += 1
            self._latency_total += delay
            if notify:
                _events.emit(
                    _events.ChaosInjected(name=name, kind="latency", latency=delay),
                    self.listeners,
                )
        if error is not None:
            self._faults += 1
            error.add_note(f"brace: injected by chaos ({name})")
            if notify:
                _events.emit(
                    _events.ChaosInjected(name=name, kind="fault", error=error),
                    self.listeners,
                )
            raise error
        if self._result is not _UNSET:
            self._results += 1
            if notify:
                _events.emit(
                    _events.ChaosInjected(
                        name=name, kind="result", result=self._result
                    ),
                    self.listeners,
                )
            return self._result
        return _PROCEED
