"""Bounded label values: what keeps metric cardinality in check."""

from __future__ import annotations

__all__ = ["OTHER", "LabelValues"]

OTHER = "other"


class LabelValues:
    """The first *limit* distinct values of one label; later ones are "other".

    A value once admitted stays admitted, so a series never changes its
    labels; values are never forgotten, so the bound holds for the life of
    the process. A name that floods in after the limit is counted, under
    ``"other"``, rather than dropped.
    """

    __slots__ = ("_limit", "seen")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        # The values admitted so far: hot paths test membership themselves.
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        seen = self.seen
        if value in seen:
            return value
        if len(seen) < self._limit:
            seen.add(value)
            return value
        return OTHER
