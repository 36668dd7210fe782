"""Create the environment and run ``python -m brace demo``."""

from __future__ import annotations

import _bootstrap

if __name__ == "__main__":
    python = _bootstrap.ensure_venv()
    raise SystemExit(_bootstrap.run(python, "-m", "brace", "demo", check=False))
