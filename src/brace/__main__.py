"""The ``brace`` command line: ``python -m brace demo``.

.. versionadded:: 0.1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brace",
        description="brace: an asyncio resilience toolkit.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="show retries, deadlines, timeouts and cancellation on a fake service",
        description=(
            "Call a simulated flaky service (in-process, no network) through "
            "brace's retry, deadline, per-attempt timeout and cancellation "
            "token, then print a summary. Takes about a second."
        ),
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make the run reproducible (all but the elapsed times)",
    )
    demo.add_argument(
        "--virtual-time",
        action="store_true",
        help="run on brace.testing's virtual clock: same story, no waiting",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``brace`` command line.

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]`` when
            omitted.

    Returns:
        The exit status: 0 on success, 2 for a usage error (including no
        command at all, which prints the help to stderr).

    .. versionadded:: 0.1
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # --help, --version and usage errors exit inside argparse; turn that
        # into a return value so that main() can be called like a function.
        return exc.code if isinstance(exc.code, int) else 1
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from ._demo import run_demo

    loop_factory = None
    if args.virtual_time:
        from .testing import VirtualTimeEventLoop

        loop_factory = VirtualTimeEventLoop
    return run_demo(seed=args.seed, loop_factory=loop_factory)


if __name__ == "__main__":
    sys.exit(main())
