"""Retrying generators and async generators.

A generator is restarted (called again with the same arguments) only while
it has not yielded anything: once an item has reached the consumer, a retry
would replay it, so a later failure propagates unchanged with a note saying
why it was not retried.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any

from . import _events
from ._retry_call import new_call, publish, withdraw
from ._time import now

if TYPE_CHECKING:
    from ._retry import Retry
    from ._retry_call import Call

__all__ = ["retry_async_generator", "retry_generator"]


def _check(policy: Retry, name: str) -> None:
    if policy.retry_on_result is not None:
        msg = f"retry_on_result looks at return values, and {name} is a generator"
        raise TypeError(msg)


def _not_retried(policy: Retry, call: Call, error: Exception, items: int) -> None:
    """Annotate a matching error raised after items were yielded."""
    if not call.retryable(policy, error):
        return
    plural = "" if items == 1 else "s"
    error.add_note(
        f"brace: not retried: {call.name} had already yielded {items} item{plural}"
    )
    if _events.enabled(policy.listeners):
        _events.emit(
            _events.RetryGaveUp(
                name=call.name,
                attempts=call.attempt,
                elapsed=None
                if call.start is None
                else max(0.0, call.clock() - call.start),
                reason="not_retryable",
                error=error,
            ),
            policy.listeners,
        )


def retry_async_generator(
    policy: Retry, fn: Callable[..., AsyncGenerator[Any, Any]], name: str
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """Wrap an async generator function in *policy*."""
    from ._retry import _sleep_async

    _check(policy, name)

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = new_call(policy, name, now, True)
        if policy.cancel is not None:
            policy.cancel.raise_if_cancelled()
        error: Exception | None = None  # the last retried error
        # Published until the first item only: after that the generator
        # runs in its consumer's context, between the consumer's own steps.
        published = publish(call)
        try:
            while True:
                agen = fn(*args, **kwargs)
                try:
                    value = await policy._attempt(call, agen.__anext__, (), {})
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    error = exc
                else:
                    break
                await agen.aclose()
                if not call.retryable(policy, error):
                    raise error
                plan = policy._plan(call, error, None)
                if isinstance(plan, str):
                    policy._give_up(call, plan, error, None)
                elif policy._must_sleep(plan) and not await _sleep_async(
                    plan, policy.cancel
                ):
                    policy._give_up(call, "cancelled", error, None)
                call.attempt += 1
        finally:
            withdraw(published)
        policy._succeeded(call, error)
        items = 1
        try:
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    raise
                except BaseException as thrown:
                    value = await agen.athrow(thrown)
                else:
                    try:
                        value = await agen.asend(sent)
                    except StopAsyncIteration:
                        raise
                    except Exception as exc:
                        _not_retried(policy, call, exc, items)
                        raise
                items += 1
        except StopAsyncIteration:
            return
        finally:
            await agen.aclose()

    return wrapper


def retry_generator(
    policy: Retry, fn: Callable[..., Generator[Any, Any, Any]], name: str
) -> Callable[..., Generator[Any, Any, Any]]:
    """Wrap a generator function in *policy* (sleeping with time.sleep)."""
    from ._retry import _sleep_sync

    _check(policy, name)
    if policy.attempt_timeout is not None:
        msg = f"attempt_timeout needs an async function; {name} is a generator"
        raise TypeError(msg)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = new_call(policy, name, time.monotonic, True)
        if policy.cancel is not None:
            policy.cancel.raise_if_cancelled()
        error: Exception | None = None  # the last retried error
        published = publish(call)  # until the first item, as above
        try:
            while True:
                gen = fn(*args, **kwargs)
                try:
                    value = next(gen)
                except StopIteration as stop:
                    return stop.value
                except Exception as exc:
                    error = exc
                else:
                    break
                if not call.retryable(policy, error):
                    raise error
                plan = policy._plan(call, error, None)
                if isinstance(plan, str):
                    policy._give_up(call, plan, error, None)
                elif plan > 0 and not _sleep_sync(plan, policy.cancel):
                    policy._give_up(call, "cancelled", error, None)
                call.attempt += 1
        finally:
            withdraw(published)
        policy._succeeded(call, error)
        items = 1
        try:
            while True:
                try:
                    sent = yield value
                except GeneratorExit:
                    raise
                except BaseException as thrown:
                    value = gen.throw(thrown)
                else:
                    try:
                        value = gen.send(sent)
                    except StopIteration:
                        raise
                    except Exception as exc:
                        _not_retried(policy, call, exc, items)
                        raise
                items += 1
        except StopIteration as stop:
            return stop.value
        finally:
            gen.close()

    return wrapper
