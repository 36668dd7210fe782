"""Instrumentation: what each brace.instrument adapter adds to a retried call.

Every row is brace's ``retry_two_failures`` call (two failures, then success:
two ``RetryScheduled`` events per call) with one adapter installed around the
batch. The ``*_off`` rows leave the adapter installed with its logger above
DEBUG, the level of ``RetryScheduled``: the state most services run in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import brace
from benchmarks.registry import Row, Skip, at_most, optional_import, scenario
from benchmarks.scenarios._common import flaky, missing, repeat_fresh
from benchmarks.scenarios.retry import brace_two_failures

BASELINE = "no_adapter"
# Any subscriber makes every policy build its events: this row pays for that
# alone, so that the adapters' own cost is the difference to it.
NOOP = "noop_listener"
# Events per call of the flaky function: one RetryScheduled per failure.
EVENTS_PER_CALL = 2


class _FormatAndDrop(logging.Handler):
    """Formats every record (the work a real handler does), writes nothing."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def _logger(name: str, level: int) -> logging.Logger:
    log = logging.getLogger(f"benchmarks.instrument.{name}")
    log.handlers[:] = [_FormatAndDrop()]
    log.setLevel(level)
    log.propagate = False
    return log


def _installed(make: Callable[[], Any]) -> Callable[[], AbstractContextManager[Any]]:
    """An ``around`` that installs an adapter for the batch, then closes it."""

    @contextmanager
    def around() -> Iterator[None]:
        handle = make()
        try:
            yield
        finally:
            handle.close()

    return around


def _logging_rows() -> list[Row | Skip]:
    from brace.instrument import logging as blog

    off, on = _logger("off", logging.WARNING), _logger("on", logging.DEBUG)
    fn = brace_two_failures()
    records: list[logging.LogRecord] = []

    async def check_on() -> None:
        probe = logging.Handler()
        probe.emit = records.append  # type: ignore[method-assign]
        on.addHandler(probe)
        try:
            with blog.install(on):
                assert await fn([0]) == 3
        finally:
            on.removeHandler(probe)
        assert len(records) == EVENTS_PER_CALL, records

    return [
        Row(
            "logging_off",
            "`brace.instrument.logging.install(logger)`, logger at WARNING",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: blog.install(off)),
        ),
        Row(
            "logging_on",
            "the same, logger at DEBUG, a handler that formats each record",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: blog.install(on)),
            check=check_on,
        ),
    ]


def _structlog_rows() -> list[Row | Skip]:
    structlog = optional_import("structlog")
    if structlog is None:
        return [
            missing("structlog_off", "structlog"),
            missing("structlog_on", "structlog"),
        ]
    from brace.instrument import structlog as bstruct

    def logger(level: int) -> Any:
        return structlog.wrap_logger(
            structlog.ReturnLogger(),
            wrapper_class=structlog.make_filtering_bound_logger(level),
            processors=[structlog.processors.KeyValueRenderer()],
            # structlog's advice for production, and the cheap path here.
            cache_logger_on_first_use=True,
        )

    off, on = logger(logging.WARNING), logger(logging.DEBUG)
    fn = brace_two_failures()
    return [
        Row(
            "structlog_off",
            "`brace.instrument.structlog.install(logger)`, a filtering logger at "
            "WARNING, `cache_logger_on_first_use=True`",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: bstruct.install(off)),
        ),
        Row(
            "structlog_on",
            "the same at DEBUG, rendering key=value to a ReturnLogger",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: bstruct.install(on)),
        ),
    ]


def _prometheus_rows() -> list[Row | Skip]:
    client = optional_import("prometheus_client")
    if client is None:
        return [missing("prometheus", "prometheus-client")]
    from brace.instrument import prometheus as bprom

    fn = brace_two_failures()

    async def check() -> None:
        registry = client.CollectorRegistry()
        with bprom.install(registry):
            assert await fn([0]) == 3
        labels = {"policy": "flaky", "exception": "ValueError"}
        # Closing unregisters the metrics: read them back before.
        with bprom.install(registry):
            assert await fn([0]) == 3
            count = registry.get_sample_value("brace_retries_total", labels)
        assert count == EVENTS_PER_CALL, count

    return [
        Row(
            "prometheus",
            "`brace.instrument.prometheus.install(CollectorRegistry())`",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: bprom.install(client.CollectorRegistry())),
            check=check,
        )
    ]


def _opentelemetry_rows() -> list[Row | Skip]:
    sdk = optional_import("opentelemetry.sdk.metrics")
    sdk_trace = optional_import("opentelemetry.sdk.trace")
    if sdk is None or sdk_trace is None:
        return [
            missing(name, "opentelemetry-sdk")
            for name in (
                "otel_metrics",
                "otel_metrics_and_span_events",
                "otel_tracing",
                "otel_tracing_no_exception_events",
            )
        ]
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from brace.instrument import opentelemetry as botel

    provider = sdk.MeterProvider(
        metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False
    )
    tracer = sdk_trace.TracerProvider(shutdown_on_exit=False).get_tracer("bench")
    fn = brace_two_failures()
    retry = brace.retry(on=ValueError, attempts=3, backoff=brace.Backoff.constant(0))
    traced = retry(botel.Tracing(tracer=tracer)(flaky))
    quiet = retry(botel.Tracing(tracer=tracer, record_exception=False)(flaky))
    return [
        Row(
            "otel_metrics",
            "`brace.instrument.opentelemetry.install(meter_provider, "
            "span_events=False)` (SDK, in-memory reader)",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: botel.install(provider, span_events=False)),
        ),
        Row(
            "otel_metrics_and_span_events",
            "the same with `span_events=True` (the default), no current span",
            repeat_fresh(fn),
            expect=3,
            around=_installed(lambda: botel.install(provider)),
        ),
        Row(
            "otel_tracing",
            "no adapter; `Tracing(tracer=...)` under the retry: 3 SDK spans per "
            "call (sampled, no exporter)",
            repeat_fresh(traced),
            expect=3,
        ),
        Row(
            "otel_tracing_no_exception_events",
            "the same with `record_exception=False` (no traceback formatted)",
            repeat_fresh(quiet),
            expect=3,
        ),
    ]


def _stamina_rows() -> list[Row | Skip]:
    stamina = optional_import("stamina")
    if stamina is None or optional_import("prometheus_client") is None:
        return [missing("stamina_prometheus", "stamina")]
    from stamina import instrumentation

    @contextmanager
    def prometheus_hook() -> Iterator[None]:
        previous = instrumentation.get_on_retry_hooks()
        instrumentation.set_on_retry_hooks([instrumentation.PrometheusOnRetryHook])
        try:
            yield
        finally:
            instrumentation.set_on_retry_hooks(previous)

    fn = stamina.retry(
        on=ValueError, attempts=3, wait_initial=0, wait_max=0, wait_jitter=0
    )(flaky)
    return [
        Row(
            "stamina_prometheus",
            "`@stamina.retry(on=ValueError, attempts=3, wait_*=0)` with its "
            "Prometheus hook only (peer, for scale)",
            repeat_fresh(fn),
            expect=3,
            around=prometheus_hook,
        )
    ]


def _ignore(_: brace.Event) -> None:
    return None


def _noop_subscribed() -> brace.Subscription:
    return brace.subscribe(_ignore)


def _per_event(medians: dict[str, float]) -> list[str]:
    base, noop = medians.get(BASELINE), medians.get(NOOP)
    if base is None or noop is None:
        return []
    parts = [
        f"`{name}` {(medians[name] - noop) / EVENTS_PER_CALL:,.0f} ns"
        for name in (
            "logging_off",
            "logging_on",
            "structlog_off",
            "structlog_on",
            "prometheus",
            "otel_metrics",
            "otel_metrics_and_span_events",
        )
        if name in medians
    ]
    build = (noop - base) / EVENTS_PER_CALL
    lines = [
        f"Building and delivering an event costs about {build:,.0f} ns "
        f"(`{NOOP}` minus `{BASELINE}`, over {EVENTS_PER_CALL} events per call); "
        "on top of that, each adapter adds per event: " + ", ".join(parts) + "."
    ]
    if "otel_tracing" in medians and "otel_tracing_no_exception_events" in medians:
        quiet = medians["otel_tracing_no_exception_events"]
        span = (quiet - base) / 3
        exception = (medians["otel_tracing"] - quiet) / EVENTS_PER_CALL
        lines.append(
            f"`Tracing` costs about {span:,.0f} ns per attempt (one SDK span), "
            f"and recording an exception event about {exception:,.0f} ns more "
            "(the SDK formats the traceback)."
        )
    return lines


@scenario(
    "instrument",
    order=45,
    title=(
        "brace's `retry_two_failures` call (2 `RetryScheduled` events per call) "
        "with one brace.instrument adapter installed; ns per successful call"
    ),
    baseline=BASELINE,
    reference=None,
    notes=_per_event,
    targets=(
        at_most("logging_off", 1.1, NOOP),
        at_most("structlog_off", 1.2, NOOP),
        at_most("prometheus", 1.5, NOOP),
        at_most("otel_metrics", 1.5, NOOP),
    ),
)
def instrument() -> list[Row | Skip]:
    fn = brace_two_failures()
    rows: list[Row | Skip] = [
        Row(
            BASELINE,
            "brace `retry_two_failures` row, no adapter, no listener",
            repeat_fresh(fn),
            expect=3,
        ),
        Row(
            NOOP,
            "the same with `brace.subscribe(lambda e: None)`: events are built",
            repeat_fresh(fn),
            expect=3,
            around=_noop_subscribed,
        ),
    ]
    rows += _logging_rows()
    rows += _structlog_rows()
    rows += _prometheus_rows()
    rows += _opentelemetry_rows()
    rows += _stamina_rows()
    return rows
