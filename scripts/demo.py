"""Create the environment and run ``python -m brace demo``.

Installs brace with its httpx extra (``-e .[httpx]``), which the demo needs;
arguments are passed on to the demo (``--requests 500``, ``--basics``...).
"""

from __future__ import annotations

import sys

import _bootstrap

if __name__ == "__main__":
    python = _bootstrap.ensure_venv(extras=["httpx"])
    raise SystemExit(
        _bootstrap.run(python, "-m", "brace", "demo", *sys.argv[1:], check=False)
    )
