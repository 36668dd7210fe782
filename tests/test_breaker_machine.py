"""A hypothesis state machine: CircuitBreaker against a simple reference model.

The breaker's synchronous admit/settle API is driven on a fake clock, with
calls admitted and settled in any interleaving, the clock moved by any
amount, and manual control (isolate, reset, force_closed, a snapshot
restored in place) mixed in. After every step the breaker's statistics must
equal the model's. The model recounts its window from a list, compares
rates as exact fractions, and applies every time-driven transition at the
instant it was due.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

import brace
from brace._breaker import CircuitBreaker, CountWindow
from brace._breaker_state import NEUTRAL
from brace._breaker_window import FAILURE, SLOW, SUCCESS
from brace._errors import CircuitOpen

OPEN_FOR = 4.0
PROBE_TIMEOUT = 7.0
BACKOFF = brace.Backoff.exponential(initial=2, multiplier=2, maximum=8, jitter="none")
SLOW_AFTER = 2.0


@dataclass
class Model:
    """The reference: the documented rules, written the obvious way."""

    size: int
    min_calls: int
    rate: Fraction | None
    consecutive_max: int | None
    slow_rate: Fraction | None
    half_open_calls: int
    threshold: int
    backoff: bool
    force_closed: bool = False
    state: str = "closed"
    gen: int = 0
    version: int = 0
    since: float = 0.0
    window: list[int] = field(default_factory=list)
    consecutive: int = 0
    trips: int = 0
    open_until: float = 0.0
    duration: float | None = None
    probes: dict[int, float] = field(default_factory=dict)
    next_probe: int = 0
    successes: int = 0
    rejected: int = 0
    opened: int = 0
    would_open: int = 0

    def move(self, new: str, t: float) -> None:
        self.state = new
        self.gen += 1
        self.version += 1
        self.since = t
        self.probes = {}
        self.successes = 0
        if new == "closed":
            self.window = []
            self.consecutive = 0
            self.trips = 0
            self.duration = None

    def open(self, t: float) -> None:
        self.trips += 1
        if self.backoff:
            self.duration = min(8.0, 2.0 * 2 ** (self.trips - 1))
        else:
            self.duration = OPEN_FOR
        self.open_until = t + self.duration
        self.opened += 1
        self.move("open", t)

    def refresh(self, t: float) -> None:
        while True:
            if self.state == "open" and t >= self.open_until:
                self.move("half_open", self.open_until)
            elif self.state == "half_open" and self.probes:
                first = min(self.probes.values())
                if t <= first:
                    return
                self.open(first)
            else:
                return

    def admit(self, t: float) -> tuple[int, int] | float:
        """``(gen, probe)`` when admitted, else the retry_after."""
        self.refresh(t)
        if self.state == "closed":
            return self.gen, 0
        if self.state == "half_open" and len(self.probes) < self.half_open_calls:
            self.next_probe += 1
            self.probes[self.next_probe] = t + PROBE_TIMEOUT
            return self.gen, self.next_probe
        self.rejected += 1
        if self.state == "open":
            return self.open_until - t
        if self.state == "isolated":
            return math.inf
        first = min(self.probes.values())
        return max(0.0, min(self.duration or 0.0, first - t))

    def settle(self, gen: int, probe: int, code: int, t: float) -> None:
        self.refresh(t)
        if gen != self.gen:
            return
        if probe:
            del self.probes[probe]
            if code == SUCCESS:
                self.successes += 1
                if self.successes >= self.threshold:
                    self.move("closed", t)
            elif code > 0:
                self.open(t)
            return
        if code < 0:
            return
        self.window = [*self.window, code][-self.size :]
        self.consecutive = self.consecutive + 1 if code & FAILURE else 0
        if (
            self.consecutive_max is not None
            and self.consecutive >= self.consecutive_max
        ):
            self.trip(t)
            return
        calls = len(self.window)
        if calls < self.min_calls:
            return
        failures = Fraction(sum(1 for c in self.window if c & FAILURE), calls)
        slow = Fraction(sum(1 for c in self.window if c & SLOW), calls)
        if (self.rate is not None and failures >= self.rate) or (
            self.slow_rate is not None and slow >= self.slow_rate
        ):
            self.trip(t)

    def trip(self, t: float) -> None:
        if self.force_closed:
            self.would_open += 1
            self.window = []
            self.consecutive = 0
        else:
            self.open(t)


rates = st.sampled_from([None, Fraction(1, 4), Fraction(1, 2), Fraction(1)])
outcomes = st.sampled_from([SUCCESS, FAILURE, FAILURE, NEUTRAL])


class BreakerMachine(RuleBasedStateMachine):
    """Drives the breaker and the model through the same steps."""

    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0

    @initialize(
        data=st.data(),
        size=st.integers(1, 5),
        rate=rates,
        consecutive_max=st.sampled_from([None, 1, 2, 3]),
        slow_rate=rates,
        half_open_calls=st.integers(1, 3),
        threshold=st.integers(1, 3),
        backoff=st.booleans(),
    )
    def setup(
        self,
        data: st.DataObject,
        size: int,
        rate: Fraction | None,
        consecutive_max: int | None,
        slow_rate: Fraction | None,
        half_open_calls: int,
        threshold: int,
        backoff: bool,
    ) -> None:
        if rate is None and consecutive_max is None and slow_rate is None:
            rate = Fraction(1, 2)
        min_calls = data.draw(st.integers(1, size), label="min_calls")
        self.model = Model(
            size=size,
            min_calls=min_calls,
            rate=rate,
            consecutive_max=consecutive_max,
            slow_rate=slow_rate,
            half_open_calls=half_open_calls,
            threshold=threshold,
            backoff=backoff,
        )
        self.cb = CircuitBreaker(
            window=CountWindow(size),
            min_calls=min_calls,
            failure_rate=None if rate is None else float(rate),
            consecutive_failures=consecutive_max,
            slow_call_duration=None if slow_rate is None else SLOW_AFTER,
            slow_call_rate=1.0 if slow_rate is None else float(slow_rate),
            open_for=BACKOFF if backoff else OPEN_FOR,
            half_open_calls=half_open_calls,
            success_threshold=threshold,
            probe_timeout=PROBE_TIMEOUT,
        )
        self.cb._clock = lambda: self.t
        self.slow_timed = slow_rate is not None

    @rule(step=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 4.0, 7.0, 8.0, 20.0]))
    def advance(self, step: float) -> None:
        self.t += step

    def _admit(self) -> tuple[int, int, float] | None:
        expected = self.model.admit(self.t)
        if isinstance(expected, float):
            with pytest.raises(CircuitOpen) as info:
                self.cb._admit()
            assert info.value.retry_after == expected
            return None
        gen, probe, start = self.cb._admit()
        assert expected == (gen, probe)
        return gen, probe, start

    def _settle(self, call: tuple[int, int, float] | None, outcome: int) -> None:
        if call is None:
            return  # it was rejected
        gen, probe, start = call
        code = outcome
        if self.slow_timed and code >= 0 and self.t - start >= SLOW_AFTER:
            code |= SLOW
        self.model.settle(gen, probe, code, self.t)
        self.cb._settle(gen, probe, start, outcome)

    @rule(outcome=outcomes, duration=st.sampled_from([0.0, 1.0, 2.0]))
    def call(self, outcome: int, duration: float) -> None:
        """A whole call: admitted, running for *duration*, settled."""
        call = self._admit()
        self.t += duration
        self._settle(call, outcome)

    @rule(target=calls)
    def start(self) -> object:
        """A call admitted now and settled later, interleaved with others."""
        return self._admit()

    @rule(call=consumes(calls), outcome=outcomes)
    def finish(self, call: tuple[int, int, float] | None, outcome: int) -> None:
        self._settle(call, outcome)

    @rule(
        action=st.sampled_from(
            ["reset", "isolate", "force_on", "force_off", "force_off", "restore"]
        )
    )
    def manual(self, action: str) -> None:
        """Manual control, and a snapshot restored in place."""
        model, cb = self.model, self.cb
        model.refresh(self.t)
        if action == "reset":
            model.move("closed", self.t)
            cb.reset()
        elif action == "isolate":
            if model.state != "isolated":
                model.move("isolated", self.t)
            cb.isolate()
        elif action == "restore":
            # Through JSON, into the same breaker: a new generation, so the
            # calls in flight no longer count and probe permits are freed.
            data = json.loads(json.dumps(cb.snapshot()))
            model.gen += 1
            model.probes = {}
            cb.restore(data)
        else:
            value = action == "force_on"
            model.force_closed = value
            if value and model.state in ("open", "half_open"):
                model.move("closed", self.t)
            cb.force_closed = value

    @invariant()
    def same_as_the_model(self) -> None:
        if not hasattr(self, "cb"):
            return
        stats = self.cb.statistics()
        model = self.model
        model.refresh(self.t)
        assert stats.state == model.state
        assert stats.calls == len(model.window)
        assert stats.failures == sum(1 for c in model.window if c & FAILURE)
        assert stats.slow_calls == sum(1 for c in model.window if c & SLOW)
        assert stats.consecutive_failures == model.consecutive
        assert stats.probes == len(model.probes)
        assert stats.rejected == model.rejected
        assert stats.opened == model.opened
        assert stats.would_open == model.would_open
        assert stats.version == model.version
        assert stats.time_in_state == self.t - model.since
        if model.state == "open":
            assert stats.retry_after == model.open_until - self.t


BreakerMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=40, deadline=None
)
TestBreakerMachine = BreakerMachine.TestCase


@pytest.mark.slow
def test_breaker_machine_thoroughly() -> None:
    """The same machine, many more and longer runs."""
    run = BreakerMachine.TestCase("runTest")
    run.settings = settings(max_examples=600, stateful_step_count=80, deadline=None)
    run.runTest()
