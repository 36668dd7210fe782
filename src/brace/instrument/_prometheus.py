"""brace events as Prometheus metrics, through prometheus_client."""

from __future__ import annotations

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
except ImportError as exc:
    msg = (
        "brace.instrument.prometheus needs prometheus_client: "
        'pip install "brace[prometheus]"'
    )
    raise ImportError(msg, name=exc.name) from exc

import functools
import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from brace import _events as ev
from brace._time import check_count

from ._bounded import LabelValues
from ._installation import Installation
from ._names import exception_type

__all__ = ["CIRCUIT_STATE_VALUES", "install"]

CIRCUIT_STATE_VALUES = {"closed": 0, "open": 1, "half_open": 2, "isolated": 3}
"""The value of ``brace_circuit_state`` for each breaker state."""

_NAMESPACE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")

Metric = Counter | Gauge | Histogram
Handler = Callable[[Any], None]


class _Adapter:
    """The metrics of one installation, and how each event updates them."""

    def __init__(
        self,
        registry: CollectorRegistry,
        namespace: str,
        max_label_values: int,
        buckets: Sequence[float],
    ) -> None:
        self.registry = registry
        self.namespace = namespace
        self.buckets = buckets
        self.metrics: list[Metric] = []
        self._bounds: dict[str, LabelValues] = {}
        # labels() validates and locks on every call, a dict lookup does not:
        # each metric keeps its children (see _metric).
        self._limit = max_label_values
        try:
            self.handlers = self._build()
        except ValueError as exc:
            self.unregister()
            if "Duplicated" not in str(exc):
                raise
            msg = (
                f"cannot register brace's metrics on {registry!r}: {exc}. Are "
                "they installed already? Close the other installation first, "
                "or pass another registry= or namespace=."
            )
            raise ValueError(msg) from exc

    def unregister(self) -> None:
        for metric in self.metrics:
            self.registry.unregister(metric)
        self.metrics.clear()

    def _bound(self, label: str) -> LabelValues:
        bound = self._bounds.get(label)
        if bound is None:
            bound = self._bounds[label] = LabelValues(self._limit)
        return bound

    def _metric(
        self, kind: type[Metric], name: str, doc: str, labels: tuple[str, ...]
    ) -> Callable[..., Any]:
        """Register a metric; return a function from label values to its child."""
        options: dict[str, Any] = {}
        if kind is Histogram:
            options["buckets"] = self.buckets
        metric = kind(
            name,
            doc,
            labels,
            namespace=self.namespace,
            registry=self.registry,
            **options,
        )
        self.metrics.append(metric)
        bounds = tuple(self._bound(label) for label in labels)
        # Children by the label values as given. Values that a bound turned
        # into "other" are not cached under their own name (the cache would
        # grow with every new name): they take the slow path each time.
        children: dict[tuple[str, ...], Any] = {}
        bounded_children: dict[tuple[str, ...], Any] = {}

        def slow(values: tuple[str, ...]) -> Any:
            bounded = tuple(
                bound(value) for bound, value in zip(bounds, values, strict=True)
            )
            found = bounded_children.get(bounded)
            if found is None:
                found = bounded_children[bounded] = metric.labels(*bounded)
            if bounded == values:
                children[values] = found
            return found

        def child(*values: str) -> Any:
            found = children.get(values)
            return slow(values) if found is None else found

        return child

    def _build(self) -> dict[type[ev.Event], Handler]:
        counter = functools.partial(self._metric, Counter)
        gauge = functools.partial(self._metric, Gauge)
        histogram = functools.partial(self._metric, Histogram)
        retries = counter(
            "retries_total",
            "Failed attempts that a retry policy retried.",
            ("policy", "exception"),
        )
        gave_up = counter(
            "retry_gave_up_total",
            "Calls whose retry policy stopped retrying and let the outcome through.",
            ("policy", "reason", "exception"),
        )
        budget = counter(
            "retry_budget_exhausted_total",
            "Retries refused by a retry budget or quota.",
            ("budget",),
        )
        timeouts = counter("timeouts_total", "Timeouts that expired.", ("policy",))
        cancellations = counter(
            "token_cancellations_total", "Cancel tokens cancelled.", ("token",)
        )
        limiter_rejected = counter(
            "limiter_rejected_total",
            "Calls a concurrency limiter turned away with LimiterFull.",
            ("limiter", "reason"),
        )
        limiter_wait = histogram(
            "limiter_wait_seconds",
            "Seconds that calls waited for a concurrency limiter slot.",
            ("limiter",),
        )
        dropped = counter(
            "queue_dropped_total",
            "Items a bounded queue dropped by its overflow rule.",
            ("queue", "overflow"),
        )
        queue_rejected = counter(
            "queue_rejected_total",
            "Puts a full bounded queue refused with QueueFull.",
            ("queue",),
        )
        rate_limited = counter(
            "rate_limited_total",
            "Requests a rate limiter refused (RateLimited, or try_acquire() False).",
            ("limiter",),
        )
        rate_wait = histogram(
            "rate_limit_wait_seconds",
            "Seconds that requests waited for rate limiter capacity.",
            ("limiter",),
        )
        state = gauge(
            "circuit_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half_open, 3 isolated.",
            ("breaker",),
        )
        transitions = counter(
            "circuit_transitions_total",
            "Circuit breaker state changes, by the state entered.",
            ("breaker", "state", "reason"),
        )
        circuit_rejected = counter(
            "circuit_rejected_total",
            "Calls a circuit breaker failed fast with CircuitOpen.",
            ("breaker", "state"),
        )
        would_open = counter(
            "circuit_would_open_total",
            "Times a force_closed breaker's rule fired (it would have opened).",
            ("breaker", "reason"),
        )
        fallbacks = counter(
            "fallbacks_total",
            "Failures that a fallback replaced.",
            ("policy", "exception"),
        )
        hedges = counter(
            "hedges_total", "Hedged attempts started.", ("policy", "reason")
        )
        hedge_wins = counter(
            "hedge_wins_total",
            "Hedged calls by the attempt that won: the primary or a hedge.",
            ("policy", "winner"),
        )
        evictions = counter(
            "cache_evictions_total",
            "Cache entries evicted (size) or expired.",
            ("cache", "reason"),
        )
        refresh_failures = counter(
            "cache_refresh_failures_total",
            "Background cache refreshes that failed.",
            ("cache", "exception"),
        )
        chaos = counter(
            "chaos_injections_total",
            "Faults, latencies and results injected by chaos policies.",
            ("policy", "kind"),
        )
        registry_evictions = counter(
            "registry_evictions_total",
            "Registry entries dropped to stay within bounds.",
            ("registry", "reason"),
        )
        steps_started = counter("steps_started_total", "Steps started.", ("step",))
        step_duration = histogram(
            "step_duration_seconds",
            "Seconds from the start of a step to its outcome, retries included.",
            ("step", "outcome"),
        )
        saga_duration = histogram(
            "saga_duration_seconds",
            "Seconds from the start of a saga run to its end, compensations included.",
            ("saga", "status"),
        )

        def error_name(error: BaseException | None) -> str:
            return "" if error is None else exception_type(error)

        def step_outcome(e: ev.StepFailed) -> None:
            outcome = "cancelled" if e.cancelled else "failed"
            step_duration(e.name, outcome).observe(e.elapsed)

        def set_state(name: str, value: str) -> None:
            code = CIRCUIT_STATE_VALUES.get(value)
            if code is not None:
                state(name).set(code)

        def circuit_changed(e: ev.CircuitStateChanged) -> None:
            set_state(e.name, str(e.new))
            transitions(e.name, str(e.new), e.reason).inc()

        def circuit_rejected_call(e: ev.CircuitRejected) -> None:
            set_state(e.name, str(e.state))
            circuit_rejected(e.name, str(e.state)).inc()

        def saga(e: ev.SagaFinished) -> None:
            status = "cancelled" if e.cancelled else e.status
            saga_duration(e.name, status).observe(e.elapsed)

        handlers: dict[type[ev.Event], Handler] = {
            ev.RetryScheduled: lambda e: retries(
                e.name, "" if e.error is None else type(e.error).__qualname__
            ).inc(),
            ev.RetryGaveUp: lambda e: gave_up(
                e.name, e.reason, error_name(e.error)
            ).inc(),
            ev.RetryBudgetExhausted: lambda e: budget(e.name).inc(),
            ev.TimeoutFired: lambda e: timeouts(e.name).inc(),
            ev.TokenCancelled: lambda e: cancellations(e.name).inc(),
            ev.LimiterRejected: lambda e: limiter_rejected(e.name, e.reason).inc(),
            ev.LimiterWaited: lambda e: limiter_wait(e.name).observe(e.waited),
            ev.QueueItemDropped: lambda e: dropped(e.name, e.overflow).inc(),
            ev.QueuePutRejected: lambda e: queue_rejected(e.name).inc(),
            ev.RateLimitRejected: lambda e: rate_limited(e.name).inc(),
            ev.RateLimitWaited: lambda e: rate_wait(e.name).observe(e.waited),
            ev.CircuitStateChanged: circuit_changed,
            ev.CircuitRejected: circuit_rejected_call,
            ev.CircuitWouldOpen: lambda e: would_open(e.name, e.reason).inc(),
            ev.FallbackUsed: lambda e: fallbacks(e.name, error_name(e.error)).inc(),
            ev.HedgeStarted: lambda e: hedges(e.name, e.reason).inc(),
            ev.HedgeWon: lambda e: hedge_wins(
                e.name, "primary" if e.attempt == 1 else "hedge"
            ).inc(),
            ev.CacheEvicted: lambda e: evictions(e.name, e.reason).inc(),
            ev.CacheRefreshFailed: lambda e: refresh_failures(
                e.name, error_name(e.error)
            ).inc(),
            ev.ChaosInjected: lambda e: chaos(e.name, e.kind).inc(),
            ev.RegistryEvicted: lambda e: registry_evictions(e.name, e.reason).inc(),
            ev.StepStarted: lambda e: steps_started(e.name).inc(),
            ev.StepSucceeded: lambda e: step_duration(e.name, "succeeded").observe(
                e.elapsed
            ),
            ev.StepFailed: step_outcome,
            ev.SagaFinished: saga,
        }
        return handlers

    def on_event(self, event: ev.Event) -> None:
        handler = self.handlers.get(type(event))
        if handler is not None:
            handler(event)


def _buckets(value: Sequence[float]) -> tuple[float, ...]:
    checked: object = value
    bounds = tuple(checked) if isinstance(checked, list | tuple) else ()
    numbers = all(
        isinstance(b, int | float) and not isinstance(b, bool) and not math.isnan(b)
        for b in bounds
    )
    if not bounds or not numbers or any(a >= b for a, b in itertools.pairwise(bounds)):
        msg = (
            "buckets must be a non-empty list or tuple of increasing numbers "
            f"(seconds), not {value!r}"
        )
        raise ValueError(msg)
    return tuple(float(b) for b in bounds)


def install(
    registry: CollectorRegistry | None = None,
    *,
    namespace: str = "brace",
    max_label_values: int = 100,
    buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS,
) -> Installation:
    """Count brace's events in Prometheus metrics.

    Registers counters, histograms and a gauge with stable names, such as
    ``brace_retries_total{policy, exception}``,
    ``brace_circuit_state{breaker}`` and
    ``brace_rate_limited_total{limiter}``, listed in
    :ref:`prometheus-metrics`, and updates them from brace's events.

    Label cardinality is bounded: each label (``policy``, ``breaker``,
    ``exception``...) takes at most *max_label_values* distinct values;
    the values that come after that are counted under ``"other"``. The
    ``policy``, ``breaker``, ... label is the event's ``name``: give your
    policies and resources a ``name=`` so that their series are named after
    what they protect rather than after each decorated function.

    Args:
        registry: Where to register the metrics; ``None`` for
            ``prometheus_client.REGISTRY``, the one that
            ``prometheus_client.start_http_server()`` serves.
        namespace: The prefix of every metric name.
        max_label_values: How many distinct values each label may take
            before new values become ``"other"``; an int >= 1.
        buckets: The buckets of the histograms, in seconds.

    Returns:
        The :class:`~brace.instrument.Installation`; closing it stops
        counting and unregisters the metrics.

    Raises:
        TypeError: *registry* is not a ``CollectorRegistry``.
        ValueError: *namespace* is not a valid metric name prefix,
            *max_label_values* is not an int >= 1, the *buckets* are not
            increasing, or the metrics are registered in *registry* already
            (by an installation that was not closed).

    .. versionadded:: 0.1
    """
    checked: object = registry
    if registry is None:
        registry = prometheus_client.REGISTRY
    elif not isinstance(checked, CollectorRegistry):
        msg = (
            f"registry must be a prometheus_client.CollectorRegistry, not {registry!r}"
        )
        raise TypeError(msg)
    prefix: object = namespace
    if not isinstance(prefix, str) or not _NAMESPACE.match(prefix):
        msg = (
            "namespace must be a Prometheus metric name prefix (letters, "
            f"digits, '_' and ':', not starting with a digit), not {namespace!r}"
        )
        raise ValueError(msg)
    check_count(max_label_values, "max_label_values")
    adapter = _Adapter(registry, namespace, max_label_values, _buckets(buckets))
    return Installation(
        "prometheus", ev.subscribe(adapter.on_event), cleanup=adapter.unregister
    )
