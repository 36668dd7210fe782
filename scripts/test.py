"""Create the environment and run every gate of the test suite.

Gates: ruff check, ruff format --check, mypy --strict (src/ and
tests/typing/), the docs build with warnings as errors, the examples, a
smoke run of the benchmarks, and pytest on asyncio and trio with branch
coverage of at least 95 %. Every gate runs; the exit status is non-zero if
any failed. Pass ``--fast`` to skip the docs, examples and benchmark smoke.
"""

from __future__ import annotations

import subprocess
import sys
import time

import _bootstrap
from _bootstrap import BIN, ROOT


def main() -> int:
    fast = "--fast" in sys.argv[1:]
    python = _bootstrap.ensure_venv("dev")
    gates: list[tuple[str, list[str]]] = [
        ("ruff check", [str(python), "-m", "ruff", "check", "."]),
        ("ruff format", [str(python), "-m", "ruff", "format", "--check", "."]),
        (
            "mypy --strict",
            [str(python), "-m", "mypy", "--strict", "src", "tests/typing"],
        ),
    ]
    if not fast:
        gates += [
            (
                "docs",
                [
                    str(BIN / "sphinx-build"),
                    "-W",
                    "--keep-going",
                    "-q",
                    "-b",
                    "html",
                    "docs",
                    "docs/_build/html",
                ],
            ),
            ("examples", [str(python), "examples/run_all.py"]),
            ("benchmarks --quick", [str(python), "-m", "benchmarks", "--quick"]),
        ]
    gates += [
        ("pytest", [str(python), "-m", "coverage", "run", "-m", "pytest", "-q"]),
        ("coverage >= 95%", [str(python), "-m", "coverage", "report"]),
    ]
    failed: list[str] = []
    pytest_summary = ""
    for name, cmd in gates:
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        if name == "pytest":
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if proc.stdout is None:  # pragma: no cover - PIPE always gives one
                raise RuntimeError("no pytest output")
            lines: list[str] = []
            for line in proc.stdout:
                sys.stdout.write(line)
                lines.append(line)
            code = proc.wait()
            pytest_summary = next(
                (line.strip() for line in reversed(lines) if line.strip()), ""
            )
        else:
            code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
        took = time.monotonic() - started
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"-- {name}: {status} in {took:.1f} s", flush=True)
        if code != 0:
            failed.append(name)
    print()
    if failed:
        print(f"== FAILED gates: {', '.join(failed)}")
    else:
        print("== all gates passed")
    if pytest_summary:
        # Last, so the test runner's own closing line ends the output.
        print(pytest_summary.strip("= "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
