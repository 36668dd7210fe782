"""brace.instrument: the package, the default levels, and the logging adapter."""

from __future__ import annotations

import importlib
import logging
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import brace
import brace.instrument
from _instrument_support import ListHandler, event_classes, sample
from brace import _events
from brace._limiter import ConcurrencyLimiter
from brace._queue import BoundedQueue
from brace.instrument import _names, _severity, default_level
from brace.instrument import logging as blog

pytestmark = pytest.mark.anyio

DEBUG, INFO, WARNING, ERROR = (
    logging.DEBUG,
    logging.INFO,
    logging.WARNING,
    logging.ERROR,
)
GaveUp, Dropped = brace.RetryGaveUp, brace.QueueItemDropped
Changed, StepFailed, Saga = (
    _events.CircuitStateChanged,
    _events.StepFailed,
    _events.SagaFinished,
)
ZERO = brace.Backoff.constant(0)


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, ListHandler]]:
    """A private logger at DEBUG with a handler that keeps its records."""
    log = logging.getLogger(f"test.instrument.{uuid.uuid4().hex}")
    handler = ListHandler()
    log.addHandler(handler)
    log.setLevel(DEBUG)
    log.propagate = False
    yield log, handler
    log.removeHandler(handler)


def _flaky(failures: int, message: str = "secret message") -> Any:
    """An async function that fails *failures* times with ValueError."""
    state = [0]

    async def flaky() -> int:
        state[0] += 1
        if state[0] <= failures:
            raise ValueError(message)
        return state[0]

    return flaky


# -- the package -------------------------------------------------------------


class TestPackage:
    """brace.instrument imports its adapters lazily, and says what is missing."""

    def test_all_is_sorted_and_resolves(self) -> None:
        """__all__ is sorted and every name in it is reachable."""
        names = brace.instrument.__all__
        assert names == sorted(names)
        for name in names:
            assert getattr(brace.instrument, name) is not None
        assert set(names) <= set(dir(brace.instrument))

    def test_adapters_are_submodules(self) -> None:
        """brace.instrument.<adapter> is a submodule, reached by attribute or import."""
        import brace.instrument.prometheus
        from brace.instrument import _opentelemetry, _prometheus, _structlog

        assert brace.instrument.logging.install is blog.install
        assert brace.instrument.prometheus.install is _prometheus.install
        assert brace.instrument.structlog.install is _structlog.install
        assert brace.instrument.opentelemetry.Tracing is _opentelemetry.Tracing
        assert brace.instrument.opentelemetry.__all__ == [
            "CIRCUIT_STATE_VALUES",
            "Tracing",
            "install",
        ]

    def test_unknown_attribute(self) -> None:
        """A name that is no adapter raises AttributeError, as usual."""
        with pytest.raises(AttributeError, match="no attribute 'statsd'"):
            brace.instrument.statsd  # type: ignore[attr-defined]  # noqa: B018

    @pytest.mark.parametrize(
        ("adapter", "library", "extra"),
        [
            ("prometheus", "prometheus_client", "brace[prometheus]"),
            ("structlog", "structlog", "brace[structlog]"),
            ("opentelemetry", "opentelemetry", "brace[opentelemetry]"),
        ],
    )
    def test_missing_library_names_the_extra(
        self, monkeypatch: pytest.MonkeyPatch, adapter: str, library: str, extra: str
    ) -> None:
        """An adapter whose library is missing raises ImportError naming the extra."""
        importlib.import_module(f"brace.instrument.{adapter}")
        monkeypatch.setitem(sys.modules, library, None)
        for module in (adapter, f"_{adapter}"):
            monkeypatch.delitem(sys.modules, f"brace.instrument.{module}")
            monkeypatch.delattr(brace.instrument, module)
        with pytest.raises(ImportError, match=re.escape(extra)) as info:
            getattr(brace.instrument, adapter)
        assert info.value.name == library
        with pytest.raises(ImportError, match=re.escape(extra)):
            importlib.import_module(f"brace.instrument.{adapter}")
        # The package itself is unharmed, and the other adapters still load.
        assert brace.instrument.logging.install is blog.install

    def test_package_imports_without_optional_libraries(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A fresh import of brace.instrument needs none of the optional libraries."""
        for library in ("prometheus_client", "structlog", "opentelemetry"):
            monkeypatch.setitem(sys.modules, library, None)
        # The fresh import rebinds brace.instrument: put the original back after.
        monkeypatch.setattr(brace, "instrument", brace.instrument)
        for name in [n for n in sys.modules if n.startswith("brace.instrument")]:
            monkeypatch.delitem(sys.modules, name)
        fresh = importlib.import_module("brace.instrument")
        assert fresh.logging.install.__name__ == "install"
        assert isinstance(fresh.Installation, type)

    @pytest.mark.slow
    def test_import_brace_loads_no_optional_library(self) -> None:
        """A fresh interpreter imports brace, brace.instrument with no adapter lib."""
        code = (
            "import sys\n"
            "for lib in ('prometheus_client', 'structlog', 'opentelemetry'):\n"
            "    sys.modules[lib] = None\n"
            "import brace, brace.instrument\n"
            "brace.instrument.logging.install().close()\n"
            "try:\n"
            "    brace.instrument.prometheus\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
        )
        out = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert 'pip install "brace[prometheus]"' in out.stdout


# -- names and default levels -----------------------------------------------


class TestCatalog:
    """Every event class has a level and a spec, so none can be forgotten."""

    def test_every_event_class_has_a_default_level(self) -> None:
        """Each event class in brace._events is listed in the default levels."""
        missing = [c.__name__ for c in event_classes() if c not in _severity._DEFAULTS]
        assert not missing, f"add these events to instrument/_severity.py: {missing}"

    def test_every_event_class_has_a_spec(self) -> None:
        """Each event class in brace._events has a role and its label fields."""
        missing = [c.__name__ for c in event_classes() if c not in _names.SPECS]
        assert not missing, f"add these events to instrument/_names.py: {missing}"

    @pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.__name__)
    def test_spec_labels_are_fields(self, cls: type[_events.Event]) -> None:
        """The label fields of each spec exist on the event class."""
        import attrs

        names = {field.name for field in attrs.fields(cls)}
        assert set(_names.SPECS[cls].labels) <= names
        assert default_level(sample(cls)) in {DEBUG, INFO, WARNING, ERROR}

    def test_event_ids(self) -> None:
        """Event ids are the snake_case class names."""
        assert _names.event_id(brace.RetryScheduled) == "retry_scheduled"
        assert _names.event_id(brace.RateLimitWaited) == "rate_limit_waited"
        assert _names.event_id(_events.CircuitStateChanged) == "circuit_state_changed"

    @pytest.mark.parametrize(
        ("event", "level"),
        [
            (brace.RetryScheduled(name="f", attempt=1, delay=0.0), DEBUG),
            (GaveUp(name="f", attempts=3, elapsed=1, reason="attempts"), WARNING),
            (GaveUp(name="f", attempts=1, elapsed=1, reason="cancelled"), INFO),
            (brace.TimeoutFired(name="f", timeout=1.0), WARNING),
            (brace.TokenCancelled(name="t", reason="bye"), INFO),
            (
                brace.LimiterRejected(
                    name="l", reason="no_slot", max_concurrent=1, waiting=0
                ),
                WARNING,
            ),
            (brace.LimiterWaited(name="l", waited=0.5), DEBUG),
            (Dropped(name="q", item=1, overflow="drop_oldest"), WARNING),
            (brace.RateLimitWaited(name="r", cost=1, waited=0.5), DEBUG),
            (Changed(name="b", old="closed", new="open", reason="r"), ERROR),
            (Changed(name="b", old="open", new="half_open", reason="r"), WARNING),
            (Changed(name="b", old="half_open", new="closed", reason="r"), INFO),
            (Changed(name="b", old="closed", new="isolated", reason="r"), WARNING),
            (_events.CircuitRejected(name="b", state="open", retry_after=1), DEBUG),
            (StepFailed(name="s", error=ValueError(), elapsed=1.0), WARNING),
            (StepFailed(name="s", error=KeyError(), elapsed=1, cancelled=True), INFO),
            (Saga(name="g", status="completed", elapsed=1.0), INFO),
            (Saga(name="g", status="compensated", elapsed=1.0), WARNING),
            (Saga(name="g", status="compensation_failed", elapsed=1.0), ERROR),
        ],
        ids=lambda v: v if isinstance(v, int) else type(v).__name__,
    )
    def test_default_levels(self, event: _events.Event, level: int) -> None:
        """Hot paths at DEBUG, rejections at WARNING, a breaker opening at ERROR."""
        assert default_level(event) == level

    def test_unknown_event_class_defaults_to_info(self) -> None:
        """An event class missing from the table (a user subclass of Event) is INFO."""
        import attrs

        @attrs.frozen(kw_only=True)
        class Custom(_events.Event):
            pass

        @attrs.frozen(kw_only=True)
        class Waited(brace.LimiterWaited):
            pass

        assert default_level(Custom(name="c")) == INFO
        assert default_level(Waited(name="w", waited=1.0)) == DEBUG
        assert _names.spec(Custom) == _names.Spec("source")
        assert _names.spec(Waited).role == "limiter"

    def test_fields_hide_messages_and_payloads(self) -> None:
        """fields() shows exception types, not messages, and payloads only if asked."""
        event = brace.RetryScheduled(
            name="f", attempt=2, delay=0.5, error=ValueError("secret")
        )
        assert _names.fields(event) == [
            ("attempt", 2),
            ("delay", 0.5),
            ("exception_type", "ValueError"),
        ]
        rejected = brace.RetryScheduled(name="f", attempt=1, delay=0.0, result=503)
        assert _names.fields(rejected) == [("attempt", 1), ("delay", 0.0)]
        assert _names.fields(rejected, values=True)[-1] == ("result", "503")
        big = brace.QueueItemDropped(name="q", item="x" * 1000, overflow="drop_newest")
        shown = dict(_names.fields(big, values=True))["item"]
        assert isinstance(shown, str)
        assert len(shown) < 250

    def test_fields_flatten_odd_values(self) -> None:
        """Enum members become plain str, other objects a short repr."""
        import enum

        class State(enum.StrEnum):
            OPEN = "open"

        class Flag(enum.IntEnum):
            ONE = 1

        changed = _events.CircuitStateChanged(
            name="b", old=State.OPEN, new="closed", reason="reset"
        )
        old = dict(_names.fields(changed))["old"]
        assert type(old) is str
        assert old == "open"
        token = brace.TokenCancelled(name="t", reason=Flag.ONE)
        assert dict(_names.fields(token))["reason"] == Flag.ONE
        token = brace.TokenCancelled(name="t", reason=("shutdown", 3))
        assert dict(_names.fields(token))["reason"] == "('shutdown', 3)"
        hedge = _events.HedgeStarted(
            name="h", attempt=2, reason="failure", delay=0.1, error=KeyError("k")
        )
        assert dict(_names.fields(hedge))["exception_type"] == "KeyError"
        odd = _events.StepFailed(name="s", error=OSError(), elapsed=1.0)
        assert dict(_names.fields(odd))["exception_type"] == "OSError"


# -- the handle ----------------------------------------------------------------


class TestInstallation:
    """install() returns a handle that closes once, also as a context manager."""

    def test_close_is_idempotent(self) -> None:
        """close() unsubscribes; a second close() does nothing."""
        handle = blog.install()
        was_active = handle.active
        assert was_active
        assert _events.subscribers
        assert repr(handle) == "<Installation of brace.instrument.logging (active)>"
        handle.close()
        handle.close()
        assert not handle.active
        assert repr(handle) == "<Installation of brace.instrument.logging (closed)>"

    def test_context_manager(self) -> None:
        """As a context manager the handle closes on exit, even on error."""
        with pytest.raises(KeyError), blog.install() as handle:
            assert handle.adapter == "logging"
            raise KeyError
        assert not handle.active

    def test_cleanup_runs_once(self) -> None:
        """The adapter's cleanup runs on the first close only."""
        calls: list[int] = []
        handle = brace.instrument.Installation(
            "x", brace.subscribe(print), cleanup=lambda: calls.append(1)
        )
        handle.close()
        handle.close()
        assert calls == [1]


# -- the logging adapter -------------------------------------------------------


class TestLogging:
    """Events become log records at their levels, with fields, cheaply when off."""

    async def test_retry_events(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """A retried call logs each retry at DEBUG and the give-up at WARNING."""
        log, handler = logger
        policy = brace.Retry(
            on=ValueError,
            attempts=2,
            backoff=brace.Backoff.constant(0.25),
            name="fetch",
        )
        with blog.install(log), pytest.raises(ValueError, match="secret"):
            await policy.call(_flaky(5))
        assert handler.messages == [
            (
                "brace.retry_scheduled policy=fetch attempt=1 delay=0.25 "
                "exception_type=ValueError"
            ),
            (
                "brace.retry_gave_up policy=fetch attempts=2 elapsed=0.25 "
                "reason=attempts exception_type=ValueError"
            ),
        ]
        assert [r.levelno for r in handler.records] == [DEBUG, WARNING]
        first = handler.records[0]
        assert vars(first)["brace.event"] == "retry_scheduled"
        assert vars(first)["brace.policy"] == "fetch"
        assert vars(first)["brace.attempt"] == 1
        assert vars(first)["brace.exception_type"] == "ValueError"
        assert first.exc_info is None
        assert first.msg == (
            "brace.retry_scheduled policy=%s attempt=%s delay=%s exception_type=%s"
        )

    async def test_no_messages_unless_exc_info(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """Exception messages stay out of records unless exc_info=True."""
        log, handler = logger
        policy = brace.Retry(on=ValueError, attempts=2, backoff=ZERO)
        with blog.install(log), pytest.raises(ValueError):
            await policy.call(_flaky(5, "password=hunter2"))
        formatter = logging.Formatter()
        assert not any("hunter2" in formatter.format(r) for r in handler.records)
        handler.records.clear()
        with blog.install(log, exc_info=True), pytest.raises(ValueError):
            await policy.call(_flaky(5, "password=hunter2"))
        assert all(r.exc_info for r in handler.records)
        assert "hunter2" in formatter.format(handler.records[0])

    def test_values_only_when_asked(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """Dropped queue items are logged only with values=True."""
        log, handler = logger
        queue: BoundedQueue[str] = BoundedQueue(1, overflow="drop_newest", name="jobs")
        with blog.install(log):
            queue.put_nowait("a")
            queue.put_nowait("card-4242")
        with blog.install(log, values=True):
            queue.put_nowait("card-4343")
        assert handler.messages == [
            "brace.queue_item_dropped queue=jobs overflow=drop_newest",
            "brace.queue_item_dropped queue=jobs item='card-4343' overflow=drop_newest",
        ]
        assert [r.levelno for r in handler.records] == [WARNING, WARNING]

    def test_level_overrides(self, logger: tuple[logging.Logger, ListHandler]) -> None:
        """levels= sets a level per class, by number or name; None leaves it out."""
        log, handler = logger
        levels: dict[type[_events.Event], int | str | None] = {
            brace.LimiterWaited: logging.INFO,
            brace.TimeoutFired: "error",
            brace.TokenCancelled: None,
        }
        with blog.install(log, levels=levels):
            _events.emit(brace.LimiterWaited(name="l", waited=0.1234567891))
            _events.emit(brace.TimeoutFired(name="t", timeout=2.0))
            _events.emit(brace.TokenCancelled(name="k", reason="bye"))
            _events.emit(
                brace.LimiterRejected(
                    name="l", reason="no_slot", max_concurrent=1, waiting=0
                )
            )
        assert [(r.levelno, r.getMessage()) for r in handler.records] == [
            (INFO, "brace.limiter_waited limiter=l waited=0.123457"),
            (ERROR, "brace.timeout_fired policy=t timeout=2.0"),
            (
                WARNING,
                (
                    "brace.limiter_rejected limiter=l reason=no_slot "
                    "max_concurrent=1 waiting=0"
                ),
            ),
        ]
        # The record keeps the exact value; only the message is rounded.
        assert vars(handler.records[0])["brace.waited"] == 0.1234567891

    @pytest.mark.parametrize(
        ("levels", "error", "match"),
        [
            ([("x", 1)], TypeError, "mapping"),
            ({int: logging.INFO}, TypeError, "event classes"),
            ({"RetryScheduled": logging.INFO}, TypeError, "event classes"),
            ({brace.RetryScheduled: "LOUD"}, ValueError, "LOUD"),
            ({brace.RetryScheduled: -1}, TypeError, "logging level"),
            ({brace.RetryScheduled: 1.5}, TypeError, "logging level"),
            ({brace.RetryScheduled: True}, TypeError, "logging level"),
        ],
    )
    def test_bad_levels(self, levels: Any, error: type[Exception], match: str) -> None:
        """Bad levels= fail at install() with a message that says what is allowed."""
        with pytest.raises(error, match=match):
            blog.install(levels=levels)

    def test_logger_argument(self, logger: tuple[logging.Logger, ListHandler]) -> None:
        """logger= takes a Logger, a name, a LoggerAdapter, or None for 'brace'."""
        log, handler = logger
        event = brace.TimeoutFired(name="t", timeout=1.0)
        with blog.install(log.name):
            _events.emit(event)
        with blog.install(logging.LoggerAdapter(log, {"tenant": "a"})):
            _events.emit(event)
        assert len(handler.records) == 2
        brace_logger = logging.getLogger("brace")
        brace_logger.addHandler(handler)
        try:
            with blog.install():
                _events.emit(event)
        finally:
            brace_logger.removeHandler(handler)
        assert handler.records[-1].name == "brace"
        with pytest.raises(TypeError, match=r"logging\.Logger"):
            blog.install(print)  # type: ignore[arg-type]

    def test_disabled_level_builds_nothing(
        self,
        logger: tuple[logging.Logger, ListHandler],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Below the logger's level, no record is made and no field is read or shown."""
        log, handler = logger
        log.setLevel(WARNING)
        shown: list[object] = []

        class Reason:
            def __repr__(self) -> str:
                shown.append(self)
                return "Reason()"

        made: list[object] = []

        def fields(*args: Any, **kwargs: Any) -> list[tuple[str, object]]:
            made.append(args)
            return []

        monkeypatch.setattr(_names, "fields", fields)
        with blog.install(log):
            for _ in range(3):
                _events.emit(brace.TokenCancelled(name="t", reason=Reason()))  # INFO
                _events.emit(brace.LimiterWaited(name="l", waited=1.0))  # DEBUG
        assert handler.records == []
        assert shown == []
        assert made == []
        log.setLevel(INFO)  # picked up at once: the level is read per event
        with blog.install(log):
            _events.emit(brace.TokenCancelled(name="t", reason=Reason()))
        assert len(handler.records) == 1

    def test_subclasses_and_new_event_classes(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """A subclass logs at its base's level; an unlisted event class at INFO."""
        import attrs

        log, handler = logger

        @attrs.frozen(kw_only=True)
        class Waited(brace.LimiterWaited):
            pass

        @attrs.frozen(kw_only=True)
        class Custom(_events.Event):
            size: int

        with blog.install(log, levels={brace.LimiterWaited: WARNING}):
            for _ in range(2):
                _events.emit(Waited(name="w", waited=1.0))
                _events.emit(Custom(name="c", size=3))
        assert [(r.levelno, r.getMessage()) for r in handler.records] == [
            (WARNING, "brace.waited limiter=w waited=1.0"),
            (INFO, "brace.custom source=c size=3"),
        ] * 2

    def test_broken_logger_never_breaks_the_call(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A logger that raises is reported on brace.events; the call goes on."""

        class Broken(logging.Logger):
            def log(self, *args: Any, **kwargs: Any) -> None:
                raise RuntimeError("disk full")

        broken = Broken("broken")
        broken.setLevel(DEBUG)
        policy = brace.Retry(on=ValueError, attempts=3, backoff=ZERO)

        async def main() -> int:
            result: int = await policy.call(_flaky(2))
            return result

        with caplog.at_level(ERROR, logger="brace.events"), blog.install(broken):
            assert anyio.run(main) == 3
        assert "disk full" in caplog.text

    async def test_cancelled_while_waiting(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """Cancelled in its backoff: the retry was logged, the cancellation passes."""
        log, handler = logger
        policy = brace.Retry(
            on=ValueError, attempts=3, backoff=brace.Backoff.constant(10), name="f"
        )
        start = anyio.current_time()
        with blog.install(log), anyio.move_on_after(4) as scope:
            await policy.call(_flaky(5))
        assert scope.cancelled_caught
        assert anyio.current_time() - start == pytest.approx(4)
        assert handler.messages == [
            (
                "brace.retry_scheduled policy=f attempt=1 delay=10.0 "
                "exception_type=ValueError"
            )
        ]

    async def test_limiter_waits_and_rejections(
        self, logger: tuple[logging.Logger, ListHandler]
    ) -> None:
        """A limiter's waits log at DEBUG with the wait, its rejections at WARNING."""
        log, handler = logger
        limiter = ConcurrencyLimiter(1, max_waiting=1, name="db")

        async def hold(seconds: float) -> None:
            async with limiter:
                await anyio.sleep(seconds)

        with blog.install(log):
            async with anyio.create_task_group() as tg:
                tg.start_soon(hold, 2.0)
                await anyio.sleep(0)
                tg.start_soon(hold, 0.0)
                await anyio.sleep(0.5)
                with pytest.raises(brace.LimiterFull):
                    limiter.acquire_nowait()
        assert handler.messages == [
            (
                "brace.limiter_rejected limiter=db reason=no_slot max_concurrent=1 "
                "waiting=1"
            ),
            "brace.limiter_waited limiter=db waited=2.0",
        ]
