"""Events: typed, frozen, delivered synchronously, cheap when unused."""

from __future__ import annotations

import attrs
import pytest

import brace
from brace import _events


def test_events_are_frozen() -> None:
    """Event objects cannot be changed by a listener."""
    event = brace.RetryScheduled(name="f", attempt=1, delay=0.5, error=KeyError())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.delay = 2  # type: ignore[misc]
    assert event.exception_type == "KeyError"
    assert brace.RetryScheduled(name="f", attempt=1, delay=0).exception_type is None
    gave_up = brace.RetryGaveUp(name="f", attempts=2, elapsed=1.0, reason="attempts")
    assert gave_up.exception_type is None


def test_subscribe_filters_by_kind_and_unsubscribes() -> None:
    """A subscription gets only its kinds, until it is removed."""
    got: list[brace.Event] = []
    sub = brace.subscribe(got.append, brace.TimeoutFired, brace.TokenCancelled)
    assert sub.active
    _events.emit(brace.TimeoutFired(name="t", timeout=1.0))
    _events.emit(brace.RetryScheduled(name="r", attempt=1, delay=0))
    _events.emit(brace.TokenCancelled(name="k", reason=None))
    sub.unsubscribe()
    sub.unsubscribe()
    assert not sub.active
    _events.emit(brace.TimeoutFired(name="t2", timeout=1.0))
    assert [e.name for e in got] == ["t", "k"]


def test_subscribe_all_kinds_and_order() -> None:
    """Without kinds every event arrives; local listeners run before global."""
    order: list[str] = []
    with brace.subscribe(lambda e: order.append("global")):
        _events.emit(
            brace.TimeoutFired(name="t", timeout=1), [lambda e: order.append("local")]
        )
    assert order == ["local", "global"]


def test_subscribe_rejects_non_event_kinds() -> None:
    """Passing something that is not an event class is a TypeError."""
    with pytest.raises(TypeError):
        brace.subscribe(print, int)  # type: ignore[arg-type]


def test_enabled_is_false_without_listeners() -> None:
    """With nobody listening the emitting sites skip building events."""
    assert not _events.enabled()
    assert _events.enabled((print,))
    with brace.subscribe(print):
        assert _events.enabled()


def test_listener_exceptions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A failing listener is logged and the next listener still runs."""
    got: list[brace.Event] = []

    def bad(event: brace.Event) -> None:
        raise ValueError("bad listener")

    with brace.subscribe(bad), brace.subscribe(got.append):
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
    assert len(got) == 1
    assert "bad listener" in caplog.text
