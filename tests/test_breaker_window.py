"""Tests for the circuit breaker's sliding windows: CountWindow and TimeWindow."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brace._breaker_window import FAILURE, SLOW, SUCCESS, CountWindow, TimeWindow

codes = st.sampled_from([SUCCESS, FAILURE, SLOW, FAILURE | SLOW])


def totals(recorder: Any) -> tuple[int, int, int]:
    return recorder.calls, recorder.failures, recorder.slow


# -- construction ----------------------------------------------------------------


class TestConstruction:
    """Bad window sizes are refused with a message that names the option."""

    @pytest.mark.parametrize("size", [0, -1, True, 1.5, "3", None])
    def test_count_window_rejects_bad_sizes(self, size: Any) -> None:
        """A count window needs an int >= 1."""
        with pytest.raises(ValueError, match="CountWindow size"):
            CountWindow(size)

    @pytest.mark.parametrize("seconds", [0, -1.0, math.nan, math.inf])
    def test_time_window_rejects_bad_spans(self, seconds: float) -> None:
        """A time window spans a finite, positive duration."""
        with pytest.raises(ValueError, match="TimeWindow seconds"):
            TimeWindow(seconds)

    def test_time_window_rejects_non_durations(self) -> None:
        """A span that is not a number or a timedelta is a TypeError."""
        with pytest.raises(TypeError, match="TimeWindow seconds"):
            TimeWindow("30")  # type: ignore[arg-type]

    @pytest.mark.parametrize("buckets", [0, -3, 2.5, False])
    def test_time_window_rejects_bad_bucket_counts(self, buckets: Any) -> None:
        """Buckets are an int >= 1."""
        with pytest.raises(ValueError, match="TimeWindow buckets"):
            TimeWindow(10, buckets=buckets)

    def test_values_and_timedelta(self) -> None:
        """Windows are frozen values; timedeltas convert to float seconds."""
        window = TimeWindow(dt.timedelta(seconds=30))
        assert window == TimeWindow(30.0, buckets=10)
        assert window.seconds == 30.0
        assert repr(CountWindow(5)) == "CountWindow(size=5)"
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            window.buckets = 3  # type: ignore[misc]


# -- count window -----------------------------------------------------------------


class TestCountWindow:
    """The ring keeps the last n outcomes and running totals."""

    def test_ring_evicts_the_oldest(self) -> None:
        """Recording into a full ring subtracts the outcome it overwrites."""
        rec = CountWindow(3)._recorder()
        for code in (FAILURE, SLOW, SUCCESS):
            rec.record(code, 0.0)
        assert totals(rec) == (3, 1, 1)
        rec.record(SUCCESS, 0.0)  # evicts FAILURE
        assert totals(rec) == (3, 0, 1)
        rec.record(FAILURE | SLOW, 0.0)  # evicts SLOW
        assert totals(rec) == (3, 1, 1)

    def test_time_never_ages_it(self) -> None:
        """A count window holds its outcomes however much time passes."""
        rec = CountWindow(2)._recorder()
        rec.record(FAILURE, 0.0)
        rec.advance(1e9)
        assert totals(rec) == (1, 1, 0)

    def test_clear(self) -> None:
        """clear() forgets everything."""
        rec = CountWindow(2)._recorder()
        rec.record(FAILURE, 0.0)
        rec.clear()
        assert totals(rec) == (0, 0, 0)
        rec.record(SUCCESS, 0.0)
        rec.record(SUCCESS, 0.0)
        rec.record(SUCCESS, 0.0)
        assert totals(rec) == (2, 0, 0)

    @settings(max_examples=60, deadline=None)
    @given(size=st.integers(1, 8), seq=st.lists(codes, max_size=40))
    def test_matches_a_deque(self, size: int, seq: list[int]) -> None:
        """The O(1) totals equal a recount of the last *size* outcomes."""
        rec = CountWindow(size)._recorder()
        model: deque[int] = deque(maxlen=size)
        for code in seq:
            rec.record(code, 0.0)
            model.append(code)
            assert totals(rec) == (
                len(model),
                sum(1 for c in model if c & FAILURE),
                sum(1 for c in model if c & SLOW),
            )

    @settings(max_examples=40, deadline=None)
    @given(size=st.integers(1, 6), seq=st.lists(codes, max_size=20))
    def test_dump_and_load_round_trip(self, size: int, seq: list[int]) -> None:
        """A dumped ring, through JSON, loads into the same totals and order."""
        rec = CountWindow(size)._recorder()
        for code in seq:
            rec.record(code, 0.0)
        data = json.loads(json.dumps(rec.dump(0.0)))
        assert data["codes"] == seq[-size:]
        copy = CountWindow(size)._recorder()
        assert copy.load(data, 5.0)
        assert totals(copy) == totals(rec)
        # Both evict the same outcome next.
        rec.record(SUCCESS, 0.0)
        copy.record(SUCCESS, 0.0)
        assert totals(copy) == totals(rec)

    def test_load_into_another_size_keeps_the_newest(self) -> None:
        """A snapshot of a bigger ring carries its newest outcomes over."""
        big = CountWindow(4)._recorder()
        for code in (FAILURE, FAILURE, SUCCESS, SLOW):
            big.record(code, 0.0)
        small = CountWindow(2)._recorder()
        assert small.load(big.dump(0.0), 0.0)
        assert totals(small) == (2, 0, 1)

    def test_load_of_a_time_window_leaves_it_empty(self) -> None:
        """A time window's data does not fit a count window."""
        rec = CountWindow(2)._recorder()
        rec.record(FAILURE, 0.0)
        assert not rec.load(TimeWindow(1)._recorder().dump(0.0), 0.0)
        assert totals(rec) == (0, 0, 0)

    @pytest.mark.parametrize("bad", [None, [4], [True], ["1"], -1])
    def test_load_rejects_bad_codes(self, bad: Any) -> None:
        """Malformed outcome codes raise ValueError and change nothing."""
        rec = CountWindow(2)._recorder()
        rec.record(FAILURE, 0.0)
        with pytest.raises(ValueError, match="outcome codes"):
            rec.load({"kind": "count", "codes": bad}, 0.0)
        assert totals(rec) == (1, 1, 0)


# -- time window -------------------------------------------------------------------


class TestTimeWindow:
    """Buckets of seconds/buckets each, dropped whole as time moves on."""

    def test_a_call_leaves_after_at_most_the_span(self) -> None:
        """10 s in 10 buckets: a call made at the start of a bucket stays 10 s."""
        rec = TimeWindow(10, buckets=10)._recorder()
        rec.record(FAILURE, 100.0)  # the first reading fixes the bucket edges
        rec.advance(109.999)
        assert totals(rec) == (1, 1, 0)
        rec.advance(110.0)
        assert totals(rec) == (0, 0, 0)

    def test_a_call_late_in_its_bucket_leaves_earlier(self) -> None:
        """A call made late in a bucket leaves with that bucket: after 9 to 10 s."""
        rec = TimeWindow(10, buckets=10)._recorder()
        rec.advance(0.0)
        rec.record(SLOW, 0.9)
        rec.advance(9.99)
        assert totals(rec) == (1, 0, 1)
        rec.advance(10.0)
        assert totals(rec) == (0, 0, 0)

    def test_a_long_gap_empties_it(self) -> None:
        """Time past the whole span drops every bucket at once."""
        rec = TimeWindow(2, buckets=4)._recorder()
        for t in (0.0, 0.5, 1.0, 1.5):
            rec.record(FAILURE, t)
        assert totals(rec) == (4, 4, 0)
        rec.record(SUCCESS, 1000.0)
        assert totals(rec) == (1, 0, 0)

    def test_earlier_times_land_in_the_newest_bucket(self) -> None:
        """A reading before the newest bucket (another clock) evicts nothing."""
        rec = TimeWindow(2, buckets=2)._recorder()
        rec.record(FAILURE, 10.0)
        rec.record(FAILURE, 3.0)
        assert totals(rec) == (2, 2, 0)

    @settings(max_examples=60, deadline=None)
    @given(
        buckets=st.integers(1, 5),
        steps=st.lists(st.tuples(st.integers(0, 6), codes), max_size=40),
    )
    def test_matches_a_recount(
        self, buckets: int, steps: list[tuple[int, int]]
    ) -> None:
        """Running totals equal a recount of the outcomes in the live buckets."""
        rec = TimeWindow(buckets * 1.0, buckets=buckets)._recorder()  # 1 s buckets
        t = 0.0
        rec.advance(t)
        made: list[tuple[float, int]] = []
        for gap, code in steps:
            t += gap * 0.25
            rec.record(code, t)
            made.append((t, code))
            head = math.floor(t)
            live = [c for when, c in made if math.floor(when) > head - buckets]
            assert totals(rec) == (
                len(live),
                sum(1 for c in live if c & FAILURE),
                sum(1 for c in live if c & SLOW),
            )

    @settings(max_examples=40, deadline=None)
    @given(
        steps=st.lists(st.tuples(st.integers(0, 4), codes), max_size=20),
        later=st.lists(st.integers(0, 4), max_size=8),
        offset=st.sampled_from([0.0, 1000.0, -50.0]),
    )
    def test_dump_and_load_round_trip(
        self, steps: list[tuple[int, int]], later: list[int], offset: float
    ) -> None:
        """A restored window, on another clock, ages exactly like the original."""
        window = TimeWindow(4, buckets=4)
        rec = window._recorder()
        t = 0.0
        rec.advance(t)
        for gap, code in steps:
            t += gap * 0.5
            rec.record(code, t)
        data = json.loads(json.dumps(rec.dump(t)))
        copy = window._recorder()
        assert copy.load(data, t + offset)
        assert totals(copy) == totals(rec)
        for gap in later:
            t += gap * 0.5
            rec.advance(t)
            copy.advance(t + offset)
            assert totals(copy) == totals(rec)

    def test_load_of_another_shape_leaves_it_empty(self) -> None:
        """Buckets of another width are not re-sliced: the window starts empty."""
        rec = TimeWindow(10, buckets=5)._recorder()
        rec.record(FAILURE, 0.0)
        other = TimeWindow(10, buckets=10)._recorder()
        other.record(FAILURE, 0.0)
        assert not rec.load(other.dump(0.0), 0.0)
        assert totals(rec) == (0, 0, 0)
        assert not rec.load(CountWindow(3)._recorder().dump(0.0), 0.0)

    @pytest.mark.parametrize(
        "data",
        [
            {"kind": "time", "buckets": None, "head_age": 0.0},
            {"kind": "time", "buckets": [], "head_age": -1.0},
            {"kind": "time", "buckets": [], "head_age": True},
            {"kind": "time", "buckets": [[1, 2, 0]], "head_age": 0.0},
            {"kind": "time", "buckets": [[1, 0]], "head_age": 0.0},
            {"kind": "time", "buckets": [[1, 0, 2]], "head_age": 0.0},
        ],
    )
    def test_load_rejects_malformed_data(self, data: dict[str, object]) -> None:
        """Malformed buckets raise ValueError and change nothing."""
        rec = TimeWindow(1, buckets=1)._recorder()
        rec.record(FAILURE, 0.0)
        with pytest.raises(ValueError, match="time window"):
            rec.load(data, 0.0)
        assert totals(rec) == (1, 1, 0)

    def test_dump_before_any_reading(self) -> None:
        """A window that never read the clock dumps empty buckets."""
        data = TimeWindow(3, buckets=3)._recorder().dump(7.0)
        assert data == {
            "kind": "time",
            "seconds": 3.0,
            "buckets": [[0, 0, 0]] * 3,
            "head_age": 0.0,
        }
