"""What a scenario is, and the registry that the runner reads.

A scenario is a name, a baseline row, targets, and a function that builds its
rows. A row is an async *batch* function: ``await batch(n)`` makes ``n`` calls
of the thing measured, one after the other, in the running task, and returns
the last result (so that the runner can check that the row does what it
claims before timing it).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Literal

__all__ = [
    "SCENARIOS",
    "UNCHECKED",
    "Batch",
    "Row",
    "Scenario",
    "Skip",
    "Target",
    "at_most",
    "faster",
    "optional_import",
    "registered",
    "scenario",
]

Batch = Callable[[int], Awaitable[object]]


class _Unchecked:
    def __repr__(self) -> str:
        return "UNCHECKED"


UNCHECKED: object = _Unchecked()


@dataclass(frozen=True)
class Row:
    """One measured variant of a scenario.

    Attributes:
        name: The row's name in reports and JSON (a stable contract).
        what: The code measured, for humans (markdown allowed).
        batch: ``await batch(n)`` makes *n* calls and returns the last result.
        expect: What ``await batch(1)`` must return; :data:`UNCHECKED` to skip.
        around: Entered around every batch (outside the timed region), for
            state that only this row may see, such as an event subscription.
        check: Extra async sanity check run once before timing; raises
            :class:`AssertionError` when the row does not do what it claims.
    """

    name: str
    what: str
    batch: Batch
    expect: object = UNCHECKED
    around: Callable[[], AbstractContextManager[object]] | None = None
    check: Callable[[], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Skip:
    """A row that cannot run here (a peer library is not installed)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Target:
    """A ratio between two rows' medians that the project aims for.

    ``at_most``: ``subject / other <= factor``.
    ``faster``: ``other / subject >= factor`` (subject is *factor* x faster).
    """

    kind: Literal["at_most", "faster"]
    subject: str
    other: str
    factor: float

    @property
    def label(self) -> str:
        if self.kind == "at_most":
            return f"{self.subject} <= {self.factor:g}x {self.other}"
        return f"{self.subject} >= {self.factor:g}x faster than {self.other}"

    def measure(self, medians: dict[str, float]) -> float | None:
        """The measured ratio, or ``None`` if a row is missing."""
        if self.subject not in medians or self.other not in medians:
            return None
        if self.kind == "at_most":
            return medians[self.subject] / medians[self.other]
        return medians[self.other] / medians[self.subject]

    def met(self, ratio: float) -> bool:
        if self.kind == "at_most":
            return ratio <= self.factor
        return ratio >= self.factor


def at_most(subject: str, factor: float, other: str) -> Target:
    """Target: *subject* takes at most *factor* times as long as *other*."""
    return Target("at_most", subject, other, factor)


def faster(subject: str, factor: float, other: str) -> Target:
    """Target: *subject* is at least *factor* times faster than *other*."""
    return Target("faster", subject, other, factor)


@dataclass(frozen=True)
class Scenario:
    """A family of rows timed together, interleaved.

    Attributes:
        name: The scenario's name (a stable contract, used by ``--scenario``).
        title: One line saying what one "call" is.
        baseline: The row that the "x baseline" column divides by.
        build: Returns the rows (or skips), in report order.
        targets: Ratios to report as met / not met (never asserted).
        reference: The row that the "x reference" column divides by
            (brace's), or ``None`` for no such column.
        notes: Derives extra report lines from the medians.
        order: Position in reports (lower first; ties by registration).
    """

    name: str
    title: str
    baseline: str
    build: Callable[[], list[Row | Skip]]
    targets: tuple[Target, ...] = ()
    reference: str | None = "brace"
    notes: Callable[[dict[str, float]], list[str]] | None = field(default=None)
    order: int = 100


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    name: str,
    *,
    title: str,
    baseline: str,
    targets: tuple[Target, ...] = (),
    reference: str | None = "brace",
    notes: Callable[[dict[str, float]], list[str]] | None = None,
    order: int = 100,
) -> Callable[[Callable[[], list[Row | Skip]]], Callable[[], list[Row | Skip]]]:
    """Register the decorated row builder as scenario *name*."""

    def register(
        build: Callable[[], list[Row | Skip]],
    ) -> Callable[[], list[Row | Skip]]:
        if name in SCENARIOS:
            msg = f"scenario {name!r} is registered twice"
            raise ValueError(msg)
        SCENARIOS[name] = Scenario(
            name=name,
            title=title,
            baseline=baseline,
            build=build,
            targets=targets,
            reference=reference,
            notes=notes,
            order=order,
        )
        return build

    return register


def registered() -> list[Scenario]:
    """Every registered scenario, in report order."""
    return sorted(SCENARIOS.values(), key=lambda s: s.order)


def optional_import(name: str) -> ModuleType | None:
    """Import a peer library, or ``None`` when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
