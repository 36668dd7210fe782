"""Create the project's virtual environment and install into it.

Shared by ``scripts/demo.py`` and ``scripts/test.py``; needs nothing but the
Python that runs it (3.11 or newer).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

# Dependency groups (PEP 735) need pip 25.1 or newer.
MIN_PIP = (25, 1)


def _pip_version() -> tuple[int, ...]:
    out = subprocess.run(
        [str(PYTHON), "-m", "pip", "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(int(part) for part in out.split()[1].split(".")[:2])


def ensure_venv(*groups: str, extras: Sequence[str] = ()) -> Path:
    """Make ``.venv`` with brace installed (editable) plus *groups*.

    *extras* are brace's optional dependencies to install with it, such as
    ``("httpx",)`` for ``-e .[httpx]``.
    """
    # The script itself may be run by an older Python: say so plainly.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit(f"brace needs Python 3.11 or newer, not {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"== creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if _pip_version() < MIN_PIP:
        run(
            PYTHON,
            "-m",
            "pip",
            "install",
            "--quiet",
            f"pip>={'.'.join(map(str, MIN_PIP))}",
        )
    project = f".[{','.join(extras)}]" if extras else "."
    args: list[str | Path] = [PYTHON, "-m", "pip", "install", "--quiet", "-e", project]
    for group in groups:
        args += ["--group", group]
    what = f"brace[{','.join(extras)}]" if extras else "brace"
    if groups:
        what += " with " + ", ".join(groups)
    print(f"== installing {what}", flush=True)
    run(*args)
    return PYTHON


def run(*args: str | Path, check: bool = True) -> int:
    """Run a command in the project root, streaming its output."""
    done = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if check and done.returncode != 0:
        sys.exit(done.returncode)
    return done.returncode
