"""brace.instrument.opentelemetry: metrics read back with InMemoryMetricReader,
spans and span events with InMemorySpanExporter; Tracing under retries, hedges
and cancellation on asyncio and trio."""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode, Tracer

import brace
from _instrument_support import event_classes, sample
from brace import _events
from brace._breaker import CircuitBreaker
from brace._hedge import Hedge
from brace._pipeline import Policy, compose
from brace.instrument import Installation, _names, _otel_metrics
from brace.instrument import opentelemetry as botel
from brace.instrument.opentelemetry import Tracing

ZERO = brace.Backoff.constant(0)


class Spans:
    """A tracer whose finished spans are kept in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(shutdown_on_exit=False)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer: Tracer = self.provider.get_tracer("test")

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.finished() if span.name == name]


class Metrics:
    """A meter provider whose metrics are read back in memory."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(
            metric_readers=[self.reader], shutdown_on_exit=False
        )
        self.handles: list[Installation] = []

    def install(self, **options: Any) -> Installation:
        """Install the adapter on this provider until the end of the test.

        brace.events is an asynchronous counter, read at collection: the
        adapter must still be installed when the test reads it.
        """
        handle = botel.install(self.provider, **options)
        self.handles.append(handle)
        return handle

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def values(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """Attribute set -> value (sum, gauge value, or (count, sum))."""
        result: dict[frozenset[tuple[str, Any]], Any] = {}
        for point in self.points(name):
            key = frozenset((point.attributes or {}).items())
            if hasattr(point, "bucket_counts"):
                result[key] = (point.count, point.sum)
            else:
                result[key] = point.value
        return result

    def instrument(self, name: str) -> Any:
        data = self.reader.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return metric
        raise AssertionError(name)


ERRORS = [KeyError, OSError, ValueError, TypeError, LookupError]


def _admit(seen: list[str], value: str, limit: int) -> str:
    """The reference model of a bounded label: the first *limit* values."""
    if value in seen:
        return value
    if len(seen) < limit:
        seen.append(value)
        return value
    return "other"


def key(**attributes: Any) -> frozenset[tuple[str, Any]]:
    """The attribute set of a data point, written as keyword arguments."""
    return frozenset({k.replace("__", "."): v for k, v in attributes.items()}.items())


@functools.cache
def _shared_metrics() -> Metrics:
    """One meter provider for the examples of a hypothesis test."""
    return Metrics()


@pytest.fixture
def spans() -> Iterator[Spans]:
    """An in-memory span exporter and its tracer."""
    recorder = Spans()
    yield recorder
    recorder.provider.shutdown()


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    """An in-memory metric reader and its meter provider."""
    recorder = Metrics()
    yield recorder
    for handle in recorder.handles:
        handle.close()
    recorder.provider.shutdown()


async def _fail_twice(state: list[int]) -> int:
    state[0] += 1
    if state[0] < 3:
        raise ValueError(f"attempt {state[0]}: password=hunter2")
    return state[0]


# -- metrics ------------------------------------------------------------------------


class TestMetrics:
    """Events become brace.events counts, durations and the breaker gauge."""

    @pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.__name__)
    def test_every_event_class_is_counted(
        self, metrics: Metrics, cls: type[_events.Event]
    ) -> None:
        """Each event class in brace._events is counted under its id."""
        metrics.install(span_events=False)
        _events.emit(sample(cls))
        counted = {
            dict(attributes)["brace.event"]: value
            for attributes, value in metrics.values("brace.events").items()
        }
        assert counted == {_names.event_id(cls): 1}

    def test_counter_attributes(self, metrics: Metrics) -> None:
        """The counter's attributes: event, name, error.type and the label fields."""
        events = [
            brace.RetryScheduled(name="fetch", attempt=1, delay=0.5, error=KeyError()),
            brace.RetryScheduled(name="fetch", attempt=2, delay=0.5, error=KeyError()),
            brace.RetryScheduled(name="fetch", attempt=1, delay=0, result=None),
            _events.CircuitStateChanged(
                name="pay", old="closed", new="open", reason="failure_rate"
            ),
            _events.StepFailed(name="s", error=OSError(), elapsed=1, cancelled=True),
            brace.TokenCancelled(name="tok", reason="user 42 logged out"),
        ]
        metrics.install()
        for event in events:
            _events.emit(event)
        assert metrics.values("brace.events") == {
            key(
                brace__event="retry_scheduled",
                brace__name="fetch",
                error__type="KeyError",
            ): 2,
            key(brace__event="retry_scheduled", brace__name="fetch"): 1,
            key(
                brace__event="circuit_state_changed",
                brace__name="pay",
                brace__old="closed",
                brace__new="open",
                brace__reason="failure_rate",
            ): 1,
            key(
                brace__event="step_failed",
                brace__name="s",
                error__type="OSError",
                brace__cancelled=True,
            ): 1,
            key(brace__event="token_cancelled", brace__name="tok"): 1,
        }
        counter = metrics.instrument("brace.events")
        assert counter.unit == "{event}"

    def test_missing_label_values_are_left_out(self, metrics: Metrics) -> None:
        """A label field that is None is not an attribute (rather than "None")."""
        metrics.install()
        _events.emit(_events.ChaosInjected(name="x", kind=None))  # type: ignore[arg-type]
        assert metrics.values("brace.events") == {
            key(brace__event="chaos_injected", brace__name="x"): 1
        }

    def test_durations(self, metrics: Metrics) -> None:
        """Waits, steps and sagas are recorded in second histograms."""
        with botel.install(metrics.provider):
            _events.emit(brace.LimiterWaited(name="db", waited=0.25))
            _events.emit(brace.LimiterWaited(name="db", waited=0.5))
            _events.emit(brace.RateLimitWaited(name="api", cost=2, waited=1.5))
            _events.emit(_events.StepSucceeded(name="charge", elapsed=2.0))
            _events.emit(
                _events.StepFailed(name="charge", error=OSError(), elapsed=3.0)
            )
            _events.emit(
                _events.StepFailed(
                    name="charge", error=OSError(), elapsed=4.0, cancelled=True
                )
            )
            _events.emit(
                _events.SagaFinished(name="order", status="compensated", elapsed=5.0)
            )
            _events.emit(
                _events.SagaFinished(
                    name="order", status="compensated", elapsed=6.0, cancelled=True
                )
            )
        assert metrics.values("brace.limiter.wait.duration") == {
            key(brace__name="db"): (2, 0.75)
        }
        assert metrics.values("brace.rate_limiter.wait.duration") == {
            key(brace__name="api"): (1, 1.5)
        }
        assert metrics.values("brace.step.duration") == {
            key(brace__name="charge", brace__outcome="succeeded"): (1, 2.0),
            key(brace__name="charge", brace__outcome="failed"): (1, 3.0),
            key(brace__name="charge", brace__outcome="cancelled"): (1, 4.0),
        }
        assert metrics.values("brace.saga.duration") == {
            key(brace__name="order", brace__status="compensated"): (1, 5.0),
            key(brace__name="order", brace__status="cancelled"): (1, 6.0),
        }
        histogram = metrics.instrument("brace.limiter.wait.duration")
        assert histogram.unit == "s"
        point = metrics.points("brace.limiter.wait.duration")[0]
        assert tuple(point.explicit_bounds) == _otel_metrics.BUCKETS

    @pytest.mark.anyio
    async def test_breaker_state_gauge(self, metrics: Metrics) -> None:
        """brace.circuit.state follows a real breaker: 1 open, 2 half-open, 0 closed."""
        breaker = CircuitBreaker(name="payments", consecutive_failures=1, open_for=5.0)

        async def fail() -> None:
            raise OSError("down")

        async def ok() -> int:
            return 1

        with botel.install(metrics.provider) as handle:
            with pytest.raises(OSError):
                await breaker.call(fail)
            assert metrics.values("brace.circuit.state") == {
                key(brace__name="payments"): 1
            }
            await anyio.sleep(5)
            assert await breaker.call(ok) == 1
            assert metrics.values("brace.circuit.state") == {
                key(brace__name="payments"): 0
            }
            _events.emit(
                _events.CircuitRejected(name="spare", state="isolated", retry_after=1)
            )
            _events.emit(
                _events.CircuitRejected(name="odd", state="unknown", retry_after=1)
            )
            assert metrics.values("brace.circuit.state")[key(brace__name="spare")] == 3
        assert not handle.active
        assert metrics.values("brace.circuit.state") == {}

    def test_attribute_values_are_bounded(self, metrics: Metrics) -> None:
        """Past max_attribute_values, new values are recorded as "other"."""
        metrics.install(max_attribute_values=2)
        for name in ["a", "b", "c", "d"]:
            _events.emit(brace.TimeoutFired(name=name, timeout=1))
            _events.emit(brace.LimiterWaited(name=name, waited=1))
            _events.emit(
                _events.CircuitStateChanged(
                    name=name, old="closed", new="open", reason="failure_rate"
                )
            )
        for error in [KeyError(), OSError(), ValueError()]:
            _events.emit(
                brace.RetryScheduled(name="a", attempt=1, delay=0, error=error)
            )
        # A gauge for "other" would mix breakers: only the named ones appear.
        assert set(metrics.values("brace.circuit.state")) == {
            key(brace__name="a"),
            key(brace__name="b"),
        }
        timeouts = {
            dict(attributes)["brace.name"]: value
            for attributes, value in metrics.values("brace.events").items()
            if dict(attributes)["brace.event"] == "timeout_fired"
        }
        assert timeouts == {"a": 1, "b": 1, "other": 2}
        errors = {
            dict(attributes)["error.type"]: value
            for attributes, value in metrics.values("brace.events").items()
            if "error.type" in dict(attributes)
        }
        assert errors == {"KeyError": 1, "OSError": 1, "other": 1}
        waits = metrics.values("brace.limiter.wait.duration")
        assert waits[key(brace__name="other")] == (2, 2.0)

    def test_counts_from_many_threads(self, metrics: Metrics) -> None:
        """Events emitted from several threads at once are all counted."""
        metrics.install(span_events=False)
        event = brace.TimeoutFired(name="t", timeout=1)

        def emit_many() -> None:
            for _ in range(2000):
                _events.emit(event)

        threads = [threading.Thread(target=emit_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert list(metrics.values("brace.events").values()) == [8000]

    @settings(max_examples=40, deadline=None)
    @given(
        limit=st.integers(1, 4),
        calls=st.lists(
            st.tuples(st.sampled_from("abcdef"), st.sampled_from(ERRORS)), max_size=30
        ),
    )
    def test_counts_match_a_model(
        self, limit: int, calls: list[tuple[str, type[Exception]]]
    ) -> None:
        """For any sequence of events, the counts are those of a simple model."""
        # One provider for every example: each installation reports only
        # its own counts, and closing it takes them away.
        recorder = _shared_metrics()
        expected: collections.Counter[tuple[str, str]] = collections.Counter()
        names: list[str] = []
        errors: list[str] = []
        with botel.install(recorder.provider, max_attribute_values=limit):
            for name, error in calls:
                _events.emit(
                    brace.RetryScheduled(name=name, attempt=1, delay=0, error=error())
                )
                expected[
                    _admit(names, name, limit), _admit(errors, error.__name__, limit)
                ] += 1
            got = {
                (dict(a)["brace.name"], dict(a)["error.type"]): v
                for a, v in recorder.values("brace.events").items()
            }
        assert got == dict(expected)
        assert recorder.values("brace.events") == {}

    def test_reinstall_on_one_provider(self, metrics: Metrics) -> None:
        """Installing again on a provider after closing reports the new counts."""
        first = metrics.install()
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
        first.close()
        metrics.install()
        _events.emit(brace.TimeoutFired(name="u", timeout=1))
        counted = {
            dict(a)["brace.name"]: v for a, v in metrics.values("brace.events").items()
        }
        assert counted == {"u": 1}

    def test_two_installations_on_one_provider(self, metrics: Metrics) -> None:
        """Two installations on one provider add up; closing one removes its share."""
        first = metrics.install(span_events=False)
        metrics.install(span_events=False, max_attribute_values=1)
        _events.emit(brace.TimeoutFired(name="a", timeout=1))
        _events.emit(brace.TimeoutFired(name="b", timeout=1))
        _events.emit(_events.CircuitRejected(name="a", state="open", retry_after=1.0))
        counted = {
            (dict(a)["brace.event"], dict(a)["brace.name"]): v
            for a, v in metrics.values("brace.events").items()
        }
        # The second installation admits one name only: "b" is "other" there.
        assert counted == {
            ("timeout_fired", "a"): 2,
            ("timeout_fired", "b"): 1,
            ("timeout_fired", "other"): 1,
            ("circuit_rejected", "a"): 2,
        }
        assert metrics.values("brace.circuit.state") == {key(brace__name="a"): 1}
        first.close()
        counted = {
            (dict(a)["brace.event"], dict(a)["brace.name"]): v
            for a, v in metrics.values("brace.events").items()
        }
        assert counted == {
            ("timeout_fired", "a"): 1,
            ("timeout_fired", "other"): 1,
            ("circuit_rejected", "a"): 1,
        }

    def test_global_provider_installations_share_instruments(self) -> None:
        """Installations on the global provider share one set of instruments."""
        with botel.install(), botel.install() as second:
            shared = _otel_metrics._instruments[_otel_metrics._GLOBAL]
            assert len(shared.recorders) == 2
            second.close()
            assert len(shared.recorders) == 1
        assert shared.recorders == []

    def test_close_stops_recording(self, metrics: Metrics) -> None:
        """After close(), the counts are gone and events change no metric."""
        handle = metrics.install()
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
        assert list(metrics.values("brace.events").values()) == [1]
        handle.close()
        _events.emit(brace.LimiterWaited(name="t", waited=1))
        assert metrics.values("brace.events") == {}
        assert metrics.values("brace.limiter.wait.duration") == {}

    def test_metrics_off(self, metrics: Metrics, spans: Spans) -> None:
        """metrics=False records span events only."""
        with (
            botel.install(metrics.provider, metrics=False),
            spans.tracer.start_as_current_span("outer"),
        ):
            _events.emit(brace.TimeoutFired(name="t", timeout=1))
        assert metrics.values("brace.events") == {}
        assert [e.name for e in spans.named("outer")[0].events] == [
            "brace.timeout_fired"
        ]

    def test_global_meter_provider(self) -> None:
        """Without meter_provider=, the global one (a no-op here) is used."""
        with botel.install():
            _events.emit(brace.TimeoutFired(name="t", timeout=1))

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"metrics": False, "span_events": False}, "nothing"),
            ({"max_attribute_values": 0}, "max_attribute_values"),
            ({"max_attribute_values": 2.5}, "max_attribute_values"),
        ],
    )
    def test_bad_options(self, options: dict[str, Any], match: str) -> None:
        """Options that make no sense fail at install() with a clear message."""
        with pytest.raises(ValueError, match=match):
            botel.install(**options)
        assert not _events.subscribers


# -- span events ------------------------------------------------------------------


class TestSpanEvents:
    """Events emitted while a span is current are added to it."""

    def test_added_to_the_current_span(self, spans: Spans) -> None:
        """Fields become brace.* attributes; the exception only its type."""
        with (
            botel.install(span_events=True, metrics=False),
            spans.tracer.start_as_current_span("request"),
        ):
            _events.emit(
                brace.RetryScheduled(
                    name="fetch", attempt=1, delay=0.5, error=ValueError("secret")
                )
            )
            _events.emit(brace.QueueItemDropped(name="q", item="card", overflow="x"))
        (request,) = spans.finished()
        assert [(e.name, dict(e.attributes or {})) for e in request.events] == [
            (
                "brace.retry_scheduled",
                {
                    "brace.name": "fetch",
                    "brace.attempt": 1,
                    "brace.delay": 0.5,
                    "error.type": "ValueError",
                },
            ),
            ("brace.queue_item_dropped", {"brace.name": "q", "brace.overflow": "x"}),
        ]

    def test_values_when_asked(self, spans: Spans) -> None:
        """values=True adds the user's values, as a short repr."""
        with (
            botel.install(metrics=False, values=True),
            spans.tracer.start_as_current_span("request"),
        ):
            _events.emit(brace.QueueItemDropped(name="q", item="card", overflow="x"))
        (request,) = spans.finished()
        assert dict(request.events[0].attributes or {})["brace.item"] == "'card'"

    def test_no_current_span(self, spans: Spans, metrics: Metrics) -> None:
        """Outside any recording span, events are only counted."""
        metrics.install()
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
        with trace.use_span(trace.INVALID_SPAN):
            _events.emit(brace.TimeoutFired(name="t", timeout=1))
        assert spans.finished() == []
        assert list(metrics.values("brace.events").values()) == [2]


# -- the Tracing policy --------------------------------------------------------------


class TestTracingConstruction:
    """Tracing validates its options, describes itself and keeps signatures."""

    def test_describe_and_protocol(self, spans: Spans) -> None:
        """describe() gives kind "tracing" and the options; it is a Policy."""
        tracing = Tracing(
            tracer=spans.tracer,
            name="db.query",
            kind=SpanKind.CLIENT,
            record_exception=False,
            attributes={"db.system": "postgresql", "retries": [1, 2]},
        )
        kind, options = tracing.describe()
        assert kind == "tracing"
        assert options == {
            "tracer": repr(spans.tracer),
            "name": "db.query",
            "kind": "CLIENT",
            "record_exception": False,
            "attributes": {"db.system": "postgresql", "retries": (1, 2)},
        }
        assert hash(tracing) == hash(tracing)
        assert isinstance(tracing, Policy)
        assert Tracing().describe()[1]["tracer"] is None
        assert compose(brace.Retry(on=OSError), tracing).describe()[1][0] == "tracing"

    def test_frozen(self) -> None:
        """A Tracing policy is immutable, so it can be shared."""
        import attrs

        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            Tracing().name = "x"  # type: ignore[misc]

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"tracer": "tracer"}, "tracer"),
            ({"name": 3}, "name"),
            ({"kind": "client"}, "SpanKind"),
            ({"record_exception": "yes"}, "record_exception"),
            ({"attributes": [("a", 1)]}, "mapping"),
            ({"attributes": {"a": object()}}, "attributes"),
            ({"attributes": {1: "a"}}, "attributes"),
            ({"attributes": {"a": [1, object()]}}, "attributes"),
        ],
    )
    def test_bad_options(self, options: dict[str, Any], match: str) -> None:
        """Bad options raise TypeError at construction, saying what is expected."""
        with pytest.raises(TypeError, match=match):
            Tracing(**options)

    def test_decorator_keeps_the_signature(self, spans: Spans) -> None:
        """The wrapper has the function's name, docstring and signature."""

        async def fetch(url: str, *, timeout: float = 1.0) -> bytes:
            """Fetch a URL."""
            return url.encode()

        wrapped = Tracing(tracer=spans.tracer)(fetch)
        assert wrapped.__name__ == "fetch"
        assert wrapped.__doc__ == "Fetch a URL."
        assert inspect.signature(wrapped) == inspect.signature(fetch)
        assert inspect.iscoroutinefunction(wrapped)

    def test_rejects_sync_functions(self) -> None:
        """Decorating a plain function raises TypeError."""

        def sync() -> int:
            return 1

        with pytest.raises(TypeError, match="async"):
            Tracing()(sync)  # type: ignore[arg-type]


@pytest.mark.anyio
class TestTracing:
    """One span per call, or per attempt inside a retry, on asyncio and trio."""

    async def test_one_span_per_call(self, spans: Spans) -> None:
        """A call outside any retry: one span, no attempt, status unset."""

        @Tracing(tracer=spans.tracer, attributes={"peer.service": "db"})
        async def query(n: int) -> int:
            await anyio.sleep(1)
            return n * 2

        assert await query(21) == 42
        (span,) = spans.finished()
        assert span.name == "TestTracing.test_one_span_per_call.<locals>.query"
        assert span.kind is SpanKind.INTERNAL
        assert span.status.status_code is StatusCode.UNSET
        assert dict(span.attributes or {}) == {
            "code.function.name": (
                f"{__name__}.TestTracing.test_one_span_per_call.<locals>.query"
            ),
            "peer.service": "db",
        }
        assert span.end_time is not None
        assert span.start_time is not None

    async def test_one_span_per_attempt(self, spans: Spans, metrics: Metrics) -> None:
        """Under a retry: a span per attempt, failures marked, retries as events."""
        policy = brace.Retry(on=ValueError, attempts=3, backoff=ZERO, name="fetch")
        traced = policy(Tracing(tracer=spans.tracer, name="fetch.attempt")(_fail_twice))
        with (
            botel.install(metrics.provider),
            spans.tracer.start_as_current_span("request"),
        ):
            assert await traced([0]) == 3
        attempts = spans.named("fetch.attempt")
        (request,) = spans.named("request")
        assert [dict(s.attributes or {})["brace.attempt"] for s in attempts] == [
            1,
            2,
            3,
        ]
        assert [s.status.status_code for s in attempts] == [
            StatusCode.ERROR,
            StatusCode.ERROR,
            StatusCode.UNSET,
        ]
        first = attempts[0]
        assert first.status.description == "ValueError"
        assert dict(first.attributes or {})["error.type"] == "ValueError"
        (exception,) = first.events
        assert exception.name == "exception"
        assert dict(exception.attributes or {})["exception.message"] == (
            "attempt 1: password=hunter2"
        )
        assert all(s.parent is not None for s in attempts)
        assert {s.parent.span_id for s in attempts if s.parent} == {
            request.context.span_id
        }
        assert [
            (e.name, dict(e.attributes or {})["brace.attempt"]) for e in request.events
        ] == [("brace.retry_scheduled", 1), ("brace.retry_scheduled", 2)]

    async def test_record_exception_off(self, spans: Spans) -> None:
        """record_exception=False keeps the message out; type and status stay."""
        tracing = Tracing(tracer=spans.tracer, record_exception=False)
        with pytest.raises(ValueError, match="hunter2"):
            await tracing.call(_fail_twice, [0])
        (span,) = spans.finished()
        assert span.events == ()
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError"
        assert dict(span.attributes or {})["error.type"] == "ValueError"

    async def test_call(self, spans: Spans) -> None:
        """call() names the span after the function (or name=), returns its result."""
        tracing = Tracing(tracer=spans.tracer)
        assert await tracing.call(_fail_twice, [2]) == 3
        partial = functools.partial(_fail_twice, [2])
        assert await Tracing(tracer=spans.tracer, name="p").call(partial) == 3
        assert await tracing.call(functools.partial(_fail_twice, [2])) == 3
        assert [s.name for s in spans.finished()] == ["_fail_twice", "p", "partial"]
        assert dict(spans.finished()[2].attributes or {})["code.function.name"] == (
            "functools.partial"
        )

    async def test_call_rejects_sync_functions(self, spans: Spans) -> None:
        """call() with a function that returns no awaitable raises TypeError."""
        with pytest.raises(TypeError, match="returned int"):
            await Tracing(tracer=spans.tracer).call(lambda: 5)  # type: ignore[arg-type,return-value]
        (span,) = spans.finished()
        assert dict(span.attributes or {})["error.type"] == "TypeError"

    async def test_default_tracer(self) -> None:
        """Without tracer=, the global tracer (no-op here) is used, and calls work."""
        assert await Tracing().call(_fail_twice, [2]) == 3
        with pytest.raises(ValueError, match="hunter2"):
            await Tracing().call(_fail_twice, [0])

    async def test_compose_innermost(self, spans: Spans) -> None:
        """Innermost in compose(), after the retry: one span per attempt."""
        pipe = compose(
            brace.Retry(on=ValueError, attempts=3, backoff=ZERO),
            Tracing(tracer=spans.tracer, name="attempt"),
        )
        assert await pipe.call(_fail_twice, [0]) == 3
        numbers = [dict(s.attributes or {})["brace.attempt"] for s in spans.finished()]
        assert numbers == [1, 2, 3]

    # -- cancellation --------------------------------------------------------------

    async def test_cancelled_while_waiting(self, spans: Spans) -> None:
        """move_on_after cancels the call: the span ends marked cancelled, no error."""

        @Tracing(tracer=spans.tracer, name="slow")
        async def slow() -> None:
            await anyio.sleep(10)

        with spans.tracer.start_as_current_span("outer") as outer:
            start = anyio.current_time()
            with anyio.move_on_after(2) as scope:
                await slow()
            assert scope.cancelled_caught
            assert anyio.current_time() - start == 2
            assert trace.get_current_span() is outer
        (span,) = spans.named("slow")
        assert dict(span.attributes or {})["brace.cancelled"] is True
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()
        assert span.end_time is not None
        assert span.end_time - (span.start_time or 0) >= 0

    async def test_cancelled_by_task_group(self, spans: Spans) -> None:
        """A sibling's failure cancels the traced call: its span says cancelled."""
        tracing = Tracing(tracer=spans.tracer, name="sibling")

        async def fail_soon() -> None:
            await anyio.sleep(1)
            raise KeyError("boom")

        with pytest.raises(BaseExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                tg.start_soon(tracing.call, anyio.sleep, 10)
                tg.start_soon(fail_soon)
        assert info.group_contains(KeyError)
        (span,) = spans.named("sibling")
        assert dict(span.attributes or {})["brace.cancelled"] is True
        assert span.status.status_code is StatusCode.UNSET

    async def test_hedge_loser_is_cancelled(self, spans: Spans) -> None:
        """Inside a hedge, the attempt that lost is cancelled, the winner is not."""
        durations = iter([10.0, 1.0])

        @Hedge(delay=0.5, max_hedges=1)
        @Tracing(tracer=spans.tracer, name="attempt")
        async def call() -> float:
            duration = next(durations)
            await anyio.sleep(duration)
            return duration

        start = anyio.current_time()
        assert await call() == 1.0
        assert anyio.current_time() - start == 1.5
        spans_by_outcome = {
            dict(s.attributes or {}).get("brace.cancelled", False): s
            for s in spans.named("attempt")
        }
        assert set(spans_by_outcome) == {True, False}
        assert all(
            s.status.status_code is StatusCode.UNSET for s in spans_by_outcome.values()
        )

    async def test_context_restored_after_failure(self, spans: Spans) -> None:
        """After a failed call, the current span is the caller's again."""
        tracing = Tracing(tracer=spans.tracer)
        with spans.tracer.start_as_current_span("outer") as outer:
            with pytest.raises(ValueError):
                await tracing.call(_fail_twice, [0])
            assert trace.get_current_span() is outer


# -- asyncio-only cancellation ------------------------------------------------------


class TestTracingAsyncioCancellation:
    """asyncio's own ways to cancel: task.cancel(), asyncio.timeout(), wait_for()."""

    @pytest.mark.asyncio
    async def test_task_cancel(self, spans: Spans) -> None:
        """task.cancel() while the call waits: the span ends marked cancelled."""
        started = asyncio.Event()

        @Tracing(tracer=spans.tracer, name="waits")
        async def waits() -> None:
            started.set()
            await asyncio.sleep(10)

        task = asyncio.create_task(waits())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (span,) = spans.finished()
        assert dict(span.attributes or {})["brace.cancelled"] is True

    @pytest.mark.asyncio
    async def test_timeout_and_wait_for(self, spans: Spans) -> None:
        """asyncio.timeout() and wait_for() cancel the call; spans say so."""
        tracing = Tracing(tracer=spans.tracer, name="slow")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await tracing.call(asyncio.sleep, 10)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(tracing.call(asyncio.sleep, 10), 2)
        assert loop.time() - start == pytest.approx(3)
        assert [
            dict(s.attributes or {})["brace.cancelled"] for s in spans.finished()
        ] == [
            True,
            True,
        ]

    @pytest.mark.asyncio
    async def test_cancelled_as_the_call_completes(self, spans: Spans) -> None:
        """Cancelled in the same loop iteration as its result: the caller sees the
        cancellation, and so does the span."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()

        async def waits() -> int:
            return await future

        task = asyncio.create_task(Tracing(tracer=spans.tracer).call(waits))
        await asyncio.sleep(0)
        future.set_result(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        (span,) = spans.finished()
        assert dict(span.attributes or {})["brace.cancelled"] is True
