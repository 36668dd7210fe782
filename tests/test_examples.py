"""The examples in ``examples/`` run and say what they are meant to show.

Each example is imported from its file and its main logic runs in-process
on a virtual clock (asyncio: brace's VirtualTimeEventLoop; trio: an
autojumping MockClock), with :func:`brace.testing.instant` for the parts
that sleep with ``time.sleep``, so these tests take milliseconds and
coverage sees brace at work. Running the scripts for real, in
subprocesses, is marked slow.
"""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing

from brace import testing as brace_testing

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MINE = (
    "block_api",
    "retry_after_hint",
    "retry_basics",
    "sync_and_generators",
    "timeouts_and_tokens",
    "trio_example",
)


@pytest.fixture
def load() -> Iterator[Callable[[str], ModuleType]]:
    """Import an example from its file, as a fresh module."""
    names: list[str] = []

    def loader(stem: str) -> ModuleType:
        name = f"_brace_example_{stem}"
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{stem}.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        names.append(name)
        spec.loader.exec_module(module)
        return module

    yield loader
    for name in names:
        sys.modules.pop(name, None)


def on_virtual_time(main: Coroutine[Any, Any, None]) -> float:
    """Run *main* on the virtual-time loop; return the virtual time it took."""
    with asyncio.Runner(loop_factory=brace_testing.VirtualTimeEventLoop) as runner:
        loop = runner.get_loop()
        start = loop.time()
        runner.run(main)
        return loop.time() - start


def test_every_example_has_a_docstring_and_a_main_guard() -> None:
    for stem in (*MINE, "run_all"):
        path = EXAMPLES / f"{stem}.py"
        source = path.read_text()
        assert source.startswith('"""'), path.name
        assert 'if __name__ == "__main__":' in source, path.name


def test_retry_basics(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("retry_basics")
    on_virtual_time(example.main())
    out = capsys.readouterr().out
    assert "connect: attempt 2 failed (ConnectionResetError)" in out
    assert "-> ok after 3 attempts" in out
    assert "-> HTTP 404 propagated at once, after 3 attempts" in out
    assert "read_sensor: gave up after 3 attempts (attempts)" in out
    assert "note: brace: gave up after 3 attempts" in out
    assert "-> job is done" in out
    assert "delays: [0.013, 0.169, 0.306, 0.204, 0.793]" in out


def test_retry_after_hint(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("retry_after_hint")
    elapsed = on_virtual_time(example.main())
    out = capsys.readouterr().out
    assert "'Wed, 21 Oct 2015 07:28:00 GMT'     -> 30.0" in out
    assert "'soon'                              -> None" in out
    assert "-> 200 OK /users" in out
    assert "-> 200 OK /reports" in out
    assert "(deadline of 0.1 s)" in out
    # Hints of 0.05 s and 120 s capped at 0.2 s, each raised by up to 10 %,
    # plus one 0.01 s backoff delay.
    assert 0.26 <= elapsed <= 0.26 * 1.1


def test_timeouts_and_tokens(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("timeouts_and_tokens")
    on_virtual_time(example.main())
    out = capsys.readouterr().out
    assert "event: slow_query timed out after 0.05 s" in out
    assert "also a builtin TimeoutError: True" in out
    assert "quick_query within 1 s: rows" in out
    assert "(never printed)" not in out
    assert "-> the block was interrupted: timed out after 0.03 s" in out
    assert "brace.Cancelled: reason='took too long'" in out
    assert "on_cancel callback: SIGTERM" in out
    assert "worker woke up: SIGTERM" in out
    assert "the watchdog itself is still active: True" in out
    assert "brace.Cancelled after 2 attempts: user pressed stop" in out
    assert "caused by the last error: ConnectionResetError()" in out


def test_block_api(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("block_api")
    on_virtual_time(example.async_form())
    with brace_testing.instant():
        example.sync_form()
    out = capsys.readouterr().out
    assert "-> ['page 1', 'page 2']" in out
    assert "attempt 1: hangs" in out
    assert "-> done after 2 attempts" in out
    assert "ConnectionRefusedError('refused (attempt 4)')" in out
    assert "note: brace: gave up after 4 attempts" in out
    assert "-> {'mode': 'production'}" in out


def test_block_api_main(
    load: Callable[[str], ModuleType],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = load("block_api")
    monkeypatch.setattr(example, "async_form", _instant_coroutine)
    with brace_testing.instant():
        example.main()
    assert "for ... with attempt:" in capsys.readouterr().out


async def _instant_coroutine() -> None:
    pass


def test_sync_and_generators(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("sync_and_generators")
    with brace_testing.instant():
        example.main()
    out = capsys.readouterr().out
    assert "-> {'workers': 8} after 3 calls" in out
    assert "-> [1, 2, 3] (the generator was started 2 times)" in out
    assert "rows: not retried (not_retryable)" in out
    assert "note: brace: not retried: rows had already yielded 2 items" in out
    assert "events: attempt 1 failed (ConnectionResetError)" in out
    assert "-> ['created', 'paid', 'shipped']" in out


def test_trio_example(
    load: Callable[[str], ModuleType], capsys: pytest.CaptureFixture[str]
) -> None:
    example = load("trio_example")
    trio.run(example.main, clock=trio.testing.MockClock(autojump_threshold=0))
    out = capsys.readouterr().out
    assert "-> pong after 3 attempts" in out
    assert "attempt 1 failed (TimeoutError)" in out
    assert "-> pong after 2 attempts" in out
    assert "-> stuck timed out after 0.03 s" in out
    assert "brace.Cancelled: deadline for the batch" in out
    assert "brace.Cancelled after 1 attempt(s): stop button" in out


# -- run_all.py -----------------------------------------------------------------


def test_run_all_finds_every_example(load: Callable[[str], ModuleType]) -> None:
    run_all = load("run_all")
    names = [path.stem for path in run_all.examples()]
    assert set(MINE) <= set(names)
    assert "run_all" not in names
    assert names == sorted(names)


def test_run_all_reports_each_example(
    load: Callable[[str], ModuleType],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_all = load("run_all")
    monkeypatch.setattr(run_all, "examples", lambda: [Path("a.py"), Path("b.py")])
    outcomes = {"a.py": (True, 0.5, "fine\n"), "b.py": (False, 1.25, "Traceback\n")}
    monkeypatch.setattr(run_all, "run", lambda path: outcomes[path.name])
    assert run_all.main([]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ok       0.50 s  a.py",
        "FAILED   1.25 s  b.py",
        "    Traceback",
        "1 example(s) failed: b.py",
    ]

    outcomes["b.py"] = (True, 0.25, "also fine\n")
    assert run_all.main(["-v"]) == 0
    out = capsys.readouterr().out
    assert "    fine\n" in out
    assert out.endswith("all 2 examples passed\n")


def test_run_all_reports_a_timeout(
    load: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all = load("run_all")

    def hang(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"], output="partial")

    monkeypatch.setattr(subprocess, "run", hang)
    passed, _, output = run_all.run(EXAMPLES / "retry_basics.py")
    assert not passed
    assert output == "partial\ntimed out after 60 s"


def test_run_all_runs_a_script(
    load: Callable[[str], ModuleType], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_all = load("run_all")
    seen: list[list[str]] = []

    def fake(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 3, stdout="out\n", stderr="err\n")

    monkeypatch.setattr(subprocess, "run", fake)
    passed, seconds, output = run_all.run(EXAMPLES / "retry_basics.py")
    assert (passed, output) == (False, "out\nerr\n")
    assert seconds >= 0
    assert seen == [[sys.executable, str(EXAMPLES / "retry_basics.py")]]


@pytest.mark.slow
@pytest.mark.parametrize("stem", MINE)
def test_example_script(stem: str) -> None:
    proc = subprocess.run(  # noqa: S603 - our own scripts, our interpreter
        [sys.executable, str(EXAMPLES / f"{stem}.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert not proc.stderr


@pytest.mark.slow
def test_run_all_script() -> None:
    proc = subprocess.run(  # noqa: S603 - our own scripts, our interpreter
        [sys.executable, str(EXAMPLES / "run_all.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stem in MINE:
        assert f"  {stem}.py" in proc.stdout
