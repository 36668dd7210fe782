"""Compiling ``on=`` into a predicate that decides which failures to retry.

Only :class:`Exception` instances are ever matched: cancellation and the
other :class:`BaseException` subclasses never reach a user's predicate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

__all__ = ["compile_on"]


def _leaves(exc: ExceptionGroup[Exception]) -> list[Exception]:
    out: list[Exception] = []
    for inner in exc.exceptions:
        if isinstance(inner, ExceptionGroup):
            out.extend(_leaves(inner))
        else:
            out.append(inner)
    return out


def compile_on(on: object) -> Callable[[Exception], bool]:
    """Turn ``on=`` into a predicate over exceptions, validating it."""
    if isinstance(on, type | tuple):
        types: tuple[object, ...] = on if isinstance(on, tuple) else (on,)
        for kind in types:
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                msg = (
                    f"on= takes Exception subclasses or a predicate, not {kind!r}; "
                    "cancellation, KeyboardInterrupt and SystemExit are never retried"
                )
                raise TypeError(msg)

        kinds = cast("tuple[type[Exception], ...]", types)

        def matches(exc: Exception) -> bool:
            if isinstance(exc, kinds):
                return True
            if isinstance(exc, ExceptionGroup):
                return all(isinstance(leaf, kinds) for leaf in _leaves(exc))
            return False

        return matches
    if callable(on):
        predicate = cast("Callable[[Exception], object]", on)

        def satisfies(exc: Exception) -> bool:
            if isinstance(exc, ExceptionGroup):
                return all(predicate(leaf) for leaf in _leaves(exc))
            return bool(predicate(exc))

        return satisfies
    msg = f"on= takes an exception type, a tuple of them, or a predicate, not {on!r}"
    raise TypeError(msg)
