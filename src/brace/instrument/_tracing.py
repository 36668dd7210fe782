"""Tracing: a policy that runs each call in an OpenTelemetry span."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar, cast

import attrs
import opentelemetry.trace
import opentelemetry.util.types
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from brace._context import current_attempt
from brace._describe import shown
from brace._introspect import is_async_callable
from brace._version import __version__

from ._names import exception_type

__all__ = ["Tracing"]

P = ParamSpec("P")
T = TypeVar("T")

_Attributes = tuple[tuple[str, AttributeValue], ...]
_PRIMITIVES = (str, bool, int, float)


# Annotations that the documentation shows are spelled out in full, so that
# they name the OpenTelemetry classes wherever they are read.
def _attributes(
    value: Mapping[str, opentelemetry.util.types.AttributeValue] | None,
) -> _Attributes:
    if value is None:
        return ()
    checked: object = value
    if not isinstance(checked, Mapping):
        msg = f"attributes must be a mapping of str to attribute values, not {value!r}"
        raise TypeError(msg)
    pairs: tuple[tuple[object, object], ...] = tuple(checked.items())
    for key, item in pairs:
        ok = isinstance(item, _PRIMITIVES) or (
            isinstance(item, tuple | list)
            and all(isinstance(x, _PRIMITIVES) for x in item)
        )
        if not isinstance(key, str) or not ok:
            msg = (
                "attributes must map str keys to str, bool, int or float "
                f"values (or sequences of them), and {key!r}: {item!r} does not"
            )
            raise TypeError(msg)
    # Lists become tuples: the policy is immutable, and so are its spans'.
    return tuple(
        (key, tuple(item) if isinstance(item, list) else item)
        for key, item in value.items()
    )


def _check_tracer(_: object, __: object, value: Any) -> None:
    if value is not None and not callable(getattr(value, "start_span", None)):
        msg = f"tracer must be an opentelemetry Tracer (or None), not {value!r}"
        raise TypeError(msg)


def _check_name(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"name must be a str (or None), not {value!r}"
        raise TypeError(msg)


def _check_kind(_: object, __: object, value: Any) -> None:
    if not isinstance(value, SpanKind):
        msg = f"kind must be an opentelemetry.trace.SpanKind, not {value!r}"
        raise TypeError(msg)


def _check_bool(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        msg = f"{attribute.name} must be True or False, not {value!r}"
        raise TypeError(msg)


def _qualname(fn: Callable[..., object]) -> str:
    qualname = getattr(fn, "__qualname__", None)
    return qualname if isinstance(qualname, str) else type(fn).__qualname__


def _function_name(fn: Callable[..., object]) -> str:
    qualname = _qualname(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{qualname}" if isinstance(module, str) else qualname


@attrs.frozen
class Tracing:
    """Run each call in its own OpenTelemetry span.

    A policy like any other: a decorator on ``async def`` functions, or
    :meth:`call`, and a layer of :func:`brace.compose`. Placed inside a
    retry (directly under the :class:`~brace.Retry`, or innermost in a
    pipeline), it opens one span per attempt; outside, one per call.

    Each span is named after *name*, or the decorated function's qualified
    name, and carries:

    - ``code.function.name``: the function's module and qualified name;
    - ``brace.attempt``: the attempt number, inside a :class:`~brace.Retry`
      (from :func:`brace.current_attempt`);
    - the static *attributes*.

    A call that raises an :class:`Exception` sets ``error.type`` to the
    exception type's qualified name and the span status to ``ERROR``
    (described by that type name alone) and, with *record_exception*, adds
    the OpenTelemetry ``exception`` event, whose ``exception.message`` and
    ``exception.stacktrace`` carry the message and traceback. A cancelled
    call (a timeout around it, a hedge that lost, a task group cancelled)
    is no error of the call: its span gets ``brace.cancelled = true`` and
    keeps status ``UNSET``.

    brace events emitted while a span is current become span events when
    :func:`brace.instrument.opentelemetry.install` runs with
    ``span_events=True``.

    :meth:`describe` returns ``("tracing", {"name": ..., "tracer": ...,
    "kind": ..., "record_exception": ..., "attributes": ...})``.

    Args:
        tracer: The tracer to start spans with; ``None`` for
            ``opentelemetry.trace.get_tracer("brace")``, which follows the
            global tracer provider, even one set later.
        name: The span name; defaults to the function's qualified name.
        kind: The span kind.
        record_exception: Record the ``exception`` event (message and
            traceback) on failed calls; ``error.type`` and the status are
            set either way.
        attributes: Static attributes for every span.

    .. versionadded:: 0.1
    """

    tracer: opentelemetry.trace.Tracer | None = attrs.field(
        default=None, kw_only=True, validator=_check_tracer
    )
    name: str | None = attrs.field(default=None, kw_only=True, validator=_check_name)
    kind: opentelemetry.trace.SpanKind = attrs.field(
        default=SpanKind.INTERNAL, kw_only=True, validator=_check_kind
    )
    record_exception: bool = attrs.field(
        default=True, kw_only=True, validator=_check_bool
    )
    attributes: _Attributes = attrs.field(
        default=None, kw_only=True, converter=_attributes
    )
    _tracer: Tracer = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        tracer = self.tracer or trace.get_tracer("brace", __version__)
        object.__setattr__(self, "_tracer", tracer)

    def describe(self) -> tuple[str, dict[str, object]]:
        """``("tracing", options)``: the constructor options and their values."""
        return "tracing", {
            "tracer": shown(self.tracer),
            "name": self.name,
            "kind": self.kind.name,
            "record_exception": self.record_exception,
            "attributes": dict(self.attributes),
        }

    async def _run(
        self,
        span_name: str,
        function_name: str,
        fn: Callable[..., Awaitable[T]],
        args: Any,
        kwargs: Any,
        check: bool = False,
    ) -> T:
        attributes: dict[str, AttributeValue] = {"code.function.name": function_name}
        attributes.update(self.attributes)
        attempt = current_attempt()
        if attempt is not None:
            attributes["brace.attempt"] = attempt.number
        span = self._tracer.start_span(span_name, kind=self.kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            awaitable = fn(*args, **kwargs)
            # cast: the type says awaitable; call() checks that it really is.
            if check and not inspect.isawaitable(cast("object", awaitable)):
                msg = (
                    f"Tracing.call needs an async function, and {fn!r} "
                    f"returned {type(awaitable).__name__}"
                )
                raise TypeError(msg)
            result = await awaitable
        except Exception as exc:
            if span.is_recording():
                error = exception_type(exc)
                span.set_attribute("error.type", error)
                if self.record_exception:
                    span.record_exception(exc, escaped=True)
                span.set_status(Status(StatusCode.ERROR, error))
            raise
        except BaseException:
            span.set_attribute("brace.cancelled", True)
            raise
        finally:
            otel_context.detach(token)
            span.end()
        return result

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate an ``async def`` function: every call runs in a span."""
        if not is_async_callable(fn):
            msg = f"Tracing decorates async functions, and {fn!r} is not one"
            raise TypeError(msg)
        function_name = _function_name(fn)
        span_name = self.name or _qualname(fn)
        run = self._run

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await run(span_name, function_name, fn, args, kwargs)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` in a span.

        Raises:
            TypeError: *fn* returned something that is not awaitable (a
                synchronous function, which has then run once, in the span).
        """
        function_name = _function_name(fn)
        span_name = self.name or _qualname(fn)
        return await self._run(span_name, function_name, fn, args, kwargs, True)
