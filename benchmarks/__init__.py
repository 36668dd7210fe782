"""Overhead benchmarks of brace against hand-written code and its peers.

Run them with ``python -m benchmarks`` (``--help`` for the options). Every row
of a scenario is timed in one process and one running event loop, with the
repetitions interleaved round-robin so that machine noise hits all rows alike;
the report gives the median nanoseconds per call and ratios. The runner
reports, it never asserts timings.

Adding a scenario: write a function that returns its rows and decorate it with
:func:`benchmarks.registry.scenario`, in a module of
``benchmarks/scenarios/`` that ``benchmarks/scenarios/__init__.py`` imports::

    @scenario("cache_hit", title="...", baseline="bare", targets=(...))
    def cache_hit() -> list[Row | Skip]:
        return [Row("bare", "await f(x)", repeat(f, 1), expect=1), ...]
"""
