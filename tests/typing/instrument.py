"""Pins the types of brace.instrument's adapters; checked, never run."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, assert_type

from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import brace
import brace.instrument
import brace.instrument.logging
from brace.instrument import Installation
from brace.instrument import opentelemetry as instrument_otel
from brace.instrument import prometheus as instrument_prometheus
from brace.instrument import structlog as instrument_structlog
from brace.instrument.opentelemetry import Tracing


@Tracing(name="db.query", kind=SpanKind.CLIENT, attributes={"db.system": "sqlite"})
async def query(sql: str, *, limit: int = 10) -> list[str]:
    return [sql] * limit


async def check_instrument() -> None:
    assert_type(await query("select 1"), list[str])
    pending = query("select 1", limit=2)
    _ = assert_type(pending, Coroutine[Any, Any, list[str]])
    pending.close()
    assert_type(await Tracing().call(query, "select 2"), list[str])
    assert_type(Tracing().describe(), tuple[str, dict[str, object]])
    brace.compose(brace.Retry(on=OSError), Tracing())
    handle = brace.instrument.logging.install(
        "app", levels={brace.RetryScheduled: logging.INFO, brace.TimeoutFired: None}
    )
    assert_type(handle, Installation)
    assert_type(handle.active, bool)
    with instrument_structlog.install(exc_info=True, values=True) as installed:
        assert_type(installed, Installation)
    instrument_prometheus.install(
        CollectorRegistry(), namespace="app", max_label_values=50, buckets=[0.1, 1.0]
    ).close()
    instrument_otel.install(span_events=False, max_attribute_values=10).close()
    assert_type(
        brace.instrument.default_level(brace.TimeoutFired(name="t", timeout=1)), int
    )
    await query(1)  # type: ignore[arg-type]
    await query("x", limt=1)  # type: ignore[call-arg]
    brace.instrument.logging.install(levels={brace.RetryScheduled: 1.5})  # type: ignore[dict-item]
    instrument_prometheus.install(namespace=3)  # type: ignore[arg-type]
    Tracing(kind="client")  # type: ignore[arg-type]
    Tracing(attributes={"a": object()})  # type: ignore[dict-item]
    brace.instrument.statsd  # type: ignore[attr-defined]  # noqa: B018
