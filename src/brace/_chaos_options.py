"""Checking and converting the options of :class:`~brace.testing.Chaos`."""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable
from typing import cast

from ._time import seconds

__all__ = [
    "check_enabled",
    "check_name",
    "fault_factory",
    "latency_range",
    "probability",
    "random_source",
]


def copy_exception(template: Exception) -> Exception:
    # A fresh copy per injection: raising one instance again and again would
    # grow its traceback, and notes added downstream would pile up on it.
    error = copy.copy(template)
    notes = getattr(template, "__notes__", None)
    if notes is not None:
        error.__notes__ = list(notes)
    return error


def fault_factory(fault: object) -> Callable[[], Exception]:
    if isinstance(fault, BaseException):
        if not isinstance(fault, Exception):
            msg = (
                f"fault must be an Exception, not {fault!r}: chaos never fakes "
                "cancellation or an exit"
            )
            raise TypeError(msg)
        try:
            copy_exception(fault)
        except Exception as exc:
            msg = (
                f"fault={fault!r} cannot be copied for each injection; pass a "
                "factory instead, such as fault=lambda: MyError(...)"
            )
            raise TypeError(msg) from exc
        return functools.partial(copy_exception, fault)
    if isinstance(fault, type):
        if not issubclass(fault, Exception):
            msg = f"fault must be an Exception subclass, not {fault!r}"
            raise TypeError(msg)
        try:
            fault()
        except Exception as exc:
            msg = (
                f"fault={fault.__qualname__} needs arguments; pass an instance "
                f"or a factory instead, such as fault=lambda: {fault.__qualname__}(...)"
            )
            raise TypeError(msg) from exc
        return fault
    if callable(fault):
        factory = cast("Callable[[], object]", fault)

        def make() -> Exception:
            error = factory()
            if not isinstance(error, Exception):
                msg = (
                    f"the fault factory {factory!r} returned {error!r}, not an "
                    "Exception instance"
                )
                raise TypeError(msg)
            return error

        return make
    msg = (
        "fault must be an exception instance, an Exception subclass or a "
        f"factory returning one, not {fault!r}"
    )
    raise TypeError(msg)


def latency_range(value: object) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        if len(value) != 2:
            msg = f"latency must be seconds or a (low, high) pair, not {value!r}"
            raise ValueError(msg)
        low = seconds(value[0], "latency low bound")
        high = seconds(value[1], "latency high bound")
        if low > high:
            msg = f"latency range must have low <= high, not {value!r}"
            raise ValueError(msg)
        return low, high
    fixed = seconds(value, "latency")
    return fixed, fixed


def probability(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"rate must be a probability (a number from 0 to 1), not {value!r}"
        raise TypeError(msg)
    # Written so that NaN fails too.
    if not 0.0 <= value <= 1.0:
        msg = f"rate must be from 0 to 1, not {value!r}"
        raise ValueError(msg)
    return float(value)


def random_source(seed: object, rng: object) -> random.Random:
    if seed is not None and rng is not None:
        msg = "pass seed= or rng=, not both: a seed builds a new random.Random"
        raise ValueError(msg)
    if rng is not None:
        if not all(callable(getattr(rng, m, None)) for m in ("random", "uniform")):
            msg = f"rng must be a random.Random, not {rng!r}"
            raise TypeError(msg)
        return cast("random.Random", rng)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        msg = f"seed must be an int (or None), not {seed!r}"
        raise TypeError(msg)
    return random.Random(seed)


def check_enabled(value: object) -> bool:
    # A string such as "false" from a config file must not switch chaos on.
    if not isinstance(value, bool):
        msg = f"enabled must be True or False, not {value!r}"
        raise TypeError(msg)
    return value


def check_name(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        msg = f"name must be a str (or None), not {value!r}"
        raise TypeError(msg)
    return value
