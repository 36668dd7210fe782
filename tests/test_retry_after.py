"""parse_retry_after: delay-seconds and HTTP-dates."""

from __future__ import annotations

import datetime as dt

import pytest

from brace import parse_retry_after

NOW = dt.datetime(2015, 10, 21, 7, 28, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        (b"30", 30.0),
        (7, 7.0),
        (2.5, 2.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:29:00 -0000", 60.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("inf", None),
        (float("nan"), None),
    ],
)
def test_parse(value: str | bytes | float | None, expected: float | None) -> None:
    """Seconds, HTTP-dates (past ones give 0) and junk (None)."""
    assert parse_retry_after(value, now=NOW) == expected


def test_naive_now_is_taken_as_utc() -> None:
    """A naive *now* is read as UTC, like HTTP-dates."""
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=naive) == 10.0


def test_default_now_is_the_wall_clock() -> None:
    """Without *now*, a date far in the future gives a large positive delay."""
    delay = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT")
    assert delay is not None
    assert delay > 10**8
