"""``python -m brace demo``: plain httpx against brace on a flaky local server.

The runs here are short (a few dozen requests) and go over real sockets on
127.0.0.1, on brace's virtual-time loop: the server's latencies, stalls and
outage and the clients' waits take no real time, and since loopback I/O is
ready as soon as it is written, a run is exactly reproducible. (CPU work
takes no virtual time either, so the plain client meets more 429s here
than on a real clock; the invariants below hold on both.) The real-time
runs are marked slow.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from brace import _demo_http, _demo_report
from brace.__main__ import main
from brace._demo_http import run_http_demo
from brace._demo_report import Progress, RunStats, failure_lines, percentile, table
from brace._demo_scenario import Scenario, failure, workload
from brace._errors import CircuitOpen, TimeoutError
from brace._events import RetryScheduled, TimeoutFired
from brace.testing import VirtualTimeEventLoop

SMALL = 30
# A server limit that the plain client (at the virtual clock's infinite
# speed) runs into, and a client-side rate that stays under it.
LIMITED = Scenario(limit=10, client_rate=90.0, burst=1)


def run(
    requests: int = SMALL, seed: int = 1, scenario: Scenario | None = None
) -> tuple[str, list[RunStats]]:
    out = io.StringIO()
    runs = run_http_demo(
        requests=requests,
        seed=seed,
        scenario=scenario,
        out=out,
        loop_factory=VirtualTimeEventLoop,
    )
    return out.getvalue(), runs


def rows(text: str) -> dict[str, list[str]]:
    """The final table's rows, by measure, split into the two columns."""
    lines = text.split("\n\n")[-2].splitlines()
    header, rule, *body = lines
    assert header.split() == ["plain", "httpx", "brace"]
    assert set(rule.replace(" ", "")) == {"-"}
    cells = {}
    for line in body:
        parts = [part.strip() for part in line.split("  ") if part.strip()]
        cells[parts[0]] = parts[1:]
    return cells


# -- the whole demo, short ------------------------------------------------------


@pytest.fixture(scope="module")
def short_run() -> tuple[str, list[RunStats]]:
    """One short run (deterministic on virtual time), shared by the tests."""
    return run(scenario=LIMITED)


def test_the_table_adds_up(short_run: tuple[str, list[RunStats]]) -> None:
    """Every count in the table agrees with the runs and with the workload."""
    text, (plain, brace) = short_run
    table_rows = rows(text)
    work = workload(SMALL, LIMITED, random.Random(1))
    catalog_reads = sum(path == "/catalog" for path, _ in work)
    for stats in (plain, brace):
        assert stats.done == SMALL
        assert stats.succeeded + sum(stats.failures.values()) == SMALL
    # The plain client sends each request once, and never anything else.
    assert plain.sent == SMALL
    assert plain.retries == 0
    assert plain.too_many == plain.failures["429 Too Many Requests"] > 0
    assert (plain.transitions, plain.rate_waits, plain.cache_hits) == (None,) * 3
    # Every catalog read is a cache hit or a miss; only misses go out.
    assert brace.cache_hits is not None
    assert brace.cache_hits + brace.cache_misses == catalog_reads
    assert brace.cache_hits > 0
    assert table_rows["requests"] == [str(SMALL), str(SMALL)]
    assert table_rows["attempts sent"] == [str(SMALL), str(brace.sent)]
    assert table_rows["retries"] == ["0", str(brace.retries)]
    assert table_rows["breaker transitions"][0] == "-"
    assert table_rows["cache hit rate"][0] == "-"
    assert table_rows["cache hit rate"][1].endswith(
        f"({brace.cache_hits}/{catalog_reads})"
    )


def test_the_story_brace_rides_out_the_outage(
    short_run: tuple[str, list[RunStats]],
) -> None:
    """The breaker opens in the outage, probes, and closes once it is over."""
    text, (plain, brace) = short_run
    assert text.count("outage: the server answers 503 to everything for 0.8 s") == 2
    assert "outage over" in text
    transitions = [
        line.split("breaker: ", 1)[1]
        for line in text.splitlines()
        if "breaker: " in line
    ]
    assert len(transitions) == brace.transitions
    assert transitions[0] == "closed -> open (failure_rate)"
    assert transitions[-1] == "half_open -> closed (probes_succeeded)"
    assert brace.opened == sum(
        t.startswith(("closed -> open", "half_open -> open")) for t in transitions
    )
    assert brace.breaker_waits is not None
    assert brace.breaker_waits > 0
    assert brace.succeeded == SMALL
    assert plain.succeeded < SMALL
    assert plain.failures["503 Service Unavailable"] > 0
    # The client-side rate limiter keeps brace under the server's limit.
    assert brace.too_many == 0
    assert brace.rate_waits is not None
    assert brace.rate_waits > 0
    assert rows(text)["succeeded"] == [
        f"{plain.succeeded} ({100 * plain.succeeded / SMALL:.1f} %)",
        f"{SMALL} (100.0 %)",
    ]


def test_header_and_failure_reasons(short_run: tuple[str, list[RunStats]]) -> None:
    """The output names the server's faults and why each client's requests failed."""
    text, (plain, _) = short_run
    assert text.startswith(
        f"brace demo: {SMALL} GETs, 10 at a time, against a flaky server on "
        "127.0.0.1 (seed 1)\nThe server: 2% connection resets, 3% 503s with "
        "Retry-After, 1% stalls of 1.5 s, a limit of 10 requests per 0.1 s "
        "(then 429), and an outage of 0.8 s 30% of the way in.\n"
    )
    reasons = text.split("Why requests failed:\n", 1)[1].splitlines()
    assert reasons[0].startswith("  plain httpx: ")
    for reason, count in plain.failures.items():
        assert f"{reason}: {count}" in reasons[0]
    assert reasons[1] == "  brace:       none"


@pytest.mark.slow
def test_same_seed_same_run() -> None:
    """On virtual time a seed fixes the whole run; another seed changes it."""
    assert run(seed=3)[0] == run(seed=3)[0]
    assert run(seed=3)[0] != run(seed=4)[0]


def test_leaves_no_tasks_or_sockets_behind() -> None:
    """After a run, no task is left on the loop and no socket is left open."""
    fds = Path("/proc/self/fd")
    before = len(os.listdir(fds)) if fds.exists() else 0
    left: list[set[asyncio.Task[object]]] = []

    async def scenario() -> None:
        await _demo_http.main(20, 5, 2, Scenario(outage=0.2), io.StringIO())
        left.append(asyncio.all_tasks() - {asyncio.current_task()})  # type: ignore[arg-type]

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(scenario())
    assert left == [set()]
    if fds.exists():
        assert len(os.listdir(fds)) == before


@pytest.mark.parametrize("after", [0.02, 0.3])
def test_cancelled_mid_run_cleans_up(after: float) -> None:
    """Cancelled in either run (Ctrl-C), the demo closes everything it opened."""
    fds = Path("/proc/self/fd")
    before = len(os.listdir(fds)) if fds.exists() else 0
    left: list[set[asyncio.Task[object]]] = []
    out = _Terminal()

    async def scenario() -> None:
        demo = asyncio.create_task(
            _demo_http.main(60, 10, 1, Scenario(outage=0.5), out)
        )
        await asyncio.sleep(after)
        demo.cancel()
        with pytest.raises(asyncio.CancelledError):
            await demo
        left.append(asyncio.all_tasks() - {asyncio.current_task()})  # type: ignore[arg-type]

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        runner.run(scenario())
    assert left == [set()]
    text = out.getvalue()
    # 0.02 s in, the plain run is in its outage; 0.3 s in, brace waits out its own.
    assert "outage: the server answers 503" in text
    assert ("[2/2]" in text) == (after > 0.1)
    assert "Why requests failed" not in text
    if fds.exists():
        assert len(os.listdir(fds)) == before


def test_a_run_shorter_than_the_outage() -> None:
    """A run that ends during the outage cancels the timer that would end it."""
    scenario = Scenario(outage=30.0, outage_at=0.5, wait_deadline=0.5)
    text, (plain, brace) = run(requests=12, scenario=scenario)
    assert "outage over" not in text
    assert plain.done == brace.done == 12


def test_no_outage() -> None:
    """outage=0 leaves the server up the whole time."""
    text, (_, brace) = run(requests=12, scenario=Scenario(outage=0.0))
    assert "outage" not in text.split("\n", 2)[2]
    assert brace.opened == 0


def test_bad_counts_are_rejected() -> None:
    """requests and concurrency must be ints >= 1."""
    with pytest.raises(ValueError, match="requests must be an int >= 1"):
        run_http_demo(requests=0, out=io.StringIO())
    with pytest.raises(ValueError, match="concurrency must be an int >= 1"):
        run_http_demo(concurrency=0, out=io.StringIO())


def test_workload_is_seeded_and_mixed() -> None:
    """The workload depends on the seed only; it mixes orders and hot catalog reads."""
    scenario = Scenario()
    work = workload(500, scenario, random.Random(5))
    assert work == workload(500, scenario, random.Random(5))
    orders = [key for path, key in work if path == "/orders"]
    items = Counter(key for path, key in work if path == "/catalog")
    assert len(orders) == len(set(orders))
    assert set(items) <= set(range(scenario.catalog_items))
    assert 0.2 < sum(items.values()) / 500 < 0.4
    # Item 0 is the hottest: weights fall off as 1/rank.
    assert items.most_common(1)[0][0] == 0


def test_failure_names() -> None:
    """Each way a request fails has a short name for the table."""
    request = httpx.Request("GET", "http://127.0.0.1/orders")
    response = httpx.Response(503, request=request)
    status = httpx.HTTPStatusError("503", request=request, response=response)
    assert failure(status) == "503 Service Unavailable"
    assert failure(CircuitOpen("http x", retry_after=1.0)) == "circuit open"
    assert failure(httpx.ReadTimeout("slow")) == "timeout"
    assert failure(TimeoutError(timeout=1.0)) == "timeout"
    assert failure(httpx.ReadError("reset")) == "connection lost"
    assert failure(ValueError("odd")) == "ValueError"


def test_tally_counts_retried_429s() -> None:
    """A retry on a 429 response counts as a 429 received; others do not."""
    stats = RunStats("brace", transitions=0, breaker_waits=0, rate_waits=0)
    tally = _demo_http._Tally(_demo_http._Run(None, Scenario(), 1, stats, None))  # type: ignore[arg-type]
    for status in (429, 503):
        response = httpx.Response(status)
        tally(RetryScheduled(name="http GET h", attempt=1, delay=0.1, result=response))
    tally(RetryScheduled(name="http GET h", attempt=1, delay=0.1, error=OSError()))
    tally(TimeoutFired(name="t", timeout=1.0))
    assert (stats.retries, stats.too_many, stats.breaker_waits) == (3, 1, 0)


def test_scenario_faults_add_up() -> None:
    """The default faults are valid chances for the fault server."""
    faults = Scenario().faults()
    assert sum(chance for chance, _ in faults) <= 1
    assert len(faults) == 4


# -- the report -----------------------------------------------------------------


def test_percentile_nearest_rank() -> None:
    """Percentiles are nearest-rank; an empty sample has none."""
    values = [0.5, 0.1, 0.4, 0.2, 0.3]
    assert percentile(values, 0.5) == 0.3
    assert percentile(values, 0.99) == 0.5
    assert percentile(values, 0.0) == 0.1
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN


def test_table_shows_dashes_for_what_a_client_lacks() -> None:
    """Missing features show as '-', empty runs as '-' ratios and latencies."""
    empty = RunStats("none")
    full = RunStats(
        "all",
        succeeded=3,
        latencies=[0.010, 0.020, 0.200, 0.015],
        failures=Counter({"circuit open": 1}),
        sent=7,
        retries=2,
        too_many=1,
        transitions=3,
        opened=1,
        breaker_waits=4,
        rate_waits=5,
        rate_waited=1.25,
        cache_hits=3,
        cache_misses=1,
        elapsed=2.5,
    )
    lines = table([empty, full])
    assert lines[0].split() == ["none", "all"]
    by_label = {line[:21].strip(): line[21:].split("  ") for line in lines[2:]}
    cells = {k: [c.strip() for c in v if c.strip()] for k, v in by_label.items()}
    assert cells["requests"] == ["0", "4"]
    assert cells["succeeded"] == ["0 (-)", "3 (75.0 %)"]
    assert cells["latency p50"] == ["-", "15 ms"]
    assert cells["latency p99"] == ["-", "200 ms"]
    assert cells["breaker transitions"] == ["-", "3 (opened 1x)"]
    assert cells["waits for the breaker"] == ["-", "4"]
    assert cells["rate-limited waits"] == ["-", "5 (1.2 s in all)"]
    assert cells["cache hit rate"] == ["-", "75.0 % (3/4)"]
    assert cells["wall time"] == ["0.00 s", "2.50 s"]
    assert failure_lines([empty, full]) == [
        "  none: none",
        "  all:  circuit open: 1",
    ]


def test_table_transitions_without_opening() -> None:
    """A breaker that never opened shows its transitions alone."""
    stats = RunStats("b", transitions=0)
    assert "breaker transitions    0" in "\n".join(table([stats]))


def test_progress_on_a_pipe_prints_quarters() -> None:
    """Off a terminal, progress is a plain line at each quarter of the run."""
    out = io.StringIO()
    progress = Progress(out, 8)
    for done in range(1, 9):
        progress.update(done, done - 1, done / 10)
    progress.note("  note")
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "  [######..................] 2/8 requests,  50.0 % ok,  0.20 s",
        "  [############............] 4/8 requests,  75.0 % ok,  0.40 s",
        "  [##################......] 6/8 requests,  83.3 % ok,  0.60 s",
        "  [########################] 8/8 requests,  87.5 % ok,  0.80 s",
        "  note",
    ]


def test_progress_on_a_terminal_redraws_in_place() -> None:
    """On a terminal, the line is redrawn with \\r, throttled, notes go above it."""
    out = io.StringIO()
    progress = Progress(out, 4, tty=True, interval=0.1, width=4)
    progress.update(1, 1, 0.00)
    progress.update(2, 2, 0.05)  # too soon: not drawn
    progress.note("  event")
    progress.update(3, 2, 0.12)
    progress.update(4, 3, 0.13)  # the last one is always drawn
    progress.close()
    progress.close()  # ends the line once
    first = "  [#...] 1/4 requests, 100.0 % ok,  0.00 s"
    third = "  [###.] 3/4 requests,  66.7 % ok,  0.12 s"
    last = "  [####] 4/4 requests,  75.0 % ok,  0.13 s"
    assert out.getvalue() == (
        f"\r{first}\r{'  event'.ljust(len(first))}\n{first}\r{third}\r{last}\n"
    )


def test_progress_note_before_any_line() -> None:
    """A note on a terminal before the first line is drawn is just a line."""
    out = io.StringIO()
    Progress(out, 4, tty=True).note("hello")
    assert out.getvalue() == "\rhello\n"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_run_on_a_terminal_keeps_its_clock_moving() -> None:
    """On a terminal the line is redrawn in place, also while the outage stalls it."""
    out = _Terminal()
    plain, brace = run_http_demo(
        requests=12, out=out, loop_factory=VirtualTimeEventLoop
    )
    text = out.getvalue()
    live = [part for part in text.split("\r") if "/12 requests" in part]
    # While brace waits out the outage, nothing completes, but the clock on
    # the line still moves, every 0.1 s of (virtual) time.
    clocks: dict[str, set[str]] = {}
    for line in live:
        done, _, rest = line.partition(" requests, ")
        clocks.setdefault(done, set()).add(rest.rsplit(",", 1)[1])
    assert max(len(times) for times in clocks.values()) > 3
    assert live[-1].startswith(
        "  [########################] 12/12 requests, 100.0 % ok"
    )
    assert plain.done == brace.done == 12
    assert "\nWhy requests failed:\n" in text


def test_progress_detects_a_terminal() -> None:
    """isatty() decides; a closed or odd stream counts as no terminal."""
    terminal = _Terminal()
    Progress(terminal, 1).update(1, 1, 0.0)
    assert terminal.getvalue().startswith("\r")
    closed = io.StringIO()
    closed.close()
    assert not _demo_report._isatty(closed)
    assert not _demo_report._isatty(object())  # type: ignore[arg-type]


# -- the command line ---------------------------------------------------------------


def test_main_runs_the_http_demo_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """`brace demo` runs the HTTP demo with 1500 requests, 10 at a time, seed 1."""
    calls = []

    def fake(**kwargs: object) -> list[RunStats]:
        calls.append(kwargs)
        return []

    monkeypatch.setattr(_demo_http, "run_http_demo", fake)
    assert main(["demo"]) == 0
    assert main(["demo", "--requests", "50", "--concurrency", "3", "--seed", "9"]) == 0
    assert [(c["requests"], c["concurrency"], c["seed"]) for c in calls] == [
        (1500, 10, 1),
        (50, 3, 9),
    ]
    assert calls[0]["out"] is sys.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--requests", "0"], "must be at least 1, not 0"),
        (["--concurrency", "lots"], "expected a whole number, not 'lots'"),
        (["--basics", "--requests", "5"], "--requests applies to the HTTP demo"),
        (["--basics", "--concurrency", "5"], "--concurrency applies to the HTTP demo"),
        (["--virtual-time"], "--virtual-time applies to --basics only"),
    ],
)
def test_main_rejects_options_that_do_not_apply(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options out of range or for the other demo are usage errors (exit 2)."""
    assert main(["demo", *argv]) == 2
    assert message in capsys.readouterr().err


def test_main_without_httpx_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without httpx, `brace demo` says to install brace[httpx] and exits 1."""
    # None in sys.modules makes `import httpx` raise ImportError; the demo's
    # modules must be imported afresh to meet it (monkeypatch puts them back).
    monkeypatch.setitem(sys.modules, "httpx", None)  # type: ignore[arg-type]
    for name in [
        n for n in sys.modules if n.startswith(("brace.http", "brace._demo_"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["demo"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert 'pip install "brace[httpx]"' in captured.err
    assert "python -m brace demo --basics" in captured.err
    assert "httpx" in captured.err.splitlines()[0]


def test_main_does_not_hide_a_broken_brace_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ImportError from brace itself propagates: it is a bug, not a missing extra."""
    monkeypatch.setitem(sys.modules, "brace._demo_http", None)  # type: ignore[arg-type]
    with pytest.raises(ImportError) as info:
        main(["demo"])
    assert info.value.name == "brace._demo_http"


def test_main_passes_on_an_import_error_without_a_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ImportError that names no module is not mistaken for a missing httpx."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "_demo_http":
            raise ImportError("something else")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="something else"):
        main(["demo"])


@pytest.mark.slow
def test_real_time_run_from_the_command_line() -> None:
    """`python -m brace demo` runs for real in a fresh interpreter, well within 30 s."""
    proc = subprocess.run(
        [sys.executable, "-m", "brace", "demo", "--requests", "300"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    table_rows = rows(proc.stdout)
    assert table_rows["requests"] == ["300", "300"]
    assert table_rows["attempts sent"][0] == "300"
    assert "breaker: closed -> open (failure_rate)" in proc.stdout
    assert "breaker: half_open -> closed (probes_succeeded)" in proc.stdout
