"""brace events as OpenTelemetry metrics and span events; Tracing spans."""

from __future__ import annotations

try:
    from opentelemetry import trace
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:
    msg = (
        "brace.instrument.opentelemetry needs the OpenTelemetry API: "
        'pip install "brace[opentelemetry]"'
    )
    raise ImportError(msg, name=exc.name) from exc

from typing import cast

from brace import _events as ev
from brace._time import check_count

from ._installation import Installation
from ._names import event_id, fields
from ._otel_metrics import CIRCUIT_STATE_VALUES, recorder
from ._tracing import Tracing

__all__ = ["CIRCUIT_STATE_VALUES", "Tracing", "install"]


def _span_event(event: ev.Event, values: bool) -> None:
    span = trace.get_current_span()
    if not span.is_recording():
        return
    attributes: dict[str, AttributeValue] = {"brace.name": event.name}
    for key, value in fields(event, values=values):
        # fields() gives str, int, float and bool values only.
        shown = cast("AttributeValue", value)
        if key == "exception_type":
            attributes["error.type"] = shown
        else:
            attributes["brace." + key] = shown
    span.add_event("brace." + event_id(type(event)), attributes)


def install(
    meter_provider: MeterProvider | None = None,
    *,
    metrics: bool = True,
    span_events: bool = True,
    max_attribute_values: int = 100,
    values: bool = False,
) -> Installation:
    """Record brace's events as OpenTelemetry metrics and span events.

    Metrics (meter ``"brace"``), listed in :ref:`otel-metrics`: the counter
    ``brace.events`` counts every event, with the attributes
    ``brace.event`` (``"retry_scheduled"``...), ``brace.name`` (what
    emitted it), ``error.type`` (the exception type's qualified name, for
    events about an exception) and the event's low-cardinality fields
    (``brace.reason``, ``brace.state``...); histograms time the waits of
    limiters and rate limiters, and steps and sagas; the gauge
    ``brace.circuit.state`` gives each breaker's state. Each attribute
    takes at most *max_attribute_values* distinct values; later ones are
    recorded as ``"other"``.

    Span events: with *span_events*, an event emitted while a recording
    span is current (a :class:`Tracing` span, or any span of yours) is
    added to that span, named ``brace.<event id>``, with the event's
    fields as ``brace.*`` attributes and ``error.type``.

    Args:
        meter_provider: The meter provider; ``None`` for the global one
            (``opentelemetry.metrics.set_meter_provider()``), even one set
            later. Installations on one provider share its instruments;
            give every installation the same *meter_provider* (or none).
        metrics: Record metrics.
        span_events: Add span events.
        max_attribute_values: How many distinct values each metric
            attribute may take; an int >= 1.
        values: Include the user's values that events carry (rejected
            results, dropped queue items, cache keys, registry entries) in
            span events, as a shortened ``repr``.

    Returns:
        The :class:`~brace.instrument.Installation`; close it to stop.
        OpenTelemetry cannot remove instruments: after closing, they stay;
        ``brace.events`` and ``brace.circuit.state`` stop reporting what
        this installation counted.

    Raises:
        ValueError: Both *metrics* and *span_events* are off, or
            *max_attribute_values* is not an int >= 1.

    .. versionadded:: 0.1
    """
    check_count(max_attribute_values, "max_attribute_values")
    if not (metrics or span_events):
        msg = "install() with metrics=False and span_events=False would do nothing"
        raise ValueError(msg)
    if not metrics:

        def on_event(event: ev.Event) -> None:
            _span_event(event, values)

        return Installation("opentelemetry", ev.subscribe(on_event))
    metrics_recorder = recorder(meter_provider, max_attribute_values)
    record = metrics_recorder.record
    if span_events:

        def on_event(event: ev.Event) -> None:
            record(event)
            _span_event(event, values)

    else:
        on_event = record
    return Installation(
        "opentelemetry", ev.subscribe(on_event), cleanup=metrics_recorder.close
    )
