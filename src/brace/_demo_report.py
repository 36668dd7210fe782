"""What ``python -m brace demo`` shows: a live progress line and the final table.

Nothing here knows about HTTP: :class:`RunStats` is filled in by the runs in
:mod:`._demo_http`, :class:`Progress` draws one line per run as requests
complete, and :func:`table` sets the runs side by side. Output goes to a
text stream through ``write`` only, so that a test can capture it in a
:class:`io.StringIO`.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence
from typing import TextIO

import attrs

__all__ = ["Progress", "RunStats", "failure_lines", "percentile", "table"]


@attrs.define
class RunStats:
    """What one client's run did, counted as it went.

    ``None`` marks what a client does not have at all (the plain httpx
    client has no breaker, rate limiter or cache), shown as ``-``.
    """

    label: str
    succeeded: int = 0
    latencies: list[float] = attrs.Factory(list)
    failures: collections.Counter[str] = attrs.Factory(collections.Counter)
    sent: int = 0
    retries: int = 0
    too_many: int = 0
    transitions: int | None = None
    opened: int = 0
    breaker_waits: int | None = None
    rate_waits: int | None = None
    rate_waited: float = 0.0
    cache_hits: int | None = None
    cache_misses: int = 0
    elapsed: float = 0.0

    @property
    def done(self) -> int:
        """Requests completed, successfully or not."""
        return len(self.latencies)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of *values* (sorted or not); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _ratio(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:.1f} %"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value * 1000:.0f} ms"


def _rows(stats: RunStats) -> list[str]:
    transitions = "-"
    if stats.transitions is not None:
        transitions = str(stats.transitions)
        if stats.opened:
            transitions += f" (opened {stats.opened}x)"
    rate_waits = "-"
    if stats.rate_waits is not None:
        rate_waits = f"{stats.rate_waits} ({stats.rate_waited:.1f} s in all)"
    cache = "-"
    if stats.cache_hits is not None:
        looked_up = stats.cache_hits + stats.cache_misses
        cache = (
            f"{_ratio(stats.cache_hits, looked_up)} ({stats.cache_hits}/{looked_up})"
        )
    return [
        str(stats.done),
        f"{stats.succeeded} ({_ratio(stats.succeeded, stats.done)})",
        _ms(percentile(stats.latencies, 0.5)),
        _ms(percentile(stats.latencies, 0.99)),
        str(stats.sent),
        str(stats.retries),
        str(stats.too_many),
        transitions,
        "-" if stats.breaker_waits is None else str(stats.breaker_waits),
        rate_waits,
        cache,
        f"{stats.elapsed:.2f} s",
    ]


_LABELS = (
    "requests",
    "succeeded",
    "latency p50",
    "latency p99",
    "attempts sent",
    "retries",
    "429s received",
    "breaker transitions",
    "waits for the breaker",
    "rate-limited waits",
    "cache hit rate",
    "wall time",
)


def table(runs: Sequence[RunStats]) -> list[str]:
    """The runs side by side, one column each, one row per measure."""
    columns = [[run.label, *_rows(run)] for run in runs]
    labels = ["", *_LABELS]
    label_width = max(map(len, labels))
    widths = [max(map(len, column)) for column in columns]
    lines = []
    for i, label in enumerate(labels):
        cells = [label.ljust(label_width)]
        cells += [
            column[i].ljust(width)
            for column, width in zip(columns, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in [label_width, *widths]))
    return lines


def failure_lines(runs: Sequence[RunStats]) -> list[str]:
    """Why requests failed, per run, most common reason first."""
    width = max(len(run.label) for run in runs) + 1
    lines = []
    for run in runs:
        reasons = ", ".join(
            f"{reason}: {count}" for reason, count in run.failures.most_common()
        )
        lines.append(f"  {(run.label + ':').ljust(width)} {reasons or 'none'}")
    return lines


class Progress:
    """One live line per run: a bar, requests done, the share that succeeded.

    On a terminal the line is redrawn in place (carriage return) at most
    every *interval* seconds of the loop clock; elsewhere (a pipe, a log
    file, a test) a plain line is printed at each quarter of the run. Notes
    (``note()``) go on lines of their own above the live line. The caller
    reports progress as requests complete and, on a terminal, now and then
    while none do, so that the clock on the line keeps moving.
    """

    def __init__(
        self,
        out: TextIO,
        total: int,
        *,
        tty: bool | None = None,
        interval: float = 0.1,
        width: int = 24,
    ) -> None:
        self._out = out
        self._total = total
        self._tty = _isatty(out) if tty is None else tty
        self._interval = interval
        self._width = width
        self._drawn_at = -math.inf
        self._shown = ""
        self._next_quarter = 1

    @property
    def live(self) -> bool:
        """Whether the line is redrawn in place (on a terminal)."""
        return self._tty

    @property
    def interval(self) -> float:
        """The least time between two redraws of a live line, in seconds."""
        return self._interval

    def _line(self, done: int, succeeded: int, elapsed: float) -> str:
        filled = self._width * done // self._total
        bar = "#" * filled + "." * (self._width - filled)
        digits = len(str(self._total))
        return (
            f"  [{bar}] {done:>{digits}}/{self._total} requests, "
            f"{_ratio(succeeded, done).rjust(7)} ok, {elapsed:5.2f} s"
        )

    def update(self, done: int, succeeded: int, elapsed: float) -> None:
        """Report *done* requests finished, *succeeded* of them successfully."""
        if self._tty:
            if done == self._total or elapsed - self._drawn_at >= self._interval:
                self._drawn_at = elapsed
                self._draw(self._line(done, succeeded, elapsed))
            return
        while self._next_quarter <= 4 and done * 4 >= self._next_quarter * self._total:
            self._next_quarter += 1
            self._out.write(self._line(done, succeeded, elapsed) + "\n")

    def _draw(self, line: str) -> None:
        # Pad with spaces over a longer previous line: no terminal escapes.
        self._out.write("\r" + line.ljust(len(self._shown)))
        self._shown = line
        self._out.flush()

    def note(self, text: str) -> None:
        """Print *text* on a line of its own, above the live line."""
        if not self._tty:
            self._out.write(text + "\n")
            return
        shown = self._shown
        self._out.write("\r" + text.ljust(len(shown)) + "\n" + shown)
        self._out.flush()

    def close(self) -> None:
        """End the live line (on a terminal)."""
        if self._tty and self._shown:
            self._out.write("\n")
            self._shown = ""


def _isatty(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        # Not a real stream, or a closed one: plain lines are the safe choice.
        return False
