"""brace.instrument.structlog: key-value events captured from real structlog."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import structlog
from structlog.testing import CapturingLogger, capture_logs

import brace
from _instrument_support import event_classes, sample
from brace import _events
from brace.instrument import _names
from brace.instrument import structlog as bstruct
from brace.instrument._structlog import _method

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts from structlog's default configuration, and restores it."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


async def _fail(state: list[int]) -> int:
    state[0] += 1
    raise ValueError(f"password=hunter{state[0]}")


class TestEvents:
    """Events become structlog events named after them, with their fields."""

    async def test_retry_events(self) -> None:
        """A retried call logs retry_scheduled at debug and retry_gave_up at warning."""
        policy = brace.Retry(
            on=ValueError, attempts=2, backoff=brace.Backoff.constant(0.5), name="fetch"
        )
        with (
            capture_logs() as logs,
            bstruct.install(),
            pytest.raises(ValueError, match="hunter2"),
        ):
            await policy.call(_fail, [0])
        assert logs == [
            {
                "event": "brace.retry_scheduled",
                "policy": "fetch",
                "attempt": 1,
                "delay": 0.5,
                "exception_type": "ValueError",
                "log_level": "debug",
            },
            {
                "event": "brace.retry_gave_up",
                "policy": "fetch",
                "attempts": 2,
                "elapsed": 0.5,
                "reason": "attempts",
                "exception_type": "ValueError",
                "log_level": "warning",
            },
        ]
        assert "hunter" not in repr(logs)

    @pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.__name__)
    def test_every_event_class(self, cls: type[_events.Event]) -> None:
        """Each event class is logged under its id and role, never as `name`."""
        with capture_logs() as logs, bstruct.install():
            _events.emit(sample(cls))
        (entry,) = logs
        assert entry["event"] == "brace." + _names.event_id(cls)
        assert entry[_names.SPECS[cls].role] == "sample"
        assert "name" not in entry
        assert "secret message" not in repr(entry)

    def test_breaker_levels(self) -> None:
        """A breaker opening is an error, closing is info."""
        changed = _events.CircuitStateChanged
        with capture_logs() as logs, bstruct.install():
            _events.emit(changed(name="b", old="closed", new="open", reason="r"))
            _events.emit(changed(name="b", old="half_open", new="closed", reason="r"))
        assert [(e["log_level"], e["new"]) for e in logs] == [
            ("error", "open"),
            ("info", "closed"),
        ]

    def test_exc_info_and_values(self) -> None:
        """exc_info=True passes the exception; values=True adds the user's values."""
        error = ValueError("secret")
        with capture_logs() as logs, bstruct.install(exc_info=True, values=True):
            _events.emit(
                brace.RetryScheduled(name="f", attempt=1, delay=0, error=error)
            )
            _events.emit(brace.RetryScheduled(name="f", attempt=1, delay=0, result=7))
            _events.emit(brace.QueueItemDropped(name="q", item="x", overflow="o"))
        assert logs[0]["exc_info"] is error
        assert "exc_info" not in logs[1]
        assert logs[1]["result"] == "7"
        assert logs[2]["item"] == "'x'"

    def test_level_overrides(self) -> None:
        """levels= changes an event's level or leaves it out."""
        levels: dict[type[_events.Event], int | str | None] = {
            brace.LimiterWaited: "WARNING",
            brace.TimeoutFired: None,
        }
        with capture_logs() as logs, bstruct.install(levels=levels):
            _events.emit(brace.LimiterWaited(name="l", waited=1.0))
            _events.emit(brace.TimeoutFired(name="t", timeout=1.0))
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("brace.limiter_waited", "warning")
        ]
        with pytest.raises(TypeError, match="event classes"):
            bstruct.install(levels={int: 10})  # type: ignore[dict-item]

    @pytest.mark.parametrize(
        ("level", "method"),
        [
            (5, "debug"),
            (logging.DEBUG, "debug"),
            (15, "debug"),
            (logging.INFO, "info"),
            (25, "info"),
            (logging.WARNING, "warning"),
            (logging.ERROR, "error"),
            (45, "error"),
            (logging.CRITICAL, "critical"),
            (60, "critical"),
        ],
    )
    def test_custom_levels_map_to_methods(self, level: int, method: str) -> None:
        """A numeric level maps to the standard method at or below it."""
        assert _method(level) == method

    async def test_cancelled_while_waiting(self) -> None:
        """Cancelled in its backoff: the retry was logged, the cancellation passes."""
        policy = brace.Retry(
            on=ValueError, attempts=3, backoff=brace.Backoff.constant(10), name="f"
        )
        with capture_logs() as logs, bstruct.install():
            with anyio.move_on_after(1) as scope:
                await policy.call(_fail, [0])
        assert scope.cancelled_caught
        assert [e["event"] for e in logs] == ["brace.retry_scheduled"]


class TestLoggers:
    """Filtering loggers skip disabled levels early; other loggers work too."""

    def test_filtering_logger_skips_disabled_levels(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Below the logger's level, no fields are built and nothing is logged."""
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
        )
        built: list[object] = []
        real = _names.fields

        def fields(*args: Any, **kwargs: Any) -> list[tuple[str, object]]:
            built.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr("brace.instrument._structlog.fields", fields)
        with capture_logs() as logs, bstruct.install():
            _events.emit(brace.LimiterWaited(name="l", waited=1.0))  # debug
            _events.emit(brace.TimeoutFired(name="t", timeout=1.0))  # warning
        assert [e["event"] for e in logs] == ["brace.timeout_fired"]
        assert len(built) == 1

    def test_cached_logger(self) -> None:
        """A proxy cached on first use (the recommended config) works as well."""
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            cache_logger_on_first_use=True,
        )
        with capture_logs() as logs, bstruct.install():
            _events.emit(brace.LimiterWaited(name="l", waited=1.0))
            _events.emit(brace.TokenCancelled(name="t", reason="bye"))
            _events.emit(brace.TokenCancelled(name="t", reason="again"))
        assert [e["reason"] for e in logs] == ["bye", "again"]

    def test_logger_without_is_enabled_for(self) -> None:
        """A generic BoundLogger (no is_enabled_for) gets every event, as a call."""
        capturing = CapturingLogger()
        logger = structlog.wrap_logger(
            capturing,
            wrapper_class=structlog.BoundLogger,
            processors=[structlog.processors.KeyValueRenderer(sort_keys=True)],
        )
        with bstruct.install(logger):
            _events.emit(brace.LimiterWaited(name="l", waited=1.0))
        (call,) = capturing.calls
        assert call.method_name == "debug"
        assert call.args == ("event='brace.limiter_waited' limiter='l' waited=1.0",)

    def test_stdlib_logger(self, caplog: pytest.LogCaptureFixture) -> None:
        """structlog's stdlib BoundLogger: its level check applies, records go out."""
        std = logging.getLogger("test.instrument.structlog")
        logger = structlog.wrap_logger(
            std,
            wrapper_class=structlog.stdlib.BoundLogger,
            processors=[structlog.stdlib.render_to_log_kwargs],
        )
        with caplog.at_level(logging.INFO, logger=std.name), bstruct.install(logger):
            _events.emit(brace.LimiterWaited(name="l", waited=1.0))  # debug: skipped
            _events.emit(brace.TimeoutFired(name="t", timeout=2.0))
        (record,) = caplog.records
        assert record.getMessage() == "brace.timeout_fired"
        assert vars(record)["policy"] == "t"
        assert vars(record)["timeout"] == 2.0
