"""OpenTelemetry instruments fed by brace's events, made once per provider."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.util.types import AttributeValue

from brace import _events as ev
from brace._version import __version__

from ._bounded import OTHER, LabelValues
from ._names import event_id, spec

__all__ = ["BUCKETS", "CIRCUIT_STATE_VALUES", "Recorder", "recorder"]

CIRCUIT_STATE_VALUES = {"closed": 0, "open": 1, "half_open": 2, "isolated": 3}
"""The value of the ``brace.circuit.state`` gauge for each breaker state."""

# The buckets that OpenTelemetry's semantic conventions advise for request
# durations: waits and steps are measured on the same scale.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

Attrs = dict[str, AttributeValue]
# (event class, name, error.type, label values), each bounded.
_Key = tuple[type[ev.Event], str, str | None, tuple[str | bool | None, ...]]


class _Global:
    """The key of the instruments made through the global meter provider."""


_GLOBAL = _Global()


class _Instruments:
    """The instruments on one meter provider, and the installations they serve.

    The SDK makes one meter per provider and scope, and hands back the
    instrument already registered under a name, callbacks included. So the
    instruments, and the callbacks that read the counts, are made once per
    provider and report for every installation on it, later ones too.
    """

    def __init__(self, provider: MeterProvider | None) -> None:
        meter = otel_metrics.get_meter("brace", __version__, meter_provider=provider)
        self.recorders: list[Recorder] = []
        # An asynchronous counter: events are counted in a dict, under a
        # lock, and reported at collection. The synchronous Counter.add()
        # costs the SDK several microseconds per event, a dict increment a
        # tenth of that.
        meter.create_observable_counter(
            "brace.events",
            callbacks=[self._observe_events],
            unit="{event}",
            description="brace events, by event and by what emitted them.",
        )
        histogram = meter.create_histogram
        self.limiter_wait = histogram(
            "brace.limiter.wait.duration",
            unit="s",
            description="Time calls waited for a concurrency limiter slot.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self.rate_wait = histogram(
            "brace.rate_limiter.wait.duration",
            unit="s",
            description="Time requests waited for rate limiter capacity.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self.step_duration = histogram(
            "brace.step.duration",
            unit="s",
            description="Time from the start of a step to its outcome.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        self.saga_duration = histogram(
            "brace.saga.duration",
            unit="s",
            description="Time from the start of a saga run to its end.",
            explicit_bucket_boundaries_advisory=BUCKETS,
        )
        meter.create_observable_gauge(
            "brace.circuit.state",
            callbacks=[self._observe_states],
            unit="1",
            description=(
                "Circuit breaker state: 0 closed, 1 open, 2 half_open, 3 isolated."
            ),
        )

    def _observe_events(self, options: CallbackOptions) -> Iterable[Observation]:
        recorders = tuple(self.recorders)
        if len(recorders) == 1:
            return [
                Observation(count, attributes)
                for attributes, count in recorders[0].counts()
            ]
        # Several installations may count the same attributes: add them up.
        totals: dict[frozenset[tuple[str, AttributeValue]], list[Any]] = {}
        for recorder in recorders:
            for attributes, count in recorder.counts():
                total = totals.setdefault(
                    frozenset(attributes.items()), [0, attributes]
                )
                total[0] += count
        return [Observation(count, attributes) for count, attributes in totals.values()]

    def _observe_states(self, options: CallbackOptions) -> Iterable[Observation]:
        states: dict[str, int] = {}
        for recorder in tuple(self.recorders):
            states.update(recorder.states)
        return [
            Observation(code, {"brace.name": name}) for name, code in states.items()
        ]


_instruments: weakref.WeakKeyDictionary[object, _Instruments] = (
    weakref.WeakKeyDictionary()
)
_instruments_lock = threading.Lock()


class Recorder:
    """One installation's counts, bounded attribute values and breaker states."""

    def __init__(self, instruments: _Instruments, limit: int) -> None:
        self._instruments = instruments
        self._limit = limit
        self._bounds: dict[str, LabelValues] = {}
        self._names = self._bound("brace.name")
        self._admitted_names = self._names.seen
        self._errors = self._bound("error.type")
        self._labels: dict[type[ev.Event], tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._counts: dict[_Key, int] = {}
        self._attrs: dict[_Key, Attrs] = {}
        self.states: dict[str, int] = {}
        self._extras: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.LimiterWaited: self._limiter_waited,
            ev.RateLimitWaited: self._rate_limit_waited,
            ev.StepSucceeded: self._step,
            ev.StepFailed: self._step,
            ev.SagaFinished: self._saga,
            ev.CircuitStateChanged: self._circuit,
            ev.CircuitRejected: self._circuit,
        }

    def close(self) -> None:
        """Stop reporting: the instruments stay (OpenTelemetry cannot drop them)."""
        # Called once: Installation.close() runs its cleanup only once.
        self._instruments.recorders.remove(self)

    def _bound(self, key: str) -> LabelValues:
        bound = self._bounds.get(key)
        if bound is None:
            bound = self._bounds[key] = LabelValues(self._limit)
        return bound

    def _label(self, label: str, value: object) -> str | bool | None:
        if value is None or isinstance(value, bool):
            return value
        return self._bound(label)(str(value))

    def _key(self, event: ev.Event) -> _Key:
        """The event's attribute values, bounded: what its count is kept under."""
        cls = type(event)
        labels = self._labels.get(cls)
        if labels is None:
            labels = self._labels[cls] = spec(cls).labels
        # The admitted names are tested first, inline: the common case.
        name = event.name
        if name not in self._admitted_names:
            name = self._names(name)
        error = getattr(event, "error", None)
        return (
            cls,
            name,
            None if error is None else self._errors(type(error).__qualname__),
            tuple([self._label(label, getattr(event, label)) for label in labels])
            if labels
            else (),
        )

    def _attributes(self, key: _Key) -> Attrs:
        """The attribute dict of a count, made once per key."""
        found = self._attrs.get(key)
        if found is None:
            cls, name, error_name, values = key
            found = {"brace.event": event_id(cls), "brace.name": name}
            if error_name is not None:
                found["error.type"] = error_name
            for label, value in zip(spec(cls).labels, values, strict=True):
                if value is not None:
                    found["brace." + label] = value
            self._attrs[key] = found
        return found

    def counts(self) -> list[tuple[Attrs, int]]:
        """Every count so far, with its attributes."""
        with self._lock:
            counts = list(self._counts.items())
        return [(self._attributes(key), count) for key, count in counts]

    def record(self, event: ev.Event) -> None:
        key = self._key(event)
        counts = self._counts
        with self._lock:
            counts[key] = counts.get(key, 0) + 1
        extra = self._extras.get(type(event))
        if extra is not None:
            extra(event)

    def _named(self, name: str) -> Attrs:
        return {"brace.name": self._names(name)}

    def _limiter_waited(self, event: ev.LimiterWaited) -> None:
        self._instruments.limiter_wait.record(event.waited, self._named(event.name))

    def _rate_limit_waited(self, event: ev.RateLimitWaited) -> None:
        self._instruments.rate_wait.record(event.waited, self._named(event.name))

    def _step(self, event: ev.StepSucceeded | ev.StepFailed) -> None:
        outcome = (
            "succeeded"
            if isinstance(event, ev.StepSucceeded)
            else "cancelled"
            if event.cancelled
            else "failed"
        )
        self._instruments.step_duration.record(
            event.elapsed, {**self._named(event.name), "brace.outcome": outcome}
        )

    def _saga(self, event: ev.SagaFinished) -> None:
        status = "cancelled" if event.cancelled else event.status
        self._instruments.saga_duration.record(
            event.elapsed,
            {**self._named(event.name), "brace.status": self._bound("status")(status)},
        )

    def _circuit(self, event: ev.CircuitStateChanged | ev.CircuitRejected) -> None:
        name = self._names(event.name)
        state = event.new if isinstance(event, ev.CircuitStateChanged) else event.state
        code = CIRCUIT_STATE_VALUES.get(str(state))
        # A gauge for "other" would mix the states of several breakers.
        if code is not None and name != OTHER:
            self.states[name] = code


def recorder(provider: MeterProvider | None, limit: int) -> Recorder:
    """A new installation's recorder, on the instruments of *provider*."""
    # Installations through the global provider share one set of
    # instruments, made through the API's proxy if no provider is set yet:
    # the proxy hands them on to the provider set later.
    key = _GLOBAL if provider is None else provider
    with _instruments_lock:
        instruments = _instruments.get(key)
        if instruments is None:
            instruments = _instruments[key] = _Instruments(provider)
        new = Recorder(instruments, limit)
        instruments.recorders.append(new)
    return new
