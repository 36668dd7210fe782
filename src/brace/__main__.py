"""The ``brace`` command line: ``python -m brace demo``.

``brace demo`` sends the same 1500 HTTP requests to a fault-injecting
server on 127.0.0.1 through a plain httpx client and then through brace's,
and compares them (it needs httpx: ``pip install "brace[httpx]"``).
``brace demo --basics`` runs the older in-process scenarios (retry,
deadline, attempt timeout, cancellation token), which need nothing but
brace.

.. versionadded:: 0.1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ._version import __version__

if TYPE_CHECKING:
    import asyncio

__all__ = ["main"]

NEEDS_HTTPX = (
    "brace demo needs httpx ({error}). Install it with:\n"
    '    pip install "brace[httpx]"\n'
    "or run the in-process demo, which needs nothing else:\n"
    "    python -m brace demo --basics\n"
)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected a whole number, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1, not {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


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
        help="plain httpx against brace on a flaky local server, side by side",
        description=(
            "Start a fault-injecting HTTP server on 127.0.0.1 (connection "
            "resets, 503s with Retry-After, stalls, a 429 rate limit and an "
            "outage), send the same requests through a plain httpx client and "
            "through brace's (retries, timeouts, a circuit breaker, a rate "
            "limiter, a cache), and compare them in a table. Takes about ten "
            'seconds. Needs httpx: pip install "brace[httpx]". With --basics: '
            "retries, deadlines, timeouts and cancellation on a simulated "
            "in-process service instead (no network, no httpx)."
        ),
    )
    demo.add_argument(
        "--basics",
        action="store_true",
        help="run the in-process scenarios instead (no network, no httpx)",
    )
    demo.add_argument(
        "--requests",
        type=_count,
        default=None,
        metavar="N",
        help="requests per client (default 1500)",
    )
    demo.add_argument(
        "--concurrency",
        type=_count,
        default=None,
        metavar="N",
        help="requests in flight at once, per client (default 10)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=None,
        help=(
            "the random faults' seed (default 1; with --basics, a random one, printed)"
        ),
    )
    demo.add_argument(
        "--virtual-time",
        action="store_true",
        help="with --basics: run on brace.testing's virtual clock, no waiting",
    )
    return parser


def _check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.basics:
        for option in ("requests", "concurrency"):
            if getattr(args, option) is not None:
                parser.error(f"--{option} applies to the HTTP demo, not --basics")
    elif args.virtual_time:
        # On the virtual clock, CPU work takes no time: the plain client
        # would flood the server at an infinite rate, a different story.
        parser.error(
            "--virtual-time applies to --basics only: the HTTP demo measures "
            "real sockets and real CPU time"
        )


def _http_demo(args: argparse.Namespace) -> int:
    try:
        from ._demo_http import run_http_demo
    except ImportError as exc:
        # Only a missing third-party module gets the hint; a broken brace
        # module is a bug to see in full.
        if exc.name is None or exc.name.partition(".")[0] == "brace":
            raise
        sys.stderr.write(NEEDS_HTTPX.format(error=exc))
        return 1
    run_http_demo(
        requests=1500 if args.requests is None else args.requests,
        concurrency=10 if args.concurrency is None else args.concurrency,
        seed=1 if args.seed is None else args.seed,
        out=sys.stdout,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``brace`` command line.

    Args:
        argv: The arguments, without the program name; ``sys.argv[1:]`` when
            omitted.

    Returns:
        The exit status: 0 on success, 1 when the HTTP demo cannot run
        because httpx is missing, 2 for a usage error (including no command
        at all, which prints the help to stderr).

    .. versionadded:: 0.1
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if args.command is not None:
            _check_options(parser, args)
    except SystemExit as exc:
        # --help, --version and usage errors exit inside argparse; turn that
        # into a return value so that main() can be called like a function.
        return exc.code if isinstance(exc.code, int) else 1
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if not args.basics:
        return _http_demo(args)
    from ._demo import run_demo

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.virtual_time:
        from .testing import VirtualTimeEventLoop

        loop_factory = VirtualTimeEventLoop
    return run_demo(seed=args.seed, loop_factory=loop_factory)


if __name__ == "__main__":
    sys.exit(main())
