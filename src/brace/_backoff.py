"""Backoff schedules: immutable value objects that produce delays.

A :class:`Backoff` holds no iteration state. :meth:`Backoff.delays` returns a
fresh iterator on every call, so one schedule can be shared by any number of
concurrent retries without them stepping on each other's sequence.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from typing import Literal, get_args

import attrs

from ._time import Duration, seconds

__all__ = ["Backoff", "Jitter"]

Jitter = Literal["full", "equal", "decorrelated", "none"]
_Kind = Literal["exponential", "constant", "linear"]
_JITTERS = frozenset(get_args(Jitter))


def _check_jitter(jitter: str) -> None:
    if jitter not in _JITTERS:
        msg = f"jitter must be one of {sorted(_JITTERS)}, not {jitter!r}"
        raise ValueError(msg)


@attrs.frozen(kw_only=True)
class Backoff:
    """A schedule of delays between attempts.

    Build one with :meth:`exponential`, :meth:`constant` or :meth:`linear`.
    Jitter is applied *after* the cap, so delays that reach ``maximum`` keep
    their spread instead of collapsing onto the cap (the thundering herd that
    jitter exists to prevent). All values are validated at construction.

    Jitter modes, for a capped base delay ``d``:

    - ``"none"``: exactly ``d``.
    - ``"full"``: uniform in ``[minimum, d]``.
    - ``"equal"``: uniform in ``[max(minimum, d/2), d]``.
    - ``"decorrelated"`` (exponential only): uniform in
      ``[max(minimum, initial), min(maximum, multiplier * previous)]``, where
      *previous* is the last delay. The upper bound is capped, not the drawn
      value, so this too stays spread at the cap; its delays settle around
      a quarter to a half of *maximum* rather than at it.

    Attributes:
        kind: ``"exponential"``, ``"constant"`` or ``"linear"``.
        initial: The first base delay, in seconds.
        multiplier: Growth factor per attempt (exponential), or of the upper
            bound (decorrelated).
        step: Increase per attempt (linear).
        maximum: Cap on the base delay, in seconds.
        minimum: Floor on every delay, in seconds.
        jitter: The jitter mode.

    .. versionadded:: 0.1
    """

    kind: _Kind
    initial: float
    multiplier: float = 1.0
    step: float = 0.0
    maximum: float
    minimum: float = 0.0
    jitter: Jitter = "none"

    def __attrs_post_init__(self) -> None:
        _check_jitter(self.jitter)
        for name in ("initial", "maximum", "minimum", "step"):
            seconds(getattr(self, name), name)
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1.0):
            msg = f"multiplier must be a finite number >= 1, not {self.multiplier!r}"
            raise ValueError(msg)
        if self.maximum < self.initial:
            msg = (
                f"maximum ({self.maximum!r} s) must be >= initial ({self.initial!r} s)"
            )
            raise ValueError(msg)
        if self.minimum > self.maximum:
            msg = (
                f"minimum ({self.minimum!r} s) must be <= maximum ({self.maximum!r} s)"
            )
            raise ValueError(msg)
        if self.jitter == "decorrelated":
            if self.kind != "exponential":
                msg = "decorrelated jitter only applies to exponential backoff"
                raise ValueError(msg)
            if self.initial <= 0:
                msg = "decorrelated jitter needs initial > 0 (it grows from it)"
                raise ValueError(msg)

    @classmethod
    def exponential(
        cls,
        *,
        initial: Duration = 0.1,
        multiplier: float | None = None,
        maximum: Duration = 30.0,
        minimum: Duration = 0.0,
        jitter: Jitter = "full",
    ) -> Backoff:
        """Delays that grow by *multiplier* per attempt up to *maximum*.

        Args:
            initial: The first base delay.
            multiplier: Growth per attempt; defaults to 2, or to 3 with
                decorrelated jitter (the factor in Brooker's formulation,
                whose mean delay grows by 1.5 per attempt).
            maximum: Cap on the base delay.
            minimum: Floor on every delay, jitter included.
            jitter: ``"full"`` (default), ``"equal"``, ``"decorrelated"`` or
                ``"none"``.

        Raises:
            ValueError: For negative or non-finite durations, ``maximum <
                initial``, ``minimum > maximum``, ``multiplier < 1``, or an
                unknown jitter mode.

        .. versionadded:: 0.1
        """
        _check_jitter(jitter)
        if multiplier is None:
            multiplier = 3.0 if jitter == "decorrelated" else 2.0
        return cls(
            kind="exponential",
            initial=seconds(initial, "initial"),
            multiplier=float(multiplier),
            maximum=seconds(maximum, "maximum"),
            minimum=seconds(minimum, "minimum"),
            jitter=jitter,
        )

    @classmethod
    def constant(
        cls,
        delay: Duration = 1.0,
        /,
        *,
        minimum: Duration = 0.0,
        jitter: Jitter = "none",
    ) -> Backoff:
        """The same base delay before every attempt.

        Args:
            delay: The delay; 0 retries at once.
            minimum: Floor on every delay, jitter included.
            jitter: ``"none"`` (default), ``"full"`` or ``"equal"``.

        .. versionadded:: 0.1
        """
        value = seconds(delay, "delay")
        return cls(
            kind="constant",
            initial=value,
            maximum=value,
            minimum=seconds(minimum, "minimum"),
            jitter=jitter,
        )

    @classmethod
    def linear(
        cls,
        *,
        initial: Duration = 0.1,
        step: Duration = 0.1,
        maximum: Duration = 5.0,
        minimum: Duration = 0.0,
        jitter: Jitter = "none",
    ) -> Backoff:
        """Delays that grow by *step* per attempt up to *maximum*.

        Args:
            initial: The first base delay.
            step: Added per attempt.
            maximum: Cap on the base delay.
            minimum: Floor on every delay, jitter included.
            jitter: ``"none"`` (default), ``"full"`` or ``"equal"``.

        .. versionadded:: 0.1
        """
        return cls(
            kind="linear",
            initial=seconds(initial, "initial"),
            step=seconds(step, "step"),
            maximum=seconds(maximum, "maximum"),
            minimum=seconds(minimum, "minimum"),
            jitter=jitter,
        )

    def base(self, attempt: int) -> float:
        """The capped base delay after failed attempt number *attempt*.

        Exact for any attempt number: the exponent is compared in log space,
        so huge attempt numbers saturate at *maximum* without overflowing.

        .. versionadded:: 0.1
        """
        if attempt < 1:
            msg = f"attempt numbers start at 1, not {attempt!r}"
            raise ValueError(msg)
        n = attempt - 1
        if self.kind == "exponential":
            if self.initial == 0 or self.multiplier == 1.0 or n == 0:
                return self.initial
            if n >= math.log(self.maximum / self.initial, self.multiplier):
                return self.maximum
            return min(self.maximum, self.initial * self.multiplier**n)
        if self.kind == "linear":
            if self.step == 0:
                return self.initial
            if n >= (self.maximum - self.initial) / self.step:
                return self.maximum
            return min(self.maximum, self.initial + self.step * n)
        return self.initial

    def delay(
        self,
        attempt: int,
        rng: random.Random | None = None,
        *,
        previous: float | None = None,
    ) -> float:
        """The jittered delay after failed attempt number *attempt*.

        Args:
            attempt: 1 for the delay after the first failure.
            rng: Source of randomness; the :mod:`random` module's by default.
            previous: The previous delay, which decorrelated jitter grows
                from (*initial* when omitted).

        .. versionadded:: 0.1
        """
        rand = (rng or random).random
        if self.jitter == "decorrelated":
            return self._decorrelated(
                rand, self.initial if previous is None else previous
            )
        return self._jittered(rand, self.base(attempt))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """A fresh, endless iterator over the delays, one per failed attempt.

        Each call starts a new, independent sequence; the schedule itself is
        never mutated.

        Args:
            rng: Source of randomness; the :mod:`random` module's by default.

        .. versionadded:: 0.1
        """
        if self.jitter == "none" and self.kind == "constant":
            # The common "fixed delay" schedule, as a C iterator: retries
            # with it pay no generator frame per delay.
            return itertools.repeat(max(self.minimum, self.initial))
        rand = (rng or random).random
        if self.jitter == "decorrelated":
            return self._decorrelated_delays(rand)
        return self._delays(rand)

    def _delays(self, rand: Callable[[], float]) -> Iterator[float]:
        attempt = 1
        while True:
            base = self.base(attempt)
            yield self._jittered(rand, base)
            if base >= self.maximum:
                # Saturated: stop counting so the loop never grows an int.
                while True:
                    yield self._jittered(rand, base)
            attempt += 1

    def _decorrelated_delays(self, rand: Callable[[], float]) -> Iterator[float]:
        delay = self.initial
        while True:
            delay = self._decorrelated(rand, delay)
            yield delay

    def _jittered(self, rand: Callable[[], float], base: float) -> float:
        high = max(self.minimum, base)
        if self.jitter == "none":
            return high
        low = self.minimum if self.jitter == "full" else max(self.minimum, high / 2)
        return min(high, low + (high - low) * rand())

    def _decorrelated(self, rand: Callable[[], float], previous: float) -> float:
        low = max(self.minimum, self.initial)
        high = max(low, min(self.maximum, self.multiplier * previous))
        return min(high, low + (high - low) * rand())
