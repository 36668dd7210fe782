"""The Policy protocol, compose() and Pipeline: policies in a fixed order.

A :class:`Pipeline` is its layers, outermost first, and nothing else: its
decorator form is ``a(b(c(fn)))``, built once when it decorates, so a call
walks the layers' own wrappers and pays for nothing but them. This module
knows the :class:`Policy` protocol and the ``describe()`` kinds, never the
concrete policies.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar, overload, runtime_checkable

import attrs

from ._introspect import is_async_callable

__all__ = ["CompositionWarning", "Pipeline", "Policy", "compose", "order_problems"]

P = ParamSpec("P")
T = TypeVar("T")

Layer = tuple[str, dict[str, object]]

_DOCS = (
    "See 'Recommended order' in the brace docs (howto/compose); pass "
    "check_order=False to compose() to silence this warning."
)


@runtime_checkable
class Policy(Protocol):
    """What every brace policy and guarding resource is, and what yours can be.

    A policy wraps calls of ``async def`` functions in two spellings, which
    must behave the same:

    - ``policy(fn)`` returns a wrapper of *fn* with the same signature (the
      decorator form);
    - ``await policy.call(fn, *args, **kwargs)`` runs one call through it.

    Implement both and your class works with :func:`brace.compose` and
    stacks with brace's own policies (there is nothing to inherit or
    register). Make the wrapper an ``async def`` that calls *fn* with the
    arguments it was given, lets *fn*'s exceptions propagate unless handling
    them is the policy's job, and never swallows cancellation: catch
    ``Exception``, not ``BaseException``. Two optional extras:

    - ``describe()`` returning ``(kind, options)``: *kind* a short lowercase
      string, *options* a new dict of your constructor options, which
      :meth:`Pipeline.describe` lists. Give one of brace's kinds
      (``"retry"``, ``"timeout"``, ``"breaker"``, ``"limiter"``,
      ``"ratelimit"``, ``"fallback"``, ``"hedge"``, ``"cache"``,
      ``"chaos"``) only if your policy plays that role: :func:`compose`
      checks the order of layers by kind.
    - :func:`brace.current_attempt` tells a policy nested in a retry which
      attempt it runs in and how long the retry has left.

    See :doc:`/howto/compose` for a complete example.

    .. versionadded:: 0.1
    """

    # The results are typed Any, not T: a policy may widen the result type
    # (a Fallback adds its value's type, a Chaos its canned result's), and
    # such policies must still compose. Pipeline types its own result as
    # the function's; see the note on compose().
    def __call__(self, fn: Callable[P, Awaitable[T]], /) -> Callable[P, Awaitable[Any]]:
        """Wrap *fn*: every call of the result goes through the policy."""
        ...

    def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Awaitable[Any]:
        """Run ``fn(*args, **kwargs)`` once, through the policy."""
        ...


class CompositionWarning(UserWarning):
    """:func:`compose` found layers in an order known to misbehave.

    A :class:`UserWarning`; the message says what goes wrong and which order
    to use instead. Silence one call with ``compose(..., check_order=False)``,
    or all of them with ``warnings.filterwarnings``.

    .. versionadded:: 0.1
    """


def describe_layer(layer: object) -> Layer:
    """``layer.describe()``, or ``(type name, {})`` for layers without one."""
    describe = getattr(layer, "describe", None)
    if describe is None:
        return type(layer).__name__, {}
    kind, options = describe()
    return kind, dict(options)


def _flatten(policies: object) -> tuple[Policy, ...]:
    """The layers of *policies*, nested pipelines spliced in, each checked."""
    if not isinstance(policies, tuple | list):
        msg = f"Pipeline takes a tuple of policies, not {policies!r}"
        raise TypeError(msg)
    layers: list[Policy] = []
    for policy in policies:
        if isinstance(policy, Pipeline):
            layers.extend(policy.layers)
        elif isinstance(policy, type) or not isinstance(policy, Policy):
            hint = (
                f"; pass an instance, such as {policy.__name__}(...)"
                if isinstance(policy, type)
                else ""
            )
            msg = (
                "compose() takes policies (objects with a decorator form and "
                f"call(), see brace.Policy), not {policy!r}{hint}"
            )
            raise TypeError(msg)
        else:
            layers.append(policy)
    return tuple(layers)


def _check_name(_: object, __: object, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"name must be a str (or None), not {value!r}"
        raise TypeError(msg)


@attrs.frozen
class Pipeline:
    """Policies applied in order, outermost first; made by :func:`compose`.

    Use it like any policy: as a decorator on ``async def`` functions (the
    decorated function keeps its signature), or with :meth:`call`. As a
    decorator, ``compose(a, b, c)(fn)`` is exactly ``a(b(c(fn)))``, the same
    as stacking ``@a``, ``@b``, ``@c`` on *fn*: the chain of wrappers is
    built once, when it decorates, and a call costs what its layers cost.

    A pipeline is immutable and holds no state of its own: the stateful
    layers (breakers, limiters, rate limiters) are shared by everything that
    uses the pipeline, as they would be without it. Nested pipelines are
    spliced in: ``compose(a, compose(b, c))`` has the layers ``(a, b, c)``.

    :meth:`describe` lists the layers and their options, for tests that
    pin a configuration.

    Attributes:
        layers: The policies, outermost first.
        name: Names the operations run through :meth:`call` in the layers'
            events and errors (the decorator form uses the decorated
            function's name); ``None`` names them ``"Pipeline.call"``.

    .. versionadded:: 0.1
    """

    layers: tuple[Policy, ...] = attrs.field(converter=_flatten)
    name: str | None = attrs.field(default=None, kw_only=True, validator=_check_name)
    # The layers around one shared trampoline, for call(): built once.
    _chain: Callable[..., Awaitable[Any]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        async def invoke(
            fn: Callable[..., Awaitable[Any]], /, *args: Any, **kw: Any
        ) -> Any:
            return await fn(*args, **kw)

        invoke.__name__ = invoke.__qualname__ = self.name or "Pipeline.call"
        object.__setattr__(self, "_chain", self._wrap(invoke))

    def _wrap(self, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        for layer in reversed(self.layers):
            fn = layer(fn)
        return fn

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Awaitable[T]]: ...
    def __call__(self, fn: Callable[P, Awaitable[T]], /) -> Callable[P, Awaitable[T]]:
        """Decorate an ``async def`` function with every layer, outermost first.

        Raises:
            TypeError: *fn* is not an async function.
        """
        if not is_async_callable(fn):
            msg = f"a Pipeline decorates async functions, and {fn!r} is not one"
            raise TypeError(msg)
        return self._wrap(fn)

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn(*args, **kwargs)`` through every layer.

        The layers wrap one shared trampoline, built with the pipeline, so
        their events and errors name the operation after the pipeline's
        *name*; decorate *fn* to have them name *fn* instead.
        """
        result: T = await self._chain(fn, *args, **kwargs)
        return result

    def describe(self) -> list[Layer]:
        """The layers as ``(kind, options)`` pairs, outermost first.

        Each pair is the layer's own ``describe()``; a layer without one
        appears as ``(type name, {})``. Unlike a single policy's, a
        pipeline's ``describe()`` returns a list.
        """
        return [describe_layer(layer) for layer in self.layers]


def _retrying(kind: str) -> bool:
    return kind in ("retry", "hedge")


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def order_problems(layers: list[Layer]) -> list[str]:
    """What is wrong with the order of *layers* (outermost first), in words."""
    problems: list[str] = []
    kinds = [kind for kind, _ in layers]
    for i, (outer, outer_options) in enumerate(layers):
        for j in range(i + 1, len(layers)):
            inner, inner_options = layers[j]
            here = f"the {inner} (layer {j + 1}) is inside the {outer} (layer {i + 1})"
            if _retrying(outer) and inner == "fallback":
                problems.append(
                    f"compose(): {here}: it turns each failed attempt into a "
                    f"fallback value, so the {outer} never sees a failure to act "
                    f"on. Put the fallback outside (before) the {outer}."
                )
            elif _retrying(outer) and inner == "cache":
                problems.append(
                    f"compose(): {here}: a hit still goes through the {outer}, "
                    f"and concurrent callers each run their own {outer} instead "
                    "of sharing one. Put the cache outside (before) the "
                    f"{outer}."
                )
            elif outer == "breaker" and _retrying(inner):
                problems.append(
                    f"compose(): the breaker (layer {i + 1}) is outside the "
                    f"{inner} (layer {j + 1}): it counts one outcome per "
                    "operation instead of one per attempt, so it opens late, "
                    f"and the {inner} never sees CircuitOpen. Put the breaker "
                    f"inside (after) the {inner}."
                )
            elif outer == "retry" and inner == "timeout":
                deadline = _number(outer_options.get("deadline"))
                limit = _number(inner_options.get("seconds"))
                if deadline is not None and limit is not None and limit >= deadline:
                    problems.append(
                        f"compose(): {here}, and its {limit:g} s are no less "
                        f"than the retry's deadline of {deadline:g} s, to which "
                        "it is clipped: it can never limit one attempt, so it "
                        "is a total timeout in the place of an attempt timeout. "
                        "Put a total timeout outside (before) the retry, or make "
                        "it shorter than the deadline to limit each attempt."
                    )
    for i, kind in enumerate(kinds):
        inside = [k for k in kinds[i + 1 :] if k != "chaos"]
        if kind == "chaos" and inside:
            problems.append(
                f"compose(): the chaos policy (layer {i + 1}) is not innermost: "
                f"the layers inside it ({', '.join(inside)}) never see the "
                "failures it injects, so they go untested. Put chaos last."
            )
    return [f"{problem} {_DOCS}" for problem in problems]


def compose(
    *policies: Policy, name: str | None = None, check_order: bool = True
) -> Pipeline:
    """Compose policies into one :class:`Pipeline`, outermost first.

    ``compose(a, b, c)`` applied to *fn* is ``a(b(c(fn)))``: the first
    policy sees the call first and its outcome last. The recommended order,
    outermost first, is rate limit (load shedding), fallback, total timeout,
    retry or hedge (with a budget), circuit breaker, concurrency limiter,
    attempt timeout, then the call (see :doc:`/howto/compose` for why)::

        pipe = brace.compose(
            brace.Timeout(30),  # total
            brace.Retry(on=OSError, attempts=4),
            breaker,
            limiter,
            brace.Timeout(2),  # per attempt
        )

        @pipe
        async def fetch(url: str) -> bytes: ...

    A pipeline keeps the decorated function's signature and types its
    result as the function's return type. A layer that can return something
    else (a :class:`Fallback` whose value has another type, a chaos policy
    with a canned result) is not reflected in that type: apply such a layer
    as its own decorator, outside the pipeline, when you want the checker
    to see the wider result.

    Args:
        *policies: Policies, resources that guard calls, your own
            :class:`Policy` objects, and pipelines (spliced in).
        name: Names the operations run through :meth:`Pipeline.call`.
        check_order: Warn about orders known to misbehave.

    Returns:
        The :class:`Pipeline`. With no policies, a pipeline that runs calls
        as they are.

    Warns:
        CompositionWarning: With *check_order*, for each known anti-pattern:
            a fallback or a cache inside a retry or hedge, a breaker outside
            one, a timeout inside a retry that is no shorter than the
            retry's deadline (a total timeout in the wrong place), a chaos
            policy that is not innermost. The warning points at the line
            that calls ``compose()``.

    Raises:
        TypeError: An argument is not a policy.

    .. versionadded:: 0.1
    """
    pipeline = Pipeline(policies, name=name)
    if check_order:
        for problem in order_problems(pipeline.describe()):
            warnings.warn(problem, CompositionWarning, stacklevel=2)
    return pipeline
