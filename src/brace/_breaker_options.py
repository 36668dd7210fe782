"""Checking a CircuitBreaker's options, and describing them back."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._breaker_window import CountWindow, Window
from ._matching import compile_on
from ._time import check_count

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker

__all__ = [
    "NotAwaitable",
    "check_min_calls",
    "checked",
    "describe_options",
    "matcher",
    "name_of",
    "predicate",
    "rate",
]

_DEFAULT_MIN_CALLS = 20


class NotAwaitable(TypeError):
    """``call()`` was given a function that returned no awaitable: neutral."""


def rate(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{what} must be a number in (0, 1], not {value!r}"
        raise TypeError(msg)
    if not 0 < value <= 1:
        msg = f"{what} must be in (0, 1] (a fraction of the calls), not {value!r}"
        raise ValueError(msg)
    return float(value)


def matcher(value: object, what: str) -> Callable[[Exception], bool]:
    kinds = value if isinstance(value, tuple) else (value,)
    if not (isinstance(value, type | tuple) or callable(value)) or (
        isinstance(value, type | tuple)
        and not all(isinstance(k, type) and issubclass(k, Exception) for k in kinds)
    ):
        msg = (
            f"{what} takes Exception subclasses, a tuple of them or a predicate, "
            f"not {value!r}; cancellation is always neutral"
        )
        raise TypeError(msg)
    return compile_on(value)


def checked(value: object, kind: Any, what: str, expected: str) -> Any:
    if not isinstance(value, kind):
        msg = f"{what} must be {expected}, not {value!r}"
        raise TypeError(msg)
    return value


def check_min_calls(value: int | None, window: Window) -> int:
    limit = window.size if isinstance(window, CountWindow) else None
    if value is None:
        return _DEFAULT_MIN_CALLS if limit is None else min(limit, _DEFAULT_MIN_CALLS)
    check_count(value, "min_calls")
    if limit is not None and value > limit:
        msg = (
            f"min_calls ({value}) exceeds the window's {limit} calls: the "
            "rates would never be judged; lower min_calls or widen the window"
        )
        raise ValueError(msg)
    return value


def name_of(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple):
        return tuple(name_of(v) for v in value)
    return getattr(value, "__qualname__", None) or repr(value)


def predicate(value: object, what: str) -> Callable[[Any], bool] | None:
    if value is not None and not callable(value):
        msg = f"{what} must be a predicate, not {value!r}"
        raise TypeError(msg)
    return value


def describe_options(cb: CircuitBreaker) -> dict[str, object]:
    """The options of *cb* for ``describe()``, in plain values."""
    slow_rate = cb._slow_rate
    return {
        "name": cb.name,
        "failure_rate": cb._failure_rate,
        "window": repr(cb._window_config),
        "min_calls": cb._min_calls,
        "consecutive_failures": (
            None if cb._max_consecutive == math.inf else int(cb._max_consecutive)
        ),
        "slow_call_duration": cb._slow_after,
        "slow_call_rate": 1.0 if slow_rate is None else slow_rate,
        "open_for": cb._open_for if cb._backoff is None else repr(cb._backoff),
        "half_open_calls": cb._half_open_calls,
        "success_threshold": cb._success_threshold,
        "probe_timeout": cb._probe_timeout,
        "on": name_of(cb._on_option),
        "ignore": name_of(cb._ignore_option),
        "failure_on_result": name_of(cb._result_failed),
        "count_rejected": cb._count_rejected,
        "force_closed": cb._force_closed,
    }
