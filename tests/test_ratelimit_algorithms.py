"""Rate limiter arithmetic against exact reference models, and its invariants.

The reference models are written in exact rational arithmetic
(:class:`fractions.Fraction`) straight from the definitions: GCRA for the
token bucket, counts per segment for the windows, and a FIFO queue in which
each request is granted at the earliest time its cost fits, behind the
requests ahead of it. Hypothesis generates arrivals (times, costs, optional
cancellations, an optional ``max_wait``); the real limiter runs them on the
virtual clock, and every grant time must match the model's. Matching the
model's earliest times is what work-conserving means; the bounds on what is
granted over any interval are checked separately, on the limiter's own
output.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brace
from brace._ratelimit import RateLimiter
from brace._ratelimit_algorithms import (
    FixedWindow,
    SlidingWindow,
    TokenBucket,
    _segment_start,
)
from brace.testing import VirtualTimeEventLoop

# -- the reference models -------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    algorithm: str
    rate: int
    per: Fraction
    burst: int | None = None
    segments: int | None = None
    max_wait: Fraction | None = None

    @property
    def capacity(self) -> int:
        return self.burst if self.algorithm == "token_bucket" else self.rate  # type: ignore[return-value]

    def limiter(self) -> RateLimiter:
        return RateLimiter(
            self.rate,
            float(self.per),
            burst=self.burst,
            algorithm=self.algorithm,
            segments=self.segments,
            max_wait=None if self.max_wait is None else float(self.max_wait),
        )


@dataclass(frozen=True)
class Request:
    arrival: Fraction
    cost: int
    cancel_at: Fraction | None = None


REJECTED = "rejected"
CANCELLED = "cancelled"


class Model:
    """What the limiter grants, computed from the definitions."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.granted: list[tuple[Fraction, int]] = []
        self.tat: Fraction | None = None

    def _segment(self, t: Fraction) -> int:
        length = self.spec.per / (self.spec.segments or 1)
        return math.floor(t / length)

    def _counted(self, t: Fraction) -> int:
        spec = self.spec
        index = self._segment(t)
        oldest = index - (spec.segments or 0)  # fixed: only this window
        return sum(c for g, c in self.granted if oldest <= self._segment(g) <= index)

    def earliest(self, t: Fraction, cost: int) -> Fraction:
        spec = self.spec
        if spec.algorithm == "token_bucket":
            interval = spec.per / spec.rate
            if self.tat is None or self.tat <= t:
                return t
            assert spec.burst is not None
            return max(t, self.tat + (cost - spec.burst) * interval)
        if self._counted(t) + cost <= spec.rate:
            return t
        length = spec.per / (spec.segments or 1)
        index = self._segment(t) + 1
        while self._counted(index * length) + cost > spec.rate:
            index += 1
        return index * length

    def grant(self, t: Fraction, cost: int) -> None:
        spec = self.spec
        self.granted.append((t, cost))
        if spec.algorithm == "token_bucket":
            base = t if self.tat is None else max(self.tat, t)
            self.tat = base + cost * spec.per / spec.rate

    def run(self, requests: list[Request]) -> list[Fraction | str]:
        """Grant times (or CANCELLED) of FIFO requests, in order."""
        out: list[Fraction | str] = []
        free_from = Fraction(-(10**9))  # when the request ahead left the queue
        for req in requests:
            when = self.earliest(max(req.arrival, free_from), req.cost)
            if req.cancel_at is not None and req.cancel_at < when:
                out.append(CANCELLED)
                free_from = max(free_from, req.cancel_at)
            else:
                self.grant(when, req.cost)
                out.append(when)
                free_from = when
        return out


def expected(
    spec: Spec, requests: list[Request]
) -> tuple[list[Fraction | str], list[Fraction]]:
    """The outcome of every request, and the grant time predicted on arrival.

    A prediction knows the cancellations that happened before the request
    arrived, not those to come; ``max_wait`` rejects a request whose
    predicted wait exceeds it, and a rejected request never queues.
    """
    rejected: set[int] = set()
    predictions: list[Fraction] = []
    for i, req in enumerate(requests):
        known = [
            r
            if r.cancel_at is None or r.cancel_at < req.arrival
            else Request(r.arrival, r.cost)
            for j, r in enumerate(requests[:i])
            if j not in rejected
        ]
        prediction = Model(spec).run([*known, Request(req.arrival, req.cost)])[-1]
        assert isinstance(prediction, Fraction)
        predictions.append(prediction)
        if spec.max_wait is not None and prediction - req.arrival > spec.max_wait:
            rejected.add(i)
    queued = [r for i, r in enumerate(requests) if i not in rejected]
    outcomes = iter(Model(spec).run(queued))
    results = [
        REJECTED if i in rejected else next(outcomes) for i in range(len(requests))
    ]
    return results, predictions


# -- running the real limiter ---------------------------------------------------


async def _sleep_until(loop: asyncio.AbstractEventLoop, when: float) -> None:
    fut = loop.create_future()
    loop.call_at(when, fut.set_result, None)
    await fut


async def _drive(
    spec: Spec, requests: list[Request]
) -> tuple[list[float | str], list[float | None]]:
    """Run the requests on the virtual loop; grant times and predictions."""
    loop = asyncio.get_running_loop()
    rl = spec.limiter()
    results: list[float | str] = [CANCELLED] * len(requests)
    predicted: list[float | None] = [None] * len(requests)

    async def one(i: int, cost: int) -> None:
        predicted[i] = loop.time() + rl.retry_after(cost)
        try:
            await rl.acquire(cost)
        except brace.RateLimited:
            results[i] = REJECTED
        else:
            results[i] = loop.time()

    tasks = []
    for i, req in enumerate(requests):
        if float(req.arrival) > loop.time():
            await _sleep_until(loop, float(req.arrival))
        task = loop.create_task(one(i, req.cost))
        if req.cancel_at is not None:
            loop.call_at(float(req.cancel_at), task.cancel)
        tasks.append(task)
    await asyncio.gather(*tasks, return_exceptions=True)
    stats = rl.statistics()
    assert stats.waiting == 0
    assert stats.acquired == sum(isinstance(r, float) for r in results)
    assert stats.rejected == results.count(REJECTED)
    return results, predicted


def _run(spec: Spec, requests: list[Request]) -> tuple[list[Any], list[Any]]:
    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        return runner.run(_drive(spec, requests))


def _check_bounds(spec: Spec, results: list[Any], requests: list[Request]) -> None:
    """What was granted never exceeds the limit, over any interval."""
    grants = sorted(
        (t, req.cost)
        for t, req in zip(results, requests, strict=True)
        if isinstance(t, float)
    )
    eps = 1e-9
    for i, (ti, _) in enumerate(grants):
        if spec.algorithm == "token_bucket":
            assert spec.burst is not None
            for j in range(i, len(grants)):
                tj = grants[j][0]
                total = sum(c for t, c in grants if ti <= t <= tj)
                assert (
                    total <= spec.burst + (tj - ti) * spec.rate / float(spec.per) + eps
                )
        elif spec.algorithm == "sliding_window":
            total = sum(c for t, c in grants if ti <= t <= ti + float(spec.per))
            assert total <= spec.rate
        else:
            window = ti // float(spec.per)
            total = sum(c for t, c in grants if t // float(spec.per) == window)
            assert total <= spec.rate


# -- strategies -----------------------------------------------------------------

EIGHTHS = st.integers(0, 10).map(lambda n: Fraction(n, 8))
# Cancellations and max_wait fall on odd sixteenths and thirty-seconds (see
# also scenarios()), which no grant time can equal here, so there is never a
# tie to break.
CANCEL_OFFSETS = st.integers(0, 40).map(lambda n: Fraction(2 * n + 1, 16))
MAX_WAITS = st.integers(0, 64).map(lambda n: Fraction(2 * n + 1, 32))
PERIODS = st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(2)])


@st.composite
def specs(draw: st.DrawFn, max_wait: bool = False) -> Spec:
    algorithm = draw(
        st.sampled_from(["token_bucket", "sliding_window", "fixed_window"])
    )
    wait = draw(st.none() | MAX_WAITS) if max_wait else None
    if algorithm == "token_bucket":
        return Spec(
            algorithm,
            rate=draw(st.sampled_from([1, 2, 3, 5, 10])),
            per=draw(PERIODS),
            burst=draw(st.integers(1, 4)),
            max_wait=wait,
        )
    segments = (
        draw(st.sampled_from([1, 2, 4])) if algorithm == "sliding_window" else None
    )
    return Spec(
        algorithm,
        rate=draw(st.integers(1, 4)),
        per=draw(PERIODS),
        segments=segments,
        max_wait=wait,
    )


@st.composite
def scenarios(
    draw: st.DrawFn, *, cancel: bool = False, max_wait: bool = False
) -> tuple[Spec, list[Request]]:
    spec = draw(specs(max_wait=max_wait))
    arrival = Fraction(0)
    requests = []
    for _ in range(draw(st.integers(1, 12))):
        arrival += draw(EIGHTHS)
        cancel_at = None
        if cancel and draw(st.booleans()):
            # Each request's own 1/4096ths: two cancellations never
            # coincide, nor a cancellation with a grant that another one
            # let through.
            cancel_at = (
                arrival + draw(CANCEL_OFFSETS) + Fraction(len(requests) + 1, 4096)
            )
        cost = draw(st.integers(1, spec.capacity))
        requests.append(Request(arrival, cost, cancel_at))
    return spec, requests


def _same(actual: list[Any], expected: list[Any]) -> bool:
    if len(actual) != len(expected):
        return False
    for a, e in zip(actual, expected, strict=True):
        if isinstance(e, str) or isinstance(a, str):
            if a != e:
                return False
        elif abs(a - float(e)) > 1e-9:
            return False
    return True


# -- the properties -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(scenarios())
def test_grants_match_the_model(scenario: tuple[Spec, list[Request]]) -> None:
    """Grants land at the model's earliest FIFO times, as predicted, within bounds."""
    spec, requests = scenario
    results, predicted = _run(spec, requests)
    outcomes, predictions = expected(spec, requests)
    assert _same(results, outcomes), (results, outcomes)
    assert _same(predicted, outcomes), (predicted, outcomes)
    assert outcomes == predictions
    _check_bounds(spec, results, requests)


@settings(max_examples=40, deadline=None)
@given(scenarios(cancel=True, max_wait=True))
def test_cancellations_and_max_wait_match_the_model(
    scenario: tuple[Spec, list[Request]],
) -> None:
    """Cancellations and max_wait rejections match the model, within bounds."""
    spec, requests = scenario
    results, predicted = _run(spec, requests)
    outcomes, predictions = expected(spec, requests)
    assert _same(results, outcomes), (results, outcomes)
    assert _same(predicted, predictions), (predicted, predictions)
    for p, r in zip(predicted, results, strict=True):
        # Cancellations to come can only bring a grant forward.
        assert p is not None
        assert not isinstance(r, float) or r <= p + 1e-9
    _check_bounds(spec, results, requests)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(scenarios(cancel=True, max_wait=True))
def test_model_thoroughly(scenario: tuple[Spec, list[Request]]) -> None:
    """The same, with ten times as many scenarios (a few seconds)."""
    spec, requests = scenario
    results, predicted = _run(spec, requests)
    outcomes, predictions = expected(spec, requests)
    assert _same(results, outcomes), (results, outcomes)
    assert _same(predicted, predictions), (predicted, predictions)
    _check_bounds(spec, results, requests)


# -- the algorithms on their own ------------------------------------------------


ALGORITHMS = st.one_of(
    st.builds(
        TokenBucket,
        st.sampled_from([0.5, 1.0, 3.0, 7.0, 1e9]),
        st.sampled_from([0.1, 1.0, 2.5]),
        st.integers(1, 5),
    ),
    st.builds(FixedWindow, st.integers(1, 5), st.sampled_from([0.1, 1.0, 2.5])),
    st.builds(
        SlidingWindow,
        st.integers(1, 5),
        st.sampled_from([0.1, 1.0, 2.5]),
        st.integers(1, 6),
    ),
)


@settings(max_examples=80, deadline=None)
@given(
    alg=ALGORITHMS,
    steps=st.lists(
        st.tuples(st.floats(0, 3), st.integers(1, 5)), min_size=1, max_size=25
    ),
)
def test_earliest_and_available_agree_with_take(
    alg: Any, steps: list[tuple[float, int]]
) -> None:
    """take() succeeds from earliest() on, and available() is the most it takes."""
    t = 1000.0
    for gap, want in steps:
        t += gap
        cost = min(want, alg.capacity)
        when = alg.earliest(t, cost)
        assert when >= t
        if when > t:
            assert not alg.copy().take(t, cost)
        available = alg.available(t)
        assert 0 <= available <= alg.capacity
        if available:
            assert alg.copy().take(t, available)
        if available < alg.capacity:
            assert not alg.copy().take(t, available + 1)
        assert alg.take(when, cost)
        t = when


def test_copies_are_independent() -> None:
    """A copy moves on its own; the original is untouched."""
    for alg in (
        TokenBucket(1.0, 1.0, 2),
        FixedWindow(2, 1.0),
        SlidingWindow(2, 1.0, 2),
    ):
        clone = alg.copy()
        assert clone.take(5.0, 2)
        assert alg.available(5.0) == 2
        assert clone.available(5.0) == 0
        assert alg.mark() != clone.mark()


def test_segment_start_is_the_first_instant_of_its_segment() -> None:
    """Segment starts are exact even where index * length rounds down."""
    cases = [
        (index, length)
        for length in (0.1, 0.3, 0.7, 1 / 3)
        for index in range(1, 400)
        if (index * length) // length < index
    ]
    assert cases, "no rounding case found: the nextafter branch is untested"
    for index, length in [*cases, (7, 0.25), (3, 1.0)]:
        start = _segment_start(index, length)
        assert start // length >= index
        assert math.nextafter(start, -math.inf) // length < index


def test_token_bucket_exact_over_a_million_units() -> None:
    """A million units on the GCRA schedule: the TAT is exact, unlike a sum."""
    bucket = TokenBucket(3.0, 0.1, 1000)
    t = 0.0
    naive = 0.0
    for _ in range(1000):
        t = bucket.earliest(t, 1000)
        assert bucket.take(t, 1000)
        naive += 1000 * (0.1 / 3.0)
    exact = Fraction(10**6) * Fraction(1, 30)
    assert abs(Fraction(bucket.tat) - exact) <= Fraction(math.ulp(float(exact)))
    assert abs(Fraction(naive) - exact) > 10 * Fraction(math.ulp(float(exact)))


@pytest.mark.parametrize(
    ("rate", "per", "burst", "start", "extra", "at", "available"),
    [
        # The float estimate of available() is one too high here...
        (7.0, 0.3, 7, 0.0, 14, 0.6428571428571428, 0),
        # ... and one too low here; take()'s own test settles both.
        (7.0, 2.5, 8, 12345.678, 14, 12352.820857142857, 6),
    ],
)
def test_available_at_rounding_boundaries(
    rate: float,
    per: float,
    burst: int,
    start: float,
    extra: int,
    at: float,
    available: int,
) -> None:
    """available() is exact where the float estimate of it is off by one."""
    bucket = TokenBucket(rate, per, burst)
    assert bucket.take(start, burst)
    t = start
    for _ in range(extra):
        t = bucket.earliest(t, 1)
        assert bucket.take(t, 1)
    assert bucket.available(at) == available
    assert available == 0 or bucket.copy().take(at, available)
    assert available == burst or not bucket.copy().take(at, available + 1)


def test_sliding_segments_cover_the_window() -> None:
    """Segments are rounded up so that segments * length >= per, exactly."""
    assert Fraction(0.1 / 3) * 3 < Fraction(0.1)  # the naive length falls short
    window = SlidingWindow(5, 0.1, 3)
    assert Fraction(window.segment) * 3 >= Fraction(0.1)
    assert window.segment == math.nextafter(0.1 / 3, math.inf)
    assert SlidingWindow(5, 1.0, 4).segment == 0.25
