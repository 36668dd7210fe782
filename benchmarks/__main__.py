"""``python -m benchmarks``: run the scenarios, print markdown, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import benchmarks.scenarios  # noqa: F401  (registers the scenarios)
from benchmarks.registry import registered
from benchmarks.runner import FULL, QUICK, environment, markdown, run_all, to_json


def _parser(names: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Per-call overhead of brace against hand-written code and peer "
            "libraries. Rows of a scenario are interleaved in one process; the "
            "report gives median ns per call and ratios. Timings are reported, "
            "never asserted."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: few repetitions of short batches (seconds, not minutes)",
    )
    parser.add_argument(
        "--json", metavar="PATH", type=Path, help="also write the results as JSON"
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        action="append",
        choices=names,
        help=f"run only this scenario (repeatable); one of: {', '.join(names)}",
    )
    parser.add_argument(
        "--loop", choices=("asyncio", "uvloop"), default="asyncio", help="event loop"
    )
    parser.add_argument(
        "--reps", type=int, help="repetitions per row (default: 51, quick: 5)"
    )
    parser.add_argument(
        "--batch-ms",
        type=float,
        help="target duration of one batch in ms (default: 50, quick: 5)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the scenarios and rows, then exit"
    )
    return parser


def _loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            sys.exit("--loop uvloop needs uvloop installed (pip install uvloop)")
        return uvloop.new_event_loop
    return asyncio.new_event_loop


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    scenarios = registered()
    names = [s.name for s in scenarios]
    args = _parser(names).parse_args(argv)
    if args.list:
        for sc in scenarios:
            rows = ", ".join(r.name for r in sc.build())
            print(f"{sc.name}: {rows}")
        return 0
    settings = QUICK if args.quick else FULL
    if args.reps is not None:
        settings = replace(settings, reps=max(1, args.reps))
    if args.batch_ms is not None:
        settings = replace(settings, batch_ms=args.batch_ms)
    chosen = [s for s in scenarios if not args.scenario or s.name in args.scenario]

    env = environment(args.loop, settings)
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=_loop_factory(args.loop)) as runner:
        results = runner.run(run_all(chosen, settings, _log))
    env["elapsed_s"] = round(time.perf_counter() - started, 1)
    with contextlib.suppress(OSError):
        env["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

    print(markdown(results, env))
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(results, env), indent=2) + "\n")
        _log(f"wrote {args.json}")
    _log(f"done in {env['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
