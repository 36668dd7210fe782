"""Saga: steps in order; on failure, the completed ones undone in reverse.

The compensations run shielded from cancellation, each with a time limit
(``_compensation``); the result is plain data (``_saga_result``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, ParamSpec, cast

import anyio
import anyio.lowlevel

from . import _events
from ._compensation import Pending, compensate_shielded
from ._events import Listener
from ._saga_result import SagaResult, SagaStatus, StepOutcome, completed, note, undone
from ._step import Step, _check_name
from ._time import Duration, now, running_loop, seconds

__all__ = ["Saga"]

P = ParamSpec("P")

_subscribers = _events.subscribers


class Saga(Generic[P]):
    """Steps run in order; if one fails, the completed ones are undone.

    ``await saga.run(*args, **kwargs)`` calls every step with the same
    arguments, in order. The usual shape is one context object (a
    dataclass, a dict) that steps read their inputs from and record
    what later steps need in. When a step raises an :class:`Exception`,
    the saga stops and runs the compensations of the steps that completed,
    in reverse order, each with that step's result; then it returns a
    :class:`SagaResult` that says what happened to every step. A failed
    saga *returns* (check :attr:`SagaResult.ok`, or call
    :meth:`~SagaResult.raise_for_status`): being rolled back is an outcome
    a saga is designed for, and the result is the report of it.

    Compensations:

    - run only for steps that completed: a step that fails must leave
      nothing behind (or clean up after itself);
    - are retried and bounded by their own policies (make the compensation
      a :func:`step` with a ``brace.Retry``);
    - all run, even when one of them fails; their errors are collected in
      the result and never replace the step's error;
    - run shielded from cancellation, so a saga cancelled mid-step still
      undoes what it did, and then re-raises the cancellation (no result
      is returned). Each compensation is therefore bounded by
      *compensation_timeout*, so that a hung one cannot make the saga
      impossible to cancel: when it expires, the compensation fails with
      :class:`brace.TimeoutError`.

    The saga holds no state between runs: one instance can run any number
    of times, concurrently.

    Args:
        name: Names the saga in results, notes and events (a non-empty str).
        steps: The :func:`step` objects, in order, with distinct names.
        compensation_timeout: The time limit of each compensation, in
            seconds or as a timedelta, or ``None`` for none (then make sure
            every compensation ends by itself).
        listeners: Callbacks for this saga's :class:`SagaFinished` events.

    Raises:
        TypeError: *steps* holds something that is not a :class:`Step`.
        ValueError: *steps* is empty or has two steps of one name, or
            *compensation_timeout* is out of range.

    .. versionadded:: 0.1
    """

    __slots__ = (
        "_calls",
        "_names",
        "compensation_timeout",
        "listeners",
        "name",
        "steps",
    )

    DEFAULT_COMPENSATION_TIMEOUT = 30.0

    def __init__(
        self,
        name: str,
        steps: Iterable[Step[P, Any]],
        *,
        compensation_timeout: Duration | None = DEFAULT_COMPENSATION_TIMEOUT,
        listeners: Iterable[Listener] = (),
    ) -> None:
        _check_name(name, "saga")
        self.name = name
        self.steps: tuple[Step[P, Any], ...] = _check_steps(name, steps)
        self._names = tuple(step.name for step in self.steps)
        self._calls: tuple[Callable[..., Awaitable[Any]], ...] = tuple(
            step if step.listeners else step._call for step in self.steps
        )
        self.compensation_timeout = (
            None
            if compensation_timeout is None
            else seconds(compensation_timeout, "compensation_timeout", allow_zero=False)
        )
        self.listeners = _events.listeners(listeners)

    def __repr__(self) -> str:
        names = ", ".join(repr(s.name) for s in self.steps)
        return f"<Saga {self.name!r} steps=[{names}]>"

    async def run(self, *args: P.args, **kwargs: P.kwargs) -> SagaResult:
        """Run the steps in order, compensating if one fails.

        Returns:
            The :class:`SagaResult`, whether the saga completed or was
            compensated.

        Raises:
            BaseException: Cancellation (and ``KeyboardInterrupt``...) of
                the run, after the compensations, unchanged.
        """
        start = now() if (_subscribers or self.listeners) else None
        results: list[object] = []
        append = results.append
        # Nobody listening globally: call each step's policy chain directly
        # (steps with listeners of their own are in _calls as themselves).
        calls: tuple[Callable[..., Awaitable[Any]], ...] = (
            self.steps if _subscribers else self._calls
        )
        for call in calls:
            try:
                append(await (call(*args, **kwargs) if kwargs else call(*args)))
            except Exception as exc:
                return await self._unwind(results, exc, start)
            except BaseException as exc:
                await self._unwind(results, exc, start)
                raise
        outcome = completed(self.name, self._names, results)
        if start is not None and _events.enabled(self.listeners):
            _events.emit(
                _events.SagaFinished(
                    name=self.name, status="completed", elapsed=now() - start
                ),
                self.listeners,
            )
        return outcome

    # -- failure ------------------------------------------------------------

    async def _unwind(
        self, results: list[object], error: BaseException, start: float | None
    ) -> SagaResult:
        """Compensate the completed steps and report; may raise cancellation."""
        failed = self.steps[len(results)]
        errors, interrupted = await self._compensate_shielded(results)
        outcomes: list[StepOutcome] = []
        for index, step in enumerate(self.steps):
            if index < len(results):
                outcomes.append(undone(step, results[index], errors))
            elif index == len(results):
                outcomes.append(
                    StepOutcome(name=step.name, status="failed", error=error)
                )
            else:
                outcomes.append(StepOutcome(name=step.name, status="skipped"))
        status: SagaStatus = "compensation_failed" if errors else "compensated"
        cancelled = not isinstance(error, Exception)
        if not cancelled:
            error.add_note(note(self.name, failed.name, outcomes))
            # Cancelled while compensating: the compensations are done, now
            # the cancellation goes on. On asyncio it arrived (once, or again
            # and again from an anyio scope) and was kept; on other backends
            # it is pending, held off by the shield, and is raised here
            # (after the event, which must report it).
            if interrupted is None and running_loop() is None:
                try:
                    await anyio.lowlevel.checkpoint_if_cancelled()
                except BaseException as exc:
                    interrupted = exc
        if start is not None and _events.enabled(self.listeners):
            _events.emit(
                _events.SagaFinished(
                    name=self.name,
                    status=status,
                    failed_step=failed.name,
                    error=error,
                    elapsed=now() - start,
                    cancelled=cancelled or interrupted is not None,
                ),
                self.listeners,
            )
        if not cancelled and interrupted is not None:
            raise interrupted
        return SagaResult(
            name=self.name,
            status=status,
            steps=tuple(outcomes),
            failed_step=failed.name,
            error=cast("Exception", error) if not cancelled else None,
        )

    async def _compensate_shielded(
        self, results: list[object]
    ) -> tuple[dict[str, Exception], BaseException | None]:
        pending: Pending = [
            (step.name, step.compensate, result)
            for step, result in zip(self.steps, results, strict=False)
            if step.compensate is not None
        ]
        if not pending:
            return {}, None
        pending.reverse()
        return await compensate_shielded(pending, self.compensation_timeout)


def _check_steps(name: str, steps: object) -> tuple[Step[Any, Any], ...]:
    if isinstance(steps, Step) or not isinstance(steps, Iterable):
        msg = f"saga {name!r} takes a list of steps, not {steps!r}"
        raise TypeError(msg)
    checked = tuple(steps)
    if not checked:
        msg = f"saga {name!r} needs at least one step"
        raise ValueError(msg)
    seen: set[str] = set()
    for item in checked:
        if not isinstance(item, Step):
            msg = (
                f"saga {name!r} takes steps made with brace.step(name, fn, ...), "
                f"not {item!r}"
            )
            raise TypeError(msg)
        if item.name in seen:
            msg = (
                f"saga {name!r} has two steps named {item.name!r}; step names "
                "must be distinct, as results are reported by name"
            )
            raise ValueError(msg)
        seen.add(item.name)
    return checked
