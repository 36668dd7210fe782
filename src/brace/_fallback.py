"""The Fallback policy: a value or a factory in place of a failure."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from types import CoroutineType
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

import attrs

from . import _events
from ._describe import shown
from ._errors import Cancelled, is_transient
from ._events import Listener
from ._introspect import NotAwaitableError, is_async_callable
from ._matching import compile_on

__all__ = ["Fallback"]

P = ParamSpec("P")
T = TypeVar("T")
# The fallback's own type ("F" for fallback; single letters also keep the
# docs' cross-reference check quiet).
F = TypeVar("F", covariant=True)  # noqa: PLC0105 - see above

On = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]


# value=None is a legitimate fallback, so "no value" needs its own marker.
_MISSING: Any = object()

_SCALARS = (type(None), bool, int, float, str, bytes)


def _cancelled(exc: Exception) -> bool:
    """Whether *exc* is, or contains, a CancelToken cancellation."""
    if isinstance(exc, Cancelled):
        return True
    return isinstance(exc, ExceptionGroup) and exc.subgroup(Cancelled) is not None


@attrs.frozen(init=False)
class Fallback(Generic[F]):
    """Return a fallback value when a call fails with a handled exception.

    Give exactly one of *value* (returned as is; ``None`` is a value too) or
    *factory* (called with the handled exception; it may be sync or
    ``async``). Use it as a decorator on ``async def`` functions or with
    :meth:`call`. The policy is immutable and safe to share.

    Only :class:`Exception` instances are handled, and only those that *on*
    accepts: by default :class:`brace.RejectedError` and the other transient
    errors of :func:`brace.is_transient` (timeouts, connection errors,
    ``OSError`` with a transient errno, httpx transport errors and 429/5xx
    responses), never every ``Exception``, so that bugs still surface.
    Cancellation is never handled: not the task's (asyncio's, trio's,
    anyio's), and not :class:`brace.Cancelled` from a token, even if *on*
    matches it. :class:`KeyboardInterrupt` and :class:`SystemExit` pass
    through too.

    When the factory raises, its exception propagates, with the handled
    exception as its ``__context__`` ("During handling of the above
    exception, another exception occurred"), so neither is lost.

    Typing: ``Fallback(value=0)`` is a ``Fallback[int]``. Decorating an
    ``async def f() -> T`` gives a function that returns ``T | int``; a
    fallback of the function's own return type (or a subtype) disappears in
    the union, ``value=None`` makes the result optional, and a fallback of
    an unrelated type shows up where the result is used.

    ``describe()`` returns ``("fallback", options)``: *value* (numbers,
    strings, ``None`` as they are, other objects by ``repr``) or *factory*
    (by qualified name), and *on*, *on_result*, *name* and *listeners*.

    Args:
        value: The value returned in place of a handled failure.
        factory: Called with the handled exception (with ``None`` when
            *on_result* rejected a result); its return value, awaited if it
            is awaitable, is returned in place of the failure.
        on: Which exceptions to handle: an :class:`Exception` subclass, a
            tuple of them, or a predicate called with the exception. An
            exception group is handled only if every exception in it
            matches.
        on_result: Predicate over a returned value; ``True`` replaces it with
            the fallback too (for APIs that report failure in a value).
        name: Names the policy in events; defaults to the function's
            qualified name.
        listeners: Callbacks for this policy's events (:class:`FallbackUsed`).

    Raises:
        TypeError: Neither or both of *value* and *factory*, or an argument
            of the wrong type.

    .. versionadded:: 0.1
    """

    _value: object
    factory: Callable[[Any], object] | None
    on: On
    on_result: Callable[[Any], object] | None
    name: str | None
    listeners: tuple[Listener, ...]
    _matches: Callable[[Exception], bool] = attrs.field(repr=False, eq=False)

    @overload
    def __init__(
        self,
        *,
        value: F,
        on: On = ...,
        on_result: Callable[[Any], object] | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        factory: Callable[[Exception], Awaitable[F]],
        on: On = ...,
        on_result: None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        factory: Callable[[Exception], F],
        on: On = ...,
        on_result: None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        factory: Callable[[Exception | None], Awaitable[F]],
        on: On = ...,
        on_result: Callable[[Any], object],
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        factory: Callable[[Exception | None], F],
        on: On = ...,
        on_result: Callable[[Any], object],
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None: ...
    def __init__(
        self,
        *,
        value: object = _MISSING,
        factory: Callable[[Any], object] | None = None,
        on: On = is_transient,
        on_result: Callable[[Any], object] | None = None,
        name: str | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if (value is _MISSING) == (factory is None):
            msg = (
                "Fallback takes exactly one of value= (returned as is, None "
                "included) or factory= (called with the exception)"
                + ("" if value is _MISSING else ", not both")
            )
            raise TypeError(msg)
        # Typed as object: the annotations are promises that callers break.
        given: dict[str, object] = {"factory": factory, "on_result": on_result}
        for what, candidate in given.items():
            if candidate is not None and not callable(candidate):
                msg = f"{what} must be callable, not {candidate!r}"
                raise TypeError(msg)
        label: object = name
        if label is not None and not isinstance(label, str):
            msg = f"name must be a str (or None), not {label!r}"
            raise TypeError(msg)
        self.__attrs_init__(
            value,
            factory,
            on,
            on_result,
            name,
            _events.listeners(listeners),
            compile_on(on),
        )

    def __repr__(self) -> str:
        what = (
            f"factory={shown(self.factory)}"
            if self.factory is not None
            else f"value={self._value!r}"
        )
        extra = "" if self.on_result is None else f", on_result={shown(self.on_result)}"
        name = "" if self.name is None else f", name={self.name!r}"
        return f"Fallback({what}, on={shown(self.on)}{extra}{name})"

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("fallback", options)``: the constructor options and their values.

        Only the one of *value* and *factory* that was given appears.
        """
        options: dict[str, object] = {}
        if self.factory is not None:
            options["factory"] = shown(self.factory)
        else:
            value = self._value
            # repr, not shown(): a list value must not read as a tuple.
            options["value"] = value if isinstance(value, _SCALARS) else repr(value)
        options["on"] = shown(self.on)
        options["on_result"] = shown(self.on_result)
        options["name"] = self.name
        options["listeners"] = shown(self.listeners)
        return "fallback", options

    # -- producing the fallback ---------------------------------------------

    def _handles(self, exc: Exception) -> bool:
        return self._matches(exc) and not _cancelled(exc)

    async def _replace(self, name: str, error: Exception | None, result: object) -> F:
        """Tell the listeners, then produce the fallback value."""
        if _events.subscribers or self.listeners:
            _events.emit(
                _events.FallbackUsed(
                    name=name, error=error, result=None if error is not None else result
                ),
                self.listeners,
            )
        factory = self.factory
        if factory is None:
            return cast("F", self._value)
        value = factory(error)
        if inspect.isawaitable(value):
            value = await value
        return cast("F", value)

    async def _run(
        self, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any, name: str
    ) -> T | F:
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            if not self._handles(exc):
                raise
            # Inside the except clause: an exception of the factory gets the
            # handled one as its __context__.
            return await self._replace(name, exc, None)
        on_result = self.on_result
        if on_result is not None and on_result(result):
            return await self._replace(name, None, result)
        return result

    # -- public API ----------------------------------------------------------

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T | F]]:
        """Decorate an ``async def`` function: its handled failures fall back."""
        if not is_async_callable(fn):
            msg = (
                f"Fallback decorates async functions, and {fn!r} is not one; "
                "wrap synchronous code in try/except instead"
            )
            raise TypeError(msg)
        name = self.name or getattr(fn, "__qualname__", None) or repr(fn)
        handles = self._handles
        replace = self._replace
        if self.on_result is None:
            # The common configuration: the success path is one try block.
            @functools.wraps(fn)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T | F:
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    if not handles(exc):
                        raise
                    return await replace(name, exc, None)

            return wrapper
        run = self._run

        @functools.wraps(fn)
        async def checking(*args: P.args, **kwargs: P.kwargs) -> T | F:
            return await run(fn, args, kwargs, name)

        return checking

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T | F:
        """Await ``fn(*args, **kwargs)``, falling back on a handled failure.

        Raises:
            TypeError: *fn* returned something that is not awaitable (a
                synchronous function, which has then run once); never
                handled by the fallback.
        """
        try:
            awaitable = fn(*args, **kwargs)
            if type(awaitable) is not CoroutineType:
                _check_awaitable(awaitable, fn)
            result = await awaitable
        except Exception as exc:
            if not self._handles(exc):
                raise
            return await self._replace(self._name_for(fn), exc, None)
        except NotAwaitableError as exc:
            raise exc.error from None
        on_result = self.on_result
        if on_result is not None and on_result(result):
            return await self._replace(self._name_for(fn), None, result)
        return result

    def _name_for(self, fn: Callable[..., object]) -> str:
        return self.name or getattr(fn, "__qualname__", None) or repr(fn)


def _check_awaitable(awaitable: object, fn: object) -> None:
    if not inspect.isawaitable(awaitable):
        name = getattr(fn, "__qualname__", None) or repr(fn)
        msg = (
            f"Fallback.call needs an async function, and {name} returned "
            f"{type(awaitable).__name__}; the fallback does not handle this"
        )
        raise NotAwaitableError(TypeError(msg))
