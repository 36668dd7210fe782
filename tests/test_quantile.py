"""Tests for the latency window behind Hedge(delay="pNN"): parsing, exact
nearest-rank quantiles, eviction, against a sorted-list reference."""

from __future__ import annotations

import math
import threading
import time
from fractions import Fraction
from typing import Any, SupportsIndex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brace._quantile import LatencyWindow, parse_percentile


def _reference(samples: list[float], size: int, q: Fraction) -> float:
    """The nearest-rank q-quantile of the last *size* samples, by sorting."""
    recent = sorted(samples[-size:])
    rank = math.ceil(q * len(recent))
    return recent[rank - 1]


class TestParsePercentile:
    """Percentile strings become exact fractions, or a clear ValueError."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("p50", Fraction(1, 2)),
            ("p90", Fraction(9, 10)),
            ("p95", Fraction(19, 20)),
            ("p97.5", Fraction(39, 40)),
            ("p99", Fraction(99, 100)),
            ("p99.9", Fraction(999, 1000)),
        ],
    )
    def test_accepts_p50_to_p99_9(self, text: str, expected: Fraction) -> None:
        """Every percentile from p50 to p99.9 parses to its exact fraction."""
        assert parse_percentile(text) == expected

    @pytest.mark.parametrize(
        "text",
        ["p49", "p49.99", "p99.95", "p100", "p0", "95", "P95", "p", "p95%", "p 95", ""],
    )
    def test_rejects_others(self, text: str) -> None:
        """Anything else raises ValueError that shows the accepted form."""
        with pytest.raises(ValueError, match=r"'p95' or 'p99\.9'"):
            parse_percentile(text)


class TestLatencyWindow:
    """The window keeps the last samples and reports their exact quantile."""

    def test_none_until_min_samples(self) -> None:
        """value() is None until min_samples samples have been added."""
        window = LatencyWindow(10, Fraction(1, 2), 3)
        window.add(1.0)
        window.add(2.0)
        assert window.value() is None
        window.add(3.0)
        assert window.value() == 2.0

    def test_nearest_rank(self) -> None:
        """p95 of 1..100 is 95, and p50 of four samples is the second."""
        window = LatencyWindow(100, Fraction(95, 100), 1)
        for i in range(100, 0, -1):
            window.add(float(i))
        assert window.value() == 95.0
        half = LatencyWindow(4, Fraction(1, 2), 1)
        for sample in (4.0, 1.0, 3.0, 2.0):
            half.add(sample)
        assert half.value() == 2.0

    def test_forgets_the_oldest(self) -> None:
        """A full window drops its oldest sample for each new one."""
        window = LatencyWindow(3, Fraction(999, 1000), 1)
        for sample in (9.0, 1.0, 2.0, 3.0):
            window.add(sample)
        assert window.samples() == [1.0, 2.0, 3.0]
        assert len(window) == 3
        assert window.value() == 3.0  # the 9.0 is gone
        window.add(0.5)
        assert window.samples() == [2.0, 3.0, 0.5]

    def test_duplicates(self) -> None:
        """Equal samples are stored and evicted one at a time."""
        window = LatencyWindow(2, Fraction(1, 2), 1)
        for sample in (1.0, 1.0, 2.0):
            window.add(sample)
        assert window.samples() == [1.0, 2.0]
        assert window.value() == 1.0

    @settings(max_examples=100, deadline=None)
    @given(
        samples=st.lists(
            st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=80
        ),
        size=st.integers(min_value=1, max_value=40),
        percent=st.sampled_from(["p50", "p75", "p90", "p95", "p99", "p99.9", "p97.5"]),
    )
    def test_matches_sorted_reference(
        self, samples: list[float], size: int, percent: str
    ) -> None:
        """After any sequence of adds, value() equals sorting the last samples."""
        q = parse_percentile(percent)
        window = LatencyWindow(size, q, 1)
        for i, sample in enumerate(samples):
            window.add(sample)
            assert window.value() == _reference(samples[: i + 1], size, q)
            assert window.samples() == samples[max(0, i + 1 - size) : i + 1]
        if not samples:
            assert window.value() is None


class _SlowList(list[float]):
    """A list that gives other threads a chance to run in mid-update."""

    def __delitem__(self, index: Any) -> None:
        time.sleep(0.0001)
        super().__delitem__(index)

    def insert(self, index: SupportsIndex, value: float) -> None:
        time.sleep(0.0001)
        super().insert(index, value)


def test_threads_sharing_a_window() -> None:
    """Adds and reads from several threads keep the two lists consistent."""
    window = LatencyWindow(20, Fraction(9, 10), 1)
    window._sorted = _SlowList()
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(100):
                window.add(float((i * 7 + offset) % 101))
                window.value()
        except BaseException as exc:  # pragma: no cover - the failure report
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(window._sorted) == sorted(window.samples())
    assert len(window) == 20
