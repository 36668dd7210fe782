"""Your own policy, written against ``brace.Policy`` and composed with brace's.

Shows:

- a policy class of your own: a decorator form and ``call()``, with nothing
  to inherit or register (``isinstance(x, brace.Policy)`` checks the shape);
- ``describe()``, so that ``pipeline.describe()`` lists it with its options;
- ``brace.current_attempt()``: placed inside a retry, the policy sees which
  attempt of which operation each call is, and the time the retry has left;
- ``brace.compose()`` with brace's policies, outermost first, as a decorator
  and with ``pipeline.call()``;
- the order check: a policy that declares itself a fallback, put inside a
  retry, draws a ``CompositionWarning`` at the ``compose()`` line.

Run it with ``python examples/custom_policy.py``.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import brace

P = ParamSpec("P")
T = TypeVar("T")


class SlowCalls:
    """Report calls that take *threshold* seconds or more.

    A policy is two spellings of one behaviour: ``policy(fn)`` wraps a
    function, ``await policy.call(fn, *args)`` runs one call. It lets every
    exception (cancellation included) through: observing is its only job.
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.reports: list[str] = []

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            return await fn(*args, **kwargs)
        finally:
            took = loop.time() - start
            if took >= self.threshold:
                self._report(took)

    def _report(self, took: float) -> None:
        attempt = brace.current_attempt()
        if attempt is None:
            where = "a call"
        else:
            where = f"attempt {attempt.number} of {attempt.name}"
            left = attempt.remaining()
            if left is not None:
                where += f" ({left:.2f} s left)"
        self.reports.append(where)
        print(f"  slow: {where} took {took:.2f} s")

    def describe(self) -> tuple[str, dict[str, object]]:
        # Not one of brace's kinds: compose() has no order rule for it.
        return "slow_calls", {"threshold": self.threshold}


class Default:
    """Return *value* instead of raising: a (tiny) fallback policy."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __call__(
        self, fn: Callable[P, Awaitable[T]], /
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return wrapper

    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            return await fn(*args, **kwargs)
        except Exception:  # never BaseException: cancellation passes
            return self.value  # type: ignore[return-value]

    def describe(self) -> tuple[str, dict[str, object]]:
        # It plays the fallback role, so it says so: compose() checks it.
        return "fallback", {"value": repr(self.value)}


slow = SlowCalls(0.05)
pipeline = brace.compose(
    brace.Timeout(1.0),  # the whole operation, retries included
    brace.Retry(
        on=(ConnectionError, TimeoutError),
        attempts=4,
        backoff=brace.Backoff.constant(0.01),
        deadline=0.5,
    ),
    slow,  # inside the retry: it sees every attempt
    brace.Timeout(0.1),  # each attempt
)

script = iter(["hang", "reset", "slow", "fast"])


async def load(page: str) -> str:
    step = next(script)
    if step == "hang":
        await asyncio.sleep(10)  # cut by the attempt timeout
    elif step == "reset":
        raise ConnectionResetError(page)
    elif step == "slow":
        await asyncio.sleep(0.06)
    return f"<{page}>"


fetch = pipeline(load)  # the same as decorating load with @pipeline


async def main() -> None:
    print("1. A custom policy is a brace.Policy by its shape:")
    print(f"  isinstance(slow, brace.Policy): {isinstance(slow, brace.Policy)}")
    print(f"  layers: {[kind for kind, _ in pipeline.describe()]}")
    print(f"  its options: {pipeline.describe()[2][1]}")

    print("\n2. The pipeline as a decorator; the policy sees each attempt:")
    print(f"  -> {await fetch('home')}")
    print(f"  slow attempts: {len(slow.reports)}")

    print("\n3. pipeline.call() runs one call through the same layers:")
    print(f"  -> {await pipeline.call(load, 'about')}")

    print("\n4. compose() checks the order by kind:")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        brace.compose(brace.Retry(on=OSError), Default("cached page"))
    for warning in caught:
        first = str(warning.message).split(": ", 2)[1]
        print(f"  {warning.category.__name__}: {first}")
    quiet = brace.compose(
        brace.Retry(on=OSError), Default("cached page"), check_order=False
    )
    print(f"  with check_order=False: {len(quiet.layers)} layers, no warning")


if __name__ == "__main__":
    asyncio.run(main())
