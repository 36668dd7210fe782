"""The scenarios; importing this package registers them all, in report order.

To add a family, create a module here whose row builders use
:func:`benchmarks.registry.scenario`, and import it below.
"""

from benchmarks.scenarios import events, limiter, queue, ratelimit, retry, timeout

__all__ = ["events", "limiter", "queue", "ratelimit", "retry", "timeout"]
