"""brace.instrument.prometheus: metrics read back from a real prometheus_client
registry, bounded labels, and clean uninstall."""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import prometheus_client
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

import brace
from _instrument_support import event_classes, sample
from brace import _events
from brace._breaker import CircuitBreaker
from brace._limiter import ConcurrencyLimiter
from brace._ratelimit import RateLimiter
from brace.instrument import Installation
from brace.instrument import prometheus as bprom

pytestmark = pytest.mark.anyio

StepFailed, Saga = _events.StepFailed, _events.SagaFinished
DOCS = Path(__file__).parent.parent / "docs" / "howto" / "observability.md"


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry per test."""
    return CollectorRegistry()


@pytest.fixture
def installed(registry: CollectorRegistry) -> Iterator[Installation]:
    """The adapter installed on the test's registry."""
    with bprom.install(registry) as handle:
        yield handle


def value(reg: CollectorRegistry, name: str, /, **labels: str) -> float | None:
    """One sample of the registry, as a scrape would show it."""
    return reg.get_sample_value(name, labels)


def total(registry: CollectorRegistry) -> float:
    """The sum of every sample value in the registry (a change detector)."""
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    )


def family_names(registry: CollectorRegistry) -> set[str]:
    """The metric names as exposed (counters with their _total suffix)."""
    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in registry.collect()
    }


async def _fail_twice(state: list[int]) -> int:
    state[0] += 1
    if state[0] < 3:
        raise ValueError("transient")
    return state[0]


# -- coverage of the event classes ------------------------------------------------


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize("cls", event_classes(), ids=lambda c: c.__name__)
def test_every_event_class_changes_a_metric(
    registry: CollectorRegistry, cls: type[_events.Event]
) -> None:
    """Each event class in brace._events is counted or observed somewhere."""
    before = total(registry)
    _events.emit(sample(cls))
    assert total(registry) > before, f"{cls.__name__} has no Prometheus metric"


def test_the_docs_list_every_metric(
    registry: CollectorRegistry, installed: Installation
) -> None:
    """The metrics table of the observability how-to names exactly these metrics."""
    for cls in event_classes():
        _events.emit(sample(cls))
    section = DOCS.read_text().split("(prometheus-metrics)=", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(brace_\w+)`", section, flags=re.MULTILINE))
    assert documented == family_names(registry)


# -- the metrics --------------------------------------------------------------------


@pytest.mark.usefixtures("installed")
class TestMetrics:
    """Each event lands in its metric with the documented labels."""

    async def test_retries(self, registry: CollectorRegistry) -> None:
        """Retries count per policy and exception; give-ups per reason."""
        policy = brace.Retry(
            on=ValueError, attempts=3, backoff=brace.Backoff.constant(0)
        )
        fetch = policy(_fail_twice)
        assert await fetch([0]) == 3
        assert await fetch([0]) == 3
        assert (
            value(
                registry,
                "brace_retries_total",
                policy="_fail_twice",
                exception="ValueError",
            )
            == 4
        )
        with pytest.raises(ValueError):
            await brace.Retry(on=ValueError, attempts=2, name="load").call(
                _fail_twice, [-5]
            )
        assert (
            value(
                registry,
                "brace_retry_gave_up_total",
                policy="load",
                reason="attempts",
                exception="ValueError",
            )
            == 1
        )

    async def test_rejected_results_have_an_empty_exception(
        self, registry: CollectorRegistry
    ) -> None:
        """A retry on a returned value counts with exception=""."""
        calls = [0]

        async def poll() -> str:
            calls[0] += 1
            return "pending" if calls[0] < 2 else "done"

        policy = brace.Retry(
            on=OSError,
            attempts=3,
            retry_on_result=lambda r: r == "pending",
            backoff=brace.Backoff.constant(0),
            name="poll",
        )
        assert await policy.call(poll) == "done"
        assert value(registry, "brace_retries_total", policy="poll", exception="") == 1

    async def test_breaker_state_and_transitions(
        self, registry: CollectorRegistry
    ) -> None:
        """The state gauge follows a real breaker; transitions and rejections count."""
        breaker = CircuitBreaker(name="payments", consecutive_failures=2, open_for=5.0)

        async def fail() -> None:
            raise OSError("down")

        async def ok() -> int:
            return 1

        for _ in range(2):
            with pytest.raises(OSError):
                await breaker.call(fail)
        assert value(registry, "brace_circuit_state", breaker="payments") == 1
        with pytest.raises(brace.CircuitOpen):
            await breaker.call(ok)
        assert (
            value(
                registry,
                "brace_circuit_rejected_total",
                breaker="payments",
                state="open",
            )
            == 1
        )
        await anyio.sleep(5)
        assert await breaker.call(ok) == 1
        assert value(registry, "brace_circuit_state", breaker="payments") == 0
        for state, reason in [
            ("open", "consecutive_failures"),
            ("half_open", "open_for_elapsed"),
            ("closed", "probes_succeeded"),
        ]:
            assert (
                value(
                    registry,
                    "brace_circuit_transitions_total",
                    breaker="payments",
                    state=state,
                    reason=reason,
                )
                == 1
            )
        breaker.isolate()
        assert value(registry, "brace_circuit_state", breaker="payments") == 3

    async def test_rate_limiter(self, registry: CollectorRegistry) -> None:
        """Refusals count per limiter; waits are observed with their exact length."""
        limiter = RateLimiter(1, per=2.0, burst=1, name="api")
        assert limiter.try_acquire()
        assert not limiter.try_acquire()
        assert value(registry, "brace_rate_limited_total", limiter="api") == 1
        start = anyio.current_time()
        await limiter.acquire()
        assert anyio.current_time() - start == 2.0
        assert (
            value(registry, "brace_rate_limit_wait_seconds_count", limiter="api") == 1
        )
        assert (
            value(registry, "brace_rate_limit_wait_seconds_sum", limiter="api") == 2.0
        )
        assert (
            value(
                registry,
                "brace_rate_limit_wait_seconds_bucket",
                limiter="api",
                le="2.5",
            )
            == 1
        )
        assert (
            value(
                registry,
                "brace_rate_limit_wait_seconds_bucket",
                limiter="api",
                le="1.0",
            )
            == 0
        )

    async def test_cancelled_waiter_leaves_no_trace(
        self, registry: CollectorRegistry
    ) -> None:
        """A limiter waiter cancelled while waiting is neither observed nor counted."""
        limiter = ConcurrencyLimiter(1, name="db")
        await limiter.acquire()
        with anyio.move_on_after(3) as scope:
            await limiter.acquire()
        assert scope.cancelled_caught
        limiter.release()
        assert value(registry, "brace_limiter_wait_seconds_count", limiter="db") is None
        assert (
            value(
                registry, "brace_limiter_rejected_total", limiter="db", reason="no_slot"
            )
            is None
        )

    @pytest.mark.parametrize(
        ("event", "metric", "labels"),
        [
            (
                brace.TimeoutFired(name="t", timeout=1),
                "timeouts_total",
                {"policy": "t"},
            ),
            (
                brace.TokenCancelled(name="k", reason=1),
                "token_cancellations_total",
                {"token": "k"},
            ),
            (
                brace.LimiterRejected(
                    name="l", reason="evicted", max_concurrent=1, waiting=1
                ),
                "limiter_rejected_total",
                {"limiter": "l", "reason": "evicted"},
            ),
            (
                brace.LimiterWaited(name="l", waited=0.5),
                "limiter_wait_seconds_sum",
                {"limiter": "l"},
            ),
            (
                brace.QueueItemDropped(name="q", item=1, overflow="drop_oldest"),
                "queue_dropped_total",
                {"queue": "q", "overflow": "drop_oldest"},
            ),
            (
                brace.QueuePutRejected(name="q", maxsize=1),
                "queue_rejected_total",
                {"queue": "q"},
            ),
            (
                _events.CircuitWouldOpen(
                    name="b",
                    reason="failure_rate",
                    failure_rate=1,
                    slow_call_rate=0,
                    calls=3,
                ),
                "circuit_would_open_total",
                {"breaker": "b", "reason": "failure_rate"},
            ),
            (
                _events.RetryBudgetExhausted(name="budget", cost=1, available=0),
                "retry_budget_exhausted_total",
                {"budget": "budget"},
            ),
            (
                _events.FallbackUsed(name="f", error=KeyError("k")),
                "fallbacks_total",
                {"policy": "f", "exception": "KeyError"},
            ),
            (
                _events.HedgeStarted(name="h", attempt=2, reason="delay", delay=0.1),
                "hedges_total",
                {"policy": "h", "reason": "delay"},
            ),
            (
                _events.HedgeWon(name="h", attempt=1, attempts=2, elapsed=0.2),
                "hedge_wins_total",
                {"policy": "h", "winner": "primary"},
            ),
            (
                _events.HedgeWon(name="h", attempt=2, attempts=2, elapsed=0.2),
                "hedge_wins_total",
                {"policy": "h", "winner": "hedge"},
            ),
            (
                _events.CacheEvicted(name="c", key="k", reason="expired"),
                "cache_evictions_total",
                {"cache": "c", "reason": "expired"},
            ),
            (
                _events.CacheRefreshFailed(name="c", key="k", error=OSError()),
                "cache_refresh_failures_total",
                {"cache": "c", "exception": "OSError"},
            ),
            (
                _events.ChaosInjected(name="x", kind="latency", latency=0.5),
                "chaos_injections_total",
                {"policy": "x", "kind": "latency"},
            ),
            (
                _events.RegistryEvicted(name="r", key=1, entry=2, reason="idle_ttl"),
                "registry_evictions_total",
                {"registry": "r", "reason": "idle_ttl"},
            ),
            (_events.StepStarted(name="s"), "steps_started_total", {"step": "s"}),
            (
                _events.StepSucceeded(name="s", elapsed=0.5),
                "step_duration_seconds_sum",
                {"step": "s", "outcome": "succeeded"},
            ),
            (
                _events.StepFailed(name="s", error=OSError(), elapsed=0.5),
                "step_duration_seconds_sum",
                {"step": "s", "outcome": "failed"},
            ),
            (
                StepFailed(name="s", error=OSError(), elapsed=0.5, cancelled=True),
                "step_duration_seconds_sum",
                {"step": "s", "outcome": "cancelled"},
            ),
            (
                _events.SagaFinished(name="g", status="compensated", elapsed=0.5),
                "saga_duration_seconds_sum",
                {"saga": "g", "status": "compensated"},
            ),
            (
                Saga(name="g", status="compensated", elapsed=0.5, cancelled=True),
                "saga_duration_seconds_sum",
                {"saga": "g", "status": "cancelled"},
            ),
        ],
        ids=lambda v: type(v).__name__ if isinstance(v, _events.Event) else "",
    )
    def test_event_to_metric(
        self,
        registry: CollectorRegistry,
        event: _events.Event,
        metric: str,
        labels: dict[str, str],
    ) -> None:
        """Each event increments (or observes into) its metric with these labels."""
        _events.emit(event)
        _events.emit(event)
        # Every duration in the table is 0.5 s: two of them sum to 1.0.
        expected = 1.0 if metric.endswith("_sum") else 2
        assert value(registry, "brace_" + metric, **labels) == expected


def test_unknown_event_classes_are_ignored(
    registry: CollectorRegistry, installed: Installation
) -> None:
    """An event class with no metric (a user's own) changes nothing, raises nothing."""
    import attrs

    @attrs.frozen(kw_only=True)
    class Custom(_events.Event):
        pass

    before = total(registry)
    _events.emit(Custom(name="c"))
    assert total(registry) == before


# -- bounded labels -----------------------------------------------------------------


def test_label_values_are_bounded(registry: CollectorRegistry) -> None:
    """Past max_label_values, new values of a label count under "other"."""
    with bprom.install(registry, max_label_values=2):
        for name in ["a", "b", "c", "d", "a"]:
            _events.emit(brace.TimeoutFired(name=name, timeout=1))
        # "policy" is bounded across metrics, "exception" on its own.
        for error in [KeyError(), OSError(), ValueError()]:
            _events.emit(
                brace.RetryScheduled(name="a", attempt=1, delay=0, error=error)
            )
        _events.emit(
            brace.RetryScheduled(name="z", attempt=1, delay=0, error=KeyError())
        )
        # Another label name has its own allowance.
        for name in ["x", "y", "w"]:
            _events.emit(brace.QueuePutRejected(name=name, maxsize=1))
        assert value(registry, "brace_timeouts_total", policy="a") == 2
        assert value(registry, "brace_timeouts_total", policy="b") == 1
        assert value(registry, "brace_timeouts_total", policy="other") == 2
        retries = "brace_retries_total"
        assert value(registry, retries, policy="a", exception="KeyError") == 1
        assert value(registry, retries, policy="a", exception="OSError") == 1
        assert value(registry, retries, policy="a", exception="other") == 1
        assert value(registry, retries, policy="other", exception="KeyError") == 1
        assert value(registry, "brace_queue_rejected_total", queue="y") == 1
        assert value(registry, "brace_queue_rejected_total", queue="other") == 1
        series = [
            s
            for family in registry.collect()
            for s in family.samples
            if s.name == "brace_timeouts_total"
        ]
        assert len(series) == 3


ERRORS = [KeyError, OSError, ValueError, TypeError, LookupError]


def _admit(seen: list[str], value: str, limit: int) -> str:
    """The reference model of a bounded label: the first *limit* values."""
    if value in seen:
        return value
    if len(seen) < limit:
        seen.append(value)
        return value
    return "other"


@settings(max_examples=25, deadline=None)
@given(
    limit=st.integers(1, 4),
    calls=st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from(ERRORS)), max_size=30
    ),
)
def test_counts_match_a_model(
    limit: int, calls: list[tuple[str, type[Exception]]]
) -> None:
    """For any sequence of retries, the series are those of a simple model."""
    registry = CollectorRegistry()
    expected: collections.Counter[tuple[str, str]] = collections.Counter()
    names: list[str] = []
    errors: list[str] = []
    with bprom.install(registry, max_label_values=limit):
        for name, error in calls:
            _events.emit(
                brace.RetryScheduled(name=name, attempt=1, delay=0, error=error())
            )
            policy = _admit(names, name, limit)
            expected[policy, _admit(errors, error.__name__, limit)] += 1
        got = {
            (s.labels["policy"], s.labels["exception"]): s.value
            for family in registry.collect()
            for s in family.samples
            if s.name == "brace_retries_total"
        }
    assert got == dict(expected)


def test_counts_from_many_threads(
    registry: CollectorRegistry, installed: Installation
) -> None:
    """Events emitted from several threads at once are all counted."""
    names = ["a", "b", "c", "d"]

    def emit_many(name: str) -> None:
        for i in range(1000):
            _events.emit(brace.TimeoutFired(name=names[i % 4], timeout=1))

    threads = [threading.Thread(target=emit_many, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in names:
        assert value(registry, "brace_timeouts_total", policy=name) == 1000


# -- install, close, options -------------------------------------------------------


def test_close_unregisters_and_stops(registry: CollectorRegistry) -> None:
    """Closing removes the metrics; events after it count nowhere; reinstall works."""
    handle = bprom.install(registry)
    _events.emit(brace.TimeoutFired(name="t", timeout=1))
    assert value(registry, "brace_timeouts_total", policy="t") == 1
    handle.close()
    assert family_names(registry) == set()
    _events.emit(brace.TimeoutFired(name="t", timeout=1))
    with bprom.install(registry):
        assert value(registry, "brace_timeouts_total", policy="t") is None
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
        assert value(registry, "brace_timeouts_total", policy="t") == 1


def test_second_install_on_one_registry_is_refused(
    registry: CollectorRegistry, installed: Installation
) -> None:
    """A second install on one registry raises a clear error; the first still works."""
    with pytest.raises(ValueError, match="Close the other installation"):
        bprom.install(registry)
    _events.emit(brace.TimeoutFired(name="t", timeout=1))
    assert value(registry, "brace_timeouts_total", policy="t") == 1
    with bprom.install(registry, namespace="other"):
        _events.emit(brace.TimeoutFired(name="t", timeout=1))
        assert value(registry, "other_timeouts_total", policy="t") == 1
    assert value(registry, "brace_timeouts_total", policy="t") == 2


def test_default_registry() -> None:
    """Without registry=, the metrics go to prometheus_client.REGISTRY."""
    with bprom.install():
        _events.emit(brace.TimeoutFired(name="default-registry", timeout=1))
        assert (
            prometheus_client.REGISTRY.get_sample_value(
                "brace_timeouts_total", {"policy": "default-registry"}
            )
            == 1
        )
    assert (
        prometheus_client.REGISTRY.get_sample_value(
            "brace_timeouts_total", {"policy": "default-registry"}
        )
        is None
    )


def test_custom_buckets(registry: CollectorRegistry) -> None:
    """buckets= sets the histogram buckets."""
    with bprom.install(registry, buckets=[1, 10]):
        _events.emit(brace.LimiterWaited(name="l", waited=5.0))
        bucket = "brace_limiter_wait_seconds_bucket"
        assert value(registry, bucket, limiter="l", le="1.0") == 0
        assert value(registry, bucket, limiter="l", le="10.0") == 1
        assert value(registry, bucket, limiter="l", le="+Inf") == 1


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"registry": object()}, TypeError, "CollectorRegistry"),
        ({"namespace": ""}, ValueError, "namespace"),
        ({"namespace": "9lives"}, ValueError, "namespace"),
        ({"namespace": "a-b"}, ValueError, "namespace"),
        ({"namespace": None}, ValueError, "namespace"),
        ({"max_label_values": 0}, ValueError, "max_label_values"),
        ({"max_label_values": True}, ValueError, "max_label_values"),
        ({"max_label_values": "10"}, ValueError, "max_label_values"),
        ({"buckets": []}, ValueError, "buckets"),
        ({"buckets": [2, 1]}, ValueError, "increasing"),
        ({"buckets": [1, 1]}, ValueError, "increasing"),
        ({"buckets": ["1"]}, ValueError, "buckets"),
        ({"buckets": [float("nan")]}, ValueError, "buckets"),
        ({"buckets": 1.0}, ValueError, "buckets"),
    ],
)
def test_bad_options(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    """Bad options fail at install() with a message that says what to pass."""
    options.setdefault("registry", CollectorRegistry())
    with pytest.raises(error, match=match):
        bprom.install(**options)
    assert not _events.subscribers


def test_other_registration_errors_pass_through(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ValueError that is not a duplicate is not mistaken for one."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("something else")

    monkeypatch.setattr(prometheus_client.Gauge, "__init__", broken)
    with pytest.raises(ValueError, match="something else"):
        bprom.install(registry)
    # The metrics registered before the failure were unregistered again.
    assert family_names(registry) == set()
