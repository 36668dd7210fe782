"""step(): a named unit of work, its policies, and how to undo it.

The policies are applied once, when the step is made, by their decorator
forms in reverse order: ``step("s", fn, a, b, c)`` calls
``a(b(c(fn)))``, which is what ``compose(a, b, c)(fn)`` means, and
``step()`` warns about the same ordering mistakes as ``compose()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, ParamSpec, TypeVar

from . import _events
from ._events import Listener
from ._introspect import is_async_callable
from ._pipeline import (
    CompositionWarning,
    Layer,
    Pipeline,
    describe_layer,
    order_problems,
)
from ._time import now

__all__ = ["Step", "step"]

P = ParamSpec("P")
# Covariant, so that steps with different results fit in one Saga list;
# named T, not T_co, because the docs build knows T as a type variable.
T = TypeVar("T", covariant=True)  # noqa: PLC0105

_subscribers = _events.subscribers


class Step(Generic[P, T]):
    """A named async call with its policies and an optional compensation.

    Made by :func:`step`. Calling it, ``await charge(card, 100)``, runs the
    function through the policies and returns its result; the type of a
    ``Step[P, T]`` keeps the function's parameters ``P`` and result ``T``.
    A step is immutable and safe to share between tasks.

    Attributes:
        name: The step's name, in events and in :class:`SagaResult`.
        fn: The undecorated function.
        policies: The policies, outermost first.
        compensate: The compensation as a step (a plain function given to
            :func:`step` is wrapped in one named ``"<name>.compensate"``),
            or ``None``. Call it with the step's result to undo the step.
        listeners: Callbacks for this step's events.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "__wrapped__",
        "_call",
        "compensate",
        "fn",
        "listeners",
        "name",
        "policies",
    )

    name: str
    fn: Callable[P, Awaitable[T]]
    policies: tuple[Callable[..., Any], ...]
    compensate: Step[[Any], object] | None
    listeners: tuple[Listener, ...]
    _call: Callable[..., Awaitable[Any]]

    def __init__(
        self,
        name: str,
        fn: Callable[P, Awaitable[T]],
        /,
        *policies: Callable[..., Any],
        compensate: Callable[[T], Awaitable[object]] | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        _check_name(name, "step")
        if not is_async_callable(fn):
            msg = (
                f"step {name!r} needs an async function, and {fn!r} is not one; "
                "a step's policies can only interrupt and retry async calls"
            )
            raise TypeError(msg)
        call: Callable[..., Awaitable[Any]] = fn
        for policy in reversed(policies):
            call = _apply(name, policy, call)
        init = object.__setattr__  # see __setattr__
        init(self, "name", name)
        init(self, "fn", fn)
        init(self, "__wrapped__", fn)
        init(self, "policies", policies)
        init(self, "compensate", _compensation(name, compensate))
        init(self, "listeners", _events.listeners(listeners))
        init(self, "_call", call)

    def __setattr__(self, name: str, value: object) -> None:
        # The policies were applied when the step was made: changing them
        # (or anything else) afterwards would silently do nothing.
        msg = f"a Step is immutable: make a new one with brace.step() to change {name}"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        undo = f" compensate={self.compensate.name!r}" if self.compensate else ""
        return f"<Step {self.name!r} policies={len(self.policies)}{undo}>"

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the step: its function, through its policies."""
        if not (_subscribers or self.listeners):
            result: T = await self._call(*args, **kwargs)
            return result
        return await self._observed(*args, **kwargs)

    async def _observed(self, *args: Any, **kwargs: Any) -> T:
        name, listeners = self.name, self.listeners
        _events.emit(_events.StepStarted(name=name), listeners)
        start = now()
        try:
            result: T = await self._call(*args, **kwargs)
        except Exception as exc:
            if _events.enabled(listeners):
                _events.emit(
                    _events.StepFailed(name=name, error=exc, elapsed=now() - start),
                    listeners,
                )
            raise
        except BaseException as exc:
            if _events.enabled(listeners):
                event = _events.StepFailed(
                    name=name, error=exc, elapsed=now() - start, cancelled=True
                )
                _events.emit(event, listeners)
            raise
        if _events.enabled(listeners):
            _events.emit(
                _events.StepSucceeded(name=name, elapsed=now() - start), listeners
            )
        return result


def step(
    name: str,
    fn: Callable[P, Awaitable[T]],
    /,
    *policies: Callable[..., Any],
    compensate: Callable[[T], Awaitable[object]] | None = None,
    listeners: Iterable[Listener] = (),
) -> Step[P, T]:
    """Make a named step: *fn* run through *policies*, undone by *compensate*.

    ``step(name, fn, a, b, c)`` calls ``a(b(c(fn)))``: the policies apply
    outermost first, as with ``compose(a, b, c)`` and as the decorators
    ``@a @b @c`` stacked in that order. They are applied once, here.

    The compensation receives the step's result, and only that: make the
    step return what undoing it needs (a booking reference, a payment id,
    or a record of its inputs). To give the compensation its own policies
    (retries, a time limit), make it a step too::

        charge = brace.step(
            "charge",
            charge_card,
            brace.Retry(on=ConnectionError),
            compensate=brace.step("refund", refund, brace.Retry(on=OSError)),
        )

    Args:
        name: Names the step in events and saga results (a non-empty str).
        fn: The ``async def`` function the step calls.
        *policies: Policies applied as decorators (``brace.Retry(...)``,
            ``brace.Timeout(...)``, a circuit breaker, a limiter, a
            pipeline...), outermost first.
        compensate: An async ``compensate(result)`` that undoes the step,
            or a step of one argument.
        listeners: Callbacks for this step's events (:class:`StepStarted`,
            :class:`StepSucceeded`, :class:`StepFailed`).

    Returns:
        A :class:`Step`, called like *fn*.

    Raises:
        TypeError: *fn* or *compensate* is not an async function, or a
            policy is not a decorator.
        ValueError: *name* is empty.

    .. versionadded:: 0.1
    """
    # The same order checks as compose(), pointed at the caller's line.
    layers: list[Layer] = []
    for policy in policies:
        if isinstance(policy, Pipeline):
            layers += policy.describe()
        else:
            layers.append(describe_layer(policy))
    for problem in order_problems(layers):
        warnings.warn(problem, CompositionWarning, stacklevel=2)
    return Step(name, fn, *policies, compensate=compensate, listeners=listeners)


def _check_name(name: object, what: str) -> None:
    if not isinstance(name, str):
        msg = f"a {what} name must be a str, not {name!r}"
        raise TypeError(msg)
    if not name:
        msg = f"a {what} name must not be empty: it names the {what} in events"
        raise ValueError(msg)


def _apply(
    name: str, policy: object, call: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """Decorate *call* with *policy*, checking that it is a decorator."""
    if not callable(policy) or is_async_callable(policy):
        msg = (
            f"the policies of step {name!r} must be decorators such as "
            f"brace.Retry(...) or brace.Timeout(...), not {policy!r}"
        )
        raise TypeError(msg)
    wrapped: object = policy(call)
    if not callable(wrapped):
        msg = (
            f"policy {policy!r} of step {name!r} returned {wrapped!r} when "
            "applied to the function; a policy must return the decorated function"
        )
        raise TypeError(msg)
    return wrapped


def _compensation(
    name: str, compensate: Callable[[Any], Awaitable[object]] | None
) -> Step[[Any], object] | None:
    if compensate is None or isinstance(compensate, Step):
        return compensate
    if not is_async_callable(compensate):
        msg = (
            f"compensate of step {name!r} must be an async function taking the "
            f"step's result (or a step), not {compensate!r}"
        )
        raise TypeError(msg)
    return Step(f"{name}.compensate", compensate)
