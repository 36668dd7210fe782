"""What a saga run reports: the saga's status and each step's.

Plain data (names, status strings, the steps' own results and errors), so
that a durable saga can store it as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar, cast

import attrs

from ._step import Step

__all__ = [
    "SagaResult",
    "SagaStatus",
    "StepOutcome",
    "StepStatus",
    "completed",
    "note",
    "undone",
]

T = TypeVar("T")

StepStatus = Literal[
    "completed", "failed", "compensated", "compensation_failed", "skipped"
]
SagaStatus = Literal["completed", "compensated", "compensation_failed"]


@attrs.frozen(kw_only=True)
class StepOutcome:
    """What happened to one step of a saga run.

    Attributes:
        name: The step's name.
        status: ``"completed"`` (it ran and was not undone: the saga
            completed, or the step has no compensation), ``"failed"`` (it
            raised, and the saga stopped there), ``"compensated"`` (it ran
            and its compensation succeeded), ``"compensation_failed"`` (it
            ran and its compensation raised) or ``"skipped"`` (a step
            before it failed).
        result: What the step returned, when it ran (``None`` otherwise).
        error: For ``"failed"``, the step's exception; for
            ``"compensation_failed"``, the compensation's.

    .. versionadded:: 0.1
    """

    name: str
    status: StepStatus
    result: object = None
    error: BaseException | None = None


class SagaResult:
    """The outcome of :meth:`Saga.run`: the saga's status and each step's.

    Read-only. Made by :meth:`Saga.run`; the constructor is public so that
    tests can build expected results.

    Args:
        name: The saga's name.
        status: ``"completed"`` (every step ran), ``"compensated"`` (a step
            failed and every compensation of the steps before it
            succeeded) or ``"compensation_failed"`` (at least one
            compensation raised: the system may be left inconsistent).
        steps: One :class:`StepOutcome` per step, in the saga's order.
        failed_step: The name of the step that failed, or ``None``.
        error: That step's exception, unchanged but for a note that says
            what was undone, or ``None``. Compensation errors never take its
            place: they are in the outcomes of their steps.

    .. versionadded:: 0.1
    """

    __slots__ = ("_failure", "_name", "_names", "_results", "_status", "_steps")

    def __init__(
        self,
        *,
        name: str,
        status: SagaStatus,
        steps: Sequence[StepOutcome],
        failed_step: str | None = None,
        error: Exception | None = None,
    ) -> None:
        self._name = name
        self._status = status
        self._steps: tuple[StepOutcome, ...] | None = tuple(steps)
        # (failed step, its error), or None when no step failed.
        self._failure: tuple[str | None, Exception | None] | None = (
            None if failed_step is None and error is None else (failed_step, error)
        )
        self._names: tuple[str, ...] = ()
        self._results: list[object] = []

    @property
    def name(self) -> str:
        """The saga's name."""
        return self._name

    @property
    def status(self) -> SagaStatus:
        """``"completed"``, ``"compensated"`` or ``"compensation_failed"``."""
        return self._status

    @property
    def steps(self) -> tuple[StepOutcome, ...]:
        """One :class:`StepOutcome` per step, in the saga's order."""
        steps = self._steps
        if steps is None:
            steps = self._steps = tuple(
                StepOutcome(name=name, status="completed", result=result)
                for name, result in zip(self._names, self._results, strict=True)
            )
        return steps

    @property
    def failed_step(self) -> str | None:
        """The name of the step that failed, or ``None``."""
        return None if self._failure is None else self._failure[0]

    @property
    def error(self) -> Exception | None:
        """The failed step's exception, or ``None``."""
        return None if self._failure is None else self._failure[1]

    @property
    def ok(self) -> bool:
        """Whether every step completed."""
        return self._status == "completed"

    @property
    def statuses(self) -> dict[str, StepStatus]:
        """Each step's status, by name, in order."""
        return {outcome.name: outcome.status for outcome in self.steps}

    @property
    def results(self) -> dict[str, object]:
        """The results of the steps that ran (undone or not), by name."""
        if self._steps is None:
            return dict(zip(self._names, self._results, strict=True))
        return {
            outcome.name: outcome.result
            for outcome in self._steps
            if outcome.status not in ("failed", "skipped")
        }

    @property
    def compensation_errors(self) -> dict[str, BaseException]:
        """The exceptions of the compensations that failed, by step name."""
        return {
            outcome.name: outcome.error
            for outcome in self.steps
            if outcome.status == "compensation_failed" and outcome.error is not None
        }

    def __getitem__(self, name: str) -> StepOutcome:
        """The outcome of the step called *name*."""
        for outcome in self.steps:
            if outcome.name == name:
                return outcome
        msg = f"saga {self._name!r} has no step {name!r}"
        raise KeyError(msg)

    def __repr__(self) -> str:
        failed = f" failed_step={self.failed_step!r}" if self.failed_step else ""
        return f"<SagaResult {self._name!r} {self._status}{failed} {self.statuses}>"

    def result_of(self, step: Step[Any, T]) -> T:
        """What *step* returned in this run, typed as the step's result.

        Raises:
            KeyError: The saga has no such step, or the step did not run
                to completion (it failed or was skipped).
        """
        if self._steps is None and step.name in self._names:
            return cast("T", self._results[self._names.index(step.name)])
        outcome = self[step.name]
        if outcome.status in ("failed", "skipped"):
            msg = (
                f"step {step.name!r} of saga {self._name!r} has no result: "
                f"it {outcome.status}"
            )
            raise KeyError(msg)
        return cast("T", outcome.result)

    def raise_for_status(self) -> None:
        """Raise the failed step's exception, if a step failed; else nothing."""
        error = self.error
        if error is not None:
            raise error


def undone(
    step: Step[Any, Any], result: object, errors: dict[str, Exception]
) -> StepOutcome:
    """The outcome of a step that completed, after the compensations."""
    if step.compensate is None:
        return StepOutcome(name=step.name, status="completed", result=result)
    error = errors.get(step.name)
    if error is None:
        return StepOutcome(name=step.name, status="compensated", result=result)
    return StepOutcome(
        name=step.name, status="compensation_failed", result=result, error=error
    )


def note(saga: str, failed: str, outcomes: list[StepOutcome]) -> str:
    undone = [o.name for o in reversed(outcomes) if o.status == "compensated"]
    broken = [o for o in reversed(outcomes) if o.status == "compensation_failed"]
    parts = [f"brace: saga {saga!r} failed at step {failed!r}"]
    if undone:
        parts.append("compensated " + ", ".join(repr(n) for n in undone))
    if broken:
        parts.append(
            "compensation failed for "
            + ", ".join(
                f"{o.name!r} ({type(o.error).__qualname__}: {o.error})" for o in broken
            )
        )
    if not undone and not broken:
        parts.append("nothing to compensate")
    return "; ".join(parts)


class _Completed(SagaResult):
    """A completed run's result: outcomes are made only when asked for."""

    __slots__ = ()
    # Constant for every completed run: class attributes, set once, in
    # place of the base class's slots.
    _status = "completed"
    _failure = None

    def __init__(self, name: str, names: tuple[str, ...], results: list[object]):
        self._name = name
        self._steps = None
        self._names = names
        self._results = results


completed = _Completed
