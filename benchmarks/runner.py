"""Timing, interleaving and reporting.

Method, in one process and one running event loop:

1. Every row is checked once (``await batch(1)`` must return what the row
   expects), then calibrated: the number of calls per batch, N, is chosen so
   that one batch takes about ``batch_ms``. Calibration doubles as warm-up.
2. Repetitions are interleaved round-robin: repetition 1 of every row, then
   repetition 2 of every row, and so on (the starting row rotates), so that
   noise from the machine hits all rows alike.
3. One repetition of a row is one batch: ``time.perf_counter_ns()`` around N
   awaited calls made one after the other in the running task; the sample is
   the elapsed time divided by N. The thread's CPU time
   (``time.thread_time_ns()``) over the same batch is kept as a cross-check.
4. The report gives, per row, the median of the samples, and ratios of
   medians. Nothing is asserted about timings.

Between batches the runner yields to the loop once (``asyncio.sleep(0)``),
outside the timed region, so the loop can drop cancelled timer handles. The
garbage collector stays on; everything built before timing is moved out of
its reach (``gc.freeze()``) so that full collections do not scan the
libraries' own objects, and a collection runs between rounds.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from benchmarks.registry import UNCHECKED, Row, Scenario, Skip

__all__ = [
    "FULL",
    "QUICK",
    "RowResult",
    "ScenarioResult",
    "Settings",
    "environment",
    "markdown",
    "run_all",
    "to_json",
]

PEERS = ("brace", "tenacity", "stamina", "backoff", "hyx", "anyio", "uvloop")


@dataclass(frozen=True)
class Settings:
    """How long to measure.

    Attributes:
        reps: Repetitions (batches) per row; the median is over these.
        batch_ms: Target duration of one batch, in milliseconds.
        max_calls: Cap on calls per batch.
    """

    reps: int
    batch_ms: float
    max_calls: int = 1_000_000


FULL = Settings(reps=51, batch_ms=50.0)
QUICK = Settings(reps=5, batch_ms=5.0)


@dataclass
class RowResult:
    """The samples of one row, in ns per call.

    *samples* are wall-clock (the measure); *cpu_samples* the thread's CPU
    time over the same batches, a cross-check that is immune to the process
    being descheduled by other work on the machine.
    """

    row: Row
    calls: int = 0
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_samples)

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as a percentage of the median (spread)."""
        if len(self.samples) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return 100.0 * (q3 - q1) / self.median

    def details(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "cpu_median": self.cpu_median,
            "min": min(self.samples),
            "max": max(self.samples),
            "iqr_pct": self.iqr_pct,
            "calls_per_batch": self.calls,
            "reps": len(self.samples),
        }


@dataclass
class ScenarioResult:
    """The rows of one scenario, measured together."""

    scenario: Scenario
    rows: list[RowResult]
    skipped: list[Skip]

    @property
    def medians(self) -> dict[str, float]:
        return {r.row.name: r.median for r in self.rows}

    def targets(self) -> list[dict[str, Any]]:
        medians = self.medians
        out: list[dict[str, Any]] = []
        for target in self.scenario.targets:
            ratio = target.measure(medians)
            out.append(
                {
                    "target": target.label,
                    "ratio": ratio,
                    "met": None if ratio is None else target.met(ratio),
                }
            )
        return out


Log = Callable[[str], None]


def _around(row: Row) -> Any:
    return row.around() if row.around is not None else nullcontext()


async def _timed(row: Row, calls: int) -> tuple[int, int]:
    """Wall-clock and thread CPU nanoseconds that one batch of *calls* takes."""
    await asyncio.sleep(0)
    with _around(row):
        cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        await row.batch(calls)
        wall = time.perf_counter_ns() - start
        return wall, time.thread_time_ns() - cpu


async def _check(row: Row) -> None:
    with _around(row):
        result = await row.batch(1)
    if row.expect is not UNCHECKED and result != row.expect:
        msg = f"row {row.name!r} returned {result!r}, expected {row.expect!r}"
        raise AssertionError(msg)
    if row.check is not None:
        await row.check()


async def _calibrate(row: Row, settings: Settings) -> int:
    """Calls per batch so that one batch takes about ``settings.batch_ms``."""
    goal = settings.batch_ms * 1e6
    calls = 1
    while True:
        elapsed, _ = await _timed(row, calls)
        if elapsed >= goal / 5 or calls >= settings.max_calls:
            break
        grow = goal / 5 / elapsed if elapsed > 0 else 10.0
        calls = min(settings.max_calls, max(calls * 2, int(calls * grow)))
    calls = max(1, min(settings.max_calls, round(goal * calls / elapsed)))
    await _timed(row, calls)  # warm-up at the final size
    return calls


async def run_scenario(
    scenario: Scenario, settings: Settings, log: Log
) -> ScenarioResult:
    """Check, calibrate, then time every row of *scenario*, interleaved."""
    built = scenario.build()
    rows = [RowResult(r) for r in built if isinstance(r, Row)]
    skipped = [r for r in built if isinstance(r, Skip)]
    for skip in skipped:
        log(f"{scenario.name}: skipping {skip.name}: {skip.reason}")
    for result in rows:
        await _check(result.row)
    for result in rows:
        result.calls = await _calibrate(result.row, settings)
    log(
        f"{scenario.name}: "
        + ", ".join(f"{r.row.name} N={r.calls:,}" for r in rows)
        + f"; {settings.reps} reps"
    )
    gc.collect()
    gc.freeze()
    try:
        for rep in range(settings.reps):
            shift = rep % len(rows)
            for result in rows[shift:] + rows[:shift]:
                wall, cpu = await _timed(result.row, result.calls)
                result.samples.append(wall / result.calls)
                result.cpu_samples.append(cpu / result.calls)
            gc.collect()
    finally:
        gc.unfreeze()
    return ScenarioResult(scenario, rows, skipped)


async def run_all(
    scenarios: Iterable[Scenario], settings: Settings, log: Log
) -> list[ScenarioResult]:
    return [await run_scenario(s, settings, log) for s in scenarios]


# -- environment -------------------------------------------------------------


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in PEERS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _cpu_model() -> str:
    """The CPU model name (``platform.processor()`` is empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor()


def environment(loop: str, settings: Settings) -> dict[str, Any]:
    """The machine, interpreter, loop and library versions of this run."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "loop": loop,
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "loadavg": load,
        },
        "versions": _versions(),
        "settings": {"reps": settings.reps, "batch_ms": settings.batch_ms},
        "argv": sys.argv[1:],
    }


# -- reports -----------------------------------------------------------------


def _ns(value: float) -> str:
    return f"{value:,.0f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:,.1f}x"


def _scenario_markdown(result: ScenarioResult) -> list[str]:
    sc = result.scenario
    medians = result.medians
    base = medians.get(sc.baseline)
    ref = medians.get(sc.reference) if sc.reference is not None else None
    head = [
        "row",
        "code",
        "ns/call",
        "CPU ns/call",
        f"x {sc.baseline}",
        f"+ns vs {sc.baseline}",
    ]
    if ref is not None:
        head.append(f"x {sc.reference}")
    head += ["IQR %", "N/batch"]
    lines = [
        f"## {sc.name}",
        "",
        sc.title + ".",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i < 2 else "--:" for i in range(len(head))) + "|",
    ]
    for r in result.rows:
        cells = [f"`{r.row.name}`", r.row.what, _ns(r.median), _ns(r.cpu_median)]
        if base is not None:
            cells += [_ratio(r.median / base), f"{r.median - base:+,.0f}"]
        else:
            cells += ["n/a", "n/a"]
        if ref is not None:
            cells.append(_ratio(r.median / ref))
        cells += [f"{r.iqr_pct:.0f}", f"{r.calls:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"\nSkipped `{skip.name}`: {skip.reason}." for skip in result.skipped]
    targets = result.targets()
    if targets:
        lines += ["", "| target | measured | status |", "|---|--:|---|"]
        for t in targets:
            if t["ratio"] is None:
                lines.append(f"| {t['target']} | n/a | row skipped |")
            else:
                status = "met" if t["met"] else "**not met**"
                lines.append(f"| {t['target']} | {_ratio(t['ratio'])} | {status} |")
    if sc.notes is not None:
        notes = sc.notes(medians)
        if notes:
            lines += ["", *notes]
    lines.append("")
    return lines


def markdown(results: list[ScenarioResult], env: dict[str, Any]) -> str:
    """The report as markdown."""
    machine = env["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = [
        "# brace benchmarks",
        "",
        (
            f"{env['implementation']} {env['python']} on {machine['platform']}, "
            f"{machine['cpu_count']} CPUs ({machine['processor'] or 'unknown'}); "
            f"loop: {env['loop']}; "
            f"{env['settings']['reps']} interleaved reps of ~"
            f"{env['settings']['batch_ms']:g} ms batches; load average "
            f"{machine['loadavg']}."
        ),
        "",
        f"Versions: {versions}.",
        "",
        (
            "ns/call is the median over repetitions; ratios divide medians; "
            "CPU ns/call is the median thread CPU time over the same batches "
            "(a cross-check immune to descheduling); "
            "IQR % is the interquartile range of the repetitions over the median."
        ),
        "",
    ]
    for result in results:
        lines += _scenario_markdown(result)
    return "\n".join(lines)


def to_json(results: list[ScenarioResult], env: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-able data; ``scenarios`` maps scenario -> row -> ns."""
    return {
        **env,
        "scenarios": {
            r.scenario.name: {row.row.name: float(row.median) for row in r.rows}
            for r in results
        },
        "details": {
            r.scenario.name: {row.row.name: row.details() for row in r.rows}
            for r in results
        },
        "targets": {r.scenario.name: r.targets() for r in results},
        "skipped": {
            r.scenario.name: {s.name: s.reason for s in r.skipped}
            for r in results
            if r.skipped
        },
    }
