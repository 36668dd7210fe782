"""Backoff schedules: bounds, spread at the cap, independence, validation."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brace import Backoff

JITTERS = ["none", "full", "equal"]
durations = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def exponential(draw: st.DrawFn) -> Backoff:
    initial = draw(st.floats(min_value=1e-6, max_value=1e3))
    maximum = draw(st.floats(min_value=initial, max_value=1e6))
    minimum = draw(st.floats(min_value=0, max_value=maximum))
    jitter = draw(st.sampled_from([*JITTERS, "decorrelated"]))
    multiplier = draw(st.floats(min_value=1.0, max_value=100.0))
    return Backoff.exponential(
        initial=initial,
        multiplier=multiplier,
        maximum=maximum,
        minimum=minimum,
        jitter=jitter,
    )


@st.composite
def linear(draw: st.DrawFn) -> Backoff:
    initial = draw(durations)
    maximum = draw(st.floats(min_value=initial, max_value=2e6))
    return Backoff.linear(
        initial=initial,
        step=draw(durations),
        maximum=maximum,
        minimum=draw(st.floats(min_value=0, max_value=maximum)),
        jitter=draw(st.sampled_from(JITTERS)),
    )


@given(
    backoff=st.one_of(exponential(), linear()),
    attempt=st.integers(min_value=1, max_value=10**6),
    seed=st.integers(),
)
def test_every_delay_is_within_bounds(
    backoff: Backoff, attempt: int, seed: int
) -> None:
    """For any parameters and attempt numbers up to 10**6: minimum <= d <= maximum."""
    rng = random.Random(seed)
    previous = backoff.delay(max(1, attempt - 1), rng) if attempt > 1 else None
    delay = backoff.delay(attempt, rng, previous=previous)
    assert math.isfinite(delay)
    assert backoff.minimum <= delay <= backoff.maximum
    assert 0 <= backoff.base(attempt) <= backoff.maximum


@given(backoff=st.one_of(exponential(), linear()), seed=st.integers())
@settings(max_examples=50)
def test_iterated_delays_stay_within_bounds(backoff: Backoff, seed: int) -> None:
    """Two thousand consecutive delays from delays() all stay in bounds."""
    for delay in itertools.islice(backoff.delays(random.Random(seed)), 2000):
        assert backoff.minimum <= delay <= backoff.maximum


def test_huge_attempt_numbers_do_not_overflow() -> None:
    """10**6 and 10**400 saturate at the cap instead of overflowing."""
    backoff = Backoff.exponential(initial=1e-3, multiplier=10, maximum=5, jitter="none")
    assert backoff.delay(10**6) == 5
    assert backoff.base(10**400) == 5
    lin = Backoff.linear(initial=0, step=1e300, maximum=5)
    assert lin.base(10**400) == 5


@pytest.mark.parametrize("jitter", ["full", "equal", "decorrelated"])
def test_jitter_stays_spread_at_the_cap(jitter: str) -> None:
    """Of 1,000 delays at the cap, fewer than 1% equal the cap (no herd)."""
    backoff = Backoff.exponential(initial=1, maximum=5, jitter=jitter)  # type: ignore[arg-type]
    delays = list(itertools.islice(backoff.delays(random.Random(7)), 20, 1020))
    at_cap = sum(1 for d in delays if d == 5)
    assert at_cap < 10
    # And they are spread: a wide range, many distinct values.
    assert len(set(delays)) > 990
    assert max(delays) - min(delays) > 1.5


def test_full_jitter_at_the_cap_is_uniform_over_the_range() -> None:
    """Full jitter at the cap has the mean of U(0, cap)."""
    backoff = Backoff.exponential(initial=1, maximum=8, jitter="full")
    delays = list(itertools.islice(backoff.delays(random.Random(3)), 100, 5100))
    assert 3.7 < sum(delays) / len(delays) < 4.3
    assert min(delays) < 0.1


def test_no_jitter_is_the_exact_schedule() -> None:
    """jitter="none" yields the deterministic capped sequence."""
    backoff = Backoff.exponential(initial=0.5, multiplier=2, maximum=3, jitter="none")
    assert list(itertools.islice(backoff.delays(), 5)) == [0.5, 1.0, 2.0, 3.0, 3.0]
    lin = Backoff.linear(initial=1, step=2, maximum=6)
    assert list(itertools.islice(lin.delays(), 5)) == [1, 3, 5, 6, 6]
    assert list(itertools.islice(Backoff.constant(2).delays(), 3)) == [2, 2, 2]


def test_minimum_is_a_floor_and_equal_jitter_keeps_half() -> None:
    """Equal jitter draws from [d/2, d]; minimum floors every delay."""
    equal = Backoff.exponential(initial=4, maximum=4, jitter="equal")
    assert all(2 <= d <= 4 for d in itertools.islice(equal.delays(), 500))
    floored = Backoff.exponential(initial=1, maximum=10, minimum=0.5, jitter="full")
    assert all(d >= 0.5 for d in itertools.islice(floored.delays(), 500))


def test_decorrelated_grows_from_the_previous_delay() -> None:
    """Decorrelated jitter stays within [initial, multiplier * previous]."""
    backoff = Backoff.exponential(initial=1, maximum=1000, jitter="decorrelated")
    assert backoff.multiplier == 3.0
    previous = 1.0
    for delay in itertools.islice(backoff.delays(random.Random(5)), 200):
        assert 1 <= delay <= min(1000, 3 * previous)
        previous = delay
    assert 1 <= backoff.delay(1) <= 3
    assert 1 <= backoff.delay(9, previous=2) <= 6


def test_delays_returns_a_fresh_independent_iterator_each_call() -> None:
    """Two iterators from one schedule do not share state."""
    backoff = Backoff.exponential(initial=1, multiplier=2, maximum=100, jitter="none")
    first = backoff.delays()
    assert [next(first), next(first)] == [1, 2]
    second = backoff.delays()
    assert next(second) == 1
    assert next(first) == 4


def test_seeded_rng_is_reproducible() -> None:
    """The same seed gives the same jittered sequence."""
    backoff = Backoff.exponential()
    a = list(itertools.islice(backoff.delays(random.Random(11)), 10))
    b = list(itertools.islice(backoff.delays(random.Random(11)), 10))
    assert a == b


def test_timedelta_durations() -> None:
    """Durations may be timedeltas."""
    backoff = Backoff.exponential(
        initial=dt.timedelta(milliseconds=100), maximum=dt.timedelta(seconds=2)
    )
    assert (backoff.initial, backoff.maximum) == (0.1, 2.0)


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (Backoff.exponential, {"initial": -1}),
        (Backoff.exponential, {"initial": 10, "maximum": 1}),
        (Backoff.exponential, {"multiplier": 0.5}),
        (Backoff.exponential, {"multiplier": float("inf")}),
        (Backoff.exponential, {"maximum": float("inf")}),
        (Backoff.exponential, {"maximum": float("nan")}),
        (Backoff.exponential, {"minimum": 100}),
        (Backoff.exponential, {"jitter": "random"}),
        (Backoff.exponential, {"initial": 0, "jitter": "decorrelated"}),
        (Backoff.linear, {"step": -1}),
        (Backoff.linear, {"jitter": "decorrelated"}),
        (Backoff.constant, {"jitter": "bogus"}),
    ],
)
def test_invalid_parameters_raise_value_error(
    factory: object, kwargs: dict[str, object]
) -> None:
    """Negative values, maximum < initial and unknown modes fail at construction."""
    with pytest.raises(ValueError):
        factory(**kwargs)  # type: ignore[operator]


def test_wrong_types_raise_type_error() -> None:
    """A string duration is a TypeError, not a silent default."""
    with pytest.raises(TypeError):
        Backoff.constant("1s")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Backoff.exponential(initial=True)


def test_base_rejects_attempt_zero() -> None:
    """Attempt numbers start at 1."""
    with pytest.raises(ValueError, match="start at 1"):
        Backoff.constant(1).base(0)


def test_backoff_is_frozen_and_hashable() -> None:
    """Schedules are immutable values."""
    backoff = Backoff.exponential()
    with pytest.raises(AttributeError):
        backoff.initial = 2  # type: ignore[misc]
    assert hash(backoff) == hash(Backoff.exponential())
