"""The scenarios; importing this package registers them all, in report order.

To add a family, create a module here whose row builders use
:func:`benchmarks.registry.scenario`, and import it below.
"""

from benchmarks.scenarios import (
    breaker,
    cache,
    chaos,
    events,
    fallback,
    hedge,
    http,
    instrument,
    limiter,
    pipeline,
    queue,
    ratelimit,
    registry,
    retry,
    steps,
    timeout,
)

__all__ = [
    "breaker",
    "cache",
    "chaos",
    "events",
    "fallback",
    "hedge",
    "http",
    "instrument",
    "limiter",
    "pipeline",
    "queue",
    "ratelimit",
    "registry",
    "retry",
    "steps",
    "timeout",
]
