"""``python -m brace demo --basics`` and the command line around it.

The in-process demo runs on the virtual-time loop here, so a whole run takes
a few milliseconds and its output, elapsed times included, is exactly
reproducible. The real-time runs are marked slow. The HTTP demo (the
default command) is tested in test_demo_http.py.
"""

from __future__ import annotations

import io
import runpy
import subprocess
import sys

import pytest

import brace
from brace import _demo
from brace.__main__ import main
from brace.testing import VirtualTimeEventLoop

SCENARIOS = ("retry + backoff", "total deadline", "attempt timeout", "cancel token")


def run(seed: int) -> str:
    out = io.StringIO()
    assert _demo.run_demo(seed=seed, out=out, loop_factory=VirtualTimeEventLoop) == 0
    return out.getvalue()


def summary(text: str) -> dict[str, list[str]]:
    """The summary table's rows, by scenario, split into their columns."""
    table = text.split("\nSummary\n", 1)[1].splitlines()
    header, rule, *rows = table
    assert header.split()[:2] == ["scenario", "attempts"]
    assert set(rule.replace(" ", "")) == {"-"}
    # Columns are separated by two spaces or more, cells by single spaces.
    cells = {}
    for row in rows:
        parts = [part.strip() for part in row.split("  ") if part.strip()]
        cells[parts[0]] = parts[1:]
    return cells


def test_summary_mentions_every_scenario_and_outcome() -> None:
    """The summary table has a row per scenario with the expected outcomes."""
    text = run(seed=1)
    rows = summary(text)
    assert list(rows) == list(SCENARIOS)
    attempts, delays, outcome, elapsed = rows["retry + backoff"]
    assert outcome == "ok: order 1042 shipped"
    assert int(attempts) == len(delays.split(", ")) + 1
    assert elapsed.endswith(" s")
    assert rows["total deadline"] == [
        "4",
        "0.050, 0.100, 0.200",
        "gave up: ServiceUnavailable (deadline)",
        # Virtual time: 4 calls of 5 ms plus the three delays, exactly.
        "0.37 s",
    ]
    assert rows["attempt timeout"][2] == "ok: order 1044 shipped"
    assert rows["cancel token"][2] == "Cancelled: operator asked to shut down"


def test_live_log_shows_each_mechanism() -> None:
    """The live log narrates each retry, timeout, deadline and cancellation."""
    text = run(seed=1)
    for marker in ("[1]", "[2]", "[3]", "[4]"):
        assert marker in text
    assert "attempt 1 failed with ConnectionResetError; attempt 2 in 0.044 s" in text
    assert "call 1 is slow: it would answer in 1.000 s" in text
    assert "attempt 1 failed with brace.TimeoutError" in text
    assert "(deadline of 0.5 s)" in text
    assert "gave up after 4 attempts (deadline)" in text
    assert "token 'shutdown' cancelled: operator asked to shut down" in text
    assert "gave up after 2 attempts (cancelled)" in text
    assert text.startswith("brace demo --basics (seed=1; rerun with --seed 1)\n")


def test_same_seed_same_output() -> None:
    """A seed fixes the whole output on virtual time; another seed changes it."""
    assert run(seed=7) == run(seed=7)
    assert run(seed=7) != run(seed=8)


@pytest.mark.parametrize("seed", range(12))
def test_every_seed_ends_each_scenario_as_expected(seed: int) -> None:
    """Whatever the seed, each scenario ends the way it is meant to."""
    rows = summary(run(seed))
    assert rows["retry + backoff"][2].startswith(("ok: ", "gave up: "))
    assert rows["total deadline"][2].endswith("(deadline)")
    assert rows["attempt timeout"][2].startswith(("ok: ", "gave up: "))
    # The token is cancelled while the retry sleeps after attempt 2,
    # whatever the delays.
    assert rows["cancel token"][0] == "2"
    assert rows["cancel token"][2] == "Cancelled: operator asked to shut down"


def test_a_seed_that_gives_up_retrying() -> None:
    """A seed whose faults outlast the attempts shows the retry giving up."""
    text = run(seed=10)
    assert "gave up after 6 attempts (attempts)" in text
    assert summary(text)["retry + backoff"][:3] == [
        "6",
        "0.027, 0.030, 0.087, 0.154, 0.379",
        "gave up: ServiceUnavailable",
    ]


def test_a_seed_whose_attempts_all_time_out() -> None:
    """A seed whose attempts are all slow gives up with brace.TimeoutError."""
    text = run(seed=49)
    assert "gave up after 5 attempts (attempts)" in text
    assert summary(text)["attempt timeout"][2] == "gave up: brace.TimeoutError"


def test_recorder_ignores_other_events() -> None:
    """The recorder logs retry decisions only, results included."""
    row = _demo._Row("x")
    out = io.StringIO()
    recorder = _demo._Recorder(row, out)
    recorder(brace.TimeoutFired(name="t", timeout=1.0))
    recorder(brace.RetryScheduled(name="r", attempt=1, delay=0.5, result="busy"))
    recorder(brace.RetryGaveUp(name="r", attempts=1, elapsed=0.0, reason="budget"))
    assert row.delays == [0.5]
    assert out.getvalue() == (
        "    attempt 1 failed with an unacceptable result; attempt 2 in 0.500 s\n"
        "    gave up after 1 attempt (budget)\n"
    )


def test_no_seed_picks_and_prints_one(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a seed, one is picked and printed so the run can be repeated."""
    assert _demo.run_demo(loop_factory=VirtualTimeEventLoop) == 0
    out = capsys.readouterr().out
    seed = int(out.split("seed=", 1)[1].split(";", 1)[0])
    assert f"rerun with --seed {seed}" in out
    assert "Summary" in out


def test_flaky_service_script_then_chance() -> None:
    """The fake service plays its script first, then draws by chance."""
    import random

    async def scenario() -> list[str]:
        service = _demo.FlakyService(
            random.Random(0), failure_rate=1.0, slow_delay=0.5, script=["slow", "ok"]
        )
        outcomes = [
            str(await service.fetch_order(1)),
            str(await service.fetch_order(2)),
        ]
        try:
            await service.fetch_order(3)
        except Exception as exc:
            outcomes.append(type(exc).__name__)
        assert service.calls == 3
        return outcomes

    import asyncio

    with asyncio.Runner(loop_factory=VirtualTimeEventLoop) as runner:
        outcomes = runner.run(scenario())
        assert runner.get_loop().time() == pytest.approx(0.51)
    assert outcomes[0] == "{'id': 1, 'status': 'shipped'}"
    assert outcomes[2] in {"ConnectionResetError", "ServiceUnavailable"}


# -- the command line -----------------------------------------------------------


def test_main_demo_on_virtual_time(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --basics --virtual-time` prints what run_demo prints."""
    assert main(["demo", "--basics", "--seed", "1", "--virtual-time"]) == 0
    assert capsys.readouterr().out == run(seed=1)


def test_main_demo_runs_on_the_default_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo --basics` runs on the default loop without a seed."""
    calls = []

    def fake_run_demo(**kwargs: object) -> int:
        calls.append(kwargs)
        return 0

    monkeypatch.setattr(_demo, "run_demo", fake_run_demo)
    assert main(["demo", "--basics"]) == 0
    assert calls == [{"seed": None, "loop_factory": None}]


def test_main_without_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """No command prints the help to stderr and exits 2."""
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "usage: brace" in captured.err
    assert "demo" in captured.err


def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the package version."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"brace {brace.__version__}"


def test_main_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`demo --help` lists the demo's options and exits 0."""
    assert main(["demo", "--help"]) == 0
    assert "--seed" in capsys.readouterr().out


def test_main_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed option value is a usage error (exit 2)."""
    assert main(["demo", "--seed", "many"]) == 2
    assert "invalid int value" in capsys.readouterr().err


def test_main_reads_sys_argv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() without arguments reads sys.argv."""
    monkeypatch.setattr(sys, "argv", ["brace", "--version"])
    assert main() == 0
    assert brace.__version__ in capsys.readouterr().out


def test_python_dash_m(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m brace` runs main() and exits with its status."""
    monkeypatch.setattr(
        sys, "argv", ["brace", "demo", "--basics", "--seed", "2", "--virtual-time"]
    )
    # runpy warns when the module it is about to run was imported already.
    monkeypatch.delitem(sys.modules, "brace.__main__")
    # brace registers a pytest plugin (an entry point), so pytest rewrites
    # asserts in all of brace and its import hook finds brace.__main__
    # first; runpy needs a loader with get_code(), which that hook lacks.
    monkeypatch.setattr(
        sys,
        "meta_path",
        [f for f in sys.meta_path if type(f).__name__ != "AssertionRewritingHook"],
    )
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("brace", run_name="__main__", alter_sys=False)
    assert exit_info.value.code == 0
    assert "Summary" in capsys.readouterr().out


@pytest.mark.slow
def test_main_demo_in_real_time(capsys: pytest.CaptureFixture[str]) -> None:
    """The in-process demo runs on the real clock too."""
    assert main(["demo", "--basics", "--seed", "1"]) == 0
    rows = summary(capsys.readouterr().out)
    assert list(rows) == list(SCENARIOS)
    assert rows["cancel token"][2] == "Cancelled: operator asked to shut down"


@pytest.mark.slow
def test_main_demo_without_seed_in_real_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The in-process demo runs on the real clock without a seed."""
    assert main(["demo", "--basics"]) == 0
    assert list(summary(capsys.readouterr().out)) == list(SCENARIOS)


@pytest.mark.slow
def test_console_command() -> None:
    """`python -m brace demo --basics` works in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-m", "brace", "demo", "--basics", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Cancelled: operator asked to shut down" in proc.stdout
