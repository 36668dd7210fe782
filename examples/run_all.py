"""Run every example in this directory and report which ones failed.

Each example runs in its own process with the current interpreter, so that
it starts from a clean slate, as it would for a user. Prints one line per
example with its status and duration; the exit status is 1 if any example
failed or timed out.

Run it with ``python examples/run_all.py`` (``-v`` also prints each
example's output).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT = 60.0


def examples() -> list[Path]:
    """Every example script beside this one, in name order."""
    return sorted(
        path
        for path in HERE.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )


def run(path: Path) -> tuple[bool, float, str]:
    """Run one example; return (passed, seconds, combined output)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603 - runs our own scripts
            [sys.executable, str(path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout if isinstance(exc.stdout, str) else ""
        return (
            False,
            time.monotonic() - started,
            f"{output}\ntimed out after {TIMEOUT:g} s",
        )
    return proc.returncode == 0, time.monotonic() - started, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    verbose = "-v" in (sys.argv[1:] if argv is None else argv)
    failed = []
    for path in examples():
        passed, seconds, output = run(path)
        print(
            f"{'ok' if passed else 'FAILED':6} {seconds:6.2f} s  {path.name}",
            flush=True,
        )
        if verbose or not passed:
            print("    " + output.rstrip().replace("\n", "\n    "), flush=True)
        if not passed:
            failed.append(path.name)
    if failed:
        print(f"{len(failed)} example(s) failed: {', '.join(failed)}")
        return 1
    print(f"all {len(examples())} examples passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
